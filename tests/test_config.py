# micropython: also
"""firmware/config.py: defaults, validation, fallbacks with a log line, atomic save."""

import json
import os

import log
from firmware import config

_TAG = int.from_bytes(os.urandom(4), "big")


def _path(name):
    # The unix port has no getpid(): a random tag, so that two runs at once never share files.
    pid = os.getpid() if hasattr(os, "getpid") else _TAG
    return "/tmp/linky-test-config-%s-%d.json" % (name, pid)


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _clean(path):
    for p in (path, path + ".tmp"):
        try:
            os.remove(p)
        except OSError:
            pass


def _warnings(fn):
    # The log lines emitted while fn runs (the logger's ring), and fn's result.
    log.basicConfig(console=False, ring_size=20)
    try:
        result = fn()
        return result, [ln for ln in log.recent() if "WARNING config" in ln]
    finally:
        log.basicConfig(console=True, ring_bytes=log.RING_BYTES)  # the device's ring again


DEFAULTS = {s[0]: s[2] for s in config.SCHEMA}


def test_missing_file_gives_defaults_silently():
    got, warned = _warnings(lambda: config.load(_path("missing")))
    assert got == DEFAULTS
    assert warned == []


def test_valid_file_and_override_order():
    path = _path("valid")
    _write(path, json.dumps({"mode": "Standard", "heartbeat_s": 30, "board": "denky32"}))
    try:
        got = config.load(path)
        assert got["mode"] == "standard" and got["heartbeat_s"] == 30
        assert got["board"] == "denky32" and got["baud"] == 0
        opts = {"HEARTBEAT_S": "15"}
        got = config.load(path, override=opts.get)  # host options win over the file
        assert got["heartbeat_s"] == 15 and got["mode"] == "standard"
    finally:
        _clean(path)


def test_each_bad_value_falls_back_with_one_line():
    path = _path("bad")
    bad = {
        "mode": "turbo",
        "baud": 4800,
        "board": "",
        "signal_lost_s": 10**9,
        "heartbeat_s": 0,
    }
    _write(path, json.dumps(bad))
    try:
        got, warned = _warnings(lambda: config.load(path))
        assert got == DEFAULTS
        assert len(warned) == len(bad)
        for name in bad:
            assert any(("setting %s=" % name) in ln for ln in warned), name
    finally:
        _clean(path)


def test_bad_option_values():
    for name, value in (
        ("heartbeat_s", "-1"),
        ("heartbeat_s", "0"),
        ("heartbeat_s", "abc"),
        ("signal_lost_s", "99999"),
        ("mode", "7"),
        ("baud", "true"),
    ):
        opts = {name.upper(): value}
        got, warned = _warnings(lambda o=opts: config.load(_path("none"), override=o.get))
        assert got[name] == DEFAULTS[name], (name, value)
        assert len(warned) == 1 and "option" in warned[0], warned


def test_types_are_checked():
    assert config.check("heartbeat_s", True)[1] is not None  # a bool is not a count
    assert config.check("heartbeat_s", 1.5)[1] is not None
    assert config.check("mode", 3)[1] is not None
    assert config.check("nope", 1) == (None, "unknown setting")
    assert config.check("heartbeat_s", " 120 ") == (120, None)


def test_bool_text_and_secret_kinds():
    assert config.check("mqtt_tls", "on") == (True, None)
    assert config.check("mqtt_tls", False) == (False, None)
    assert config.check("mqtt_tls", 1)[1] is not None  # JSON true/false only, or their text
    assert config.check("mqtt_host", "  broker.lan ") == ("broker.lan", None)
    assert config.check("mqtt_host", "") == ("", None)  # empty: MQTT off
    assert config.check("mqtt_prefix", "")[1] is not None  # a topic prefix cannot be empty
    assert config.check("mqtt_host", "x" * 65)[1] is not None
    assert config.check("wifi_password", " spaces kept ") == (" spaces kept ", None)
    assert config.is_secret("wifi_password") and config.is_secret("mqtt_password")
    assert not config.is_secret("mqtt_user") and not config.is_secret("nope")


def test_a_bad_secret_is_not_logged():
    path = _path("secret")
    _write(path, json.dumps({"mqtt_password": "hunter2" * 20}))
    try:
        got, warned = _warnings(lambda: config.load(path))
        assert got["mqtt_password"] == ""
        assert len(warned) == 1 and "hunter2" not in warned[0] and "(hidden)" in warned[0]
    finally:
        _clean(path)


def test_unusable_files_give_defaults():
    path = _path("junk")
    for text in ("", "{", "[1, 2]", "null", "x" * (config.MAX_BYTES + 1), "[" * 3000 + "]" * 3000):
        _write(path, text)
        try:
            got, warned = _warnings(lambda: config.load(path))
            assert got == DEFAULTS, text[:20]
            assert len(warned) == 1, (text[:20], warned)
        finally:
            _clean(path)


def test_save_is_validated_and_atomic():
    path = _path("save")
    _clean(path)
    try:
        config.save({"mode": "historique", "heartbeat_s": "90"}, path)
        assert not _exists(path + ".tmp")
        with open(path) as f:
            assert json.load(f) == {"mode": "historique", "heartbeat_s": 90}
        for bad in ({"heartbeat_s": 0}, {"what": 1}):
            try:
                config.save(bad, path)
            except ValueError as e:
                assert "setting" in str(e)
            else:
                raise AssertionError("saved %r" % (bad,))
        with open(path) as f:  # the refused saves left the file as it was
            assert json.load(f)["mode"] == "historique"
    finally:
        _clean(path)


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
