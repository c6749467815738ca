"""ticdump: decode a TIC capture (from a USB TIC dongle, say) into JSON lines.

    python3 tools/ticdump.py [--mode auto|historique|standard] [--decode] FILE|-
    micropython tools/ticdump.py ...          # same output, same code

One JSON object per complete frame: {"mode": ..., "groups": [{"label", "horodate"?, "value"}]},
groups in received order, only those with a valid checksum, labels and values byte for byte.
Then one {"stats": {...}} line with the parser's counters.
  --decode       add typed and decoded values (ints with units, STGE fields, ISO dates, colours)
  --check-alloc  (MicroPython) parse once to warm up, then again with the heap locked; exit 0
                 only if nothing was allocated
  --bench        print {"bytes_per_s", "floor_bytes_per_s", "ratio", ...}: the floor is this
                 interpreter running `for b in buf: s += b` over the same bytes
Bad arguments or unreadable input: exit 2 with a one-line message.
"""

import sys


def _add_lib_path():
    # Runs from any directory, on CPython and on the unix port (no os.path there).
    here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    lib = here + "/../lib"
    if lib not in sys.path:
        sys.path.insert(0, lib)


_add_lib_path()

from tic import MODE_HISTORIQUE, MODE_NAMES, MODE_STANDARD, MODE_UNKNOWN  # noqa: E402
from tic.parser import Parser  # noqa: E402

MICROPYTHON = sys.implementation.name == "micropython"
STATS_KEYS = (
    "frames",
    "groups",
    "checksum_errors",
    "format_errors",
    "interrupted",
    "ignored",
    "bytes",
)
USAGE = (
    "usage: ticdump.py [--mode auto|historique|standard] [--decode] [--check-alloc]"
    " [--bench] FILE|-"
)


class UsageError(Exception):
    pass


# --- JSON with the same bytes on both interpreters (MicroPython dicts have no fixed order) ----


def _str(s):
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif o < 0x20 or o > 0x7E:
            out.append("\\u%04x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def dumps(obj):
    """JSON text; a list of (key, value) pairs wrapped in Obj keeps its order, dicts are sorted."""
    if isinstance(obj, Obj):
        return "{" + ", ".join(_str(k) + ": " + dumps(v) for k, v in obj.pairs) + "}"
    if isinstance(obj, dict):
        return "{" + ", ".join(_str(k) + ": " + dumps(obj[k]) for k in sorted(obj)) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ", ".join(dumps(v) for v in obj) + "]"
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, float):
        return "%.3f" % obj  # only the bench ratio; same digits on both interpreters
    return _str(str(obj))


class Obj:
    def __init__(self, pairs):
        self.pairs = pairs


# --- arguments --------------------------------------------------------------------------------


def parse_args(argv):
    opts = {"mode": MODE_UNKNOWN, "decode": False, "check_alloc": False, "bench": False}
    path = None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--mode" or a.startswith("--mode="):
            if "=" in a:
                v = a.split("=", 1)[1]
            else:
                i += 1
                if i >= len(argv):
                    raise UsageError("--mode needs a value: auto, historique or standard")
                v = argv[i]
            if v not in ("auto", "historique", "standard"):
                raise UsageError("--mode must be auto, historique or standard, not %r" % v)
            opts["mode"] = {"auto": MODE_UNKNOWN, "historique": MODE_HISTORIQUE}.get(
                v, MODE_STANDARD
            )
        elif a == "--decode":
            opts["decode"] = True
        elif a == "--check-alloc":
            opts["check_alloc"] = True
        elif a == "--bench":
            opts["bench"] = True
        elif a in ("-h", "--help"):
            raise UsageError(USAGE)
        elif a.startswith("-") and a != "-":
            raise UsageError("unknown option %s" % a)
        elif path is None:
            path = a
        else:
            raise UsageError("only one input: FILE or -")
        i += 1
    if path is None:
        raise UsageError(USAGE)
    if opts["check_alloc"] and not MICROPYTHON:
        raise UsageError("--check-alloc needs MicroPython: micropython tools/ticdump.py ...")
    return opts, path


def open_input(path):
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as e:
        raise UsageError("cannot read %s: %s" % (path, e))


def read_all(src):
    chunks = []
    buf = bytearray(4096)
    while True:
        n = src.readinto(buf)
        if not n:
            break
        chunks.append(bytes(buf[:n]))
    return b"".join(chunks)


# --- output -------------------------------------------------------------------------------------


def frame_json(f, decode):
    groups = []
    for i in range(f.n):
        pairs = [("label", f.label(i))]
        if f.has_horodate(i):
            pairs.append(("horodate", f.horodate(i)))
        pairs.append(("value", f.value(i)))
        if decode is not None:
            pairs.append(("decoded", decode.decode_group(f.label(i), f.value(i), f.horodate(i))))
        groups.append(Obj(pairs))
    pairs = [("mode", MODE_NAMES[f.mode]), ("groups", groups)]
    if decode is not None:
        # What several groups say together: Tempo colours, EJP notice/peak, overloads.
        whole = []
        for name, fn in (
            ("tempo", decode.tempo),
            ("ejp", decode.ejp),
            ("overload", decode.overload),
        ):
            try:
                v = fn(f)
            except ValueError as e:
                v = {"error": str(e)}
            if v is not None:
                whole.append((name, v))
        pairs.append(("frame", Obj(whole)))
    return dumps(Obj(pairs))


def stats_json(p):
    return dumps(Obj([("stats", Obj([(k, getattr(p, k)) for k in STATS_KEYS]))]))


def dump(src, opts):
    decode = None
    if opts["decode"]:
        from tic import decode
    out = sys.stdout

    def on_frame(f):
        out.write(frame_json(f, decode) + "\n")

    p = Parser(on_frame=on_frame, mode=opts["mode"])
    buf = bytearray(512)
    while True:
        n = src.readinto(buf)
        if not n:
            break
        p.feed(buf, n)
    out.write(stats_json(p) + "\n")


# --- allocation check and benchmark -------------------------------------------------------------


def _consumer(acc):
    # What a firmware consumer does per frame without allocating: find labels, read ints.
    def on_frame(f):
        acc[0] += 1
        for i in range(f.n):
            v = f.int_value(i)
            if v > 0:
                acc[1] = (acc[1] + v) & 0xFFFF

    return on_frame


def _feed_chunks(p, data, chunk):
    n = len(data)
    i = 0
    while i < n:
        k = chunk if n - i > chunk else n - i
        p.feed(data, k, i)
        i += k


def check_alloc(data, opts):
    import gc

    import micropython

    acc = [0, 0]
    p = Parser(on_frame=_consumer(acc), mode=opts["mode"])
    _feed_chunks(p, data, 64)  # warm-up
    warm = acc[0]
    p.reset()  # the locked passes start clean, as the first did
    # Slices of one buffer take the parser's byte-by-byte path; whole buffers its fast path.
    whole = [bytearray(data[i : i + 256]) for i in range(0, len(data), 256)]
    gc.collect()
    before = gc.mem_alloc()
    failure = None
    micropython.heap_lock()
    try:
        _feed_chunks(p, data, 64)
        for b in whole:
            p.feed(b)
    except MemoryError as e:
        failure = e
    micropython.heap_unlock()
    grown = gc.mem_alloc() - before
    ok = failure is None and grown == 0
    pairs = [("check_alloc", "ok" if ok else "allocated"), ("frames", acc[0] - warm)]
    pairs.append(("bytes", len(data)))
    pairs.append(("heap_growth", grown))
    print(dumps(Obj(pairs)))
    return 0 if ok else 1


def _now_us():
    if MICROPYTHON:
        import time

        return time.ticks_us()
    import time

    return int(time.perf_counter() * 1_000_000)


def _elapsed_us(t0):
    if MICROPYTHON:
        import time

        return time.ticks_diff(time.ticks_us(), t0)
    return _now_us() - t0


def _floor(buf):
    s = 0
    for b in buf:
        s += b
    return s


def _rate(fn, data, min_us=400_000):
    """Bytes per second of fn(data), repeated until at least min_us have passed."""
    fn(data)  # warm-up
    reps = 0
    t0 = _now_us()
    while True:
        fn(data)
        reps += 1
        us = _elapsed_us(t0)
        if us >= min_us:
            return len(data) * reps * 1_000_000 // us


def _heap_per_frame(data, mode):
    acc = [0, 0]
    p = Parser(on_frame=_consumer(acc), mode=mode)
    p.feed(data)  # warm-up
    frames0 = acc[0]
    if MICROPYTHON:
        import gc

        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        p.feed(data)
        grown = gc.mem_alloc() - before
        gc.enable()
    else:
        import tracemalloc

        tracemalloc.start()
        p.feed(data)
        grown = tracemalloc.get_traced_memory()[1]  # peak during the pass
        tracemalloc.stop()
    frames = acc[0] - frames0
    return grown // frames if frames else grown, frames


BENCH_CHUNK = 256  # what the firmware's reader hands the parser per UART read


def bench(data, opts):
    data = bytearray(data)
    # Fed as the firmware does: whole read buffers (the last one partly filled).
    chunks = [bytearray(data[i : i + BENCH_CHUNK]) for i in range(0, len(data), BENCH_CHUNK)]
    p = Parser(mode=opts["mode"])

    def parse(_):
        for c in chunks:
            p.feed(c)

    # MicroPython puts the frame of a call with many locals on the heap for the call's
    # duration: collect the set-up garbage so that search is not lengthened by its holes.
    import gc

    gc.collect()
    # Best of 9 short interleaved runs of each: timings on a shared machine are noisy, and
    # the best run is the one least disturbed.
    parse_rate = floor_rate = 0
    for _ in range(9):
        parse_rate = max(parse_rate, _rate(parse, data, 100_000))
        floor_rate = max(floor_rate, _rate(_floor, data, 100_000))
    heap, frames = _heap_per_frame(data, opts["mode"])
    pairs = [
        ("bytes_per_s", parse_rate),
        ("floor_bytes_per_s", floor_rate),
        ("ratio", parse_rate / floor_rate),
        ("heap_bytes_per_frame", heap),
        ("frames", frames),
        ("interpreter", sys.implementation.name),
    ]
    print(dumps(Obj(pairs)))
    return 0


def main(argv):
    try:
        opts, path = parse_args(argv)
        src = open_input(path)
        if opts["check_alloc"] or opts["bench"]:
            data = read_all(src)
            if not data:
                raise UsageError("empty input: %s" % path)
            return check_alloc(data, opts) if opts["check_alloc"] else bench(data, opts)
        dump(src, opts)
    except UsageError as e:
        sys.stderr.write("ticdump: %s\n" % e)
        return 2
    except OSError as e:
        sys.stderr.write("ticdump: cannot read input: %s\n" % e)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
