"""Home Assistant MQTT discovery: the config payload of one entity at a time (issue 9).

Loaded for a discovery round and dropped after it (`del sys.modules["ha"]`); for entity names
it reads tic.label_docs (the caller loads it for the round), the rest of a label's attributes
straight from tic.labels' packed table (tic.label_rows is not needed). Ids and topics follow the
shared contract and are pinned by tests/test_ha_contract.py; design and figures:
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
    await announce(pub, client, added, version) -> n   a whole round for firmware/mqtt_pub.py's
                                      Publisher `pub` (kept here so that it is not resident)

Writers fill a caller's bytearray from its start and return the length; ValueError when it is
too small or the code unknown. PAYLOAD_MAX and TOPIC_MAX fit every entity with prefixes up to
32 bytes and a version up to 24. Cost on a 32-bit board: 8.9 KB for the module, 4 KB for
tic.label_docs, 0.4 KB for a Discovery; a payload is written in pieces, allocating about 2 KB of
small objects that the next collection frees, and keeps nothing.
"""

import asyncio
import gc
import sys

from tic import MODE_HISTORIQUE, MODE_STANDARD, labels

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

# KEYS' bits: 1 historique, 2 standard, 4 binary_sensor (the DIAG_KEYS: none). Their names,
# templates and options are in lib/ha_keys.py, loaded for the keys' configs.
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


def _model(t):
    """The model of Linky meter type t (an int), or None."""
    k = _TYPES.find(str(t) + " ")  # types are two digits: one digit finds no line
    if k < 0 or (k and _TYPES[k - 1] != "\n"):
        return None
    return _TYPES[k + 3 : _TYPES.index("\n", k)]


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


def _mode(r):
    return labels._ATTR[4 * r + 2] >> 6


# ---------------------------------------------------------------- sets of entities


def _add(s, code):
    s[code >> 3] |= 1 << (code & 7)


def has(s, code):
    """True if entity `code` is in set s."""
    return bool(s[code >> 3] & (1 << (code & 7)))


def _base(mode):
    # A set with the diagnostics keys; ValueError for a mode that is not H or S.
    if mode not in (MODE_HISTORIQUE, MODE_STANDARD):
        raise ValueError("not a TIC mode: %r" % (mode,))
    s = bytearray(SET_BYTES)
    for i in range(len(DIAG_KEYS)):
        _add(s, DIAG + i)
    return s


def select(rows, mode, tempo=False):
    """The set of entities to announce for a meter in `mode` that sends the label `rows` (any
    iterable of row indexes, e.g. those the readings store holds): one entity per row, the
    decoded keys those rows give (period, Tempo colours when `tempo` or when the historique
    labels show a Tempo contract, STGE fields, tariff index), and every diagnostics key.
    ValueError for a row that is unknown or of the other mode."""
    s = _base(mode)
    for r in rows:
        if not 0 <= r < labels.COUNT or _mode(r) != mode:
            raise ValueError("row %r is not a label of mode %d" % (r, mode))
        _add(s, r)
    i = labels.index
    if mode == MODE_HISTORIQUE:
        keys = (0,) if has(s, i(b"PTEC")) else ()
        keys += (6,)  # overpower: ADPS / ADIRn, absent while none
        tempo = tempo or has(s, i(b"DEMAIN")) or has(s, i(b"BBRHCJB"))
    else:
        keys = (0,) if has(s, i(b"LTARF")) else ()
        if has(s, i(b"STGE")):
            keys += (3, 4, 5, 6, 8)
        if has(s, i(b"NTARF")):
            keys += (7,)
    if tempo:
        keys += (1, 2)
    for k in keys:
        _add(s, DECODED + k)
    return s


def possible(mode):
    """Every entity a meter in `mode` can have: all its rows, its decoded keys, diagnostics."""
    s = _base(mode)
    for r in range(labels.COUNT):
        if _mode(r) == mode:
            _add(s, r)
    for k in range(len(KEYS)):
        if _KEY_BITS[k] & mode:  # MODE_HISTORIQUE is bit 1, MODE_STANDARD bit 2
            _add(s, DECODED + k)
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
        _base(mode)
        self.mode = mode
        mid = _text(meter_id)
        if len(mid) != 12 or not all("0" <= c <= "9" for c in mid):
            raise ValueError("meter id: 12 digits expected")
        self.meter_id = mid
        self._ha = _text(ha_prefix)
        self._base = _text(prefix) + "/" + mid
        t = int(mid[4:6])
        yy = int(mid[2:4])
        model = _model(t)
        v = _text(version)
        self._dev = (
            ',"dev":{"ids":["linky_%s"],"name":"Linky %s","mf":"Linky maker %s","mdl":"%s",'
            '"hw":"%d","sw":"%s"},"o":{"name":"linky","sw":"%s"}}'
            % (
                mid,
                mid,
                mid[:2],
                "Linky " + model if model else "meter type %02d" % t,
                (1900 if yy >= 90 else 2000) + yy,
                v,
                v,
            )
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


def _tempo(rd, tbuf):
    # Standard mode: STGE bits 24-25 (today's Tempo colour) are non-zero on a Tempo contract;
    # they are the low bits of the second of STGE's eight hex digits.
    r = labels.index("STGE")
    if r < 0 or not rd.present(r) or rd.copy_value(r, tbuf) != 8:
        return False
    d = tbuf[1]
    v = d - 48 if d <= 57 else (d | 32) - 87
    return bool(v & 3)


async def announce(pub, c, added, version):
    """A discovery round for Publisher `pub` (firmware/mqtt_pub.py) on client `c`: announce
    the entities of the labels present now, one retained config at a time, and clear the
    retired ones; added=True: only those not announced yet (labels that appeared since the
    last round, e.g. ADPS during an overload), keeping the rest. Updates pub._entities,
    pub._mode, pub.bytes; returns the number of configs sent. Allocates one Discovery and a
    few small objects per config (garbage)."""
    rd = pub.rd
    s = pub.s
    d = Discovery(pub.meter, rd.mode, s["mqtt_prefix"], s["ha_prefix"], version)
    rows = [r for r in range(labels.COUNT) if rd.present(r)]
    pbuf = pub._buf
    tbuf = pub._tbuf
    new = select(rows, rd.mode, tempo=_tempo(rd, tbuf))
    old = pub._entities
    if pub._mode is not None and pub._mode != rd.mode:
        old = possible(pub._mode)  # a mode change: every entity of the old mode
    n = 0
    if added:
        todo = list(retired(new, old))  # in new, not announced yet
        for i in range(len(new)):
            new[i] |= old[i]  # nothing retires in a partial round
    else:
        for code in retired(old, new):
            t = d.topic(code, tbuf)
            await c.publish(memoryview(tbuf)[:t], b"", retain=True, qos=1)
        todo = codes(new)
    keys = False
    for code in todo:
        if code >= DECODED and not keys:  # the labels are done (codes come in order): their
            keys = True  # names' text goes before the keys' text comes (lib/ha_keys.py)
            _drop("tic.label_docs")
            gc.collect()
            await asyncio.sleep(0)  # where a collection only runs when the loop turns
        t = d.topic(code, tbuf)
        m = d.config(code, pbuf)
        await c.publish(memoryview(tbuf)[:t], memoryview(pbuf)[:m], retain=True, qos=1)
        pub.bytes += m
        n += 1
    pub._entities[:] = new
    pub._mode = rd.mode
    _drop("ha_keys")
    return n


def _drop(name):
    # Unload module `name` (from sys.modules and its package) so that gc frees it.
    m = sys.modules.pop(name, None)
    pkg, _, short = name.rpartition(".")
    if m is not None and pkg and getattr(sys.modules.get(pkg), short, None) is m:
        delattr(sys.modules[pkg], short)
