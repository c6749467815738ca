"""Fake `esp32` for the memory harness (tools/mem32_ota.py): the flash partitions, nothing more.

Partition has the block API firmware/hal/flash_esp32.py uses (MicroPython v1.27): the board
runs `ota_0`, get_next_update() is `ota_1` (1.5 MB), `otadata` reads as erased. Blocks live in
files of the interpreter's filesystem (/part/<label>), not in its heap: a read or a write
allocates nothing but what the caller passes. set_boot() records the slot.
"""

import os

_DIR = "/part"
_SIZES = {"ota_0": 0x180000, "ota_1": 0x180000, "otadata": 0x2000}
BOOT_SET = [None]  # the label set_boot() chose


class Partition:
    BOOT = 0
    RUNNING = 1
    TYPE_APP = 0
    TYPE_DATA = 1

    def __init__(self, id, block_size=4096):
        if id in (Partition.RUNNING, Partition.BOOT):
            id = "ota_0"
        if id not in _SIZES:
            raise OSError(2)  # ENOENT
        self.label = id
        self.path = _DIR + "/" + id
        try:
            os.stat(self.path)
        except OSError:
            try:
                os.mkdir(_DIR)
            except OSError:
                pass
            with open(self.path, "wb") as f:  # erased: 0xFF
                blk = b"\xff" * 4096
                for _ in range(_SIZES[id] // 4096 if id == "otadata" else 1):
                    f.write(blk)

    def info(self):
        n = int(self.label[4:]) if self.label.startswith("ota_") else 0
        return (0, 0x10 + n, 0x10000, _SIZES[self.label], self.label, False)

    def get_next_update(self):
        return Partition("ota_1" if self.label == "ota_0" else "ota_0")

    def readblocks(self, block, buf, offset=0):
        with open(self.path, "rb") as f:
            f.seek(block * 4096 + offset)
            n = f.readinto(buf)
        for i in range(n or 0, len(buf)):  # past what was written: erased
            buf[i] = 0xFF

    def writeblocks(self, block, buf, offset=None):
        with open(self.path, "r+b") as f:
            f.seek(block * 4096 + (offset or 0))
            f.write(buf)

    def ioctl(self, op, arg):
        if op == 4:
            return _SIZES[self.label] // 4096
        if op == 5:
            return 4096
        return 0  # 1 init, 2 deinit, 3 sync, 6 erase (the next write overwrites)

    def set_boot(self):
        BOOT_SET[0] = self.label

    @staticmethod
    def mark_app_valid_cancel_rollback():
        pass
