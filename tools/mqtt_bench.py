#!/usr/bin/env python3
"""MQTT benchmark of the firmware under the simulator: latency from the ETX byte on the line to
the state message at a subscriber, and MQTT bytes per hour under each publish policy.

    python3 tools/mqtt_bench.py [--seconds 180] [--policy default|fast1|both] [--json]

Each run starts tools/sim.py's machinery in this process (sim.run: the firmware on the unix
port, a private Mosquitto, tools/ticsim.py's three-phase Tempo meter in standard mode at
9600 Bd) with the line's frames recorded: for each frame, its DATE and when its ETX's stop bit
was received (the line model's own clock, sim_line.MeterLine, in this process). A subscriber
(Subscriber below: lib/mqtt.py's client in a thread) timestamps every message with the same
clock; a state message is matched to its frame by its DATE. Method and figures:
docs/design/mqtt-e2e.md.

Also a library for tests/test_e2e_mqtt.py: Subscriber, wire_size, iso_key.
Cost: runs in real time (--seconds per policy, plus ~15 s of start-up each). CPython only.
"""

import argparse
import asyncio
import itertools
import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _p in (str(ROOT / "lib"), str(ROOT / "tools")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import mqtt  # noqa: E402 (lib/mqtt.py, the firmware's own client, on CPython)

_ids = itertools.count(1)


class Message:
    """One message received: t (time.monotonic()), topic (str), payload (bytes), retained."""

    __slots__ = ("payload", "retained", "t", "topic")

    def __init__(self, t, topic, payload, retained):
        self.t = t
        self.topic = topic
        self.payload = payload
        self.retained = retained

    def json(self):
        return json.loads(self.payload)

    def __repr__(self):
        return "Message(%.3f, %r, %r%s)" % (
            self.t, self.topic, self.payload[:60], ", retained" if self.retained else ""
        )  # fmt: skip


def wire_size(topic, payload, qos=0):
    """Bytes of the MQTT 3.1.1 PUBLISH packet carrying `payload` (bytes) on `topic` (str)."""
    n = 2 + len(topic.encode()) + len(payload) + (2 if qos else 0)
    head = 1
    x = n
    while True:
        head += 1
        x >>= 7
        if not x:
            break
    return head + n


def iso_key(date):
    """'2024-01-16T19:55:12+01:00' (a state's DATE) -> '240116195512' (the TIC horodate's
    digits, as in the frame's DATE group 'H240116195512')."""
    d = date[2:19]
    return d[0:2] + d[3:5] + d[6:8] + d[9:11] + d[12:14] + d[15:17]


class Subscriber:
    """A subscriber to `topics` on 127.0.0.1:`port`: lib/mqtt.py's MQTTClient (QoS 0 subs,
    16 KB receive buffer) on its own asyncio loop in a daemon thread; it reconnects by itself.
    `messages` is the list of Message received, in order; wait() blocks on a condition.
    publish() sends with QoS 1 from the same connection. close() disconnects."""

    def __init__(self, port, topics=("#",), host="127.0.0.1", connect_timeout=30.0):
        self.messages = []
        self.cond = threading.Condition()
        self.connects = 0
        cid = b"linky-e2e-%d-%d" % (os.getpid(), next(_ids))
        c = mqtt.MQTTClient(cid, host, port, keepalive=60, rx_size=16384, max_topic=256)
        c.backoff_ms = (200, 1000)
        c.subs = [(t.encode(), 0) for t in topics]
        c.set_callback(self._on_message)
        c.on_connect = self._on_connect
        self.client = c
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._thread.start()
        if not self.wait(lambda m: self.connects > 0, connect_timeout):
            self.close()
            raise TimeoutError("subscriber: no connection to %s:%d" % (host, port))

    def _main(self):
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.client.run())
        finally:
            self.loop.close()

    def _on_connect(self, _c):
        with self.cond:
            self.connects += 1
            self.cond.notify_all()

    def _on_message(self, topic, msg, retained):
        m = Message(time.monotonic(), topic.decode(), bytes(msg), bool(retained))
        with self.cond:
            self.messages.append(m)
            self.cond.notify_all()

    def wait(self, pred, timeout):
        """Block until pred(messages) is true (checked at each message); its last value."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                r = pred(self.messages)
                if r:
                    return r
                left = end - time.monotonic()
                if left <= 0:
                    return r
                self.cond.wait(min(left, 1.0))

    def since(self, t, topic_part=""):
        """Messages received after monotonic time t whose topic contains topic_part."""
        with self.cond:
            return [m for m in self.messages if m.t > t and topic_part in m.topic]

    def publish(self, topic, payload, timeout=10.0):
        async def pub():
            await self.client.publish(topic, payload, qos=1)

        asyncio.run_coroutine_threadsafe(pub(), self.loop).result(timeout)

    def close(self):
        if self.loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(self.client.disconnect(), self.loop).result(5)
        except Exception:  # noqa: BLE001 (already down)
            pass
        self._thread.join(5)


# ---------------------------------------------------------------------------------------------
# The benchmark


class FrameLog:
    """Wraps ticsim's frame iterator: records each frame's DATE digits and ETX offset on the
    line, and the line's start on the monotonic clock (set by the line factory)."""

    def __init__(self, frames):
        self._frames = frames
        self.offset = 0
        self.etx = {}  # DATE digits -> byte offset of the frame's ETX on the line
        self.line = None
        self.origin_ms = None

    def __iter__(self):
        return self

    def __next__(self):
        data, baud = next(self._frames)
        i = data.find(b"DATE\t")
        if i >= 0 and data.endswith(b"\x03"):
            self.etx.setdefault(data[i + 6 : i + 18].decode("ascii", "replace"),
                                self.offset + len(data) - 1)  # fmt: skip
        self.offset += len(data)
        return data, baud

    def etx_time(self, key):
        """Monotonic time at which the ETX of the frame with DATE digits `key` was received
        (middle of its stop bit, when a UART has it); None if unknown."""
        import sim_line

        off = self.etx.get(key)
        if off is None or self.line is None:
            return None
        units = self.line.char_time(off) + 95 * sim_line.UNITS_PER_S // 9600 // 10
        return (self.origin_ms + units / sim_line.UNITS_PER_MS) / 1000.0


def _clock():
    return int(time.monotonic() * 1000)


def run_policy(name, settings, seconds, quiet=True):
    """One simulator run of `seconds` with `settings` (--set items); returns a dict of
    figures. The firmware's output goes to a log file in a temporary directory."""
    import tempfile

    import sim
    import sim_line
    import sim_link

    spec = "sim:standard,3,tempo,seed=7"
    log = FrameLog(sim_link.ticsim_frames(spec))

    def open_line(_spec, rxbuf=sim_line.RXBUF, clock=None):
        def make(baud):
            line = sim_line.MeterLine(log, baud=baud, rxbuf=rxbuf, clock=_clock)
            log.line = line
            log.origin_ms = line._last - line._t // sim_line.UNITS_PER_MS
            return line

        return make

    state = tempfile.mkdtemp(prefix="linky-bench-")
    orig_open, orig_broker = sim_link.open_line, sim.Broker
    sub = {}

    class Broker(orig_broker):  # the private broker, with our subscriber on it once it listens
        def start(self, attempts=3):
            orig_broker.start(self, attempts)
            sub["s"] = Subscriber(self.port, ("linky/#", "homeassistant/#"))
            return self

    sim_link.open_line = open_line
    sim.Broker = Broker
    args = ["--no-build", "--tic", spec, "--baud", "9600", "--state", state,
            "--run-for", str(seconds)] + [x for kv in settings for x in ("--set", kv)]  # fmt: skip
    out_path = os.path.join(state, "firmware.log")
    saved = os.dup(1), os.dup(2)
    try:
        fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        sys.stdout.flush()
        if quiet:
            os.dup2(fd, 1)
            os.dup2(fd, 2)
        try:
            rc = sim.run(sim.parse_args(args))
        finally:
            sys.stdout.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(fd)
    finally:
        sim_link.open_line, sim.Broker = orig_open, orig_broker
        s = sub.get("s")
        if s is not None:
            s.close()
    if rc != 0 or s is None:
        raise SystemExit("mqtt_bench: the simulator failed (status %r), see %s" % (rc, out_path))
    return figures(name, settings, s.messages, log, seconds)


def _pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    k = min(len(xs) - 1, max(0, round(p / 100.0 * (len(xs) - 1))))
    return xs[k]


def figures(name, settings, messages, log, seconds):
    """Latency and byte figures from the messages of one run."""
    states = [m for m in messages if m.topic.endswith("/state")]
    configs = [m for m in messages if m.topic.startswith("homeassistant/")]
    diags = [m for m in messages if m.topic.endswith("/diagnostics")]
    lat = []
    for m in states:
        t = log.etx_time(iso_key(m.json()["DATE"]))
        if t is not None:
            lat.append((m.t - t) * 1000.0)
    # Steady state: from the first state after the last discovery config to the end.
    t0 = max((m.t for m in configs), default=states[0].t if states else 0.0)
    steady = [m for m in states if m.t > t0]
    first = steady[0].t if steady else t0
    last = max((m.t for m in messages), default=first)
    window = max(last - first, 1e-9)
    st_bytes = sum(wire_size(m.topic, m.payload) for m in steady[1:])
    state_mean = sum(wire_size(m.topic, m.payload) for m in states) / len(states) if states else 0
    diag_mean = sum(wire_size(m.topic, m.payload) for m in diags) / len(diags) if diags else 0
    diag_s = 300
    for kv in settings:
        if kv.startswith("diag_s="):
            diag_s = int(kv[7:])
    frame_s = None
    if len(log.etx) > 2 and log.line is not None:
        offs = sorted(log.etx.values())
        frame_s = (log.line.char_time(offs[-1]) - log.line.char_time(offs[0])) / (
            (len(offs) - 1) * 1.0 * __import__("sim_line").UNITS_PER_S
        )
    return {
        "policy": name,
        "settings": settings,
        "seconds": seconds,
        "frames_on_line": len(log.etx),
        "frame_s": frame_s,
        "states": len(states),
        "latency_n": len(lat),
        "latency_ms_p50": _pct(lat, 50),
        "latency_ms_p99": _pct(lat, 99),
        "latency_ms_min": min(lat) if lat else None,
        "latency_ms_max": max(lat) if lat else None,
        "state_msgs_steady": len(steady) - 1 if steady else 0,
        "steady_window_s": window,
        "state_bytes_per_h": st_bytes * 3600.0 / window,
        "state_msg_mean_bytes": state_mean,
        "diag_bytes_per_h": diag_mean * 3600.0 / diag_s,
        "connect_burst_bytes": sum(
            wire_size(m.topic, m.payload, 1 if m.topic.startswith("homeassistant/") else 0)
            for m in messages
            if m.t <= first
        ),
        "configs": len(configs),
    }


def report(results):
    lines = []
    for r in results:
        text = (
            "%-8s %s: %d frames on the line (%.3f s/frame), %d states; latency ETX->subscriber "
            "p50 %.1f ms, p99 %.1f ms (n=%d, min %.1f, max %.1f); state %.0f B/h over %.0f s "
            "(%d msgs, mean %.0f B), diagnostics %.0f B/h, connect burst %d B"
        )
        keys = ("frame_s", "states", "latency_ms_p50", "latency_ms_p99", "latency_n",
                "latency_ms_min", "latency_ms_max", "state_bytes_per_h", "steady_window_s",
                "state_msgs_steady", "state_msg_mean_bytes", "diag_bytes_per_h",
                "connect_burst_bytes")  # fmt: skip
        head = (r["policy"], " ".join(r["settings"]) or "(defaults)", r["frames_on_line"])
        lines.append(text % (head + tuple(r[k] or 0 for k in keys)))
        if r["frame_s"]:
            every = 3600.0 / r["frame_s"] * r["state_msg_mean_bytes"]
            lines.append(
                "         full JSON every frame (computed: %.0f frames/h x %.0f B): %.0f B/h"
                % (3600.0 / r["frame_s"], r["state_msg_mean_bytes"], every)
            )
    return "\n".join(lines)


POLICIES = {"default": [], "fast1": ["fast_min_s=1"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=180.0, help="line time per policy run")
    ap.add_argument("--policy", choices=("default", "fast1", "both"), default="both")
    ap.add_argument("--json", action="store_true", help="also print the figures as JSON")
    ap.add_argument("--verbose", action="store_true", help="show the simulator's output")
    a = ap.parse_args(argv)
    names = ("fast1", "default") if a.policy == "both" else (a.policy,)
    import subprocess

    subprocess.run([sys.executable, str(ROOT / "tools" / "build.py")], check=True)
    results = [run_policy(n, POLICIES[n], a.seconds, quiet=not a.verbose) for n in names]
    print(report(results))
    if a.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
