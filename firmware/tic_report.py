"""What firmware/tic_reader.py does rarely: set-up, log lines, the saved mode, the status.

Loaded on demand by the reader (`tic_reader._report`) and dropped right after the call, with
firmware.state, so this code is in the heap only at boot, at a state change, at a detected
mode change and while a status() is built (about 3 KB on a 32-bit board, not kept).

    parse_mode(text), load_saved(path), start_baud(mode, baud, path)   tic_reader's, at boot
    init(reader, port, mode, options)  TicReader's constructor
    events(reader, ev)                 the log lines (and the saving) for service()'s events
    status(reader, now_ms) -> dict     the reader's state for the status page and MQTT
"""

from firmware import state
from firmware.tic_reader import (
    DEFAULT_BAUD,
    EV_DETECT,
    EV_STATE,
    EV_SWITCH,
    GARBLED,
    NO_SIGNAL,
    NO_SIGNAL_MS,
    OK,
    READ_SIZE,
    SETTINGS,
    SIGNAL_LOST,
    SIGNAL_LOST_MS,
    STARTING,
    STATE_NAMES,
    _diff,
    _ticks_ms,
    log,
)
from tic import BAUD, MODE_HISTORIQUE, MODE_NAMES, MODE_STANDARD, MODE_UNKNOWN
from tic.guard import IndexGuard
from tic.parser import Parser

_MASK = 0x3FFFFFFF  # as in tic_reader
_AGE_CAP = 0x10000000


def parse_mode(text):
    t = (text or "auto").strip().lower()
    if t not in SETTINGS:
        raise ValueError("setting MODE: expected %s, got %r" % (" | ".join(SETTINGS), text))
    return SETTINGS.index(t)  # the order of SETTINGS is that of the MODE_* constants


def load_saved(path):
    d = state.load(path) if path else None
    if d is not None:
        name = d.get("mode")
        if name in ("historique", "standard"):
            m = MODE_NAMES.index(name)
            if d.get("baud") == BAUD[m]:
                return m, BAUD[m]
    return MODE_UNKNOWN, 0


def start_baud(mode, baud, path):
    if baud:
        if baud not in (1200, 9600):
            raise ValueError("TIC speed must be 1200 or 9600 Bd, got %r" % (baud,))
        return baud
    if mode:
        return BAUD[mode]
    return load_saved(path)[1] or DEFAULT_BAUD


def init(r, port, mode, options):
    """TicReader(port, mode, **options): see its docstring."""
    _init(r, port, mode, **options)


def _init(
    r,
    port,
    mode,
    *,
    baud=0,
    state_path=None,
    window_ms=0,
    no_signal_ms=NO_SIGNAL_MS,
    signal_lost_ms=SIGNAL_LOST_MS,
    guard=None,
    on_frame=None,
):
    if mode not in (MODE_UNKNOWN, MODE_HISTORIQUE, MODE_STANDARD):
        raise ValueError("unknown TIC mode %r" % (mode,))
    auto = mode == MODE_UNKNOWN
    r.port = port
    r.setting = mode
    r.auto = auto
    r.state_path = state_path if auto else None
    r._window_opt = window_ms  # the detection window at both speeds; 0: per speed
    r.no_signal_ms = no_signal_ms
    r.signal_lost_ms = signal_lost_ms
    r.on_frame = on_frame
    r.guard = guard if guard is not None else IndexGuard()
    r.buf = bytearray(READ_SIZE)
    r.parser = Parser(on_frame=r._frame, mode=mode)
    r.saved_mode, b = load_saved(r.state_path)
    b = (not baud and b) or start_baud(mode, baud, None)
    if port.baud != b:
        port.set_baud(b)
    r.window_ms = 0  # the current speed's window
    r._set_window()
    # Published state.
    r.state = STARTING
    r.events = 0  # EV_* bits poll() set for service()
    r.mode = MODE_UNKNOWN  # of the last valid frame
    r.frame = None  # last valid frame; valid until the next poll
    r.ok = r.guard.ok  # its IndexGuard codes
    r.frames = 0  # valid frames (at least one valid group); wraps at 2^30
    r.switches = 0  # speed changes by auto-detection; wraps at 2^30
    # Detection and signal bookkeeping (times are ticks_ms values).
    r.last_poll_ms = _ticks_ms()  # liveness; the time of the poll in progress
    r._started = False
    r._t_byte = 0  # last byte (or start)
    r._t_frame = 0  # last valid frame
    r._had_byte = False
    r._had_frame = False
    r._ref = 0  # start of the current window: last switch or last valid group
    r._win_bytes = 0  # parser.bytes at the start of the window
    r._groups = 0  # parser.groups last seen
    r._bad = 0  # windows in a row with bytes but no valid group
    r._bad_needed = 2 if auto else 1  # to call it garbled: each speed once
    r._align = 0  # a speed to set after this feed (see TicReader._frame)
    r._prev_any = 0  # bytes the port held at the last poll, while waiting for more
    r._at = 0  # where the rest of the last read starts in buf (0: all fed); see poll()
    r._end = 0  # the length of that read


def events(r, ev):
    """Log (and save) what poll() flagged in `ev`: a speed switch, a detected mode, a state."""
    if ev & EV_SWITCH:
        log.debug("no valid group in a detection window: trying %d Bd", r.port.baud)
    if ev & EV_DETECT:
        _save(r)
    if ev & EV_STATE:
        _log_state(r)


def _save(r):
    m = r.mode
    r.saved_mode = m  # also on failure: retrying at every frame would flood the log
    log.info("detected %s mode at %d Bd (%d speed switches)", MODE_NAMES[m], BAUD[m], r.switches)
    if r.state_path:
        try:
            state.save(r.state_path, {"mode": MODE_NAMES[m], "baud": BAUD[m]})
        except OSError as e:
            log.warning("cannot save %s: %r", r.state_path, e)


def _log_state(r):
    st = r.state
    baud = r.port.baud
    if st == OK:
        log.info("TIC ok: %s mode at %d Bd", MODE_NAMES[r.mode], baud)
    elif st == NO_SIGNAL:
        log.warning(
            "TIC no signal: not one byte for %d s at %d Bd; check the wiring, the TIC "
            "stage's power or enable pin and the RX pull-up",
            r.no_signal_ms // 1000,
            baud,
        )
    elif st == GARBLED:
        where = "1200 nor 9600 Bd" if r.auto else "%d Bd (mode fixed to %s)" % (
            baud, MODE_NAMES[r.setting])  # fmt: skip
        log.warning(
            "TIC garbled: bytes but no valid group at %s; inverted signal (board "
            "'invert'), wrong RX pin or a noisy line?",
            where,
        )
    elif st == SIGNAL_LOST:
        log.warning(
            "TIC signal lost: no valid frame for %d s (%s)",
            r.signal_lost_ms // 1000,
            "bytes still arrive"
            if _diff(r.last_poll_ms, r._t_byte) < r.no_signal_ms
            else "no bytes either",
        )
    else:
        log.info("TIC: bytes again, detecting the mode")


def _age_s(now, t):
    d = _diff(now, t)
    return (_AGE_CAP if d > _AGE_CAP else d) // 1000


def status(r, now_ms=None):
    """The reader's state for the status page and MQTT (allocates)."""
    now = (_ticks_ms() if now_ms is None else now_ms) & _MASK
    g = r.guard
    return {
        "state": STATE_NAMES[r.state],
        "state_code": r.state,
        "setting": SETTINGS[r.setting],
        "mode": MODE_NAMES[r.mode],
        "baud": r.port.baud,
        "since_frame_s": _age_s(now, r._t_frame) if r._had_frame else None,
        "since_byte_s": _age_s(now, r._t_byte) if r._had_byte else None,
        "switches": r.switches,
        "frames": r.frames,
        "rejected_indexes": g.rejected,
        "accepted_indexes": g.accepted,
        "unconfirmed_indexes": g.dropped,  # plausible values the next frame contradicted
        "index_resyncs": g.resyncs,
        "parser": r.parser.stats(),
    }
