"""Proof on the MicroPython unix port: Writer.write() allocates nothing, whatever the chunk
sizes (chunks that straddle 4 KB sectors, one byte, several sectors at once), on the host
flash. The chunks are memoryviews made before micropython.heap_lock(); the sector erases, the
writes and the SHA-256 run with the heap locked, so any allocation raises MemoryError."""

import os

from fw_image import app_image, sha256_hex

import micropython
from firmware import ota_fw
from firmware.hal import flash_host

_DIR = "/tmp/linky-mptest-otafw-%s" % "".join("%02x" % b for b in os.urandom(4))
SIZE = 100000


def _fresh():
    os.mkdir(_DIR)
    flash_host.DIR = _DIR + "/flash"
    flash_host._run = None
    flash_host.boot()


def _cleanup():
    for name in os.listdir(flash_host.DIR):
        os.remove(flash_host.DIR + "/" + name)
    os.rmdir(flash_host.DIR)
    os.rmdir(_DIR)


def test_write_allocates_nothing():
    _fresh()
    try:
        img = app_image(SIZE)
        mv = memoryview(img)
        w = ota_fw.Writer(SIZE, sha256_hex(img))
        w.write(mv[:64])  # the header, checked as it arrives (an error would allocate)
        sizes = (1, 4095, 4097, 10000, 333, 1460, 8192)
        chunks = []
        pos, i = 64, 0
        while pos < SIZE:
            k = min(sizes[i % len(sizes)], SIZE - pos)
            chunks.append(mv[pos : pos + k])
            pos += k
            i += 1
        micropython.heap_lock()
        try:
            for c in chunks:
                w.write(c)
        finally:
            micropython.heap_unlock()
        assert w.finish() == "v1.28.0"
        assert flash_host.boot() == 1
    finally:
        _cleanup()


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
