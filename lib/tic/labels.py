"""The TIC label table: every label of both modes, with its size, unit, kind and HA classes.

Reference: tic-protocol.md §5 (historique, three-phase short frames), §6 (standard).

ROWS is a flat tuple of rows in transmission order, historique first; a row is a tuple read
with the field constants below. A row's position in ROWS (its "index") is stable for a build,
so per-label state elsewhere (tic.guard) lives in preallocated arrays indexed by it.

    row[NAME]          "EAST" (str; NAMES_B holds the bytes, same index)
    row[MODE]          MODE_HISTORIQUE or MODE_STANDARD (no label is sent in both modes)
    row[SIZE]          data field width in characters (DATE: 0, its value is the horodate)
    row[UNIT]          "Wh" "VArh" "VA" "W" "A" "V" "kVA" "min" or None
    row[KIND]          KIND_INT (decimal digits), KIND_TEXT, KIND_HEX
    row[FLAGS]         F_* bits below
    row[DEVICE_CLASS]  Home Assistant sensor device_class or None
    row[STATE_CLASS]   Home Assistant state_class or None
    row[DESC]          short English description

Lookups: by name (`lookup`, `index`), by tic.label_hash (`by_hash`, `index_by_hash`, a dict
built once at import, which raises if two known labels collide), and for a parsed group
(`for_frame`, `index_for_frame`: hash then byte comparison, no allocation).
"""

from tic import MODE_HISTORIQUE, MODE_STANDARD, label_hash

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# Row fields.
NAME = const(0)
MODE = const(1)
SIZE = const(2)
UNIT = const(3)
KIND = const(4)
FLAGS = const(5)
DEVICE_CLASS = const(6)
STATE_CLASS = const(7)
DESC = const(8)

KIND_INT = const(0)  # decimal digits, fits a small int (at most 9 digits)
KIND_TEXT = const(1)  # text; standard-mode text is space padded (keep raw, trim for display)
KIND_HEX = const(2)  # hexadecimal digits (STGE, MOTDETAT, PPOT)

F_HORODATE = const(1)  # standard: the group carries a SAAMMJJhhmmss horodate
F_GUARDED = const(2)  # energy index that must never decrease (checked by tic.guard)
F_TRI = const(4)  # sent by three-phase meters only
F_MONO = const(8)  # sent by single-phase meters only
F_PRODUCER = const(16)  # standard: sent in producer mode only
F_SHORT = const(32)  # historique three-phase: part of the overload short frames
F_EVENT = const(64)  # sent only while a condition holds: absence is normal, not "unavailable"

_H = MODE_HISTORIQUE
_S = MODE_STANDARD
_I = KIND_INT
_T = KIND_TEXT
_X = KIND_HEX

# Home Assistant classes (strings shared by many rows are written once).
_EN = "energy"
_RE = "reactive_energy"
_AP = "apparent_power"
_PW = "power"
_CU = "current"
_VO = "voltage"
_TI = "total_increasing"
_ME = "measurement"

_G = F_GUARDED
_HO = F_HORODATE
_HT = F_HORODATE | F_TRI

# fmt: off
ROWS = (
    # ---- historique (§5), transmission order ----
    ("ADCO", _H, 12, None, _T, F_SHORT, None, None, "Meter address (serial number)"),
    ("OPTARIF", _H, 4, None, _T, 0, None, None, "Tariff option"),
    ("ISOUSC", _H, 2, "A", _I, 0, _CU, None, "Subscribed current"),
    ("BASE", _H, 9, "Wh", _I, _G, _EN, _TI, "Energy index, Base option"),
    ("HCHC", _H, 9, "Wh", _I, _G, _EN, _TI, "Energy index, off-peak hours"),
    ("HCHP", _H, 9, "Wh", _I, _G, _EN, _TI, "Energy index, peak hours"),
    ("EJPHN", _H, 9, "Wh", _I, _G, _EN, _TI, "Energy index, EJP normal hours"),
    ("EJPHPM", _H, 9, "Wh", _I, _G, _EN, _TI, "Energy index, EJP mobile peak hours"),
    ("BBRHCJB", _H, 9, "Wh", _I, _G, _EN, _TI, "Energy index, Tempo off-peak, blue days"),
    ("BBRHPJB", _H, 9, "Wh", _I, _G, _EN, _TI, "Energy index, Tempo peak, blue days"),
    ("BBRHCJW", _H, 9, "Wh", _I, _G, _EN, _TI, "Energy index, Tempo off-peak, white days"),
    ("BBRHPJW", _H, 9, "Wh", _I, _G, _EN, _TI, "Energy index, Tempo peak, white days"),
    ("BBRHCJR", _H, 9, "Wh", _I, _G, _EN, _TI, "Energy index, Tempo off-peak, red days"),
    ("BBRHPJR", _H, 9, "Wh", _I, _G, _EN, _TI, "Energy index, Tempo peak, red days"),
    ("PEJP", _H, 2, "min", _I, F_EVENT, "duration", None, "EJP notice: peak starts in 30 min"),
    ("PTEC", _H, 4, None, _T, 0, None, None, "Current tariff period"),
    ("DEMAIN", _H, 4, None, _T, 0, None, None, "Tempo colour of tomorrow"),
    ("IINST", _H, 3, "A", _I, F_MONO, _CU, _ME, "RMS current"),
    ("IINST1", _H, 3, "A", _I, F_TRI | F_SHORT, _CU, _ME, "RMS current, phase 1"),
    ("IINST2", _H, 3, "A", _I, F_TRI | F_SHORT, _CU, _ME, "RMS current, phase 2"),
    ("IINST3", _H, 3, "A", _I, F_TRI | F_SHORT, _CU, _ME, "RMS current, phase 3"),
    ("ADPS", _H, 3, "A", _I, F_MONO | F_EVENT, _CU, _ME, "Overload warning: current over limit"),
    ("ADIR1", _H, 3, "A", _I, F_TRI | F_SHORT | F_EVENT, _CU, _ME, "Overload warning, phase 1"),
    ("ADIR2", _H, 3, "A", _I, F_TRI | F_SHORT | F_EVENT, _CU, _ME, "Overload warning, phase 2"),
    ("ADIR3", _H, 3, "A", _I, F_TRI | F_SHORT | F_EVENT, _CU, _ME, "Overload warning, phase 3"),
    ("IMAX", _H, 3, "A", _I, F_MONO, _CU, None, "Maximum current"),
    ("IMAX1", _H, 3, "A", _I, F_TRI, _CU, None, "Maximum current, phase 1"),
    ("IMAX2", _H, 3, "A", _I, F_TRI, _CU, None, "Maximum current, phase 2"),
    ("IMAX3", _H, 3, "A", _I, F_TRI, _CU, None, "Maximum current, phase 3"),
    ("PMAX", _H, 5, "W", _I, F_TRI, _PW, _ME, "Maximum three-phase power reached"),
    ("PAPP", _H, 5, "VA", _I, 0, _AP, _ME, "Apparent power (10 VA steps)"),
    ("HHPHC", _H, 1, None, _T, 0, None, None, "Peak/off-peak timetable code"),
    ("MOTDETAT", _H, 6, None, _X, 0, None, None, "Meter status word"),
    ("PPOT", _H, 2, None, _X, F_TRI, None, None, "Phase potentials (bit set: phase absent)"),
    # ---- standard (§6), transmission order ----
    ("ADSC", _S, 12, None, _T, 0, None, None, "Meter address (serial number)"),
    ("VTIC", _S, 2, None, _T, 0, None, None, "TIC version"),
    ("DATE", _S, 0, None, _T, _HO, "timestamp", None, "Meter date and time"),
    ("NGTF", _S, 16, None, _T, 0, None, None, "Supplier calendar name"),
    ("LTARF", _S, 16, None, _T, 0, None, None, "Current supplier tariff label"),
    ("EAST", _S, 9, "Wh", _I, _G, _EN, _TI, "Total energy drawn"),
    ("EASF01", _S, 9, "Wh", _I, _G, _EN, _TI, "Energy drawn, supplier index 1"),
    ("EASF02", _S, 9, "Wh", _I, _G, _EN, _TI, "Energy drawn, supplier index 2"),
    ("EASF03", _S, 9, "Wh", _I, _G, _EN, _TI, "Energy drawn, supplier index 3"),
    ("EASF04", _S, 9, "Wh", _I, _G, _EN, _TI, "Energy drawn, supplier index 4"),
    ("EASF05", _S, 9, "Wh", _I, _G, _EN, _TI, "Energy drawn, supplier index 5"),
    ("EASF06", _S, 9, "Wh", _I, _G, _EN, _TI, "Energy drawn, supplier index 6"),
    ("EASF07", _S, 9, "Wh", _I, _G, _EN, _TI, "Energy drawn, supplier index 7"),
    ("EASF08", _S, 9, "Wh", _I, _G, _EN, _TI, "Energy drawn, supplier index 8"),
    ("EASF09", _S, 9, "Wh", _I, _G, _EN, _TI, "Energy drawn, supplier index 9"),
    ("EASF10", _S, 9, "Wh", _I, _G, _EN, _TI, "Energy drawn, supplier index 10"),
    ("EASD01", _S, 9, "Wh", _I, _G, _EN, _TI, "Energy drawn, distributor index 1"),
    ("EASD02", _S, 9, "Wh", _I, _G, _EN, _TI, "Energy drawn, distributor index 2"),
    ("EASD03", _S, 9, "Wh", _I, _G, _EN, _TI, "Energy drawn, distributor index 3"),
    ("EASD04", _S, 9, "Wh", _I, _G, _EN, _TI, "Energy drawn, distributor index 4"),
    ("EAIT", _S, 9, "Wh", _I, _G | F_PRODUCER, _EN, _TI, "Total energy injected"),
    # Quadrants: Q1 drawing + inductive, Q2 injecting + inductive, Q3 injecting + capacitive,
    # Q4 drawing + capacitive.
    ("ERQ1", _S, 9, "VArh", _I, _G | F_PRODUCER, _RE, _TI, "Reactive energy, quadrant 1"),
    ("ERQ2", _S, 9, "VArh", _I, _G | F_PRODUCER, _RE, _TI, "Reactive energy, quadrant 2"),
    ("ERQ3", _S, 9, "VArh", _I, _G | F_PRODUCER, _RE, _TI, "Reactive energy, quadrant 3"),
    ("ERQ4", _S, 9, "VArh", _I, _G | F_PRODUCER, _RE, _TI, "Reactive energy, quadrant 4"),
    ("IRMS1", _S, 3, "A", _I, 0, _CU, _ME, "RMS current, phase 1"),
    ("IRMS2", _S, 3, "A", _I, F_TRI, _CU, _ME, "RMS current, phase 2"),
    ("IRMS3", _S, 3, "A", _I, F_TRI, _CU, _ME, "RMS current, phase 3"),
    ("URMS1", _S, 3, "V", _I, 0, _VO, _ME, "RMS voltage, phase 1"),
    ("URMS2", _S, 3, "V", _I, F_TRI, _VO, _ME, "RMS voltage, phase 2"),
    ("URMS3", _S, 3, "V", _I, F_TRI, _VO, _ME, "RMS voltage, phase 3"),
    ("PREF", _S, 2, "kVA", _I, 0, _AP, None, "Reference (subscribed) power"),
    ("PCOUP", _S, 2, "kVA", _I, 0, _AP, None, "Cut-off power"),
    ("SINSTS", _S, 5, "VA", _I, 0, _AP, _ME, "Apparent power drawn"),
    ("SINSTS1", _S, 5, "VA", _I, F_TRI, _AP, _ME, "Apparent power drawn, phase 1"),
    ("SINSTS2", _S, 5, "VA", _I, F_TRI, _AP, _ME, "Apparent power drawn, phase 2"),
    ("SINSTS3", _S, 5, "VA", _I, F_TRI, _AP, _ME, "Apparent power drawn, phase 3"),
    ("SMAXSN", _S, 5, "VA", _I, _HO, _AP, _ME, "Max power drawn today"),
    ("SMAXSN1", _S, 5, "VA", _I, _HT, _AP, _ME, "Max power drawn today, phase 1"),
    ("SMAXSN2", _S, 5, "VA", _I, _HT, _AP, _ME, "Max power drawn today, phase 2"),
    ("SMAXSN3", _S, 5, "VA", _I, _HT, _AP, _ME, "Max power drawn today, phase 3"),
    ("SMAXSN-1", _S, 5, "VA", _I, _HO, _AP, _ME, "Max power drawn yesterday"),
    ("SMAXSN1-1", _S, 5, "VA", _I, _HT, _AP, _ME, "Max power drawn yesterday, phase 1"),
    ("SMAXSN2-1", _S, 5, "VA", _I, _HT, _AP, _ME, "Max power drawn yesterday, phase 2"),
    ("SMAXSN3-1", _S, 5, "VA", _I, _HT, _AP, _ME, "Max power drawn yesterday, phase 3"),
    ("SINSTI", _S, 5, "VA", _I, F_PRODUCER, _AP, _ME, "Apparent power injected"),
    ("SMAXIN", _S, 5, "VA", _I, _HO | F_PRODUCER, _AP, _ME, "Max power injected today"),
    ("SMAXIN-1", _S, 5, "VA", _I, _HO | F_PRODUCER, _AP, _ME, "Max power injected yesterday"),
    ("CCASN", _S, 5, "W", _I, _HO | F_EVENT, _PW, _ME, "Load curve, last point (drawn)"),
    ("CCASN-1", _S, 5, "W", _I, _HO | F_EVENT, _PW, _ME, "Load curve, previous point (drawn)"),
    ("CCAIN", _S, 5, "W", _I, _HO | F_PRODUCER | F_EVENT, _PW, _ME,
     "Load curve, last point (injected)"),
    ("CCAIN-1", _S, 5, "W", _I, _HO | F_PRODUCER | F_EVENT, _PW, _ME,
     "Load curve, previous point (injected)"),
    ("UMOY1", _S, 3, "V", _I, _HO, _VO, _ME, "Mean voltage, phase 1"),
    ("UMOY2", _S, 3, "V", _I, _HT, _VO, _ME, "Mean voltage, phase 2"),
    ("UMOY3", _S, 3, "V", _I, _HT, _VO, _ME, "Mean voltage, phase 3"),
    ("STGE", _S, 8, None, _X, 0, None, None, "Status register"),
    ("DPM1", _S, 2, None, _I, _HO | F_EVENT, None, None, "Start of mobile peak 1"),
    ("FPM1", _S, 2, None, _I, _HO | F_EVENT, None, None, "End of mobile peak 1"),
    ("DPM2", _S, 2, None, _I, _HO | F_EVENT, None, None, "Start of mobile peak 2"),
    ("FPM2", _S, 2, None, _I, _HO | F_EVENT, None, None, "End of mobile peak 2"),
    ("DPM3", _S, 2, None, _I, _HO | F_EVENT, None, None, "Start of mobile peak 3"),
    ("FPM3", _S, 2, None, _I, _HO | F_EVENT, None, None, "End of mobile peak 3"),
    ("MSG1", _S, 32, None, _T, 0, None, None, "Short message"),
    ("MSG2", _S, 16, None, _T, F_EVENT, None, None, "Ultra-short message"),
    ("PRM", _S, 14, None, _T, 0, None, None, "Delivery point id (PRM)"),
    ("RELAIS", _S, 3, None, _I, 0, None, None, "Relay states (bit n-1: relay n closed)"),
    ("NTARF", _S, 2, None, _I, 0, None, None, "Current supplier tariff index"),
    ("NJOURF", _S, 2, None, _I, 0, None, None, "Current supplier day profile"),
    ("NJOURF+1", _S, 2, None, _I, 0, None, None, "Next day's supplier day profile"),
    ("PJOURF+1", _S, 98, None, _T, 0, None, None, "Next day's profile (switch times)"),
    ("PPOINTE", _S, 98, None, _T, F_EVENT, None, None, "Next peak day's profile"),
)
# fmt: on

COUNT = len(ROWS)

# Bytes names for Frame.label_is (it compares bytes). Built once: ~100 small objects.
NAMES_B = tuple(r[NAME].encode() for r in ROWS)


def build_hash_index(names):
    """{tic.label_hash(name): position} for a sequence of bytes names; raises ValueError if two
    names collide, so a colliding label added to the table fails at import, not in the field."""
    d = {}
    for i in range(len(names)):
        h = label_hash(names[i])
        j = d.get(h)
        if j is not None:
            raise ValueError("label hash collision: %s %s" % (names[j], names[i]))
        d[h] = i
    return d


_BY_HASH = build_hash_index(NAMES_B)


def _as_bytes(name):
    return name.encode() if isinstance(name, str) else name


def index_by_hash(h):
    """Row index of the known label whose tic.label_hash is h, or -1. No allocation."""
    return _BY_HASH.get(h, -1)


def by_hash(h):
    """The row whose label hashes to h, or None. A hash alone can match an unknown label that
    collides with a known one: confirm the name (for_frame does)."""
    i = _BY_HASH.get(h, -1)
    return ROWS[i] if i >= 0 else None


def index(name):
    """Row index of a label given as str or bytes, or -1."""
    b = _as_bytes(name)
    i = _BY_HASH.get(label_hash(b), -1)
    if i >= 0 and NAMES_B[i] == b:
        return i
    return -1


def lookup(name):
    """The row of a label given as str or bytes, or None."""
    i = index(name)
    return ROWS[i] if i >= 0 else None


def index_for_frame(frame, i):
    """Row index of group i of a tic.parser Frame, or -1 for an unknown label. No allocation:
    the stored hash finds the candidate row, a byte comparison confirms it."""
    r = _BY_HASH.get(frame.label_hash(i), -1)
    if r >= 0 and frame.label_is(i, NAMES_B[r]):
        return r
    return -1


def for_frame(frame, i):
    """The row of group i of a Frame, or None (unknown label). No allocation."""
    r = index_for_frame(frame, i)
    return ROWS[r] if r >= 0 else None


def row_index(row):
    """The index of a row of ROWS (rows are unique). Linear search: not for hot paths."""
    return index(row[NAME])


def rows_for_mode(mode):
    """The rows of one mode, as a tuple, in transmission order. Allocates."""
    return tuple(r for r in ROWS if r[MODE] == mode)


def is_energy_index(row):
    """An energy register (Wh or VArh) that only grows: HA total_increasing, guarded."""
    return bool(row[FLAGS] & F_GUARDED)


def is_numeric(row):
    """The value is decimal digits to read as an int (Frame.int_value)."""
    return row[KIND] == KIND_INT


def is_horodated(row):
    return bool(row[FLAGS] & F_HORODATE)


def is_event(row):
    """Sent only while some condition holds: its absence from a frame is normal."""
    return bool(row[FLAGS] & F_EVENT)


def ha_unit(row):
    """The unit as Home Assistant spells it (HA writes reactive energy "varh")."""
    u = row[UNIT]
    return "varh" if u == "VArh" else u
