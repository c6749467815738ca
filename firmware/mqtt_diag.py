"""The `~/diagnostics` payload of the MQTT contract (issue 9), for firmware/mqtt_pub.py:
loaded for one message (every diag_s) and dropped after, so its code is not resident.

    n = diagnostics_json(app, buf)     # the JSON object in bytearray buf; its length

Allocates the formatted text once per message (ValueError when buf is too small).
"""

import gc

from firmware import crash, hal, tic_reader
from firmware.version import VERSION
from tic import MODE_NAMES


def diagnostics_json(app, buf):
    """The `~/diagnostics` JSON object of the contract into bytearray buf; its length
    (allocates a few strings, once per diagnostics message)."""
    import json

    r = app.reader
    p = app.parser
    w = app.wifi
    last = app.last_crash
    text = (
        '{"tic_state":"%s","tic_mode":"%s","baud":%d,"bytes":%d,"frames":%d,"groups":%d,'
        '"checksum_errors":%d,"format_errors":%d,"interrupted":%d,"rejected_indexes":%d,'
        '"dropped_values":%d,"rssi":%s,"mem_used":%d,"uptime_s":%d,"version":"%s",'
        '"reset_cause":"%s","last_crash":%s,"ota":%s}'
    ) % (
        tic_reader.STATE_NAMES[r.state],
        MODE_NAMES[r.mode],
        r.port.baud,
        p.bytes,
        r.frames,
        p.groups,
        p.checksum_errors,
        p.format_errors,
        p.interrupted,
        r.guard.rejected,
        app.readings.dropped,
        "null" if w.rssi is None else str(w.rssi),
        gc.mem_alloc(),
        crash.uptime_ms() // 1000,
        VERSION,
        hal.reset_cause(),
        "null" if last is None else json.dumps(str(last.get("what"))[:255]),
        json.dumps(getattr(app, "ota_status", None)),  # firmware/ota_boot.py: state, error...
    )
    n = len(text)
    if n > len(buf):
        raise ValueError("diagnostics: buffer too small")
    buf[:n] = text.encode()
    return n
