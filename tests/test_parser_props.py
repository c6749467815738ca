"""Property tests of the parser (CPython, hypothesis): any input, cut into any chunking, gives
byte-identical frames and counters, equal to the reference model in tools/fuzz.py; counters
keep their invariants; no reported group has a wrong checksum."""

from fuzz import Rng, _Recorder, load_corpus, make_input, reference, run_parser
from hypothesis import given, settings
from hypothesis import strategies as st

from tic.parser import FRAME_SIZE, Parser
from tic_helpers import group_checksum_ok

CORPUS = load_corpus()

# Inputs: raw bytes (high bytes, DEL, stray controls included), or the fuzz tool's inputs
# (capture windows, splices, 8N1 copies, frames over FRAME_SIZE, then mutations).
INPUTS = st.one_of(
    st.binary(max_size=1500),
    st.integers(min_value=0, max_value=2**32 - 1).map(lambda s: make_input(Rng(s), CORPUS)),
)
CUTS = st.lists(st.integers(min_value=1, max_value=5000), max_size=40)
MASKS = st.integers(min_value=0, max_value=2**30 - 1)


@settings(max_examples=300, deadline=None)
@given(INPUTS, CUTS, MASKS)
def test_any_chunking_gives_identical_frames_and_counters(data, cuts, mask):
    cuts = sorted(set(c for c in cuts if c < len(data)))
    whole = run_parser(data)
    assert run_parser(data, cuts, mask) == whole
    assert whole == reference(data)


def run_stopping(data, cuts, whole_mask):
    """run_parser's feeding, each piece fed with stop=True until consumed (the firmware's
    reader): after each stop, parser.frame must be the frame on_frame was just given."""
    rec = _Recorder()
    p = Parser(on_frame=rec)
    last = 0
    for i, c in enumerate(cuts + [len(data)]):
        if c <= last:
            continue
        buf, start = (bytes(data[last:c]), 0) if (whole_mask >> (i % 30)) & 1 else (data, last)
        n = c - last
        while n:
            frames = p.frames
            k = p.feed(buf, n, start, True)
            assert 0 < k <= n
            if k < n or p.frames != frames:  # stopped: right after the ETX of a new frame
                assert p.frames == frames + 1 and buf[start + k - 1] & 0x7F == 0x03
                seen = _Recorder()
                seen(p.frame)
                assert seen.frames[0] == rec.frames[-1]
            start += k
            n -= k
        last = c
    st = p.stats()
    st["mode"] = p.mode
    return rec.frames, st


@settings(max_examples=300, deadline=None)
@given(INPUTS, CUTS, MASKS)
def test_feeding_with_stop_gives_identical_frames_and_counters(data, cuts, mask):
    cuts = sorted(set(c for c in cuts if c < len(data)))
    assert run_stopping(data, cuts, mask) == run_parser(data)


def frame_bytes(data, frame_size=FRAME_SIZE):
    """Bytes inside frames, as Parser's docstring defines them: STX through ETX/EOT, up to a new
    STX, at most frame_size bytes."""
    inside = 0  # bytes of the current frame so far, 0 outside
    total = 0
    for b in data:
        c = b & 0x7F
        if inside == frame_size:
            inside = 0  # one byte too many: the frame was dropped, this byte is outside
        if c == 0x02:
            inside = 1
        elif inside:
            inside = 0 if c in (0x03, 0x04) else inside + 1
        else:
            continue
        total += 1
    return total


@settings(max_examples=300, deadline=None)
@given(INPUTS, CUTS, MASKS)
def test_frame_bytes_and_ignored_account_for_every_byte(data, cuts, mask):
    cuts = sorted(set(c for c in cuts if c < len(data)))
    _, stats = run_parser(data, cuts, mask)
    assert 0 <= stats["ignored"] <= stats["bytes"] == len(data)
    assert frame_bytes(data) + stats["ignored"] == len(data)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(CORPUS),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 7)), min_size=1, max_size=40),
)
def test_bit_flips_never_crash_nor_yield_a_wrong_checksum(data, flips):
    buf = bytearray(data)
    for pos, bit in flips:
        buf[pos % len(buf)] ^= 1 << bit
    out = []

    def on_frame(f):
        out.extend(
            (f.mode, f.label(i), f.horodate(i), f.value(i), f.checksum(i)) for i in range(f.n)
        )

    p = Parser(on_frame=on_frame)
    p.feed(buf)
    for mode, label, horodate, value, chk in out:
        assert group_checksum_ok(mode, label, horodate, value) == chk, (label, value)
    assert p.frames <= data.count(b"\x03") + len(flips)


class Probe(Parser):
    """Records how each chunk reached the scan: the caller's buffer, or the staging copy."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.ways = {"whole": 0, "staged": 0}

    def _scan(self, src, base, stop):
        self.ways["staged" if src is self._stage else "whole"] += 1
        return super()._scan(src, base, stop)


def test_both_ways_in_are_exercised_and_agree():
    # The firmware feeds its read buffer whole (scanned in place); tools and tests feed slices
    # of a bigger buffer (copied to the staging buffer first). Same loop; same results.
    for data in CORPUS:
        results = []
        for whole in (True, False):
            out = []
            p = Probe(on_frame=lambda f, out=out: out.append((f.mode, f.groups())))
            for i in range(0, len(data), 200):
                if whole:
                    p.feed(data[i : i + 200])
                else:
                    p.feed(data, min(200, len(data) - i), i)
            key = "whole" if whole else "staged"
            assert (
                p.ways[key] >= len(data) // 200 and p.ways["whole" if not whole else "staged"] == 0
            )
            results.append((out, p.stats()))
        assert results[0] == results[1]
