"""Proof on the MicroPython unix port: after warm-up the parser allocates nothing.

Every feed below runs between micropython.heap_lock() and heap_unlock(): any allocation raises
MemoryError. At least 100 frames of each mode, clean, noisy (bit flips), interrupted (EOT and
new STX), as an 8N1 reader gets them (bit 7 = parity) and one frame over the size limit, fed in
several chunk sizes both ways the parser takes bytes (a whole buffer, scanned in place; a slice
of a bigger one, staged), with a consumer that reads ints in the frame callback, and fed as the
firmware's reader does: with stop=True, each rest fed again after the frame it stopped at.
"""

import gc

import micropython
from tic import MODE_HISTORIQUE, MODE_STANDARD
from tic.encode import frame, group
from tic.parser import CHUNK, FRAME_SIZE, Parser
from tic_helpers import CAPTURES, read

# Seconds each: make test runs them, make check does not (conftest.py). Standard mode fed one
# byte at a time is about 2 s of the unix port's time (575 KB, a call per byte): make check
# proves the byte-by-byte path on the historique stream.
SLOW_TESTS = (
    "test_counters_wrap_instead_of_growing_into_big_ints",
    "test_standard_feed_byte_by_byte_allocates_nothing",
)

STD = read(CAPTURES + "std-tri-tempo-teleinfo-nom.raw")
HIST = read(CAPTURES + "hist-mono-tempo-teleinfo-nom.raw")
STD_NOISY = read(CAPTURES + "std-tri-tempo-stream-errors-teleinfo-nom.raw")


def flip_bits(data, every, seed):
    """Deterministic bit flips (an LCG, same on both interpreters)."""
    out = bytearray(data)
    x = seed
    for i in range(len(out)):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        if x % every == 0:
            out[i] ^= 1 << (x >> 8) % 7
    return out


def interrupted(mode, label, value):
    f = frame(mode, [(label, value), (label, value)])
    return f[:-1] + b"\x04" + f[: len(f) // 2] + f  # EOT, then STX inside a frame


def parity_8n1(data):
    out = bytearray(data)
    for i in range(len(out)):
        c = out[i] & 0x7F
        ones = 0
        while c:
            ones += c & 1
            c >>= 1
        out[i] = out[i] & 0x7F | (ones & 1) << 7
    return bytes(out)


def build(mode):
    if mode == MODE_STANDARD:
        clean = STD * 100
        noisy = flip_bits(clean, 300, 7) + STD_NOISY * 15
        cut = interrupted(mode, "EAST", "000000001") * 100
        g = group(mode, "PJOURF+1", "X" * 98)
    else:
        clean = HIST * 100
        noisy = flip_bits(clean, 150, 11)
        cut = interrupted(mode, "BASE", "000000001") * 100
        g = group(mode, "BASE", "000000001")
    too_long = b"\x02" + g * (FRAME_SIZE // len(g) + 2) + b"\x03"
    return bytearray(clean + noisy + cut + parity_8n1(STD if mode == MODE_STANDARD else HIST) * 20
                     + too_long)  # fmt: skip


def run_locked(data, chunk):
    acc = [0, 0]

    def consume(f):
        acc[0] += 1
        i = f.find(b"EAST")
        if i < 0:
            i = f.find(b"BBRHCJB")
        if i >= 0:
            acc[1] += f.int_value(i)
        for j in range(f.n):
            acc[1] += f.label_hash(j) & 1

    p = Parser(on_frame=consume)
    p.feed(data)  # warm-up: a first pass over everything
    n = len(data)
    # Whole buffers (up to CHUNK bytes) are scanned in place, slices of one big buffer staged.
    size = chunk if 64 <= chunk <= CHUNK else 64 if chunk < 64 else CHUNK  # (few, not big)
    whole = [bytearray(data[i : i + size]) for i in range(0, n, size)]
    before = gc.mem_alloc()
    micropython.heap_lock()
    try:
        i = 0
        while i < n:
            k = chunk if n - i > chunk else n - i
            p.feed(data, k, i)
            i += k
        for b in whole:
            p.feed(b)
        for b in whole:  # the reader's way: stop after each frame, then feed the rest
            k = len(b)
            a = p.feed(b, k, 0, True)
            while a < k:
                a += p.feed(b, k - a, a, True)
    finally:
        micropython.heap_unlock()
    if gc.mem_alloc() != before:
        raise AssertionError("heap grew by %d bytes" % (gc.mem_alloc() - before))
    return p, acc


def check(mode, chunks=(1, 17, 256, 4096)):
    data = build(mode)
    for chunk in chunks:
        p, acc = run_locked(data, chunk)
        if acc[0] < 400:  # warm-up frames + locked frames (three passes)
            raise AssertionError("too few frames: %d" % acc[0])
        if p.checksum_errors == 0 or p.interrupted < 100 or p.format_errors == 0:
            raise AssertionError("noise/interruptions not exercised: %r" % p.stats())


def test_standard_feed_allocates_nothing():
    check(MODE_STANDARD, (17, 256, 4096))


def test_standard_feed_byte_by_byte_allocates_nothing():
    check(MODE_STANDARD, (1,))


def test_historique_feed_allocates_nothing():
    check(MODE_HISTORIQUE)


def test_counters_wrap_instead_of_growing_into_big_ints():
    p = Parser()
    p.bytes = 0x3FFFFFF0
    p.feed(b"\x00" * 32)
    if p.bytes != 0x10:
        raise AssertionError(p.bytes)


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
