"""TIC acquisition against tools/ticsim.py (CPython: these tests drive ticsim, the unix port and
the simulator as subprocesses).

1. Auto-detection after ticsim switches mode mid-stream (--switch-after), in simulated line time
   (the host file source garbles bytes read at the wrong speed): the reader on CPython and on
   the unix port gives the same trace; detection time after the change is printed and bounded
   from the physics, never from the wall clock.
2. The firmware (tools/sim.py, unix port) at real line speed: ticsim files replayed by the file
   source at their natural speed(s), and ticsim --realtime over tcp, both modes, a few frames.
3. Bit errors (ticsim --ber 1e-3): every energy index that the parser and the index guard make
   the published (confirmed) value equals the clean stream's value in the frame it came from
   (same seed without --ber: ticsim draws the meter's values from a separate random stream, so
   only the line differs), and the published values never decrease. Frames are matched by
   stream offset: bit flips keep every byte in place.
"""

import re
import signal
import subprocess
import sys

import pytest
import reader_drive
import ticsim

import upy
from firmware import tic_reader as tr
from firmware.hal import host
from tic import BAUD, MODE_HISTORIQUE, MODE_NAMES, MODE_STANDARD, labels
from tic.guard import FREE, PENDING, REJECT
from tic.parser import Parser

ROOT = upy.ROOT
HANG = 120  # seconds: only stops a hung subprocess
STEP = 20  # ms between polls in simulated time


def _gen(*args):
    return ticsim.generate([str(a) for a in args])


def _frame_spans(data):
    """[(STX offset, ETX offset, {label: (horodate, value)})] of a clean ticsim stream."""
    groups = []
    p = Parser(on_frame=lambda f: groups.append({g[0]: (g[1], g[2]) for g in f.groups()}))
    p.feed(data)
    stx = [i for i, b in enumerate(data) if b & 0x7F == 2]
    etx = [i for i, b in enumerate(data) if b & 0x7F == 3]
    assert len(stx) == len(etx) == len(groups)
    return list(zip(stx, etx, groups))


def _longest_frame_ms(spans, mode):
    baud = BAUD[mode]
    longest = 0
    for a, e, g in spans:
        if ("DATE" in g) == (mode == MODE_STANDARD):
            longest = max(longest, e + 1 - a)
    return longest * 10000 // baud + 1


def _mp(*args):
    proc = upy.run(["tests/reader_drive.py", *args], upy.test_path(), heap="8M", timeout=HANG)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [ln for ln in proc.stdout.splitlines() if ln.split(" ", 1)[0] in ("SEG", "EV", "END")]


# -- 1. detection after a mode change, in line time ---------------------------------------------

# (first mode, phases, contract): the longest frames of each mode follow the change
SWITCHES = (("historique", 3, "tempo"), ("standard", 3, "producer"))
# (seed, frames before the change, ms between polls: the host's 20, the ESP32's 100 at most);
# frame lengths hardly depend on the seed, the change's position and the polls move the phase
RUNS = ((1, 5, 20), (2, 6, 20), (3, 7, 100), (4, 8, 100), (5, 9, 20))


def _switch_run(first, phases, contract, seed, *, after=5, step=STEP):
    data = _gen(
        *("--mode", first, "--phases", phases, "--contract", contract, "--seed", seed),
        *("--switch-after", after, "--frames", after + 13),
    )
    m0 = tr.parse_mode(first)
    m1 = MODE_STANDARD if m0 == MODE_HISTORIQUE else MODE_HISTORIQUE
    wrong = BAUD[m1]  # start at the wrong speed: detection happens twice
    # until the end of the stream (then the signal would be lost, rightly)
    end = host.FileSource(data, loop=False).char_time(len(data)) // reader_drive.UNITS_PER_MS
    src, r, trace = reader_drive.detect(data, wrong, end, step)
    return data, m0, m1, src, r, trace


def _detection(data, m1, src, trace, *, after, step, old_window):
    spans = _frame_spans(data)
    cut = spans[after][0]  # STX of the first frame in the new mode
    assert [b for b, _ in src.segments] == [0, cut]  # the file source found the change
    t_cut = src.char_time(cut) // reader_drive.UNITS_PER_MS
    whole = len(spans[after][2])  # groups in a complete frame of the new mode
    first = full = None
    for t, ev, _st, _baud, mode, n in trace:
        if ev & tr.EV_FRAME and mode == m1 and t > t_cut:
            if first is None:
                first = t - t_cut
            if n == whole:
                full = t - t_cut
                break
    # the old speed's window, then up to one frame to the next STX, then the frame
    bound = old_window + 2 * _longest_frame_ms(spans, m1) + 2 * step
    return first, full, bound


@pytest.mark.parametrize("first,phases,contract", SWITCHES)
def test_detection_after_a_mode_change(first, phases, contract):
    figures = []
    bounds = []
    for seed, after, step in RUNS:
        data, m0, m1, src, r, trace = _switch_run(
            first, phases, contract, seed, after=after, step=step
        )
        assert (r.mode, r.port.baud, r.switches) == (m1, BAUD[m1], 2)
        states = [tr.STATE_NAMES[st] for _t, ev, st, _b, _m, _n in trace if ev & tr.EV_STATE]
        assert states == ["ok"]  # no "signal lost" during the change
        window = tr.WINDOW_1200_MS if m0 == MODE_HISTORIQUE else tr.WINDOW_9600_MS
        t_first, t_full, bound = _detection(
            data, m1, src, trace, after=after, step=step, old_window=window
        )
        assert t_first <= t_full <= bound, (t_first, t_full, bound)
        figures.append((t_first, t_full))
        bounds.append(bound)
    print(
        "\n%s -> %s (%d-phase %s): detection after the change in ms of line time, first "
        "valid frame / first whole frame: %s (bounds %s)"
        % (MODE_NAMES[m0], MODE_NAMES[m1], phases, contract, figures, bounds)
    )


@pytest.mark.parametrize("first,phases,contract", SWITCHES)
def test_detection_is_the_same_on_the_unix_port(tmp_path, first, phases, contract):
    data, _m0, _m1, src, r, trace = _switch_run(first, phases, contract, 1)
    path = tmp_path / "switch.tic"
    path.write_bytes(data)
    want = ["SEG %d %d %d" % (b, baud, src.char_time(b) // reader_drive.UNITS_PER_MS)
            for b, baud in src.segments]  # fmt: skip
    want += ["EV %d %d %d %d %d %d" % e for e in trace]
    want.append("END %d %d" % (r.frames, r.switches))
    end = src.char_time(len(data)) // reader_drive.UNITS_PER_MS
    got = _mp("detect", path, BAUD[_m1], end, STEP)
    assert got == want


# -- 2. the firmware at real line speed --------------------------------------------------------


@pytest.fixture(scope="module")
def _built():
    subprocess.run([sys.executable, "tools/build.py"], cwd=ROOT, check=True, capture_output=True)


def _sim(*args):
    proc = subprocess.run(
        [sys.executable, "tools/sim.py", "--no-build", *map(str, args)],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HANG,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Traceback" not in out
    return out


def _frames(out):
    return re.findall(r"INFO app: frame \d+: (\w+), \d+ groups", out)


def test_firmware_reads_a_ticsim_file_at_line_speed(_built, tmp_path):
    path = tmp_path / "hist.tic"
    path.write_bytes(_gen("--mode", "historique", "--phases", 1, "--contract", "hchp",
                          "--seed", 5, "--frames", 6))  # fmt: skip
    out = _sim("--tic", path, "--exit-after-frames", 2)
    assert "TIC mode auto at 1200 Bd" in out and "TIC ok: historique mode at 1200 Bd" in out
    assert _frames(out) == ["historique", "historique"]


def test_firmware_follows_a_mode_change_at_line_speed(_built, tmp_path):
    path = tmp_path / "switch.tic"
    path.write_bytes(_gen("--mode", "historique", "--phases", 1, "--contract", "base",
                          "--seed", 6, "--switch-after", 2, "--frames", 12))  # fmt: skip
    out = _sim("--tic", "%s,once" % path, "--exit-after-frames", 4)
    modes = _frames(out)
    assert modes[0] == "historique" and modes[-1] == "standard", out
    assert "detected historique mode at 1200 Bd (0 speed switches)" in out
    assert "detected standard mode at 9600 Bd (1 speed switches)" in out
    assert "signal lost" not in out


class _TicsimServer:
    """ticsim --realtime --out tcp-listen:0 in the background; `port` once it listens."""

    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "tools/ticsim.py",
                "--realtime",
                "--out",
                "tcp-listen:0",
                *map(str, args),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stderr.readline()
        m = re.search(r"listening on [\d.]+:(\d+)", line)
        assert m, line
        self.port = int(m.group(1))

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stderr.close()


@pytest.mark.parametrize("mode,baud", [("historique", 1200), ("standard", 9600)])
def test_firmware_reads_ticsim_over_tcp_in_real_time(_built, mode, baud):
    server = _TicsimServer("--mode", mode, "--phases", 1, "--contract", "base", "--seed", 7)
    try:
        out = _sim("--tic", "tcp://127.0.0.1:%d" % server.port, "--exit-after-frames", 2)
    finally:
        server.close()
    assert _frames(out) == [mode, mode]
    # tcp delivers decoded bytes: the frames' mode sets the speed, nothing to switch
    assert "detected %s mode at %d Bd (0 speed switches)" % (mode, baud) in out
    assert "TIC ok: %s mode at %d Bd" % (mode, baud) in out


# -- 3. bit errors -----------------------------------------------------------------------------

# Survey (`ber-survey 20 300`: 20 seeds x 300 frames for each of these four meters, BER 1e-3,
# 24,000 frames): 6,332 groups passed the checksum with a corrupted content (0.95% of the
# 667,098 kept), 5,401 of them bit-6 flips (a sum modulo 64 cannot see +-64); 1,924 were energy
# indexes, 11 of them still all digits. With a guard that published every plausible value, one
# got through: standard three-phase producer, seed 110, EASF04 "000000002" for "000000000" (bit
# 1 flipped in the last digit and in the checksum character: the checksum agrees; +2 Wh is
# within the guard's slack), and as the reference it then had every later true 0 rejected.
# The guard now publishes a value only once the next frame confirms it. Survey of that
# (parser + guard; 20 seeds x 300 frames of these four meters and standard three-phase tempo,
# 30,000 frames): no wrong value confirmed, no decrease, no true value rejected; of the 13
# corrupt all-digit indexes only seed 110's 2 was plausible, and it was dropped. The cost,
# from the frame where the clean index changed to the first publication of that value or
# more: 67% one frame, 25% two, 6.5% three, 2% four or more, mean 2.1 s, at most 21 s
# (historique three-phase, 3 s frames); the former policy published 80% in the same frame,
# mean 0.35 s. Counted from the frame where the new value first arrived intact: 82% one frame,
# 15% two, 3% more (the confirming group was lost to its checksum).
BER_RUNS = (
    ("standard", 3, "producer", (11, 110)),
    ("historique", 3, "tempo", (11, 12)),
    ("standard", 1, "base", (13,)),
    ("historique", 1, "hchp", (13,)),
)
BER_FRAMES = 200
_GUARDED = {r[labels.NAME] for r in labels.ROWS if r[labels.FLAGS] & labels.F_GUARDED}


def ber_run(mode, phases, contract, seed, *, frames=BER_FRAMES, ber="1e-3"):
    """Counts for one noisy stream against its clean twin; the 'bad' list must stay empty:
    confirmed values that differ from the clean value of the frame they came from, or that
    go down."""
    base = ("--mode", mode, "--phases", phases, "--contract", contract, "--seed", seed,
            "--frames", frames)  # fmt: skip
    clean = _gen(*base)
    noisy = _gen(*base, "--ber", ber)
    assert len(clean) == len(noisy) and clean != noisy
    spans = _frame_spans(clean)
    out, r = reader_drive.frames(noisy, BAUD[tr.parse_mode(mode)])
    c = {
        "frames": len(out),
        "clean frames": len(spans),
        "groups": 0,
        "undetected": 0,  # groups that passed the checksum yet differ from the clean ones
        "undetected bit 6": 0,  # of which every difference is bit 6 (invisible mod 64)
        "undetected index": 0,  # of which an energy index's value
        "undetected index digits": 0,  # ... still all digits (only the guard can stop it)
        "undetected index pending": 0,  # ... made a candidate by the guard (plausible)
        "confirmed": 0,  # changes of a published value
        "bad confirmed": 0,
        "true rejected": 0,  # energy indexes equal to the clean ones, yet rejected
        "checksum errors": r.parser.checksum_errors,
        "rejected": r.guard.rejected,
        "dropped": r.guard.dropped,
    }
    k = 0
    bad = []
    published = {}  # label -> confirmed value
    seen = {}  # label -> [(clean frame, value)] of the candidates and accepted values
    for off, _mode, groups, codes, conf in out:
        etx = off - 1  # the byte that ended the frame: a real ETX or one made by a bit flip
        while spans[k][1] < etx:
            k += 1
        assert spans[k][0] <= etx, "frame end outside every clean frame"
        ref = spans[k][2]
        for (label, hd, value), code, confirmed in zip(groups, codes, conf):
            c["groups"] += 1
            if code != FREE:
                if code != REJECT:
                    seen.setdefault(label, []).append((k, value))
                elif ref.get(label) == (hd, value):
                    c["true rejected"] += 1
                before = published.get(label, -1)
                if confirmed != before:
                    c["confirmed"] += 1
                    # the frame it came from: the last candidate or accepted value equal to it
                    origin = [kk for kk, v in seen[label] if v.isdigit() and int(v) == confirmed]
                    want = spans[origin[-1]][2].get(label) if origin else None
                    if confirmed < before or want is None or int(want[1]) != confirmed:
                        c["bad confirmed"] += 1
                        bad.append((label, before, confirmed, want))
                    published[label] = confirmed
            if ref.get(label) == (hd, value):
                continue
            c["undetected"] += 1
            if label in ref and (ref[label][0] is None) == (hd is None):
                a = label + (hd or "") + value
                b = label + (ref[label][0] or "") + ref[label][1]
                if len(a) == len(b) and all(
                    x == y or ord(x) ^ ord(y) == 0x40 for x, y in zip(a, b)
                ):
                    c["undetected bit 6"] += 1
                if label in _GUARDED:
                    c["undetected index"] += 1
                    if value.isdigit():
                        c["undetected index digits"] += 1
                    if code == PENDING:
                        c["undetected index pending"] += 1
    return c, bad


@pytest.mark.parametrize("mode,phases,contract,seeds", BER_RUNS)
def test_no_corrupt_index_is_published(mode, phases, contract, seeds):
    for seed in seeds:
        c, bad = ber_run(mode, phases, contract, seed)
        print("\nBER 1e-3 %s %d-phase %s seed %d: %s" % (mode, phases, contract, seed, c))
        assert not bad, bad
        assert c["true rejected"] == 0
        assert c["confirmed"] > 0 and c["frames"] > 0.9 * c["clean frames"]
        if seed == 110:  # EASF04 2 for 0 (see the survey above): a candidate, dropped
            assert c["undetected index pending"] == 1 and c["dropped"] >= 1


def test_ber_run_is_the_same_on_the_unix_port(tmp_path):
    base = ("--mode", "standard", "--phases", 1, "--contract", "base", "--seed", 13,
            "--frames", 60, "--ber", "1e-3")  # fmt: skip
    noisy = _gen(*base)
    path = tmp_path / "noisy.tic"
    path.write_bytes(noisy)
    out, r = reader_drive.frames(noisy, 9600)
    want = []
    for off, mode, groups, codes, conf in out:
        want.append("F %d %d %d" % (off, mode, len(groups)))
        for (label, _h, value), code, c in zip(groups, codes, conf):
            if code != FREE:
                v = int(value) if value.isdigit() else -1
                want.append("G %s %d %d %d" % (label, v, code, c))
    g = r.guard
    want.append("END %d %d %d %d" % (r.frames, g.rejected, g.dropped, r.parser.checksum_errors))
    assert any(ln.startswith("G ") and ln.split()[3] == "2" for ln in want)  # PENDING
    proc = upy.run(
        ["tests/reader_drive.py", "frames", path, "9600"], upy.test_path(), heap="8M", timeout=HANG
    )
    assert proc.returncode == 0, proc.stderr
    got = [ln for ln in proc.stdout.splitlines() if ln[:2] in ("F ", "G ") or ln[:4] == "END "]
    assert got == want


if __name__ == "__main__" and sys.argv[1:2] == ["ber-survey"]:
    # The residual-risk survey behind the figures in the reader's notes: many seeds, totals.
    #   PYTHONPATH=lib:.:tools:tests .venv/bin/python tests/test_autodetect.py ber-survey [N [F]]
    n_seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    n_frames = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    for mode, phases, contract, _s in BER_RUNS:
        total = {}
        for seed in range(100, 100 + n_seeds):
            c, bad = ber_run(mode, phases, contract, seed, frames=n_frames)
            for key, v in c.items():
                total[key] = total.get(key, 0) + v
            for b in bad:
                print("BAD", mode, seed, b)
        print(mode, phases, contract, "%d seeds x %d frames:" % (n_seeds, n_frames), total)
