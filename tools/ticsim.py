#!/usr/bin/env python3
"""ticsim: the TIC output of a simulated Linky, for host tests and for a bench ESP32.

    python3 tools/ticsim.py --mode historique|standard --phases 1|3
        --contract base|hchp|tempo|ejp|producer [--frames N] [--ber RATE] [--eot-rate P]
        [--switch-after N] [--realtime] [--seed S] [--start ISO-DATE] [--speedup K]
        [--overload AT[,DUR]] [--days LIST] [--degraded-clock] [--8n1]
        [--out -|FILE|tcp-listen:PORT|/dev/ttyX] [--host ADDR]

Simulated time advances by each frame's real duration on the line (10 bits per character at
1200/9600 Bd plus a 16.7-33.4 ms gap) times --speedup; it never reads the wall clock, so a
--seed gives the same bytes every time. The meter and household live in ticsim_model.py, the
label lists in ticsim_frames.py; this file holds the command line, the line faults and outputs.

A `producer` contract in historique mode sends what a Linky sends in historique on a contract
it has no labels for ([54E]): OPTARIF BASE, BASE = total drawn energy, PAPP = drawn power (0
while injecting); the injected energy is invisible. A note says so on stderr.
"""

import argparse
import datetime
import math
import os
import random
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "lib"), str(ROOT / "tools")]

from ticsim_frames import historique, historique_short, standard  # noqa: E402
from ticsim_model import (  # noqa: E402
    COLOUR_CODES,
    CONTRACTS,
    EJP_CODES,
    Meter,
    utc_of_local,
)

from tic import BAUD, MODE_HISTORIQUE, MODE_STANDARD  # noqa: E402
from tic.encode import EOT, ETX, frame  # noqa: E402

MODES = {"historique": MODE_HISTORIQUE, "standard": MODE_STANDARD}
DEFAULT_START = "2024-01-16T19:55:00"  # a winter Tuesday evening, Paris legal time
GAP = (0.0167, 0.0334)  # seconds between ETX and the next STX
SHORT_CYCLE = 20  # tri historique overload: 20 short frames, then 1 long one
DEFAULT_FRAMES = 10  # for a file or stdout; tcp, tty and --realtime run until stopped


class Simulator:
    """The frames a meter sends: mode (and its switch), tri short-frame cycle, EOT cuts."""

    def __init__(self, opts):
        self.meter = Meter(
            random.Random(opts.seed),
            opts.phases,
            opts.contract,
            opts.start_utc,
            seed=opts.seed,
            days=opts.days,
            overloads=opts.overload,
        )
        self.meter.degraded = opts.degraded_clock
        self.line = random.Random("line-%d" % opts.seed)  # gaps, cuts: not the meter's draws
        self.mode = MODES[opts.mode]
        self.switch_after = opts.switch_after
        self.eot_rate = opts.eot_rate
        self.speedup = opts.speedup
        self.count = 0
        self.cycle = 0

    def _groups(self):
        m = self.meter
        if self.mode == MODE_STANDARD:
            return standard(m)
        if m.short_frames() and self.cycle < SHORT_CYCLE:
            self.cycle += 1
            return historique_short(m)
        self.cycle = 0
        return historique(m)

    def next_frame(self):
        """(mode, frame bytes, gap after it), then simulated time moves on by its duration."""
        if self.switch_after and self.count == self.switch_after:
            self.mode = MODE_STANDARD if self.mode == MODE_HISTORIQUE else MODE_HISTORIQUE
            self.cycle = 0
        groups = self._groups()
        end = ETX
        if self.eot_rate and len(groups) > 1 and self.line.random() < self.eot_rate:
            groups = groups[: self.line.randint(1, len(groups) - 1)]
            end = EOT
        data = frame(self.mode, groups, end)
        gap = self.line.uniform(*GAP)
        self.meter.advance((len(data) * 10 / BAUD[self.mode] + gap) * self.speedup)
        self.count += 1
        return self.mode, data, gap


class Noise:
    """Random bit flips at a bit-error rate, over the 7 data bits of every byte."""

    def __init__(self, rng, ber, parity8=False):
        self.rng = rng
        self.ber = ber
        self.parity8 = parity8
        self.skip = self._gap()  # data bits to pass before the next flip

    def _gap(self):
        if self.ber <= 0:
            return math.inf
        if self.ber >= 1:
            return 0
        return int(math.log(1.0 - self.rng.random()) / math.log(1.0 - self.ber))

    def apply(self, data):
        out = bytearray(data)
        if self.parity8:  # what an 8N1 reader sees: the even-parity bit as bit 7
            for i, b in enumerate(out):
                out[i] = b | (bin(b).count("1") & 1) << 7
        nbits = 7 * len(out)
        while self.skip < nbits:
            i, bit = divmod(self.skip, 7)
            out[i] ^= 1 << bit
            self.skip += 1 + self._gap()
        self.skip -= nbits
        return bytes(out)


def frames(opts):
    """Yield (mode, bytes as sent on the line, gap) forever."""
    sim = Simulator(opts)
    noise = Noise(random.Random("noise-%d" % opts.seed), opts.ber, opts.parity8)
    while True:
        mode, data, gap = sim.next_frame()
        yield mode, noise.apply(data), gap


def generate(argv):
    """All the bytes of a run, for tests: `generate(["--mode", "standard", ...])`."""
    opts = parse_args(argv)
    gen = frames(opts)
    return b"".join(next(gen)[1] for _ in range(opts.frames or DEFAULT_FRAMES))


# ---- outputs ---------------------------------------------------------------------------------
class Output:
    """Where bytes go. With `realtime`, writes are paced at line speed in ~20 ms chunks."""

    endless = False  # default --frames: run until stopped

    def __init__(self, realtime=False):
        self.realtime = realtime
        self.baud = 1200
        self.due = None  # monotonic time the line is busy until

    def set_baud(self, baud):
        self.baud = baud

    def send(self, data, gap):
        if not self.realtime:
            self.write(data)
            return
        now = time.monotonic()
        if self.due is None or self.due < now - 1:  # start, or we fell behind (client wait)
            self.due = now
        step = max(1, self.baud // 500)  # characters per 20 ms
        for i in range(0, len(data), step):
            chunk = data[i : i + step]
            self.write(chunk)
            self.due += len(chunk) * 10 / self.baud
            time.sleep(max(0.0, self.due - time.monotonic()))
        self.due += gap
        time.sleep(max(0.0, self.due - time.monotonic()))

    def write(self, data):
        raise NotImplementedError

    def close(self):
        pass


class StreamOutput(Output):
    def __init__(self, f, realtime, own=True):
        super().__init__(realtime)
        self.f = f
        self.own = own

    def write(self, data):
        self.f.write(data)
        self.f.flush()

    def close(self):
        if self.own:
            self.f.close()


class TcpOutput(Output):
    """Listen on host:port, stream to one client at a time; a new client gets the stream
    from where it is (mid-frame, as when plugging into a meter)."""

    endless = True

    def __init__(self, host, port, realtime):
        super().__init__(realtime)
        self.server = socket.create_server((host, port))
        self.client = None
        host, port = self.server.getsockname()[:2]
        print("ticsim: listening on %s:%d" % (host, port), file=sys.stderr, flush=True)

    def write(self, data):
        while True:
            if self.client is None:
                self.client = self.server.accept()[0]
            try:
                self.client.sendall(data)
                return
            except OSError:  # client gone: wait for the next one
                self.client.close()
                self.client = None

    def close(self):
        if self.client is not None:
            self.client.close()
        self.server.close()


class TtyOutput(Output):
    """A serial port (e.g. a USB-serial adapter to a bench ESP32): 7E1 raw, no flow control.
    The UART paces the bytes; we wait for it to drain, then add the inter-frame gap."""

    endless = True

    def __init__(self, fd):
        super().__init__(True)
        self.fd = fd
        self.set_baud(1200)

    def set_baud(self, baud):
        import termios

        self.baud = baud
        speed = termios.B9600 if baud == 9600 else termios.B1200
        cbaud = getattr(termios, "CBAUD", 0)  # Linux keeps the speed in cflag too
        attrs = termios.tcgetattr(self.fd)
        attrs[0] = termios.IGNBRK  # iflag: no XON/XOFF, no CR/LF mapping, no stripping
        attrs[1] = 0  # oflag: raw output (no LF -> CR LF)
        attrs[3] = 0  # lflag: no echo, not canonical
        attrs[4] = attrs[5] = speed
        current = attrs[2]
        # cflag: 7 data bits, even parity, 1 stop bit, no RTS/CTS.
        framing = termios.CSIZE | termios.PARODD | termios.CSTOPB | termios.PARENB
        framing |= getattr(termios, "CRTSCTS", 0)
        want = termios.CS7 | termios.PARENB | termios.CREAD | termios.CLOCAL
        attrs[2] = current & ~(framing | cbaud) | want | (speed if cbaud else 0)
        try:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, attrs)
        except termios.error:
            # A pseudo-terminal forces 8 bits without parity and may then refuse any framing
            # change: keep its framing, change the speed only.
            attrs[2] = current & ~cbaud | (speed if cbaud else 0)
            termios.tcsetattr(self.fd, termios.TCSADRAIN, attrs)

    def send(self, data, gap):
        import termios

        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        termios.tcdrain(self.fd)
        time.sleep(gap)

    def close(self):
        os.close(self.fd)


def open_output(opts):
    out = opts.out
    if out == "-":
        return StreamOutput(sys.stdout.buffer, opts.realtime, own=False)
    if out.startswith("tcp-listen:"):
        return TcpOutput(opts.host, int(out[11:]), opts.realtime)
    if out.startswith("/dev/"):
        fd = os.open(out, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        if os.isatty(fd):
            os.set_blocking(fd, True)
            return TtyOutput(fd)
        os.close(fd)
    return StreamOutput(open(out, "wb"), opts.realtime)  # closed by close()


# ---- command line ----------------------------------------------------------------------------
class _Args(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, "ticsim: error: %s\n" % message)


def _build_parser():
    p = _Args(prog="ticsim", description="Simulated Linky TIC output (see the module docstring).")
    a = p.add_argument
    a("--mode", required=True, choices=sorted(MODES))
    a("--phases", required=True, type=int, choices=(1, 3))
    a("--contract", required=True, choices=CONTRACTS)
    a("--frames", type=int, help="stop after N frames; 0 = endless (default %d for a file or "
      "stdout, endless for tcp, tty or --realtime)" % DEFAULT_FRAMES)  # fmt: skip
    a("--ber", type=float, default=0.0, help="bit-error rate over the 7 data bits of each byte")
    a("--eot-rate", type=float, default=0.0, help="probability a frame is cut by EOT")
    a("--switch-after", type=int, default=0, help="switch historique<->standard after N frames")
    a("--realtime", action="store_true", help="pace the output at line speed")
    a("--seed", type=int, help="deterministic output (default: a random seed, told on stderr)")
    a("--start", default=DEFAULT_START, help="local legal time, ISO (default %(default)s)")
    a("--speedup", type=float, default=1.0, help="simulated seconds per second of line time")
    a("--overload", action="append", default=[], metavar="AT[,DUR]",
      help="overload from AT s of simulated time, for DUR s (default 60)")  # fmt: skip
    a("--days", default="", help="tariff days from the start day: tempo B,W,R; ejp N,P")
    a("--degraded-clock", action="store_true", help="season letter h/e and STGE bit 16")
    a("--8n1", dest="parity8", action="store_true", help="set bit 7 to the parity bit")
    a("--out", default="-", help="- (stdout), FILE, tcp-listen:PORT or a tty path")
    a("--host", default="127.0.0.1", help="address for tcp-listen (default %(default)s)")
    return p


def _parse_start(p, text):
    try:
        dt = datetime.datetime.fromisoformat(text)
    except ValueError:
        p.error("--start: not an ISO date/time: %r" % text)
    if dt.tzinfo is not None:
        return dt.timestamp()
    return utc_of_local(dt)


def parse_args(argv):
    p = _build_parser()
    opts = p.parse_args(argv)
    if opts.frames is not None and opts.frames < 0:
        p.error("--frames must be >= 0")
    for name in ("ber", "eot_rate"):
        if not 0.0 <= getattr(opts, name) <= 1.0:
            p.error("--%s must be between 0 and 1" % name.replace("_", "-"))
    if opts.switch_after < 0:
        p.error("--switch-after must be >= 0")
    if not opts.speedup > 0 or math.isinf(opts.speedup):
        p.error("--speedup must be a positive number")
    opts.start_utc = _parse_start(p, opts.start)
    if opts.seed is None:
        opts.seed = random.SystemRandom().randrange(1 << 32)
        opts.random_seed = True
    else:
        opts.random_seed = False
    spans = []
    for spec in opts.overload:
        try:
            parts = [float(x) for x in spec.split(",")]
        except ValueError:
            parts = []
        if len(parts) not in (1, 2) or min(parts) < 0:
            p.error("--overload wants AT[,DUR] in seconds, got %r" % spec)
        spans.append((parts[0], parts[1] if len(parts) == 2 else 60.0))
    opts.overload = spans
    days = [d.strip().upper() for d in opts.days.split(",") if d.strip()]
    codes = {"tempo": COLOUR_CODES, "ejp": EJP_CODES}.get(opts.contract)
    if days and codes is None:
        p.error("--days applies to the tempo and ejp contracts only")
    if days and not all(d in codes for d in days):
        p.error("--days for %s takes %s" % (opts.contract, ",".join(sorted(codes))))
    opts.days = days
    if opts.out.startswith("tcp-listen:"):
        port = opts.out[11:]
        if not port.isdigit() or int(port) > 65535:
            p.error("--out tcp-listen:PORT needs a port number 0-65535")
    return opts


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    if opts.random_seed:
        print("ticsim: seed %d" % opts.seed, file=sys.stderr)
    if opts.contract == "producer" and (opts.mode == "historique" or opts.switch_after):
        print("ticsim: note: historique has no producer labels; a Linky sends OPTARIF BASE with "
              "the drawn energy only, and so does ticsim", file=sys.stderr)  # fmt: skip
    try:
        out = open_output(opts)
    except OSError as e:
        print("ticsim: error: %s: %s" % (opts.out, e.strerror or e), file=sys.stderr)
        return 1
    count = opts.frames
    if count is None:
        count = 0 if opts.realtime or out.endless else DEFAULT_FRAMES
    mode = None
    n = 0
    try:
        for m, data, gap in frames(opts):
            if m != mode:
                mode = m
                out.set_baud(BAUD[m])
            out.send(data, gap)
            n += 1
            if n == count:
                break
    except (BrokenPipeError, KeyboardInterrupt):
        pass  # reader gone (e.g. `| head`) or Ctrl-C: a normal way to stop
    finally:
        try:
            out.close()
        except BrokenPipeError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
