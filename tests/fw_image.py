"""Well-formed ESP32 app images (the layout of a MicroPython `.app-bin`) for the firmware OTA
tests, on both interpreters.

app_image(size, version) -> bytearray of exactly `size` bytes ((size - 32) % 16 == 0): a
24-byte image header (magic 0xE9, two segments, chip id, SHA-256 appended), a first segment
that starts with an esp_app_desc_t (magic 0xABCD5432, version, project "micropython"), a
second segment of filler, the checksum byte and padding to 16, then the SHA-256 of all that.
The XOR checksum byte is left 0 (the host flash does not check it). sha256_hex(data).
"""

import binascii
import hashlib
import struct

HEADER = "<BBBBIB3sHBHH4sB"  # esp_image_header_t, 24 bytes


def app_image(size, version="v1.28.0", chip=0, seed=b"linky", hashed=True):
    if size < 512 or (size - 32) % 16:
        raise ValueError("size must be >= 512 with (size - 32) % 16 == 0")
    img = bytearray(size)
    mv = memoryview(img)
    pattern = hashlib.sha256(seed).digest() * 8  # 256 filler bytes
    for off in range(0, size, 256):
        k = min(256, size - off)
        mv[off : off + k] = pattern[:k]
    body = size - 32  # image length: a multiple of 16, its last byte the checksum
    d0 = 256  # first segment: the app description, then filler
    d1 = body - 1 - (24 + 8 + d0 + 8)
    img[0:24] = struct.pack(HEADER, 0xE9, 2, 2, 0x20, 0x40081000, 0xEE, b"\0\0\0", chip, 0,
                            0, 399, b"\0\0\0\0", 1 if hashed else 0)  # fmt: skip
    img[24:32] = struct.pack("<II", 0x3F400020, d0)
    desc = struct.pack("<IIII32s32s16s16s32s", 0xABCD5432, 0, 0, 0, version.encode(),
                       b"micropython", b"00:00:00", b"Jan  1 2027", b"v5.5.1")  # fmt: skip
    img[32 : 32 + len(desc)] = desc
    p = 32 + d0
    img[p : p + 8] = struct.pack("<II", 0x3FFB0000, d1)
    img[body - 1] = 0
    if hashed:
        img[body:size] = hashlib.sha256(mv[:body]).digest()
    return img


def sha256_hex(data):
    return binascii.hexlify(hashlib.sha256(data).digest()).decode()
