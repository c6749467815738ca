"""What firmware/tic_reader.py does rarely: its log lines, the saved mode, the status dict.

Loaded on demand by the reader (`tic_reader._report`) and dropped right after the call, with
firmware.state, so their code is in the heap only at boot, at a state change, at a detected
mode change and while a status() is built (about 2.5 KB on a 32-bit board, not kept).

    load_saved(path) -> (mode, baud)   saved by a previous detection, or (MODE_UNKNOWN, 0)
    events(reader, ev)                 the log lines (and the saving) for service()'s events
    status(reader, now_ms) -> dict     the reader's state for the status page and MQTT
"""

from firmware import state
from firmware.tic_reader import (
    EV_DETECT,
    EV_STATE,
    EV_SWITCH,
    GARBLED,
    NO_SIGNAL,
    OK,
    SETTINGS,
    SIGNAL_LOST,
    STATE_NAMES,
    _diff,
    _ticks_ms,
    log,
)
from tic import BAUD, MODE_NAMES, MODE_UNKNOWN

_MASK = 0x3FFFFFFF  # as in tic_reader
_AGE_CAP = 0x10000000


def load_saved(path):
    """(mode, baud) saved by a previous detection in `path`, or (MODE_UNKNOWN, 0)."""
    d = state.load(path) if path else None
    if d is not None:
        name = d.get("mode")
        if name in ("historique", "standard"):
            m = MODE_NAMES.index(name)
            if d.get("baud") == BAUD[m]:
                return m, BAUD[m]
    return MODE_UNKNOWN, 0


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
