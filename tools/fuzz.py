"""make fuzz: feed the TIC parser 10^6 mutated and spliced captures; exit 1 on any defect.

    python3 tools/fuzz.py [--count N] [--seed S]
    MICROPYPATH=.frozen .venv/bin/micropython tools/fuzz.py --count 20000   # same inputs

Each input (a window of a real capture, several spliced, an 8N1 copy, a long run without ETX,
or random bytes, then up to 8 mutations: bit flips including bit 7, lost runs, stray control
bytes, duplicated runs, random bytes) is parsed three times: fed whole, and cut twice at
random into pieces fed either as separate buffers or as slices of the input (the parser's two
ways in). Counted as defects:
  exceptions       the parser raised
  bad_checksum     a reported group whose checksum, recomputed from its text, is wrong
  divergences      the three feedings differ (frames, groups or counters)
  model            the result differs from `reference()`, a slow, direct transcription of
                   the rules in lib/tic/parser.py's docstrings (counters included)
  invariants       0 <= ignored <= bytes fails, or a reported group breaks the format
Prints one line of counts (and of totals: inputs, bytes, frames, valid groups) as JSON.
"""

import sys


def _add_lib_path():
    here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    lib = here + "/../lib"
    if lib not in sys.path:
        sys.path.insert(0, lib)
    return here + "/.."


ROOT = _add_lib_path()

from tic import MODE_HISTORIQUE, MODE_STANDARD, MODE_UNKNOWN  # noqa: E402
from tic.parser import FRAME_SIZE, MAX_GROUP, MAX_GROUPS, Parser  # noqa: E402

CAPTURES = (
    "std-tri-tempo-stream-errors-teleinfo-nom.raw",
    "std-tri-tempo-teleinfo-nom.raw",
    "std-mono-hchp-goteleinfo.raw",
    "hist-mono-tempo-teleinfo-nom.raw",
    "hist-mono-tempo-incomplete-teleinfo-nom.raw",
    "hist-mono-hchp-badchecksum-teleinfo-parser.raw",
)
STRAY = b"\x02\x03\x04\t\n\r \x0c\x08\x7f\x82\x83\x84\x89\x8a\x8d\xa0\xff\x00"


def load_corpus():
    out = []
    for name in CAPTURES:
        with open(ROOT + "/tests/fixtures/captures/" + name, "rb") as f:
            out.append(f.read())
    return out


class Rng:
    """xorshift32: the same numbers on CPython and MicroPython (small ints on both)."""

    def __init__(self, seed):
        self.x = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1

    def next(self):
        x = self.x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.x = x
        return x

    def below(self, n):
        return self.next() % n if n > 0 else 0

    def between(self, a, b):
        return a + self.below(b - a + 1)


def _parity8n1(data):
    # What an 8N1 reader gets from a 7E1 line: the even-parity bit in bit 7.
    out = bytearray(data)
    for i, b in enumerate(out):
        c = b & 0x7F
        p = 0
        while c:
            p ^= c & 1
            c >>= 1
        out[i] = (b & 0x7F) | (p << 7)
    return out


def make_input(rng, corpus):
    """One fuzz input (a bytearray)."""
    kind = rng.below(100)
    src = corpus[rng.below(len(corpus))]

    def window(lo, hi):
        s = corpus[rng.below(len(corpus))]
        a = rng.below(len(s))
        return s[a : a + rng.between(lo, hi)]

    if kind < 65:
        a = rng.below(len(src))
        data = bytearray(src[a : a + rng.between(20, 600)])
    elif kind < 80:
        data = bytearray()
        for _ in range(rng.between(2, 5)):
            data += window(10, 500)
    elif kind < 87:
        data = _parity8n1(window(20, 800))
        if data and rng.below(2):
            i = data.find(b"\x82")
            if i >= 0:
                data[i] = 0x02  # the first STX lost its parity bit
    elif kind < 93:
        # A long run: frames glued without their ETX, over FRAME_SIZE bytes.
        body = bytearray()
        while len(body) < FRAME_SIZE + rng.between(-200, 1500):
            w = window(100, 1500)
            body += bytes(b for b in w if b & 0x7F not in (2, 3, 4))
        data = bytearray(b"\x02") + body + bytearray(b"\x03")
    elif kind < 97:
        data = bytearray(rng.below(256) for _ in range(rng.between(0, 700)))
    else:
        data = bytearray(src)
    for _ in range(rng.below(9)):
        mutate(rng, data)
    return data


def mutate(rng, buf):
    op = rng.below(100)
    n = len(buf)
    pos = rng.below(n) if n else 0
    if op < 45 and n:
        buf[pos] ^= 1 << rng.below(8)
    elif op < 55 and n:
        k = rng.between(1, 20)
        buf[pos : pos + k] = b""
    elif op < 75:
        buf[pos:pos] = bytes([STRAY[rng.below(len(STRAY))]])
    elif op < 85 and n:
        a = rng.below(n)
        buf[pos:pos] = buf[a : a + rng.between(1, 80)]
    elif op < 92:
        buf[pos:pos] = bytes(rng.below(256) for _ in range(rng.between(1, 10)))
    elif n:
        buf[pos] ^= 0x80


# --- the reference: the documented rules, one byte at a time, no cleverness ----------------


def _sum6(data):
    s = 0
    for b in data:
        s += b
    return (s & 0x3F) + 0x20


def _check_group(g, want):
    """(verdict, mode, group) for the text of one group, LF and CR excluded, bit 7 masked:
    verdict "ok", "format" or "checksum"."""
    if len(g) > MAX_GROUP or len(g) < 2:
        return "format", 0, None
    sep = g[-2]
    chk = g[-1]
    body = g[:-2]
    if sep == 0x09:
        parts = body.split(b"\t")
        if len(parts) == 2:
            label, hd, value = parts[0], None, parts[1]
        elif len(parts) == 3 and len(parts[1]) == 13:
            label, hd, value = parts
        else:
            return "format", 0, None
        covered = g[:-1]
        mode = MODE_STANDARD
    elif sep == 0x20:
        parts = body.split(b" ")
        if b"\t" in body or len(parts) != 2 or not parts[1]:
            return "format", 0, None
        label, hd, value = parts[0], None, parts[1]
        covered = body
        mode = MODE_HISTORIQUE
    else:
        return "format", 0, None
    if not 1 <= len(label) <= 9:
        return "format", 0, None
    if _sum6(covered) != chk:
        return "checksum", 0, None
    if want and mode != want:
        return "format", 0, None
    return "ok", mode, (label, hd, value, chk)


def reference(data, mode=MODE_UNKNOWN, frame_size=FRAME_SIZE, max_groups=MAX_GROUPS):
    """(frames, stats) as Parser should report them: frames = [(mode, [(label, horodate,
    value, checksum)])] as bytes, stats = Parser.stats() plus "mode"."""
    frames = []
    st = {"bytes": len(data), "frames": 0, "groups": 0, "checksum_errors": 0}
    st.update({"format_errors": 0, "interrupted": 0, "ignored": 0, "mode": mode})
    inside = False
    length = 0
    groups = []
    cur = None  # the group's bytes since its LF, or None between groups
    bad = False
    for b in data:
        c = b & 0x7F
        if inside and length == frame_size:  # one byte too many: the frame is dropped
            st["format_errors"] += 1
            inside = False
        if c == 0x02:
            if inside:
                st["interrupted"] += 1
            inside = True
            length = 1
            groups = []
            cur = None
            continue
        if not inside:
            st["ignored"] += 1
            continue
        length += 1
        if c == 0x03:
            if cur is not None:
                st["format_errors"] += 1
            st["frames"] += 1
            frames.append((groups[0][0] if groups else MODE_UNKNOWN, [g[1] for g in groups]))
            inside = False
        elif c == 0x04:
            st["interrupted"] += 1
            inside = False
        elif c == 0x0A:
            if cur is not None:
                st["format_errors"] += 1
            cur = bytearray()
            bad = False
        elif c == 0x0D:
            if cur is None:
                continue
            if bad:
                st["format_errors"] += 1
            else:
                want = groups[0][0] if groups else mode
                verdict, gm, g = _check_group(bytes(cur), want)
                if verdict == "ok" and len(groups) >= max_groups:
                    verdict = "format"
                if verdict == "ok":
                    groups.append((gm, g))
                    st["groups"] += 1
                    st["mode"] = gm
                elif verdict == "format":
                    st["format_errors"] += 1
                else:
                    st["checksum_errors"] += 1
            cur = None
        elif cur is not None:
            if 0x20 <= c <= 0x7E or c == 0x09:
                cur.append(c)
            else:
                bad = True
    return frames, st


# --- running the parser ------------------------------------------------------------------------


class _Recorder:
    def __init__(self):
        self.frames = []

    def __call__(self, f):
        gs = []
        for i in range(f.n):
            k = i * 4
            lab = bytes(f.buf[f.idx[k] : f.idx[k + 1]])
            hd = None
            if f.has_horodate(i):
                h = f.idx[k + 1] + 1
                hd = bytes(f.buf[h : h + 13])
            val = bytes(f.buf[f.idx[k + 2] : f.idx[k + 3]])
            gs.append((lab, hd, val, f.checksum(i)))
        self.frames.append((f.mode, gs))


def run_parser(data, cuts=None, whole_mask=0):
    """Feed data whole (cuts None) or cut at `cuts`; piece i goes in as a separate buffer when
    bit i of whole_mask is set, else as a slice of data. Returns (frames, stats)."""
    rec = _Recorder()
    p = Parser(on_frame=rec)
    if cuts is None:
        p.feed(bytes(data))
    else:
        last = 0
        for i, c in enumerate(cuts + [len(data)]):
            if c <= last:
                continue
            if (whole_mask >> (i % 30)) & 1:
                p.feed(bytes(data[last:c]))
            else:
                p.feed(data, c - last, last)
            last = c
    st = p.stats()
    st["mode"] = p.mode
    return rec.frames, st


def _group_ok(mode, g):
    label, hd, value, chk = g
    if mode == MODE_HISTORIQUE:
        covered = label + b" " + value
        ok = hd is None and value and b" " not in value and b"\t" not in label + value
    else:
        covered = label + b"\t" + (hd + b"\t" if hd is not None else b"") + value + b"\t"
        ok = b"\t" not in label + value and (hd is None or len(hd) == 13)
    return bool(ok) and 1 <= len(label) <= 9, _sum6(covered) == chk


def _cuts(rng, n):
    cuts = []
    c = 0
    while True:
        c += rng.between(1, 700 if rng.below(4) else 8)
        if c >= n:
            return cuts
        cuts.append(c)


def fuzz(count, seed=1, corpus=None):
    """Run `count` inputs; returns the counts dict (defects and totals)."""
    corpus = corpus or load_corpus()
    rng = Rng(seed)
    res = {"inputs": 0, "bytes": 0, "frames": 0, "groups": 0}
    res.update({"exceptions": 0, "bad_checksum": 0, "divergences": 0, "model": 0})
    res["invariants"] = 0
    for _ in range(count):
        data = make_input(rng, corpus)
        res["inputs"] += 1
        res["bytes"] += len(data)
        try:
            a = run_parser(data)
            b = run_parser(data, _cuts(rng, len(data)), rng.next())
            c = run_parser(data, _cuts(rng, len(data)), rng.next())
        except Exception:  # noqa: BLE001 (count it, go on)
            res["exceptions"] += 1
            continue
        if a != b or a != c:
            res["divergences"] += 1
        if a != reference(data):
            res["model"] += 1
        frames, st = a
        if not 0 <= st["ignored"] <= st["bytes"]:
            res["invariants"] += 1
        res["frames"] += st["frames"]
        res["groups"] += st["groups"]
        for mode, groups in frames:
            for g in groups:
                fmt, sum_ok = _group_ok(mode, g)
                if not sum_ok:
                    res["bad_checksum"] += 1
                if not fmt:
                    res["invariants"] += 1
    return res


DEFECTS = ("exceptions", "bad_checksum", "divergences", "model", "invariants")


def main(argv):
    count = 1000000
    seed = 1
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--count" and args:
            count = int(args.pop(0))
        elif a == "--seed" and args:
            seed = int(args.pop(0))
        else:
            print("usage: fuzz.py [--count N] [--seed S]")
            return 2
    res = fuzz(count, seed)
    keys = ("inputs", "bytes", "frames", "groups") + DEFECTS
    print("{" + ", ".join('"%s": %d' % (k, res[k]) for k in keys) + "}")
    return 1 if any(res[k] for k in DEFECTS) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
