# micropython: also
"""firmware/slots.py: which folder boots. No pointer or a bad one: the factory image; a trial
boot is counted once, and the boot after a trial that was never marked good rolls back to the
previous folder, saying why (the trial's own reason, its crash, or an unexplained reset)."""

import json
import os

from fs_helpers import rm_tree

from firmware import slots

_PID = os.getpid() if hasattr(os, "getpid") else 0
_DIR = "/tmp/linky-test-slots-%d" % _PID


def _flash(fn):
    here = os.getcwd()
    rm_tree(_DIR)
    os.mkdir(_DIR)
    os.chdir(_DIR)
    try:
        for f in slots.FOLDERS:
            os.mkdir(f)
            os.mkdir(f + "/firmware")
        fn()
    finally:
        os.chdir(here)
        rm_tree(_DIR)


def _put(name, obj):
    with open(name, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))


def _trial(tries=0, **kw):
    p = {"active": "app_b", "previous": "app_a", "version": "2.0.0"}
    p.update(previous_version="1.0.0", trial=True, tries=tries, firmware=False)
    p.update(kw)
    return p


def _select_refused():
    """select() raises OSError: main.py then boots the factory image."""
    try:
        slots.select()
    except OSError:
        return
    raise AssertionError("no error")


def test_no_or_bad_pointer_is_the_factory_image():
    def t():
        assert slots.select() is None
        for bad in ("", "{", "[]", '{"active": "../x"}', '{"active": null}'):
            _put(slots.POINTER, bad)
            assert slots.select() is None
        _put(slots.POINTER, {"active": "app_a", "trial": False})
        assert slots.select() == "app_a"
        rm_tree("app_a")  # the folder vanished: the factory image
        _select_refused()

    _flash(t)


def test_a_trial_boots_once_then_rolls_back():
    def t():
        _put(slots.POINTER, _trial())
        assert slots.select() == "app_b"
        assert slots.read()["tries"] == 1
        assert slots.select() == "app_a"  # never marked good: back to the previous one
        p = slots.read()
        assert p["active"] == "app_a" and p["trial"] is False and p["version"] == "1.0.0"
        assert p["rollback"]["from"] == "2.0.0" and p["rollback"]["to"] == "1.0.0"
        assert "reset before it was marked good" in p["rollback"]["why"]
        assert slots.select() == "app_a"  # and stays there

    _flash(t)


def test_marked_good_stays():
    def t():
        _put(slots.POINTER, _trial())
        assert slots.select() == "app_b"
        slots.mark_good()
        assert slots.select() == "app_b" and slots.select() == "app_b"
        assert slots.read()["trial"] is False

    _flash(t)


def test_rollback_says_why():
    def t():
        _put(slots.POINTER, _trial(1, why="not healthy within 120 s (MQTT not connected)"))
        assert slots.select() == "app_a"
        assert slots.read()["rollback"]["why"].startswith("not healthy within 120 s")
        _put(slots.POINTER, _trial(1, previous=None, previous_version=None))
        _put(slots.CRASH_FILE, {"fresh": True, "crashes": [{"what": "RuntimeError('x')"}]})
        assert slots.select() is None  # no previous folder: the factory image
        assert slots.read()["rollback"]["why"] == "crashed: RuntimeError('x')"

    _flash(t)


def test_switch_and_inactive():
    def t():
        assert slots.inactive(None) == "app_a"
        assert slots.inactive({"active": "app_a"}) == "app_b"
        assert slots.inactive({"active": "app_b"}) == "app_a"
        import sys

        sys.path.insert(0, "app_a")  # this boot runs app_a, the pointer names app_b
        try:
            assert slots.running() == "app_a"
            assert slots.inactive({"active": "app_b"}) is None
            assert slots.inactive({"active": "app_a"}) == "app_b"
            assert slots.inactive(None) == "app_b"
        finally:
            sys.path.remove("app_a")
        slots.switch("app_a", "2.0.0", "1.0.0")
        p = slots.read()
        assert p["active"] == "app_a" and p["previous"] is None and p["trial"] is True
        assert p["tries"] == 0 and p["previous_version"] == "1.0.0"
        assert not [n for n in os.listdir(".") if n.endswith(".tmp")]

    _flash(t)


def test_a_folder_without_code_boots_only_on_the_linky_image():
    """On the linky image, an update that carried a MicroPython image wrote only data files
    (no firmware/ folder): that folder boots, its code is the image's. Otherwise such a
    folder is the factory image (OSError). Frozen is faked: the package's __file__ is then
    its name in the image, which no file on the flash bears."""
    import sys

    pkg = sys.modules["firmware"]
    saved = pkg.__file__

    def t():
        os.rmdir("app_b/firmware")
        os.mkdir("app_b/www")
        _put(slots.POINTER, {"active": "app_b", "trial": False})
        _select_refused()
        try:
            pkg.__file__ = "firmware/__init__.py"  # frozen
            assert slots.frozen()
            assert slots.select() == "app_b"
            rm_tree("app_b")  # the folder vanished: the factory image
            _select_refused()
            os.mkdir("firmware")  # found in the current folder (the board's root): a file
            _put("firmware/__init__.py", "")
            assert not slots.frozen()
            pkg.__file__ = "app_a/firmware/__init__.mpy"  # an update's code
            assert not slots.frozen()
        finally:
            pkg.__file__ = saved

    _flash(t)


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
