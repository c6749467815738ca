# micropython: also
"""firmware/state.py: atomic small JSON state; load() never raises and never parses more than
max_bytes, so a huge, deeply nested or unreadable file reads as None (defaults) instead of a
MemoryError or RecursionError at every boot."""

import os

from firmware import state

_DIR = "/tmp/linky-test-state-%s" % "".join("%02x" % b for b in os.urandom(4))


def _path(name):
    try:
        os.mkdir(_DIR)
    except OSError:
        pass
    return _DIR + "/" + name


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _remove(path):
    for p in (path, path + ".tmp"):
        try:
            os.remove(p)
        except OSError:
            pass


def test_round_trip_and_missing():
    p = _path("rt.json")
    _remove(p)
    assert state.load(p) is None
    state.save(p, {"mode": "standard", "baud": 9600})
    assert state.load(p) == {"mode": "standard", "baud": 9600}
    state.save(p, {"mode": "historique", "baud": 1200})  # replaces
    assert state.load(p) == {"mode": "historique", "baud": 1200}
    _remove(p)


def test_corrupt_or_not_an_object_reads_none():
    p = _path("bad.json")
    for text in ('{"mode": "stand', "", "[1, 2]", "42", "null", "\x00\xff garbage"):
        _write(p, text)
        assert state.load(p) is None, text
    _remove(p)


def test_oversized_file_reads_none_without_parsing():
    # A valid JSON object of 300 KB: parsing it would need several times that on a board.
    p = _path("big.json")
    with open(p, "w") as f:
        f.write('{"mode": "standard", "pad": "')
        chunk = "x" * 1000
        for _ in range(300):
            f.write(chunk)
        f.write('"}')
    assert state.load(p) is None
    # Just under the limit still loads; the limit can be set per call.
    _write(p, '{"pad": "%s"}' % ("y" * (state.MAX_BYTES - 11)))
    assert os.stat(p)[6] == state.MAX_BYTES
    assert state.load(p) == {"pad": "y" * (state.MAX_BYTES - 11)}
    assert state.load(p, max_bytes=100) is None
    _remove(p)


def test_deep_nesting_reads_none_or_parses_never_raises():
    # 1000 nested lists fit in the size limit; CPython's parser gives up with RecursionError.
    p = _path("deep.json")
    _write(p, '{"a": ' + "[" * 1000 + "]" * 1000 + "}")
    d = state.load(p)
    assert d is None or d == {"a": d["a"]}
    _write(p, '{"a": ' + "[" * 1020)  # truncated deep nesting
    assert state.load(p) is None
    _remove(p)


def test_out_of_memory_reads_none():
    try:
        import micropython
    except ImportError:  # CPython: MemoryError injected into the parser instead
        import json

        p = _path("oom.json")
        state.save(p, {"baud": 9600})
        real = json.loads

        def boom(*args, **kw):
            raise MemoryError

        json.loads = boom
        try:
            assert state.load(p) is None
        finally:
            json.loads = real
        _remove(p)
        return
    p = _path("oom.json")
    state.save(p, {"baud": 9600})
    micropython.heap_lock()  # every allocation now raises MemoryError
    try:
        d = state.load(p)
    finally:
        micropython.heap_unlock()
    assert d is None
    assert state.load(p) == {"baud": 9600}
    _remove(p)


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
