"""The TIC label table: every label of both modes, with its size, unit, kind and HA classes.

Reference: tic-protocol.md §5 (historique, three-phase short frames), §6 (standard).

A label is known by its row index r, 0 <= r < COUNT, in transmission order, historique first.
Indexes are stable for a build, so per-label state elsewhere (tic.guard) lives in preallocated
arrays indexed by them. The table is written as readable text in tic.label_table; it is packed
here at import into four bytes per row and one bytes blob of names, then the text is dropped:
the firmware imports this module at boot and keeps it (about 10 KB of heap on the unix port,
the tic package included). Read it with accessors, which allocate nothing unless noted:

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
`lookup`, `by_hash`, `for_frame` return those tuples. ROWS is built on first use and kept
(about 18 KB on the unix port: 105 tuples and name strings), so device code should stick to
indexes and accessors.
"""

from array import array

from tic import label_hash

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

# Packed row (written by tic.label_table.pack): 4 bytes at _ATTR[r * _RW]:
#   size | flags | mode << 6 | kind << 4 | unit | device_class << 4 | state_class
_RW = const(4)


def _load():
    """tic.label_table's text packed (see label_table.pack), then that module dropped so the
    text is freed."""
    import sys

    from tic import label_table

    try:
        return label_table.pack(_UNITS, _DEVICE_CLASSES, _STATE_CLASSES)
    finally:
        del sys.modules["tic.label_table"]
        delattr(sys.modules["tic"], "label_table")


# Row r's name is _NAMES[_OFF[r]:_OFF[r + 1]]; its 4 bytes start at _ATTR[r * _RW].
_NAMES, _OFF, _ATTR = _load()
del _load

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
