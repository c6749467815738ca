"""The ESP-IDF `otadata` partition: which OTA app slot boots, and its rollback state.

Shared by firmware/hal/flash_esp32.py (reads the board's real otadata) and
firmware/hal/flash_host.py (keeps one in a file and plays the bootloader). Format (ESP-IDF
v5.5.1, esp_flash_partitions.h): two 32-byte entries, at 0 and at 4096 (one flash sector
each): uint32 seq, 20 label bytes, uint32 state, uint32 crc; the crc is the ROM's crc32_le of
the 4 seq bytes, i.e. binascii.crc32(seq_bytes, 0xFFFFFFFF). The entry in use ("active") is
the valid one with the highest seq; it boots OTA slot (seq - 1) % 2.
Loaded only with flash.py (an update, a trial boot, diagnostics). No allocation beyond the
tuples it returns. Details: docs/design/ota-firmware.md.
"""

import binascii
import struct

SECTOR = 4096
ENTRY = 32
BLANK = 0xFFFFFFFF  # an erased seq or state

NEW = 0  # set_boot() wrote it; the bootloader makes it PENDING when it boots it
PENDING = 1  # booted once, not confirmed: the next boot aborts it (rollback)
VALID = 2  # confirmed by mark_valid()
INVALID = 3
ABORTED = 4  # was PENDING at a boot: never booted again
NAMES = {NEW: "new", PENDING: "pending", VALID: "valid", INVALID: "invalid", ABORTED: "aborted"}


def crc(seq):
    return binascii.crc32(struct.pack("<I", seq), BLANK) & BLANK


def parse(raw):
    """raw: 32 bytes -> (seq, state, crc_ok)."""
    seq = struct.unpack_from("<I", raw, 0)[0]
    state = struct.unpack_from("<I", raw, 24)[0]
    return seq, state, struct.unpack_from("<I", raw, 28)[0] == crc(seq)


def pack(seq, state):
    """The 32 bytes of an entry (label bytes erased)."""
    return struct.pack("<I20sII", seq, b"\xff" * 20, state, crc(seq))


def invalid(e):
    """bootloader_common_ota_select_invalid(): blank, invalid or aborted (crc not looked at)."""
    return e[0] == BLANK or e[1] == INVALID or e[1] == ABORTED


def initial(e):
    """Never written (or a bad crc): what `make flash` leaves."""
    return e[0] == BLANK or not e[2]


def active(e0, e1):
    """bootloader_common_get_active_otadata(): 0 or 1, the valid entry with the highest seq;
    -1 when neither is valid."""
    v0 = not invalid(e0) and e0[2]
    v1 = not invalid(e1) and e1[2]
    if v0 and v1:
        return 0 if e0[0] >= e1[0] else 1
    return 0 if v0 else (1 if v1 else -1)


def state_name(state):
    return NAMES.get(state, "undefined")


def running_state(e0, e1, slot):
    """(state name, rolled_back) of OTA slot `slot` (0 or 1) as the entries describe it.

    state: the state of the entry that selects slot, the active one first (after a set_boot()
    the other entry still describes the running slot): "valid", "pending", "undefined", ...;
    "none" when no usable entry selects it (a fresh board, a factory app).
    rolled_back: the other entry holds an aborted or invalid update newer than the active one,
    so the last update was rolled back (it stays so until the next update)."""
    a = active(e0, e1)
    if a < 0:
        return "none", False
    e, other = (e0, e1) if a == 0 else (e1, e0)
    if (e[0] - 1) % 2 == slot:
        st = state_name(e[1])
    elif not invalid(other) and other[2] and (other[0] - 1) % 2 == slot:
        st = state_name(other[1])
    else:
        st = "none"
    back = (other[1] == ABORTED or other[1] == INVALID) and other[0] != BLANK and other[0] > e[0]
    return st, back
