"""The simulator's side of the TIC link: TIC sources as a UART would receive them, served to the
firmware's host HAL (firmware/hal/host.py) over a loopback TCP connection. CPython only.

Sources (`open_line(spec)`), all with the UART semantics of the README ("How a capture is
replayed"): at most `rxbuf` characters buffered, newer ones lost while the firmware does not
read, buffered input discarded on a speed change (bounded: only what is buffered).

  FILE[@BAUD][,once|,loop]   a capture replayed at line speed by tools/sim_line.py (bit-level
  file:FILE...               model at a wrong speed); BAUD inferred frame by frame when absent
  sim:MODE,PHASES,CONTRACT[,NAME=VALUE...]
                             tools/ticsim.py's meter, endless, through the same line model;
                             NAME=VALUE pairs are more ticsim options (seed=1, ber=1e-3,
                             switch-after=20 ...)
  /dev/ttyX, serial:PATH     a serial TIC dongle at the firmware's speed, 7E1 (Linux termios)
  tcp://HOST:PORT            raw TIC bytes from a TCP server, reconnecting every second

Link protocol (device -> simulator): requests of 5 bytes, an op letter and a little-endian u32
argument. Every request except F gets a 2-byte little-endian reply (ERROR: refused); R's reply
is followed by that many bytes.

  O baud   open the TIC input at baud (the line starts at the first one; later ones re-init)
  B baud   set_baud: re-init at baud, buffered input discarded
  R n      read: up to n characters received so far
  A 0      any: characters waiting
  W ms     the watchdog runs with this timeout from now (also a re-configuration)
  F 0      watchdog feed (no reply)
  N 0      the fake Wi-Fi radio: 0 when no access point is in range, else its signal in -dBm
"""

import os
import select
import socket
import struct
import sys
import threading
import time
from pathlib import Path

import sim_line

OPS = b"OBRAWFN"
ERROR = 0xFFFF
REQUEST = 5
MAX_READ = 4096  # characters per R reply
WIFI_RSSI = 55  # the fake access point's signal, -dBm (a good one)


class SourceError(Exception):
    """A TIC source that cannot be used: one line for the user."""


# ---------------------------------------------------------------------------------------------
# Live sources: a thread receives into a bounded buffer, as the UART driver does.


class LiveLine:
    """Bytes received by a thread (`_run`) into a buffer of `rxbuf`: when it is full, newer
    bytes are lost (`lost` counts them). set_baud re-configures (`_configure`) and discards the
    buffer: at most rxbuf bytes, whatever the peer keeps sending (`flushed` counts them)."""

    def __init__(self, baud=9600, rxbuf=sim_line.RXBUF):
        self.baud = sim_line.check_baud(baud)
        self.rxbuf = rxbuf
        self.received = self.lost = self.flushed = self.overflows = 0
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _received(self, data):
        with self._lock:
            self.received += len(data)
            room = self.rxbuf - len(self._buf)
            if len(data) > room:
                if self.lost == 0 or room > 0:
                    self.overflows += 1
                self.lost += len(data) - room
                data = data[:room]
            self._buf += data
            self._arrived.notify_all()

    def wait_received(self, total, timeout=30.0):
        """Block until `total` bytes were received since the start (tests); False on timeout."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self.received >= total, timeout)

    def readinto(self, buf, nbytes=-1):
        lim = len(buf) if nbytes < 0 else min(nbytes, len(buf))
        with self._lock:
            n = min(lim, len(self._buf))
            buf[:n] = self._buf[:n]
            del self._buf[:n]
        return n or None

    def any(self):
        with self._lock:
            return len(self._buf)

    def set_baud(self, baud):
        sim_line.check_baud(baud)
        self._configure(baud)
        self.baud = baud
        with self._lock:
            self.flushed += len(self._buf)
            del self._buf[:]

    def _configure(self, baud):
        pass

    def _run(self):
        raise NotImplementedError

    def close(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)


class TcpLine(LiveLine):
    """Raw TIC bytes from a TCP server (ser2net, ticsim --out tcp-listen:PORT), already decoded
    by the remote UART: the speed has no effect on them, set_baud only flushes."""

    def __init__(self, host, port, baud=9600, rxbuf=sim_line.RXBUF, retry_s=1.0):
        super().__init__(baud, rxbuf)
        self.address = (host, port)
        self.retry_s = retry_s
        self.connects = self.drops = 0

    def _run(self):
        while not self._stop.is_set():
            try:
                s = socket.create_connection(self.address, timeout=1.0)
            except OSError:
                self._stop.wait(self.retry_s)
                continue
            self.connects += 1
            s.settimeout(0.2)
            try:
                while not self._stop.is_set():
                    try:
                        data = s.recv(4096)
                    except socket.timeout:
                        continue
                    except OSError:
                        break
                    if not data:
                        break
                    self._received(data)
            finally:
                s.close()
            self.drops += 1
            self._stop.wait(self.retry_s)


def serial_cflag(cflag, baud):
    """termios c_cflag for the TIC: 7 data bits, even parity, 1 stop bit, no flow control."""
    import termios as t

    cflag &= ~(t.CBAUD | t.CSIZE | t.CSTOPB | t.PARODD | t.CRTSCTS)
    return cflag | t.CS7 | t.PARENB | t.CREAD | t.CLOCAL | getattr(t, "B%d" % baud)


class SerialLine(LiveLine):
    """A serial TIC dongle: the tty runs at the firmware's speed, 7E1, raw; bit 7 is passed as
    received (masking it is the parser's job). A speed change also flushes the tty's input."""

    def __init__(self, path, baud=9600, rxbuf=sim_line.RXBUF):
        import termios

        super().__init__(baud, rxbuf)
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as e:
            raise SourceError("%s: %s" % (path, e.strerror))
        try:
            termios.tcgetattr(self._fd)
        except termios.error as e:
            os.close(self._fd)
            raise SourceError("%s is not a serial port (%s)" % (path, e.args[-1]))
        self._configure(baud)

    def _configure(self, baud):
        import termios

        if not hasattr(termios, "B%d" % baud):
            raise ValueError("unsupported baud rate %r for %s" % (baud, self.path))
        a = termios.tcgetattr(self._fd)
        speed = getattr(termios, "B%d" % baud)
        cc = a[6]
        cc[termios.VMIN] = 0
        cc[termios.VTIME] = 0
        # iflag 0: no parity check, no CR/LF translation, no flow control; lflag 0: raw.
        try:
            termios.tcsetattr(self._fd, termios.TCSANOW, [0, 0, serial_cflag(a[2], baud), 0,
                                                          speed, speed, cc])  # fmt: skip
        except termios.error:
            # A Linux pty forces CS8 without parity, and then refuses the same request again
            # (EINVAL): fine if the speed is set.
            if termios.tcgetattr(self._fd)[4] != speed:
                raise
        termios.tcflush(self._fd, termios.TCIFLUSH)

    def _run(self):
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._fd], [], [], 0.2)
                if ready:
                    data = os.read(self._fd, 4096)
                    if data:
                        self._received(data)
                    else:
                        self._stop.wait(0.1)
            except OSError:  # unplugged, I/O error: try again later
                self._stop.wait(0.5)

    def close(self):
        super().close()
        os.close(self._fd)


# ---------------------------------------------------------------------------------------------
# Source specs


def parse_file_spec(spec):
    """(path, line baud or None, loop) of FILE[@BAUD][,once|,loop], with an optional file:."""
    body = spec[5:] if spec.startswith("file:") else spec
    loop = True
    if body.endswith((",once", ",loop")):
        loop = body.endswith(",loop")
        body = body[:-5]
    baud = None
    i = body.rfind("@")
    if i > 0 and body[i + 1 :].isdigit():
        body, baud = body[:i], int(body[i + 1 :])
    return body, baud, loop


def ticsim_frames(spec):
    """An endless iterator of (bytes, baud) from tools/ticsim.py for sim:MODE,PHASES,CONTRACT
    [,NAME=VALUE...]."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
    import ticsim

    from tic import BAUD

    parts = spec[4:].split(",")
    if len(parts) < 3:
        raise SourceError("%s: expected sim:MODE,PHASES,CONTRACT[,NAME=VALUE...]" % spec)
    argv = ["--mode", parts[0], "--phases", parts[1], "--contract", parts[2]]
    for p in parts[3:]:
        name, sep, value = p.partition("=")
        argv += ["--" + name] + ([value] if sep else [])
    try:
        opts = ticsim.parse_args(argv)
    except SystemExit:  # ticsim printed why on stderr
        raise SourceError("%s: bad ticsim options" % spec)
    return ((data, BAUD[mode]) for mode, data, _ in ticsim.frames(opts))


def open_line(spec, rxbuf=sim_line.RXBUF, clock=None):
    """A function baud -> line for `spec` (see the module docstring): the line starts when the
    firmware first opens its TIC input. The source is checked (and a live one opened) now:
    SourceError says what is wrong with it. `clock` (ms, tests) drives the line model."""
    if spec.startswith("tcp://"):
        host, _, port = spec[6:].rpartition(":")
        if not host or not port.isdigit():
            raise SourceError("%s: expected tcp://HOST:PORT" % spec)
        line = TcpLine(host, int(port), rxbuf=rxbuf).start()
        return lambda baud: _reconfigured(line, baud)
    if spec.startswith(("/dev/", "serial:")):
        line = SerialLine(spec[7:] if spec.startswith("serial:") else spec, rxbuf=rxbuf).start()
        return lambda baud: _reconfigured(line, baud)
    if spec.startswith("sim:"):
        frames = ticsim_frames(spec)
        return lambda baud: sim_line.MeterLine(frames, baud=baud, rxbuf=rxbuf, clock=clock)
    path, line_baud, loop = parse_file_spec(spec)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise SourceError("cannot read TIC capture %s: %s" % (path, e.strerror))
    if not data:
        raise SourceError("TIC capture %s is empty" % path)
    if line_baud is not None:
        try:
            sim_line.check_baud(line_baud)
        except ValueError as e:
            raise SourceError("%s: %s" % (spec, e))
    return lambda baud: sim_line.FileSource(
        data, line_baud=line_baud, baud=baud, loop=loop, rxbuf=rxbuf, clock=clock
    )


def _reconfigured(line, baud):
    line.set_baud(baud)
    return line


# ---------------------------------------------------------------------------------------------
# The link server


class LinkServer:
    """Serves a line to the firmware's host HAL on 127.0.0.1 (address in `spec`, for
    LINKY_TIC) and tracks its watchdog. One firmware connects per boot; `new_boot()` (before
    starting it) disarms the watchdog and ignores what older connections still send."""

    def __init__(self, make_line, host="127.0.0.1"):
        self.make_line = make_line
        self.line = None
        self.bauds = []  # every speed the firmware asked for (O and B), in order
        self.requests = 0
        self.feeds = 0
        self.wdt_ms = None
        self.last_feed = 0.0
        self.boot = 0
        self.air = WIFI_RSSI  # the fake radio (N): 0 = down, else the signal in -dBm
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((host, 0))
        self._sock.listen(4)
        self.address = self._sock.getsockname()
        self.spec = "link:%s:%d" % self.address
        self._conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def new_boot(self):
        with self._lock:
            self.boot += 1
            self.wdt_ms = None

    def set_wifi(self, up):
        """The fake access point comes back (True) or goes away (False)."""
        with self._lock:
            self.air = WIFI_RSSI if up else 0

    def watchdog_overdue(self, now=None):
        """The watchdog timeout in ms if it runs and was not fed within it, else None."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if self.wdt_ms is not None and (now - self.last_feed) * 1000 > self.wdt_ms:
                return self.wdt_ms
        return None

    def close(self):
        try:
            self._sock.close()
        except OSError:
            pass
        for c in list(self._conns):
            try:
                c.close()
            except OSError:
                pass
        line = self.line
        if line is not None and hasattr(line, "close"):
            line.close()

    def _accept(self):
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._conns.append(conn)
            with self._lock:
                boot = self.boot
            threading.Thread(target=self._serve, args=(conn, boot), daemon=True).start()

    def _serve(self, conn, boot):
        rfile = conn.makefile("rb")
        buf = bytearray(MAX_READ)
        try:
            while True:
                req = rfile.read(REQUEST)
                if not req or len(req) < REQUEST:
                    return
                op = req[0:1]
                (arg,) = struct.unpack("<I", req[1:])
                reply = self._handle(op, arg, buf, boot)
                if reply is not None:
                    conn.sendall(reply)
        except OSError:
            return
        finally:
            rfile.close()
            conn.close()
            if conn in self._conns:
                self._conns.remove(conn)

    def _handle(self, op, arg, buf, boot):
        with self._lock:
            self.requests += 1
            current = boot == self.boot
            if op == b"F":
                if current:
                    self.feeds += 1
                    self.last_feed = time.monotonic()
                return None
            if op == b"N":
                return struct.pack("<H", self.air)
            if op == b"W":
                if current:
                    self.wdt_ms = arg
                    self.last_feed = time.monotonic()
                return struct.pack("<H", 0)
            if op in (b"O", b"B"):
                try:
                    if self.line is None:
                        if op == b"B":
                            raise ValueError("set_baud before open")
                        self.line = self.make_line(arg)
                    else:
                        self.line.set_baud(arg)
                except ValueError:
                    return struct.pack("<H", ERROR)
                self.bauds.append(arg)
                return struct.pack("<H", 0)
            line = self.line
            if line is None:
                return struct.pack("<H", ERROR)
            if op == b"A":
                return struct.pack("<H", min(line.any(), MAX_READ))
            if op == b"R":
                n = line.readinto(buf, min(arg, MAX_READ)) or 0
                return struct.pack("<H", n) + bytes(buf[:n])
        raise OSError("link: unknown request %r" % op)
