# micropython: also
"""firmware/tic_reader.py in simulated line time: real captures replayed by the host HAL's file
source (bytes garbled as a UART garbles them at the wrong speed), on a clock the test moves, so
every time asserted here is line time, independent of the machine.

Detection at either speed, from the wrong speed, after a mode change mid-stream; fixed modes;
the signal states (no signal, garbled, signal lost); the state file; the index guard's codes
per frame; status(); ticks wrapping past 2^30."""

import os

from reader_drive import Clock, DecodedPort, SilentPort, detect, drive

from firmware import state as persist
from firmware import tic_reader as tr
from firmware.hal import host
from tic import MODE_HISTORIQUE, MODE_STANDARD, MODE_UNKNOWN, labels
from tic.encode import frame
from tic.guard import ACCEPT, FREE, PENDING, REJECT

CAPS = "tests/fixtures/captures/"
HIST = CAPS + "hist-mono-tempo-teleinfo-nom.raw"  # 668 B at 1200 Bd: 5.6 s, frames of 275 B
STD = CAPS + "std-tri-tempo-teleinfo-nom.raw"  # 1795 B at 9600 Bd: 1.9 s, frames of 1264 B
STD_MONO = CAPS + "std-mono-hchp-goteleinfo.raw"  # one whole frame, 864 B
HIST_FRAME_MS = 2300  # longest frame of each capture on its line
STD_FRAME_MS = 1320
STEP = 20  # ms between polls (the host HAL's poll period)


def _data(path):
    with open(path, "rb") as f:
        return f.read()


def _first(trace, bit, mode=None):
    """Time of the first service() whose events had `bit` (and the reader's mode, if given)."""
    for t, ev, _st, _baud, m, _n in trace:
        if ev & bit and (mode is None or m == mode):
            return t
    return None


def _states(trace):
    out = []
    for _t, ev, st, _baud, _m, _n in trace:
        if ev & tr.EV_STATE:
            out.append(tr.STATE_NAMES[st])
    return out


def _state_times(trace):
    return [t for t, ev, _st, _baud, _m, _n in trace if ev & tr.EV_STATE]


_TAG = int.from_bytes(os.urandom(4), "big")


def _tmp(name):
    # The unix port has no getpid(): a random tag, so that two runs at once never share files.
    return "/tmp/linky-test-%s-%d.json" % (name, os.getpid() if hasattr(os, "getpid") else _TAG)


def _remove(path):
    for p in (path, path + ".tmp"):
        try:
            os.remove(p)
        except OSError:
            pass


# -- detection ---------------------------------------------------------------------------------


def test_historique_at_1200_needs_no_switch():
    _src, r, trace = detect(_data(HIST) * 4, 1200, 8000)
    assert (r.state, r.mode, r.port.baud, r.switches) == (tr.OK, MODE_HISTORIQUE, 1200, 0)
    # The first STX is at byte 139 and the frame ends at byte 414: 3.45 s of line.
    assert _first(trace, tr.EV_FRAME) == 3460
    assert _states(trace) == ["ok"]
    assert r.frames >= 2 and r.guard.rejected == 0


def test_standard_at_9600_needs_no_switch():
    _src, r, trace = detect(_data(STD) * 4, 9600, 4000)
    assert (r.state, r.mode, r.port.baud, r.switches) == (tr.OK, MODE_STANDARD, 9600, 0)
    # The frame ends 1.5 s into the line; at 9600 Bd the reader then waits for a whole
    # buffer (READ_SIZE bytes, 0.27 s) unless the line pauses first.
    assert _first(trace, tr.EV_FRAME) <= 1500 + tr.READ_SIZE * 1000 // 960 + STEP


def test_wrong_start_converges_to_standard():
    _src, r, trace = detect(_data(STD) * 12, 1200, 16000)
    assert (r.mode, r.port.baud, r.switches, r.state) == (MODE_STANDARD, 9600, 1, tr.OK)
    assert _first(trace, tr.EV_SWITCH) == tr.WINDOW_1200_MS + STEP
    t = _first(trace, tr.EV_FRAME)
    print("start at 1200 on a standard line: first frame after %d ms of line" % t)
    # the 1200 Bd window, then at most one frame to the next STX, then the frame itself
    assert t <= tr.WINDOW_1200_MS + 2 * STD_FRAME_MS + 2 * STEP


def test_wrong_start_converges_to_historique():
    _src, r, trace = detect(_data(HIST) * 6, 9600, 20000)
    assert (r.mode, r.port.baud, r.switches, r.state) == (MODE_HISTORIQUE, 1200, 1, tr.OK)
    assert _first(trace, tr.EV_SWITCH) == tr.WINDOW_9600_MS + STEP
    t = _first(trace, tr.EV_FRAME)
    print("start at 9600 on a historique line: first frame after %d ms of line" % t)
    assert t <= tr.WINDOW_9600_MS + 2 * HIST_FRAME_MS + 2 * STEP


def _mode_switch(first, k, second, m, start):
    """A line sending capture `first` k times, then `second` m times at its own speed."""
    a = _data(first) * k
    b = _data(second) * m
    speeds = {HIST: 1200, STD: 9600}
    segments = [(0, speeds[first]), (len(a), speeds[second])]
    return detect(a + b, start, 40000, segments=segments), len(a)


def test_follows_a_mode_change_historique_to_standard():
    (src, r, trace), cut = _mode_switch(HIST, 3, STD, 12, 1200)
    t_cut = src.char_time(cut) // host.UNITS_PER_MS
    t = _first(trace, tr.EV_FRAME, MODE_STANDARD)
    print("historique -> standard: first standard frame %d ms after the change" % (t - t_cut))
    assert (r.mode, r.port.baud, r.switches) == (MODE_STANDARD, 9600, 1)
    assert t - t_cut <= tr.WINDOW_1200_MS + 2 * STD_FRAME_MS + 2 * STEP
    assert _states(trace) == ["ok"]  # never "signal lost": detection beats SIGNAL_LOST_MS
    assert _first(trace, tr.EV_DETECT, MODE_STANDARD) == t


def test_follows_a_mode_change_standard_to_historique():
    (src, r, trace), cut = _mode_switch(STD, 4, HIST, 6, 9600)
    t_cut = src.char_time(cut) // host.UNITS_PER_MS
    t = _first(trace, tr.EV_FRAME, MODE_HISTORIQUE)
    print("standard -> historique: first historique frame %d ms after the change" % (t - t_cut))
    assert (r.mode, r.port.baud, r.switches) == (MODE_HISTORIQUE, 1200, 1)
    assert t - t_cut <= tr.WINDOW_9600_MS + 2 * HIST_FRAME_MS + 2 * STEP
    assert _states(trace) == ["ok"]


def test_fixed_mode_never_switches():
    # Standard line, reader fixed to historique (1200 Bd): garbled after one window.
    _src, r, trace = detect(_data(STD) * 8, 1200, 14000, mode=MODE_HISTORIQUE)
    assert (r.switches, r.frames, r.port.baud, r.state) == (0, 0, 1200, tr.GARBLED)
    assert _states(trace) == ["garbled"]
    assert _first(trace, tr.EV_STATE) == tr.WINDOW_1200_MS + STEP
    # Fixed to standard on the same line: fine, and its parser refuses the other mode.
    _src, r, trace = detect(_data(STD) * 3, 9600, 4000, mode=MODE_STANDARD)
    assert (r.switches, r.state, r.mode) == (0, tr.OK, MODE_STANDARD)
    _src, r, _trace = detect(_data(HIST) * 3, 1200, 8000, mode=MODE_STANDARD)
    assert r.frames == 0 and r.port.baud == 1200 and r.parser.groups == 0


# -- signal states -----------------------------------------------------------------------------


def test_no_signal():
    port = SilentPort()
    r = tr.TicReader(port)
    trace = drive(r, Clock(), 30000, 100, trace=[])
    assert _states(trace) == ["no signal"]
    assert _first(trace, tr.EV_STATE) == 100 + tr.NO_SIGNAL_MS  # counted from the first poll
    assert r.switches == 0 and port.bauds == [1200]  # a silent line is silent at any speed
    st = r.status(30000)
    assert st["state"] == "no signal" and st["since_byte_s"] is None


def test_garbled_random_bytes_at_both_speeds():
    # Noise on the line (random bytes at 9600 Bd): no valid group at either speed.
    x = 12345
    noise = bytearray(30000)
    for i in range(len(noise)):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        noise[i] = (x >> 16) & 0x7F
    _src, r, trace = detect(bytes(noise), 1200, 30000, line_baud=9600)
    assert r.parser.groups == 0 and r.frames == 0
    assert _states(trace) == ["garbled"]
    # one window at each speed, from the first poll
    assert _first(trace, tr.EV_STATE) == STEP + tr.WINDOW_1200_MS + tr.WINDOW_9600_MS
    assert r.switches >= 6  # and it keeps alternating while garbled
    assert r.status(30000)["state"] == "garbled"


def _last_frame(trace):
    t_last = None
    for t, ev, _st, _b, _m, _n in trace:
        if ev & tr.EV_FRAME:
            t_last = t
    return t_last


def test_signal_lost_after_the_source_stops():
    data = _data(HIST) * 2  # 11.1 s of line, then nothing
    _src, r, trace = detect(data, 1200, 30000)
    t_last = _last_frame(trace)
    assert _states(trace) == ["ok", "signal lost"]
    assert _state_times(trace)[-1] - t_last == tr.SIGNAL_LOST_MS
    assert r.switches <= 1  # at most once, for the few bytes after the last group
    st = r.status(30000)
    assert st["state"] == "signal lost" and st["since_frame_s"] == (30000 - t_last) // 1000
    # Configurable. At 3 s it also shows where the capture's copies join (a frame is lost
    # there: more than 3 s between two whole frames).
    _src, r, trace = detect(data, 1200, 30000, signal_lost_ms=3000)
    assert _states(trace) == ["ok", "signal lost", "ok", "signal lost"]
    assert _state_times(trace)[-1] - _last_frame(trace) == 3000


def test_bytes_again_after_no_signal():
    port = DecodedPort(b"\x00\x7f" * 10, rate=3)
    silent = [True]
    read = port.readinto
    port.readinto = lambda buf, n=-1: None if silent[0] else read(buf)
    r = tr.TicReader(port)
    clk = Clock()
    trace = drive(r, clk, 6000, 100, trace=[])
    silent[0] = False
    drive(r, clk, 20000, 100, trace=trace)
    assert _states(trace) == ["no signal", "starting", "garbled"]


# -- the rest of the reader --------------------------------------------------------------------


def test_status_after_detection():
    # One whole frame, repeated: the same indexes every time (copies of a longer capture
    # would go back in time where they join, and the guard would rightly reject that).
    _src, r, _trace = detect(_data(STD_MONO) * 16, 1200, 12000)
    st = r.status(12000)
    assert st["state"] == "ok" and st["state_code"] == tr.OK
    assert (st["setting"], st["mode"], st["baud"], st["switches"]) == ("auto", "standard", 9600, 1)
    assert st["since_frame_s"] <= 1 and st["since_byte_s"] == 0
    assert st["frames"] == r.frames >= 3
    assert st["rejected_indexes"] == 0 and st["accepted_indexes"] > 0
    assert st["index_resyncs"] == 0
    p = st["parser"]
    assert p["groups"] > 0 and p["bytes"] > 0 and p["frames"] >= st["frames"]


def test_state_file_saves_the_detected_mode_and_starts_there():
    path = _tmp("state")
    _remove(path)
    try:
        assert tr.start_baud(MODE_UNKNOWN, 0, path) == 1200  # nothing saved: factory mode
        detect(_data(STD) * 12, 1200, 12000, state_path=path)
        assert persist.load(path) == {"mode": "standard", "baud": 9600}
        assert persist.load(path + ".tmp") is None  # renamed into place
        assert tr.start_baud(MODE_UNKNOWN, 0, path) == 9600
        # A new reader on a port opened at 1200 moves it to the saved speed: no switch.
        _src, r, trace = detect(_data(STD) * 4, 1200, 3000, state_path=path, baud=0)
        assert (r.port.baud, r.switches, r.state) == (9600, 0, tr.OK)
        assert not _first(trace, tr.EV_DETECT)  # same mode as saved: nothing to write
        # Fixed modes and an explicit speed ignore it.
        assert tr.start_baud(MODE_HISTORIQUE, 0, path) == 1200
        assert tr.start_baud(MODE_UNKNOWN, 1200, path) == 1200
        # A file that does not hold together is ignored.
        for bad in ('{"mode": "standard", "baud": 1200}', '{"mode": "x"}', "[1]", "{"):
            with open(path, "w") as f:
                f.write(bad)
            assert tr.load_saved(path) == (MODE_UNKNOWN, 0)
            assert tr.start_baud(MODE_UNKNOWN, 0, path) == 1200
    finally:
        _remove(path)


def test_persist_module():
    path = _tmp("persist")
    _remove(path)
    try:
        assert persist.load(path) is None
        persist.save(path, {"a": 1})
        persist.save(path, {"a": 2, "b": "x"})  # over an existing file
        assert persist.load(path) == {"a": 2, "b": "x"}
        with open(path, "w") as f:
            f.write('{"a": ')  # cut by a power loss in a non-atomic writer
        assert persist.load(path) is None
    finally:
        _remove(path)


def test_decoded_source_follows_the_frames_mode():
    # tcp (ser2net): the bytes arrive decoded whatever speed we set; the reader adopts the
    # frames' mode and speed instead of switching away from a source that works.
    port = DecodedPort(_data(STD), rate=100)
    path = _tmp("decoded")
    _remove(path)
    try:
        r = tr.TicReader(port, state_path=path)
        drive(r, Clock(), 6000, 100)
        assert port.bauds == [1200, 9600] and r.switches == 0
        assert (r.mode, r.state) == (MODE_STANDARD, tr.OK)
        assert persist.load(path) == {"mode": "standard", "baud": 9600}
    finally:
        _remove(path)


def _std_frames(easts):
    out = []
    for k, east in enumerate(easts):
        g = [("ADSC", "041776199277"), ("DATE", "", "H2402%02d120000" % (k % 28 + 1))]
        g.append(("EAST", "%09d" % east))
        g.append(("EASF01", "%09d" % (1000 + k)))
        g.append(("EASF02", "000000777"))  # a register that does not move
        g.append(("PREF", "09"))
        g.append(("SINSTS", "00500"))
        out.append(frame(MODE_STANDARD, g))
    return b"".join(out)


def test_every_frame_goes_through_the_index_guard():
    easts = [5000, 5001, 5002, 4000, 5003, 5004]  # a decrease at frame 4
    seen = []
    whole = []
    data = _std_frames(easts)
    port = DecodedPort(data, rate=40)
    east = labels.index("EAST")

    def on_frame(f, ok):
        seen.append((bytes(ok[: f.n]), r.guard.last(east)))
        # the frame is whole when service() hands it over (valid until the next poll)
        whole.append(f is r.frame and ok is r.guard.ok and f.int_of(b"EAST") in easts)

    r = tr.TicReader(port, baud=9600, on_frame=on_frame)
    drive(r, Clock(), (len(data) // 40 + 1) * 100, 100)  # the frames once
    assert len(seen) == len(easts)
    # groups: ADSC DATE EAST EASF01 EASF02 PREF SINSTS; a new value is published (becomes
    # the reference) when the next frame confirms it; the candidate survives the decrease
    codes = [s[0][2] for s in seen]
    assert codes == [PENDING, PENDING, PENDING, REJECT, PENDING, PENDING]
    assert [s[1] for s in seen] == [-1, 5000, 5001, 5001, 5002, 5003]
    assert [s[0][3] for s in seen] == [PENDING] * 6  # EASF01 grows too
    # a register that does not move is the reference itself from the second frame on
    assert [s[0][4] for s in seen] == [PENDING] + [ACCEPT] * 5
    assert seen[0][0][:2] == bytes((FREE, FREE)) and seen[0][0][5:] == bytes((FREE, FREE))
    st = r.status()
    assert st["rejected_indexes"] == 1 and st["unconfirmed_indexes"] == 0
    assert whole == [True] * len(easts)


def test_ticks_wrap_changes_nothing():
    # The reader's clock wraps past 2^30 (time.ticks_ms does, every 12.4 days) mid-run.
    data = _data(STD) * 12
    base = detect(data, 1200, 12000)[2]
    clk = Clock()
    src = host.FileSource(data, baud=1200, loop=False, clock=clk)
    r = tr.TicReader(src, baud=1200)
    off = (1 << 30) - 5000
    wrapped = drive(r, clk, 12000, STEP, trace=[], offset=off)
    assert wrapped == base


def test_poll_reads_at_most_a_buffer_and_events_wait_for_service():
    clk = Clock()
    src = host.FileSource(_data(STD), baud=9600, clock=clk)
    r = tr.TicReader(src, baud=9600)
    clk.t = 2000  # 1920 bytes waiting
    assert r.poll(2000) == tr.READ_SIZE == len(r.buf)
    # Whole buffers while the line is busy; the rest once it pauses (the clock stands still
    # here, so the next poll sees no growth and reads it).
    polls = 1
    while not r.events & tr.EV_FRAME and polls < 20:
        r.poll(2000)
        polls += 1
    assert r.events & tr.EV_FRAME and r.frames == 1 and polls <= 1920 // tr.READ_SIZE + 2
    assert r.service() & tr.EV_FRAME and r.events == 0
    for _ in range(10):  # the rest of the 1920 bytes: no second complete frame in them
        r.poll(2000)
    assert r.poll(2000) == 0 and r.events == 0 and r.frames == 1


def test_a_read_of_several_frames_hands_each_over_whole_at_once():
    # One frame buffer: a read holding the end of a frame and the next ones is fed up to each
    # ETX; the rest waits in the read buffer until service() has handed the frame over, and
    # poll() says "again at once" (len(buf)) meanwhile, so no frame waits a poll period.
    one = [frame(MODE_HISTORIQUE, [("ADCO", "021728123456"), ("PAPP", "%05d" % i)])
           for i in range(1, 41)]  # fmt: skip
    size = len(one[0])  # 37 B
    port = DecodedPort(b"".join(one), rate=200)  # 200 B a read: 5 or 6 frames
    seen = []

    def on_frame(f, ok):
        seen.append((clk.t, f.seq, f.int_of(b"PAPP"), f is r.frame))

    clk = Clock(100)
    r = tr.TicReader(port, MODE_HISTORIQUE, on_frame=on_frame)
    n = r.poll(100)
    assert n == len(r.buf) and r.events & tr.EV_FRAME  # frame 1 read, the rest waits
    assert r.parser.bytes == size and r._at == size and r._end == 200
    while n == len(r.buf):  # the rest of the drain task's turn at t = 100
        r.service()
        n = r.poll(100)
    assert n == 200 and len(seen) == 200 // size
    drive(r, clk, 700, 100)  # 6 more reads
    count = 1400 // size
    assert [s[2] for s in seen] == list(range(1, count + 1))
    assert all(s[1] == s[2] and s[3] for s in seen)
    # each frame handed over in the turn of the read that completed it
    assert [s[0] for s in seen] == [100 * ((size * i + 199) // 200) for i in range(1, count + 1)]
    p = r.parser
    assert p.frames == count and p.checksum_errors == p.format_errors == p.interrupted == 0
    assert p.bytes == 1400 and r._at == 0  # 7 reads, fed to their end


def test_last_poll_ms_tracks_every_poll():
    # The app's watchdog feeder reads it: the time given to the last poll(), masked to 30
    # bits like ticks_ms; before the first poll, the construction time (so a reader that never
    # polls ages from there).
    r = tr.TicReader(SilentPort())
    assert 0 <= tr._diff(tr._ticks_ms(), r.last_poll_ms) < 1000
    for t in (0, 20, 5000, (1 << 30) + 7):
        r.poll(t)
        assert r.last_poll_ms == t & 0x3FFFFFFF


def test_settings():
    assert tr.parse_mode(None) == tr.parse_mode("auto") == MODE_UNKNOWN
    assert tr.parse_mode(" Standard ") == MODE_STANDARD
    assert tr.parse_mode("historique") == MODE_HISTORIQUE
    for bad, call in (
        ("MODE", lambda: tr.parse_mode("tempo")),
        ("1200 or 9600", lambda: tr.start_baud(MODE_UNKNOWN, 4800)),
        ("mode", lambda: tr.TicReader(SilentPort(), 7)),
    ):
        try:
            call()
        except ValueError as e:
            assert bad in str(e), str(e)
        else:
            raise AssertionError("accepted: " + bad)


def test_constructor_options_and_unknown_option():
    r = tr.TicReader(SilentPort(), MODE_STANDARD, no_signal_ms=1000, signal_lost_ms=2000)
    assert (r.setting, r.auto, r.no_signal_ms, r.signal_lost_ms) == (
        MODE_STANDARD,
        False,
        1000,
        2000,
    )
    assert r.port.baud == 9600 and r.state_path is None and r.state == tr.STARTING
    try:
        tr.TicReader(SilentPort(), bad_option=1)
    except TypeError:
        pass
    else:
        raise AssertionError("unknown option accepted")


def test_service_survives_no_room_for_its_messages():
    # service() loads the messages' code (firmware.tic_report) for a state change: without
    # room for it, the log line is lost, never the reader nor the frame callback.
    seen = []
    r = tr.TicReader(SilentPort(), on_frame=lambda f, ok: seen.append(f))
    report = tr._report

    def no_room(*args):
        raise MemoryError

    tr._report = no_room
    try:
        r.events = tr.EV_STATE | tr.EV_FRAME
        assert r.service() == tr.EV_STATE | tr.EV_FRAME
    finally:
        tr._report = report
    assert seen == [None] and r.events == 0


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
