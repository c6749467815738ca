"""lib/mqtt.py on the MicroPython unix port against a real broker, driven by
test_mqtt_broker.py: `micropython tests/mqtt_mp_client.py HOST PORT CLIENT_ID [CAFILE NAME]`.

Sets a retained last will (`linky/<id>/status` = offline), connects (TLS when CAFILE is given,
the certificate checked against NAME), publishes `online` there (retained, QoS 1), prints
`UP`, then publishes `tick` (QoS 0) every 100 ms until killed. Errors are printed as
`ERROR <type>: <message>` and exit with status 1.
"""

import asyncio
import sys

import mqtt
import mqtt_tls


async def main(host, port, cid, cafile=None, name=None):
    ctx = None
    if cafile:
        with open(cafile, "rb") as f:
            ctx = mqtt_tls.context(f.read())
    c = mqtt.MQTTClient(cid, host, port, keepalive=10, ssl=ctx, server_hostname=name)
    c.timeout_ms = 3000
    status = "linky/%s/status" % cid
    c.set_last_will(status, b"offline", retain=True, qos=1)
    await c.connect()
    await c.publish(status, b"online", retain=True, qos=1)
    print("UP")
    while True:
        await c.publish("linky/%s/tick" % cid, b"1")
        await asyncio.sleep_ms(100)


try:
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), *sys.argv[3:]))
except Exception as e:  # noqa: BLE001 (reported to the test)
    print("ERROR %s: %s" % (type(e).__name__, e))
    sys.exit(1)
