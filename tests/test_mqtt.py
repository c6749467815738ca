# micropython: also
"""lib/mqtt.py protocol and connection manager against an in-memory broker (tests/mqtt_fake.py):
packet bytes, QoS 1 retries, subscriptions, keepalive and outage detection, malformed packets,
reconnection. The real-broker tests are in test_mqtt_broker.py (CPython, Mosquitto)."""

import asyncio

import mqtt
import mqtt_tls
from mqtt_fake import FakeBroker, run

# Seconds of real time each: make test runs them, make check does not (conftest.py).
SLOW_TESTS = ("test_backoff_doubles_within_bounds_with_jitter",)


def _client(broker, **kw):
    kw.setdefault("timeout_ms", 300)
    c = mqtt.MQTTClient("dev1", "127.0.0.1", open_stream=broker.open, **kw)
    c.backoff_ms = (10, 40)
    return c


async def _until(pred, ms=3000):
    for _ in range(ms // 5):
        if pred():
            return True
        await asyncio.sleep(0.005)
    return pred()


def test_remaining_length_encoding():
    buf = bytearray(8)
    cases = (
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16383, b"\xff\x7f"),
        (16384, b"\x80\x80\x01"),
        (2097151, b"\xff\xff\x7f"),
        (2097152, b"\x80\x80\x80\x01"),
        (268435455, b"\xff\xff\xff\x7f"),
    )
    for n, want in cases:
        k = mqtt._enc_len(buf, 1, n)
        assert bytes(buf[1:k]) == want, (n, bytes(buf[1:k]))
    try:
        mqtt._enc_len(buf, 0, 268435456)
    except ValueError:
        pass
    else:
        raise AssertionError("no error for a length over 256 MB")


def test_packet_ids_wrap_and_skip_zero():
    c = mqtt.MQTTClient("x", "h")
    assert c._next_pid() == 1
    c._pid = 65534
    assert [c._next_pid() for _ in range(3)] == [65535, 1, 2]


def test_connect_packet_with_will_user_password():
    b = FakeBroker()
    c = _client(b, user="u", password=b"pw", keepalive=300)
    c.set_last_will("dev/status", b"offline", retain=True, qos=1)
    run(c.connect())
    want = (
        b"\x10\x2c\x00\x04MQTT\x04\xee\x01\x2c"  # flags: user, password, will retain, QoS 1, clean
        b"\x00\x04dev1\x00\x0adev/status\x00\x07offline\x00\x01u\x00\x02pw"
    )
    op, body = b.packets[0]
    assert bytes([op, len(body)]) + body == want, body
    assert c.is_connected()
    run(c.disconnect())
    assert b.packets[-1] == (0xE0, b"")
    assert not c.is_connected()


def test_connect_packet_minimal():
    b = FakeBroker()
    c = _client(b, keepalive=0)
    run(c.connect())
    assert b.packets[0] == (0x10, b"\x00\x04MQTT\x04\x02\x00\x00\x00\x04dev1")


def test_publish_qos0_bytes_like_and_retain():
    b = FakeBroker()
    c = _client(b)

    async def main():
        await c.connect()
        await c.publish(b"t/a", b"1")
        await c.publish(bytearray(b"t/b"), memoryview(b"22"), retain=True)
        await c.publish("t/c", "")
        await c.publish(memoryview(b"xt/d")[1:], bytearray(200))

    run(main())
    pubs = b.of_type(0x30)
    assert pubs[0] == (0x30, b"\x00\x03t/a1")
    assert pubs[1] == (0x31, b"\x00\x03t/b22")
    assert pubs[2] == (0x30, b"\x00\x03t/c")
    assert pubs[3] == (0x30, b"\x00\x03t/d" + bytes(200))


def test_topic_too_long_is_a_value_error():
    c = _client(FakeBroker(), max_topic=8)
    run(c.connect())
    try:
        run(c.publish(b"123456789", b""))
    except ValueError:
        pass
    else:
        raise AssertionError("no error")


def test_publish_when_not_connected_raises():
    c = _client(FakeBroker())
    try:
        run(c.publish(b"t", b"x"))
    except mqtt.MQTTError as e:
        assert "not connected" in str(e)
    else:
        raise AssertionError("no error")


def test_qos1_acknowledged():
    b = FakeBroker()
    c = _client(b)

    async def main():
        await c.connect()
        await c.publish(b"t", b"a", qos=1)
        await c.publish(b"t", b"b", qos=1, retain=True)

    run(main())
    pubs = b.of_type(0x30)
    assert pubs == [(0x32, b"\x00\x01t\x00\x01a"), (0x33, b"\x00\x01t\x00\x02b")]


def test_qos1_lost_puback_resent_with_dup():
    b = FakeBroker(drop_pubacks=2)
    c = _client(b, timeout_ms=100)

    async def main():
        await c.connect()
        await c.publish(b"t", b"x", qos=1)

    run(main())
    pubs = b.of_type(0x30)
    assert [p[0] for p in pubs] == [0x32, 0x3A, 0x3A]  # then DUP set
    assert pubs[0][1] == pubs[1][1] == pubs[2][1] == b"\x00\x01t\x00\x01x"  # same packet id
    assert c.is_connected()


def test_qos1_never_acknowledged_ends_the_connection():
    b = FakeBroker(drop_pubacks=99)
    c = _client(b, timeout_ms=50, max_repubs=2)

    async def main():
        await c.connect()
        try:
            await c.publish(b"t", b"x", qos=1)
        except mqtt.MQTTError as e:
            return str(e)
        return None

    err = run(main())
    assert err and "PUBACK" in err, err
    assert len(b.of_type(0x30)) == 3
    assert not c.is_connected()
    assert b.streams[0].closed


def test_subscribe_and_incoming_messages():
    b = FakeBroker()
    c = _client(b)
    got = []
    c.set_callback(lambda t, m, r: got.append((t, m, r)))

    async def main():
        await c.connect()
        await c.subscribe("cmd/#", qos=1)
        s = b.streams[0]
        s.send(b"\x30\x08\x00\x03cmdabc")  # QoS 0
        s.send(b"\x33\x08\x00\x03cmd\x12\x34z")  # QoS 1, retained
        s.send(b"\x30\x05\x00\x03cmd")  # empty payload
        await _until(lambda: len(got) == 3)

    run(main())
    assert b.of_type(0x80) == [(0x82, b"\x00\x01\x00\x05cmd/#\x01")]
    assert got == [(b"cmd", b"abc", 0), (b"cmd", b"z", 1), (b"cmd", b"", 0)]
    assert b.of_type(0x40) == [(0x40, b"\x12\x34")]  # our PUBACK for the QoS 1 message
    assert c.subs == [(b"cmd/#", 1)]


def test_subscribe_refused():
    b = FakeBroker(suback_rc=0x80)
    c = _client(b)

    async def main():
        await c.connect()
        try:
            await c.subscribe(b"x")
        except mqtt.MQTTError as e:
            return str(e)
        return None

    assert "failed" in run(main())


def test_oversized_incoming_message_skipped_then_next_ok():
    b = FakeBroker()
    c = _client(b, rx_size=32)
    got = []
    c.set_callback(lambda t, m, r: got.append(m))

    async def main():
        await c.connect()
        s = b.streams[0]
        big = b"\x00\x01t\x00\x09" + b"B" * 100  # QoS 1, 105 bytes: more than the buffer
        s.send(b"\x32\x69" + big)
        long_topic = b"\x00\x28" + b"T" * 40 + b"\x01\x02" + b"x"  # topic alone > buffer
        s.send(b"\x32\x2d" + long_topic)
        s.send(b"\x30\x04\x00\x01tk")
        await _until(lambda: got)

    run(main())
    assert got == [b"k"]
    assert c.dropped == 2
    assert b.of_type(0x40) == [(0x40, b"\x00\x09"), (0x40, b"\x01\x02")]  # still acknowledged
    assert c.is_connected()


def test_callback_error_keeps_the_connection():
    b = FakeBroker()
    c = _client(b)
    got = []

    def cb(t, m, r):
        got.append(m)
        raise ValueError("app bug")

    c.set_callback(cb)

    async def main():
        await c.connect()
        b.streams[0].send(b"\x30\x04\x00\x01t1\x30\x04\x00\x01t2")
        await _until(lambda: len(got) == 2)

    run(main())
    assert got == [b"1", b"2"]
    assert c.is_connected()


def test_keepalive_pings_and_answers_keep_it_up():
    b = FakeBroker()
    c = _client(b, keepalive=1, timeout_ms=200)  # ping after 250 ms of silence

    async def main():
        await c.connect()
        await _until(lambda: len(b.of_type(0xC0)) >= 2, 5000)

    run(main())
    assert len(b.of_type(0xC0)) >= 2
    assert c.is_connected()


def test_silent_broker_after_connect_is_detected():
    b = FakeBroker(pingresp=False)
    c = _client(b, keepalive=1, timeout_ms=200)  # dead after 500 + 200 ms without a byte
    downs = []
    c.on_disconnect = lambda cl, reason: downs.append(reason)

    async def main():
        t = asyncio.create_task(c.run())
        await _until(lambda: downs, 5000)
        await c.disconnect()
        await asyncio.sleep(0.05)
        t.cancel()

    run(main())
    assert downs, "outage not detected"
    assert isinstance(downs[0], mqtt.MQTTError)
    assert "no traffic" in str(downs[0])
    assert len(b.of_type(0xC0)) >= 1


def test_connect_timeout_keeps_the_loop_running():
    b = FakeBroker(silent=True)
    c = _client(b, timeout_ms=300)
    ticks = [0]

    async def ticker():
        while True:
            ticks[0] += 1
            await asyncio.sleep(0.01)

    async def main():
        t = asyncio.create_task(ticker())
        try:
            await asyncio.wait_for(c.connect(), 3)  # a guard 10 times the client's own bound
        except mqtt.MQTTError as e:
            return str(e)
        finally:
            t.cancel()

    err = run(main())
    assert "no answer" in err and "300 ms" in err, err
    assert ticks[0] >= 5, ticks  # the loop kept running while connect waited
    assert b.streams[0].closed
    assert not c.is_connected()


def test_connack_refused():
    b = FakeBroker(connack=b"\x20\x02\x00\x05")
    c = _client(b)
    try:
        run(c.connect())
    except mqtt.MQTTError as e:
        assert "refused" in str(e) and "5" in str(e)
    else:
        raise AssertionError("no error")
    assert b.streams[0].closed


def _reconnects_after(bad):
    """The managed client gets `bad` from the broker once connected: it must end that
    connection with an MQTTError, call on_disconnect, reconnect, call on_connect again."""
    b = FakeBroker()
    c = _client(b)
    ups = []
    downs = []
    c.on_connect = lambda cl: ups.append(1)
    c.on_disconnect = lambda cl, r: downs.append(r)

    async def main():
        t = asyncio.create_task(c.run())
        await _until(lambda: ups)
        if bad is None:
            b.streams[0].eof = True  # the broker hangs up
        else:
            b.streams[0].send(bad)
        await _until(lambda: len(ups) == 2)
        await c.disconnect()
        await asyncio.sleep(0.02)
        t.cancel()

    run(main())
    assert len(ups) == 2, (bad, ups, downs)
    assert isinstance(downs[0], mqtt.MQTTError), (bad, downs)
    assert b.streams[0].closed
    return downs[0]


def test_malformed_packets_end_the_connection_and_it_reconnects():
    for bad in (
        b"\x30\xff\xff\xff\xff\x01",  # remaining length over 4 bytes
        b"\xf0\x00",  # reserved packet type
        b"\x20\x02\x00\x00",  # CONNACK after the connection is up
        b"\x34\x05\x00\x01t\x00\x01",  # PUBLISH QoS 2 (never subscribed with it)
        b"\x30\x03\x00\x09t",  # topic length beyond the packet
        b"\x32\x03\x00\x01t",  # QoS 1 without its packet id
        b"\x40\x03\x00\x01\x00",  # PUBACK of the wrong length
        b"\xd0\x01\x00",  # PINGRESP with a body
        b"\x90\x99\x01" + b"\x00" * 300,  # a SUBACK longer than the receive buffer
    ):
        _reconnects_after(bad)


def test_random_bytes_from_the_broker_end_in_a_clear_error():
    import random

    random.seed(7)
    for _ in range(50):
        junk = bytes(random.getrandbits(8) for _ in range(random.randint(1, 40)))
        b = FakeBroker()
        c = _client(b, rx_size=16)
        c.set_callback(lambda t, m, r: None)

        async def main(c, b, junk):
            await c.connect()
            st = b.streams[0]
            st.send(junk)
            st.eof = True  # after the junk, the broker hangs up
            await _until(lambda: not c.is_connected(), 2000)

        run(main(c, b, junk))
        assert not c.is_connected(), junk
        # MQTTError for what was read, OSError when a PUBACK hit the closed stream
        assert isinstance(c.last_error, (mqtt.MQTTError, OSError)), (junk, c.last_error)


def test_broker_hang_up_reconnects():
    err = _reconnects_after(None)
    assert "closed" in str(err), err


def test_drop_mid_publish():
    b = FakeBroker(eof_on_publish=1)
    c = _client(b)
    ups = []
    c.on_connect = lambda cl: ups.append(1)

    async def main():
        t = asyncio.create_task(c.run())
        await _until(lambda: ups)
        try:
            await c.publish(b"t", b"x", qos=1)
            err = None
        except mqtt.MQTTError as e:
            err = e
        await _until(lambda: len(ups) == 2)
        await c.publish(b"t", b"y", qos=1)  # the new connection works
        await c.disconnect()
        t.cancel()
        return err

    err = run(main())
    assert err is not None
    assert len(ups) == 2
    assert b.of_type(0x30)[-1] == (0x32, b"\x00\x01t\x00\x02y")


def test_run_retries_failed_opens_and_resubscribes():
    b = FakeBroker(fail_opens=3)
    c = _client(b)
    ups = []

    async def on_connect(cl):  # a coroutine hook, as the app's discovery round
        await cl.publish(b"hello", b"1")
        ups.append(1)

    c.on_connect = on_connect

    async def main():
        await c.subscribe(b"cmd", 1)  # before the connection: remembered
        t = asyncio.create_task(c.run())
        await _until(lambda: ups)
        b.streams[0].eof = True  # the broker goes away
        await _until(lambda: len(ups) == 2)
        await c.disconnect()
        t.cancel()

    run(main())
    assert b.opens == 5
    assert len(b.of_type(0x80)) == 2  # subscribed on both connections
    assert len(b.of_type(0x30)) == 2


def test_name_resolved_once_then_after_every_fourth_failure():
    b = FakeBroker(fail_opens=5)
    c = mqtt.MQTTClient("dev1", "broker.example", open_stream=b.open, timeout_ms=300)
    c.backoff_ms = (5, 10)
    looked_up = []
    real = mqtt._getaddr

    async def fake_getaddr(host, port, ms):
        looked_up.append(host)
        return "192.0.2.7"

    ups = []
    c.on_connect = lambda cl: ups.append(1)

    async def main():
        t = asyncio.create_task(c.run())
        await _until(lambda: ups)
        b.streams[0].eof = True
        await _until(lambda: len(ups) == 2)
        await c.disconnect()
        t.cancel()

    mqtt._getaddr = fake_getaddr
    try:
        run(main())
    finally:
        mqtt._getaddr = real
    assert b.opens == 7  # 5 failures, 2 connections
    assert looked_up == ["broker.example"] * 2  # first attempt, and after the 4th failure


def test_backoff_doubles_within_bounds_with_jitter():
    c = mqtt.MQTTClient("x", "h")
    c.backoff_ms = (1000, 60000)
    for fails in range(1, 40):
        cap = min(60000, 1000 << (fails - 1))
        for _ in range(20):
            d = c._backoff(fails)
            assert cap // 2 <= d <= cap, (fails, d)


def test_connect_is_idempotent():
    b = FakeBroker()
    c = _client(b)

    async def main():
        await c.connect()
        await c.connect()

    run(main())
    assert b.opens == 1


def test_tls_context_rejects_bad_ca():
    try:
        mqtt_tls.context(b"not a certificate")
    except mqtt.TLSError as e:
        assert "CA" in str(e)
    else:
        raise AssertionError("no error")


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
