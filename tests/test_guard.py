# micropython: also
"""lib/tic/guard.py: energy-index plausibility, with frames built by tic.encode and parsed."""

from tic import MODE_HISTORIQUE, MODE_STANDARD
from tic import labels as lbl
from tic.encode import frame
from tic.guard import ACCEPT, FREE, PENDING, REJECT, SLOTS, IndexGuard
from tic.parser import Parser
from tic_helpers import CAPTURES, read

EAST = lbl.index("EAST")
EAIT = lbl.index("EAIT")
BASE = lbl.index("BASE")
HCHP = lbl.index("HCHP")


class Feeder:
    """Build a frame from (label, value[, horodate]) tuples and parse it: a real Frame."""

    def __init__(self, mode):
        self.mode = mode
        self.p = Parser(mode=mode)

    def __call__(self, groups):
        n = self.p.frames
        self.p.feed(frame(self.mode, groups))
        if self.p.frames != n + 1:
            raise AssertionError("frame not parsed")
        return self.p.frame


def std(east, pcoup="09"):
    return [
        ("ADSC", "041776199277"),
        ("EAST", "%09d" % east),
        ("EASF01", "%09d" % east),
        ("PCOUP", pcoup),
    ]


def codes(g, fr, now):
    ok = g.check_frame(fr, now)
    return [ok[i] for i in range(fr.n)]


def trusted_std(g, feed, east=21849106, t0=0):
    """Two equal frames: the first value is confirmed by the second, which is then the
    reference itself (and the guard learns PCOUP 9 kVA)."""
    assert codes(g, feed(std(east)), t0) == [FREE, PENDING, PENDING, FREE]
    assert g.last(EAST) == -1
    assert codes(g, feed(std(east)), t0 + 2000) == [FREE, ACCEPT, ACCEPT, FREE]
    assert g.last(EAST) == east


def run(g, row, values, t0=0, step=2000):
    """accept() each value in turn, `step` ms apart: [(code, reference after it)]."""
    out = []
    for k, v in enumerate(values):
        out.append((g.accept(row, v, t0 + k * step), g.last(row)))
    return out


def test_slots_are_the_energy_indexes():
    assert SLOTS == 31
    g = IndexGuard()
    assert g.accept(lbl.index("PAPP"), 5, 0) == FREE
    assert g.accept(lbl.lookup("SINSTS"), 5, 0) == FREE
    assert g.last(lbl.index("PAPP")) == -1


def test_first_value_is_confirmed_by_a_consistent_second():
    g = IndexGuard()
    feed = Feeder(MODE_STANDARD)
    trusted_std(g, feed)
    # EAST and EASF01: frame 1's value confirmed, frame 2's equal to it
    assert g.accepted == 4 and g.rejected == 0 and g.dropped == 0
    assert g.limit_va == 9000


def test_start_up_with_a_growing_index():
    g = IndexGuard()
    assert run(g, BASE, [1000, 1003, 1006]) == [
        (PENDING, -1),
        (PENDING, 1000),  # 1000 confirmed by 1003; 1003 awaits the next frame
        (PENDING, 1003),
    ]


def test_corrupt_first_value_is_never_confirmed():
    g = IndexGuard()
    feed = Feeder(MODE_STANDARD)
    # a permutation (invisible to the checksum) in the very first frame
    assert codes(g, feed(std(12849106)), 0)[1] == PENDING
    assert codes(g, feed(std(21849106)), 2000)[1] == PENDING  # disagrees: start over
    assert g.last(EAST) == -1
    assert codes(g, feed(std(21849107)), 4000)[1] == PENDING  # confirms 21849106
    assert g.last(EAST) == 21849106
    assert codes(g, feed(std(21849107)), 6000)[1] == ACCEPT
    assert g.last(EAST) == 21849107
    assert g.dropped == 2 and g.rejected == 0  # 12849106 for EAST and EASF01


def test_compensated_double_flip_on_a_still_register():
    """The survey's case (ticsim seed 110, BER 1e-3): EASF04 000000000 arrived once as
    000000002 with a matching checksum. +2 Wh is plausible, so it awaits confirmation; the
    next true 0 does not confirm it (lower): the 2 is never published, every 0 is accepted."""
    easf04 = lbl.index("EASF04")
    g = IndexGuard()
    assert run(g, easf04, [0, 0]) == [(PENDING, -1), (ACCEPT, 0)]
    assert run(g, easf04, [2, 0, 0, 0], t0=4000) == [
        (PENDING, 0),
        (ACCEPT, 0),
        (ACCEPT, 0),
        (ACCEPT, 0),
    ]
    assert g.rejected == 0 and g.dropped == 1 and g.resyncs == 0
    # the same through frames, with the other registers around it
    g = IndexGuard()
    feed = Feeder(MODE_STANDARD)
    frames = [0, 0, 2, 0, 0, 0, 0]
    out = []
    for k, v in enumerate(frames):
        groups = [("ADSC", "041776199277"), ("EASF03", "%09d" % (5000 + k))]
        groups += [("EASF04", "%09d" % v), ("PCOUP", "09")]
        c = codes(g, feed(groups), 2000 * k)
        out.append((c[2], g.last(easf04)))
    assert out == [(PENDING, -1), (ACCEPT, 0), (PENDING, 0)] + [(ACCEPT, 0)] * 4
    assert g.last(lbl.index("EASF03")) == 5005  # one frame late
    assert g.rejected == 0


def test_corrupt_value_then_a_rejected_one_then_the_truth():
    g = IndexGuard()
    run(g, BASE, [0, 0])
    # 2 (plausible, wrong), a non-digit, a big jump: neither confirms the 2; the truth drops it
    assert run(g, BASE, [2, -1, 90000, 0], t0=4000) == [
        (PENDING, 0),
        (REJECT, 0),
        (REJECT, 0),
        (ACCEPT, 0),
    ]


def test_growing_index_is_published_one_frame_late():
    g = IndexGuard()
    g.set_limit(9000)
    values = [5000 + 4 * k + (k % 3) for k in range(30)]
    out = run(g, EAST, values)
    assert [c for c, _ in out] == [PENDING] * 30
    assert [r for _, r in out] == [-1] + values[:-1]
    assert g.accepted == 29 and g.rejected == 0 and g.dropped == 0


def test_register_that_moves_now_and_then():
    g = IndexGuard()
    assert run(g, BASE, [500, 500, 501, 501, 501, 502, 503, 503]) == [
        (PENDING, -1),
        (ACCEPT, 500),
        (PENDING, 500),
        (ACCEPT, 501),
        (ACCEPT, 501),
        (PENDING, 501),
        (PENDING, 502),
        (ACCEPT, 503),
    ]


def test_corrupt_high_candidate_is_dropped():
    g = IndexGuard()
    g.set_limit(9000)  # 20 Wh in 2 s
    run(g, EAST, [1000, 1000])
    # true: 1003, 1006, 1009, 1012; the second arrives as 1016 (plausible, wrong)
    out = run(g, EAST, [1003, 1016, 1009, 1012], t0=4000)
    assert out == [(PENDING, 1000), (PENDING, 1003), (PENDING, 1003), (PENDING, 1009)]
    assert g.dropped == 1


def test_corrupt_low_candidate_may_be_confirmed_but_never_decreases():
    g = IndexGuard()
    g.set_limit(9000)
    run(g, EAST, [1000, 1000])
    # true: 1003, 1006, 1009, 1012; the first arrives as 1001 (low, plausible)
    out = run(g, EAST, [1001, 1006, 1009, 1012], t0=4000)
    assert out == [(PENDING, 1000), (PENDING, 1001), (PENDING, 1006), (PENDING, 1009)]
    # low, then the truth lower than the candidate before it: that candidate is dropped
    g = IndexGuard()
    g.set_limit(9000)
    run(g, EAST, [1000, 1000])
    out = run(g, EAST, [1003, 1001, 1009, 1012], t0=4000)  # the second: 1001 for 1006
    assert out == [(PENDING, 1000), (PENDING, 1000), (PENDING, 1001), (PENDING, 1009)]
    assert g.dropped == 1


def test_a_candidate_survives_a_rejected_value():
    g = IndexGuard()
    g.set_limit(9000)
    run(g, EAST, [1000, 1000])
    out = run(g, EAST, [1003, 900, -1, 1012], t0=4000)
    # 1012 - 1003 in 6 s: plausible; the time since the candidate counts
    assert out == [(PENDING, 1000), (REJECT, 1000), (REJECT, 1000), (PENDING, 1003)]
    assert g.rejected == 2 and g.dropped == 0


def test_decrease_is_rejected():
    g = IndexGuard()
    feed = Feeder(MODE_STANDARD)
    trusted_std(g, feed)
    assert codes(g, feed(std(21849105)), 4000)[1] == REJECT
    assert g.rejected == 2  # EAST and EASF01
    assert g.last(EAST) == 21849106
    assert codes(g, feed(std(21849106)), 6000)[1] == ACCEPT  # equal is fine


def test_growth_bounded_by_power():
    # PCOUP 9 kVA x 1.5 = 13,500 VA; 2 s + 3 s jitter -> 18 Wh, + 2 Wh slack = 20 Wh
    g = IndexGuard()
    feed = Feeder(MODE_STANDARD)
    trusted_std(g, feed)
    assert codes(g, feed(std(21849106 + 21)), 4000)[1] == REJECT
    assert codes(g, feed(std(21849106 + 20)), 4000)[1] == PENDING
    assert g.last(EAST) == 21849106
    assert codes(g, feed(std(21849106 + 20)), 4000)[1] == ACCEPT
    assert g.last(EAST) == 21849106 + 20


def test_confirmation_is_bounded_by_power_too():
    g = IndexGuard()
    g.set_limit(9000)
    run(g, EAST, [1000, 1000])
    # 1001 plausible after 1000 (2 s: 20 Wh), 1025 plausible after 1000 (4 s: 26 + 2) but
    # not after 1001 (2 s: 20): 1001 is dropped, 1025 awaits
    assert run(g, EAST, [1001, 1025], t0=4000) == [(PENDING, 1000), (PENDING, 1000)]
    assert g.dropped == 1


def test_elapsed_time_since_the_reference_counts():
    g = IndexGuard()
    feed = Feeder(MODE_STANDARD)
    trusted_std(g, feed, t0=0)
    # one hour later: 13,500 Wh + (3 s jitter: 11 Wh) + 2
    one_hour = 2000 + 3600 * 1000
    assert codes(g, feed(std(21849106 + 13514)), one_hour)[1] == REJECT
    assert codes(g, feed(std(21849106 + 13513)), one_hour)[1] == PENDING
    assert codes(g, feed(std(21849106 + 13513)), one_hour + 2000)[1] == ACCEPT


def test_default_limit_until_the_frame_says():
    g = IndexGuard()
    assert g.limit_va == 0
    # 36 kVA x 1.5 = 54,000 VA; (2 + 3) s -> 75 Wh + 2
    assert run(g, EAST, [1000, 1077]) == [(PENDING, -1), (PENDING, 1000)]
    assert g.accept(EAST, 1078, 4000) == PENDING
    assert g.last(EAST) == 1077
    g = IndexGuard()
    assert run(g, EAST, [1000, 1078]) == [(PENDING, -1), (PENDING, -1)]  # start over
    g.set_limit(3000)  # 3 kVA: 4,500 VA x 5 s -> 6 Wh + 2
    assert g.accept(EAST, 1078 + 9, 4000) == PENDING  # start over again
    assert g.accept(EAST, 1087 + 8, 6000) == PENDING
    assert g.last(EAST) == 1087


def test_producer_registers_use_at_least_the_default():
    g = IndexGuard()
    g.set_limit(3000)
    assert run(g, EAIT, [500, 577]) == [(PENDING, -1), (PENDING, 500)]  # fine for injection
    # not for drawing at 3 kVA: start over
    assert run(g, EAST, [500, 577]) == [(PENDING, -1), (PENDING, -1)]
    # trusted: growth beyond the subscription is refused for drawing, not for injection
    g = IndexGuard()
    g.set_limit(3000)
    run(g, EAIT, [500, 500])
    run(g, EAST, [500, 500])
    # EAIT: 60 Wh in 2 s (77 allowed), 100 Wh in 4 s since the reference (105 + 2)
    assert run(g, EAIT, [560, 600], t0=4000) == [(PENDING, 500), (PENDING, 560)]
    assert run(g, EAST, [577, 508], t0=4000) == [(REJECT, 500), (PENDING, 500)]


def test_pref_when_no_pcoup():
    g = IndexGuard()
    feed = Feeder(MODE_STANDARD)
    g.check_frame(feed([("EAST", "000000001"), ("PREF", "06")]), 0)
    assert g.limit_va == 6000
    g.check_frame(feed([("EAST", "000000001"), ("PREF", "06"), ("PCOUP", "12")]), 0)
    assert g.limit_va == 12000


def test_historique_limits():
    g = IndexGuard()
    feed = Feeder(MODE_HISTORIQUE)
    fr = feed([("ADCO", "031961098836"), ("ISOUSC", "45"), ("BASE", "001478389")])
    assert codes(g, fr, 0) == [FREE, FREE, PENDING]
    assert g.limit_va == 9000
    g = IndexGuard()
    tri = [("ISOUSC", "15"), ("BASE", "000000010"), ("IINST1", "001"), ("IINST2", "000")]
    g.check_frame(feed(tri), 0)
    g.check_frame(feed(tri), 0)  # the phase count is known from the previous frame
    assert g.limit_va == 9000
    g = IndexGuard()
    g.check_frame(feed([("HCHP", "000000010"), ("IMAX", "060")]), 0)
    assert g.limit_va == 60 * 240
    g = IndexGuard()
    g.check_frame(feed([("HCHP", "000000010"), ("IMAX1", "060")]), 0)
    assert g.limit_va == 60 * 240 * 3
    # a short frame keeps the limit learnt before
    g.check_frame(feed([("ADIR1", "065"), ("ADCO", "031961098836"), ("IINST1", "065")]), 0)
    assert g.limit_va == 60 * 240 * 3


def test_bit6_flip_of_a_digit_is_caught():
    # '0' (0x30) -> 'p' (0x70): same 6-bit checksum, so the parser keeps the group
    g = IndexGuard()
    feed = Feeder(MODE_HISTORIQUE)
    g.check_frame(feed([("HCHP", "051077106")]), 0)
    g.check_frame(feed([("HCHP", "051077106")]), 2000)
    fr = feed([("HCHP", "p51077106")])
    assert fr.n == 1
    assert codes(g, fr, 4000) == [REJECT]
    assert g.last(HCHP) == 51077106


def test_ticks_wrap():
    g = IndexGuard()
    t = (1 << 30) - 500
    assert g.accept(BASE, 100, t) == PENDING
    assert g.accept(BASE, 100, t + 1000) == ACCEPT  # crosses 2^30: masked
    # a ticks_ms that wrapped, 1000 ms later: (1 + 3) s at 54,000 VA -> 60 Wh + 2
    assert g.accept(BASE, 163, 1500) == REJECT
    assert g.accept(BASE, 162, 1500) == PENDING
    assert g.accept(BASE, 162, 1500) == ACCEPT
    # time going back counts as no time: only the jitter allowance (3 s -> 45 Wh + 2)
    assert g.accept(BASE, 162 + 48, 0) == REJECT
    assert g.accept(BASE, 162 + 47, 0) == PENDING
    assert g.accept(BASE, 162 + 47, 0) == ACCEPT
    assert g.last(BASE) == 209


def test_a_gap_over_2_29_ms_aliases_then_resyncs():
    # Six days without TIC while the meter counted: ticks differences alias to "no time",
    # the growth looks impossible, and the run of consistent values re-anchors.
    g = IndexGuard(resync_frames=3)
    run(g, BASE, [1000, 1000])
    t = 2000 + (1 << 29) + 5000
    assert run(g, BASE, [41000, 41001, 41002], t0=t) == [
        (REJECT, 1000),
        (REJECT, 1000),
        (ACCEPT, 41002),
    ]
    assert g.resyncs == 1
    assert run(g, BASE, [41003, 41003], t0=t + 6000) == [(PENDING, 41002), (ACCEPT, 41003)]


def test_resync_upwards_after_consistent_frames():
    g = IndexGuard(resync_frames=4)
    assert run(g, BASE, [1000, 1000]) == [(PENDING, -1), (ACCEPT, 1000)]
    # the meter really jumped (TIC cut while the meter counted, aliased clock...)
    t = 4000
    for k in range(3):
        assert g.accept(BASE, 500000 + k, t) == REJECT
        t += 2000
    # the run confirms itself: the last of it is the reference at once
    assert g.accept(BASE, 500003, t) == ACCEPT
    assert g.resyncs == 1 and g.last(BASE) == 500003
    assert run(g, BASE, [500004, 500005], t0=t + 2000) == [(PENDING, 500003), (PENDING, 500004)]


def test_resync_needs_an_unbroken_run():
    g = IndexGuard(resync_frames=3)
    run(g, BASE, [1000, 1000])
    assert g.accept(BASE, 500000, 4000) == REJECT
    assert g.accept(BASE, 900000, 6000) == REJECT  # inconsistent with the previous one
    assert g.accept(BASE, 900001, 8000) == REJECT
    assert g.accept(BASE, 900002, 10000) == ACCEPT


def test_a_plausible_value_breaks_the_resync_run():
    g = IndexGuard(resync_frames=3)
    run(g, BASE, [1000, 1000])
    assert run(g, BASE, [500000, 500001, 1001, 500002], t0=4000) == [
        (REJECT, 1000),
        (REJECT, 1000),
        (PENDING, 1000),
        (REJECT, 1000),
    ]
    assert g.resyncs == 0


def test_small_drop_never_resyncs():
    # A slightly-high wrong reference (two equal wrong values in a row: the confirmation
    # cannot catch that): wait for the real index to catch up rather than publish a decrease
    # (a total_increasing "reset" in Home Assistant).
    g = IndexGuard(resync_frames=3)
    run(g, BASE, [1000, 1000])
    assert run(g, BASE, [1050, 1050], t0=4000) == [(PENDING, 1000), (ACCEPT, 1050)]
    t = 8000
    for k in range(40):
        assert g.accept(BASE, 1001 + k, t) == REJECT
        t += 2000
    assert g.accept(BASE, 1050, t) == ACCEPT
    assert g.resyncs == 0 and g.last(BASE) == 1050


def test_meter_replacement_resyncs_downwards():
    g = IndexGuard(resync_frames=3)
    run(g, HCHP, [51077106, 51077106])
    assert g.accept(HCHP, 12, 4000) == REJECT
    assert g.accept(HCHP, 12, 6000) == REJECT
    assert g.accept(HCHP, 13, 8000) == ACCEPT
    assert g.resyncs == 1 and g.last(HCHP) == 13
    assert run(g, HCHP, [14, 15], t0=10000) == [(PENDING, 13), (PENDING, 14)]


def test_reset_forgets():
    g = IndexGuard()
    run(g, BASE, [1000, 1000, 1003])  # 1003: a candidate
    g.set_limit(9000)
    g.reset()
    assert g.last(BASE) == -1 and g.limit_va == 0
    # without the reset, 1004 would confirm 1003
    assert g.accept(BASE, 1004, 6000) == PENDING
    assert g.last(BASE) == -1


def test_non_digits_rejected():
    g = IndexGuard()
    assert g.accept(BASE, -1, 0) == REJECT
    assert g.rejected == 1


def test_counters_wrap_below_2_30():
    g = IndexGuard()
    g.rejected = (1 << 30) - 1
    g.accept(BASE, -1, 0)
    assert g.rejected == 0


def test_ok_grows_for_a_huge_frame():
    g = IndexGuard(max_groups=2)
    fr = Feeder(MODE_STANDARD)(std(5))
    assert fr.n == 4
    assert codes(g, fr, 0) == [FREE, PENDING, PENDING, FREE]
    assert len(g.ok) >= 4


def test_allowance_stays_a_small_int():
    # ESP32 small ints are 31-bit: every intermediate must stay below 2^30.
    g = IndexGuard(margin_pct=300)
    g.set_limit(99000)  # PCOUP 99 kVA: capped
    worst = g._allow(0, (1 << 29) - 1)
    assert 0 < worst < (1 << 30)
    assert g._va_m * 3599 < (1 << 30)


def test_random_single_corruptions_never_reach_the_reference():
    """A growing index at up to the subscribed power, with one corrupt or missing value now
    and then (never two frames in a row): the reference never exceeds the true index (so it
    never has to go down), never decreases, and is the previous frame's true value whenever
    that frame and this one arrived intact."""
    x = 2024

    def rnd(n):
        nonlocal x
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        return (x >> 8) % n

    for row in (EAST, EAIT):
        g = IndexGuard()
        g.set_limit(9000)  # 9 kVA: 5 Wh in 2 s at most, 20 Wh allowed
        true = 123456
        prev_ok = False
        prev_true = ref = -1
        bad = 0
        trues = set()
        near = set()  # slightly wrong values injected
        for k in range(3000):
            true += rnd(6)
            trues.add(true)
            t = 2000 * k + rnd(40)
            v = true
            intact = True
            if prev_ok and k > 1 and rnd(4) == 0:
                intact = False
                kind = rnd(5)
                if kind == 0:
                    v = -1  # not digits
                elif kind == 1:
                    v = None  # the group failed its checksum: missing
                elif kind == 2:
                    v = true + 1 + rnd(20)  # slightly high: plausible
                    near.add(v)
                elif kind == 3:
                    v = max(0, true - 1 - rnd(20))  # slightly low
                    near.add(v)
                else:
                    v = rnd(999999999)  # anything
            if v is not None:
                code = g.accept(row, v, t)
                assert code in (REJECT, ACCEPT, PENDING)
            new = g.last(row)
            assert new <= true and new >= ref, (k, v, true, ref, new)
            if new != ref and new not in trues:
                # only a slightly wrong value can be confirmed, by a next true value at least
                # as high: wrong for a frame or two, but never above the truth
                assert new in near, (k, v, true, ref, new)
                bad += 1
            if intact and prev_ok:
                assert new == prev_true, (k, v, true, prev_true, new)
            ref = new
            prev_ok = intact
            prev_true = true
        assert g.resyncs == 0
        name = lbl.ROWS[row][lbl.NAME]
        print("%s: %d slightly wrong values sent, %d confirmed" % (name, len(near), bad))
        assert 0 < bad < len(near) // 2


def test_noisy_capture_confirms_every_valid_index():
    """The real noisy stream: its corrupt groups fail the checksum; every valid index is
    confirmed, one frame late (by the next frame that has the label)."""
    g = IndexGuard()
    p = Parser()
    res = []
    seen = {}  # label -> value in the last frame that had it

    def on_frame(fr):
        ok = g.check_frame(fr, 2000 * len(res))
        cs = []
        for i in range(fr.n):
            if ok[i] == FREE:
                continue
            cs.append(ok[i])
            label = fr.label(i)
            v = fr.int_value(i)
            assert g.last(lbl.index(label)) == seen.get(label, -1)
            assert ok[i] == (ACCEPT if seen.get(label) == v else PENDING)
            seen[label] = v
        res.append(cs)

    p.on_frame = on_frame
    p.feed(read(CAPTURES + "std-tri-tempo-stream-errors-teleinfo-nom.raw"))
    assert len(res) == 7
    assert g.rejected == 0 and g.resyncs == 0 and g.dropped == 0
    assert all(c == PENDING for c in res[0])
    assert sum(len(r) for r in res) == 6 * 15 + 15 - 5  # 15 indexes, 5 lost to bad checksums
    assert all(c == ACCEPT for c in res[-1])  # the last two frames agree: all confirmed
    assert g.accepted == 100
    assert g.last(EAST) == 21849109
    assert g.limit_va == 30000


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
