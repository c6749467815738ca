# main.py: device entry point (also what the simulator runs). It never changes through an update.
# firmware/slots.py picks the app folder (the pointer app.json: trial boots, rollback) and
# returns its firmware.crash, which starts the app, turns any crash into a record and a reset,
# and keeps a crash loop in safe mode. Any error there: the factory image. Imports stay inside
# _crash(): slots runs once, and nothing here keeps it (nor the first firmware package, which
# slots.boot() drops) once the folder is chosen. Without a pointer (an image deployed by cable,
# never updated) slots is not even loaded: its names would stay interned for nothing.


def _crash():
    import os

    try:
        os.stat("app.json")  # firmware/slots.py's POINTER
        from firmware import slots

        return slots.boot()
    except Exception:  # noqa: BLE001 (no pointer, or anything in slots: the factory image)
        from firmware import crash

        return crash


_crash().start()
