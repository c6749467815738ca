"""MQTT publishing: topics, the publish policy, Home Assistant discovery rounds, commands.

Contract (topics and payloads: README "MQTT topics"; ids: lib/ha.py, pinned by tests):
  Publisher(app)      reads app.settings, app.readings, app.reader, app.wifi; builds nothing
                      big until the meter id is known (the topics carry it).
  await run()         the task: waits for the meter id, starts the MQTT client (lib/mqtt.py,
                      reconnecting by itself), then every POLL_MS looks at the readings store
                      and publishes what the policy says. Never raises for a network fault.
                      An application update stops it all for its duration and, when the update
                      is refused, starts a new Publisher (mqtt_ctl.stop(), restart()).
Policy, with the settings fast_min_s, slow_s, diag_s:
  `~/state` (the whole state JSON, firmware/state_json.py) when a fast label (power, current,
  voltage) changed and fast_min_s has passed since the last one, when the tariff period or a
  Tempo colour changed, every slow_s, and right after every (re)connect;
  `~/diagnostics` every diag_s and after every (re)connect; `~/availability` "online" at each
  connect, "offline" by the last will; per-label topics `~/<LABEL>` (per_label_topics) with the
  state message, for the labels that changed.
Discovery (ha_discovery): one entity config at a time, retained, streamed from the templates
file by lib/ha_tpl.py, loaded for the round and dropped after; at each connect, when Home
Assistant says "online" on `<ha_prefix>/status`, on the `rediscover` command, and when the
meter's set of labels grows (or its mode or meter changes: retired entities get an empty
retained config).
Commands on `~/cmd`: "rediscover", "reboot", and those the other parts add to app.commands
(payload bytes -> fn(app)), such as "portal" and "ota".
Memory: a state buffer of state_json.SIZE, topic buffers, the entity set (24 bytes), all made
once; a state publish allocates only what the MQTT client does (one memoryview). The rare
steps (starting the client, commands, per-label topics) are in firmware/mqtt_ctl.py and a
round in firmware/mqtt_round.py, loaded per call and dropped; the diagnostics in
firmware/mqtt_diag.py.
"""

import asyncio
import gc
import time

import mqtt
from firmware import state_json, unload
from log import getLogger
from tic import labels

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


POLL_MS = 250
_SETTLE = const(4)  # frames stored before the first connection (ids and indexes confirmed)
ROUND_RETRY_MS = 60000  # a discovery round skipped for lack of memory is tried again after
_SET_BYTES = const(24)  # lib/ha.py SET_BYTES

log = getLogger("mqtt")


def _ms():
    return time.ticks_ms()


def _since(t):
    return time.ticks_diff(time.ticks_ms(), t)


def _ctl():
    """firmware/mqtt_ctl.py, loaded for a rare step (start, a command) and dropped
    right after the call (`unload`): a coroutine it returns keeps its code until it ends."""
    from firmware import mqtt_ctl

    unload("firmware.mqtt_ctl")
    return mqtt_ctl


class Publisher:
    def __init__(self, app):
        self.app = app
        s = app.settings
        self.s = s
        self.rd = app.readings
        self.client = None
        self.base = None  # b"<prefix>/<meter id>"
        self.meter = None  # str
        self._id = None  # bytes
        self.published = 0  # messages sent
        self.bytes = 0  # payload bytes sent
        self._buf = bytearray(state_json.SIZE)
        self._fast = self._period = b""  # label rows, set by mqtt_ctl.start()
        self._seq = -1
        self._last_state = self._last_diag = 0
        self._full = self._discover = self._online = False
        self._retry = None  # ticks of a discovery round skipped for lack of memory
        self.in_round = False  # a discovery round is running: an OTA update waits for its end
        self._entities = bytearray(_SET_BYTES)  # what the last round announced
        self._mode = None
        self._gen = -1
        self._tbuf = bytearray(160)
        self._task = None  # run()'s task: mqtt_ctl.stop() cancels it

    # -- topics
    def topic(self, suffix):
        return self.base + suffix

    # -- client hooks (run in the client's tasks)
    def _on_connect(self, c):
        # Only flags: everything is published by run(), one thing at a time (the buffers
        # are shared, and a hook that awaits would hold up the client's own task).
        log.info("connected to %s:%d as %s", c.server, c.port, self.base.decode())
        self._online = self._discover = self._full = True

    def _on_disconnect(self, c, reason):
        log.warning("MQTT connection lost: %r", reason)

    def _on_message(self, topic, msg, retained):
        _ctl().message(self, topic, msg, retained)  # a command, or Home Assistant's status

    async def _round(self, c, added):
        try:
            from firmware import mqtt_round  # its code stays only while the round runs

            unload("firmware.mqtt_round")
            co = mqtt_round.round(self, c, added)
        except MemoryError:  # no room for the round's own code: as for a round without room
            gc.collect()
            log.error("discovery skipped: out of memory (mem used %d)", gc.mem_alloc())
            self._retry = _ms()
            return
        await co

    def _grew(self):
        # True when the meter now sends a label the last round did not announce.
        e = self._entities
        rd = self.rd
        for r in range(labels.COUNT):
            if rd.present(r) and not e[r >> 3] & (1 << (r & 7)):
                return True
        return False

    # -- the task
    async def run(self):
        self._task = asyncio.current_task()
        rd = self.rd
        idb = bytearray(16)
        while True:  # the meter id, and a few frames so that indexes are confirmed
            n = rd.copy_meter_id(idb)
            if n and rd.seq >= _SETTLE:
                break
            await asyncio.sleep_ms(POLL_MS)
        self._id = bytes(idb[:n])
        self.meter = self._id.decode()
        self.base = self.s["mqtt_prefix"].encode() + b"/" + self._id
        self._gen = rd.generation
        log.info("meter %s: publishing under %s/", self.meter, self.base.decode())
        _ctl().start(self)  # the client and its task
        c = self.client
        while True:
            await asyncio.sleep_ms(POLL_MS)
            if not c.is_connected():
                continue
            try:
                await self._step(c)
            except mqtt.MQTTError as e:
                log.warning("publish failed: %r", e)

    async def _step(self, c):
        rd = self.rd
        s = self.s
        if rd.generation != self._gen:  # a mode or meter change
            self._gen = rd.generation
            n = rd.copy_meter_id(self._tbuf)
            if n and self._tbuf[:n] != self._id:
                # A new meter (the board moved): its topics differ; start again cleanly.
                log.warning("the meter id changed: restarting")
                self.app.stop("reset")
                return
            self._discover = True
        new = rd.seq != self._seq
        if self._retry is not None and _since(self._retry) >= ROUND_RETRY_MS:
            self._retry = None
            self._discover = True
        if self._online:
            self._online = False
            await c.publish(self.topic(b"/availability"), b"online", retain=True, qos=1)
        # No round while an update runs (the heap cannot hold both); _discover stays set, so
        # the round comes once the update is refused or done.
        st = getattr(self.app, "ota_status", None)  # firmware/ota_boot.py's busy states:
        busy = st is not None and st.get("state") in ("checking", "downloading", "restarting")
        if self._discover and s["ha_discovery"] and not busy:
            self._discover = False
            await self._round(c, False)
            self._full = True
        elif new and s["ha_discovery"] and not busy and self._grew():
            await self._round(c, True)
        send = self._full or _since(self._last_state) >= s["slow_s"] * 1000
        if new and not send:
            for r in self._period:
                if rd.changed(r):
                    send = True
                    break
        if new and not send and _since(self._last_state) >= s["fast_min_s"] * 1000:
            for r in self._fast:
                if rd.changed_since(r, self._last_state):
                    send = True
                    break
        self._seq = rd.seq
        if send and rd.seq:
            await self.publish_state(c)
        if self._full or _since(self._last_diag) >= s["diag_s"] * 1000:
            try:
                await self.publish_diagnostics(c)
            except MemoryError:  # a short heap skips one diagnostics message, not the board
                self._last_diag = _ms()
                gc.collect()
                log.warning("diagnostics skipped: out of memory (mem used %d)", gc.mem_alloc())
        self._full = False

    async def publish_state(self, c):
        n = state_json.write(self.rd, self._buf)
        await c.publish(self.topic(b"/state"), memoryview(self._buf)[:n])
        self._last_state = _ms()
        self.published += 1
        self.bytes += n
        if self.s["per_label_topics"]:
            await _ctl().per_label(self, c)

    async def publish_diagnostics(self, c):
        from firmware import mqtt_diag  # loaded per message (every diag_s), dropped after

        try:
            n = mqtt_diag.diagnostics_json(self.app, self._buf)
        finally:
            unload("firmware.mqtt_diag")
        await c.publish(self.topic(b"/diagnostics"), memoryview(self._buf)[:n])
        self._last_diag = _ms()
        self.published += 1
        self.bytes += n
