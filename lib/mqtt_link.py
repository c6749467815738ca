"""What lib/mqtt.py's client runs once per connection, loaded for the call and dropped after
(its code is not resident): the CONNECT/CONNACK exchange, SUBSCRIBE/SUBACK, and the default
stream opener.

    await connect(c)                  c: an mqtt.MQTTConnection, not connected
    await subscribe(c, s, topic, qos) on c's connection s
    await attempt(c)                  connect(c), then every subscription of c.subs

Errors as lib/mqtt.py documents them. Allocates the packets (once per connection).
"""

import asyncio

import mqtt
from mqtt import MQTTError, TLSError, _wait_ms


def _add_str(pkt, s):
    """Append an MQTT string (2-byte length, bytes) to the bytearray `pkt`."""
    if isinstance(s, str):
        s = s.encode()
    pkt.append(len(s) >> 8)
    pkt.append(len(s) & 0xFF)
    pkt.extend(s)


def _packet(op, body):
    """Fixed header + body as one new bytearray."""
    head = bytearray(5)
    head[0] = op
    return head[: mqtt._enc_len(head, 1, len(body))] + body


async def _open(host, port, ssl, server_hostname):
    """Default opener (MicroPython): asyncio TCP (TLS when `ssl` is an SSLContext) stream."""
    if not hasattr(asyncio, "sleep_ms"):  # CPython
        from mqtt_host import open_stream

        return await open_stream(host, port, ssl, server_hostname)
    s = (await asyncio.open_connection(host, port, ssl, server_hostname))[0]
    s.close = s.s.close  # asyncio's Stream.close() does nothing: close the socket now
    return s


async def connect(c):
    """Open c's connection and log in; start its reader and keepalive tasks."""
    ms = c.timeout_ms
    if c._addr is None:
        c._addr = await mqtt._getaddr(c.server, c.port, ms)
    # CONNECT: protocol level 4, clean session, keepalive, id, will, user, password
    p = bytearray(b"\x00\x04MQTT\x04\x02")
    p.append(c.keepalive >> 8)
    p.append(c.keepalive & 0xFF)
    _add_str(p, c.client_id)
    if c._lw:
        topic, msg, retain, qos = c._lw
        p[7] |= 4 | qos << 3 | (0x20 if retain else 0)
        _add_str(p, topic)
        _add_str(p, msg)
    for f, v in ((0x80, c.user), (0x40, c.password)):
        if v is not None:
            p[7] |= f
            _add_str(p, v)
    s = None
    try:
        s = await _wait_ms((c.open_stream or _open)(c._addr, c.port, c.ssl, c.server_hostname), ms)
        s.write(_packet(0x10, p))
        await _wait_ms(s.drain(), ms)
        await _wait_ms(c._fill(s, 4), ms)
        b = c._rbuf
        if b[0] != 0x20 or b[1] != 2 or b[3]:
            raise MQTTError("connection refused: CONNACK %02x %02x %02x" % (b[0], b[1], b[3]))
    except Exception as e:
        if s is not None:
            s.close()
        if isinstance(e, asyncio.TimeoutError):
            raise MQTTError("no answer from %s:%d in %d ms" % (c.server, c.port, ms))
        # mbedTLS errors are negative OSError codes (MicroPython), ssl.SSL*Error (CPython)
        n = e.args[0] if isinstance(e, OSError) and e.args else 0
        if c.ssl and (
            isinstance(e, ValueError) or "SSL" in type(e).__name__ or (type(n) is int and n < 0)
        ):
            raise TLSError("TLS set-up with %s failed: %r" % (c.server_hostname, e))
        raise
    c._s = s
    c._last_tx = c._last_ping = c._last_rx
    c._down = asyncio.Event()
    c._tasks = [asyncio.create_task(c._reader(s))]
    if c.keepalive:
        c._tasks.append(asyncio.create_task(c._pinger(s)))


async def subscribe(c, s, topic, qos):
    """SUBSCRIBE `topic` on connection s of c and wait for its SUBACK."""
    async with c._lock:
        pid = c._next_pid()
        p = bytearray((pid >> 8, pid & 0xFF))
        _add_str(p, topic)
        p.append(qos)
        await c._send(s, _packet(0x82, p))
        if not await c._wait_ack(s, pid):
            c._fail(s, MQTTError("no SUBACK in time"))
        if c._rc & 0x80 or s is not c._s:
            raise MQTTError("subscription to %r failed" % (topic,))


async def attempt(c):
    """One connection attempt of MQTTClient.run(): connect, then every subscription."""
    if not c._s:
        await connect(c)
    for topic, qos in c.subs:
        await subscribe(c, c._s, topic, qos)
