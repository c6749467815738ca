"""Write the Home Assistant discovery templates file that lib/py streams on the device.

    python3 tools/ha_gen.py OUT       (tools/build.py writes build/device/lib/bin)

Every entity's config topic and payload, for both TIC modes, from lib/ha.py's Discovery (the
reference) run with sentinel settings; the sentinels become one-byte placeholders that the
device fills in: 1 ha prefix, 2 meter id, 3 base topic, 4 device block; the device block's
own template uses 2, 5 maker digits, 6 model, 7 year, 8 version; and one record per meter type
gives the model. Identical records are stored once. Format: docs/design/ha-discovery.md.
generate() runs on CPython and MicroPython (the tests compare both ends on both).
"""

import sys

try:
    import ha
except ImportError:  # run as tools/ha_gen.py: lib/ is beside tools/
    sys.path.insert(0, __file__.replace("\\", "/").rpartition("/")[0] + "/../lib")
    import ha


from tic import MODE_HISTORIQUE, MODE_STANDARD

# The file's layout (lib/py reads it with private consts of the same values).
MAGIC = b"LKHA"
FORMAT = 1
HEAD = 16  # bytes before the index
CODES = 192  # index slots per mode (historique first)
TYPES = 2 * CODES  # slot of meter type t's model: TYPES + t (t in 0..99)
DEV = TYPES + 100  # slot of the device block's template
SLOTS = DEV + 1

# Sentinel settings: strings no payload holds otherwise.
_HA = "QzHAz"
_PFX = "QzPFXz"
_MID = "918273645546"
_VER = "QzVERz"


def _record(topic, payload):
    if len(topic) > 255 or len(payload) > 65535:
        raise ValueError("record too long")
    return bytes([len(topic)]) + len(payload).to_bytes(2, "big") + topic + payload


def _check(b):
    # No byte of b may read as a placeholder, nor keep a sentinel.
    for c in b:
        if c < 9:
            raise ValueError("control byte %d in %r" % (c, b))


def _templates(mode, code):
    """(topic, payload) templates of entity `code` in `mode`; ValueError when none."""
    d = ha.Discovery(_MID, mode, prefix=_PFX, ha_prefix=_HA, version=_VER)
    d.object_id(code)  # ValueError: no entity
    buf = bytearray(ha.PAYLOAD_MAX)
    topic = bytes(buf[: d.topic(code, buf)])
    payload = bytes(buf[: d.config(code, buf)])
    _check(topic)
    _check(payload)
    if not payload.endswith(d._dev):
        raise ValueError("payload %d does not end with the device block" % code)
    payload = payload[: -len(d._dev)].replace(d._base.encode(), b"\x03")
    payload = payload.replace(_MID.encode(), b"\x02") + b"\x04"
    topic = topic.replace(_HA.encode(), b"\x01").replace(_MID.encode(), b"\x02")
    for s in (_HA, _PFX, _MID, _VER):
        if s.encode() in topic or s.encode() in payload:
            raise ValueError("sentinel %s left in entity %d" % (s, code))
    return topic, payload


def generate():
    """The templates file's bytes."""
    slots = []  # record per index slot (None: none)
    for mode in (MODE_HISTORIQUE, MODE_STANDARD):
        for code in range(CODES):
            try:
                slots.append(_record(*_templates(mode, code)))
            except ValueError as e:
                if "no entity" not in str(e):
                    raise
                slots.append(None)
    for t in range(100):
        m = ha.model(t).encode()
        _check(m)
        slots.append(_record(b"", m))
    dev = ha.DEV % ("\x02", "\x02", "\x05", "\x06", "\x07", "\x08", "\x08")
    slots.append(_record(b"", dev.encode()))
    if len(slots) != SLOTS:
        raise ValueError("slots: %d" % len(slots))
    at = {}  # record -> offset
    body = []
    index = []
    o = HEAD + 2 * len(slots)
    for r in slots:
        if r is None:
            index.append(0)
            continue
        if r not in at:
            at[r] = o
            body.append(r)
            o += len(r)
        index.append(at[r])
    if o > 65535:
        raise ValueError("templates over 64 KB: %d" % o)
    longest = max(len(r) for r in body)
    head = MAGIC + bytes([FORMAT, 0]) + len(slots).to_bytes(2, "big")
    head += o.to_bytes(4, "big") + longest.to_bytes(2, "big") + b"\0\0"
    return head + b"".join(i.to_bytes(2, "big") for i in index) + b"".join(body)


def write(path):
    """Write the file at `path` unless it already holds these bytes; True if written."""
    data = generate()
    try:
        with open(path, "rb") as f:
            if f.read() == data:
                return False
    except OSError:
        pass
    with open(path, "wb") as f:
        f.write(data)
    return True


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: ha_gen.py OUT")
    write(sys.argv[1])
