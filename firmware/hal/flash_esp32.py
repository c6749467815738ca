"""ESP32 side of firmware/hal/flash.py: MicroPython's esp32.Partition (v1.27) and the board's
otadata partition, read directly for the rollback state (v1.27 has no binding for
esp_ota_get_state_partition()).

The partitions returned are esp32.Partition objects (block size 4096). Facts from
ports/esp32/esp32_partition.c v1.27 and ESP-IDF v5.5.1: docs/design/ota-firmware.md.
Checked by pyright against the ESP32 stubs.
"""

import sys

import esp32

from firmware.hal import otadata

PLATFORM = "esp32"

# Image header chip_id (esp_chip_id_t) of the chip this MicroPython was built for, from the
# MCU name that ends sys.implementation._machine ("Generic ESP32 module with OTA with ESP32").
_CHIPS = (("ESP32S2", 2), ("ESP32S3", 9), ("ESP32C3", 5), ("ESP32C2", 12), ("ESP32C6", 13))


def _chip_id():
    m = getattr(sys.implementation, "_machine", "")
    for name, cid in _CHIPS:
        if m.endswith(name):
            return cid
    return 0 if m.endswith("ESP32") else None


CHIP_ID = _chip_id()


def _running():
    # The stubs type id as str; v1.27 also takes the BOOT/RUNNING ints (esp32_partition.c:100)
    return esp32.Partition(esp32.Partition.RUNNING)  # pyright: ignore[reportArgumentType]


def boot():
    """The bootloader already chose the slot: nothing to do; returns the running label."""
    return _running().info()[4]


def next_update():
    """esp32.Partition to write the update into, or None without an OTA layout:
    get_next_update() raises OSError(ENOENT) when the table has no OTA app slot."""
    try:
        return _running().get_next_update()
    except OSError:
        return None


def _entries():
    try:
        p = esp32.Partition("otadata")  # OSError(ENOENT) without an otadata partition
    except OSError:
        return None
    raw = bytearray(otadata.ENTRY)
    p.readblocks(0, raw)  # entry 0 at 0, entry 1 in the next 4 KB sector
    e0 = otadata.parse(raw)
    p.readblocks(1, raw)
    return e0, otadata.parse(raw)


def running_info():
    """(label, state, rolled_back) of the running app partition: state "pending" (on trial),
    "valid", "new", "undefined", or "none" (factory app, no OTA layout, or a fresh board)."""
    label = _running().info()[4]
    e = _entries()
    if e is None or not label.startswith("ota_"):
        return label, "none", False
    st, back = otadata.running_state(e[0], e[1], int(label[4:]) % 2)
    return label, st, back


def mark_valid():
    """Confirm a running slot that is on trial: True if it was, False if there was nothing to
    confirm. mark_app_valid_cancel_rollback() is called only then: it raises OSError(-261)
    without an otadata partition and OSError(1) (ESP_FAIL) on a factory app or when no entry
    is valid, and after a set_boot() it would confirm the new, never booted, slot."""
    if running_info()[1] != "pending":
        return False
    esp32.Partition.mark_app_valid_cancel_rollback()
    return True
