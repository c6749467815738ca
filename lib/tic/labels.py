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

The English descriptions live in tic.label_docs, loaded only by `description(r)`.

Lookups: by name (`lookup`, `index`), by tic.label_hash (`by_hash`, `index_by_hash`, a dict
built once at import, which raises if two known labels collide), and for a parsed group
(`for_frame`, `index_for_frame`: hash then byte comparison, no allocation).
"""

from array import array

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
    ("ADCO", _H, 12, None, _T, F_SHORT, None, None),
    ("OPTARIF", _H, 4, None, _T, 0, None, None),
    ("ISOUSC", _H, 2, "A", _I, 0, _CU, None),
    ("BASE", _H, 9, "Wh", _I, _G, _EN, _TI),
    ("HCHC", _H, 9, "Wh", _I, _G, _EN, _TI),
    ("HCHP", _H, 9, "Wh", _I, _G, _EN, _TI),
    ("EJPHN", _H, 9, "Wh", _I, _G, _EN, _TI),
    ("EJPHPM", _H, 9, "Wh", _I, _G, _EN, _TI),
    ("BBRHCJB", _H, 9, "Wh", _I, _G, _EN, _TI),
    ("BBRHPJB", _H, 9, "Wh", _I, _G, _EN, _TI),
    ("BBRHCJW", _H, 9, "Wh", _I, _G, _EN, _TI),
    ("BBRHPJW", _H, 9, "Wh", _I, _G, _EN, _TI),
    ("BBRHCJR", _H, 9, "Wh", _I, _G, _EN, _TI),
    ("BBRHPJR", _H, 9, "Wh", _I, _G, _EN, _TI),
    ("PEJP", _H, 2, "min", _I, F_EVENT, "duration", None),
    ("PTEC", _H, 4, None, _T, 0, None, None),
    ("DEMAIN", _H, 4, None, _T, 0, None, None),
    ("IINST", _H, 3, "A", _I, F_MONO, _CU, _ME),
    ("IINST1", _H, 3, "A", _I, F_TRI | F_SHORT, _CU, _ME),
    ("IINST2", _H, 3, "A", _I, F_TRI | F_SHORT, _CU, _ME),
    ("IINST3", _H, 3, "A", _I, F_TRI | F_SHORT, _CU, _ME),
    ("ADPS", _H, 3, "A", _I, F_MONO | F_EVENT, _CU, _ME),
    ("ADIR1", _H, 3, "A", _I, F_TRI | F_SHORT | F_EVENT, _CU, _ME),
    ("ADIR2", _H, 3, "A", _I, F_TRI | F_SHORT | F_EVENT, _CU, _ME),
    ("ADIR3", _H, 3, "A", _I, F_TRI | F_SHORT | F_EVENT, _CU, _ME),
    ("IMAX", _H, 3, "A", _I, F_MONO, _CU, None),
    ("IMAX1", _H, 3, "A", _I, F_TRI, _CU, None),
    ("IMAX2", _H, 3, "A", _I, F_TRI, _CU, None),
    ("IMAX3", _H, 3, "A", _I, F_TRI, _CU, None),
    ("PMAX", _H, 5, "W", _I, F_TRI, _PW, _ME),
    ("PAPP", _H, 5, "VA", _I, 0, _AP, _ME),
    ("HHPHC", _H, 1, None, _T, 0, None, None),
    ("MOTDETAT", _H, 6, None, _X, 0, None, None),
    ("PPOT", _H, 2, None, _X, F_TRI, None, None),
    # ---- standard (§6), transmission order ----
    ("ADSC", _S, 12, None, _T, 0, None, None),
    ("VTIC", _S, 2, None, _T, 0, None, None),
    ("DATE", _S, 0, None, _T, _HO, "timestamp", None),
    ("NGTF", _S, 16, None, _T, 0, None, None),
    ("LTARF", _S, 16, None, _T, 0, None, None),
    ("EAST", _S, 9, "Wh", _I, _G, _EN, _TI),
    ("EASF01", _S, 9, "Wh", _I, _G, _EN, _TI),
    ("EASF02", _S, 9, "Wh", _I, _G, _EN, _TI),
    ("EASF03", _S, 9, "Wh", _I, _G, _EN, _TI),
    ("EASF04", _S, 9, "Wh", _I, _G, _EN, _TI),
    ("EASF05", _S, 9, "Wh", _I, _G, _EN, _TI),
    ("EASF06", _S, 9, "Wh", _I, _G, _EN, _TI),
    ("EASF07", _S, 9, "Wh", _I, _G, _EN, _TI),
    ("EASF08", _S, 9, "Wh", _I, _G, _EN, _TI),
    ("EASF09", _S, 9, "Wh", _I, _G, _EN, _TI),
    ("EASF10", _S, 9, "Wh", _I, _G, _EN, _TI),
    ("EASD01", _S, 9, "Wh", _I, _G, _EN, _TI),
    ("EASD02", _S, 9, "Wh", _I, _G, _EN, _TI),
    ("EASD03", _S, 9, "Wh", _I, _G, _EN, _TI),
    ("EASD04", _S, 9, "Wh", _I, _G, _EN, _TI),
    ("EAIT", _S, 9, "Wh", _I, _G | F_PRODUCER, _EN, _TI),
    # Quadrants: Q1 drawing + inductive, Q2 injecting + inductive, Q3 injecting + capacitive,
    # Q4 drawing + capacitive.
    ("ERQ1", _S, 9, "VArh", _I, _G | F_PRODUCER, _RE, _TI),
    ("ERQ2", _S, 9, "VArh", _I, _G | F_PRODUCER, _RE, _TI),
    ("ERQ3", _S, 9, "VArh", _I, _G | F_PRODUCER, _RE, _TI),
    ("ERQ4", _S, 9, "VArh", _I, _G | F_PRODUCER, _RE, _TI),
    ("IRMS1", _S, 3, "A", _I, 0, _CU, _ME),
    ("IRMS2", _S, 3, "A", _I, F_TRI, _CU, _ME),
    ("IRMS3", _S, 3, "A", _I, F_TRI, _CU, _ME),
    ("URMS1", _S, 3, "V", _I, 0, _VO, _ME),
    ("URMS2", _S, 3, "V", _I, F_TRI, _VO, _ME),
    ("URMS3", _S, 3, "V", _I, F_TRI, _VO, _ME),
    ("PREF", _S, 2, "kVA", _I, 0, _AP, None),
    ("PCOUP", _S, 2, "kVA", _I, 0, _AP, None),
    ("SINSTS", _S, 5, "VA", _I, 0, _AP, _ME),
    ("SINSTS1", _S, 5, "VA", _I, F_TRI, _AP, _ME),
    ("SINSTS2", _S, 5, "VA", _I, F_TRI, _AP, _ME),
    ("SINSTS3", _S, 5, "VA", _I, F_TRI, _AP, _ME),
    ("SMAXSN", _S, 5, "VA", _I, _HO, _AP, _ME),
    ("SMAXSN1", _S, 5, "VA", _I, _HT, _AP, _ME),
    ("SMAXSN2", _S, 5, "VA", _I, _HT, _AP, _ME),
    ("SMAXSN3", _S, 5, "VA", _I, _HT, _AP, _ME),
    ("SMAXSN-1", _S, 5, "VA", _I, _HO, _AP, _ME),
    ("SMAXSN1-1", _S, 5, "VA", _I, _HT, _AP, _ME),
    ("SMAXSN2-1", _S, 5, "VA", _I, _HT, _AP, _ME),
    ("SMAXSN3-1", _S, 5, "VA", _I, _HT, _AP, _ME),
    ("SINSTI", _S, 5, "VA", _I, F_PRODUCER, _AP, _ME),
    ("SMAXIN", _S, 5, "VA", _I, _HO | F_PRODUCER, _AP, _ME),
    ("SMAXIN-1", _S, 5, "VA", _I, _HO | F_PRODUCER, _AP, _ME),
    ("CCASN", _S, 5, "W", _I, _HO | F_EVENT, _PW, _ME),
    ("CCASN-1", _S, 5, "W", _I, _HO | F_EVENT, _PW, _ME),
    ("CCAIN", _S, 5, "W", _I, _HO | F_PRODUCER | F_EVENT, _PW, _ME),
    ("CCAIN-1", _S, 5, "W", _I, _HO | F_PRODUCER | F_EVENT, _PW, _ME),
    ("UMOY1", _S, 3, "V", _I, _HO, _VO, _ME),
    ("UMOY2", _S, 3, "V", _I, _HT, _VO, _ME),
    ("UMOY3", _S, 3, "V", _I, _HT, _VO, _ME),
    ("STGE", _S, 8, None, _X, 0, None, None),
    ("DPM1", _S, 2, None, _I, _HO | F_EVENT, None, None),
    ("FPM1", _S, 2, None, _I, _HO | F_EVENT, None, None),
    ("DPM2", _S, 2, None, _I, _HO | F_EVENT, None, None),
    ("FPM2", _S, 2, None, _I, _HO | F_EVENT, None, None),
    ("DPM3", _S, 2, None, _I, _HO | F_EVENT, None, None),
    ("FPM3", _S, 2, None, _I, _HO | F_EVENT, None, None),
    ("MSG1", _S, 32, None, _T, 0, None, None),
    ("MSG2", _S, 16, None, _T, F_EVENT, None, None),
    ("PRM", _S, 14, None, _T, 0, None, None),
    ("RELAIS", _S, 3, None, _I, 0, None, None),
    ("NTARF", _S, 2, None, _I, 0, None, None),
    ("NJOURF", _S, 2, None, _I, 0, None, None),
    ("NJOURF+1", _S, 2, None, _I, 0, None, None),
    ("PJOURF+1", _S, 98, None, _T, 0, None, None),
    ("PPOINTE", _S, 98, None, _T, F_EVENT, None, None),
)
# fmt: on

COUNT = len(ROWS)

# All names in one bytes blob: row r's name is _NAMES[_OFF[r]:_OFF[r + 1]], compared in place
# (Frame.label_in), so ~100 names cost two objects instead of one each.
_NAMES = b"".join(r[NAME].encode() for r in ROWS)
_OFF = array("H", [0] * (COUNT + 1))
for _r in range(COUNT):
    _OFF[_r + 1] = _OFF[_r] + len(ROWS[_r][NAME])

# Hash index: open addressing in 256 one-byte slots (row index, 0xFF = empty), first probe at
# the hash's low byte, the next slots on a clash (1.5 probes on average for the known labels).
_EMPTY = const(0xFF)
_SLOT_MASK = const(0xFF)


def build_hash_index(names):
    """(slots, hashes) for a sequence of bytes names (at most 255): hashes[i] is
    tic.label_hash(names[i]), slots the table index_by_hash probes. Raises ValueError if two
    names hash alike, so a colliding label added to the table fails at import, not in the
    field."""
    if len(names) > _SLOT_MASK:
        raise ValueError("too many labels for the hash index")
    slots = bytearray(b"\xff" * (_SLOT_MASK + 1))
    hashes = array("I", [0] * len(names))
    for i in range(len(names)):
        h = label_hash(names[i])
        hashes[i] = h
        s = h & _SLOT_MASK
        while slots[s] != _EMPTY:
            if hashes[slots[s]] == h:
                raise ValueError("label hash collision: %s %s" % (names[slots[s]], names[i]))
            s = (s + 1) & _SLOT_MASK
        slots[s] = i
    return slots, hashes


_SLOTS, _HASHES = build_hash_index([_NAMES[_OFF[r] : _OFF[r + 1]] for r in range(COUNT)])
del _r


def _as_bytes(name):
    return name.encode() if isinstance(name, str) else name


def index_by_hash(h):
    """Row index of the known label whose tic.label_hash is h, or -1. No allocation."""
    s = h & _SLOT_MASK
    while True:
        r = _SLOTS[s]
        if r == _EMPTY or _HASHES[r] == h:
            return -1 if r == _EMPTY else r
        s = (s + 1) & _SLOT_MASK


def by_hash(h):
    """The row whose label hashes to h, or None. A hash alone can match an unknown label that
    collides with a known one: confirm the name (for_frame does)."""
    i = index_by_hash(h)
    return ROWS[i] if i >= 0 else None


def name(r):
    """Row index r's label as a str. Allocates."""
    return _NAMES[_OFF[r] : _OFF[r + 1]].decode()


def _name_is(r, b):
    """Row r's name equals the bytes-like b. No allocation."""
    a = _OFF[r]
    if _OFF[r + 1] - a != len(b):
        return False
    for j in range(len(b)):
        if _NAMES[a + j] != b[j]:
            return False
    return True


def index(name):
    """Row index of a label given as str or bytes, or -1. Allocates only to encode a str."""
    b = _as_bytes(name)
    r = index_by_hash(label_hash(b))
    if r >= 0 and _name_is(r, b):
        return r
    return -1


def lookup(name):
    """The row of a label given as str or bytes, or None."""
    i = index(name)
    return ROWS[i] if i >= 0 else None


def index_for_frame(frame, i):
    """Row index of group i of a tic.parser Frame, or -1 for an unknown label. No allocation:
    the hash finds the candidate row, a byte comparison in the names blob confirms it."""
    r = index_by_hash(frame.label_hash(i))
    if r >= 0 and frame.label_in(i, _NAMES, _OFF[r], _OFF[r + 1]):
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


def description(r):
    """Short English description of row index r. Loads tic.label_docs (about 4 KB) on first use;
    allocates the str."""
    if not 0 <= r < COUNT:
        raise IndexError("no label row %d" % r)
    from tic import label_docs

    return label_docs.describe(r)


def ha_unit(row):
    """The unit as Home Assistant spells it (HA writes reactive energy "varh")."""
    u = row[UNIT]
    return "varh" if u == "VArh" else u
