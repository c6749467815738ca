"""End to end: the firmware under tools/sim.py publishing to a real Mosquitto the test starts.

Every test runs the simulator in real time (slow) on ticsim's three-phase Tempo meter at
9600 Bd, with `--mqtt` pointing at a broker of the test (tests/broker.py), at a silent
listener or at a proxy that cuts connections. What the firmware publishes is read by a
subscriber built on lib/mqtt.py (tools/mqtt_bench.py's Subscriber). Every wait is on a log
line or a message, with a generous timeout; nothing sleeps for a fixed time.
Method and the failure modes covered: docs/design/mqtt-e2e.md."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from mqtt_bench import Subscriber
from test_sim import Sim

import upy

pytestmark = pytest.mark.slow

ROOT = upy.ROOT
TIC = "sim:standard,3,tempo"
WAIT = 90.0  # seconds: the longest wait for one awaited message (start-up included)
HANG = 900.0  # seconds: a simulator still running after this is killed
TOPICS = ("linky/#", "homeassistant/#")
INDEXES = ["EAST", *("EASF%02d" % i for i in range(1, 11)), *("EASD%02d" % i for i in range(1, 5))]
DISCOVERY = r"INFO mqtt: discovery: (\d+) entities announced"
CONNECTED = r"INFO mqtt: connected to 127\.0\.0\.1:%d as linky/(\d{12})"
CONFIG_TOPIC = re.compile(
    r"homeassistant/(sensor|binary_sensor)/linky_(\d{12})/([a-z0-9_]+)/config"
)
TEMPLATE_KEY = re.compile(r"value_json(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[['\"]([^'\"]+)['\"]\])")
FRAME = re.compile(
    r"INFO app: frame (\d+): standard, \d+ groups \(checksum errors (\d+), format errors \d+, "
    r"interrupted (\d+)\)"
)


@pytest.fixture(scope="module")
def built():
    subprocess.run([sys.executable, "tools/build.py"], cwd=ROOT, check=True, capture_output=True)


@pytest.fixture
def start(tmp_path):
    """start(port, *sim options, tic=TIC): tools/sim.py on `tic` at 9600 Bd, MQTT to
    127.0.0.1:`port`; a simulator still running at the end of the test is killed."""
    sims = []

    def run(port, *extra, tic=TIC):
        s = Sim("--tic", tic, "--baud", "9600", "--state", str(tmp_path / "flash"),
                "--mqtt", "127.0.0.1:%d" % port, *extra, mqtt=True)  # fmt: skip
        s._timer.cancel()
        s._timer = threading.Timer(HANG, s._kill)
        s._timer.daemon = True
        s._timer.start()
        sims.append(s)
        return s

    yield run
    for s in sims:
        s._timer.cancel()
        s._kill()
        s.proc.wait()


def nth(s, pattern, n=1, timeout=WAIT):
    """The n-th match (1-based) of `pattern` in the simulator's output, waiting for it at
    most `timeout` seconds (AssertionError with the output if it does not come)."""
    rx = re.compile(pattern)
    i = seen = 0
    end = time.monotonic() + timeout
    with s._cond:
        while True:
            while i < len(s.lines):
                m = rx.search(s.lines[i])
                i += 1
                if m:
                    seen += 1
                    if seen >= n:
                        return m
            left = end - time.monotonic()
            if s._eof or left <= 0:
                raise AssertionError("%d x %r not in:\n%s" % (n, pattern, s.output()))
            s._cond.wait(min(left, 1.0))


def stop(s):
    rc, out = s.ctrl_c()
    assert rc == 0, out
    assert "Traceback" not in out, out
    return out


def configs_then_state(sub, n, after):
    """Wait until `n` discovery configs arrived after time `after`, then a state message
    after the last of them; (configs, state)."""

    def done(msgs):
        cfg = [m for m in msgs if m.t > after and m.topic.startswith("homeassistant/")]
        if len(cfg) < n:
            return None
        last = max(m.t for m in cfg)
        st = [m for m in msgs if m.t >= last and m.topic.endswith("/state")]
        return (cfg, st[0]) if st else None

    r = sub.wait(done, WAIT)
    assert r, "no %d configs then a state after %.1f: %r" % (n, after, sub.messages[-5:])
    return r


def template_keys(cfg):
    """The payload keys a config's value template reads without a `| default(...)`."""
    keys = set()
    tpl = cfg.get("val_tpl", "")
    for m in TEMPLATE_KEY.finditer(tpl):
        if not re.match(r"\s*\|\s*default\(", tpl[m.end() :]):
            keys.add(m.group(1) or m.group(2))
    return keys


# -- discovery, state, availability ------------------------------------------------------------


def test_discovery_state_and_availability(built, start, make_mosquitto):
    broker = make_mosquitto()
    sub = Subscriber(broker.port, TOPICS)
    s = start(broker.port)
    try:
        meter = nth(s, CONNECTED % broker.port).group(1)
        n = int(nth(s, DISCOVERY).group(1))
        configs, state_msg = configs_then_state(sub, n, 0.0)
        diag = sub.wait(lambda ms: [m for m in ms if m.topic.endswith("/diagnostics")], WAIT)
        avail = [m for m in sub.messages if m.topic == "linky/%s/availability" % meter]
    finally:
        sub.close()
    stop(s)
    assert n >= 50  # a three-phase Tempo meter: indexes, powers, STGE fields, diagnostics
    assert avail and avail[-1].payload == b"online"
    state = state_msg.json()
    diagnostics = diag[0].json()
    base = "linky/%s" % meter
    seen = set()
    for m in configs:
        kind, mid, obj = CONFIG_TOPIC.fullmatch(m.topic).groups()
        assert mid == meter
        c = json.loads(m.payload)  # every config is valid JSON
        assert c["~"] == base, c
        assert c["uniq_id"] == "linky_%s_%s" % (meter, obj), c
        assert c["avty_t"] == "~/availability", c
        assert c["stat_t"] in ("~/state", "~/diagnostics"), c
        payload = state if c["stat_t"] == "~/state" else diagnostics
        for key in template_keys(c):  # what the template reads is in the payload
            assert key in payload, (key, c["stat_t"], c["uniq_id"])
        if c.get("dev_cla") == "energy":
            assert (c["stat_cla"], c["unit_of_meas"]) == ("total_increasing", "Wh"), c
        seen.add(obj)
        if obj.upper() in INDEXES:
            assert c.get("dev_cla") == "energy" and kind == "sensor", c
    assert len(seen) == len(configs)  # one config per entity
    sent = [k for k in INDEXES if k in state]
    assert len(sent) == len(INDEXES)  # this meter sends them all
    assert {k.lower() for k in sent} <= seen
    for k in sent:
        assert isinstance(state[k], int), (k, state[k])


# -- last will ------------------------------------------------------------------------------------


def _children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(x) for x in f.read().split()]


def test_last_will_fires_when_the_firmware_is_killed(built, start, make_mosquitto):
    broker = make_mosquitto()
    sub = Subscriber(broker.port, ("linky/+/availability",))
    s = start(broker.port)
    try:
        meter = nth(s, CONNECTED % broker.port).group(1)
        topic = "linky/%s/availability" % meter
        assert sub.wait(lambda ms: [m for m in ms if m.payload == b"online"], WAIT)
        kids = _children(s.proc.pid)  # --mqtt: no broker of the simulator's, only the firmware
        assert len(kids) == 1, kids
        with open("/proc/%d/cmdline" % kids[0], "rb") as f:
            assert b"micropython" in f.read()
        killed = time.monotonic()
        os.kill(kids[0], signal.SIGKILL)
        off = sub.wait(lambda ms: [m for m in ms if m.t > killed and m.payload == b"offline"],
                       WAIT)  # fmt: skip
        assert off and off[0].topic == topic, sub.messages
    finally:
        sub.close()
    rc, out = s.finish()
    assert rc == 128 + signal.SIGKILL, out
    assert "[sim] firmware killed by signal 9" in out
    late = Subscriber(broker.port, (topic,))  # a newcomer gets the will: it is retained
    try:
        got = late.wait(lambda ms: ms, WAIT)
    finally:
        late.close()
    assert (got[0].payload, got[0].retained) == (b"offline", True), got


# -- broker restarts ----------------------------------------------------------------------------


def _five_restarts(start, make_mosquitto, *extra):
    broker = make_mosquitto()
    sub = Subscriber(broker.port, TOPICS)
    s = start(broker.port, *extra)
    mem = []  # diagnostics' mem_used after each connection: in the failure message
    try:
        n = int(nth(s, DISCOVERY).group(1))
        configs_then_state(sub, n, 0.0)
        for k in range(1, 6):
            d = [m.json()["mem_used"] for m in sub.messages if m.topic.endswith("/diagnostics")]
            mem.append(d[-1] if d else None)
            sub.close()
            broker.restart()  # same port; no persistence: the retained configs are gone
            restarted = time.monotonic()
            sub = Subscriber(broker.port, TOPICS)
            nth(s, CONNECTED % broker.port, k + 1)
            assert int(nth(s, DISCOVERY, k + 1).group(1)) == n, ("restart", k, "mem", mem)
            configs, _ = configs_then_state(sub, n, restarted)
            assert len({m.topic for m in configs}) == n
    finally:
        sub.close()
    out = stop(s)
    assert len(re.findall(CONNECTED % broker.port, out)) == 6, out
    assert len(re.findall(r"WARNING mqtt: MQTT connection lost", out)) >= 5, out
    assert "discovery skipped" not in out


def test_five_broker_restarts_discovery_then_state_each_time(built, start, make_mosquitto):
    _five_restarts(start, make_mosquitto)


def test_five_broker_restarts_with_a_larger_heap(built, start, make_mosquitto):
    # The reconnection logic itself, with room for the memory the rounds keep (see above).
    _five_restarts(start, make_mosquitto, "--heap", "384K")


# -- a silent broker ----------------------------------------------------------------------------


class Silent:
    """A TCP listener on 127.0.0.1 that accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def test_silent_broker_the_tic_is_drained_and_no_frame_is_lost(built, start):
    silent = Silent()
    s = start(silent.port)
    try:
        retry = r"WARNING mqtt: 127\.0\.0\.1:%d: .*; next try in \d+ ms" % silent.port
        nth(s, retry, 3)  # three connections timed out (CONNACK never came)
    finally:
        out = stop(s)
        silent.close()
    assert len(silent.conns) >= 3
    lines = out.splitlines()
    frames = [(i, FRAME.search(ln)) for i, ln in enumerate(lines)]
    frames = [(i, m) for i, m in frames if m]
    seqs = [int(m.group(1)) for _, m in frames]
    assert seqs == list(range(1, len(seqs) + 1)), seqs  # no frame lost
    assert all(m.group(2) == "0" for _, m in frames), out  # clean line: no checksum error
    assert len({m.group(3) for _, m in frames}) == 1, out  # nor interrupted frames
    # Frames kept coming while the client waited for its CONNACKs.
    waits = [i for i, ln in enumerate(lines) if re.search(retry, ln)]
    for a, b in zip(waits, waits[1:]):
        assert sum(1 for i, _ in frames if a < i < b) >= 3, out
    assert "INFO mqtt: connected" not in out


# -- a broker that drops the connection mid-publish ---------------------------------------------


class CuttingProxy:
    """A TCP proxy to 127.0.0.1:`upstream`: the k-th connection that carries data from its
    client (k < len(cuts)) is cut (both sides closed) after cuts[k] bytes from the client;
    later ones pass through. Connections that send nothing (tools/sim.py's reachability
    probe) do not count."""

    def __init__(self, upstream, cuts):
        self.upstream = upstream
        self.cuts = list(cuts)
        self.cut_at = []  # monotonic times of the cuts
        self.cond = threading.Condition()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.carrying = 0  # connections that sent data
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            up = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self._pump, args=(c, up, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, c, False), daemon=True).start()

    def _pump(self, a, b, from_client):
        sent = 0
        limit = None
        try:
            while True:
                data = a.recv(4096)
                if not data:
                    break
                if from_client and sent == 0:
                    with self.cond:
                        k = self.carrying
                        self.carrying += 1
                    limit = self.cuts[k] if k < len(self.cuts) else None
                if limit is not None and sent + len(data) >= limit:
                    b.sendall(data[: limit - sent])
                    with self.cond:
                        self.cut_at.append(time.monotonic())
                        self.cond.notify_all()
                    break
                b.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            x.close()

    def close(self):
        self.sock.close()


def test_connection_cut_mid_publish_reconnects_and_state_flows(built, start, make_mosquitto):
    broker = make_mosquitto()
    # Cut after 3000 bytes: in the middle of the discovery round's configs.
    proxy = CuttingProxy(broker.port, [3000])
    sub = Subscriber(broker.port, TOPICS)
    s = start(proxy.port)
    try:
        with proxy.cond:
            cuts = proxy.cond.wait_for(lambda: len(proxy.cut_at) >= 1, WAIT)
        assert cuts, (proxy.cut_at, [ln for ln in s.lines if "mqtt" in ln])
        cut = proxy.cut_at[-1]
        nth(s, CONNECTED % proxy.port, 2)
        n = int(nth(s, DISCOVERY, 1).group(1))
        configs_then_state(sub, n, cut)
    finally:
        sub.close()
        out = stop(s)
        proxy.close()
    assert proxy.accepted >= 2
    assert len(re.findall(r"WARNING mqtt: MQTT connection lost", out)) >= 1, out


# -- commands -----------------------------------------------------------------------------------


def test_rediscover_and_reboot_commands(built, start, make_mosquitto):
    broker = make_mosquitto()
    sub = Subscriber(broker.port, TOPICS)
    s = start(broker.port)
    try:
        meter = nth(s, CONNECTED % broker.port).group(1)
        n = int(nth(s, DISCOVERY).group(1))
        configs_then_state(sub, n, 0.0)
        sent = time.monotonic()
        sub.publish("linky/%s/cmd" % meter, b"rediscover")
        assert int(nth(s, DISCOVERY, 2).group(1)) == n
        configs, _ = configs_then_state(sub, n, sent)
        assert not any(m.retained for m in configs)  # sent again live, not the broker's copy
        sub.publish("linky/%s/cmd" % meter, b"reboot")
        nth(s, r"INFO mqtt: command b'reboot'")
        nth(s, r"\[sim\] firmware requested a reset: starting boot 2")
        nth(s, r"INFO app: linky \S+ on host, boot 2 \(hard\)")
        booted = time.monotonic()
        nth(s, CONNECTED % broker.port, 2)
        got = sub.wait(lambda ms: [m for m in ms if m.t > booted and m.topic.endswith("/state")],
                       WAIT)  # fmt: skip
        assert got, sub.messages[-5:]
    finally:
        sub.close()
    out = stop(s)
    assert "INFO mqtt: command b'rediscover'" in out


# -- the index guard at BER 1e-3 ----------------------------------------------------------------

GUARD_FRAMES = 200


def test_energy_indexes_never_decrease_at_ber_1e3(built, start, make_mosquitto):
    broker = make_mosquitto()
    sub = Subscriber(broker.port, ("linky/+/state",))
    s = start(broker.port, "--set", "fast_min_s=1",
              tic=TIC + ",ber=1e-3,seed=5")  # fmt: skip
    try:
        nth(s, r"INFO app: frame %d:" % GUARD_FRAMES, timeout=GUARD_FRAMES * 3)
    finally:
        sub.close()
        out = stop(s)
    states = [m.json() for m in sub.messages]
    assert len(states) >= GUARD_FRAMES // 4, len(states)
    errors = re.findall(r"checksum errors (\d+)", out)
    assert int(errors[-1]) > 0  # the line was noisy
    last = {}
    for i, st in enumerate(states):
        for k in INDEXES:
            if k in st:
                assert st[k] >= last.get(k, 0), (k, i, last.get(k), st[k])
                last[k] = st[k]
    assert set(last) == set(INDEXES)
