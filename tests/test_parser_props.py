"""Property tests of the parser (CPython, hypothesis) and a 100,000-input mutation fuzz."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from tic.parser import Parser
from tic_helpers import CAPTURES, group_checksum_ok, read

STD_NOISY = read(CAPTURES + "std-tri-tempo-stream-errors-teleinfo-nom.raw")
HIST = read(CAPTURES + "hist-mono-tempo-teleinfo-nom.raw")
STD_MONO = read(CAPTURES + "std-mono-hchp-goteleinfo.raw")
HIST_BAD = read(CAPTURES + "hist-mono-hchp-badchecksum-teleinfo-parser.raw")
CORPUS = (STD_NOISY, HIST, STD_MONO, HIST_BAD)


class Recorder:
    """Collects every reported group with its received checksum."""

    def __init__(self):
        self.frames = []

    def __call__(self, f):
        self.frames.append(
            (f.mode, [(f.label(i), f.horodate(i), f.value(i), f.checksum(i)) for i in range(f.n)])
        )


def check_all_groups_valid(rec):
    for mode, groups in rec.frames:
        for label, horodate, value, chk in groups:
            assert group_checksum_ok(mode, label, horodate, value) == chk, (label, value)


def feed_chunks(data, cuts):
    rec = Recorder()
    p = Parser(on_frame=rec)
    last = 0
    for c in sorted(set(cuts)) + [len(data)]:
        if c > last:
            p.feed(data, c - last, last)
            last = c
    return rec.frames, p.stats()


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(CORPUS), st.lists(st.integers(min_value=0, max_value=12000), max_size=60))
def test_random_chunking_gives_identical_output(data, cuts):
    cuts = [c for c in cuts if c < len(data)]
    assert feed_chunks(data, cuts) == feed_chunks(data, [])


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(CORPUS),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 7)), min_size=1, max_size=40),
)
def test_bit_flips_never_crash_nor_yield_a_wrong_checksum(data, flips):
    buf = bytearray(data)
    for pos, bit in flips:
        buf[pos % len(buf)] ^= 1 << bit
    rec = Recorder()
    p = Parser(on_frame=rec)
    p.feed(buf)
    check_all_groups_valid(rec)
    assert p.frames <= data.count(b"\x03") + len(flips)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_crash(data):
    rec = Recorder()
    p = Parser(on_frame=rec)
    p.feed(data)
    check_all_groups_valid(rec)


def mutate(rng, data):
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.random()
        pos = rng.randrange(len(buf)) if buf else 0
        if op < 0.5 and buf:
            buf[pos] ^= 1 << rng.randrange(8)  # bit flip
        elif op < 0.65 and buf:
            del buf[pos : pos + rng.randint(1, 20)]  # lost bytes
        elif op < 0.8:
            buf[pos:pos] = bytes([rng.choice(b"\x02\x03\x04\t\n\r \x0c\x08")])  # stray control
        elif op < 0.9 and buf:
            a = rng.randrange(len(buf))
            buf[pos:pos] = buf[a : a + rng.randint(1, 80)]  # duplicated run
        else:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 10)))
    return buf


def test_mutation_fuzz_100k_inputs():
    rng = random.Random(20261128)
    # Inputs are windows of the corpus (up to 400 bytes) so 100,000 of them stay fast.
    rec = Recorder()
    p = Parser(on_frame=rec)
    total_frames = 0
    for n in range(100_000):
        src = CORPUS[n % len(CORPUS)]
        a = rng.randrange(len(src))
        data = mutate(rng, src[a : a + rng.randint(20, 400)])
        p.reset()
        p.feed(data)
        if rec.frames:
            check_all_groups_valid(rec)
            total_frames += len(rec.frames)
            rec.frames.clear()
    assert p.groups > 10_000  # the fuzz really produced valid groups to check
    assert p.checksum_errors > 1_000 and p.format_errors > 1_000
