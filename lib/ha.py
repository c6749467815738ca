"""Home Assistant MQTT discovery: the config payload of one entity at a time (issue 9).

Loaded for a discovery round and dropped after it (`del sys.modules["ha"]`); it loads
tic.label_rows and, for entity names, tic.label_docs. Ids and topics follow the shared contract
and are pinned by tests/test_ha_contract.py; design and figures: docs/design/ha-discovery.md.

An entity is a small int, its code:
    0 <= code < labels.COUNT   the TIC label of that row
    DECODED + i                KEYS[i], a decoded field of the state payload
    DIAG + i                   DIAG_KEYS[i], a field of the diagnostics payload
A set of entities is a bytearray(SET_BYTES), bit `code` set for each member.

    select(rows, mode, tempo=False)   the set to announce, from the label rows the meter sends
    possible(mode)                    every entity a meter of that mode can have
    codes(s), retired(old, new)       members of s; members of old missing from new (generators)
    Discovery(meter_id, mode, prefix, ha_prefix, version)
        .topic(code, buf) -> n        `<ha_prefix>/<component>/linky_<id>/<object>/config`
        .config(code, buf) -> n       the abbreviated JSON config
        .unique_id(code), .object_id(code) -> str

Writers fill a caller's bytearray from its start and return the length; ValueError (buffer
too small, unknown code). PAYLOAD_MAX and TOPIC_MAX fit every entity with prefixes up to 32
bytes and a version up to 24. Cost: one payload allocates a few short strs and bytes (the
name, about 200 bytes), none kept.
"""

from tic import MODE_HISTORIQUE, MODE_STANDARD, label_rows, labels

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


DECODED = const(112)
DIAG = const(128)
SET_BYTES = const(24)  # codes 0..191
PAYLOAD_MAX = const(768)
TOPIC_MAX = const(128)

_H = const(1)  # mode bits of a decoded key
_S = const(2)

# Decoded keys of `~/state`: key, name, mode bits, binary_sensor?, extra JSON (after val_tpl).
KEYS = (
    "period",
    "tempo_today",
    "tempo_tomorrow",
    "contact_open",
    "cutoff",
    "overvoltage",
    "overpower",
    "tariff_index",
    "producer",
)
_KEY_NAMES = (
    "Tariff period",
    "Tempo colour today",
    "Tempo colour tomorrow",
    "Dry contact open",
    "Breaker",
    "Overvoltage",
    "Overpower",
    "Tariff index",
    "Producer",
)
_KEY_MODES = b"\x03\x03\x03\x02\x02\x02\x03\x02\x02"
_KEY_BINARY = b"\x00\x00\x00\x01\x00\x01\x01\x00\x01"
_TEMPO = b',"dev_cla":"enum","ops":["BLEU","BLANC","ROUGE"]'
_KEY_EXTRA = (
    None,  # period: an enum of PTEC codes in historique, free text (LTARF) in standard
    _TEMPO,
    _TEMPO,
    b',"dev_cla":"opening"',
    b',"dev_cla":"enum","ops":["closed","open_overpower","open_overvoltage","open_remote",'
    b'"open_cpl","open_other"]',
    b',"dev_cla":"problem"',
    b',"dev_cla":"problem"',
    b"",
    b"",
)
_PTEC = (
    b',"dev_cla":"enum","ops":["TH..","HC..","HP..","HN..","PM..","HCJB","HPJB","HCJW",'
    b'"HPJW","HCJR","HPJR"]'
)

# Keys of `~/diagnostics`: key, name, extra JSON.
DIAG_KEYS = (
    "tic_state",
    "tic_mode",
    "baud",
    "bytes",
    "frames",
    "groups",
    "checksum_errors",
    "format_errors",
    "interrupted",
    "rejected_indexes",
    "dropped_values",
    "rssi",
    "mem_used",
    "uptime_s",
    "version",
    "reset_cause",
    "last_crash",
)
_DIAG_NAMES = (
    "TIC state",
    "TIC mode",
    "TIC speed",
    "Bytes received",
    "Frames",
    "Groups",
    "Checksum errors",
    "Format errors",
    "Interrupted frames",
    "Rejected indexes",
    "Dropped values",
    "Wi-Fi signal",
    "Memory used",
    "Uptime",
    "Firmware version",
    "Reset cause",
    "Last crash",
)
_COUNT = b',"stat_cla":"total_increasing"'
_DIAG_EXTRA = (
    b"",
    b"",
    b',"unit_of_meas":"Bd"',
    _COUNT,
    _COUNT,
    _COUNT,
    _COUNT,
    _COUNT,
    _COUNT,
    _COUNT,
    _COUNT,
    b',"dev_cla":"signal_strength","unit_of_meas":"dBm","stat_cla":"measurement"',
    b',"dev_cla":"data_size","unit_of_meas":"B","stat_cla":"measurement"',
    b',"dev_cla":"duration","unit_of_meas":"s","stat_cla":"total_increasing"',
    b"",
    b"",
    b"",
)

# Linky meter types (tic-protocol.md §9; the same as tic.decode.METER_TYPES, checked by a test).
_TYPES = {
    61: "single-phase 60 A G3, high-power input",
    62: "single-phase 90 A G1",
    63: "three-phase 60 A G1",
    64: "single-phase 60 A G3",
    70: "single-phase 60 A G3, pre-series",
    71: "three-phase 60 A G3, pre-series",
    75: "single-phase 90 A G3",
    76: "three-phase 60 A G3",
}


# ---------------------------------------------------------------- sets of entities


def _add(s, code):
    s[code >> 3] |= 1 << (code & 7)


def has(s, code):
    """True if entity `code` is in set s."""
    return bool(s[code >> 3] & (1 << (code & 7)))


def _mode_of(r):
    return label_rows.mode(r)


def _row(name):
    return labels.index(name)


def select(rows, mode, tempo=False):
    """The set of entities to announce for a meter in `mode` that sends the label `rows` (any
    iterable of row indexes, e.g. those the readings store holds): one entity per row, the
    decoded keys those rows give (period, Tempo colours when `tempo` or when the historique
    labels show a Tempo contract, STGE fields, tariff index), and every diagnostics key.
    ValueError for a row that is unknown or of the other mode."""
    if mode not in (MODE_HISTORIQUE, MODE_STANDARD):
        raise ValueError("mode %r" % (mode,))
    s = bytearray(SET_BYTES)
    for r in rows:
        if not 0 <= r < labels.COUNT or _mode_of(r) != mode:
            raise ValueError("row %r is not a label of mode %d" % (r, mode))
        _add(s, r)
    if mode == MODE_HISTORIQUE:
        if has(s, _row(b"PTEC")):
            _add(s, DECODED + 0)
        tempo = tempo or has(s, _row(b"DEMAIN")) or has(s, _row(b"BBRHCJB"))
        _add(s, DECODED + 6)  # overpower: ADPS / ADIRn, absent while none
    else:
        if has(s, _row(b"LTARF")):
            _add(s, DECODED + 0)
        if has(s, _row(b"STGE")):
            for i in (3, 4, 5, 6, 8):
                _add(s, DECODED + i)
        if has(s, _row(b"NTARF")):
            _add(s, DECODED + 7)
    if tempo:
        _add(s, DECODED + 1)
        _add(s, DECODED + 2)
    for i in range(len(DIAG_KEYS)):
        _add(s, DIAG + i)
    return s


def possible(mode):
    """Every entity a meter in `mode` can have: all its rows, its decoded keys, diagnostics."""
    s = bytearray(SET_BYTES)
    for r in range(labels.COUNT):
        if _mode_of(r) == mode:
            _add(s, r)
    bit = _H if mode == MODE_HISTORIQUE else _S
    for i in range(len(KEYS)):
        if _KEY_MODES[i] & bit:
            _add(s, DECODED + i)
    for i in range(len(DIAG_KEYS)):
        _add(s, DIAG + i)
    return s


def codes(s):
    """The codes in set s, in increasing order (a generator)."""
    for code in range(SET_BYTES * 8):
        if s[code >> 3] & (1 << (code & 7)):
            yield code


def retired(old, new):
    """Codes in set `old` and not in `new`: publish an empty retained payload to their topics.
    After a mode change whose previous set is unknown (a reboot), pass possible(other mode)."""
    for code in codes(old):
        if not has(new, code):
            yield code


# ---------------------------------------------------------------- writing


def _put(buf, n, b):
    m = n + len(b)
    if m > len(buf):
        raise ValueError("buffer too small")
    buf[n:m] = b
    return m


def _put_text(buf, n, s):
    """s (str or bytes) as the inside of a JSON string: escapes '"' and '\\', drops control
    characters."""
    if isinstance(s, str):
        s = s.encode()
    for c in s:
        if c < 0x20:
            continue
        if c in (0x22, 0x5C):
            n = _put(buf, n, b"\\")
        if n >= len(buf):
            raise ValueError("buffer too small")
        buf[n] = c
        n += 1
    return n


def _bytes(v):
    return v.encode() if isinstance(v, str) else bytes(v)


def _label(r):
    return labels._NAMES[labels._off(r) : labels._off(r + 1)]


class Discovery:
    """The discovery payloads of one meter. meter_id: the 12-digit ADCO/ADSC as sent (str or
    bytes); mode: its TIC mode (tic.MODE_*; the period is an enum in historique only);
    prefix: the `mqtt_prefix` setting; ha_prefix: `ha_prefix`; version: the firmware version
    (`sw` of the device). Keeps about 0.4 KB (the device block)."""

    def __init__(self, meter_id, mode, prefix="linky", ha_prefix="homeassistant", version="0"):
        if mode not in (MODE_HISTORIQUE, MODE_STANDARD):
            raise ValueError("mode %r" % (mode,))
        self.mode = mode
        mid = _bytes(meter_id)
        if len(mid) != 12 or any(c < 0x30 or c > 0x39 for c in mid):
            raise ValueError("meter id: 12 digits expected")
        self.meter_id = mid
        self._ha = _bytes(ha_prefix)
        self._base = _bytes(prefix) + b"/" + mid
        self._dev = self._device(mid, _bytes(version))

    @staticmethod
    def _device(mid, version):
        # ',"dev":{...},"o":{...}}': the end of every payload.
        t = int(mid[4:6].decode())
        yy = int(mid[2:4].decode())
        model = _TYPES.get(t)
        b = bytearray(384)
        n = _put(b, 0, b',"dev":{"ids":["linky_')
        n = _put(b, n, mid)
        n = _put(b, n, b'"],"name":"Linky ')
        n = _put(b, n, mid)
        n = _put(b, n, b'","mf":"Linky maker ')
        n = _put(b, n, mid[0:2])
        n = _put(b, n, b'","mdl":"')
        n = _put_text(b, n, "Linky " + model if model else "meter type %02d" % t)
        n = _put(b, n, b'","hw":"')
        n = _put(b, n, str((1900 if yy >= 90 else 2000) + yy).encode())
        n = _put(b, n, b'","sw":"')
        n = _put_text(b, n, version)
        n = _put(b, n, b'"},"o":{"name":"linky","sw":"')
        n = _put_text(b, n, version)
        n = _put(b, n, b'"}}')
        return bytes(b[:n])

    def _object(self, code, buf, n):
        # The object id: label lower case, '-' and '+' as '_'; a decoded key; diag_<key>.
        if 0 <= code < labels.COUNT:
            a = n
            n = _put(buf, n, _label(code))
            for i in range(a, n):
                c = buf[i]
                if 0x41 <= c <= 0x5A:
                    buf[i] = c + 32
                elif c in (0x2B, 0x2D):
                    buf[i] = 0x5F
            return n
        if DECODED <= code < DECODED + len(KEYS):
            return _put(buf, n, KEYS[code - DECODED].encode())
        if DIAG <= code < DIAG + len(DIAG_KEYS):
            n = _put(buf, n, b"diag_")
            return _put(buf, n, DIAG_KEYS[code - DIAG].encode())
        raise ValueError("no entity %r" % (code,))

    def _binary(self, code):
        return DECODED <= code < DECODED + len(KEYS) and _KEY_BINARY[code - DECODED]

    def object_id(self, code):
        b = bytearray(40)
        return bytes(b[: self._object(code, b, 0)]).decode()

    def unique_id(self, code):
        return "linky_%s_%s" % (self.meter_id.decode(), self.object_id(code))

    def topic(self, code, buf):
        """The config topic of entity `code` into buf; returns its length."""
        n = _put(buf, 0, self._ha)
        n = _put(buf, n, b"/binary_sensor/" if self._binary(code) else b"/sensor/")
        n = _put(buf, n, b"linky_")
        n = _put(buf, n, self.meter_id)
        n = _put(buf, n, b"/")
        n = self._object(code, buf, n)
        return _put(buf, n, b"/config")

    def config(self, code, buf):
        """The JSON config of entity `code` into buf; returns its length."""
        n = _put(buf, 0, b'{"~":"')
        n = _put(buf, n, self._base)
        n = _put(buf, n, b'","name":"')
        if 0 <= code < labels.COUNT:
            n = _put_text(buf, n, label_rows.description(code))
            n = _put(buf, n, b" (")
            n = _put(buf, n, _label(code))
            n = _put(buf, n, b")")
        elif DECODED <= code < DECODED + len(KEYS):
            n = _put(buf, n, _KEY_NAMES[code - DECODED].encode())
        elif DIAG <= code < DIAG + len(DIAG_KEYS):
            n = _put(buf, n, _DIAG_NAMES[code - DIAG].encode())
        else:
            raise ValueError("no entity %r" % (code,))
        n = _put(buf, n, b'","uniq_id":"linky_')
        n = _put(buf, n, self.meter_id)
        n = _put(buf, n, b"_")
        n = self._object(code, buf, n)
        n = _put(buf, n, b'","stat_t":"~/diagnostics' if code >= DIAG else b'","stat_t":"~/state')
        n = _put(buf, n, b'","avty_t":"~/availability","val_tpl":"{{ ')
        if code < labels.COUNT:
            n = self._label_tail(code, buf, n)
        elif code < DIAG:
            n = self._key_tail(code - DECODED, buf, n)
        else:
            i = code - DIAG
            if DIAG_KEYS[i] == "last_crash":  # a state holds at most 255 characters
                n = _put(buf, n, b"(value_json.last_crash or 'none')[:255] }}\"")
            else:
                n = _put(buf, n, b"value_json.")
                n = _put(buf, n, DIAG_KEYS[i].encode())
                n = _put(buf, n, b' }}"')
            n = _put(buf, n, b',"ent_cat":"diagnostic"')
            n = _put(buf, n, _DIAG_EXTRA[i])
        return _put(buf, n, self._dev)

    @staticmethod
    def _value(r, buf, n, suffix=b""):
        # value_json.NAME, or value_json['NAME-1'] when the label is not an identifier.
        name = _label(r)
        if b"-" in name or b"+" in name:
            n = _put(buf, n, b"value_json['")
            n = _put(buf, n, name)
            n = _put(buf, n, suffix)
            return _put(buf, n, b"']")
        n = _put(buf, n, b"value_json.")
        n = _put(buf, n, name)
        return _put(buf, n, suffix)

    def _label_tail(self, r, buf, n):
        flags = labels.flags(r)
        if r == _row(b"DATE"):  # its value is the horodate, published as "time"
            n = _put(buf, n, b"value_json.time")
        else:
            n = self._value(r, buf, n)
        if flags & labels.F_EVENT:  # absent while the condition does not hold: unknown
            n = _put(buf, n, b" | default('None')")
        n = _put(buf, n, b' }}"')
        if flags & labels.F_HORODATE and r != _row(b"DATE"):
            n = _put(buf, n, b',"json_attr_t":"~/state","json_attr_tpl":"{{ {\'time\': ')
            # value_json.get('SMAXSN_time'): absent -> null
            n = _put(buf, n, b"value_json.get('")
            n = _put(buf, n, _label(r))
            n = _put(buf, n, b"_time')} | tojson }}\"")
        unit = label_rows.ha_unit(r)
        dc = label_rows.device_class(r)
        if unit == "kVA":  # not a unit of Home Assistant's apparent_power: no class
            dc = None
        if dc is not None:
            n = _put(buf, n, b',"dev_cla":"')
            n = _put(buf, n, dc.encode())
            n = _put(buf, n, b'"')
        if unit is not None:
            n = _put(buf, n, b',"unit_of_meas":"')
            n = _put(buf, n, unit.encode())
            n = _put(buf, n, b'"')
        sc = label_rows.state_class(r)
        if sc is not None:
            n = _put(buf, n, b',"stat_cla":"')
            n = _put(buf, n, sc.encode())
            n = _put(buf, n, b'"')
        return n

    def _key_tail(self, i, buf, n):
        n = _put(buf, n, b"value_json.")
        n = _put(buf, n, KEYS[i].encode())
        if i in (1, 2):  # Tempo colour not announced: absent -> unknown
            n = _put(buf, n, b" | default('None')")
        n = _put(buf, n, b' }}"')
        if _KEY_BINARY[i]:  # JSON true / false render as True / False
            n = _put(buf, n, b',"pl_on":"True","pl_off":"False"')
        extra = _KEY_EXTRA[i]
        if extra is None:  # period
            extra = _PTEC if self.mode == MODE_HISTORIQUE else b""
        return _put(buf, n, extra)
