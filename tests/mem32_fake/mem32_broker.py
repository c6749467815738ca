"""In-memory MQTT stream at the socket edge of the memory harness (tools/mem32, scenario mqtt).

`open_connection` replaces firmware.hal.open_connection (the ESP32 HAL's asyncio TCP socket):
same contract (awaitable readinto(buf), write(buf), awaitable drain(), close(); OSError 113 at
once while the Wi-Fi station is not connected). Behind it a broker that parses what the client
writes as a byte stream (packets split across writes or merged are fine) and answers CONNECT
with CONNACK (accepted), SUBSCRIBE with SUBACK (QoS granted), PUBLISH QoS 1 with PUBACK and
PINGREQ with PINGRESP; it counts what is published and discards it.

Cost: one Stream, made when this module is imported (before the harness's first reading, so it
counts with the harness), reused by every connection; its answer ring (64 bytes) and counters
are all it keeps, plus an asyncio.Event made at the first connection (asyncio is not imported
before the harness reads its cost): its size is in `Stream.kept`, for the harness to subtract.
write() copies nothing and allocates nothing: it walks the bytes and skips payloads in one
step. `out_buf` is empty, as in MicroPython's asyncio Stream once the socket
took a whole write (the normal case on a board): the client then does not wait for drain().
At every write the heap in use is compared with `peak`; with `watch` set (the harness sets it
for the connection and the discovery round) the write also ends a harness step
(mem32_steps.note(): heap size noted, a collection asked for, as a board collects when it
must), so the round's peak is seen from here (its garbage since the step began included).
"""

import gc

import mem32_steps

_RING = 64  # answers waiting for the client's reader: 4 bytes each, one or two at a time

# parser states
_OP = 0  # next byte: a fixed header
_LEN = 1  # remaining length bytes
_BODY = 2  # inside the body


class Stream:
    out_buf = b""  # MicroPython's Stream: nothing left to drain after a write

    def __init__(self):
        self.ring = bytearray(_RING)
        self.ev = None  # asyncio.Event, made by open_connection()
        self.kept = 0  # bytes this fake allocated after the harness's base reading
        self.reset()
        # counters for the whole run (kept across connections)
        self.opens = self.connects = self.subscribes = self.pings = 0
        self.pub0 = self.pub1 = self.retained = 0  # PUBLISH packets by QoS; retained ones
        self.pub_bytes = 0  # PUBLISH payload bytes
        self.written = 0  # every byte the client wrote
        self.peak = 0  # largest gc.mem_alloc() seen at a write (no collection since the step)
        self.watch = False  # each write ends a harness step (see the module's docstring)

    def reset(self):
        self.closed = False
        self.head = self.tail = 0  # ring: answers from head to tail
        self.st = _OP
        self.op = self.rem = self.sh = self.pos = 0
        self.tlen = self.pid = self.plen = 0

    # -- the stream contract
    async def readinto(self, buf):
        while self.head == self.tail:
            if self.closed:
                return 0
            self.ev.clear()
            await self.ev.wait()
        n = 0
        m = len(buf)
        r = self.ring
        while n < m and self.head != self.tail:
            buf[n] = r[self.head]
            self.head = (self.head + 1) % _RING
            n += 1
        return n

    def write(self, b):
        if self.closed:
            raise OSError(32, "broken pipe")
        self.written += len(b)
        i = 0
        n = len(b)
        while i < n:
            i = self._eat(b, i, n)
        u = mem32_steps.used()
        self.peak = max(self.peak, u)
        if self.watch:
            mem32_steps.note()

    async def drain(self):
        # No turn of the JavaScript loop here (where the port would collect): a turn takes a
        # millisecond of real time, in which the client's and the Wi-Fi task's real-time
        # timers fire now and then, and what the round keeps then varied from run to run
        # (+176 B in about one run in seven). So a round's peak includes its garbage since
        # the last step (pessimistic: a board collects when it must).
        pass

    def close(self):
        self.closed = True
        self.ev.set()

    # -- the broker
    def _answer(self, a, b, c=-1, d=-1):
        r = self.ring
        for v in (a, b, c, d):
            if v < 0:
                break
            r[self.tail] = v
            self.tail = (self.tail + 1) % _RING
            if self.tail == self.head:
                raise RuntimeError("mem32_broker: answer ring full (the client stopped reading)")
        self.ev.set()

    def _eat(self, b, i, n):
        """Consume bytes of b from index i; return the next index (allocates nothing)."""
        st = self.st
        if st == _OP:
            self.op = b[i]
            self.rem = self.sh = self.pos = 0
            self.st = _LEN
            return i + 1
        if st == _LEN:
            v = b[i]
            self.rem |= (v & 0x7F) << self.sh
            self.sh += 7
            if not v & 0x80:
                self.st = _BODY
                if self.rem == 0:
                    self._end()
            return i + 1
        # body: the first bytes matter (topic length, packet id), the rest is skipped
        op = self.op & 0xF0
        pos = self.pos
        if op == 0x30:  # PUBLISH: topic length, topic, packet id (QoS 1), payload
            qos = self.op >> 1 & 3
            if pos < 2:
                self.tlen = self.tlen << 8 | b[i] if pos else b[i]
                self.pos += 1
                if self.pos == 2:
                    self.plen = self.rem - 2 - self.tlen - (2 if qos else 0)
                return i + 1
            idpos = 2 + self.tlen
            if qos and idpos <= pos < idpos + 2:
                self.pid = self.pid << 8 | b[i] if pos > idpos else b[i]
                self.pos += 1
            else:
                k = min(n - i, self.rem - pos)
                if qos and pos < idpos:
                    k = min(k, idpos - pos)
                self.pos += k
                i += k - 1
        elif op in (0x80, 0x10) and pos < 2:  # SUBSCRIBE packet id; CONNECT: nothing kept
            self.pid = self.pid << 8 | b[i] if pos else b[i]
            self.pos += 1
        else:
            k = min(n - i, self.rem - pos)
            self.pos += k
            i += k - 1
        if self.pos >= self.rem:
            self._end()
        return i + 1

    def _end(self):
        """A whole packet was read: answer it."""
        self.st = _OP
        op = self.op & 0xF0
        if op == 0x10:  # CONNECT
            self.connects += 1
            self._answer(0x20, 2, 0, 0)
        elif op == 0x30:
            if self.op & 6:
                self.pub1 += 1
                self._answer(0x40, 2, self.pid >> 8, self.pid & 0xFF)
            else:
                self.pub0 += 1
            if self.op & 1:
                self.retained += 1
            self.pub_bytes += self.plen
        elif op == 0x80:  # SUBSCRIBE (one topic per packet in lib/mqtt.py): QoS as asked
            self.subscribes += 1
            self._answer(0x90, 3, self.pid >> 8, self.pid & 0xFF)
            # the granted QoS: lib/mqtt.py subscribes at QoS 0 and 1; 0 is granted
            self._answer(0, -1)
        elif op == 0xC0:  # PINGREQ
            self.pings += 1
            self._answer(0xD0, 0)
        # DISCONNECT (0xE0), PUBACK from the client (0x40): nothing to answer


STREAM = Stream()


async def open_connection(host, port, ssl=None, server_hostname=None):
    """firmware.hal.open_connection's contract, on the in-memory broker."""
    from firmware import hal

    sta = hal.wlan()
    if not sta.isconnected():
        raise OSError(113, "no network")  # EHOSTUNREACH, as the ESP32 HAL
    s = STREAM
    if s.ev is None:
        import asyncio

        a = gc.mem_alloc()  # no collection inside a call on the WebAssembly port
        s.ev = asyncio.Event()
        s.kept += gc.mem_alloc() - a
    s.reset()
    s.opens += 1
    return s
