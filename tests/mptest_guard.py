"""Proof on the MicroPython unix port: after construction and a first frame, IndexGuard's
check_frame allocates nothing.

Frames are built with tic.encode and fed to the real tic.parser.Parser; check_frame runs in the
frame callback while micropython.heap_lock() is held, so any allocation raises MemoryError.
The frames exercise every path: candidates confirmed (one frame late), values equal to the
reference, candidates dropped (by a lower value, by an equal one, by a resync), decreases,
jumps, non-digit values (a bit-6 flip), a resync, the power limit changing, and ticks wrapping
past 2^30.
"""

import gc

import micropython
from tic import MODE_HISTORIQUE, MODE_STANDARD
from tic import labels as lbl
from tic.encode import frame
from tic.guard import ACCEPT, PENDING, REJECT, IndexGuard
from tic.parser import Parser

N = 120  # frames per mode


def std_frames():
    out = []
    base = 21849106
    jump = 0
    for k in range(N):
        east = base + 3 * k
        g = [("ADSC", "041776199277"), ("VTIC", "02"), ("DATE", "", "H200214230804")]
        g.append(("EAST", "%09d" % (east - 500 if k == 40 else east)))  # a decrease
        for j in range(1, 11):
            v = "%09d" % (1000 * j + k)
            if j == 9 and k == 95:
                v = "%09d" % (1000 * j + k + 5)  # plausible, wrong: the next value drops it
            if j == 10:  # a register that never moves, once 2 with a matching checksum
                v = "%09d" % (2 if k == 90 else 0)
            if j == 2 and k == 50:
                v = "%09d" % (1000 * j + k + 9000000)  # a jump: a high digit changed
            if j == 3 and k == 60:
                v = "p" + v[1:]  # bit-6 flip of a '0': the checksum cannot see it
            g.append(("EASF%02d" % j, v))
        if k >= 70:
            jump = 5000000  # EASD02 really jumps (say, a long TIC cut): resync after 10
        for j in range(1, 5):
            g.append(("EASD%02d" % j, "%09d" % (j * 7 + k + (jump if j == 2 else 0))))
        g.append(("EAIT", "%09d" % (100 + 5 * k)))
        for j in range(1, 5):
            g.append(("ERQ%d" % j, "%09d" % (j + k)))
        g.append(("IRMS1", "003"))
        g.append(("PREF", "09"))
        g.append(("PCOUP", "09" if k < 80 else "12"))
        g.append(("SINSTS", "02700"))
        g.append(("SMAXSN", "10802", "H200214175135"))
        g.append(("STGE", "463A0800"))
        g.append(("MSG1", "PAS DE          MESSAGE         "))
        out.append(frame(MODE_STANDARD, g))
    return out


def hist_frames():
    out = []
    for k in range(N):
        g = [("ADCO", "031961098836"), ("OPTARIF", "BBR("), ("ISOUSC", "45")]
        for j, name in enumerate(("BBRHCJB", "BBRHPJB", "BBRHCJW", "BBRHPJW")):
            v = 1478389 * (j + 1) + 2 * k
            if k == 30 and j == 1:
                v -= 5  # a decrease
            g.append((name, "%09d" % v))
        g.append(("BBRHCJR", "000025098"))
        g.append(("BBRHPJR", "000006010"))
        g.append(("PTEC", "HPJB"))
        g.append(("DEMAIN", "BLEU"))
        g.append(("IINST", "001"))
        g.append(("IMAX", "060"))
        g.append(("PAPP", "00120"))
        g.append(("HHPHC", "A"))
        g.append(("MOTDETAT", "000000"))
        out.append(frame(MODE_HISTORIQUE, g))
    return out


def run_locked(frames, t0, step):
    """Feed frames[0] unlocked (construction + first frame), the rest under heap_lock."""
    tally = [0, 0, 0, 0]  # per code: REJECT, ACCEPT, PENDING, FREE
    now = [t0]
    g = IndexGuard()

    def on_frame(f):
        ok = g.check_frame(f, now[0])
        for i in range(f.n):
            tally[ok[i]] += 1
        now[0] = (now[0] + step) & 0x3FFFFFFF  # as time.ticks_add would

    p = Parser()
    for b in frames:  # warm the parser up (its own first-use allocations) without the guard
        p.feed(b)
    p.on_frame = on_frame
    p.feed(frames[0])  # construction of `g` and a first frame: allowed to allocate
    n = len(frames)
    before = gc.mem_alloc()
    micropython.heap_lock()
    try:
        for k in range(1, n):
            p.feed(frames[k])
    finally:
        micropython.heap_unlock()
    if gc.mem_alloc() != before:
        raise AssertionError("heap grew by %d bytes" % (gc.mem_alloc() - before))
    return g, tally


def test_standard_check_frame_allocates_nothing():
    frames = std_frames()
    # start 100 frames before the 2^30 ticks wrap
    g, tally = run_locked(frames, (1 << 30) - 100 * 2000, 2000)
    # k=40 EAST, k=50 EASF02, k=60 EASF03, k=70..78 EASD02 (then resync at 79)
    if g.rejected != 3 + 9 or tally[REJECT] != g.rejected or g.resyncs != 1:
        raise AssertionError("rejected %d resyncs %d %r" % (g.rejected, g.resyncs, tally))
    # never confirmed: EASF10 = 2 (k=90), EASF09 + 5 (k=95), EASD02's candidate before the jump
    if g.dropped != 3:
        raise AssertionError("dropped %d" % g.dropped)
    # ACCEPT: EASF10 (equal to its reference) but at k=0 and k=90, and the resync
    if tally[ACCEPT] != N - 2 + 1 or tally[PENDING] != 20 * N - 12 - 119:
        raise AssertionError("%r" % tally)
    # every value counted once, but those never confirmed and the last frame's 19 candidates
    if g.accepted != 20 * N - 12 - 3 - 19:
        raise AssertionError("accepted %d" % g.accepted)
    if g.limit_va != 12000:
        raise AssertionError("limit %d" % g.limit_va)
    east = lbl.index("EAST")
    easd02 = lbl.index("EASD02")
    easf10 = lbl.index("EASF10")
    got = (g.last(east), g.last(easd02), g.last(easf10))
    if got != (21849106 + 3 * 118, 14 + 118 + 5000000, 0):
        raise AssertionError("references %r" % (got,))


def test_historique_check_frame_allocates_nothing():
    g, tally = run_locked(hist_frames(), 5, 1500)
    # 4 growing registers (one decrease at k=30), 2 still ones
    if g.rejected != 1 or g.dropped != 0 or g.limit_va != 9000:
        raise AssertionError("%d %d %d %r" % (g.rejected, g.dropped, g.limit_va, tally))
    if tally[ACCEPT] != 2 * (N - 1) or tally[PENDING] != 4 * N + 2 - 1:
        raise AssertionError("%r" % tally)
    if g.accepted != 6 * N - 1 - 4:  # but the decrease and the last frame's 4 candidates
        raise AssertionError("accepted %d" % g.accepted)


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
