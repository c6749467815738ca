"""Host side of firmware/hal/flash.py: the ESP32_GENERIC OTA layout as files, and the ESP-IDF
bootloader's choice of slot with rollback. A fake at the hardware edge (the flash chip and the
bootloader); the firmware above it runs unchanged.

Files in DIR ("flash", under the current directory: the simulator's state directory):
  ota_0, ota_1   the two 1.5 MB app slots, created on first use (sparse: unwritten bytes read
                 as 0xFF, like erased flash)
  otadata        8 KB, the ESP-IDF format (firmware/hal/otadata.py)
  running        which slot this boot runs (0 or 1), written by boot()
A missing ota_0 file stands for the image `make flash` wrote (valid), a missing ota_1 for an
erased slot. "Running" a slot only changes what the diagnostics report: the Python image is
the same.

boot() plays the bootloader; the host boot path calls it once per (simulated) boot, before
anything else here. Partition objects have the block API of esp32.Partition v1.27
(docs/design/ota-firmware.md): readblocks/writeblocks (simple form erases, extended form
does not), ioctl 1-6, info(), set_boot() (checks the image first), get_next_update().
Errors raise OSError(-code, "ESP_ERR_...") as check_esp_err() does on the board.
"""

import hashlib
import os
import struct

from firmware.hal import otadata

PLATFORM = "host"
CHIP_ID = 0  # the simulator plays an original ESP32 (image header chip_id 0)
DIR = "flash"
BLOCK = 4096
SIZE = 0x180000  # partitions-4MiB-ota.csv v1.27: ota_0 and ota_1, 1.5 MB each
BLOCKS = SIZE // BLOCK
LABELS = ("ota_0", "ota_1")
ADDRESS = (0x10000, 0x190000)
SUBTYPE_OTA_0 = 0x10

ERR_INVALID_ARG = 0x102
ERR_INVALID_SIZE = 0x104
ERR_NOT_FOUND = 0x105
ERR_FAIL = -1
ERR_OTA_VALIDATE_FAILED = 0x1503
_NAMES = {
    ERR_INVALID_ARG: "ESP_ERR_INVALID_ARG",
    ERR_INVALID_SIZE: "ESP_ERR_INVALID_SIZE",
    ERR_NOT_FOUND: "ESP_ERR_NOT_FOUND",
    ERR_FAIL: "ESP_FAIL",
    ERR_OTA_VALIDATE_FAILED: "ESP_ERR_OTA_VALIDATE_FAILED",
}

_ERASED = b"\xff" * BLOCK  # one erased sector (host only: 4 KB of the simulator's heap)
_run = None  # slot this process runs, once known


def _err(code):
    return OSError(-code, _NAMES[code])  # like check_esp_err(): OSError(-code, name)


def _path(name):
    return DIR + "/" + name


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _mkdir():
    if not _exists(DIR):
        os.mkdir(DIR)


class Partition:
    """One app slot (0 or 1) in its file; see the module's contract."""

    def __init__(self, slot):
        self.slot = slot
        self._f = None
        self._erased = bytearray(BLOCKS)  # 1: erased since opened (extended writes need it)

    def __repr__(self):
        return "<Partition %s (host file %s)>" % (LABELS[self.slot], _path(LABELS[self.slot]))

    def info(self):
        s = self.slot
        return (0, SUBTYPE_OTA_0 + s, ADDRESS[s], SIZE, LABELS[s], False)

    def _file(self):
        if self._f is None:
            p = _path(LABELS[self.slot])
            if not _exists(p):
                _mkdir()
                open(p, "wb").close()
            self._f = open(p, "r+b", buffering=0)  # like flash: a write lands at once
        return self._f

    def close(self):
        if self._f is not None:
            self._f.close()
            self._f = None

    def readblocks(self, block, buf, offset=0):
        off = block * BLOCK + offset
        n = len(buf)
        if off > SIZE or n > SIZE - off:
            raise _err(ERR_INVALID_SIZE)
        f = self._file()
        f.seek(off)
        got = f.readinto(buf) or 0
        for i in range(got, n):  # past the end of the sparse file: erased flash
            buf[i] = 0xFF

    def writeblocks(self, block, buf, offset=None):
        off = block * BLOCK + (offset or 0)
        n = len(buf)
        if off > SIZE or n > SIZE - off:
            raise _err(ERR_INVALID_SIZE)
        if offset is None:  # the simple form erases what it writes: whole sectors only
            if n % BLOCK:
                raise _err(ERR_INVALID_SIZE)
            for b in range(block, block + n // BLOCK):
                self._erase(b)
        else:  # the extended form: the caller erased first (ioctl 6); NOR cannot set bits
            for b in range(off // BLOCK, (off + n - 1) // BLOCK + 1):
                if not self._erased[b]:
                    raise OSError(5, "host flash: write to a sector not erased (ioctl 6)")
        f = self._file()
        f.seek(off)
        f.write(buf)

    def _erase(self, b):
        f = self._file()
        f.seek(b * BLOCK)
        f.write(_ERASED)
        self._erased[b] = 1

    def ioctl(self, op, arg):
        if op == 3:  # sync
            if self._f is not None:
                self._f.flush()
            return 0
        if op == 4:  # block count
            return BLOCKS
        if op == 5:  # block size
            return BLOCK
        if op == 6:  # erase one block
            if not 0 <= arg < BLOCKS:
                raise _err(ERR_INVALID_ARG)
            self._erase(arg)
            return 0
        if op in (1, 2):  # init, deinit
            return 0
        return None

    def get_next_update(self):
        return Partition(1 - self.slot)

    def set_boot(self):
        """esp_ota_set_boot_partition(): check the image, then a NEW otadata entry."""
        self.close()
        if not image_ok(self.slot):
            raise _err(ERR_OTA_VALIDATE_FAILED)
        e = _read_otadata()
        a = otadata.active(e[0], e[1])
        target = (self.slot + 1) % 2
        if a < 0:  # both entries blank or unusable
            _write_entry(0, self.slot + 1, otadata.NEW)
            return
        seq = e[a][0]  # the smallest seq >= the active one that selects this slot
        i = 0
        while seq > target + i * 2:
            i += 1
        _write_entry(1 - a, target + i * 2, otadata.NEW)


def _read_otadata():
    p = _path("otadata")
    raw = bytearray(otadata.ENTRY)
    out = []
    for i in (0, 1):
        for j in range(otadata.ENTRY):
            raw[j] = 0xFF
        try:
            with open(p, "rb") as f:
                f.seek(i * otadata.SECTOR)
                f.readinto(raw)
        except OSError:
            pass
        out.append(otadata.parse(raw))
    return out


def _write_entry(i, seq, state):
    """rewrite_ota_seq(): erase the entry's sector, write the entry."""
    _mkdir()
    p = _path("otadata")
    if not _exists(p):
        with open(p, "wb") as f:
            f.write(_ERASED)
            f.write(_ERASED)
    with open(p, "r+b") as f:
        f.seek(i * otadata.SECTOR)
        f.write(_ERASED)
        f.seek(i * otadata.SECTOR)
        f.write(otadata.pack(seq, state))


def image_ok(slot):
    """esp_image_verify(), in part: the header (magic 0xE9, chip id, at most 16 segments), the
    segments within the slot, the 16-byte padding and, when the header says one is appended,
    the SHA-256 of the image. Not the XOR checksum byte (a per-byte Python loop over 1.5 MB).
    A missing slot file: ota_0 holds the image `make flash` wrote, ota_1 is erased."""
    p = _path(LABELS[slot])
    if not _exists(p):
        return slot == 0
    buf = bytearray(BLOCK)
    mv = memoryview(buf)
    part = Partition(slot)
    try:
        part.readblocks(0, mv[:24])
        if buf[0] != 0xE9 or buf[1] > 16 or struct.unpack_from("<H", buf, 12)[0] != CHIP_ID:
            return False
        count, hashed = buf[1], buf[23] == 1
        pos = 24
        for _ in range(count):
            if pos + 8 > SIZE:
                return False
            part.readblocks(0, mv[:8], pos)
            pos += 8 + struct.unpack_from("<I", buf, 4)[0]
        length = (pos + 1 + 15) & ~15  # the checksum byte, then padding to 16
        if length + (32 if hashed else 0) > SIZE:
            return False
        if not hashed:
            return True
        h = hashlib.sha256()
        done = 0
        while done < length:
            k = min(BLOCK, length - done)
            part.readblocks(0, mv[:k], done)
            h.update(mv[:k])
            done += k
        part.readblocks(0, mv[:32], length)
        return h.digest() == bytes(mv[:32])
    finally:
        part.close()


def boot():
    """Play the ESP-IDF v5.5.1 bootloader with rollback (bootloader_utility.c): a PENDING entry
    becomes ABORTED; the active entry picks the slot; a NEW one becomes PENDING; if that slot's
    image is bad, the other is tried. Records and returns the slot this boot runs (0 or 1)."""
    global _run
    e = _read_otadata()
    for i in (0, 1):
        if e[i][1] == otadata.PENDING:
            _write_entry(i, e[i][0], otadata.ABORTED)
    e = _read_otadata()
    fresh = False
    if otadata.invalid(e[0]) and otadata.invalid(e[1]):
        start = 0  # no factory app: try ota_0
        fresh = otadata.initial(e[0]) and otadata.initial(e[1])
    else:
        a = otadata.active(e[0], e[1])
        start = (e[a][0] - 1) % 2 if a >= 0 else -1
        if a >= 0 and e[a][1] == otadata.NEW:
            _write_entry(a, e[a][0], otadata.PENDING)
    # load_boot_image(): from start down to 0, then upwards
    order = (0, 1) if start <= 0 else (1, 0)
    for slot in order:
        if image_ok(slot):
            if fresh:  # set_actual_ota_seq()
                _write_entry(0, slot + 1, otadata.VALID)
            _run = slot
            _mkdir()
            with open(_path("running"), "w") as f:
                f.write(str(slot))
            return slot
    raise OSError(5, "host flash: no bootable app partition")  # the board would reset forever


def running_slot():
    """The slot this process runs: boot()'s answer, else the last recorded one, else boot()."""
    global _run
    if _run is None:
        try:
            with open(_path("running")) as f:
                _run = int(f.read())
        except (OSError, ValueError):
            return boot()
    return _run


def next_update():
    """The slot to write (the other one); never None on the host, which always has the OTA
    layout."""
    return Partition(1 - running_slot())


def running_info():
    """(label, state, rolled_back) of the running slot; see otadata.running_state()."""
    slot = running_slot()
    e = _read_otadata()
    st, back = otadata.running_state(e[0], e[1], slot)
    return LABELS[slot], st, back


def mark_valid():
    """esp_ota_mark_app_valid_cancel_rollback() where it succeeds: True when the running slot
    was on trial and is now confirmed; False when there was nothing to confirm."""
    slot = running_slot()
    e = _read_otadata()
    a = otadata.active(e[0], e[1])
    if a < 0 or (e[a][0] - 1) % 2 != slot or e[a][1] == otadata.VALID:
        return False
    _write_entry(a, e[a][0], otadata.VALID)
    return True
