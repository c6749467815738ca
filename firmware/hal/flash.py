"""The flash's OTA app slots, for the firmware OTA (firmware/ota_fw.py) and the trial boot.

Loaded on demand (an update, a trial boot's health check, diagnostics); never at every boot
on the board. Picks flash_esp32.py on the board, flash_host.py (files and a bootloader model)
elsewhere, as firmware/hal/__init__.py does. Interface:

  BLOCK                  4096, the erase sector and block size of the partitions
  CHIP_ID                the image header chip id this board boots (0: ESP32), or None
  next_update() -> partition to write, or None (no OTA layout: a non-OTA MicroPython image).
      Block API of esp32.Partition v1.27: readblocks(block, buf[, offset]),
      writeblocks(block, buf) (erases first: len(buf) a multiple of 4096),
      writeblocks(block, buf, offset) (no erase), ioctl(4, 0) block count, ioctl(6, n) erase
      block n, ioctl(3, 0) sync, info() -> (type, subtype, address, size, label, encrypted),
      set_boot() (checks the whole image first: OSError if bad).
  running_info() -> (label, state, rolled_back)  state: "pending" (booted once, on trial:
      a reset before mark_valid() rolls back), "valid", "new", "undefined" or "none" (factory
      app, no OTA layout); rolled_back: the last update was rolled back.
  mark_valid() -> bool   confirm the running slot if on trial (True); else nothing (False).
      Never raises for a non-OTA image.
  boot()                 host: play the bootloader, once per boot (firmware/hal/flash_host.py);
                         board: nothing (the bootloader did it). Returns the running slot.
Cost: a few hundred bytes of code; otadata reads are 2 x 32 bytes.
"""

import sys

if sys.platform == "esp32":
    from firmware.hal import flash_esp32 as _impl
else:
    from firmware.hal import flash_host as _impl

BLOCK = 4096
CHIP_ID = _impl.CHIP_ID
next_update = _impl.next_update
running_info = _impl.running_info
mark_valid = _impl.mark_valid
boot = _impl.boot
