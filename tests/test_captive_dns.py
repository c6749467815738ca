"""lib/captive_dns.py: the answers, checked with dnspython, built by the pure answer() and sent by
a real responder process (tests/dns_runner.py) on CPython and on the MicroPython unix port:
any name gets the AP address, other types an empty answer, malformed packets (truncated, huge,
zero or two questions, compression pointers and loops, responses, garbage) no answer and no
crash, and the responder keeps answering. Every socket has a timeout; random inputs are seeded.
"""

import os
import random
import signal
import socket
import struct
import subprocess
import sys
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

import upy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lib"))

import captive_dns  # noqa: E402

AP = "192.168.4.1"
HEAP_SLACK = 4096  # bytes the MicroPython heap may keep after the run (views, poller)


def _query(name, rdtype="A", **kw):
    return dns.message.make_query(name, rdtype, **kw)


def _answer(wire):
    r = captive_dns.Responder(AP)
    m = r.answer(wire)
    return bytes(r.buf[:m]) if m else None


def _header(flags=0x0100, qd=1, an=0, ns=0):
    return struct.pack(">HHHHHH", 0x1234, flags, qd, an, ns, 0)


def _question(name=b"\x07example\x03com\x00", qtype=1, qclass=1):
    return name + struct.pack(">HH", qtype, qclass)


LONG_NAME = b"\x3f" + b"a" * 63 + (b"\x3f" + b"b" * 63) * 4 + b"\x00"  # 321 bytes

# Malformed or unanswerable packets: none gets an answer.
MALFORMED = {
    "empty": b"",
    "header only": _header(),
    "truncated name": _header() + b"\x07exam",
    "no type and class": _header() + b"\x07example\x03com\x00",
    "half the class": _header() + b"\x07example\x03com\x00\x00\x01\x00",
    "zero questions": _header(qd=0) + _question(),
    "two questions": _header(qd=2) + _question() + _question(),
    "an answer record": _header(an=1) + _question(),
    "an authority record": _header(ns=1) + _question(),
    "a response": _header(flags=0x8180) + _question(),
    "opcode status": _header(flags=0x1000) + _question(),
    "compression loop": _header() + b"\xc0\x0c" + struct.pack(">HH", 1, 1),
    "pointer after a label": _header() + b"\x03abc\xc0\x0c" + struct.pack(">HH", 1, 1),
    "pointer out of range": _header() + b"\xc1\xff" + struct.pack(">HH", 1, 1),
    "reserved label type": _header() + b"\x41abc\x00" + struct.pack(">HH", 1, 1),
    "label past the end": _header() + b"\x3fabc",
    "name over 255 bytes": _header() + LONG_NAME + struct.pack(">HH", 1, 1),
    "huge": _header() + _question() + b"\x00" * 600,
    "garbage": bytes(range(256)) * 2,
}


# -- answer(): pure, no socket


@pytest.mark.parametrize(
    "name", ["example.com", "connectivitycheck.gstatic.com", "captive.apple.com", "a", "xn--e.fr"]
)
def test_any_a_query_gets_the_ap_address(name):
    q = _query(name)
    r = dns.message.from_wire(_answer(q.to_wire()))
    assert r.id == q.id
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.QR and r.flags & dns.flags.AA
    assert r.question == q.question
    assert len(r.answer) == 1
    rrset = r.answer[0]
    assert rrset.name == q.question[0].name and rrset.rdtype == dns.rdatatype.A
    assert [x.address for x in rrset] == [AP]
    assert rrset.ttl == captive_dns.TTL_S
    assert q.is_response(r)


@pytest.mark.parametrize("rdtype", ["AAAA", "HTTPS", "MX", "TXT", "ANY", "PTR"])
def test_other_types_get_an_empty_answer_not_an_error(rdtype):
    q = _query("example.com", rdtype)
    r = dns.message.from_wire(_answer(q.to_wire()))
    assert r.rcode() == dns.rcode.NOERROR
    assert r.answer == [] and q.is_response(r)


def test_edns_query_answered_without_echoing_the_opt_record():
    q = _query("example.com", use_edns=0, payload=1232)
    r = dns.message.from_wire(_answer(q.to_wire()))
    assert [x.address for x in r.answer[0]] == [AP]
    assert r.edns == -1  # no OPT record back


def test_case_and_recursion_desired_are_echoed():
    q = _query("ExAmPlE.CoM")
    q.flags &= ~dns.flags.RD
    wire = _answer(q.to_wire())
    assert b"ExAmPlE" in wire
    r = dns.message.from_wire(wire)
    assert not r.flags & dns.flags.RD and [x.address for x in r.answer[0]] == [AP]


def test_the_address_given_is_the_one_answered():
    r = captive_dns.Responder("10.1.2.3")
    m = r.answer(_query("x.org").to_wire())
    assert [x.address for x in dns.message.from_wire(bytes(r.buf[:m])).answer[0]] == ["10.1.2.3"]
    with pytest.raises(ValueError):
        captive_dns.Responder("10.1.2")


@pytest.mark.parametrize("what", sorted(MALFORMED))
def test_malformed_packets_get_no_answer(what):
    assert _answer(MALFORMED[what]) is None


def test_random_and_mutated_packets_never_raise():
    rng = random.Random(10)
    r = captive_dns.Responder(AP)
    base = _query("portal.linky.example").to_wire()
    for i in range(20000):
        if i % 2:
            b = bytearray(base)
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            wire = bytes(b[: rng.randint(0, len(b))] if i % 3 == 0 else b)
        else:
            wire = bytes(rng.randrange(256) for _ in range(rng.randint(0, 80)))
        m = r.answer(wire)
        if m:  # whatever it answers is a well-formed DNS response
            dns.message.from_wire(bytes(r.buf[:m]))


_HEAP_LOCK = """
import micropython, select, socket
import captive_dns
r = captive_dns.Responder("192.168.4.1")
qa = %r
qaaaa = %r
bad = %r
r._view(r.answer(qa))  # the answer's view, made once per length
r._view(r.answer(qaaaa))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(socket.getaddrinfo("127.0.0.1", 0)[0][-1])
p = select.poll()
p.register(s, select.POLLIN)
captive_dns._any(p.ipoll)  # the poller's first call sets it up
got = [0, 0, 0, 0]
ipoll = p.ipoll


def locked():
    for _ in range(100):
        a = r.answer(qa)
        b = r.answer(qaaaa)
        c = r.answer(bad)
        r._view(a)
        r._view(b)
        idle = captive_dns._any(ipoll)
    got[0] = a
    got[1] = b
    got[2] = c
    got[3] = idle


micropython.heap_lock()
try:
    locked()
finally:
    micropython.heap_unlock()
print("OK", *got)
"""


def test_answering_and_idle_polls_allocate_nothing_on_micropython():
    # Per query only socket.recvfrom allocates: the answer, its view and an idle poll do not.
    qa = _query("connectivitycheck.gstatic.com").to_wire()
    qaaaa = _query("connectivitycheck.gstatic.com", "AAAA").to_wire()
    src = _HEAP_LOCK % (qa, qaaaa, MALFORMED["compression loop"])
    r = upy.run(["-c", src], upy.micropypath(ROOT / "lib"), timeout=60)
    assert r.stdout.split() == ["OK", str(len(qa) + 16), str(len(qaaaa)), "0", "False"], (
        r.stdout + r.stderr
    )


# -- a responder process, on both interpreters


def _free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", params=["cpython", "micropython"])
def responder(request):
    port = _free_udp_port()
    args = [str(ROOT / "tests" / "dns_runner.py"), str(port)]
    if request.param == "micropython":
        cmd = [upy.require_micropython(), "-X", "heapsize=256K", *args]
        env = upy.env_with(upy.micropypath(ROOT / "lib"))
    else:
        cmd = [sys.executable, "-u", *args]
        env = dict(os.environ)
    p = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        line = p.stdout.readline()
        assert line.strip() == "READY", line + p.stdout.read()
        yield Proc(p, port, request.param)
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()


class Proc:
    def __init__(self, proc, port, kind):
        self.proc = proc
        self.port = port
        self.kind = kind

    def ask(self, name, rdtype="A", timeout=3):
        q = _query(name, rdtype)
        return dns.query.udp(q, "127.0.0.1", port=self.port, timeout=timeout)

    def silent_on(self, packets, wait=0.3):
        """Send each packet; True when none of them got anything back within `wait` s."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(wait)
            for p in packets:
                s.sendto(p, ("127.0.0.1", self.port))
            try:
                s.recvfrom(2048)
            except socket.timeout:
                return True
        return False

    def stats(self):
        """Stop it (SIGINT) and return its STATS line as a dict."""
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=10)
        line = [ln for ln in out.splitlines() if ln.startswith("STATS ")][-1]
        keys = ("answered", "dropped", "ticks", "gap_ms", "heap_start", "heap_end")
        return dict(zip(keys, map(int, line.split()[1:])))


def test_process_answers_any_name(responder):
    for name in ("example.com", "connectivitycheck.gstatic.com", "www.msftconnecttest.com"):
        r = responder.ask(name)
        assert [x.address for x in r.answer[0]] == [AP], (responder.kind, name)
    r = responder.ask("captive.apple.com", "AAAA")
    assert r.rcode() == dns.rcode.NOERROR and r.answer == []


def test_process_survives_malformed_packets_and_keeps_answering(responder):
    assert responder.silent_on(MALFORMED.values())
    r = responder.ask("after.malformed.example")
    assert [x.address for x in r.answer[0]] == [AP]


@pytest.mark.slow  # about 2 s per interpreter
def test_process_survives_a_flood(responder):
    rng = random.Random(7)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(300):
            if i % 3:
                p = bytes(rng.randrange(256) for _ in range(rng.randint(0, 600)))
            else:
                p = _query("flood%d.example" % i).to_wire()
            s.sendto(p, ("127.0.0.1", responder.port))
    # The kernel drops what overflows the socket's buffer (our query too, if sent while it is
    # full): retry, as resolvers do. MAX_PER_POLL queries per POLL_MS drain it in about 2 s.
    for _ in range(5):
        try:
            r = responder.ask("after.flood.example", timeout=2)
            break
        except dns.exception.Timeout:
            continue
    assert [x.address for x in r.answer[0]] == [AP]


def test_process_stats_last(responder):
    # Runs last for each interpreter (pytest keeps file order): stops the responder. Asks
    # its own queries first: under pytest-xdist the tests above may run in another worker,
    # with a responder of their own.
    for i in range(5):
        responder.ask("stats%d.example" % i)
    assert responder.silent_on(MALFORMED.values())
    st = responder.stats()
    assert st["answered"] >= 5 and st["dropped"] >= len(MALFORMED)
    assert st["ticks"] > 0  # the loop went on beside it
    if responder.kind == "micropython":
        assert st["heap_end"] - st["heap_start"] <= HEAP_SLACK, st
