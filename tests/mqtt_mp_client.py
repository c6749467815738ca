"""lib/mqtt.py on the MicroPython unix port against a real broker, driven by
test_mqtt_broker.py: `micropython tests/mqtt_mp_client.py HOST PORT ID MODE [CAFILE NAME]`.

Every mode sets a retained last will (`linky/<ID>/status` = offline) and uses TLS when CAFILE
is given (the certificate checked against NAME). Modes:
- `will`: connect, publish `online` there (retained, QoS 1), print `UP`, then publish `tick`
  (QoS 0) every 100 ms until killed;
- `once`: connect, subscribe to `linky/<ID>/echo`, publish `ping` there (QoS 1), print the
  message received back, disconnect, print `DONE`;
- `managed`: run() with a fast backoff; print `UP <n>` from on_connect (which publishes
  `online`, retained), until killed.
Errors are printed as `ERROR <type>: <message>`, exit status 1.
"""

import asyncio
import sys

import mqtt
import mqtt_tls


async def main(host, port, cid, mode, tls):
    ctx = name = None
    if tls:
        cafile, name = tls
        with open(cafile, "rb") as f:
            ctx = mqtt_tls.context(f.read())
    c = mqtt.MQTTClient(cid, host, port, keepalive=10, ssl=ctx, server_hostname=name)
    c.timeout_ms = 3000
    status = "linky/%s/status" % cid
    c.set_last_will(status, b"offline", retain=True, qos=1)
    if mode == "managed":
        ups = [0]

        async def on_connect(cl):
            ups[0] += 1
            await cl.publish(status, b"online", retain=True, qos=1)
            print("UP", ups[0])

        c.on_connect = on_connect
        c.backoff_ms = (50, 200)
        await c.run()
        return
    await c.connect()
    if mode == "once":
        got = []
        c.set_callback(lambda t, m, r: got.append(m))
        await c.subscribe("linky/%s/echo" % cid, 1)
        await c.publish("linky/%s/echo" % cid, b"ping", qos=1)
        for _ in range(300):
            if got:
                break
            await asyncio.sleep_ms(10)
        print("GOT", got)
        await c.disconnect()
        print("DONE")
        return
    await c.publish(status, b"online", retain=True, qos=1)
    print("UP")
    while True:
        await c.publish("linky/%s/tick" % cid, b"1")
        await asyncio.sleep_ms(100)


try:
    a = sys.argv
    asyncio.run(main(a[1], int(a[2]), a[3], a[4], a[5:]))
except Exception as e:  # noqa: BLE001 (reported to the test)
    print("ERROR %s: %s" % (type(e).__name__, e))
    sys.exit(1)
