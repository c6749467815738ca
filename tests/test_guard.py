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
    """Two consistent frames: the guard trusts EAST/EASF01 (and learns PCOUP 9 kVA)."""
    assert codes(g, feed(std(east)), t0) == [FREE, PENDING, PENDING, FREE]
    assert codes(g, feed(std(east)), t0 + 2000) == [FREE, ACCEPT, ACCEPT, FREE]


def test_slots_are_the_energy_indexes():
    assert SLOTS == 31
    g = IndexGuard()
    assert g.accept(lbl.index("PAPP"), 5, 0) == FREE
    assert g.accept(lbl.lookup("SINSTS"), 5, 0) == FREE


def test_first_value_waits_for_a_consistent_second():
    g = IndexGuard()
    feed = Feeder(MODE_STANDARD)
    trusted_std(g, feed)
    assert g.last(EAST) == 21849106
    assert g.accepted == 2 and g.rejected == 0
    assert g.limit_va == 9000


def test_corrupt_first_value_is_never_accepted():
    g = IndexGuard()
    feed = Feeder(MODE_STANDARD)
    # a permutation (invisible to the checksum) in the very first frame
    assert codes(g, feed(std(12849106)), 0)[1] == PENDING
    assert codes(g, feed(std(21849106)), 2000)[1] == PENDING  # disagrees: start over
    assert g.last(EAST) == -1
    assert codes(g, feed(std(21849107)), 4000)[1] == ACCEPT
    assert g.last(EAST) == 21849107


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
    assert codes(g, feed(std(21849106 + 20)), 4000)[1] == ACCEPT


def test_elapsed_time_since_last_accept_counts():
    g = IndexGuard()
    feed = Feeder(MODE_STANDARD)
    trusted_std(g, feed, t0=0)
    # one hour later: 13,500 Wh + (3 s jitter: 11 Wh) + 2
    one_hour = 2000 + 3600 * 1000
    assert codes(g, feed(std(21849106 + 13514)), one_hour)[1] == REJECT
    assert codes(g, feed(std(21849106 + 13513)), one_hour)[1] == ACCEPT


def test_default_limit_until_the_frame_says():
    g = IndexGuard()
    assert g.limit_va == 0
    # 36 kVA x 1.5 = 54,000 VA; (2 + 3) s -> 75 Wh + 2
    assert g.accept(EAST, 1000, 0) == PENDING
    assert g.accept(EAST, 1000 + 77, 2000) == ACCEPT
    assert g.accept(EAST, 1077 + 78, 4000) == REJECT
    g.set_limit(3000)  # 3 kVA: 4,500 VA x 5 s -> 6 Wh + 2
    assert g.accept(EAST, 1077 + 9, 4000) == REJECT
    assert g.accept(EAST, 1077 + 8, 4000) == ACCEPT


def test_producer_registers_use_at_least_the_default():
    g = IndexGuard()
    g.set_limit(3000)
    assert g.accept(EAIT, 500, 0) == PENDING
    assert g.accept(EAIT, 577, 2000) == ACCEPT  # 77 Wh in 2 s: fine for injection
    assert g.accept(EAST, 500, 0) == PENDING
    assert g.accept(EAST, 577, 2000) == PENDING  # not for drawing at 3 kVA: start over


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
    assert g.accept(BASE, 162, 1500) == ACCEPT
    # time going back counts as no time: only the jitter allowance (3 s -> 45 Wh + 2)
    assert g.accept(BASE, 162 + 48, 0) == REJECT
    assert g.accept(BASE, 162 + 47, 0) == ACCEPT


def test_resync_upwards_after_consistent_frames():
    g = IndexGuard(resync_frames=4)
    assert g.accept(BASE, 1000, 0) == PENDING
    assert g.accept(BASE, 1000, 2000) == ACCEPT
    # the meter really jumped (TIC cut while the meter counted, aliased clock...)
    t = 4000
    for k in range(3):
        assert g.accept(BASE, 500000 + k, t) == REJECT
        t += 2000
    assert g.accept(BASE, 500003, t) == ACCEPT
    assert g.resyncs == 1 and g.last(BASE) == 500003
    assert g.accept(BASE, 500004, t + 2000) == ACCEPT


def test_resync_needs_an_unbroken_run():
    g = IndexGuard(resync_frames=3)
    g.accept(BASE, 1000, 0)
    g.accept(BASE, 1000, 2000)
    assert g.accept(BASE, 500000, 4000) == REJECT
    assert g.accept(BASE, 900000, 6000) == REJECT  # inconsistent with the previous one
    assert g.accept(BASE, 900001, 8000) == REJECT
    assert g.accept(BASE, 900002, 10000) == ACCEPT


def test_small_drop_never_resyncs():
    # A slightly-high corrupt value slipped through: wait for the real index to catch up
    # rather than publish a decrease (a total_increasing "reset" in Home Assistant).
    g = IndexGuard(resync_frames=3)
    g.accept(BASE, 1000, 0)
    g.accept(BASE, 1000, 2000)
    assert g.accept(BASE, 1050, 4000) == ACCEPT  # within allowance, but wrong
    t = 6000
    for k in range(40):
        assert g.accept(BASE, 1001 + k, t) == REJECT
        t += 2000
    assert g.accept(BASE, 1050, t) == ACCEPT
    assert g.resyncs == 0


def test_meter_replacement_resyncs_downwards():
    g = IndexGuard(resync_frames=3)
    g.accept(HCHP, 51077106, 0)
    g.accept(HCHP, 51077106, 2000)
    assert g.accept(HCHP, 12, 4000) == REJECT
    assert g.accept(HCHP, 12, 6000) == REJECT
    assert g.accept(HCHP, 13, 8000) == ACCEPT
    assert g.resyncs == 1 and g.last(HCHP) == 13


def test_reset_forgets():
    g = IndexGuard()
    g.accept(BASE, 1000, 0)
    g.accept(BASE, 1000, 2000)
    g.set_limit(9000)
    g.reset()
    assert g.last(BASE) == -1 and g.limit_va == 0
    assert g.accept(BASE, 5, 4000) == PENDING


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


def test_noisy_capture_accepts_every_valid_index():
    """The real noisy stream: its corrupt groups fail the checksum, every valid index passes."""
    g = IndexGuard()
    p = Parser()
    res = []

    def on_frame(fr):
        ok = g.check_frame(fr, 2000 * len(res))
        res.append([ok[i] for i in range(fr.n) if ok[i] != FREE])

    p.on_frame = on_frame
    p.feed(read(CAPTURES + "std-tri-tempo-stream-errors-teleinfo-nom.raw"))
    assert len(res) == 7
    assert g.rejected == 0 and g.resyncs == 0
    assert all(c == PENDING for c in res[0])
    n = 0
    for r in res[1:]:
        assert all(c == ACCEPT for c in r)
        n += len(r)
    assert n == g.accepted == 6 * 15 - 5  # 15 indexes a frame; 5 lost to bad checksums
    assert g.limit_va == 30000


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
