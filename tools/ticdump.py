"""ticdump: decode a TIC capture (from a USB TIC dongle, say) into JSON lines.

    python3 tools/ticdump.py [--mode auto|historique|standard] [--decode] FILE|-
    micropython tools/ticdump.py ...          # same output, same code

One JSON object per complete frame, then one {"stats": {...}} line; options and exit statuses:
HELP below (`--help`). The input is streamed through one fixed buffer, so any size decodes in
constant memory; --check-alloc streams it too, --bench times the first BENCH_MAX bytes.
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
HELP = (
    USAGE
    + """

Decode raw TIC bytes (a file, or - for standard input) into JSON lines: one object per
complete frame, {"mode": ..., "groups": [{"label", "horodate"?, "value"}]}, groups in received
order, only those with a valid checksum, labels and values byte for byte; then one
{"stats": {...}} line with the parser's counters.

  --mode M       auto (default: found from the bytes), historique or standard
  --decode       add typed and decoded values (ints with units, STGE fields, ISO dates,
                 Tempo colours, EJP, overloads)
  --check-alloc  (MicroPython) parse the whole input with the heap locked, streamed, after a
                 warm-up on its first 4 KB, by two parsers (fed whole 256-byte buffers, and
                 64-byte slices); one JSON line; exit 0 only if nothing was allocated
  --bench        one JSON line: bytes_per_s, floor_bytes_per_s (this interpreter running
                 `for b in buf: s += b` over the same bytes), ratio, heap_bytes_per_frame;
                 on the first 256 KB of the input
  -h, --help     this text

Exit status: 0 done; 1 --check-alloc found an allocation; 2 bad arguments, unreadable input,
unwritable output or out of memory (one line on stderr); 141 the reader of the output went
away (a broken pipe, as in `ticdump.py x | head`): no message, the status of a tool that
SIGPIPE stopped."""
)

# Linux errno values the unix port's OSError carries without a text.
EPIPE = 32
_STRERROR = {
    5: "Input/output error",
    21: "Is a directory",
    27: "File too large",
    28: "No space left on device",
    32: "Broken pipe",
    122: "Disk quota exceeded",
}
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE


class UsageError(Exception):
    pass


class OutputError(Exception):
    """Writing the output failed; args[0] is the OSError."""


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
    """(opts, path), or (None, None) for --help. Raises UsageError."""
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
            return None, None
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
    if opts["check_alloc"] and opts["bench"]:
        raise UsageError("--check-alloc and --bench: one at a time")
    return opts, path


def open_input(path):
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as e:
        raise UsageError("cannot read %s: %s" % (path, _os_text(e)))


def _os_text(e):
    """An OSError as CPython words it; the unix port's stream errors carry only the number."""
    a = e.args
    if len(a) == 1 and isinstance(a[0], int):
        return "[Errno %d] %s" % (a[0], _STRERROR.get(a[0], "error"))
    return str(e)


# --- output -------------------------------------------------------------------------------------


def write(text):
    """Write text to stdout; an OSError there becomes OutputError (not a read error)."""
    try:
        sys.stdout.write(text)
    except OSError as e:
        raise OutputError(e)


def flush():
    """Flush stdout (CPython buffers it), so that a write error shows before exit."""
    f = getattr(sys.stdout, "flush", None)
    if f is not None:
        try:
            f()
        except OSError as e:
            raise OutputError(e)


def _drop_stdout():
    """After a write error, point stdout at /dev/null: CPython flushes it again at exit and
    would print a second error. The unix port does not buffer stdout (nor has os.dup2)."""
    try:
        import os

        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
    except Exception:  # noqa: BLE001 (best effort, on either interpreter)
        pass


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


CHUNK = 256  # what the firmware's reader hands the parser per UART read; the read buffer


def dump(src, opts):
    """Stream src through one CHUNK buffer into the parser; a JSON line per frame, then the
    counters. Memory does not grow with the input."""
    decode = None
    if opts["decode"]:
        from tic import decode

    def on_frame(f):
        write(frame_json(f, decode) + "\n")

    p = Parser(on_frame=on_frame, mode=opts["mode"])
    buf = bytearray(CHUNK)
    while True:
        n = src.readinto(buf)
        if not n:
            break
        p.feed(buf, n)
    write(stats_json(p) + "\n")
    flush()


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


SLICE = 64  # the staged parser gets each chunk in slices of this size
WARM_CHUNKS = 16  # the warm-up: the first 16 chunks (4 KB), parsed again under the lock


def _feed_both(whole, sliced, buf, n):
    """Feed buf[:n] to two parsers: as one buffer (scanned in place when the buffer is full)
    and in slices (staged). Allocates nothing."""
    if n == len(buf):
        whole.feed(buf)
    else:
        whole.feed(buf, n)
    i = 0
    while i < n:
        k = SLICE if n - i > SLICE else n - i
        sliced.feed(buf, k, i)
        i += k


def _locked_pass(src, head, buf, whole, sliced):
    """The head chunks again, then the rest of src read into buf, through both parsers.
    Returns the bytes parsed. Runs with the heap locked: allocates nothing."""
    total = 0
    for b, n in head:
        _feed_both(whole, sliced, b, n)
        total += n
    while True:
        n = src.readinto(buf)
        if not n:
            return total
        _feed_both(whole, sliced, buf, n)
        total += n


def check_alloc(src, opts):
    """Parse all of src with the heap locked, streamed through one buffer, after a warm-up on
    its first WARM_CHUNKS chunks; print one JSON line; 0 if nothing was allocated, else 1."""
    import gc

    import micropython

    head = []  # (buffer, bytes in it): read before the lock, parsed twice
    while len(head) < WARM_CHUNKS:
        b = bytearray(CHUNK)
        n = src.readinto(b)
        if not n:
            break
        head.append((b, n))
    if not head:
        raise UsageError("empty input")
    acc = [0, 0]
    acc_sliced = [0, 0]
    whole = Parser(on_frame=_consumer(acc), mode=opts["mode"])
    sliced = Parser(on_frame=_consumer(acc_sliced), mode=opts["mode"])
    for b, n in head:  # warm-up
        _feed_both(whole, sliced, b, n)
    warm = acc[0]
    whole.reset()  # the locked pass starts clean, as the first did
    sliced.reset()
    buf = bytearray(CHUNK)
    gc.collect()
    before = gc.mem_alloc()
    failure = None
    total = 0
    micropython.heap_lock()
    try:
        total = _locked_pass(src, head, buf, whole, sliced)
    except MemoryError as e:
        failure = e
    finally:
        micropython.heap_unlock()
    grown = gc.mem_alloc() - before
    ok = failure is None and grown == 0
    pairs = [("check_alloc", "ok" if ok else "allocated"), ("frames", acc[0] - warm)]
    pairs.append(("bytes", total))
    pairs.append(("heap_growth", grown))
    write(dumps(Obj(pairs)) + "\n")
    flush()
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


def _floor(chunks):
    """The floor: `for b in buf: s += b` over each chunk, as parse() goes over them."""
    s = 0
    for c in chunks:
        for b in c:
            s += b
    return s


def _rate(fn, arg, nbytes, min_us):
    """Bytes per second of fn(arg) (nbytes each), repeated until at least min_us passed."""
    fn(arg)  # warm-up
    reps = 0
    t0 = _now_us()
    while True:
        fn(arg)
        reps += 1
        us = _elapsed_us(t0)
        if us >= min_us:
            return nbytes * reps * 1_000_000 // us


def _heap_per_frame(chunks, mode):
    acc = [0, 0]
    p = Parser(on_frame=_consumer(acc), mode=mode)

    def parse():
        for c in chunks:
            p.feed(c)

    parse()  # warm-up
    frames0 = acc[0]
    if MICROPYTHON:
        import gc

        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        parse()
        grown = gc.mem_alloc() - before
        gc.enable()
    else:
        import tracemalloc

        tracemalloc.start()
        parse()
        grown = tracemalloc.get_traced_memory()[1]  # peak during the pass
        tracemalloc.stop()
    frames = acc[0] - frames0
    return grown // frames if frames else grown, frames


BENCH_MAX = 256 * 1024  # --bench times this much of the input at most (timing needs repeats)


def read_sample(src, limit):
    """Up to limit bytes of src, as CHUNK-sized bytearrays (the last one may be shorter)."""
    chunks = []
    total = 0
    while total < limit:
        b = bytearray(CHUNK)
        n = src.readinto(b)
        if not n:
            break
        n = min(n, limit - total)
        chunks.append(b if n == CHUNK else bytearray(b[:n]))
        total += n
    return chunks


def bench(src, opts):
    """Time the parser on the first BENCH_MAX bytes of src against the floor; one JSON line."""
    # Fed as the firmware does: whole read buffers (the last one partly filled).
    chunks = read_sample(src, BENCH_MAX)
    if not chunks:
        raise UsageError("empty input")
    nbytes = 0
    for c in chunks:
        nbytes += len(c)
    p = Parser(mode=opts["mode"])

    def parse(chunks):
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
        parse_rate = max(parse_rate, _rate(parse, chunks, nbytes, 100_000))
        floor_rate = max(floor_rate, _rate(_floor, chunks, nbytes, 100_000))
    heap, frames = _heap_per_frame(chunks, opts["mode"])
    pairs = [
        ("bytes_per_s", parse_rate),
        ("floor_bytes_per_s", floor_rate),
        ("ratio", parse_rate / floor_rate),
        ("heap_bytes_per_frame", heap),
        ("frames", frames),
        ("bytes", nbytes),
        ("interpreter", sys.implementation.name),
    ]
    write(dumps(Obj(pairs)) + "\n")
    flush()
    return 0


def main(argv):
    """Run ticdump; returns the exit status (see HELP)."""
    try:
        opts, path = parse_args(argv)
        if opts is None:
            write(HELP + "\n")
            flush()
            return 0
        src = open_input(path)
        if opts["check_alloc"]:
            return check_alloc(src, opts)
        if opts["bench"]:
            return bench(src, opts)
        dump(src, opts)
    except UsageError as e:
        sys.stderr.write("ticdump: %s\n" % e)
        return 2
    except OutputError as e:
        _drop_stdout()
        err = e.args[0]
        if err.args and err.args[0] == EPIPE:
            return EXIT_BROKEN_PIPE  # the reader had enough: not an error worth a message
        sys.stderr.write("ticdump: cannot write output: %s\n" % _os_text(err))
        return 2
    except OSError as e:
        sys.stderr.write("ticdump: cannot read input: %s\n" % _os_text(e))
        return 2
    except MemoryError:
        sys.stderr.write("ticdump: out of memory (MicroPython: a larger -X heapsize)\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
