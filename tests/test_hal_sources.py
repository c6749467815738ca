"""Host HAL sources that need a peer: a serial TIC dongle (a pty pair stands in for it) and a
TCP server. Each runs on CPython directly and on the MicroPython unix port (the firmware's
side, through tests/hal_dump.py, with the heap locked around every read)."""

import binascii
import os
import socket
import subprocess
import termios
import threading
import time

import upy
from firmware.hal import host

ROOT = upy.ROOT
PAYLOAD = b"\x02\nADCO 012345678901 E\r\nIINST 002 Y\r\x03"


def _start_dump(spec, baud, nbytes, *extra):
    proc = subprocess.Popen(
        [upy.require_micropython(), "tests/hal_dump.py", spec, str(baud), str(nbytes), *extra],
        cwd=ROOT,
        env=upy.env_with(upy.source_path()),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    assert line.strip() == "READY", line + proc.stderr.read()
    return proc


def _finish_dump(proc):
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    got = stats = None
    for line in out.splitlines():
        if line.startswith("GOT"):
            got = binascii.unhexlify(line[4:].strip())
        elif line.startswith("STATS"):
            stats = [int(x) for x in line.split()[1:]]
    return got, stats


# -- serial ------------------------------------------------------------------------------------


def test_serial_source_on_cpython():
    master, slave = os.openpty()
    try:
        src = host.SerialSource(os.ttyname(slave), 1200)
        # A Linux pty keeps the speed but forces CS8 without parity: 7E1 is checked on the
        # computed flags (serial_cflag) instead.
        assert termios.tcgetattr(slave)[4] == termios.B1200
        assert src.readinto(bytearray(8)) is None  # polling read: no data, no wait
        os.write(master, PAYLOAD)
        got = bytearray()
        buf = bytearray(16)
        for _ in range(200):
            n = src.readinto(buf)
            if n:
                got += buf[:n]
            if len(got) >= len(PAYLOAD):
                break
            time.sleep(0.01)
        assert bytes(got) == PAYLOAD
        src.set_baud(9600)
        assert termios.tcgetattr(slave)[4] == termios.B9600
        try:
            src.set_baud(1234)
        except ValueError as e:
            assert "1234" in str(e)
        else:
            raise AssertionError("baud 1234 accepted")
        src.deinit()
    finally:
        os.close(master)
        os.close(slave)


def test_serial_source_on_micropython():
    master, slave = os.openpty()
    try:
        proc = _start_dump(os.ttyname(slave), 9600, len(PAYLOAD), "lock")
        attrs = termios.tcgetattr(slave)  # as the firmware set them
        assert attrs[4] == termios.B9600
        assert attrs[6][termios.VMIN] in (0, b"\x00")
        os.write(master, PAYLOAD[:10])
        time.sleep(0.05)
        os.write(master, PAYLOAD[10:])
        got, _ = _finish_dump(proc)
        assert got == PAYLOAD
    finally:
        os.close(master)
        os.close(slave)


def test_serial_flags_are_7e1_with_linux_values():
    # The unix port's termios has no flag constants: host.py spells out Linux's values.
    base = termios.CS8 | termios.CSTOPB | termios.PARODD | termios.CRTSCTS | termios.HUPCL
    for baud, speed in ((1200, termios.B1200), (9600, termios.B9600)):
        cflag = host.serial_cflag(base, baud)
        assert cflag & termios.CSIZE == termios.CS7
        assert cflag & termios.PARENB and not cflag & termios.PARODD
        assert not cflag & (termios.CSTOPB | termios.CRTSCTS)
        assert cflag & (termios.CREAD | termios.CLOCAL | termios.HUPCL) == (
            termios.CREAD | termios.CLOCAL | termios.HUPCL
        )
        assert cflag & termios.CBAUD == speed
    assert (host._VMIN, host._VTIME) == (termios.VMIN, termios.VTIME)


# -- tcp ---------------------------------------------------------------------------------------


class Server:
    """A TCP server that serves `chunks`: one connection each, closed after sending."""

    def __init__(self, chunks, keep_open=False):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(2)
        self.sock.settimeout(30)
        self.port = self.sock.getsockname()[1]
        self.chunks = chunks
        self.keep_open = keep_open
        self.accepted = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conns = []
        try:
            for chunk in self.chunks:
                conn, _ = self.sock.accept()
                self.accepted += 1
                conn.sendall(chunk)
                if self.keep_open:
                    conns.append(conn)
                else:
                    conn.close()
            self.done.wait(30)
        finally:
            for c in conns:
                c.close()
            self.sock.close()


def test_tcp_source_on_cpython_reconnects():
    server = Server([PAYLOAD[:20], PAYLOAD[20:]])
    clk = [0]
    src = host.TcpSource("127.0.0.1", server.port, retry_ms=500, clock=lambda: clk[0])
    got = bytearray()
    buf = bytearray(32)
    for _ in range(500):
        n = src.readinto(buf)
        if n:
            got += buf[:n]
        if len(got) >= len(PAYLOAD):
            break
        if not src.connected():
            clk[0] += 500  # the retry delay passes
        time.sleep(0.01)
    server.done.set()
    assert bytes(got) == PAYLOAD
    assert src.connects == 2 and src.drops >= 1
    src.deinit()


def test_tcp_source_refused_then_retries():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nobody listens there now
    clk = [0]
    src = host.TcpSource("127.0.0.1", port, retry_ms=1000, clock=lambda: clk[0])
    for _ in range(100):
        assert src.readinto(bytearray(8)) is None
        if not src.connected():
            break
        time.sleep(0.01)
    assert not src.connected() and src.drops == 1
    src.readinto(bytearray(8))
    assert src.connects == 1  # retry delay not over
    clk[0] = 1000
    src.readinto(bytearray(8))
    assert src.connects == 2
    src.deinit()


def test_tcp_source_on_micropython():
    server = Server([PAYLOAD], keep_open=True)
    proc = _start_dump("tcp://127.0.0.1:%d" % server.port, 9600, len(PAYLOAD), "lock")
    got, stats = _finish_dump(proc)
    server.done.set()
    assert got == PAYLOAD
    assert stats[0] == 1


def test_tcp_source_on_micropython_reconnects():
    server = Server([PAYLOAD[:7], PAYLOAD[7:]])
    proc = _start_dump("tcp://127.0.0.1:%d" % server.port, 9600, len(PAYLOAD))
    got, stats = _finish_dump(proc)
    server.done.set()
    assert got == PAYLOAD
    assert stats[0] == 2 and stats[1] >= 1
