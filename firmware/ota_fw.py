"""Firmware OTA: a MicroPython `.app-bin` streamed into the next OTA app slot, checked, booted.

Loaded only for an update (firmware.unload("firmware.ota_fw", "firmware.hal.flash", ...)
after). The caller checks the signed manifest and gives the image's size and SHA-256 from it.

  w = Writer(size, sha256_hex)  opens flash.next_update(). ValueError: no OTA layout, size
                                not in 1..slot size, bad hash text, or the running firmware
                                still on trial (the update would overwrite its rollback slot)
  w.write(chunk)                any size (bytes, bytearray, memoryview). Erases each 4 KB
                                sector as the image reaches it, then writes the chunk where
                                it belongs: no copy, no allocation. Checks the header as it
                                arrives (0xE9, chip id, the app description of a .app-bin)
                                and feeds the SHA-256. ValueError (slot erased back) on a bad
                                header or more bytes than announced.
  w.finish(buf=None) -> version  size, then SHA-256 of the stream, then SHA-256 of the slot
                                read back (through `buf`, else 4 KB of its own), then
                                set_boot() (the bootloader's own check).
                                ValueError on any mismatch: the boot slot is unchanged. The
                                caller then resets (hal.reset()); the new image boots on trial.
  w.abort()                     erase the slot's first sector: the partial image never boots
  await receive(fw, open_file, cp)  firmware/ota.py's install step for a release's image
                                (manifest entry `fw`): streamed through cp (ota_copy.Copier) into
                                a Writer, finished, the flash modules unloaded after
  mark_valid() -> bool          after the trial's health check (flash.mark_valid())
  status() -> dict              slot, state, rolled_back, next slot: for diagnostics
Cost: ~0.5 KB while streaming; finish() reads the slot back (1.5 MB at most: well under a
second on an ESP32) through the update's buffer (receive()), or a 4 KB one of its own.
32-bit figures of a whole update with an image: docs/design/ota.md §6.1. Design:
docs/design/ota-firmware.md.
"""

import binascii
import hashlib

from firmware import unload
from firmware.hal import flash

APP_DESC_MAGIC = b"\x32\x54\xcd\xab"  # ESP_APP_DESC_MAGIC_WORD at offset 32 of an app image
HEADER = 48  # bytes checked as they arrive: image header, first segment header, app desc


class Writer:
    def __init__(self, size, sha256_hex, part=None):
        try:
            want = binascii.unhexlify(sha256_hex)
        except (ValueError, TypeError):
            want = b""
        if len(want) != 32:
            raise ValueError("firmware: bad SHA-256 %r" % (sha256_hex,))
        if part is None:
            part = flash.next_update()
        if part is None:
            raise ValueError("firmware: no OTA slot (flash an OTA MicroPython image first)")
        slot = part.ioctl(4, 0) * flash.BLOCK
        if not 0 < size <= slot:
            raise ValueError("firmware: image of %d bytes, the slot holds %d" % (size, slot))
        if flash.running_info()[1] == "pending":
            raise ValueError(
                "firmware: the running firmware is on trial; update after it is valid"
            )
        self.part = part
        self.label = part.info()[4]
        self.size = size
        self.version = ""
        self._want = want
        self._h = hashlib.sha256()
        self._pos = 0  # bytes written
        self._erased = 0  # blocks erased from the start
        self._cid = flash.CHIP_ID

    def write(self, chunk):
        n = len(chunk)
        pos = self._pos
        if n > self.size - pos:
            self.abort()
            raise ValueError("firmware: more than the %d bytes announced" % self.size)
        if n == 0:
            return
        if pos < HEADER:
            self._check_header(chunk, pos, n)
        part = self.part
        end = (pos + n - 1) // flash.BLOCK  # last block this chunk touches
        while self._erased <= end:
            part.ioctl(6, self._erased)
            self._erased += 1
        part.writeblocks(pos // flash.BLOCK, chunk, pos % flash.BLOCK)
        self._h.update(chunk)
        self._pos = pos + n

    def _check_header(self, chunk, pos, n):
        for off in range(pos, min(pos + n, HEADER)):
            b = chunk[off - pos]
            if off == 0 and b != 0xE9:
                self._refuse("not an ESP app image (first byte 0x%02x, not 0xE9)" % b)
            cid = self._cid
            if cid is not None and (
                (off == 12 and b != cid & 0xFF) or (off == 13 and b != cid >> 8)
            ):
                self._refuse("an image for another chip (header byte %d is %d)" % (off, b))
            if 32 <= off < 36 and b != APP_DESC_MAGIC[off - 32]:
                self._refuse("no app description at offset 32: use the .app-bin file")

    def _refuse(self, why):
        self.abort()
        raise ValueError("firmware: " + why)

    def abort(self):
        """Erase the first sector if anything was written: a partial image can never boot."""
        if self._erased:
            self.part.ioctl(6, 0)
            self._erased = 0
        self._pos = 0

    def finish(self, buf=None):
        """Check everything, then set_boot(). Returns the image's version string. The slot is
        read back through `buf` (the update's buffer: a divisor of BLOCK, at least 80 bytes),
        else a block-sized buffer of its own."""
        if self._pos != self.size:
            self._refuse("truncated: %d of %d bytes" % (self._pos, self.size))
        if self._h.digest() != self._want:
            self._refuse("SHA-256 mismatch in the download")
        part = self.part
        part.ioctl(3, 0)
        if buf is None:
            buf = bytearray(flash.BLOCK)
        step = len(buf)
        h = hashlib.sha256()
        done = 0
        while done < self.size:
            k = self.size - done
            mv = buf if k >= step else memoryview(buf)[:k]
            part.readblocks(done // flash.BLOCK, mv, done % flash.BLOCK)
            h.update(mv)
            if done == 0:
                self.version = _text(buf, 48, 32)  # esp_app_desc_t.version
            done += min(k, step)
        if h.digest() != self._want:
            self._refuse("SHA-256 mismatch reading the slot back")
        try:
            part.set_boot()
        except OSError as e:
            self._refuse("the bootloader's image check failed: %r" % (e,))
        return self.version


def _text(buf, off, n):
    end = off
    while end < off + n and buf[end]:
        end += 1
    try:
        return bytes(buf[off:end]).decode()
    except UnicodeError:
        return "?"


def mark_valid():
    """Confirm the running firmware after the trial's health check; False if nothing to do."""
    return flash.mark_valid()


def status():
    """{"slot", "state", "rolled_back", "next"} of the firmware slots (see firmware/hal/flash)."""
    label, state, back = flash.running_info()
    p = flash.next_update()
    return {
        "slot": label,
        "state": state,
        "rolled_back": back,
        "next": p.info()[4] if p is not None else None,
    }


async def receive(fw, open_file, cp):
    w = Writer(fw["size"], fw["sha256"])
    try:
        src = await open_file(fw)
        try:
            await cp.copy(src, fw["size"], w.write, hashlib.sha256(), fw["path"])
        finally:
            src.close()
        w.finish(cp.mv)  # read back through the update's buffer: no 4 KB block of its own
    except BaseException:
        w.abort()
        raise
    finally:
        unload(
            "firmware.ota_fw",
            "firmware.hal.flash",
            "firmware.hal.flash_esp32",
            "firmware.hal.flash_host",
            "firmware.hal.otadata",
        )
