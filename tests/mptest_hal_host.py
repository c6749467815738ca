"""MicroPython only: the host HAL allocates nothing per read, any(), feed() or wait() (heap
locked), talking to a scripted peer that stands in for tools/sim.py (replies written ahead
into the link, requests checked afterwards); and the simulator's line model
(tools/sim_line.py), which tests drive firmware/tic_reader.py with under heap_lock, allocates
nothing either: at the line's speed, at a wrong speed, through an overflow, across the loop."""

import asyncio
import os
import socket

from reader_drive import Clock

import micropython
from firmware.hal import host
from tools import sim_line

CAP_STD = "tests/fixtures/captures/std-tri-tempo-teleinfo-nom.raw"
CAP_HIST = "tests/fixtures/captures/hist-mono-tempo-teleinfo-nom.raw"


def _data(path):
    with open(path, "rb") as f:
        return f.read()


class Peer:
    """A listening socket on 127.0.0.1 and the host HAL's link connected to it."""

    def __init__(self):
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for port in range(47100, 47200):  # the unix port has no getsockname
            try:
                self.srv.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
                break
            except OSError:
                pass
        self.srv.listen(1)
        os.putenv("LINKY_TIC", "link:127.0.0.1:%d" % port)
        host._link = None
        host._wdt = None
        self.link = host._the_link()
        self.conn = self.srv.accept()[0]

    def reply(self, n, data=b""):
        self.conn.write(bytes((n & 0xFF, n >> 8)) + data)

    def requests(self, count):
        """The next `count` requests the HAL sent, as (op letter, argument)."""
        out = []
        for _ in range(count):
            r = self.conn.read(5)
            out.append((chr(r[0]), r[1] | r[2] << 8 | r[3] << 16 | r[4] << 24))
        return out

    def close(self):
        self.conn.close()
        self.srv.close()
        self.link.close()
        host._link = None
        host._wdt = None
        os.unsetenv("LINKY_TIC")


def test_port_reads_and_any_allocate_nothing():
    peer = Peer()
    try:
        peer.reply(0)
        port = host.open_tic(None, 1200)
        assert peer.requests(1) == [("O", 1200)]
        buf = bytearray(64)
        chunks = (b"\x02\nADCO 0123", b"", b"45678901 E\r", b"x" * 64)
        for c in chunks:
            peer.reply(len(c), c)
        peer.reply(17)  # any()
        peer.reply(0)  # set_baud
        got = []
        micropython.heap_lock()
        try:
            for _ in chunks:
                got.append(port.readinto(buf, 64))
            waiting = port.any()
            port.set_baud(9600)
        finally:
            micropython.heap_unlock()
        assert got == [11, None, 11, 64] and waiting == 17
        assert port.baud == 9600
        assert peer.requests(6) == [("R", 64)] * 4 + [("A", 0), ("B", 9600)]
    finally:
        peer.close()


def test_requests_on_the_wire():
    peer = Peer()
    try:
        peer.reply(0)
        port = host.open_tic(None, 9600)
        peer.reply(3, b"abc")
        buf = bytearray(10)
        assert port.readinto(buf, 5) == 3 and buf[:3] == b"abc"
        peer.reply(0xFFFF)  # the simulator refuses a speed
        try:
            port.set_baud(4800)
        except ValueError:
            pass
        else:
            raise AssertionError("refused speed accepted")
        assert port.baud == 9600
        assert peer.requests(3) == [("O", 9600), ("R", 5), ("B", 4800)]
    finally:
        peer.close()


def test_watchdog_feed_allocates_nothing():
    peer = Peer()
    try:
        peer.reply(0)
        wdt = host.watchdog(1500)
        micropython.heap_lock()
        try:
            for _ in range(100):
                wdt.feed()
        finally:
            micropython.heap_unlock()
        assert wdt.feeds == 100
        peer.reply(0)
        assert host.stretch_watchdog(1800000) is True
        assert peer.requests(102) == [("W", 1500)] + [("F", 0)] * 100 + [("W", 1800000)]
    finally:
        peer.close()


def test_wait_allocates_nothing():
    peer = Peer()
    try:
        peer.reply(0)
        port = host.open_tic(None, 9600)
        for _ in range(20):
            peer.reply(2, b"ok")
        got = [0]

        async def reader():
            buf = bytearray(16)
            total = 0
            for _ in range(20):
                micropython.heap_lock()
                try:
                    n = port.readinto(buf)
                    aw = port.wait()
                finally:
                    micropython.heap_unlock()
                total += n
                await aw
            got[0] = total

        asyncio.run(reader())
        assert got[0] == 40
    finally:
        peer.close()


# -- the line model (tools/sim_line.py), for tests that lock the heap around a reader on it


def _locked_reads(src, buf, rounds, pause_ms):
    """Reads every pause_ms of the line's clock (a Clock, moved here)."""
    total = 0
    for _ in range(rounds):
        src._clock.t += pause_ms
        micropython.heap_lock()
        try:
            n = src.readinto(buf)
            src.any()
        finally:
            micropython.heap_unlock()
        if n:
            total += n
    return total


def test_line_model_matched_speed_reads_allocate_nothing():
    # 668 bytes at 9600 Bd loop every ~0.7 s: the loop point is crossed.
    src = sim_line.FileSource(_data(CAP_HIST), line_baud=9600, baud=9600, clock=Clock())
    assert _locked_reads(src, bytearray(64), 50, 20) > 668
    assert src.overflows == 0


def test_line_model_overflow_path_allocates_nothing():
    src = sim_line.FileSource(_data(CAP_STD), baud=9600, rxbuf=16, clock=Clock())
    assert _locked_reads(src, bytearray(8), 10, 30) > 0
    assert src.overflows > 0


def test_line_model_wrong_speed_reads_allocate_nothing():
    src = sim_line.FileSource(_data(CAP_STD), baud=1200, clock=Clock())  # 1200 on a 9600 line
    assert _locked_reads(src, bytearray(32), 20, 25) > 0
    src = sim_line.FileSource(_data(CAP_HIST), baud=9600, clock=Clock())  # 9600 on 1200 Bd
    assert _locked_reads(src, bytearray(32), 20, 25) > 0


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
