# main.py: device entry point (also what the simulator runs). It never changes through an update.
# firmware/slots.py picks the app folder (the pointer app.json: trial boots, rollback) and
# returns its firmware.crash, which starts the app, turns any crash into a record and a reset,
# and keeps a crash loop in safe mode. Any error there: the factory image.
try:
    from firmware import slots

    crash = slots.boot()
    del slots
except Exception:  # noqa: BLE001
    from firmware import crash

crash.start()
