"""Home Assistant discovery on the device (issue 9): which entities a meter announces, and each
entity's config topic and payload streamed from the templates file that tools/ha_gen.py writes
at build time (`ha_tpl.bin` beside this module, build/device/lib/). Loaded for a discovery round
(firmware/mqtt_round.py) and dropped after it; lib/ha.py (host) is the reference it matches.

An entity is a small int, its code:
    0 <= code < labels.COUNT   the TIC label of that row
    DECODED + i                decoded field i of `~/state` (lib/ha.py KEYS[i])
    DIAG + i                   field i of `~/diagnostics` (lib/ha.py DIAG_KEYS[i])
A set of entities is a bytearray(24), bit `code` set for each member. DECODED = 112,
DIAG = 128 (lib/ha.py's names; here private consts, compiled in).

    select(rows, mode, tempo=False)   the set to announce, from the label rows the meter sends
    possible(mode)                    every entity a meter of that mode can have
    codes(s), retired(old, new), has(s, code)
    Templates(meter_id, mode, prefix, ha_prefix, version, raw=None)   opens PATH: OSError when
        it is missing, ValueError when it is corrupt or an argument is wrong. raw: a scratch
        buffer for the file's longest record (391 B today; None or shorter: one is allocated).
      .topic(code, tbuf) -> n            the config topic into tbuf, its length
      .config(code, tbuf, buf) -> n      the topic into tbuf (its length: .tn), the JSON
                                         config into buf (n bytes)
      .close()
PATH: the file; None: ha_tpl.bin beside this module (tests set it).

Writers fill the caller's buffers from their start; ValueError when one is too small, the code
has no entity or the file is corrupt. A config costs two seeks and two reads of the file and
allocates nothing (no tuple either: the topic's length is an attribute); Templates keeps the
device block (~0.25 KB) and an open file.
File format and figures: docs/design/ha-discovery.md.
"""

from tic import MODE_HISTORIQUE, MODE_STANDARD, labels

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# Private consts (compiled in: no name interned). lib/ha.py and tools/ha_gen.py hold the same
# values under public names; the tests check that both ends agree.
_DECODED = const(112)
_DIAG = const(128)
_SET_BYTES = const(24)  # codes 0..191
_NKEYS = const(9)
_NDIAG = const(17)
PATH = None

# The file: header, index of u16 offsets (0: none), records (docs/design/ha-discovery.md).
_FORMAT = const(1)
_HEAD = const(16)
_CODES = const(192)  # index slots per mode
_TYPES = const(384)  # slot of meter type t's model: _TYPES + t
_DEV = const(484)  # slot of the device block's template
_SLOTS = const(485)
# Placeholder bytes of the templates: 1 ha prefix, 2 meter id, 3 base topic, 4 device block,
# 5 maker digits, 6 model, 7 year, 8 version.


def has(s, code):
    """True if entity `code` is in set s."""
    return bool(s[code >> 3] & (1 << (code & 7)))


def _base(mode):
    # A set with the diagnostics keys; ValueError for a mode that is not H or S.
    if mode not in (MODE_HISTORIQUE, MODE_STANDARD):
        raise ValueError("not a TIC mode: %r" % (mode,))
    s = bytearray(_SET_BYTES)
    for i in range(_DIAG >> 3, (_DIAG + _NDIAG) >> 3):
        s[i] = 255
    s[(_DIAG + _NDIAG) >> 3] = (1 << ((_DIAG + _NDIAG) & 7)) - 1
    return s


def select(rows, mode, tempo=False):
    """The set of entities to announce for a meter in `mode` that sends the label `rows` (any
    iterable of row indexes, e.g. those the readings store holds): one entity per row, the
    decoded keys those rows give (period, Tempo colours when `tempo` or when the historique
    labels show a Tempo contract, STGE fields, tariff index), and every diagnostics key.
    ValueError for a row that is unknown or of the other mode."""
    s = _base(mode)
    for r in rows:
        if not 0 <= r < labels.COUNT or labels._ATTR[4 * r + 2] >> 6 != mode:
            raise ValueError("row %r is not a label of mode %d" % (r, mode))
        s[r >> 3] |= 1 << (r & 7)
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
        s[(_DECODED + k) >> 3] |= 1 << ((_DECODED + k) & 7)
    return s


def possible(mode):
    """Every entity a meter in `mode` can have: all its rows, its decoded keys, diagnostics."""
    s = _base(mode)
    for r in range(labels.COUNT):
        if labels._ATTR[4 * r + 2] >> 6 == mode:
            s[r >> 3] |= 1 << (r & 7)
    for k in range(_NKEYS):  # the keys' bits: 1 historique, 2 standard (lib/ha.py _KEY_BITS)
        if b"\x03\x03\x03\x06\x02\x06\x07\x02\x06"[k] & mode:
            s[(_DECODED + k) >> 3] |= 1 << ((_DECODED + k) & 7)
    return s


def codes(s):
    """The codes in set s, in increasing order (a generator)."""
    for code in range(_SET_BYTES * 8):
        if s[code >> 3] & (1 << (code & 7)):
            yield code


def retired(old, new):
    """Codes in set `old` and not in `new`: publish an empty retained payload to their topics.
    After a mode change whose previous set is unknown (a reboot), pass possible(other mode)."""
    for code in codes(old):
        if not has(new, code):
            yield code


def path():
    """The templates file: PATH, else ha_tpl.bin beside this module.
    Frozen into a MicroPython image, a module's __file__ is its name in the image (`ha_tpl.py`,
    no folder): the file is then looked for along sys.path as modules are, in the first entry
    that holds it (an update's app folder's lib/, else the root's /lib), else lib/ha_tpl.bin
    from the current folder (the filesystem's root on a board)."""
    if PATH:
        return PATH
    f = __file__.replace("\\", "/")
    if "/" in f:
        return f[: f.rfind("/") + 1] + "ha_tpl.bin"
    import os
    import sys

    for p in sys.path:
        if p != ".frozen":
            f = p + "/ha_tpl.bin" if p else "ha_tpl.bin"
            try:
                os.stat(f)
                return f
            except OSError:
                pass
    return "lib/ha_tpl.bin"


def _text(s):
    # s as the inside of a JSON string, as bytes: '"' and '\' escaped, controls dropped.
    s = s.decode() if isinstance(s, (bytes, bytearray)) else str(s)
    return "".join(c for c in s if c >= " ").replace("\\", "\\\\").replace('"', '\\"').encode()


class Templates:
    def __init__(self, meter_id, mode, prefix="linky", ha_prefix="homeassistant", version="0",
                 *, raw=None):  # fmt: skip
        _base(mode)
        mid = _text(meter_id)
        if len(mid) != 12 or not all(48 <= c <= 57 for c in mid):
            raise ValueError("meter id: 12 digits expected")
        self._slot0 = (mode - 1) * _CODES
        self._ix = bytearray(2)
        f = self._f = open(path(), "rb")  # kept open for the round
        try:
            h = bytearray(_HEAD)
            size = f.seek(0, 2)
            f.seek(0)
            if f.readinto(h) != _HEAD or h[:4] != b"LKHA" or h[4] != _FORMAT:
                raise ValueError("templates file: not a templates file of format %d" % _FORMAT)
            if h[6] << 8 | h[7] != _SLOTS or int.from_bytes(h[8:12], "big") != size:
                raise ValueError("templates file: truncated or of another build")
            longest = h[12] << 8 | h[13]
            if raw is None or len(raw) < longest:
                raw = bytearray(longest)
            self._raw = raw
            self._size = size
            t = int(mid[4:6])
            yy = mid[2:4]
            v = [None, _text(ha_prefix), mid, _text(prefix) + b"/" + mid, None, mid[:2]]
            self._rec(_TYPES + t)  # a model: a payload without placeholders, no topic
            v += [bytes(raw[3 : 3 + (raw[1] << 8 | raw[2])])]
            v += [(b"19" if yy >= b"90" else b"20") + yy, _text(version)]
            self._v = v
            t = self._rec(_DEV)  # the device block's template, no topic
            p = raw[1] << 8 | raw[2]
            dev = bytearray(p + 30 + len(v[6]) + 2 * len(v[8]))
            v[4] = bytes(dev[: self._put(3 + t, 3 + t + p, dev, 0)])
        except IndexError:
            f.close()
            raise ValueError("templates file: device block")
        except BaseException:
            f.close()
            raise

    def close(self):
        self._f.close()

    def _rec(self, slot):
        # Reads slot's record into the raw area: [topic length, payload length (2 bytes),
        # topic, payload]; returns the topic's length (no tuple: nothing allocated).
        f = self._f
        b = self._ix
        f.seek(_HEAD + 2 * slot)
        if f.readinto(b) != 2:
            raise ValueError("templates file: short index")
        o = b[0] << 8 | b[1]
        if not o:
            raise ValueError("no entity %d" % slot)
        if not _HEAD + 2 * _SLOTS <= o < self._size:
            raise ValueError("templates file: offset out of range")
        f.seek(o)
        raw = self._raw
        n = f.readinto(raw)
        if n < 3 or n < 3 + raw[0] + (raw[1] << 8 | raw[2]):
            raise ValueError("templates file: short record")
        return raw[0]

    def _put(self, a, e, out, n):
        # raw[a:e] into out from n, each placeholder byte replaced by its value; the index
        # after it. IndexError when out is too small.
        raw = self._raw
        v = self._v
        for i in range(a, e):
            c = raw[i]
            if c < 9:
                s = v[c]
                if s is None:
                    raise ValueError("templates file: placeholder %d" % c)
                for j in range(len(s)):
                    out[n] = s[j]
                    n += 1
            else:
                out[n] = c
                n += 1
        return n

    def topic(self, code, tbuf):
        """The config topic of entity `code` into tbuf; its length."""
        if not 0 <= code < _CODES:
            raise ValueError("no entity %r" % (code,))
        t = self._rec(self._slot0 + code)
        try:
            return self._put(3, 3 + t, tbuf, 0)
        except IndexError:
            raise ValueError("buffer too small")

    def config(self, code, tbuf, buf):
        """The config topic of entity `code` into tbuf (its length in .tn) and its JSON
        config into buf; returns the config's length."""
        if not 0 <= code < _CODES:
            raise ValueError("no entity %r" % (code,))
        t = self._rec(self._slot0 + code)
        raw = self._raw
        try:
            self.tn = self._put(3, 3 + t, tbuf, 0)
            return self._put(3 + t, 3 + t + (raw[1] << 8 | raw[2]), buf, 0)
        except IndexError:
            raise ValueError("buffer too small")
