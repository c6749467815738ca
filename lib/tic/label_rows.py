"""The rest of the label API, for features that need it (Home Assistant discovery), host code
and tests: units and classes, predicates, descriptions and rows as tuples.

Not imported at boot: tic.labels loads it on the use of one of these names through it
(`labels.unit(r)`, `labels.ROWS`...; each such use looks the name up here, nothing is copied
into tic.labels, so unloading this module frees it).
Accessors by row index allocate nothing unless noted; ROWS, once asked for, is built and kept
(about 18 KB on the unix port: 105 tuples and name strings).

    name(r)            "EAST" (allocates the str)
    mode(r)            MODE_HISTORIQUE or MODE_STANDARD (no label is sent in both modes)
    size(r)            data field width in characters (DATE: 0, its value is the horodate)
    kind(r)            KIND_INT (decimal digits), KIND_TEXT, KIND_HEX
    unit(r)            "Wh" "VArh" "VA" "W" "A" "V" "kVA" "min" or None
    device_class(r)    Home Assistant sensor device_class or None
    state_class(r)     Home Assistant state_class or None
    ha_unit(row)       the unit as Home Assistant spells it ("varh")
    description(r)     short English text, from tic.label_docs (allocates the str)
    is_energy_index(row), is_numeric(row), is_horodated(row), is_event(row)
                       predicates on a row index or a ROWS tuple
    ROWS[r][FIELD]     rows as tuples, FIELD one of NAME MODE SIZE UNIT KIND FLAGS
                       DEVICE_CLASS STATE_CLASS; lookup(name), by_hash(h), for_frame(frame, i)
                       return those tuples (or None); row_index(row); rows_for_mode(mode)
"""

from tic import labels

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

# What a row's 4-bit codes index (0: none): units, Home Assistant device and state classes.
UNITS = (None, "Wh", "VArh", "VA", "W", "A", "V", "kVA", "min")
DEVICE_CLASSES = (
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
STATE_CLASSES = (None, "total_increasing", "measurement")

_ATTR = labels._ATTR
_NAMES = labels._NAMES


def name(r):
    """Row r's label as a str. Allocates."""
    return _NAMES[labels._off(r) : labels._off(r + 1)].decode()


def mode(r):
    return _ATTR[4 * r + 2] >> 6


def size(r):
    return _ATTR[4 * r]


def kind(r):
    return (_ATTR[4 * r + 2] >> 4) & 3


def unit(r):
    return UNITS[_ATTR[4 * r + 2] & 15]


def device_class(r):
    return DEVICE_CLASSES[_ATTR[4 * r + 3] >> 4]


def state_class(r):
    return STATE_CLASSES[_ATTR[4 * r + 3] & 15]


def description(r):
    """Short English description of row r. Loads tic.label_docs (about 4 KB) on first use;
    allocates the str."""
    if not 0 <= r < labels.COUNT:
        raise IndexError("no label row %d" % r)
    from tic import label_docs

    return label_docs.describe(r)


# ---- predicates: take a row index or a ROWS tuple ----


def _flags(row):
    return labels.flags(row) if isinstance(row, int) else row[FLAGS]


def is_energy_index(row):
    """An energy register (Wh or VArh) that only grows: HA total_increasing, guarded."""
    return bool(_flags(row) & labels.F_GUARDED)


def is_numeric(row):
    """The value is decimal digits to read as an int (Frame.int_value)."""
    return (kind(row) if isinstance(row, int) else row[KIND]) == labels.KIND_INT


def is_horodated(row):
    return bool(_flags(row) & labels.F_HORODATE)


def is_event(row):
    """Sent only while some condition holds: its absence from a frame is normal."""
    return bool(_flags(row) & labels.F_EVENT)


def ha_unit(row):
    """The unit as Home Assistant spells it (HA writes reactive energy "varh")."""
    u = unit(row) if isinstance(row, int) else row[UNIT]
    return "varh" if u == "VArh" else u


# ---- rows as tuples ----

_ROWS = None


def _rows():
    global _ROWS, ROWS
    if _ROWS is None:
        _ROWS = ROWS = tuple(_row(r) for r in range(labels.COUNT))
    return _ROWS


def _row(r):
    return (name(r), mode(r), size(r), unit(r), kind(r), labels.flags(r), device_class(r),
            state_class(r))  # fmt: skip


def __getattr__(attr):
    # ROWS exists once asked for (module attribute hook, PEP 562).
    if attr == "ROWS":
        return _rows()
    raise AttributeError(attr)


def lookup(name):
    """The ROWS tuple of a label given as str or bytes, or None."""
    r = labels.index(name)
    return _rows()[r] if r >= 0 else None


def by_hash(h):
    """The ROWS tuple whose label hashes to h, or None (see labels.index_by_hash)."""
    r = labels.index_by_hash(h)
    return _rows()[r] if r >= 0 else None


def for_frame(frame, i):
    """The ROWS tuple of group i of a Frame, or None (unknown label). No allocation once ROWS
    exists; the first call builds it."""
    r = labels.index_for_frame(frame, i)
    return _rows()[r] if r >= 0 else None


def row_index(row):
    """The index of a ROWS tuple. Allocates (encodes the name)."""
    return labels.index(row[NAME])


def rows_for_mode(mode):
    """The ROWS tuples of one mode, in transmission order. Allocates."""
    return tuple(row for row in _rows() if row[MODE] == mode)
