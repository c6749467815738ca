"""The TIC label table: every label of both modes, with its size, unit, kind and HA classes.

Reference: tic-protocol.md §5 (historique, three-phase short frames), §6 (standard).

A label is known by its row index r, 0 <= r < COUNT, in transmission order, historique first.
Indexes are stable for a build, so per-label state elsewhere (tic.guard) lives in preallocated
arrays indexed by them. The table is packed to cost little heap (the firmware imports it at
boot): four bytes per row, the names in one bytes blob. Read it with accessors, which allocate
nothing unless noted:

    name(r)            "EAST" (allocates the str)
    mode(r)            MODE_HISTORIQUE or MODE_STANDARD (no label is sent in both modes)
    size(r)            data field width in characters (DATE: 0, its value is the horodate)
    unit(r)            "Wh" "VArh" "VA" "W" "A" "V" "kVA" "min" or None
    kind(r)            KIND_INT (decimal digits), KIND_TEXT, KIND_HEX
    flags(r)           F_* bits below
    device_class(r)    Home Assistant sensor device_class or None
    state_class(r)     Home Assistant state_class or None
    description(r)     short English text, from tic.label_docs, loaded on first use

Lookups: `index(name)` (str or bytes), `index_by_hash(h)` (tic.label_hash; the index is built
at import and refuses two known labels that hash alike) and `index_for_frame(frame, i)` for a
parsed group (hash, then a byte comparison in place: no allocation).

Rows as tuples, for host code and tests: ROWS[r][FIELD] with the field constants below, and
`lookup`, `by_hash`, `for_frame` return those tuples. ROWS is built on first use (about 9 KB
on the unix port), so device code should stick to indexes and accessors.
"""

from array import array

from tic import MODE_HISTORIQUE, MODE_STANDARD, label_hash

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# Fields of a ROWS tuple.
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

# Units and Home Assistant classes: a row stores an index into these (0: None).
_UNITS = (None, "Wh", "VArh", "VA", "W", "A", "V", "kVA", "min")
_DEVICE_CLASSES = (
    None,
    "energy",
    "reactive_energy",
    "apparent_power",
    "power",
    "current",
    "voltage",
    "duration",
    "timestamp",
)
_STATE_CLASSES = (None, "total_increasing", "measurement")

# Packed row: 4 bytes at _ATTR[r * _RW]:
#   size | flags | mode << 6 | kind << 4 | unit | device_class << 4 | state_class
_RW = const(4)

# Private constants for the table below; const() names with a leading underscore cost nothing
# at run time (the compiler substitutes them).
_H = const(1)  # MODE_HISTORIQUE (checked below)
_S = const(2)  # MODE_STANDARD
_I = const(0)  # KIND_INT
_T = const(1)  # KIND_TEXT
_X = const(2)  # KIND_HEX
_WH = const(1)
_VARH = const(2)
_VA = const(3)
_W = const(4)
_A = const(5)
_V = const(6)
_KVA = const(7)
_MIN = const(8)
_EN = const(1)  # energy
_RE = const(2)  # reactive_energy
_AP = const(3)  # apparent_power
_PW = const(4)  # power
_CU = const(5)  # current
_VO = const(6)  # voltage
_DU = const(7)  # duration
_TS = const(8)  # timestamp
_TI = const(1)  # total_increasing
_ME = const(2)  # measurement
_G = const(2)  # F_GUARDED
_HO = const(1)  # F_HORODATE
_HT = const(5)  # F_HORODATE | F_TRI

if (_H, _S) != (MODE_HISTORIQUE, MODE_STANDARD):
    raise ImportError("tic.labels: mode constants out of step with tic")

_NAMES = bytearray()  # all names, back to back: row r's is _NAMES[_OFF[r]:_OFF[r + 1]]
_OFF = array("H", [0])
_ATTR = bytearray()


def _add(name, mode, size, unit, kind, flags, device_class, state_class):  # noqa: PLR0917
    """Append one row (at import only). None stands for index 0 (no unit, no class)."""
    _NAMES.extend(name.encode())
    _OFF.append(len(_NAMES))
    _ATTR.append(size)
    _ATTR.append(flags)
    _ATTR.append(mode << 6 | kind << 4 | (unit or 0))
    _ATTR.append((device_class or 0) << 4 | (state_class or 0))


# The table is written as calls rather than as a tuple of tuples: the calls run once and their
# code is freed after import, whereas constant tuples would stay on the heap.
# fmt: off
# ---- historique (§5), transmission order ----
_add("ADCO", _H, 12, None, _T, F_SHORT, None, None)
_add("OPTARIF", _H, 4, None, _T, 0, None, None)
_add("ISOUSC", _H, 2, _A, _I, 0, _CU, None)
_add("BASE", _H, 9, _WH, _I, _G, _EN, _TI)
_add("HCHC", _H, 9, _WH, _I, _G, _EN, _TI)
_add("HCHP", _H, 9, _WH, _I, _G, _EN, _TI)
_add("EJPHN", _H, 9, _WH, _I, _G, _EN, _TI)
_add("EJPHPM", _H, 9, _WH, _I, _G, _EN, _TI)
_add("BBRHCJB", _H, 9, _WH, _I, _G, _EN, _TI)
_add("BBRHPJB", _H, 9, _WH, _I, _G, _EN, _TI)
_add("BBRHCJW", _H, 9, _WH, _I, _G, _EN, _TI)
_add("BBRHPJW", _H, 9, _WH, _I, _G, _EN, _TI)
_add("BBRHCJR", _H, 9, _WH, _I, _G, _EN, _TI)
_add("BBRHPJR", _H, 9, _WH, _I, _G, _EN, _TI)
_add("PEJP", _H, 2, _MIN, _I, F_EVENT, _DU, None)
_add("PTEC", _H, 4, None, _T, 0, None, None)
_add("DEMAIN", _H, 4, None, _T, 0, None, None)
_add("IINST", _H, 3, _A, _I, F_MONO, _CU, _ME)
_add("IINST1", _H, 3, _A, _I, F_TRI | F_SHORT, _CU, _ME)
_add("IINST2", _H, 3, _A, _I, F_TRI | F_SHORT, _CU, _ME)
_add("IINST3", _H, 3, _A, _I, F_TRI | F_SHORT, _CU, _ME)
_add("ADPS", _H, 3, _A, _I, F_MONO | F_EVENT, _CU, _ME)
_add("ADIR1", _H, 3, _A, _I, F_TRI | F_SHORT | F_EVENT, _CU, _ME)
_add("ADIR2", _H, 3, _A, _I, F_TRI | F_SHORT | F_EVENT, _CU, _ME)
_add("ADIR3", _H, 3, _A, _I, F_TRI | F_SHORT | F_EVENT, _CU, _ME)
_add("IMAX", _H, 3, _A, _I, F_MONO, _CU, None)
_add("IMAX1", _H, 3, _A, _I, F_TRI, _CU, None)
_add("IMAX2", _H, 3, _A, _I, F_TRI, _CU, None)
_add("IMAX3", _H, 3, _A, _I, F_TRI, _CU, None)
_add("PMAX", _H, 5, _W, _I, F_TRI, _PW, _ME)
_add("PAPP", _H, 5, _VA, _I, 0, _AP, _ME)
_add("HHPHC", _H, 1, None, _T, 0, None, None)
_add("MOTDETAT", _H, 6, None, _X, 0, None, None)
_add("PPOT", _H, 2, None, _X, F_TRI, None, None)
# ---- standard (§6), transmission order ----
_add("ADSC", _S, 12, None, _T, 0, None, None)
_add("VTIC", _S, 2, None, _T, 0, None, None)
_add("DATE", _S, 0, None, _T, _HO, _TS, None)
_add("NGTF", _S, 16, None, _T, 0, None, None)
_add("LTARF", _S, 16, None, _T, 0, None, None)
_add("EAST", _S, 9, _WH, _I, _G, _EN, _TI)
_add("EASF01", _S, 9, _WH, _I, _G, _EN, _TI)
_add("EASF02", _S, 9, _WH, _I, _G, _EN, _TI)
_add("EASF03", _S, 9, _WH, _I, _G, _EN, _TI)
_add("EASF04", _S, 9, _WH, _I, _G, _EN, _TI)
_add("EASF05", _S, 9, _WH, _I, _G, _EN, _TI)
_add("EASF06", _S, 9, _WH, _I, _G, _EN, _TI)
_add("EASF07", _S, 9, _WH, _I, _G, _EN, _TI)
_add("EASF08", _S, 9, _WH, _I, _G, _EN, _TI)
_add("EASF09", _S, 9, _WH, _I, _G, _EN, _TI)
_add("EASF10", _S, 9, _WH, _I, _G, _EN, _TI)
_add("EASD01", _S, 9, _WH, _I, _G, _EN, _TI)
_add("EASD02", _S, 9, _WH, _I, _G, _EN, _TI)
_add("EASD03", _S, 9, _WH, _I, _G, _EN, _TI)
_add("EASD04", _S, 9, _WH, _I, _G, _EN, _TI)
_add("EAIT", _S, 9, _WH, _I, _G | F_PRODUCER, _EN, _TI)
# Quadrants: Q1 drawing + inductive, Q2 injecting + inductive, Q3 injecting + capacitive,
# Q4 drawing + capacitive.
_add("ERQ1", _S, 9, _VARH, _I, _G | F_PRODUCER, _RE, _TI)
_add("ERQ2", _S, 9, _VARH, _I, _G | F_PRODUCER, _RE, _TI)
_add("ERQ3", _S, 9, _VARH, _I, _G | F_PRODUCER, _RE, _TI)
_add("ERQ4", _S, 9, _VARH, _I, _G | F_PRODUCER, _RE, _TI)
_add("IRMS1", _S, 3, _A, _I, 0, _CU, _ME)
_add("IRMS2", _S, 3, _A, _I, F_TRI, _CU, _ME)
_add("IRMS3", _S, 3, _A, _I, F_TRI, _CU, _ME)
_add("URMS1", _S, 3, _V, _I, 0, _VO, _ME)
_add("URMS2", _S, 3, _V, _I, F_TRI, _VO, _ME)
_add("URMS3", _S, 3, _V, _I, F_TRI, _VO, _ME)
_add("PREF", _S, 2, _KVA, _I, 0, _AP, None)
_add("PCOUP", _S, 2, _KVA, _I, 0, _AP, None)
_add("SINSTS", _S, 5, _VA, _I, 0, _AP, _ME)
_add("SINSTS1", _S, 5, _VA, _I, F_TRI, _AP, _ME)
_add("SINSTS2", _S, 5, _VA, _I, F_TRI, _AP, _ME)
_add("SINSTS3", _S, 5, _VA, _I, F_TRI, _AP, _ME)
_add("SMAXSN", _S, 5, _VA, _I, _HO, _AP, _ME)
_add("SMAXSN1", _S, 5, _VA, _I, _HT, _AP, _ME)
_add("SMAXSN2", _S, 5, _VA, _I, _HT, _AP, _ME)
_add("SMAXSN3", _S, 5, _VA, _I, _HT, _AP, _ME)
_add("SMAXSN-1", _S, 5, _VA, _I, _HO, _AP, _ME)
_add("SMAXSN1-1", _S, 5, _VA, _I, _HT, _AP, _ME)
_add("SMAXSN2-1", _S, 5, _VA, _I, _HT, _AP, _ME)
_add("SMAXSN3-1", _S, 5, _VA, _I, _HT, _AP, _ME)
_add("SINSTI", _S, 5, _VA, _I, F_PRODUCER, _AP, _ME)
_add("SMAXIN", _S, 5, _VA, _I, _HO | F_PRODUCER, _AP, _ME)
_add("SMAXIN-1", _S, 5, _VA, _I, _HO | F_PRODUCER, _AP, _ME)
_add("CCASN", _S, 5, _W, _I, _HO | F_EVENT, _PW, _ME)
_add("CCASN-1", _S, 5, _W, _I, _HO | F_EVENT, _PW, _ME)
_add("CCAIN", _S, 5, _W, _I, _HO | F_PRODUCER | F_EVENT, _PW, _ME)
_add("CCAIN-1", _S, 5, _W, _I, _HO | F_PRODUCER | F_EVENT, _PW, _ME)
_add("UMOY1", _S, 3, _V, _I, _HO, _VO, _ME)
_add("UMOY2", _S, 3, _V, _I, _HT, _VO, _ME)
_add("UMOY3", _S, 3, _V, _I, _HT, _VO, _ME)
_add("STGE", _S, 8, None, _X, 0, None, None)
_add("DPM1", _S, 2, None, _I, _HO | F_EVENT, None, None)
_add("FPM1", _S, 2, None, _I, _HO | F_EVENT, None, None)
_add("DPM2", _S, 2, None, _I, _HO | F_EVENT, None, None)
_add("FPM2", _S, 2, None, _I, _HO | F_EVENT, None, None)
_add("DPM3", _S, 2, None, _I, _HO | F_EVENT, None, None)
_add("FPM3", _S, 2, None, _I, _HO | F_EVENT, None, None)
_add("MSG1", _S, 32, None, _T, 0, None, None)
_add("MSG2", _S, 16, None, _T, F_EVENT, None, None)
_add("PRM", _S, 14, None, _T, 0, None, None)
_add("RELAIS", _S, 3, None, _I, 0, None, None)
_add("NTARF", _S, 2, None, _I, 0, None, None)
_add("NJOURF", _S, 2, None, _I, 0, None, None)
_add("NJOURF+1", _S, 2, None, _I, 0, None, None)
_add("PJOURF+1", _S, 98, None, _T, 0, None, None)
_add("PPOINTE", _S, 98, None, _T, F_EVENT, None, None)
# fmt: on
del _add

COUNT = len(_OFF) - 1

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


# ---- accessors by row index: no allocation unless noted ----


def name(r):
    """Row r's label as a str. Allocates."""
    return _NAMES[_OFF[r] : _OFF[r + 1]].decode()


def mode(r):
    return _ATTR[r * _RW + 2] >> 6


def size(r):
    return _ATTR[r * _RW]


def unit(r):
    return _UNITS[_ATTR[r * _RW + 2] & 15]


def kind(r):
    return (_ATTR[r * _RW + 2] >> 4) & 3


def flags(r):
    return _ATTR[r * _RW + 1]


def device_class(r):
    return _DEVICE_CLASSES[_ATTR[r * _RW + 3] >> 4]


def state_class(r):
    return _STATE_CLASSES[_ATTR[r * _RW + 3] & 15]


def description(r):
    """Short English description of row r. Loads tic.label_docs (about 4 KB) on first use;
    allocates the str."""
    if not 0 <= r < COUNT:
        raise IndexError("no label row %d" % r)
    from tic import label_docs

    return label_docs.describe(r)


# ---- lookups ----


def index_by_hash(h):
    """Row index of the known label whose tic.label_hash is h, or -1. No allocation. A hash
    alone can match an unknown label that collides with a known one: confirm the name."""
    s = h & _SLOT_MASK
    while True:
        r = _SLOTS[s]
        if r == _EMPTY or _HASHES[r] == h:
            return -1 if r == _EMPTY else r
        s = (s + 1) & _SLOT_MASK


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
    b = name.encode() if isinstance(name, str) else name
    r = index_by_hash(label_hash(b))
    if r >= 0 and _name_is(r, b):
        return r
    return -1


def index_for_frame(frame, i):
    """Row index of group i of a tic.parser Frame, or -1 for an unknown label. No allocation:
    the hash finds the candidate row, a byte comparison in the names blob confirms it."""
    r = index_by_hash(frame.label_hash(i))
    if r >= 0 and frame.label_in(i, _NAMES, _OFF[r], _OFF[r + 1]):
        return r
    return -1


# ---- predicates: take a row index or a ROWS tuple ----


def _flags(row):
    return _ATTR[row * _RW + 1] if isinstance(row, int) else row[FLAGS]


def is_energy_index(row):
    """An energy register (Wh or VArh) that only grows: HA total_increasing, guarded."""
    return bool(_flags(row) & F_GUARDED)


def is_numeric(row):
    """The value is decimal digits to read as an int (Frame.int_value)."""
    return (kind(row) if isinstance(row, int) else row[KIND]) == KIND_INT


def is_horodated(row):
    return bool(_flags(row) & F_HORODATE)


def is_event(row):
    """Sent only while some condition holds: its absence from a frame is normal."""
    return bool(_flags(row) & F_EVENT)


def ha_unit(row):
    """The unit as Home Assistant spells it (HA writes reactive energy "varh")."""
    u = unit(row) if isinstance(row, int) else row[UNIT]
    return "varh" if u == "VArh" else u


# ---- rows as tuples (host code, tests): built on first use ----

_ROWS = None


def _rows():
    global _ROWS, ROWS
    if _ROWS is None:
        _ROWS = ROWS = tuple(_row(r) for r in range(COUNT))
    return _ROWS


def _row(r):
    return (name(r), mode(r), size(r), unit(r), kind(r), flags(r), device_class(r),
            state_class(r))  # fmt: skip


def __getattr__(attr):
    # Module attribute hook (PEP 562; MicroPython has it too): ROWS exists once asked for.
    if attr == "ROWS":
        return _rows()
    raise AttributeError(attr)


def lookup(name):
    """The ROWS tuple of a label given as str or bytes, or None."""
    r = index(name)
    return _rows()[r] if r >= 0 else None


def by_hash(h):
    """The ROWS tuple whose label hashes to h, or None (see index_by_hash)."""
    r = index_by_hash(h)
    return _rows()[r] if r >= 0 else None


def for_frame(frame, i):
    """The ROWS tuple of group i of a Frame, or None (unknown label). No allocation once ROWS
    exists; the first call builds it."""
    r = index_for_frame(frame, i)
    return _rows()[r] if r >= 0 else None


def row_index(row):
    """The index of a ROWS tuple. Allocates (encodes the name)."""
    return index(row[NAME])


def rows_for_mode(mode):
    """The ROWS tuples of one mode, in transmission order. Allocates."""
    return tuple(row for row in _rows() if row[MODE] == mode)
