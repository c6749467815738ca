"""Run one update of firmware/ota.py on the MicroPython unix port, outside the simulator.

    micropython tests/ota_drive.py STATE url URL KEY [force] [timeout_ms]
    micropython tests/ota_drive.py STATE upload FILE KEY [force]
    micropython tests/ota_drive.py STATE boot | fwboot | fwvalid

`url`/`upload`: an app with the settings ota_url/ota_key and an ota_status runs
ota.from_url / ota_web.install_upload (the file as the request body) with STATE as the flash (the
working directory); prints one JSON line {"ok", "status", "stop"}. `boot`: main.py's first step
(firmware/slots.py boot()) in STATE, then imports the chosen firmware's version module; prints
{"folder", "version"}. `fwboot`: the host flash's bootloader (firmware/hal/flash_host.py),
then {"fw": running_info()}; `fwvalid`: the same after ota_trial's ota_fw.mark_valid().
MICROPYPATH: the factory image (a build, or the source tree).
"""

import asyncio
import json
import os
import sys


class _App:
    def __init__(self, url, key):
        from firmware.version import VERSION

        self.settings = {"ota_url": url, "ota_key": key}
        self.ota_status = {"state": "idle", "progress": 0, "error": None, "version": VERSION}
        self.stopped = None

    def stop(self, code):
        self.stopped = code


class _Req:
    """A request body read from a file, in pieces of at most 1000 bytes."""

    def __init__(self, path):
        self.f = open(path, "rb")
        self.length = os.stat(path)[6]

    async def readinto(self, mv):
        n = min(len(mv), 1000)
        return self.f.readinto(mv[:n])


def _net():
    from firmware import hal

    w = hal.wlan()
    w.active(True)
    w.connect("sim")


def main():
    state, what = sys.argv[1], sys.argv[2]
    os.chdir(state)
    if what in ("fwboot", "fwvalid"):  # the host bootloader, then the trial's confirmation
        from firmware.hal import flash

        if what == "fwboot":
            flash.boot()
        else:  # the same boot as the last fwboot
            from firmware import ota_trial

            ota_trial.fw_valid()
            from firmware.hal import flash
        print(json.dumps({"fw": list(flash.running_info())}))
        return
    if what == "boot":
        from firmware import slots

        slots.boot()
        from firmware import slots as s2
        from firmware.version import VERSION

        print(json.dumps({"folder": s2.running(), "version": VERSION}))
        return
    from firmware import slots

    slots.boot()  # the version the pointer names runs the update, as on the device
    arg, key = sys.argv[3], sys.argv[4]
    force = len(sys.argv) > 5 and sys.argv[5] == "force"
    _net()
    from firmware import ota

    if len(sys.argv) > 6:
        ota.TIMEOUT_MS = int(sys.argv[6])
    if what == "url":
        app = _App(arg, key)
        ok = asyncio.run(ota.from_url(app, None, force))
    else:
        app = _App("", key)
        from firmware import ota_web

        ok = asyncio.run(ota_web.install_upload(app, _Req(arg), force))
    print(json.dumps({"ok": ok, "status": app.ota_status, "stop": app.stopped}))


main()
