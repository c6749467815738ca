"""Heap use of the device image on MicroPython 1.27 built 32-bit, as on an ESP32.

    python3 tools/mem32.py [--frames 1000] [--first 100] [--modes standard,historique]
                           [--no-unix] [--mqtt | --mqtt-only] [--web] [--json] [--mjs FILE]

Runs the real build/device .mpy files (rebuilt first with tools/build.py) on the WebAssembly
port of MicroPython 1.27.0 (npm `@micropython/micropython-webassembly-pyscript`, pinned in
tools/mem32/package-lock.json; `npm ci` runs there when node_modules is missing or older than
the lock file) under Node, with the ESP32 HAL selected and a fake `machine`
(tests/mem32_fake/machine.py) whose UART replays a tools/ticsim.py stream on a fake clock.
The heap starts as one 56 KB area, as on an ESP32_GENERIC board, and grows like it.

Per mode (a fresh interpreter each): the import cost of each device module (kept after a
collection, in the app's import order), the heap in use once the app is built, after each of
the first `--first` frames and after `--frames` frames, and the largest heap size reached. The
same steps run on the 64-bit unix port (.venv/bin/micropython) for the 64/32-bit ratio.
With --mqtt (or --mqtt-only: that alone), scenario mqtt too (`measure_mqtt()`): the whole
firmware with config.json setting Wi-Fi and a broker, the station joined at once, an in-memory
broker in place of the HAL's TCP socket (tests/mem32_fake/mem32_broker.py), the fake clock as
`time`; after boot, the connection and the first discovery round, `--frames` frames each
followed by the publisher's step (state per frame, diagnostics every 30 s of line time), then a
second round. WebAssembly only (the port's asyncio runs on the JavaScript loop).
With --web, scenario web too (`measure_web()`): scenario mqtt plus the web server of issue 10
driven through an in-memory stream at the socket edge: each frame is followed by a GET
/api/state (the status page's poll), every PAGE_EVERY frames by a whole page load; at the end
the web part is dropped in stages to measure what it keeps.
With --mjs FILE, the WebAssembly runs use that build of the port instead of the npm package:
tools/frozen_wasm.py's, where the firmware is frozen in as in the linky image (--no-unix is
then implied; docs/design/frozen-image.md). Method and figures: docs/design/memory.md.
Prints a table, or with --json one JSON object (`measure()` returns it; with --mqtt under
"mqtt"). Cost: both modes at 1000 frames take about 25 s, 90 s with the unix-port runs; boot
and 100 frames about 3 s; scenario mqtt, both modes, 1000 frames: about 50 s.
"""

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import qstr_names
import upy

ROOT = upy.ROOT
NPM_DIR = ROOT / "tools" / "mem32"
MJS = None  # --mjs: a build of the port (tools/frozen_wasm.py) instead of the npm package
FAKE_DIR = ROOT / "tests" / "mem32_fake"
HEAP_32 = 56 * 1024  # ESP32_GENERIC's first heap area (mem_info shows 56000 usable)
HEAP_64 = "2M"  # the unix port's heap: big enough never to collect early
# CPython stand-ins that device modules import only where MicroPython's names are missing
# (`except AttributeError:`, `if not _MP:`): never imported on a board
HOST_ONLY = ("aio_host", "mqtt_host")
HANG_S = 1800  # one harness run at most (the longest, web with 1,000 frames, takes minutes)
BUDGET_STEADY = 40 * 1024  # the TIC path's objects at steady state (from asyncio on)
HAL_SELECT = 'sys.platform == "esp32"'
# name -> (ticsim arguments, line speed)
MODES = {
    "standard": ("--mode standard --phases 3 --contract tempo", 9600),
    "historique": ("--mode historique --phases 3 --contract tempo", 1200),
}
# Modules of other features than the TIC path (publishing, Wi-Fi): their import cost and the
# objects they own (mem32_steps.TEARDOWN labels start with the owner) are reported apart.
OTHER_FEATURES = (
    "firmware.readings",
    "firmware.wifi",
    "firmware.hal.esp32_net",
    "firmware.mqtt_pub",
    "mqtt",
    "ha_tpl",  # a discovery round (with firmware.mqtt_round)
    "spare",  # App.spare()'s region: for discovery rounds, the web server, updates
    "services",  # the builder's _portal, _web, _ota: portal, web server, history, OTA (modules)
    # names of the rare modules (ha_tpl, web handlers...) interned at boot: App.build()'s step
    "firmware.app._intern",
    "firmware.builder._intern",
)
SPARE_FRAMES = 20  # more frames in the stream than the run needs
# Scenario mqtt: the whole firmware with MQTT publishing (issue 9): budgets in use after gc at
# steady state (from asyncio on, the fakes excluded), and at most one growth of the heap.
BUDGET_MQTT_STEADY = 56 * 1024
MQTT_SETTLE = 5  # frames before the connection (mqtt_pub._SETTLE: the meter id, indexes)
MQTT_MODULES = ("mqtt", "firmware.state_json", "firmware.mqtt_pub")
# Scenario web (issue 10): the firmware with MQTT serving the status page and /api/state, in
# use after gc at steady state; the web part's resident bytes (server, slots, history, code).
BUDGET_WEB_STEADY = 66 * 1024
BUDGET_WEB_RESIDENT = 10 * 1024
PAGE_EVERY = 10  # frames between two page loads (an /api/state poll after every other one)
LATE = ("area_steady", "area_max")  # heap sizes read after the first frames


class Mem32Error(RuntimeError):
    pass


def ensure_npm():
    """`npm ci` in tools/mem32 when node_modules is missing or older than the lock file (never
    through a symbolic link: a linked install is used as it is)."""
    if not shutil.which("node") or not shutil.which("npm"):
        raise Mem32Error("node and npm are needed (Debian packages nodejs and npm)")
    lock = NPM_DIR / "package-lock.json"
    stamp = NPM_DIR / "node_modules" / ".package-lock.json"
    if (NPM_DIR / "node_modules").is_symlink():
        # A copy of the tree that shares another checkout's install: `npm ci` through the link
        # would empty that install (it happened twice). Use it as it is.
        if stamp.exists():
            return
        raise Mem32Error("tools/mem32/node_modules is a link to a folder without the package: "
                         "replace the link by a copy, or run npm ci where it points")  # fmt: skip
    if stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime:
        return
    r = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],
        cwd=NPM_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode:
        raise Mem32Error("npm ci failed in tools/mem32:\n" + r.stdout + r.stderr)
    stamp.touch()


def build():
    r = subprocess.run(
        [sys.executable, str(ROOT / "tools/build.py")], capture_output=True, text=True, check=False
    )
    if r.returncode:
        raise Mem32Error("tools/build.py failed:\n" + r.stdout + r.stderr)


def hal_source():
    """firmware/hal/__init__.py with the ESP32 branch chosen (the host is not an esp32)."""
    src = (ROOT / "firmware/hal/__init__.py").read_text(encoding="utf-8")
    if src.count(HAL_SELECT) != 1:
        raise Mem32Error("firmware/hal/__init__.py no longer selects the HAL by `%s`: update "
                         "tools/mem32.py (hal_source)" % HAL_SELECT)  # fmt: skip
    return src.replace(HAL_SELECT, "True")


def select_esp32_hal(tree, source_name="__init__"):
    """Compile hal_source() over `tree`/firmware/hal/__init__.mpy, its source name
    `source_name` (build/device's style by default; a frozen tree's: the module's path)."""
    src = Path(tree) / "hal_init.py"
    src.write_text(hal_source(), encoding="utf-8")
    out = Path(tree) / "firmware/hal/__init__.mpy"
    cmd = [str(upy.MPY_CROSS), "-s", source_name, "-o", str(out), str(src)]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    src.unlink()
    if r.returncode:
        raise Mem32Error("mpy-cross failed on the patched HAL:\n" + r.stderr)


def device_image(dst):
    """A copy of build/device with the ESP32 HAL selected (compiled by mpy-cross as the rest)."""
    shutil.copytree(upy.BUILD, dst)
    select_esp32_hal(dst)


# -- the app's import order, from the sources


def _module_file(name):
    rel = name.replace(".", "/")
    for base in (ROOT / "lib", ROOT):
        for p in (base / (rel + ".py"), base / rel / "__init__.py"):
            if p.exists():
                return p
    return None


def _top_level_imports(tree, name):
    """Modules imported when `name` is imported: module-level statements (also inside if/try,
    not inside functions or classes), in order. `if True:` skips its else branch."""
    out = []

    def walk(stmts):
        for s in stmts:
            if isinstance(s, ast.Import):
                out.extend(a.name for a in s.names)
            elif isinstance(s, ast.ImportFrom):
                base = s.module or ""
                if s.level:
                    pkg = name.rsplit(".", s.level)[0] if "." in name else ""
                    base = pkg + ("." + base if base else "")
                out.append(base)
                out.extend(base + "." + a.name for a in s.names)  # submodules, if files
            elif isinstance(s, ast.If):
                walk(s.body)
                if not (isinstance(s.test, ast.Constant) and s.test.value is True):
                    walk(s.orelse)
            elif isinstance(s, ast.Try):
                walk(s.body)
                for h in s.handlers:
                    walk(h.body)
                walk(s.orelse)
                walk(s.finalbody)
            elif isinstance(s, ast.With):
                walk(s.body)

    walk(tree.body)
    return [m for m in out if m not in HOST_ONLY]


def module_order(mqtt=False):
    """Device modules in the order their import completes at boot: main.py's imports, what
    firmware.builder imports (not the builder, unloaded after boot), then firmware.app (which
    firmware.crash.start() imports). A submodule that its own package
    imports (firmware.hal imports firmware.hal.esp32) completes first but cannot be imported
    apart: it is left out and its cost counts with the package's (see `folded`)."""
    order = []
    seen = set()

    def visit(name):
        if name in seen:
            return
        path = _module_file(name)
        if path is None:
            return  # built-in (asyncio, machine...) or a name imported from a module
        seen.add(name)
        if "." in name:
            visit(name.rsplit(".", 1)[0])  # the package runs first
        src = hal_source() if name == "firmware.hal" else path.read_text(encoding="utf-8")
        for dep in _top_level_imports(ast.parse(src), name):
            visit(dep)
        order.append(name)

    main_src = (ROOT / "main.py").read_text(encoding="utf-8")
    for dep in _top_level_imports(ast.parse(main_src), "__main__"):
        visit(dep)
    # firmware.builder builds the parts and is unloaded after boot: what it imports stays,
    # the builder itself does not.
    builder = (ROOT / "firmware" / "builder.py").read_text(encoding="utf-8")
    for dep in _top_level_imports(ast.parse(builder), "firmware.builder"):
        visit(dep)
    visit("firmware.hal.esp32_net")  # the builder's hal.wlan() loads it
    visit("firmware.app")
    order += intern_steps()
    if mqtt:  # the builder imports the publisher (and what it imports) when MQTT is set
        visit("firmware.mqtt_pub")
    return [m for m in order if m not in folded(order)]


def intern_steps():
    """The build's _intern() step (firmware/builder.py or firmware/app.py: the rare modules of
    _RARE loaded and dropped one by one at boot so their names are interned early) as pseudo-
    modules "<owner>._intern.<rare>" that the harness imports before the build, one a step
    (tests/mem32_fake/mem32_steps.import_module): other features than the TIC path."""
    for owner in ("builder", "app"):
        tree = ast.parse((ROOT / "firmware" / (owner + ".py")).read_text(encoding="utf-8"))
        for n in tree.body:
            if isinstance(n, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "_RARE" for t in n.targets
            ):
                return ["firmware.%s._intern.%s" % (owner, m) for m in ast.literal_eval(n.value)]
    return []


def folded(order):
    """Modules of `order` imported by their package's __init__ (listed before the package)."""
    out = set()
    for i, m in enumerate(order):
        pkg = m.rpartition(".")[0]
        if pkg and pkg in order[i + 1 :]:
            out.add(m)
    return out


# -- runs


def make_stream(mode, frames, out):
    args, _baud = MODES[mode]
    cmd = [sys.executable, str(ROOT / "tools/ticsim.py"), *args.split()]
    cmd += ["--frames", str(frames), "--seed", "1", "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True)


class Job:
    """One mode's run: the device image, the stream file, the counts, the modules to import."""

    def __init__(self, device, stream, mode, *, first, frames, modules, scenario="tic"):
        self.page_every = PAGE_EVERY
        self.device = device
        self.stream = stream
        self.mode = mode
        self.baud = MODES[mode][1]
        self.first = first
        self.frames = frames
        self.modules = modules
        self.scenario = scenario


def _harness(job, phase, heap, ballast=0, qstr_excess=0):
    cmd = ["node", "--expose-gc", str(NPM_DIR / "harness.mjs"), "--device", str(job.device)]
    fake = Path(job.device).parent / "fake"  # compiled by _device()
    cmd += [
        "--fake",
        str(fake if fake.is_dir() else FAKE_DIR),
        "--stream",
        str(job.stream),
        "--baud",
        str(job.baud),
    ]
    cmd += ["--mode", job.mode, "--phase", phase, "--heap", str(heap), "--ballast", str(ballast)]
    cmd += ["--qstr-excess", str(qstr_excess)]
    cmd += ["--scenario", job.scenario, "--settle", str(MQTT_SETTLE)]
    if MJS:
        cmd += ["--mjs", str(MJS)]
    cmd += ["--page-every", str(job.page_every)]
    cmd += ["--first", str(job.first), "--frames", str(job.frames), *job.modules]
    try:  # a hang (an asyncio sleeper that never wakes) fails the run, not CI
        r = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=HANG_S)
    except subprocess.TimeoutExpired as e:
        raise Mem32Error(
            "harness.mjs %s (%s) still running after %d s" % (phase, job.mode, HANG_S)
        ) from e
    if r.returncode:
        tail = (r.stdout + r.stderr)[-4000:]
        raise Mem32Error("harness.mjs %s failed (%s):\n%s" % (phase, job.mode, tail))
    if os.environ.get("MEM32_TRACE"):  # every reading in order, for a look at one step
        sys.stderr.write("-- %s %s\n%s" % (phase, job.mode, r.stderr))
    return json.loads(r.stdout.strip().splitlines()[-1])


def qstr_excess(probe, device):
    """Bytes of interned names (qstrs) the harness holds after the boot beyond what a board
    would (negative: fewer): the firmware's names cost the harness its qstr bytes from the
    reading "base" to the boot (names of its fakes and names this port's ROM lacks included,
    the pools the harness had opened before "base" not), a board the pools and text of its
    share of all the names (tools/qstr_names.py board_share(); docs/design/qstr-pools.md).
    Returns (excess, details)."""
    q = probe["qstr"]
    fakes = sorted((Path(device).parent / "fake").glob("*.mpy"))
    n, text = qstr_names.board_share(q["boot"]["names"], Path(device), fakes)
    board = qstr_names.heap_bytes(n, text)
    harness = q["boot"]["total"] - q["base"]["total"]
    details = {"harness_names": q["boot"]["n"], "harness_bytes": harness, "board_names": n,
               "board_bytes": board}  # fmt: skip
    return harness - board, details


# The TIC path's device files (the rest belongs to other features): its share of the board's
# interned names (summarize()).
TIC_PATH_FILES = (
    "firmware/__init__", "firmware/app", "firmware/boards", "firmware/builder",
    "firmware/config", "firmware/crash", "firmware/crashlog", "firmware/hal/__init__",
    "firmware/hal/esp32", "firmware/state", "firmware/tic_reader", "firmware/tic_report",
    "firmware/version", "lib/log", "lib/tic/__init__", "lib/tic/guard", "lib/tic/labels",
    "lib/tic/parser",
)  # fmt: skip


def _tic_qstr_bytes(probe, device, details):
    """The board bytes of the TIC path's share of the names: the pools and text of all the
    board's names, in proportion to the names the TIC path's files hold (a name its files share
    with another feature's counts for it)."""
    names = probe["qstr"]["boot"]["names"]
    fakes = sorted((Path(device).parent / "fake").glob("*.mpy"))
    n, _ = qstr_names.board_share(
        names, Path(device), fakes, only=lambda rel: rel[: -len(".mpy")] in TIC_PATH_FILES
    )
    details["tic_names"] = n
    return details["board_bytes"] * n // max(1, details["board_names"])


def run_wasm(job):
    """The probe (ESP32-sized heap), then the run with the first area larger by exactly what
    the harness keeps (the pool is ~97.7 % of the heap asked for: corrected until it fits):
    the fakes and steps module, and from the boot on the names only the harness interns
    (qstr_excess(): left out of every reading from then, and added to the growth's ballast)."""
    probe = _harness(job, "probe", HEAP_32)
    excess, details = qstr_excess(probe, job.device)
    keep = probe["harness"] + excess
    wanted = probe["heap_start"] + keep
    heap = -(-wanted * HEAP_32 // probe["heap_start"])
    for _ in range(4):
        run = _harness(job, "run", heap, keep, excess)
        if run["heap_start"] >= wanted:
            run["probe"] = probe
            run["area_esp32"] = probe["heap_start"]
            run["qstr_excess"] = excess
            details["tic_bytes"] = _tic_qstr_bytes(probe, job.device, details)
            run["qstr"] = details
            return run
        heap += (wanted - run["heap_start"]) * 2 + 64
    raise Mem32Error("could not size the heap's first area to %d bytes" % wanted)


def run_unix(job, cwd):
    """The same steps on the 64-bit unix port, in one process (it collects when it must)."""
    path = upy.micropypath(Path(job.device) / "lib", job.device, FAKE_DIR)
    args = [FAKE_DIR / "mem32_steps.py", "auto", job.stream, job.baud, job.mode, job.first]
    args += [job.frames, *job.modules]
    r = upy.run(args, path, heap=HEAP_64, cwd=cwd, timeout=900)
    if r.returncode:
        tail = (r.stdout + r.stderr)[-4000:]
        raise Mem32Error("unix port run failed (%s):\n%s" % (job.mode, tail))
    readings = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "MEM32":
            readings[parts[1]] = int(parts[2])
    return readings


def is_other(name):
    """Whether module (or part label) `name` belongs to another feature than the TIC path."""
    name = name.split(":")[0]
    return any(name == m or name.startswith((m + ".", m + "_")) for m in OTHER_FEATURES)


def summarize(readings, modules, parts=(), q=None):
    """From cumulative readings (bytes in use after collection) to costs: per module, the
    app's objects, the firmware from asyncio on (`all_*`) and the TIC path: that minus the
    other features' modules and, from `parts` (the probe's [label, bytes]), their objects.
    q (the WebAssembly run): {"tot": the harness's qstr bytes at each reading, "excess": what
    the readings from the boot on leave out, "tic": the TIC path's share of a board's qstr
    bytes}. Interned names come in pools of 20, 40 ... 640 entries, each allocated by whichever
    import crosses the line: the TIC path is then counted without them, plus its share."""
    base = readings["asyncio"]
    imports = []
    prev = base
    for m in modules:
        v = readings["import:" + m]
        imports.append((m, v - prev))
        prev = v
    nq = None
    if q:  # the same costs without the interned names (pools and text)

        def nq(key):
            late = key not in ("asyncio",) and not key.startswith(("import:", "boot_step"))
            return readings[key] + (q["excess"] if late else 0) - q["tot"][key]

        keys = ["asyncio"] + ["import:" + m for m in modules]
        costs = [(m, nq(keys[i + 1]) - nq(keys[i])) for i, m in enumerate(modules)]
        other = sum(v for m, v in costs if is_other(m)) + sum(v for m, v in parts if is_other(m))
    else:
        other = sum(v for m, v in imports if is_other(m)) + sum(v for m, v in parts if is_other(m))
    out = {
        "harness": readings["base"],  # interpreter + fake machine + steps module
        "asyncio": readings["asyncio"] - readings["base"],
        "imports": imports,
        "imports_total": prev - base,
        "app_objects": readings["boot"] - prev,  # what the build keeps beyond the modules
        "other": other,  # other features: modules and objects
        "all_boot": readings["boot"] - base,
        "all_steady": readings["steady"] - base,
        "boot": readings["boot"] - base - other,  # the TIC path
        "first": readings["first"] - base - other,
        "steady": readings["steady"] - base - other,
        "tic_qstr": 0,  # of which its share of the interned names (q)
        "total_steady": readings["steady"],  # everything in the heap, harness included
    }
    if nq:
        for k in ("boot", "first", "steady"):
            out[k] = nq(k) - nq("asyncio") - other + q["tic"]
        out["tic_qstr"] = q["tic"]
        out["other"] = other
    if "peak" in readings:  # largest in use at a step's end, no collection inside a step
        out["peak"] = readings["peak"] - base
    return out


def _mode_entry(w):
    """One mode's figures from the WebAssembly probe and run (see measure())."""
    r = w["readings"]
    first = w["first"]
    harness = w["harness"]
    start = w["heap_start"]
    areas = [v for k, v in r.items() if k.startswith("area_") and k not in LATE]
    heap_first = max([first["area_max"], *areas])
    heap_max = max(heap_first, r["area_max"], w["heap_end"])
    return {
        "frames": r["frames"],
        "polls": w["polls"],
        "time_ms": r["time_ms"],  # fake clock at the end: line time of the bytes read
        "state": r["state"],  # tic_reader state code (1: ok)
        "baud": r["baud"],
        "checksum_errors": r["checksum_errors"],
        "area_esp32": w["area_esp32"],  # first heap area of an ESP32_GENERIC (56 KB asked)
        "harness": harness,  # what the fake machine and the steps module keep
        "qstr_excess": w.get("qstr_excess", 0),  # left out of every reading from the boot on
        "qstr": w.get("qstr"),
        "heap_start": start,  # the run's first area: area_esp32 + harness + qstr_excess
        # the whole heap as a board would hold it (interpreter, asyncio, app; no harness)
        "board_boot": r["boot"] - harness,
        "board_steady": r["steady"] - harness,
        "board_peak_first": first["peak"] - harness,
        "in_use_first_max": max(first["in_use"]) - r["asyncio"],  # TIC path, after gc
        "heap_max_first": heap_first,  # largest heap, boot to frame `first`
        "heap_max": heap_max,
        "grew_first": heap_first > start,
        # it grows by doubling: more than twice the first area is a second growth, past the
        # ~112 KB an ESP32_GENERIC can give without starving Wi-Fi
        "over_112k": heap_max > 2 * start,
        "boot_parts": w["probe"]["boot_parts"],  # [what, bytes] the build keeps
    }


def measure(frames=1000, first=100, modes=("standard", "historique"), unix=True):
    """Run everything; return a JSON-able dict: per mode "bits32" (summarize()), the heap
    figures of _mode_entry(), and with `unix` "bits64" and "ratio_64_32"."""
    if not 0 < first <= frames:
        raise Mem32Error("need 0 < first <= frames")
    ensure_npm()
    build()
    modules = module_order()
    result = {"modules": modules, "budget_steady": BUDGET_STEADY, "modes": {}}
    with tempfile.TemporaryDirectory(prefix="mem32-") as tmp:
        device = _device(tmp)
        for mode in modes:
            stream = Path(tmp) / (mode + ".tic")
            make_stream(mode, frames + SPARE_FRAMES, stream)
            job = Job(device, stream, mode, first=first, frames=frames, modules=modules)
            w = run_wasm(job)
            entry = _mode_entry(w)
            q = {"tot": w["qtot"], "excess": w["qstr_excess"], "tic": w["qstr"]["tic_bytes"]}
            s32 = summarize(w["readings"], modules, w["probe"]["boot_parts"], q)
            entry["bits32"] = s32
            # the frames' readings have no qstr figures of their own: the "first" reading's
            first_nq = w["qstr_excess"] - q["tot"]["first"] + q["tot"]["asyncio"]
            entry["in_use_first_max"] += first_nq - s32["other"] + q["tic"]
            if unix:
                run_dir = Path(tmp) / ("unix-" + mode)
                run_dir.mkdir()
                u = run_unix(job, run_dir)
                s64 = entry["bits64"] = summarize(u, modules)
                entry["ratio_64_32"] = {
                    "steady": s64["all_steady"] / s32["all_steady"],
                    "imports": s64["imports_total"] / s32["imports_total"],
                    "total": s64["total_steady"] / s32["total_steady"],
                }
            result["modes"][mode] = entry
    return result


def _device(tmp):
    """build/device with the ESP32 HAL, copied under `tmp` (rebuilt if it moved meanwhile)."""
    device = Path(tmp) / "device"
    try:
        device_image(device)
    except (OSError, shutil.Error):  # build/device rebuilt meanwhile (shared checkout)
        shutil.rmtree(device, ignore_errors=True)
        build()
        device_image(device)
    fake_image(Path(tmp) / "fake")
    return device


def fake_image(dst):
    """tests/mem32_fake compiled by mpy-cross into `dst`: imported from source, the harness's
    own modules needed the compiler's transient memory, which made the heap grow before the
    run's first reading once they passed about 20 KB of source (scenario mqtt)."""
    dst.mkdir()
    for src in sorted(FAKE_DIR.glob("*.py")):
        out = dst / (src.stem + ".mpy")
        cmd = [str(upy.MPY_CROSS), "-s", src.name, "-o", str(out), str(src)]
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode:
            raise Mem32Error("mpy-cross failed on %s:\n%s" % (src, r.stderr))


def _mqtt_entry(w, modules):
    """One mode's figures of the mqtt scenario (see measure_mqtt())."""
    r = w["readings"]
    harness = w["harness"]
    m = w["mqtt"]
    kept = m["broker_kept"]  # the broker's Event, made after the harness's base reading
    base = r["edge"]  # from asyncio on (edge_mqtt() itself keeps nothing of the firmware's)
    imports = []
    prev = base
    for mod in modules:
        v = r["import:" + mod]
        imports.append((mod, v - prev))
        prev = v
    start = w["heap_start"]
    areas = [v for k, v in r.items() if k.startswith("area_")]
    heap_max = max([w["heap_end"], *areas])
    first = w["first"]
    n = w["frames_mqtt"]
    n_first = first["mqtt"]["pub_steps"]

    def fw(v):
        return v - base - kept

    return {
        "frames": n,  # frames published after the discovery round
        "frames_total": r["frames"],
        "time_ms": r["time_ms"],
        "state": r["state"],
        "baud": r["baud"],
        "checksum_errors": r["checksum_errors"],
        "area_esp32": w["area_esp32"],
        "harness": harness,
        "qstr_excess": w.get("qstr_excess", 0),  # left out of every reading from the boot on
        "qstr": w.get("qstr"),
        "broker_kept": kept,
        "heap_start": start,
        "asyncio": r["asyncio"] - r["base"],
        "imports": imports,
        "imports_total": prev - base,
        # the firmware: everything from asyncio on, the fakes excluded
        "fw_boot": fw(r["boot"]) + kept,  # the broker's Event is made later
        "fw_connected": fw(r["connected"]),
        "fw_discovery": fw(r["discovery"]),
        "fw_first": fw(r["first"]),
        "fw_steady": fw(r["steady"]),
        "fw_rediscovery": fw(r["rediscovery"]),  # after a second round (rediscover command)
        "fw_rediscovery_after": fw(r["rediscovery_after"]),  # and 5 frames later
        "fw_first_max": max(first["in_use"]) - base - kept,
        "fw_first_min": min(first["in_use"]) - base - kept,
        # the whole heap as a board holds it (interpreter, asyncio, firmware)
        "board_steady": r["steady"] - harness - kept,
        # in use at a write to the broker during the round (garbage since the last collection
        # included: one publish's worth): firmware and board
        "fw_round_peak": w["round"]["broker_peak"] - base - kept,
        "board_round_peak": w["round"]["broker_peak"] - harness - kept,
        "board_peak": r["peak"] - harness - kept,  # largest at a step's end, boot included
        "heap_max": heap_max,
        "grew": heap_max > start,
        "over_112k": heap_max > 2 * start,
        # retained per frame after the round (in use after gc, first to last frame)
        "per_frame_retained": (r["steady"] - r["first"]) / max(1, n - n_first),
        # allocated (garbage included) by the publisher's step per frame: one state message,
        # a diagnostics message every diag_s
        "per_frame_alloc": m["pub_alloc"] / max(1, m["pub_steps"]),
        "alloc_clean": bool(m["pub_clean"]),
        "entities": w["round"]["entities"],
        "round": w["round"],
        "round2": w["round2"],
        "connect": w["connect"],
        "mqtt": m,
        "boot_parts": w["probe"]["boot_parts"],
    }


def measure_mqtt(frames=1000, first=100, modes=("standard", "historique")):
    """The mqtt scenario on the WebAssembly port: per mode a JSON-able dict (_mqtt_entry()):
    the whole firmware with Wi-Fi joined and MQTT publishing to the in-memory broker, after
    its connection, its first discovery round and `frames` frames."""
    if not 0 < first <= frames:
        raise Mem32Error("need 0 < first <= frames")
    ensure_npm()
    build()
    modules = module_order(mqtt=True)
    result = {"modules": modules, "budget_steady": BUDGET_MQTT_STEADY, "modes": {}}
    with tempfile.TemporaryDirectory(prefix="mem32-") as tmp:
        device = _device(tmp)
        for mode in modes:
            stream = Path(tmp) / (mode + ".tic")
            make_stream(mode, frames + MQTT_SETTLE + SPARE_FRAMES, stream)
            job = Job(device, stream, mode, first=first, frames=frames, modules=modules,
                      scenario="mqtt")  # fmt: skip
            result["modes"][mode] = _mqtt_entry(run_wasm(job), modules)
    return result


def _web_entry(w, modules):
    """One mode's figures of the web scenario: the mqtt scenario's, and the web part's."""
    e = _mqtt_entry(w, modules)
    r = w["readings"]
    base = r["edge"] + e["broker_kept"]
    e["fw_web_built"] = r["web_built"] - base
    # an update's room (firmware/ota_run.py make_room: MQTT stopped and dropped, the web
    # server kept), a poll meanwhile, then the update refused: MQTT again
    harness = w["harness"]
    # room enough (make_room keeps MQTT; the update's task module loaded), then a frame
    # published meanwhile: at its writes (garbage included, no collection inside)
    e["board_room_kept"] = r["room_kept"] - harness - e["broker_kept"]
    e["board_room_kept_pub_peak"] = r["peak_room_kept_pub"] - harness - e["broker_kept"]
    e["board_room_kept_poll_peak"] = r["peak_room_kept_poll"] - harness - e["broker_kept"]
    for k in ("room", "room_poll", "restored", "restored_round", "restored_after"):
        e["fw_" + k] = r[k] - base
    # the heap's growths: up to the steady reading (boot, round, frames and page loads), and
    # at give_back() after a refused update (MQTT started again in one call: no collection
    # inside it on this port, which a board would do before growing)
    start = w["heap_start"]
    e["over_112k_pages"] = r["area_steady"] > 2 * start
    e["over_112k_restore"] = r["area_restored"] > 2 * start
    e["board_room"] = r["room"] - harness - e["broker_kept"]
    e["board_room_poll"] = r["room_poll"] - harness - e["broker_kept"]
    # in use at the poll's writes (its request code and garbage: no collection inside)
    e["board_room_poll_peak"] = r["peak_room_poll"] - harness - e["broker_kept"]
    top = r["restored_after"]  # the web part is dropped from there
    e["web_server"] = top - r["web_drop0"]  # the Server, its slots and pool
    e["web_history"] = r["web_drop0"] - r["web_drop1"]
    e["web_code"] = r["web_drop1"] - r["web_drop2"]  # firmware.web, httpd, firmware.history
    e["web_resident"] = top - r["web_drop2"]
    e["fw_without_web"] = r["web_drop2"] - base
    e["fw_pages_max"] = max(w["pages"]) - base if w["pages"] else None
    e["web"] = w["web"]
    e["page_every"] = PAGE_EVERY
    return e


def measure_web(frames=1000, first=100, modes=("standard", "historique")):
    """The web scenario on the WebAssembly port: per mode the mqtt scenario's figures plus the
    web part's (_web_entry())."""
    if not 0 < first <= frames:
        raise Mem32Error("need 0 < first <= frames")
    ensure_npm()
    build()
    modules = module_order(mqtt=True)
    result = {"modules": modules, "budget_steady": BUDGET_WEB_STEADY,
              "budget_resident": BUDGET_WEB_RESIDENT, "modes": {}}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="mem32-") as tmp:
        device = _device(tmp)
        for mode in modes:
            stream = Path(tmp) / (mode + ".tic")
            make_stream(mode, frames + MQTT_SETTLE + SPARE_FRAMES, stream)
            job = Job(device, stream, mode, first=first, frames=frames, modules=modules,
                      scenario="web")  # fmt: skip
            result["modes"][mode] = _web_entry(run_wasm(job), modules)
    return result


def web_table(res):
    """The web scenario's report as markdown lines."""
    modes = list(res["modes"])
    out = [
        "Whole firmware with MQTT and the web server (32-bit, scenario web): after each frame "
        "a GET /api/state, every %d frames a page load (page, CSS, script, /api/session, "
        "/api/history, /api/state); bytes in use after gc.collect()." % PAGE_EVERY,
        "",
        "| | " + " | ".join(modes) + " |",
        "|---" * (len(modes) + 1) + "|",
    ]
    rows = (
        ("firmware once the web server is made", "fw_web_built"),
        ("firmware after N frames (with web)", "fw_steady"),
        ("... the same without the web part", "fw_without_web"),
        ("firmware after a page load (max of the first 20)", "fw_pages_max"),
        ("web part resident: all", "web_resident"),
        ("... Server, its 2 slots and their buffers", "web_server"),
        ("... history (360 points x 2)", "web_history"),
        ("... code: firmware.web, httpd, firmware.history", "web_code"),
        ("board after N frames", "board_steady"),
        ("board peak (a step's end, no collection inside)", "board_peak"),
        ("largest heap", "heap_max"),
        (
            "an update with room: board, MQTT kept (ota_run.make_room, the task's module)",
            "board_room_kept",
        ),
        (
            "... a frame published meanwhile, at its writes (board, no collection inside)",
            "board_room_kept_pub_peak",
        ),
        (
            "... a page poll meanwhile (the held server's 503), at its writes",
            "board_room_kept_poll_peak",
        ),
        ("an update without room: firmware, MQTT stopped and dropped (make_room)", "fw_room"),
        ("... the same on the board (what an update starts from)", "board_room"),
        ("... after a page poll during the update (board)", "board_room_poll"),
        (
            "... during that poll, at its writes (board, no collection inside)",
            "board_room_poll_peak",
        ),
        ("update refused: firmware with MQTT again, connected (give_back)", "fw_restored"),
        ("... after its discovery round", "fw_restored_round"),
        ("... and 5 frames with polls later", "fw_restored_after"),
    )
    for label, k in rows:
        out.append("| %s | %s |" % (label, " | ".join(
            "{:,}".format(res["modes"][m][k]) for m in modes)))  # fmt: skip
    out.append("| heap grew past its first area / past ~112 KB | %s |" % " | ".join(
        "%s / %s" % ("yes" if res["modes"][m]["grew"] else "no",
                     "yes" if res["modes"][m]["over_112k"] else "no") for m in modes))  # fmt: skip
    out.append("| ... past ~112 KB up to the steady reading (page loads) / at give_back() | %s |"
               % " | ".join("%s / %s" % (
                   "yes" if res["modes"][m]["over_112k_pages"] else "no",
                   "yes" if res["modes"][m]["over_112k_restore"] else "no")
                   for m in modes))  # fmt: skip
    out.append("| requests served; not 200; errors | %s |" % " | ".join(
        "%d; %d; %d" % (e["web"]["web_served"], e["web"]["web_not_ok"], e["web"]["web_errors"])
        for e in (res["modes"][m] for m in modes)))  # fmt: skip
    out += ["", "Budgets: firmware with MQTT and web after N frames <= %d B; web part resident "
            "<= %d B; the heap never past ~112 KB." % (
                res["budget_steady"], res["budget_resident"])]  # fmt: skip
    for m in modes:
        e = res["modes"][m]
        out.append("- %s: steady %s, resident %s, %s" % (
            m, "ok" if e["fw_steady"] <= res["budget_steady"] else "OVER",
            "ok" if e["web_resident"] <= res["budget_resident"] else "OVER",
            "one growth at most" if not e["over_112k"] else "GREW TWICE"))  # fmt: skip
    return out


def mqtt_table(res):
    """The mqtt scenario's report as markdown lines."""
    modes = list(res["modes"])
    e0 = res["modes"][modes[0]]
    out = [
        "Whole firmware with MQTT (32-bit, scenario mqtt): Wi-Fi joined, the in-memory broker "
        "at the socket edge, config.json fast_min_s 1, slow_s 10, diag_s 30.",
        "",
        "| module (imported when MQTT is set) | 32-bit |",
        "|---|---|",
    ]
    for m, v in e0["imports"]:
        if m in MQTT_MODULES:
            out.append("| %s | %d |" % (m, v))
    for what, v in e0["boot_parts"]:
        if what.startswith("firmware.mqtt_pub"):
            out.append("| %s (object at boot) | %d |" % (what, v))
    out += ["", "Bytes in use after gc.collect(). Firmware: from asyncio on, the fakes excluded. "
            "Board: the whole heap minus the harness.", ""]  # fmt: skip
    out.append("| | " + " | ".join(modes) + " |")
    out.append("|---" * (len(modes) + 1) + "|")
    rows = (
        ("firmware at boot", "fw_boot"),
        ("firmware connected (client, tasks)", "fw_connected"),
        ("firmware after the first discovery round", "fw_discovery"),
        ("firmware peak during the round (at a write)", "fw_round_peak"),
        ("firmware after N frames", "fw_steady"),
        ("firmware after a second round (rediscover)", "fw_rediscovery"),
        ("... and 5 frames later", "fw_rediscovery_after"),
        ("board after N frames", "board_steady"),
        ("board peak during the round", "board_round_peak"),
        ("largest heap", "heap_max"),
    )
    for label, k in rows:
        out.append("| %s | %s |" % (label, " | ".join(
            "{:,}".format(res["modes"][m][k]) for m in modes)))  # fmt: skip
    out.append("| heap grew past its first area / past ~112 KB | %s |" % " | ".join(
        "%s / %s" % ("yes" if res["modes"][m]["grew"] else "no",
                     "yes" if res["modes"][m]["over_112k"] else "no") for m in modes))  # fmt: skip
    out.append("| retained per frame after the round (B) | %s |" % " | ".join(
        "%.1f" % res["modes"][m]["per_frame_retained"] for m in modes))  # fmt: skip
    out.append("| allocated per frame by the publisher, garbage (B) | %s |" % " | ".join(
        "%.0f" % res["modes"][m]["per_frame_alloc"] for m in modes))  # fmt: skip
    out.append("| entities announced; messages; payload bytes; pings | %s |" % " | ".join(
        "%d; %d; {:,}; %d".format(e["mqtt"]["broker_pub_bytes"]) % (
            e["entities"], e["mqtt"]["broker_pub0"] + e["mqtt"]["broker_pub1"],
            e["mqtt"]["broker_pings"]) for e in (res["modes"][m] for m in modes)))  # fmt: skip
    out.append("| N (frames after the round) | %s |" % " | ".join(
        str(res["modes"][m]["frames"]) for m in modes))  # fmt: skip
    out += ["", "Harness: the run's first area is %d B, the ESP32's %d B plus the %d B the fakes "
            "(machine, network, clock, socket, broker) and the steps module keep; the broker also "
            "keeps %d B made at its first connection, subtracted." % (
                e0["heap_start"], e0["area_esp32"], e0["harness"], e0["broker_kept"])]  # fmt: skip
    out += _qstr_note(e0)
    out += ["", "Budget: firmware with MQTT after N frames <= %d B, the heap never past ~112 KB "
            "(one growth)." % res["budget_steady"]]  # fmt: skip
    for m in modes:
        e = res["modes"][m]
        out.append("- %s: %s, %s" % (
            m, "ok" if e["fw_steady"] <= res["budget_steady"] else "OVER",
            "one growth at most" if not e["over_112k"] else "GREW TWICE"))  # fmt: skip
    return out


def _mark(name):
    return name + " (other feature)" if is_other(name) else name


def _qstr_note(e):
    """The line that says how the readings from the boot on were corrected for names."""
    q = e.get("qstr")
    if not q:
        return []
    return ["", "Interned names (docs/design/qstr-pools.md): from its base reading to the boot "
            "the harness interned names costing %d B (%d names in all); a board's share of them "
            "is %d names, %d B of pools and text. Every reading from the boot on is corrected by "
            "%+d B. The TIC path's files hold %d of those names: it is counted without the "
            "pools and text, plus %d B, its share." % (
                q["harness_bytes"], q["harness_names"], q["board_names"], q["board_bytes"],
                -e["qstr_excess"], q.get("tic_names", 0), q.get("tic_bytes", 0))]  # fmt: skip


def table(res):
    """The report as markdown lines."""
    modes = list(res["modes"])
    e0 = res["modes"][modes[0]]
    s0 = e0["bits32"]
    b64 = dict(e0["bits64"]["imports"]) if "bits64" in e0 else {}
    out = [
        "32-bit MicroPython 1.27 (WebAssembly port), ESP32 HAL, fake machine; heap: one "
        "%d B area, grows by doubling." % e0["area_esp32"],
        "",
        "Import cost (bytes kept after gc.collect(), in import order):",
        "",
        "| module | 32-bit | 64-bit unix port |",
        "|---|---|---|",
    ]
    out.append("| asyncio (before the app) | %d | %s |" % (
        s0["asyncio"], e0["bits64"]["asyncio"] if b64 else "-"))  # fmt: skip
    for m, v in s0["imports"]:
        out.append("| %s | %d | %s |" % (_mark(m), v, b64.get(m, "-")))
    out.append("| **device modules** | **%d** | %s |" % (
        s0["imports_total"], e0["bits64"]["imports_total"] if b64 else "-"))  # fmt: skip
    out += ["", "Long-lived objects the build keeps (%s mode, 32-bit):" % modes[0], ""]
    out += ["| owner: what | bytes |", "|---|---|"]
    parts = 0
    for what, v in e0["boot_parts"]:
        out.append("| %s | %d |" % (_mark(what), v))
        parts += v
    out.append("| rest (interned names, module tables grown by the build) | %d |" % (
        s0["app_objects"] - parts))  # fmt: skip
    out.append("| **all objects of the build** | **%d** |" % s0["app_objects"])
    out += ["", "Heap in use after gc.collect(), bytes. Firmware: everything from asyncio on. "
            "TIC path: the firmware minus the other features' modules and objects. Board: the "
            "whole heap minus the harness. Peak: no collection inside a step.", ""]  # fmt: skip
    out.append("| mode | firmware at boot | TIC path at boot | TIC path, max over first "
               "frames | TIC path after N frames | board at boot | board peak to first "
               "frames | largest heap to first frames | largest heap | N |")  # fmt: skip
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for mode in modes:
        e = res["modes"][mode]
        s = e["bits32"]
        out.append("| %s | %d | %d | %d | %d | %d | %d | %d%s | %d%s | %d |" % (
            mode, s["all_boot"], s["boot"], e["in_use_first_max"], s["steady"],
            e["board_boot"], e["board_peak_first"], e["heap_max_first"],
            " (grew)" if e["grew_first"] else "", e["heap_max"],
            " (grew twice: > 112 KB)" if e["over_112k"] else "", e["frames"]))  # fmt: skip
    out += ["", "Heap sizes include the harness: the run's first area is %d B, the ESP32's %d B "
            "plus the %d B the fake machine and network and the steps module keep." % (
                e0["heap_start"], e0["area_esp32"], e0["harness"])]  # fmt: skip
    out += _qstr_note(e0)
    out += ["", "Budgets: TIC path after N frames <= %d B; heap never above its first area up "
            "to the first frames." % res["budget_steady"]]  # fmt: skip
    for mode in modes:
        e = res["modes"][mode]
        steady = "ok" if e["bits32"]["steady"] <= res["budget_steady"] else "OVER"
        area = "EXCEEDED" if e["grew_first"] else "kept"
        out.append("- %s: TIC path %s, first area %s" % (mode, steady, area))
    if "ratio_64_32" in e0:
        out.append("")
        for mode in modes:
            rr = res["modes"][mode]["ratio_64_32"]
            out.append("64-bit unix port / 32-bit, %s: firmware after N frames %.2f, modules "
                       "%.2f, whole heap %.2f" % (
                           mode, rr["steady"], rr["imports"], rr["total"]))  # fmt: skip
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--first", type=int, default=100)
    ap.add_argument("--modes", default="standard,historique")
    ap.add_argument("--no-unix", action="store_true", help="skip the 64-bit unix port run")
    ap.add_argument("--mqtt", action="store_true", help="scenario mqtt too")
    ap.add_argument("--mqtt-only", action="store_true", help="scenario mqtt alone")
    ap.add_argument("--web", action="store_true", help="scenario web too")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--mjs", help="a build of the port with the firmware frozen in "
                    "(tools/frozen_wasm.py) instead of the npm package")  # fmt: skip
    args = ap.parse_args()
    if args.mjs:
        global MJS
        MJS = Path(args.mjs).resolve()
        args.no_unix = True  # the unix port has no frozen firmware
    modes = tuple(m for m in args.modes.split(",") if m)
    for m in modes:
        if m not in MODES:
            sys.exit("unknown mode %r (%s)" % (m, ", ".join(MODES)))
    try:
        res = {} if args.mqtt_only else measure(args.frames, args.first, modes, not args.no_unix)
        if args.mqtt or args.mqtt_only:
            res["mqtt"] = measure_mqtt(args.frames, args.first, modes)
        if args.web:
            res["web"] = measure_web(args.frames, args.first, modes)
    except Mem32Error as e:
        sys.exit(str(e))
    if args.json:
        print(json.dumps(res, indent=1))
        return
    if MJS:
        print("Interpreter: %s, the firmware frozen in (tools/frozen_wasm.py).\n" % MJS)
    if not args.mqtt_only:
        print("\n".join(table(res)))
    if "mqtt" in res:
        print("\n".join(([""] if not args.mqtt_only else []) + mqtt_table(res["mqtt"])))
    if "web" in res:
        print("\n".join([""] + web_table(res["web"])))


if __name__ == "__main__":
    main()
