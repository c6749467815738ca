"""asyncio MQTT 3.1.1 client (QoS 0 and 1, retain, last will, TLS) for MicroPython and CPython.

MQTTConnection is the protocol on one connection (`connect`, `publish`, `subscribe`,
`disconnect`; a reader task and a keepalive task per connection); MQTTClient adds `run()`, the
connection manager (reconnect with bounded exponential backoff and jitter, re-subscribe,
`on_connect` / `on_disconnect` hooks). The byte stream comes from an injected
`open_stream(host, port, ssl, server_hostname)` coroutine returning an object with
`async readinto(buf) -> n` (0 at end of stream), `write(buf)`, `async drain()`, `close()`;
the default uses `asyncio.open_connection`, tests pass an in-memory stream.

Every wait is bounded: DNS (CPython), TCP/TLS connect, CONNACK, a write the socket could not
take at once, each acknowledgement, by `timeout_ms`; reading by the keepalive rule (nothing
from the broker for keepalive/2 + timeout_ms: the connection is dead). On the ESP32 the DNS
lookup blocks (lwIP's own timeout): it is done once and cached. Errors are MQTTError
(TLSError for TLS set-up); nothing raised inside the client's own tasks escapes them.

Memory: a receive buffer (`rx_size`) and a header buffer (`max_topic` + 9) per client,
allocated once; a QoS 0 publish allocates one memoryview (payloads as bytes-likes: a str is
encoded, a copy). What runs once per connection (CONNECT, SUBSCRIBE, the default opener) is
lib/mqtt_link.py, loaded for the call and dropped; the CPython stand-ins are lib/mqtt_host.py.
Design, bounds and figures: docs/design/mqtt.md.
"""

import asyncio
import random
import sys
import time

import log

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


_STABLE_MS = const(60000)  # a connection that lasted this long resets the backoff
_POLL_MS = const(10)  # how often a QoS 1 publish or a subscribe looks for its acknowledgement

_log = log.getLogger("mqtt")

try:  # MicroPython
    _ticks = time.ticks_ms
    _diff = time.ticks_diff
    _sleep_ms = asyncio.sleep_ms
    _wait_ms = asyncio.wait_for_ms

    async def _getaddr(host, port, ms):
        import socket

        # Blocks the loop on the ESP32 (lwIP DNS), hence resolved once and cached by the client.
        a = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][-1]
        return a[0] if isinstance(a, tuple) else host  # the unix port gives a raw sockaddr

except AttributeError:  # CPython: the same from a host-only module (no code on the device);
    # _getaddr is for lib/mqtt_link.py (mqtt._getaddr)
    from mqtt_host import _diff, _getaddr, _sleep_ms, _ticks, _wait_ms  # noqa: F401


class MQTTError(Exception):
    """A refused or lost connection, a timeout, or a malformed packet (args[0]: a message)."""


class TLSError(MQTTError):
    """TLS set-up failed: bad CA data, handshake or server certificate verification."""


def _enc_len(buf, i, n):
    """Write the remaining length `n` (0..268435455) at buf[i]; returns the index after it.
    No allocation."""
    if n > 268435455:
        raise ValueError("packet too long")
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            b |= 0x80
        buf[i] = b
        i += 1
        if not n:
            return i


def _link():
    """lib/mqtt_link.py: what runs once per connection (connect, subscribe), loaded for it."""
    import mqtt_link

    return mqtt_link


def _unlink():
    sys.modules.pop("mqtt_link", None)  # dropped after use (its code is not resident)


class MQTTConnection:
    """The protocol on one connection at a time (the connection manager is MQTTClient, below).
    Clean session. `port` 0 means 1883, or 8883 with `ssl` (an SSLContext, see
    mqtt_tls.context). `server_hostname`: the name the TLS certificate must carry (default
    `server`). `timeout_ms` bounds each network wait; QoS 1 is re-sent `max_repubs` times.
    `set_callback(f)` for incoming messages."""

    def __init__(  # noqa: PLR0917 (umqtt's positional order)
        self,
        client_id,
        server,
        port=0,
        user=None,
        password=None,
        keepalive=60,
        ssl=None,
        *,
        server_hostname=None,
        open_stream=None,
        timeout_ms=10000,
        rx_size=256,
        max_topic=128,
        max_repubs=4,
    ):
        self.client_id = client_id
        self.server = server
        self.port = port or (8883 if ssl else 1883)
        self.user = user
        self.password = password
        self.keepalive = keepalive
        self.ssl = ssl
        self.server_hostname = server_hostname or server
        self.open_stream = open_stream  # None: asyncio's TCP (TLS) stream
        self.timeout_ms = timeout_ms
        self.max_repubs = max_repubs
        self._cb = self._lw = None
        self.last_error = None  # why the last connection attempt failed or the link dropped
        self.dropped = 0  # incoming messages too big for the receive buffer (skipped)
        self.subs = []  # (topic, qos) subscribed, re-sent on every connection
        self._rbuf = bytearray(rx_size)
        self._rmv = memoryview(self._rbuf)
        self._hbuf = bytearray(max_topic + 9)  # the PUBLISH header, topic and packet id
        self._hmv = memoryview(self._hbuf)
        self._abuf = bytearray(b"\x40\x02\x00\x00")  # PUBACK
        self._s = self._tasks = self._down = self._addr = None
        self._lock = asyncio.Lock()  # one exchange waiting for an acknowledgement at a time
        self._pid = self._acked = self._rc = 0  # last packet id; id and code of the last ack
        self._last_rx = self._last_tx = self._last_ping = 0

    def set_callback(self, f):
        """f(topic, msg, retained) for each incoming PUBLISH (topic and msg: bytes), called in
        the reader task; an exception there is logged, the connection stays up."""
        self._cb = f

    def set_last_will(self, topic, msg, retain=False, qos=0):
        """The message the broker publishes when this client vanishes without DISCONNECT;
        used from the next connection on."""
        self._lw = (topic, msg, retain, qos)

    def is_connected(self):
        return self._s is not None

    def _next_pid(self):
        """Next packet id, 1..65535 then 1 again. No allocation."""
        self._pid = self._pid % 65535 + 1
        return self._pid

    def _pub_head(self, topic, mlen, qos, retain, dup, pid):  # noqa: PLR0917
        """Encode a PUBLISH header (fixed header, remaining length, topic, packet id for QoS 1)
        for a payload of `mlen` bytes into the header buffer; returns its length. No
        allocation (topic: bytes-like)."""
        b = self._hbuf
        tl = len(topic)
        if tl + 9 > len(b):
            raise ValueError("topic too long")
        b[0] = 0x30 | qos << 1 | (1 if retain else 0) | (8 if dup else 0)
        i = _enc_len(b, 1, 2 + tl + (2 if qos else 0) + mlen)
        b[i] = tl >> 8
        b[i + 1] = tl & 0xFF
        i += 2
        b[i : i + tl] = topic
        i += tl
        if qos:
            b[i] = pid >> 8
            b[i + 1] = pid & 0xFF
            i += 2
        return i

    async def _fill(self, s, n):
        """Read exactly n bytes from `s` into the receive buffer."""
        mv = self._rmv
        i = 0
        while i < n:
            k = await s.readinto(mv[i:n])
            if k is None:  # woken up without data (TLS record not complete)
                continue
            if not k:
                raise MQTTError("closed by the broker")
            i += k
        self._last_rx = _ticks()

    def _send(self, s, a, b=None):
        """Write a (then b) to `s`; returns what to await until the stream has taken it
        (bounded by timeout_ms). A failed write ends the connection and raises MQTTError."""
        try:
            s.write(a)
            if b:
                s.write(b)
        except Exception as e:  # noqa: BLE001 (OSError or worse: the link is gone either way)
            self._fail(s, e)
            raise MQTTError("send failed: %r" % (e,))
        self._last_tx = _ticks()
        # MicroPython's Stream keeps nothing back when the socket took it all (the normal
        # case): then there is nothing to wait for, only a yield (which allocates nothing).
        if getattr(s, "out_buf", 1):
            return self._drain(s)
        return _sleep_ms(0)

    async def _drain(self, s):
        try:
            await _wait_ms(s.drain(), self.timeout_ms)
        except Exception as e:  # noqa: BLE001 (timeout, OSError)
            self._fail(s, e)
            raise MQTTError("send failed: %r" % (e,))

    def _fail(self, s, reason):
        """End the connection `s` (idempotent): close it, stop its tasks, signal run()."""
        if s is not self._s or s is None:
            return
        self._s = None
        self.last_error = reason
        try:
            s.close()
        except Exception:  # noqa: BLE001 (already broken)
            pass
        cur = asyncio.current_task()
        for t in self._tasks or ():
            if t is not cur:
                t.cancel()
        self._tasks = None
        self._down.set()

    async def connect(self):
        """Open the connection and log in (CONNECT, CONNACK), start its reader and keepalive
        tasks. No-op when connected. Raises MQTTError (refused, timeout, protocol), TLSError
        (handshake, certificate), OSError (network). Loads lib/mqtt_link.py for the call."""
        if not self._s:
            try:
                await _link().connect(self)
            finally:
                _unlink()

    async def disconnect(self):
        """Send DISCONNECT (the broker then discards the last will), close, stop run()."""
        self._run = None
        s = self._s
        if s:
            for t in self._tasks:  # the broker's close must not look like an outage
                t.cancel()
            self._tasks = None
            try:
                await self._send(s, b"\xe0\x00")
            except MQTTError:
                pass
            self._fail(s, None)

    def publish(self, topic, msg, retain=False, qos=0):
        """Send `msg` to `topic`; returns an awaitable (errors may come from the call itself).
        QoS 1: done when the PUBACK arrives, re-sent with DUP every `timeout_ms`,
        `max_repubs` times; then the connection is declared dead. Raises MQTTError when not
        connected or when the connection drops. A QoS 0 publish allocates one memoryview on
        MicroPython when the socket takes it at once (more to encode a str, or when waiting)."""
        if isinstance(topic, str):
            topic = topic.encode()
        if isinstance(msg, str):
            msg = msg.encode()
        if qos:
            return self._publish1(topic, msg, retain)
        s = self._s
        if s is None:
            raise MQTTError("not connected")
        n = self._pub_head(topic, len(msg), 0, retain, False, 0)
        return self._send(s, self._hmv[:n], msg)

    async def _publish1(self, topic, msg, retain):
        async with self._lock:
            s = self._s
            if s is None:
                raise MQTTError("not connected")
            pid = self._next_pid()
            for i in range(self.max_repubs + 1):
                n = self._pub_head(topic, len(msg), 1, retain, i, pid)
                await self._send(s, self._hmv[:n], msg)
                if await self._wait_ack(s, pid):
                    return
            self._fail(s, MQTTError("no PUBACK in time"))
            raise MQTTError("no PUBACK in time")

    async def _wait_ack(self, s, pid):
        """True when the PUBACK or SUBACK for `pid` arrives within timeout_ms."""
        t = _ticks()
        while _diff(_ticks(), t) < self.timeout_ms:
            if self._acked == pid:
                return True
            if s is not self._s:
                raise MQTTError("connection lost")
            await _sleep_ms(_POLL_MS)
        return False

    async def subscribe(self, topic, qos=0):
        """Subscribe to `topic` (QoS 0 or 1), now if connected, and on every later
        connection. Raises MQTTError when the broker refuses it or does not answer."""
        if isinstance(topic, str):
            topic = topic.encode()
        if (topic, qos) not in self.subs:
            self.subs.append((topic, qos))
        if self._s:
            try:
                await _link().subscribe(self, self._s, topic, qos)
            finally:
                _unlink()

    async def _reader(self, s):
        """Read and handle the broker's packets until the connection ends."""
        buf = self._rbuf
        size = len(buf)
        try:
            while True:
                await self._fill(s, 1)
                op = buf[0]
                n = sh = 0
                while True:  # remaining length
                    await self._fill(s, 1)
                    n |= (buf[0] & 0x7F) << sh
                    if not buf[0] & 0x80:
                        break
                    sh += 7
                    if sh > 21:
                        raise MQTTError("bad remaining length")
                if n:
                    await self._fill(s, min(n, size))
                if op & 0xF0 == 0x30:  # PUBLISH
                    qos = op >> 1 & 3
                    h = 2 + (buf[0] << 8 | buf[1]) + (2 if qos else 0) if n >= 2 else n + 1
                    if qos > 1 or h > n:
                        raise MQTTError("bad PUBLISH %02x" % op)
                    a = self._abuf
                    off = 0
                    k = min(n, size)  # read so far; a longer packet is skipped chunk by chunk
                    while True:
                        for j in (h - 2, h - 1):  # the packet id, for the PUBACK (QoS 1)
                            if off <= j < off + k:
                                a[j - h + 4] = buf[j - off]
                        off += k
                        if off >= n:
                            break
                        k = min(n - off, size)
                        await self._fill(s, k)
                    if n > size:
                        self.dropped += 1
                    elif self._cb:
                        try:
                            t = h - 2 if qos else h
                            self._cb(bytes(buf[2:t]), bytes(buf[h:n]), op & 1)
                        except Exception as e:  # noqa: BLE001 (the application's bug)
                            _log.error("callback: %r", e)
                    if qos:
                        await self._send(s, a)
                elif (op == 0x40 and n == 2) or (op == 0x90 and n == 3):  # PUBACK, SUBACK
                    self._rc = buf[2] if n == 3 else 0
                    self._acked = buf[0] << 8 | buf[1]
                elif op != 0xD0 or n:  # anything but PINGRESP
                    raise MQTTError("unexpected packet %02x" % op)
        except Exception as e:  # noqa: BLE001 (a dead or mad connection: run() reconnects)
            self._fail(s, e)

    async def _pinger(self, s):
        """PINGREQ when the broker has been quiet for keepalive/4 (or we for keepalive/2);
        the connection is dead when nothing came for keepalive/2 + timeout_ms."""
        q = self.keepalive * 250
        while s is self._s:
            await _sleep_ms(min(q, 1000))
            now = _ticks()
            rx = _diff(now, self._last_rx)
            if rx > 2 * q + self.timeout_ms:
                self._fail(s, MQTTError("no traffic from the broker for %d ms" % rx))
            elif (rx >= q or _diff(now, self._last_tx) >= 2 * q) and _diff(
                now, self._last_ping
            ) >= q:
                self._last_ping = now
                try:
                    await self._send(s, b"\xc0\x00")
                except MQTTError:  # _send has ended the connection
                    pass


class MQTTClient(MQTTConnection):
    """MQTTConnection plus the connection manager, run(). Hooks (functions or coroutine
    functions, set as attributes): `on_connect(client)`, `on_disconnect(client, reason)`."""

    backoff_ms = (1000, 60000)  # first and longest wait between connection attempts
    on_connect = on_disconnect = _run = _task = None

    async def stop(self):
        """End run() for good: disconnect() when connected (no on_disconnect call), then
        cancel run()'s task wherever it waits (a backoff, an attempt) and wait until it has
        ended (a few loop turns; 1 s at most). Never raises for a network fault."""
        self.on_disconnect = None
        await self.disconnect()
        self._run = False  # a run() task not started yet returns at once
        t = self._task
        self._task = None
        if t is not None and t is not asyncio.current_task():
            t.cancel()
            for _ in range(100):
                if t.done():
                    break
                await _sleep_ms(10)
        if self._s:  # cancelled just after an attempt connected
            self._fail(self._s, None)

    def _backoff(self, fails):
        """Wait before attempt number `fails` + 1: doubles from backoff_ms[0] up to
        backoff_ms[1], then a random 50..100 % of it (jitter)."""
        lo, hi = self.backoff_ms
        d = min(hi, lo << min(fails - 1, 20))
        return d - d * random.getrandbits(8) // 512

    async def _hook(self, f, *args):
        try:
            r = f and f(*args)
            if hasattr(r, "send"):
                await r
        except Exception as e:  # noqa: BLE001 (the application's bug, not the link's)
            _log.error("hook failed: %r", e)

    async def run(self):
        """Keep connected until disconnect(): connect, re-subscribe, call on_connect, wait for
        the connection to end, call on_disconnect(client, reason), wait a backoff, again.
        Failed attempts are logged and kept in last_error; nothing is raised. `stop()` ends
        it from another task."""
        if self._run is not None:  # running, or stop()ped for good
            return
        self._run = me = [0]  # this run() only: a disconnect() then run() starts a new one
        self._task = asyncio.current_task()
        fails = 0
        while self._run is me:
            try:
                try:
                    await _link().attempt(self)  # connect, then subscribe
                finally:
                    _unlink()
            except Exception as e:  # noqa: BLE001 (any failure: try again later)
                self._fail(self._s, e)
                self.last_error = e
                fails += 1
                if fails % 4 == 0:
                    self._addr = None  # look the name up again
                d = self._backoff(fails)
                _log.warning("%s:%d: %r; next try in %d ms", self.server, self.port, e, d)
                await _sleep_ms(d)
                continue
            up = _ticks()
            await self._hook(self.on_connect, self)
            await self._down.wait()
            await self._hook(self.on_disconnect, self, self.last_error)
            fails = 1 if _diff(_ticks(), up) > _STABLE_MS else fails + 1
            if self._run is me:
                await _sleep_ms(self._backoff(fails))
