"""MicroPython only: TicReader.poll() allocates nothing after warm-up (heap locked around every
poll), over the host HAL's capture replay on a clock the test moves: at the right speed with
reads that fill the buffer (scanned in place) and partial ones (staged), the rest of a read
after a frame fed at the next poll, and through a whole
auto-detection (wrong start speed, switch, mode change mid-stream, switch back), which covers
the UART re-init, the parser reset, the index guard and every state change.

service() (logging, saving, callbacks) is not called under the lock: it may allocate, by
design. Everything runs inside functions: module globals cannot be assigned under the lock.

run(), the drain task, is proven the same way inside asyncio: once the reader is warm, a port
whose wait() is asyncio.sleep_ms (what the ESP32 HAL returns) locks the heap, and the loop
turns for a minute of line, frames and full reads included, with nothing allocated."""

import asyncio
import gc

from reader_drive import Clock

import micropython
from firmware import tic_reader as tr
from firmware.hal import host

CAPS = "tests/fixtures/captures/"
HIST = CAPS + "hist-mono-tempo-teleinfo-nom.raw"
STD = CAPS + "std-tri-tempo-teleinfo-nom.raw"


def _data(path):
    with open(path, "rb") as f:
        return f.read()


def _locked_run(r, clk, t_end, step, counts):
    """Poll like the drain task until t_end with the heap locked around each poll; events are
    counted and cleared instead of serviced. counts: [polls, full reads, events seen, polls
    that fed the rest of a read]."""
    size = len(r.buf)
    t = clk.t
    before = gc.mem_alloc()
    while t < t_end:
        t += step
        clk.t = t
        while True:
            if r._at:
                counts[3] += 1
            micropython.heap_lock()
            try:
                n = r.poll(t)
            finally:
                micropython.heap_unlock()
            counts[0] += 1
            if r.events:
                counts[2] |= r.events
                r.events = 0
            if n < size:
                break
            counts[1] += 1
    if gc.mem_alloc() != before:
        raise AssertionError("heap grew by %d bytes" % (gc.mem_alloc() - before))


def test_poll_allocates_nothing_at_the_right_speed():
    clk = Clock()
    src = host.FileSource(_data(STD), baud=9600, clock=clk)  # looped
    r = tr.TicReader(src, baud=9600)
    counts = [0, 0, 0, 0]
    _locked_run(r, clk, 3000, 20, counts)  # warm-up: first frames
    frames = r.frames
    counts = [0, 0, 0, 0]
    _locked_run(r, clk, 30000, 20, counts)  # reads of ~19 bytes (staged)
    _locked_run(r, clk, 60000, 330, counts)  # reads that fill the buffer: scanned in place
    if counts[1] < 50 or counts[3] < 10 or r.frames - frames < 25 or r.state != tr.OK:
        raise AssertionError("%r frames %d state %d" % (counts, r.frames, r.state))


def test_poll_allocates_nothing_through_auto_detection():
    # 9600 Bd on a historique line, then the meter switches to standard.
    hist = _data(HIST) * 4
    data = hist + _data(STD) * 12
    clk = Clock()
    segments = [(0, 1200), (len(hist), 9600)]
    src = host.FileSource(data, baud=9600, loop=False, clock=clk, segments=segments)
    r = tr.TicReader(src, baud=9600)
    counts = [0, 0, 0, 0]
    _locked_run(r, clk, 45000, 20, counts)
    want = tr.EV_FRAME | tr.EV_STATE | tr.EV_DETECT | tr.EV_SWITCH
    if counts[2] != want or r.switches != 2 or r.mode != 2 or r.port.baud != 9600:
        raise AssertionError("%r switches %d mode %d" % (counts, r.switches, r.mode))
    # and on to "signal lost" once the capture ends, still without allocating
    _locked_run(r, clk, 70000, 100, counts)
    if r.state != tr.SIGNAL_LOST:
        raise AssertionError("state %d" % r.state)


def test_the_reader_keeps_no_host_only_module_loaded():
    # What the device never needs at run time: the label text, tuple API and descriptions,
    # the decoder, the encoder; and the reader's rare code and the state file's module, loaded
    # only for their calls.
    import os
    import sys
    import time

    path = "/tmp/linky-mptest-reader-state-%d.json" % time.ticks_us()
    clk = Clock()
    src = host.FileSource(_data(HIST), baud=1200, clock=clk)
    r = tr.TicReader(src, state_path=path)  # reads the state file, then saves the mode
    while r.frames < 3:
        clk.t += 100
        r.poll(clk.t)
        if r.events:
            r.service()
    host_only = ("tic.label_rows", "tic.label_table", "tic.label_docs", "tic.decode")
    rare = ("tic.encode", "firmware.state", "firmware.tic_report")
    loaded = [m for m in host_only + rare if m in sys.modules]
    try:
        saved = tr.load_saved(path)  # (loads tic_report until the next reader drops it)
        os.remove(path)
    except OSError:
        saved = None
    if loaded or saved != (r.mode, 1200):
        raise AssertionError("loaded: %r; saved %r" % (loaded, saved))
    # nor does it keep one by reference (dropping from sys.modules would not free it then)
    mods = [getattr(tr, k) for k in dir(tr)]
    names = sorted(m.__name__ for m in mods if type(m) is type(sys))
    if names != ["asyncio", "tic", "time"]:
        raise AssertionError("tic_reader keeps modules %r" % names)


class _StopLoopError(Exception):
    pass


class _LockingPort(host.FileSource):
    """A looped capture whose wait() is asyncio.sleep_ms, as on the ESP32, moving the line's
    clock by `period` ms; it locks the heap at the `warm`-th wait and stops the loop at the
    `end`-th. State on the instance: a closure would allocate its argument array per call."""

    def __init__(self, data, clk, period, warm, end):
        super().__init__(data, baud=9600, clock=clk)
        self.clk = clk
        self.period = period
        self.warm = warm
        self.end = end
        self.turns = 0
        self.reader = None
        self.locked_frames = -1
        self.locked = False

    def wait(self):
        n = self.turns + 1
        self.turns = n
        self.clk.t += self.period
        if n == self.warm:
            self.locked_frames = self.reader.frames
            gc.collect()
            self.locked = True
            micropython.heap_lock()
        elif n == self.end:
            self.unlock()
            raise _StopLoopError
        return asyncio.sleep_ms(0)

    def unlock(self):
        if self.locked:  # heap_unlock() nests: one per heap_lock()
            micropython.heap_unlock()
            self.locked = False


def test_run_allocates_nothing_per_turn():
    # 8 s to warm up (first frames, state logs), then 60 s of line under the lock
    src = _LockingPort(_data(STD), Clock(), 100, 80, 680)
    r = src.reader = tr.TicReader(src, baud=9600)  # no on_frame: service() logs states only
    try:
        asyncio.run(r.run())
    except _StopLoopError:
        pass
    finally:
        src.unlock()
    if src.turns != src.end:
        raise AssertionError("stopped after %d turns (MemoryError under the lock?)" % src.turns)
    frames = r.frames - src.locked_frames
    if src.locked_frames < 2 or frames < 25 or r.state != tr.OK:
        raise AssertionError("frames %d then %d, state %d" % (src.locked_frames, frames, r.state))


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
