"""Home Assistant MQTT discovery: the config payload of one entity at a time (issue 9), the
reference the device's templates are generated from.

Not loaded on the device: tools/ha_gen.py runs it on the host at build time and writes every
entity's topic and payload, with placeholders for the meter and the settings, into the
templates file that lib/ha_tpl.py streams during a discovery round. The entity sets (select,
possible, codes, retired, has) are lib/ha_tpl.py's, re-exported here. Ids and topics follow
the shared contract and are pinned by tests/test_ha_contract.py; design and figures:
docs/design/ha-discovery.md.

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

Writers fill a caller's bytearray from its start and return the length; ValueError when it is
too small or the code unknown. PAYLOAD_MAX and TOPIC_MAX fit every entity with prefixes up to
32 bytes and a version up to 24. Entity names come from tic.label_docs and lib/ha_keys.py.
"""

from ha_tpl import codes, has, possible, retired, select  # noqa: F401 (re-exported)
from tic import MODE_HISTORIQUE, labels

DECODED = 112  # lib/ha_tpl.py's private consts of the same values
DIAG = 128
SET_BYTES = 24  # codes 0..191
PAYLOAD_MAX = 768
TOPIC_MAX = 128

KEYS = (  # decoded fields of `~/state`
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
DIAG_KEYS = (  # fields of `~/diagnostics`
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

# KEYS' bits: 1 historique, 2 standard, 4 binary_sensor (the DIAG_KEYS: none); lib/ha_tpl.py
# possible() has the same literal. Their names, templates and options are in lib/ha_keys.py.
_KEY_BITS = b"\x03\x03\x03\x06\x02\x06\x07\x02\x06"

# Linky meter types (tic-protocol.md §9; the same as tic.decode.METER_TYPES, checked by a test):
# "<type> <model>" lines (one literal: a dict of str would cost three times the heap).
_TYPES = (
    "61 single-phase 60 A G3, high-power input\n"
    "62 single-phase 90 A G1\n"
    "63 three-phase 60 A G1\n"
    "64 single-phase 60 A G3\n"
    "70 single-phase 60 A G3, pre-series\n"
    "71 three-phase 60 A G3, pre-series\n"
    "75 single-phase 90 A G3\n"
    "76 three-phase 60 A G3\n"
)
# What tic.labels' 4-bit codes of a row index (0: none), as Home Assistant spells them
# (tic.label_rows' UNITS, DEVICE_CLASSES, STATE_CLASSES; reactive energy "varh"): words of one
# literal, so that discovery needs neither tic.label_rows nor one str per word.
_UNITS = " Wh varh VA W A V kVA min"
_DEV_CLASSES = " energy reactive_energy apparent_power power current voltage duration timestamp"
_STATE_CLASSES = " total_increasing measurement"


# The device block, the end of every payload: meter id (twice), maker digits, model (model()),
# year of manufacture, version (twice).
DEV = (
    ',"dev":{"ids":["linky_%s"],"name":"Linky %s","mf":"Linky maker %s","mdl":"%s",'
    '"hw":"%s","sw":"%s"},"o":{"name":"linky","sw":"%s"}}'
)


def _model(t):
    """The model of Linky meter type t (an int), or None."""
    k = _TYPES.find(str(t) + " ")  # types are two digits: one digit finds no line
    if k < 0 or (k and _TYPES[k - 1] != "\n"):
        return None
    return _TYPES[k + 3 : _TYPES.index("\n", k)]


def model(t):
    """The device's `mdl` for meter type t (0..99): "Linky <model>" or "meter type NN"."""
    m = _model(t)
    return "Linky " + m if m else "meter type %02d" % t


def _word(s, i):
    """Word i of s (words separated by one space; word 0 may be empty), or None if empty."""
    a = 0
    for _ in range(i):
        a = s.index(" ", a) + 1
    e = s.find(" ", a)
    w = s[a : e if e >= 0 else len(s)]
    return w or None


def _name(r):
    """Label row r's name as a str."""
    return labels._NAMES[labels._off(r) : labels._off(r + 1)].decode()


# ---------------------------------------------------------------- writing


def _put(buf, n, *parts):
    """Write parts (str or bytes) into buf from index n; returns the index after them.
    ValueError when buf is too small."""
    for p in parts:
        if isinstance(p, str):
            p = p.encode()
        m = n + len(p)
        if m > len(buf):
            raise ValueError("buffer too small")
        buf[n:m] = p
        n = m
    return n


def _text(s):
    # s as the inside of a JSON string: '"' and '\' escaped, control characters dropped.
    s = s.decode() if isinstance(s, (bytes, bytearray)) else str(s)
    return "".join(c for c in s if c >= " ").replace("\\", "\\\\").replace('"', '\\"')


class Discovery:
    """The discovery payloads of one meter. meter_id: the 12-digit ADCO/ADSC as sent (str or
    bytes); mode: its TIC mode (tic.MODE_*; the period is an enum in historique only);
    prefix: the `mqtt_prefix` setting; ha_prefix: `ha_prefix`; version: the firmware version
    (`sw` of the device). Keeps about 0.5 KB (the device block)."""

    def __init__(self, meter_id, mode, prefix="linky", ha_prefix="homeassistant", version="0"):
        possible(mode)  # ValueError for a mode that is not H or S
        self.mode = mode
        mid = _text(meter_id)
        if len(mid) != 12 or not all("0" <= c <= "9" for c in mid):
            raise ValueError("meter id: 12 digits expected")
        self.meter_id = mid
        self._ha = _text(ha_prefix)
        self._base = _text(prefix) + "/" + mid
        yy = int(mid[2:4])
        v = _text(version)
        self._dev = (
            DEV
            % (mid, mid, mid[:2], model(int(mid[4:6])), (1900 if yy >= 90 else 2000) + yy, v, v)
        ).encode()

    def object_id(self, code):
        """The object id: label in lower case with '-' and '+' as '_', the key, diag_<key>."""
        if 0 <= code < labels.COUNT:
            return _name(code).lower().replace("-", "_").replace("+", "_")
        if DECODED <= code < DECODED + len(KEYS):
            return KEYS[code - DECODED]
        if DIAG <= code < DIAG + len(DIAG_KEYS):
            return "diag_" + DIAG_KEYS[code - DIAG]
        raise ValueError("no entity %r" % (code,))

    def unique_id(self, code):
        return "linky_%s_%s" % (self.meter_id, self.object_id(code))

    def topic(self, code, buf):
        """The config topic of entity `code` into buf; returns its length."""
        obj = self.object_id(code)
        binary = DECODED <= code < DIAG and _KEY_BITS[code - DECODED] & 4
        return _put(
            buf, 0, self._ha, b"/binary_sensor/linky_" if binary else b"/sensor/linky_",
            self.meter_id, b"/", obj, b"/config",
        )  # fmt: skip

    def config(self, code, buf):
        """The JSON config of entity `code` into buf; returns its length (written in
        pieces: no string of the whole payload is built)."""
        obj = self.object_id(code)
        topic = b"state"
        if code < labels.COUNT:
            from tic import label_docs  # loaded by the caller for the round (it is big)

            name = (_text(label_docs.describe(code)), b" (", _nameb(code), b")")
        else:
            from ha_keys import line  # loaded for the keys' configs (announce drops it)

            k = code - DECODED if code < DIAG else code - DIAG + len(KEYS)
            name, tpl, extra = line(k)
            name = (_text(name),)
            if not tpl:
                tpl = "value_json." + (obj[5:] if code >= DIAG else obj)
            if code >= DIAG:
                topic = b"diagnostics"
                extra = ',"ent_cat":"diagnostic"' + extra
            elif code == DECODED and self.mode == MODE_HISTORIQUE:
                from ha_keys import PTEC

                extra = PTEC
        n = _put(buf, 0, b'{"~":"', self._base, b'","name":"', *name)
        n = _put(
            buf, n, b'","uniq_id":"linky_', self.meter_id, b"_", obj, b'","stat_t":"~/', topic,
            b'","avty_t":"~/availability","val_tpl":"{{ ',
        )  # fmt: skip
        if code < labels.COUNT:
            n = _label(code, buf, n)
        else:
            n = _put(buf, n, tpl, b' }}"', extra)
        return _put(buf, n, self._dev)


def _nameb(r):
    """Label row r's name as bytes."""
    return labels._NAMES[labels._off(r) : labels._off(r + 1)]


def _label(r, buf, n):
    # The template of label row r and the JSON after it, into buf at n; the index after.
    # (bytes literals: short str literals would be interned for good, bytes are not.)
    name = _nameb(r)
    flags = labels.flags(r)
    date = name == b"DATE"
    if date:  # its value is the horodate, published as "time"
        n = _put(buf, n, b"value_json.time")
    elif b"-" in name or b"+" in name:
        n = _put(buf, n, b"value_json['", name, b"']")
    else:
        n = _put(buf, n, b"value_json.", name)
    if flags & labels.F_EVENT:  # absent while the condition does not hold: unknown
        n = _put(buf, n, b" | default('None')")
    n = _put(buf, n, b' }}"')
    if flags & labels.F_HORODATE and not date:
        n = _put(
            buf, n, b',"json_attr_t":"~/state","json_attr_tpl":"{{ {\'time\': value_json.get(\'',
            name, b"_time')} | tojson }}\"",
        )  # fmt: skip
    a = labels._ATTR
    u = a[4 * r + 2] & 15
    if u != 7:  # kVA: not a unit of Home Assistant's apparent_power, no class
        n = _attr(buf, n, b',"dev_cla":"', _word(_DEV_CLASSES, a[4 * r + 3] >> 4))
    n = _attr(buf, n, b',"unit_of_meas":"', _word(_UNITS, u))
    return _attr(buf, n, b',"stat_cla":"', _word(_STATE_CLASSES, a[4 * r + 3] & 15))


def _attr(buf, n, key, v):
    # key (b',"name":"'), v, '"' into buf at n, unless v is None.
    return n if v is None else _put(buf, n, key, v, b'"')
