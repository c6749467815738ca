"""An in-memory stream at the socket edge and a scripted broker behind it, for lib/mqtt.py's
protocol tests on CPython and MicroPython. The client's real code runs unchanged: only the
socket is replaced.

FakeBroker(...).open is an `open_stream` for MQTTClient; each call makes a new FakeStream
(kept in `streams`) whose written bytes are parsed into packets (`packets`: (first byte,
body bytes)) and answered as the options say.
"""

import asyncio


class FakeStream:
    """The client's stream contract: async readinto, write, async drain, close."""

    def __init__(self, broker):
        self.broker = broker
        self.rx = bytearray()  # what the client will read
        self.tx = bytearray()  # what the client wrote, not yet parsed
        self.closed = False
        self.eof = False  # the broker side hung up

    async def readinto(self, buf):
        while not self.rx:
            if self.closed or self.eof:
                return 0
            await asyncio.sleep(0.002)
        n = min(len(buf), len(self.rx))
        buf[:n] = self.rx[:n]
        self.rx = self.rx[n:]
        return n

    def write(self, b):
        if self.closed or self.eof:
            raise OSError(32, "broken pipe")
        self.tx += bytes(b)
        self.broker.parse(self)

    async def drain(self):
        await asyncio.sleep(0)

    def close(self):
        self.closed = True

    def send(self, b):
        """Broker -> client bytes."""
        self.rx += b


class FakeBroker:
    """silent: never answers; connack: the CONNACK bytes; drop_pubacks: PUBACKs not sent
    (the first ones); pingresp: answer PINGREQ; fail_opens: opens that raise OSError first;
    eof_on_publish: hang up on the Nth PUBLISH (1-based), after reading it."""

    def __init__(
        self,
        *,
        silent=False,
        connack=b"\x20\x02\x00\x00",
        drop_pubacks=0,
        pingresp=True,
        fail_opens=0,
        eof_on_publish=0,
        suback_rc=None,
    ):
        self.silent = silent
        self.connack = connack
        self.drop_pubacks = drop_pubacks
        self.pingresp = pingresp
        self.fail_opens = fail_opens
        self.eof_on_publish = eof_on_publish
        self.suback_rc = suback_rc
        self.streams = []
        self.packets = []
        self.opens = 0
        self.publishes = 0

    async def open(self, host, port, ssl=None, server_hostname=None):
        self.opens += 1
        if self.fail_opens:
            self.fail_opens -= 1
            raise OSError(111, "connection refused")
        s = FakeStream(self)
        self.streams.append(s)
        return s

    def of_type(self, op):
        return [p for p in self.packets if p[0] & 0xF0 == op]

    def parse(self, st):
        while True:
            t = st.tx
            if len(t) < 2:
                return
            n = 0
            sh = 0
            i = 1
            while True:
                if i >= len(t):
                    return
                b = t[i]
                n |= (b & 0x7F) << sh
                i += 1
                if not b & 0x80:
                    break
                sh += 7
            if len(t) < i + n:
                return
            op = t[0]
            body = bytes(t[i : i + n])
            st.tx = t[i + n :]
            self.packets.append((op, body))
            self.answer(st, op, body)

    def answer(self, st, op, body):
        if self.silent:
            return
        kind = op & 0xF0
        if kind == 0x10:
            st.send(self.connack)
        elif kind == 0x30:
            self.publishes += 1
            if self.publishes == self.eof_on_publish:
                st.eof = True
                return
            if op & 6:
                tl = body[0] << 8 | body[1]
                pid = body[2 + tl : 4 + tl]
                if self.drop_pubacks:
                    self.drop_pubacks -= 1
                else:
                    st.send(b"\x40\x02" + pid)
        elif kind == 0x80:
            rc = self.suback_rc if self.suback_rc is not None else body[-1]
            st.send(b"\x90\x03" + body[:2] + bytes([rc]))
        elif kind == 0xC0 and self.pingresp:
            st.send(b"\xd0\x00")
        elif kind == 0xE0:
            st.eof = True


def run(coro):
    """asyncio.run on both interpreters."""
    return asyncio.run(coro)
