"""The simulator's live TIC sources (tools/sim_link.py: a TCP server, a serial dongle that a pty
pair stands in for), its source specs, and the link that serves them to the host HAL: through
the HAL on CPython, and on the MicroPython unix port (tests/hal_dump.py, heap locked around
every read and feed). Tests wait on events (bytes received, a line of output), not on time."""

import binascii
import os
import socket
import subprocess
import termios
import threading
import time

import pytest
import sim_line
import sim_link
from reader_drive import Clock

import upy
from firmware.hal import host

ROOT = upy.ROOT
PAYLOAD = b"\x02\nADCO 012345678901 E\r\nIINST 002 Y\r\x03"
CAP_STD = "tests/fixtures/captures/std-tri-tempo-teleinfo-nom.raw"


@pytest.fixture
def link_env(monkeypatch):
    """Point the host HAL at a link server: call it with the server."""
    servers = []

    def use(server):
        servers.append(server)
        monkeypatch.setenv("LINKY_TIC", server.spec)
        host._link = None
        host._wdt = None

    yield use
    if host._link is not None:
        host._link.close()
    host._link = None
    host._wdt = None
    for s in servers:
        s.close()


class Dump:
    """tests/hal_dump.py under the unix port, reading the HAL's TIC input from `server`."""

    def __init__(self, server, baud, nbytes, lock=True):
        self.proc = subprocess.Popen(
            [upy.require_micropython(), "tests/hal_dump.py", str(baud), str(nbytes)]
            + (["lock"] if lock else []),
            cwd=ROOT,
            env=upy.env_with(upy.source_path(), LINKY_TIC=server.spec),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        # Stops a hung run; never reached when the test passes.
        self.timer = threading.Timer(60, self.proc.kill)
        self.timer.start()
        line = self.proc.stdout.readline()
        if line.strip() != "READY":
            self.finish()
            raise AssertionError("hal_dump did not start: " + line + self.out)

    def finish(self):
        """The bytes the firmware side read. All output is read from the same text stream as
        READY (communicate() would lose what that stream has buffered already)."""
        self.out = self.proc.stdout.read()
        self.proc.wait()
        self.timer.cancel()
        assert self.proc.returncode == 0, self.out
        assert "DONE" in self.out, self.out
        for line in self.out.splitlines():
            if line.startswith("GOT"):
                return binascii.unhexlify(line[4:].strip())
        raise AssertionError(self.out)


# -- the host HAL over the link (CPython) ------------------------------------------------------


def test_hal_port_over_the_link_replays_on_the_line_clock(link_env):
    data = open(CAP_STD, "rb").read()
    clk = Clock()
    lines = []

    def make(baud):
        lines.append(sim_line.FileSource(data, baud=baud, clock=clk))
        return lines[0]

    server = sim_link.LinkServer(make)
    link_env(server)
    port = host.open_tic(None, 9600)
    assert port.baud == 9600 and server.bauds == [9600]
    buf = bytearray(4096)
    assert port.readinto(buf) is None
    clk.t = 1000  # 960 characters on the line
    assert port.any() == 960
    n = port.readinto(buf, 100)
    assert n == 100 and buf[:100] == data[:100]
    assert port.readinto(buf) == 860 and buf[:860] == data[100:960]
    clk.t = 1100
    port.set_baud(9600)  # discards what was buffered, as a UART re-init does
    assert port.readinto(buf) is None
    clk.t = 1200
    assert port.readinto(buf) == 96 and buf[:96] == data[1056:1152]
    assert server.bauds == [9600, 9600] and len(lines) == 1
    with pytest.raises(ValueError):
        port.set_baud(1234)
    assert port.baud == 9600


def test_hal_watchdog_reports_start_and_feeds(link_env):
    server = sim_link.LinkServer(lambda baud: None)
    link_env(server)
    server.new_boot()
    assert server.watchdog_overdue() is None  # not started
    wdt = host.watchdog(200)
    assert server.wdt_ms == 200
    wdt.feed()
    wdt.feed()
    port_check = host._link.call(ord("A"), 0)  # a round trip: the feeds before it are in
    assert port_check == sim_link.ERROR  # no TIC open on this server
    assert server.feeds == 2 and wdt.feeds == 2
    t0 = server.last_feed
    assert server.watchdog_overdue(t0 + 0.1) is None
    assert server.watchdog_overdue(t0 + 0.3) == 200
    assert host.stretch_watchdog(5000) is True
    assert server.wdt_ms == 5000 and server.watchdog_overdue(t0 + 0.3) is None
    # A new boot disarms it: the board's watchdog does not survive a reset.
    server.new_boot()
    assert server.watchdog_overdue(t0 + 100) is None
    wdt.feed()
    host._link.call(ord("A"), 0)
    assert server.feeds == 2  # from the previous boot's connection: ignored


def test_protocol_constants_agree():
    assert (host.ERROR, host.MAX_READ) == (sim_link.ERROR, sim_link.MAX_READ)
    assert sim_link.OPS == b"OBRAWFN" == bytes((79, 66, 82, 65, 87, 70, 78))  # as host.py sends


# -- specs -------------------------------------------------------------------------------------


def test_file_specs():
    assert sim_link.parse_file_spec("file:x.raw@1200,once") == ("x.raw", 1200, False)
    assert sim_link.parse_file_spec("x.raw,loop") == ("x.raw", None, True)
    assert sim_link.parse_file_spec("dir@v2/x.raw") == ("dir@v2/x.raw", None, True)
    src = sim_link.open_line("file:%s@1200,once" % CAP_STD)(9600)
    assert (src.line_baud, src.loop, src.baud) == (1200, False, 9600)
    src = sim_link.open_line(CAP_STD)(1200)
    assert (src.line_baud, src.loop, src.baud) == (9600, True, 1200)


def test_bad_specs_say_why():
    for spec, word in (
        ("tests/fixtures/nothing.raw", "cannot read"),
        ("tcp://nohost", "tcp://HOST:PORT"),
        ("tcp://host:port", "tcp://HOST:PORT"),
        ("/dev/null", "not a serial port"),
        ("/dev/no-such-tty", "No such file"),
        ("sim:standard,3", "sim:MODE,PHASES,CONTRACT"),
        ("%s@1234" % CAP_STD, "1234"),
    ):
        with pytest.raises(sim_link.SourceError) as e:
            sim_link.open_line(spec)
        assert word in str(e.value), str(e.value)


def test_sim_source_is_an_endless_ticsim_line():
    clk = Clock()
    line = sim_link.open_line("sim:historique,1,base,seed=3", clock=clk)(1200)
    clk.t = 60000  # a minute of line at 1200 Bd: more than the first frames generated
    buf = bytearray(8192)
    n = line.readinto(buf)
    assert n == sim_line.RXBUF and line.overflows == 1  # the reader was a minute late
    clk.t = 62000
    got = bytes(buf[: line.readinto(buf)])
    assert b"\nADCO " in got and b"\nBASE " in got and b"OPTARIF BASE" in got


# -- tcp ---------------------------------------------------------------------------------------


class Server:
    """A TCP server on 127.0.0.1: sends `chunks`, one connection each (closed after sending
    unless keep_open)."""

    def __init__(self, chunks, keep_open=False, port=0, go=None):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.chunks = chunks
        self.keep_open = keep_open
        self.accepted = threading.Event()
        self.done = threading.Event()
        self.go = go  # an Event: send only once it is set

    def start(self):
        self.sock.listen(2)
        self.sock.settimeout(30)
        threading.Thread(target=self.serve, daemon=True).start()
        return self

    def serve(self):
        conns = []
        try:
            for chunk in self.chunks:
                conn, _ = self.sock.accept()
                self.accepted.set()
                if self.go is not None:
                    self.go.wait(30)
                try:
                    conn.sendall(chunk)
                except OSError:
                    pass
                if self.keep_open:
                    conns.append(conn)
                else:
                    conn.close()
            self.done.wait(30)
        finally:
            for c in conns:
                c.close()
            self.sock.close()


def test_tcp_line_reconnects():
    server = Server([PAYLOAD[:20], PAYLOAD[20:]]).start()
    line = sim_link.TcpLine("127.0.0.1", server.port, retry_s=0.05).start()
    try:
        assert line.wait_received(len(PAYLOAD))
        buf = bytearray(100)
        assert buf[: line.readinto(buf)] == PAYLOAD
        assert line.connects == 2 and line.drops >= 1
    finally:
        server.done.set()
        line.close()


def test_tcp_line_connects_once_the_server_listens():
    server = Server([PAYLOAD], keep_open=True)  # bound, not listening yet: refused
    line = sim_link.TcpLine("127.0.0.1", server.port, retry_s=0.05).start()
    try:
        server.start()
        assert server.accepted.wait(30) and line.wait_received(len(PAYLOAD))
        assert line.connects == 1
    finally:
        server.done.set()
        line.close()


def test_tcp_set_baud_discards_only_what_is_buffered():
    # Issue: the TCP source read its socket until empty on a speed change; with a fast peer
    # that threw away a 12 MB stream and stalled. Now, like a UART flush: only the buffer.
    big = 12 * 1024 * 1024
    server = Server([b"\x55" * big], keep_open=True).start()
    line = sim_link.TcpLine("127.0.0.1", server.port).start()
    try:
        assert line.wait_received(64 * 1024)
        line.set_baud(1200)
        assert line.flushed <= line.rxbuf
        assert line.any() <= line.rxbuf  # what arrived since
        # The stream goes on: a set_baud never consumed the rest of it.
        assert line.wait_received(big) and line.received == big
        assert line.lost >= big - 2 * line.rxbuf  # newer bytes lost, as a full UART loses
    finally:
        server.done.set()
        line.close()


def test_tcp_through_the_link_on_micropython():
    go = threading.Event()
    server = Server([PAYLOAD], keep_open=True, go=go).start()
    link = sim_link.LinkServer(sim_link.open_line("tcp://127.0.0.1:%d" % server.port))
    try:
        dump = Dump(link, 9600, len(PAYLOAD))  # READY: the port is open (and flushed)
        go.set()
        assert dump.finish() == PAYLOAD
        # Feeds are sent without a reply: the link's thread may count the last ones after the
        # dump has exited (seen once under load, 0 counted). Wait for them, within a bound.
        deadline = time.monotonic() + 10
        while link.feeds < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert link.feeds >= 1 and link.wdt_ms == 60000
    finally:
        server.done.set()
        link.close()


def test_capture_through_the_link_on_micropython(tmp_path):
    data = open(CAP_STD, "rb").read()[:300]  # 0.3 s of line
    cap = tmp_path / "short.raw"
    cap.write_bytes(data)
    link = sim_link.LinkServer(sim_link.open_line("%s@9600,once" % cap))
    try:
        assert Dump(link, 9600, len(data)).finish() == data
    finally:
        link.close()


# -- serial ------------------------------------------------------------------------------------


def test_serial_line_on_cpython():
    master, slave = os.openpty()
    line = None
    try:
        line = sim_link.SerialLine(os.ttyname(slave), 1200).start()
        # A Linux pty keeps the speed but forces CS8 without parity: 7E1 is checked on the
        # computed flags (serial_cflag) instead.
        assert termios.tcgetattr(slave)[4] == termios.B1200
        assert line.readinto(bytearray(8)) is None
        os.write(master, PAYLOAD)
        assert line.wait_received(len(PAYLOAD))
        buf = bytearray(100)
        assert buf[: line.readinto(buf)] == PAYLOAD
        os.write(master, b"old")
        assert line.wait_received(len(PAYLOAD) + 3)
        line.set_baud(9600)
        assert termios.tcgetattr(slave)[4] == termios.B9600
        assert line.any() == 0 and line.flushed == 3
        with pytest.raises(ValueError):
            line.set_baud(1234)
    finally:
        if line is not None:
            line.close()
        os.close(master)
        os.close(slave)


def test_serial_through_the_link_on_micropython():
    master, slave = os.openpty()
    link = sim_link.LinkServer(sim_link.open_line(os.ttyname(slave)))
    try:
        dump = Dump(link, 9600, len(PAYLOAD))
        assert termios.tcgetattr(slave)[4] == termios.B9600  # set by the firmware's open
        os.write(master, PAYLOAD)
        assert dump.finish() == PAYLOAD
    finally:
        link.close()
        os.close(master)
        os.close(slave)


def test_serial_flags_are_7e1():
    base = termios.CS8 | termios.CSTOPB | termios.PARODD | termios.CRTSCTS | termios.HUPCL
    for baud, speed in ((1200, termios.B1200), (9600, termios.B9600)):
        cflag = sim_link.serial_cflag(base, baud)
        assert cflag & termios.CSIZE == termios.CS7
        assert cflag & termios.PARENB and not cflag & termios.PARODD
        assert not cflag & (termios.CSTOPB | termios.CRTSCTS)
        assert cflag & (termios.CREAD | termios.CLOCAL | termios.HUPCL) == (
            termios.CREAD | termios.CLOCAL | termios.HUPCL
        )
        assert cflag & termios.CBAUD == speed
