"""TIC acquisition: drain the UART into the parser, find the meter's mode and speed, watch the
signal, and check every frame's energy indexes.

    reader = TicReader(port, MODE_UNKNOWN, state_path="tic_state.json", on_frame=cb)
    await reader.run()              # the drain task: poll(), service(), await port.wait()

    reader.poll(now_ms) -> n        # one synchronous step: read, feed, update state; no alloc;
                                    # n == len(reader.buf): poll again at once
    reader.service()                # what poll() left to do: logs, saving, on_frame(frame, ok)
    reader.last_poll_ms             # the now_ms of the last poll (ticks_ms): liveness for a
                                    # watchdog, time.ticks_diff(time.ticks_ms(), it) is the
                                    # reader's silence; set at construction, before any poll
    reader.state, STATE_NAMES[...]  # STARTING, OK, NO_SIGNAL, GARBLED, SIGNAL_LOST
    reader.mode, reader.port.baud   # the mode of the last valid frame, the current speed
    reader.frame, reader.ok         # last valid frame (valid until the next poll) and its
                                    # IndexGuard codes; an energy index publishes
                                    # reader.guard.last(row), the value the next frame
                                    # confirmed (tic.guard: what to publish)
    reader.status() -> dict         # for the status page and MQTT (allocates; its code,
                                    # with the log lines and the state file's, is in
                                    # firmware/tic_report.py, loaded for the call)

Mode and speed (setting "auto"): a Linky sends historique at 1200 Bd or standard at 9600 Bd,
and Enedis can switch it remotely at any time, so the reader keeps checking. It starts at the
last speed that worked (a small state file, see firmware/state.py), else 1200 Bd (the factory
mode). When no valid group has arrived within a window (counted from the last switch or the
last valid group) it re-inits the UART at the other speed. A fixed setting ("historique",
"standard") never switches.

The window, per speed, from the physics (10 bits a character). At the right speed the parser
counts a group only inside a frame, so after a switch it must first see an STX: in the worst
case we switch just after one and wait a whole frame. The longest frames: historique
three-phase Tempo, ~360 characters = 3.0 s at 1200 Bd; standard three-phase producer, ~1,900
characters = 2.0 s at 9600 Bd. Then the first group (ADCO/ADSC, ~21 characters: 0.18 s at
1200 Bd, 0.02 s at 9600) and the reader's latency (a poll every 0.1 s on the ESP32): worst
cases 3.3 s at 1200 Bd and 2.1 s at 9600 Bd (usually a few tenths). The windows (4.5 s at
1200 Bd, 3 s at 9600 Bd) add about a second for a first group lost to noise and for the UART
re-init, so a right speed is never left before it had its chance; longer ones would only slow
detection. (The parser counts a valid group at its CR, inside its frame: the first group is
what counts.)
Detection is complete at the first whole frame in the new mode: after the meter changes mode,
the window of the old speed (from its last valid group), then up to one frame for the next
STX and one frame: at most 4.5 + 2 + 2 = 8.5 s to standard and 3 + 3 + 3 = 9 s to
historique, below SIGNAL_LOST_MS (10 s), so a mode change never shows as a lost signal.
A window in which not one byte arrived does not switch: a silent line is silent at any speed
(no edges for a UART to decode), and the speed that last worked is the best guess for when
the signal comes back.

Signal states (the support question "no signal or garbled?" answered by the device):
  starting     since boot, nothing decided yet
  ok           a valid frame within SIGNAL_LOST_MS
  no signal    no frame yet and no byte at all for NO_SIGNAL_MS (5 s): wiring,
               the TIC stage's power or enable pin, the RX pull-up
  garbled      no frame yet, bytes arrive but no valid group at either speed (auto: one
               window at each) or at the fixed one: inverted signal, wrong pin, noise; the
               reader keeps alternating speeds meanwhile
  signal lost  had frames, but none for SIGNAL_LOST_MS (whatever arrives: nothing or noise)

One frame buffer: the parser keeps a frame readable only until the next one starts, and a
read may hold the end of frame N and the start of N+1. So poll() feeds with stop=True: the
parser returns right after the ETX that completes a frame, the rest of the read stays in
`buf`, and the next poll() feeds it before reading the port again. poll() then returns
len(buf), as after a full read, so the drain task calls service() and polls again at once:
a frame waits for no extra poll period (docs/design/parser.md, "One frame buffer").

Allocation: poll() allocates nothing after warm-up (tests/mptest_tic_reader.py proves it with
the heap locked, on the host HAL, including speed switches); it only sets bits in `events`.
The work that allocates (log lines, the state file, the frame callback) happens in service(),
which the drain task calls after a poll that set events; run() itself adds nothing per turn
(port.wait() is asyncio's reusable sleep object; proven with the heap locked too). Time:
poll(now_ms) takes a time.ticks_ms() value; differences are taken modulo 2^30 like
ticks_diff, and the ages kept are capped at 2^28 ms (3 days) so that they never alias.
Memory: about 4 KB of code and 0.6 KB per reader on a 32-bit board, its parser and guard
apart; firmware/tic_report.py (log lines, state file, status) is loaded only for its calls
(docs/design/memory-diet.md).
"""

import asyncio
import time

# tic.guard and tic.parser are loaded here, before firmware.tic_report builds the reader's
# guard and parser: code loaded for a call and dropped leaves no hole under them.
import tic.guard
import tic.parser  # noqa: F401
from firmware import unload
from log import getLogger
from tic import BAUD, MODE_UNKNOWN

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# Signal states (small ints for MQTT and the web page; STATE_NAMES gives the text).
STARTING = const(0)
OK = const(1)
NO_SIGNAL = const(2)
GARBLED = const(3)
SIGNAL_LOST = const(4)
STATE_NAMES = ("starting", "ok", "no signal", "garbled", "signal lost")

# Bits of TicReader.events: what a poll() saw that service() has to act on.
EV_FRAME = const(1)  # a valid frame completed: reader.frame, reader.ok
EV_STATE = const(2)  # the signal state changed
EV_DETECT = const(4)  # a frame's mode differs from the one saved: save it
EV_SWITCH = const(8)  # auto-detection changed the speed

# The "MODE" setting: "auto" is MODE_UNKNOWN (the parser then takes either mode).
SETTINGS = ("auto", "historique", "standard")

DEFAULT_BAUD = const(1200)  # a Linky leaves the factory in historique mode
# Bytes per read: at most the parser's CHUNK (256) so it copies a chunk in one C move; when a
# read fills the buffer the parser also scans it in place instead of staging it. 256 B is
# 0.27 s at 9600 Bd.
READ_SIZE = const(256)
WINDOW_1200_MS = const(4500)  # detection windows: see the module docstring
WINDOW_9600_MS = const(3000)
NO_SIGNAL_MS = const(5000)
SIGNAL_LOST_MS = const(10000)
STATE_FILE = "tic_state.json"

_MASK = const(0x3FFFFFFF)  # time.ticks_ms period, counter wrap: 2^30
_HALF = const(0x20000000)
_AGE_CAP = const(0x10000000)  # 2^28 ms: ages saturate here
_DEBUG = const(10)  # log.DEBUG

log = getLogger("tic")

try:
    _ticks_ms = time.ticks_ms  # MicroPython
except AttributeError:  # CPython (tests)
    _t0 = time.monotonic()

    def _ticks_ms():
        return int((time.monotonic() - _t0) * 1000) & _MASK


def _diff(a, b):
    """a - b for ticks modulo 2^30, in [-2^29, 2^29). No intermediate reaches 2^30 (a long
    int on the ESP32, whose small ints have 31 bits)."""
    d = (a - b) & _MASK
    if d >= _HALF:
        d = d - _MASK - 1
    return d


def _inc(n):
    return n + 1 if n < _MASK else 0


def _report(call, *args):
    """firmware.tic_report's `call`(*args). That module (set-up, log lines, state file,
    status; about 5 KB loaded, with firmware.state) runs at boot, at a state or mode change
    and for a status: not worth keeping the rest of the time. It stays loaded from the
    boot-time calls (parse_mode, start_baud) to the end of the constructor, so that boot
    loads it once; the constructor, service() and status() drop it when they are done."""
    from firmware import tic_report

    return getattr(tic_report, call)(*args)


def _drop():
    unload("firmware.tic_report", "firmware.state")


def parse_mode(text):
    """MODE_UNKNOWN (auto), MODE_HISTORIQUE or MODE_STANDARD from a setting's text; raises
    ValueError for another."""
    return _report("parse_mode", text)


def load_saved(path):
    """(mode, baud) saved by a previous detection in the file `path`, or (MODE_UNKNOWN, 0)."""
    return _report("load_saved", path) if path else (MODE_UNKNOWN, 0)


def start_baud(mode, baud=0, path=None):
    """The speed to open the TIC port at: `baud` if given (a test or a forced speed), else the
    fixed mode's, else (auto) the one saved in `path`, else DEFAULT_BAUD."""
    return _report("start_baud", mode, baud, path)


class TicReader:
    """Reads one TIC port. `mode`: MODE_UNKNOWN (auto-detect), MODE_HISTORIQUE or
    MODE_STANDARD. Options: `baud` (start speed, see start_baud), `state_path` (where the
    detected mode is kept; None: nowhere), `window_ms` (the detection window at both speeds;
    0: WINDOW_1200_MS / WINDOW_9600_MS), `no_signal_ms`, `signal_lost_ms`, `guard` (an
    IndexGuard), `on_frame(frame, ok)` (called by service())."""

    def __init__(self, port, mode=MODE_UNKNOWN, **options):
        # Construction is done once, by firmware.tic_report.init (its code is not kept).
        try:
            _report("init", self, port, mode, options)
        finally:
            _drop()

    # -- the synchronous step
    def poll(self, now_ms):
        """Read what the port has (one read), feed the parser, update detection and state.
        When the last read is not all fed (its feed stopped after a frame), feed the rest of
        it instead, up to the next frame.

        Returns the number of bytes of the read it fed from (0 if none), or len(buf) while a
        rest waits: len(buf) means more may be waiting, poll again at once (after service()).
        Allocates nothing after warm-up; logging and saving are left to service()."""
        now = now_ms & _MASK
        self.last_poll_ms = now
        if not self._started:
            self._started = True
            self._t_byte = now
            self._new_window(now)
        port = self.port
        p = self.parser
        a = self._at
        if a:
            # The rest of the last read, after the frame the previous poll stopped at (which
            # service() has handed over since): fed up to the next frame's ETX, if any.
            n = self._end
        else:
            k = port.any()
            if 0 < k < len(self.buf) and k != self._prev_any and port.baud == 9600:
                # The line is busy: let the UART gather a whole buffer, which the parser scans
                # about twice as fast (in place instead of staged); the rest is read once the
                # line pauses (no growth since the last poll). At most 0.27 s of delay at
                # 9600 Bd; at 1200 Bd the CPU cost is negligible, so read at once. (Sources
                # that cannot tell say 0.)
                self._prev_any = k
                n = 0
            else:
                self._prev_any = 0
                n = port.readinto(self.buf) or 0
            if k or n:
                self._t_byte = now
                self._had_byte = True
        if n:
            # Stopped after a frame, the parser leaves the rest in buf for the next poll.
            a += p.feed(self.buf, n - a, a, True)
            self._at = a if a < n else 0
            self._end = n
        if self._align:
            # The frame's mode says the line runs at another speed than ours: only possible
            # when the bytes come decoded from elsewhere (tcp: ser2net). Follow it, so that
            # `baud` and the saved state tell the truth.
            port.set_baud(self._align)
            p.reset()
            self._align = 0
            self._set_window()
            self._new_window(now)
        g = p.groups
        if g != self._groups:
            self._groups = g
            self._bad = 0
            self._new_window(now)
        elif _diff(now, self._ref) >= self.window_ms:
            got_bytes = p.bytes != self._win_bytes
            if got_bytes and self._bad < 255:
                self._bad += 1
            self._new_window(now)
            if self.auto and got_bytes:
                port.set_baud(9600 if port.baud == 1200 else 1200)
                p.reset()  # the partial frame was at the old speed
                self._at = 0  # and so was any rest of the last read
                self._set_window()
                self.switches = _inc(self.switches)
                self.events |= EV_SWITCH
        # The signal state. The ages kept saturate, so that a very old time never aliases
        # into a recent one.
        if _diff(now, self._t_frame) > _AGE_CAP:
            self._t_frame = (now - _AGE_CAP) & _MASK
        if _diff(now, self._t_byte) > _AGE_CAP:
            self._t_byte = (now - _AGE_CAP) & _MASK
        if self._had_frame:
            st = OK if _diff(now, self._t_frame) < self.signal_lost_ms else SIGNAL_LOST
        elif _diff(now, self._t_byte) >= self.no_signal_ms:
            st = NO_SIGNAL
        elif self._bad >= self._bad_needed:
            st = GARBLED
        else:
            st = STARTING
        if st != self.state:
            self.state = st
            self.events |= EV_STATE
        return len(self.buf) if self._at else n

    def _set_window(self):
        w = self._window_opt
        self.window_ms = w or (WINDOW_1200_MS if self.port.baud == 1200 else WINDOW_9600_MS)

    def _new_window(self, now):
        self._ref = now
        self._win_bytes = self.parser.bytes

    def _frame(self, f):
        # The parser's callback, inside feed(): no allocation here either.
        if not f.n:
            return  # STX..ETX with no valid group: noise
        now = self.last_poll_ms
        m = f.mode
        if m != self.mode:
            if self.mode:
                self.guard.reset()  # other labels, other meaning: start the references over
            self.mode = m
        self.ok = self.guard.check_frame(f, now)
        self.frame = f
        self.frames = _inc(self.frames)
        self._t_frame = now
        self._had_frame = True
        self.events |= EV_FRAME
        if self.auto:
            if BAUD[m] != self.port.baud:
                self._align = BAUD[m]
            elif m != self.saved_mode:
                self.events |= EV_DETECT

    # -- the work poll() leaves (allocates)
    def service(self):
        """Log state changes, save a newly detected mode, call on_frame(frame, ok). Returns
        the events handled. Call it after a poll() that left `events` non-zero."""
        ev = self.events
        self.events = 0
        if ev & (EV_DETECT | EV_STATE) or (ev & EV_SWITCH and log.isEnabledFor(_DEBUG)):
            try:
                _report("events", self, ev)
            except MemoryError:
                pass  # no room to load the messages now: a log line is lost, not the reader
            finally:
                _drop()
        if ev & EV_FRAME and self.on_frame is not None:
            self.on_frame(self.frame, self.ok)
        return ev

    def status(self, now_ms=None):
        """The reader's state for the status page and MQTT (allocates; loads its code)."""
        try:
            return _report("status", self, now_ms)
        finally:
            _drop()

    # -- the task
    async def run(self):
        """The drain task: poll, hand events to service(), wait for bytes. Never returns.
        Each turn allocates nothing but what service() does: port.wait() is a plain
        asyncio.sleep_ms on the ESP32 (reused object), and a full read yields with sleep(0)
        then reads again, so a backlog drains at once while other tasks still run."""
        port = self.port
        size = len(self.buf)
        while True:
            n = self.poll(_ticks_ms())
            if self.events:
                self.service()
            if n < size:
                await port.wait()
            else:
                await asyncio.sleep(0)  # more is waiting: let the other tasks run first
