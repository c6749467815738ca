"""The rare steps of firmware/mqtt_pub.py's Publisher, loaded for each call and dropped after
(its code is not resident): starting the client, incoming commands, per-label topics.

    start(pub)                        the MQTT client (TLS if set) and its task; the label rows
                                      of the publish policy
    message(pub, topic, msg, retained)   a command on `~/cmd`, Home Assistant's status
    await per_label(pub, c)           `~/<LABEL>` for each label that changed
    await stop(app)                   MQTT off for an application update (ota_run.make_room):
                                      then this module, the publisher's and the client's
                                      are unloaded
    restart(app)                      MQTT on again after a refused one, as at boot

A discovery round is firmware/mqtt_round.py (not this module: it stays loaded for the whole
round).

Contract and policy: firmware/mqtt_pub.py.
"""

import asyncio

import mqtt
from firmware import hal, unload
from firmware.mqtt_pub import log
from tic import labels

# Fast labels: sent on change (at most every fast_min_s). Apparent power, currents, voltages.
_FAST = (
    "PAPP IINST IINST1 IINST2 IINST3 SINSTS SINSTS1 SINSTS2 SINSTS3 SINSTI IRMS1 IRMS2 IRMS3 "
    "URMS1 URMS2 URMS3"
)
# A change of one of these publishes at once: tariff period, Tempo colours, contract index.
_PERIOD = "PTEC DEMAIN LTARF NTARF NJOURF NJOURF+1 STGE"


def _rows(names):
    out = bytearray()
    for n in names.split():
        r = labels.index(n)
        if r >= 0:
            out.append(r)
    return bytes(out)


def start(pub):
    """Make pub's MQTT client (lib/mqtt.py; reconnecting by itself) and start its task."""
    pub._fast = _rows(_FAST)
    pub._period = _rows(_PERIOD)
    s = pub.s
    ssl = None
    if s["mqtt_tls"]:
        ssl = _tls(s["mqtt_ca"])
    c = mqtt.MQTTClient(
        ("linky-" + hal.unique_id()).encode(),
        s["mqtt_host"],
        s["mqtt_port"],
        s["mqtt_user"] or None,
        s["mqtt_password"] or None,
        s["mqtt_keepalive_s"],
        ssl,
        open_stream=hal.open_connection,
    )
    c.set_last_will(pub.topic(b"/availability"), b"offline", retain=True, qos=1)
    c.set_callback(pub._on_message)
    c.on_connect = pub._on_connect
    c.on_disconnect = pub._on_disconnect
    c.subs.append((pub.topic(b"/cmd"), 0))
    if s["ha_discovery"]:
        c.subs.append((s["ha_prefix"].encode() + b"/status", 0))
    pub.client = c
    pub.app.add_task("mqtt-client", c.run())


def _tls(ca):
    import mqtt_tls

    cadata = None
    if ca:
        try:
            with open(ca, "rb") as f:
                cadata = f.read()
        except OSError as e:
            raise mqtt.TLSError("cannot read the CA file %s: %r" % (ca, e))
    return mqtt_tls.context(cadata)


def message(pub, topic, msg, retained):
    """An incoming message (the client's callback): a command, or Home Assistant's status."""
    if topic.endswith(b"/cmd"):
        cmd = bytes(msg).strip().lower()
        log.info("command %r", cmd)
        if cmd == b"rediscover":
            pub._discover = True
        elif cmd == b"reboot":
            pub.app.stop("reset")
        elif cmd in pub.app.commands:
            pub.app.commands[cmd](pub.app)
        else:
            log.warning("unknown command %r", cmd)
    elif topic.endswith(b"/status") and bytes(msg) == b"online" and not retained:
        pub._discover = True  # Home Assistant restarted: it forgot the entities


async def per_label(pub, c):
    """`~/<LABEL>` with the raw value (padding dropped) of each label that changed."""
    rd = pub.rd
    buf = pub._buf
    for r in range(labels.COUNT):
        if rd.present(r) and rd.changed(r):
            n = rd.copy_value(r, buf)
            v = bytes(buf[:n]).strip()
            name = labels._NAMES[labels._off(r) : labels._off(r + 1)]
            await c.publish(pub.base + b"/" + name, v)


async def stop(app):
    """MQTT off for an application update (firmware/ota_run.py make_room): a last diagnostics
    message (its "ota" says the update runs) and availability "offline" (retained: Home
    Assistant shows the meter unavailable until it comes back), DISCONNECT, the client's and
    the publisher's tasks ended, app.mqtt None, the MQTT modules (this one too) unloaded; the
    caller collects. A network fault or a short heap skips the messages; never raises."""
    pub = app.mqtt
    app.mqtt = None
    c = pub.client
    if c is not None:
        if c.is_connected():
            try:
                await pub.publish_diagnostics(c)
                await c.publish(pub.topic(b"/availability"), b"offline", retain=True, qos=1)
            except (mqtt.MQTTError, MemoryError) as e:
                log.warning("before the update: %r", e)
        await c.stop()
    t = pub._task
    if t is not None and t is not asyncio.current_task():
        t.cancel()
        for _ in range(100):
            if t.done():
                break
            await asyncio.sleep(0.01)
    pub.client = pub._task = None
    # asyncio's loop keeps the last coroutine it threw an exception into (a stale slot of its
    # frame, which the collector scans) until it throws into another one: here the cancelled
    # publisher or client, which hold all of MQTT. A cancelled idle task takes that slot.
    t = asyncio.create_task(_idle())
    await asyncio.sleep(0)
    t.cancel()
    await asyncio.sleep(0)
    log.info("stopped for the update")
    r = getattr(app, "_running", None)  # App.add_task's list: done tasks keep their frames
    if r is not None:
        r[:] = [t for t in r if not t.done()]
    unload(*_MODULES)


# What MQTT loads (firmware/mqtt_pub.py and the modules it loads per call), unloaded by stop()
_MODULES = (
    "firmware.mqtt_ctl",
    "firmware.mqtt_round",
    "firmware.mqtt_diag",
    "firmware.mqtt_pub",
    "firmware.state_json",
    "mqtt_tls",
    "mqtt_link",
    "mqtt",
)


async def _idle():
    await asyncio.sleep(1)


def restart(app):
    """MQTT on again (a refused update; firmware/ota_run.py give_back): a new Publisher and
    its task, as firmware/builder.py's _net step and App.main() make them at boot. It connects,
    says "online", runs a discovery round and publishes state and diagnostics at once."""
    from firmware.mqtt_pub import Publisher

    app.mqtt = Publisher(app)
    app.add_task("mqtt", app.mqtt.run())
