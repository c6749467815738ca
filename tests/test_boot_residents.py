# micropython: also
"""What boot leaves resident (docs/design/memory-diet.md, round 5): firmware.lazy() loads a
module for one call and drops it; firmware.every() runs a periodic call; ota_boot.build()
registers lazy commands, so the OTA code is not kept between updates; main.py keeps neither
firmware.slots nor anything it imported."""

import asyncio
import sys

import firmware
from firmware import every, lazy, unload

_MOD = "firmware.version"  # a small module nothing in these tests keeps


class _App:
    def __init__(self, **settings):
        self.settings = {"ota_check_h": 0, "ota_url": ""}
        self.settings.update(settings)
        self.commands = {}
        self.tasks = []
        self.last_crash = None

    def add_task(self, name, coro):
        self.tasks.append((name, coro))

    def close(self):
        for _, c in self.tasks:
            c.close()


def test_lazy_loads_for_the_call_and_drops_after():
    unload(_MOD)
    f = lazy(_MOD, "VERSION")
    assert _MOD not in sys.modules
    try:
        f()
    except TypeError:  # VERSION is a str: calling it fails, and the module still goes
        pass
    assert _MOD not in sys.modules
    assert not hasattr(firmware, "version")


def test_lazy_passes_arguments_and_returns():
    unload("firmware.state")
    f = lazy("firmware.state", "load")
    assert f("/nonexistent/linky-test.json") is None  # a missing file reads as None
    assert "firmware.state" not in sys.modules


def test_every_calls_periodically():
    seen = []

    async def main():
        t = asyncio.create_task(every(0.01, seen.append, "x"))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if len(seen) >= 3:
                break
        t.cancel()

    asyncio.run(main())
    assert seen[:3] == ["x", "x", "x"]


def test_every_takes_the_longest_period_the_settings_allow():
    """ota_check_h goes to 720 h: one asyncio sleep that long raises OverflowError on
    MicroPython (ticks_add() refuses 2^29 ms and more), which crashed the task at boot."""
    seen = []

    async def main():
        t = asyncio.create_task(every(720 * 3600, seen.append, "x"))
        await asyncio.sleep(0.05)
        alive = not t.done()
        t.cancel()
        return alive

    assert asyncio.run(main())
    assert seen == []
    # On an ESP32 (32-bit) ticks wrap at 2^30 ms and ticks_add() refuses 2^29 ms and more:
    # every sleep must stay far below (the unix port is 64-bit and would not show it).
    assert firmware._LONGEST_S * 1000 < 1 << 28


def test_every_adds_its_pieces_up_to_the_period():
    seen = []
    longest = firmware._LONGEST_S
    firmware._LONGEST_S = 0.01  # a period of three and a half pieces

    async def main():
        t = asyncio.create_task(every(0.035, seen.append, "x"))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if seen:
                break
        t.cancel()

    try:
        asyncio.run(main())
    finally:
        firmware._LONGEST_S = longest
    assert seen == ["x"]


def test_ota_boot_is_dropped_and_its_commands_load_it_again():
    from firmware import ota_boot

    app = _App()
    try:
        ota_boot.build(app)
        unload("firmware.ota_boot", "firmware.slots")
        del ota_boot
        assert "firmware.ota_boot" not in sys.modules
        assert sorted(app.commands) == [b"ota", b"ota force"]
        assert app.ota_status["state"] == "idle"
        app.ota_status["state"] = "trial"  # refused at once: nothing started
        assert "trial" in app.commands[b"ota"](app)
        assert "firmware.ota_boot" not in sys.modules
        app.ota_status["state"] = "idle"
        assert app.commands[b"ota force"](app) is None  # the update's task is queued
        assert [n for n, _ in app.tasks] == ["ota"]
        assert app.ota_status["state"] == "checking"
        assert "firmware.ota_boot" not in sys.modules  # the task holds firmware.ota_task
    finally:
        app.close()


def test_ota_boot_loads_no_slots_code_without_a_pointer():
    from firmware import ota_boot, slots

    assert ota_boot.POINTER == slots.POINTER
    with open("main.py") as f:
        assert 'os.stat("%s")' % slots.POINTER in f.read()  # main.py's own check
    unload("firmware.slots")
    app = _App()
    try:
        ota_boot.build(app)  # the tests' working directory has no app.json
        assert "firmware.slots" not in sys.modules
        assert app.ota_status["state"] == "idle" and "rollback" not in app.ota_status
    finally:
        app.close()
        unload("firmware.ota_boot")


def test_ota_check_task_only_when_configured():
    from firmware import ota_boot

    app = _App(ota_check_h=2, ota_url="http://x")
    try:
        ota_boot.build(app)
        assert [n for n, _ in app.tasks] == ["ota-check"]
    finally:
        app.close()
        unload("firmware.ota_boot", "firmware.slots")


def test_main_py_keeps_no_module_of_its_own():
    with open("main.py") as f:
        src = f.read()
    # Every import sits inside _crash(): main.py's globals hold no module after the choice.
    for line in src.splitlines():
        if line.startswith(("import ", "from ")):
            raise AssertionError("top-level import in main.py: " + line)


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
