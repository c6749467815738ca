"""pytest set-up: import paths, and device-side tests run under the MicroPython unix port.

Two kinds of files run on MicroPython:
- `test_*.py` whose first lines contain `# micropython: also` run on CPython (as usual) and on
  the unix port; each function is reported a second time as `name[micropython]`;
- `mptest_*.py` run only on the unix port (heap_lock proofs and other MicroPython-only facts).
The module is run once per file (`micropython tests/x.py`, via tests/mpunit.py) and each
function's PASS/FAIL line becomes one pytest result, so a failure there fails `make test`.

Slow tests (real line time, or more than a few seconds) carry the `slow` marker, which
`make check` deselects. CPython-only files use `@pytest.mark.slow`. Files that also run on
MicroPython (which has no pytest) say it without importing pytest: a `# slow` line among the
first lines marks the whole file, and a module-level `SLOW_TESTS = ("test_a", ...)` marks those
functions; both apply on CPython and on MicroPython. A MicroPython run executes only the
selected functions.
"""

import ast
import gc
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "lib"), str(ROOT), str(ROOT / "tools"), str(ROOT / "tests")]

import upy  # noqa: E402 (needs the path above)

pytest_plugins = ("broker",)  # tests/broker.py: private Mosquitto brokers

MP_TIMEOUT = 600  # seconds for one whole module on the unix port


def _runs_on_micropython(path):
    if path.suffix != ".py":
        return False
    if path.name.startswith("mptest_"):
        return True
    if path.name.startswith("test_"):
        return "# micropython: also" in _head(path)
    return False


def _head(path):
    with open(path, encoding="utf-8") as f:
        return f.read(600)


_FACTS = {}  # path -> (test function names, SLOW_TESTS names), this process's answers


def _facts(path, config):
    """(top-level test_ function names, names in SLOW_TESTS) of a test file, from its syntax
    tree. Each xdist worker collects every file, and parsing the MicroPython files cost each
    about 0.4 s: the answer is kept in pytest's cache (.pytest_cache) under the file's SHA-1."""
    if path in _FACTS:
        return _FACTS[path]
    data = path.read_bytes()
    digest = hashlib.sha1(data).hexdigest()
    cache = getattr(config, "cache", None)  # None under -p no:cacheprovider
    key = "linky/test-facts/" + path.name
    got = cache.get(key, None) if cache is not None else None
    if isinstance(got, dict) and got.get("sha1") == digest:
        facts = (got["tests"], got["slow"])
    else:
        tree = ast.parse(data.decode("utf-8"))
        tests = [
            n.name
            for n in tree.body
            if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")
        ]
        slow = []
        for n in tree.body:
            if isinstance(n, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "SLOW_TESTS" for t in n.targets
            ):
                slow.extend(ast.literal_eval(n.value))
        facts = (tests, slow)
        if cache is not None:
            cache.set(key, {"sha1": digest, "tests": tests, "slow": slow})
    _FACTS[path] = facts
    return facts


def _slow_names(path, config):
    """(whole file slow, names listed in SLOW_TESTS) for a file that may run on MicroPython."""
    whole = any(line.strip() == "# slow" for line in _head(path).splitlines())
    if "SLOW_TESTS" not in path.read_text(encoding="utf-8"):
        return whole, set()  # most CPython-only files: nothing to parse
    return whole, set(_facts(path, config)[1])


def pytest_collection_modifyitems(config, items):
    cache = {}
    for item in items:
        path = Path(str(item.path))
        if path.suffix != ".py" or not path.name.startswith(("test_", "mptest_")):
            continue
        if path not in cache:
            cache[path] = _slow_names(path, config)
        whole, names = cache[path]
        fn = getattr(item, "fn", None) or getattr(item, "originalname", item.name)
        if whole or fn in names:
            item.add_marker(pytest.mark.slow)


def pytest_collection_finish(session):
    """Freeze what collection made (modules, items) out of the cyclic GC's sight: firmware code
    calls gc.collect() for the ESP32's small heap (web_req.api on every request), and on CPython
    each full collection would otherwise walk everything pytest holds, about 80 ms each."""
    _FACTS.clear()
    gc.freeze()


def _mp_file(file_path, parent):
    name = file_path.name + "[micropython]"
    return MicroPythonFile.from_parent(parent, path=file_path, name=name)


def pytest_collect_file(file_path, parent):
    if _runs_on_micropython(file_path):
        # An mptest_ file named on the command line goes through pytest_pycollect_makemodule.
        if file_path.name.startswith("mptest_") and parent.session.isinitpath(file_path):
            return None
        return _mp_file(file_path, parent)
    return None


def pytest_pycollect_makemodule(module_path, parent):
    """Never import an mptest_ file into CPython, even when named on the command line."""
    if module_path.name.startswith("mptest_"):
        return _mp_file(module_path, parent)
    return None


class MicroPythonFile(pytest.File):
    def collect(self):
        for name in sorted(_facts(self.path, self.config)[0]):
            yield MicroPythonItem.from_parent(self, name=name + "[micropython]", fn=name)

    def results(self):
        """Run the module once under the unix port; map test name -> (ok, text)."""
        if getattr(self, "_results", None) is None:
            shared = _shared_run(self.config, self.path.name)
            out, err = self._run() if shared is None else shared.output(self._run)
            self._results = parse_mpunit(out)
            self._output = out + err
        return self._results

    def _run(self):
        # Only the functions this session runs (make check deselects the slow ones).
        mine = [i.fn for i in self.session.items if i.parent is self]
        proc = upy.run([self.path, *mine], upy.test_path(), heap="16M", timeout=MP_TIMEOUT)
        return proc.stdout, proc.stderr


def _shared_run(config, name):
    """Under xdist, the one run of a file's module that every worker reads (None otherwise).

    xdist may hand a file's [micropython] items to several workers (worksteal splits the
    queue anywhere), and each would run the whole module again: up to a few seconds of CPU
    each, in make check. The first worker to need it runs it and leaves its output in the
    run's shared temporary directory (the parent of the workers' basetemps); the others wait
    for that output. Every worker selects the same functions (the whole collection's)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return None
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None:
        return None
    d = factory.getbasetemp().parent / "micropython-runs"
    d.mkdir(exist_ok=True)
    return _SharedRun(d / name)


class _SharedRun:
    def __init__(self, base):
        self.lock = base.with_name(base.name + ".lock")
        self.done = base.with_name(base.name + ".out")

    def output(self, run):
        try:
            fd = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return self._wait(run)
        os.close(fd)
        out = ("", "the worker running this module failed before it finished\n")
        try:
            out = run()
        finally:
            tmp = self.done.with_name(self.done.name + ".tmp")
            tmp.write_text(json.dumps(out), encoding="utf-8")
            tmp.replace(self.done)  # whole or absent, never half-written
        return out

    def _wait(self, run):
        deadline = time.monotonic() + MP_TIMEOUT + 60
        while not self.done.exists():
            if time.monotonic() > deadline:  # the other worker died: run it here
                return run()
            time.sleep(0.05)
        return tuple(json.loads(self.done.read_text(encoding="utf-8")))


def parse_mpunit(text):
    results = {}
    current = None
    buf = []
    for line in text.splitlines():
        if line.startswith("PASS "):
            results[line[5:].strip()] = (True, "")
        elif line.startswith("FAIL "):
            current = line[5:].strip()
            buf = []
        elif line.startswith("END ") and current:
            results[current] = (False, "\n".join(buf))
            current = None
        elif current:
            buf.append(line)
    return results


class MicroPythonItem(pytest.Item):
    def __init__(self, *, fn, **kw):
        super().__init__(**kw)
        self.fn = fn

    def runtest(self):
        results = self.parent.results()
        if self.fn not in results:
            raise MicroPythonError(
                "%s did not report under MicroPython; output:\n%s"
                % (self.fn, self.parent._output[-4000:])
            )
        ok, text = results[self.fn]
        if not ok:
            raise MicroPythonError(text)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MicroPythonError):
            return "MicroPython failure in %s:\n%s" % (self.fn, excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, "%s[micropython]" % self.fn


class MicroPythonError(Exception):
    pass


@pytest.fixture(autouse=True)
def _cwd_root(monkeypatch):
    """Tests open fixtures relative to the repository root, as the MicroPython runs do."""
    monkeypatch.chdir(ROOT)
    yield


os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(ROOT / ".hypothesis"))
