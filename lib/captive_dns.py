"""Captive DNS responder: every A query gets the access point's address.

Contract:
  Responder(ip, port=53, bind="0.0.0.0", poll_ms=POLL_MS)   ip: the address to answer with
  await run()   binds a UDP socket (OSError if it cannot), then every poll_ms answers up to
                MAX_PER_POLL waiting queries; runs until cancelled (the socket is closed).
  answer(q) -> int   builds in `buf` the answer to query `q` (bytes); its length, 0 for none
  answered, dropped  counters; port
Answers: a standard query (QR 0, opcode 0) with exactly one question and no answer or
authority records gets NOERROR, AA, the question echoed, and for type A class IN one record
(a pointer to the question's name, TTL_S, the address); any other type (AAAA, HTTPS...) gets
no record and no error (so a phone falls back to A, never to "no such name"). Additional
records (an EDNS OPT) are not echoed. Anything else (shorter than a header and a question,
longer than MAX_QUERY, a response, another opcode, 0 or 2+ questions, a compression pointer or
a reserved label type in the question, a name over 255 bytes, truncated) gets no answer.
Cost: `buf` (MAX_QUERY + 16 bytes) and a few views, made once; per query only what
socket.recvfrom allocates (the datagram and the sender's address) and, the first time an
answer length is seen, a view of that length (at most VIEWS kept). An idle poll allocates
nothing (select.poll's ipoll on MicroPython). Design: docs/design/portal.md.
"""

import asyncio

MAX_QUERY = 512  # classic DNS over UDP; longer datagrams are dropped
MAX_PER_POLL = 8  # bounded work per poll: a flood cannot starve the loop
POLL_MS = 50
TTL_S = 10  # short: once the phone is back on its own network, the fake answers go soon
VIEWS = 16
_RR_LEN = 16  # pointer 2, type 2, class 2, TTL 4, length 2, address 4

try:
    _sleep_ms = asyncio.sleep_ms
except AttributeError:  # CPython

    def _sleep_ms(ms):
        return asyncio.sleep(ms / 1000)


class Responder:
    def __init__(self, ip, port=53, bind="0.0.0.0", poll_ms=POLL_MS):
        parts = ip.split(".")
        if len(parts) != 4:
            raise ValueError("not an IPv4 address: %r" % (ip,))
        rr = bytearray(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00")
        rr[9] = TTL_S
        for i in range(4):
            rr[12 + i] = int(parts[i])
        self._rr = rr
        self.ip = ip
        self.port = port
        self.bind = bind
        self.poll_ms = poll_ms
        self.buf = bytearray(MAX_QUERY + _RR_LEN)
        self._mv = memoryview(self.buf)
        self._views = {}
        self.answered = 0
        self.dropped = 0

    def answer(self, q):
        n = len(q)
        if n < 17 or n > MAX_QUERY:  # header 12, root name 1, type and class 4
            return 0
        # flags: QR must be 0 (a query), opcode 0 (standard); one question, no answers or
        # authority records (additional ones, the EDNS OPT, are allowed and dropped)
        if q[2] & 0xF8 or q[4] or q[5] != 1 or q[6] or q[7] or q[8] or q[9]:
            return 0
        i = 12
        while True:
            if i >= n:
                return 0
            k = q[i]
            if k == 0:
                break
            if k > 63:  # a compression pointer (0xC0) or a reserved label type
                return 0
            i += k + 1
            if i > 12 + 255:
                return 0
        i += 5  # the root label, type, class
        if i > n:
            return 0
        a = q[i - 4] == 0 and q[i - 3] == 1 and q[i - 2] == 0 and q[i - 1] == 1  # A, IN
        mv = self._mv
        mv[0:n] = q
        b = self.buf
        b[2] = 0x84 | (q[2] & 0x01)  # QR, AA, RD echoed
        b[3] = 0x80  # RA, NOERROR
        b[6] = 0
        b[7] = 1 if a else 0  # answers
        b[10] = b[11] = 0  # no additional records
        if not a:
            return i
        mv[i : i + _RR_LEN] = self._rr
        return i + _RR_LEN

    def _view(self, m):
        v = self._views.get(m)
        if v is None:
            if len(self._views) >= VIEWS:
                self._views.clear()
            v = self._views[m] = self._mv[:m]
        return v

    def _serve_one(self, s):
        try:
            q, addr = s.recvfrom(MAX_QUERY + 1)
        except OSError:  # gone since the poll (EAGAIN), or an ICMP error queued on the socket
            return
        try:
            m = self.answer(q)
        except (IndexError, ValueError):  # cannot happen (lengths are checked): drop, go on
            m = 0
        if not m:
            self.dropped += 1
            return
        try:
            s.sendto(self._view(m), addr)
            self.answered += 1
        except OSError:  # send buffer full, client gone
            self.dropped += 1

    async def run(self):
        import select
        import socket

        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(socket.getaddrinfo(self.bind, self.port)[0][-1])
            s.setblocking(False)
            p = select.poll()
            p.register(s, select.POLLIN)
            ready = getattr(p, "ipoll", None) or p.poll  # ipoll: no list per call
            while True:
                for _ in range(MAX_PER_POLL):
                    if not _any(ready):
                        break
                    self._serve_one(s)
                await _sleep_ms(self.poll_ms)
        finally:
            s.close()


def _any(ready):
    for _ in ready(0):
        return True
    return False
