"""lib/mqtt.py against a real Mosquitto (tests/broker.py) on CPython, and on the MicroPython unix
port through tests/mqtt_mp_client.py: round trips, retain, QoS 1, last will, broker restarts,
a silent listener, a connection cut mid-publish, a lost PUBACK, passwords, TLS."""

import asyncio
import socket
import subprocess
import sys

import pytest

import mqtt
import mqtt_tls
import upy

# Real brokers, restarts and timeouts: make test runs these, make check does not.
pytestmark = pytest.mark.slow
HOST = "127.0.0.1"


def _client(cid, port, **kw):
    kw.setdefault("timeout_ms", 2000)
    c = mqtt.MQTTClient(cid, HOST, port, **kw)
    c.backoff_ms = (20, 200)
    return c


async def _until(pred, s=5.0):
    for _ in range(int(s / 0.01)):
        if pred():
            return True
        await asyncio.sleep(0.01)
    return pred()


async def _listener(port, topic, got, cid="listener", **kw):
    """A connected client collecting (topic, msg, retained) of `topic` into `got`."""
    c = _client(cid, port, **kw)
    c.set_callback(lambda t, m, r: got.append((t, m, r)))
    await c.connect()
    await c.subscribe(topic, 1)
    return c


def test_round_trip_qos0_qos1(mosquitto):
    got = []

    async def main():
        sub = await _listener(mosquitto.port, "rt/#", got)
        pub = _client("pub", mosquitto.port)
        await pub.connect()
        await pub.publish(b"rt/a", b"zero")
        await pub.publish("rt/b", memoryview(b"one"), qos=1)
        await pub.publish(b"rt/c", bytearray(3000), qos=1)  # bigger than the receive buffer
        await _until(lambda: len(got) == 2)
        await pub.disconnect()
        await sub.disconnect()
        return sub

    sub = asyncio.run(main())
    assert got == [(b"rt/a", b"zero", 0), (b"rt/b", b"one", 0)]
    assert sub.dropped == 1


def test_retained_message(mosquitto):
    got = []

    async def main():
        pub = _client("pub-r", mosquitto.port)
        await pub.connect()
        await pub.publish(b"ret/x", b"kept", retain=True, qos=1)
        await pub.disconnect()
        sub = await _listener(mosquitto.port, "ret/x", got)  # subscribes afterwards
        await _until(lambda: got)
        await sub.disconnect()

    asyncio.run(main())
    assert got == [(b"ret/x", b"kept", 1)]
    # and as a client written by hand sees it, byte for byte
    with socket.create_connection((HOST, mosquitto.port), timeout=5) as sk:
        sk.sendall(b"\x10\x0f\x00\x04MQTT\x04\x02\x00\x0a\x00\x03raw")  # CONNECT
        assert sk.recv(4) == b"\x20\x02\x00\x00"
        sk.sendall(b"\x82\x0a\x00\x01\x00\x05ret/x\x00")  # SUBSCRIBE QoS 0
        data = b""
        while len(data) < 5 + 13:
            data += sk.recv(100)
    assert data == b"\x90\x03\x00\x01\x00" + b"\x31\x0b\x00\x05ret/xkept"


def test_last_will_on_abrupt_close(mosquitto):
    got = []

    async def main():
        sub = await _listener(mosquitto.port, "will/#", got)
        c = _client("willing", mosquitto.port)
        c.set_last_will(b"will/willing", b"gone", retain=True)
        await c.connect()
        await c.publish(b"will/willing", b"here")
        await _until(lambda: got)
        c._s.close()  # the socket goes, no DISCONNECT
        await _until(lambda: len(got) == 2)
        await sub.disconnect()

    asyncio.run(main())
    assert got == [(b"will/willing", b"here", 0), (b"will/willing", b"gone", 0)]


def test_no_last_will_after_disconnect(mosquitto):
    got = []

    async def main():
        sub = await _listener(mosquitto.port, "will2/#", got)
        c = _client("polite", mosquitto.port)
        c.set_last_will(b"will2/polite", b"gone")
        await c.connect()
        await c.publish(b"will2/polite", b"bye", qos=1)
        await c.disconnect()
        await asyncio.sleep(0.3)
        await sub.disconnect()

    asyncio.run(main())
    assert got == [(b"will2/polite", b"bye", 0)]


def _closed_port():
    with socket.socket() as sk:
        sk.bind((HOST, 0))
        return sk.getsockname()[1]


def test_stop_ends_run_for_good_connected_or_between_attempts(make_mosquitto):
    """MQTTClient.stop() (an application update takes MQTT's memory): connected, DISCONNECT
    (the broker drops the last will), run()'s task ends, no on_disconnect call, and a later
    run() returns at once; between attempts (broker down), the task ends at once too."""
    b = make_mosquitto()
    got = []
    downs = []

    async def main():
        sub = await _listener(b.port, "stop/#", got)
        c = _client("stopper", b.port)
        c.set_last_will(b"stop/will", b"gone")
        c.on_disconnect = lambda cl, r: downs.append(r)
        task = asyncio.create_task(c.run())
        assert await _until(c.is_connected)
        await c.stop()
        assert task.done() and not c.is_connected()
        await c.run()  # stopped for good: returns at once
        await asyncio.sleep(0.3)
        await sub.disconnect()
        # no broker: run() waits between attempts; stop() ends it all the same
        d = _client("stopper2", _closed_port())
        d.backoff_ms = (60000, 60000)
        task = asyncio.create_task(d.run())
        assert await _until(lambda: d.last_error is not None)
        await asyncio.wait_for(d.stop(), 2)
        assert task.done()

    asyncio.run(main())
    assert got == [] and downs == []  # no last will, no on_disconnect


def _start_mp_client(port, cid, *extra):
    """tests/mqtt_mp_client.py on the unix port; extra: MODE [CAFILE NAME]."""
    cmd = [str(upy.require_micropython()), "tests/mqtt_mp_client.py", HOST, str(port), cid]
    return subprocess.Popen(
        cmd + list(extra),
        env=upy.env_with(upy.test_path()),
        cwd=upy.ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _next_result(proc):
    """The client's next result line ("UP", "UP 2", "ERROR ..."), skipping its log lines (it
    logs failed attempts, e.g. while a broker restarts); "" if it ended."""
    while True:
        line = proc.stdout.readline()
        if not line:
            return ""
        line = line.strip()
        if not (" WARNING " in line or " INFO " in line):
            return line


def _mp_will_fires_on_kill(port, cid, *extra, sub_kw=None):
    got = []
    proc = _start_mp_client(port, cid, "will", *extra)
    try:
        line = _next_result(proc)
        assert line == "UP", line + proc.stdout.read() if line.startswith("ERROR") else line

        async def main():
            sub = await _listener(port, "linky/%s/#" % cid, got, **(sub_kw or {}))
            await _until(lambda: any(t.endswith(b"/tick") for t, m, r in got))
            proc.kill()  # -9: no DISCONNECT, the socket is closed by the kernel
            proc.wait()
            ok = await _until(lambda: (b"linky/%s/status" % cid.encode(), b"offline", 0) in got)
            await sub.disconnect()
            return ok

        assert asyncio.run(main()), got
    finally:
        proc.kill()
        proc.wait()
    statuses = [m for t, m, r in got if t.endswith(b"/status")]
    assert statuses == [b"online", b"offline"], statuses  # retained online, then the will


def test_last_will_when_micropython_client_is_killed(mosquitto):
    _mp_will_fires_on_kill(mosquitto.port, "mp1")


@pytest.mark.slow
def test_broker_restarts_five_times(make_mosquitto):
    b = make_mosquitto()
    c = _client("survivor", b.port, keepalive=5, timeout_ms=1000)
    ups = []
    downs = []

    async def on_connect(cl):
        ups.append(1)
        await cl.publish(b"restart/n", b"%d" % len(ups), retain=True, qos=1)

    c.on_connect = on_connect
    c.on_disconnect = lambda cl, r: downs.append(r)

    async def main():
        task = asyncio.create_task(c.run())
        assert await _until(lambda: ups)
        for i in range(2, 7):
            await asyncio.to_thread(b.restart)
            assert await _until(lambda: len(ups) == i, 10), (i, downs, c.last_error)  # noqa: B023
        await c.disconnect()
        await asyncio.wait_for(task, 2)

    asyncio.run(main())
    assert len(ups) == 6
    assert len(downs) == 6  # five drops and the final disconnect
    assert all(isinstance(r, (mqtt.MQTTError, OSError)) for r in downs[:5]), downs
    assert downs[5] is None


def test_silent_listener_connect_times_out_loop_keeps_running():
    accepted = []
    ticks = [0]

    async def main():
        async def silent(r, w):
            accepted.append(w)  # accept, read nothing, answer nothing

        srv = await asyncio.start_server(silent, HOST, 0)
        port = srv.sockets[0].getsockname()[1]

        async def ticker():
            while True:
                ticks[0] += 1
                await asyncio.sleep(0.01)

        t = asyncio.create_task(ticker())
        c = _client("patient", port, timeout_ms=500)
        try:
            await c.connect()
        except mqtt.MQTTError as e:
            err = e
        t.cancel()
        srv.close()
        return err

    err = asyncio.run(main())
    assert "no answer" in str(err)
    assert accepted
    assert ticks[0] >= 10, ticks  # 500 ms of waiting left the loop free


async def _read_packet(r):
    first = await r.readexactly(1)
    n = sh = 0
    raw = b""
    while True:
        b = await r.readexactly(1)
        raw += b
        n |= (b[0] & 0x7F) << sh
        sh += 7
        if not b[0] & 0x80:
            break
    return first + raw + await r.readexactly(n)


class Proxy:
    """TCP proxy to the broker, packet by packet; drops the first `drop_pubacks` PUBACKs
    going to the client, cuts the connection on the `cut_on_publish`-th PUBLISH (counted over
    all connections) before passing it on."""

    def __init__(self, target, drop_pubacks=0, cut_on_publish=0):
        self.target = target
        self.drop_pubacks = drop_pubacks
        self.cut_on_publish = cut_on_publish
        self.publishes = 0
        self.dropped = 0

    async def start(self):
        self.srv = await asyncio.start_server(self._conn, HOST, 0)
        self.port = self.srv.sockets[0].getsockname()[1]

    async def _conn(self, cr, cw):
        br, bw = await asyncio.open_connection(HOST, self.target)

        async def up():
            while True:
                p = await _read_packet(cr)
                if p[0] & 0xF0 == 0x30:
                    self.publishes += 1
                    if self.publishes == self.cut_on_publish:
                        cw.close()
                        bw.close()
                        return
                bw.write(p)

        async def down():
            while True:
                p = await _read_packet(br)
                if p[0] == 0x40 and self.dropped < self.drop_pubacks:
                    self.dropped += 1
                    continue
                cw.write(p)

        try:
            await asyncio.gather(up(), down())
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            cw.close()
            bw.close()


def test_lost_puback_resent_with_dup_through_proxy(mosquitto):
    got = []

    async def main():
        proxy = Proxy(mosquitto.port, drop_pubacks=1)
        await proxy.start()
        sub = await _listener(mosquitto.port, "lost/#", got)
        c = _client("resender", proxy.port, timeout_ms=300)
        await c.connect()
        await c.publish(b"lost/a", b"again", qos=1)
        await _until(lambda: len(got) >= 2)
        await c.disconnect()
        await sub.disconnect()
        return proxy

    proxy = asyncio.run(main())
    assert proxy.dropped == 1
    assert got == [(b"lost/a", b"again", 0)] * 2  # at least once: the DUP was delivered too


@pytest.mark.slow
def test_connection_cut_mid_publish_then_reconnect(mosquitto):
    got = []
    ups = []

    async def main():
        proxy = Proxy(mosquitto.port, cut_on_publish=1)
        await proxy.start()
        sub = await _listener(mosquitto.port, "cut/#", got)
        c = _client("cut", proxy.port, timeout_ms=500)
        c.on_connect = lambda cl: ups.append(1)
        task = asyncio.create_task(c.run())
        await _until(lambda: ups)
        with pytest.raises(mqtt.MQTTError):
            await c.publish(b"cut/a", b"lost", qos=1)
        assert await _until(lambda: len(ups) == 2)
        await c.publish(b"cut/a", b"after", qos=1)
        await _until(lambda: got)
        await c.disconnect()
        await asyncio.wait_for(task, 2)
        await sub.disconnect()

    asyncio.run(main())
    assert got == [(b"cut/a", b"after", 0)]


def test_password_accepted_and_refused(make_mosquitto):
    b = make_mosquitto(users={"linky": "s3cret"})

    async def main():
        ok = _client("auth-ok", b.port, user="linky", password="s3cret")
        await ok.connect()
        await ok.publish(b"a/b", b"1", qos=1)
        await ok.disconnect()
        bad = _client("auth-bad", b.port, user="linky", password="nope")
        with pytest.raises(mqtt.MQTTError, match="refused"):
            await bad.connect()
        anon = _client("auth-anon", b.port)
        with pytest.raises(mqtt.MQTTError, match="refused"):
            await anon.connect()

    asyncio.run(main())


def test_tls_round_trip_and_verification_errors(make_mosquitto):
    b = make_mosquitto(tls=True)
    got = []

    async def main():
        ctx = mqtt_tls.context(b.ca_pem)
        sub = await _listener(b.tls_port, "tls/#", got, ssl=ctx, server_hostname="localhost")
        pub = _client("tls-pub", b.tls_port, ssl=ctx, server_hostname="localhost")
        await pub.connect()
        await pub.publish(b"tls/x", b"secret", qos=1)
        await _until(lambda: got)
        await pub.disconnect()
        await sub.disconnect()
        wrong = make_other_ca()
        for ssl, name, why in (
            (mqtt_tls.context(wrong), "localhost", "other CA"),
            (ctx, "example.org", "wrong name"),
        ):
            c = _client("tls-bad", b.tls_port, ssl=ssl, server_hostname=name)
            with pytest.raises(mqtt.TLSError) as e:
                await c.connect()
            assert "TLS set-up with" in str(e.value), why
        plain = _client("tls-plain", b.tls_port)  # plain MQTT to the TLS port
        with pytest.raises((mqtt.MQTTError, OSError)):
            await plain.connect()

    def make_other_ca():
        import tempfile

        from broker import make_certs

        with tempfile.TemporaryDirectory() as d:
            return make_certs(d).read_bytes()

    asyncio.run(main())
    assert got == [(b"tls/x", b"secret", 0)]


def _retained(port, topic):
    """The retained message of `topic`, as a fresh subscriber gets it (None if none)."""
    got = []

    async def main():
        sub = await _listener(port, topic, got, cid="peek")
        await _until(lambda: got, 0.5)
        await sub.disconnect()

    asyncio.run(main())
    return got[0][1] if got else None


def test_micropython_subscribe_echo_and_clean_disconnect(mosquitto):
    proc = _start_mp_client(mosquitto.port, "mp2", "once")
    out, _ = proc.communicate(timeout=30)
    assert out.splitlines() == ["GOT [b'ping']", "DONE"], out
    assert _retained(mosquitto.port, "linky/mp2/status") is None  # no will after DISCONNECT


@pytest.mark.slow
def test_micropython_managed_client_survives_broker_restarts(make_mosquitto):
    b = make_mosquitto()
    proc = _start_mp_client(b.port, "mp3", "managed")
    try:
        for n in range(1, 4):
            line = _next_result(proc)
            assert line == "UP %d" % n, line + (proc.stdout.read() if "ERROR" in line else "")
            if n < 3:
                b.restart()
        assert _retained(b.port, "linky/mp3/status") == b"online"
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_micropython_silent_listener_times_out_plain_and_tls(tmp_path):
    from broker import make_certs

    ca = make_certs(tmp_path)
    with socket.socket() as ls:
        ls.bind((HOST, 0))
        ls.listen(4)  # the kernel accepts the connections; nobody ever answers
        port = ls.getsockname()[1]
        procs = [
            _start_mp_client(port, "mpsilent", "once"),
            _start_mp_client(port, "mpsilent2", "once", str(ca), "localhost"),
        ]
        outs = [p.communicate(timeout=30)[0] for p in procs]
    assert outs[0].startswith("ERROR MQTTError: no answer from 127.0.0.1:"), outs[0]
    assert outs[1].startswith("ERROR MQTTError: no answer from 127.0.0.1:"), outs[1]  # TLS


@pytest.mark.slow
def test_tls_on_micropython_and_its_last_will(make_mosquitto, tmp_path):
    b = make_mosquitto(tls=True)
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b.ca_pem)
    ctx = mqtt_tls.context(b.ca_pem)
    _mp_will_fires_on_kill(
        b.tls_port, "mptls", str(ca), "localhost",
        sub_kw={"ssl": ctx, "server_hostname": "localhost"},
    )  # fmt: skip


@pytest.mark.slow
def test_tls_on_micropython_refuses_a_wrong_name(make_mosquitto, tmp_path):
    b = make_mosquitto(tls=True)
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b.ca_pem)
    proc = _start_mp_client(b.tls_port, "mpbad", "once", str(ca), "example.org")
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1, out
    assert out.startswith("ERROR TLSError: TLS set-up with example.org failed"), out


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
