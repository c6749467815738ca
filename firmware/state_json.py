"""The `~/state` payload (the MQTT contract of issue 9): one JSON object written from a
firmware.readings.Readings into a caller's bytearray, without building a dict.

    buf = bytearray(state_json.SIZE)
    n = state_json.write(readings, buf)     # the payload is buf[:n]; ValueError if too small

Keys, in this order: every present label by its TIC name (labels in transmission order);
KIND_INT labels as JSON numbers (leading zeros dropped; energy indexes are the guard's
confirmed values), hex labels as strings, text trimmed (padding dropped, inner runs of spaces
made one, as tic.decode.trim) and escaped; "<LABEL>_time" for a label with a horodate, ISO 8601
with the offset of its season letter (none for a space); DATE's value is its ISO time.
Then the decoded fields, each only when its source is present: "time" (DATE), "period"
(PTEC, else LTARF, trimmed), "tempo_today" / "tempo_tomorrow" (tic.decode.tempo's colours:
"blue", "white", "red"; absent when not announced), "contact_open", "cutoff" (tic.decode
.BREAKER's names), "overvoltage", "overpower" (STGE bit 7; historique: ADPS or an ADIRn
present), "producer" (STGE bits 0, 1-3, 6, 7, 8), "tariff_index" (NTARF).
Every value equals what tools/ticdump.py --decode gives for the same bytes
(tests/test_state_json.py).

Cost: one pass over the present values; allocates nothing (tests/mptest_readings_alloc.py).
SIZE bounds the payload of any frame, a three-phase producer one with every label at its
widest and every text character escaped: see tests/test_state_json.py.
"""

from tic import labels

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


SIZE = const(2880)  # the widest payload possible is 2,879 bytes (test_state_json.py)

_NAMES = labels._NAMES  # label names back to back, row r's at labels._off(r)
_off = labels._off
# Rows of the labels the decoded fields read (bytes names: short str literals would be
# interned for good), at the const indexes below: _R[_DATE] is DATE's row.
_R = bytes(
    labels.index(n) for n in (b"DATE", b"PTEC", b"LTARF", b"DEMAIN", b"STGE", b"NTARF", b"ADPS",
                              b"ADIR1")
)  # fmt: skip
_DATE = const(0)
_PTEC = const(1)
_LTARF = const(2)
_DEMAIN = const(3)
_STGE = const(4)
_NTARF = const(5)
_ADPS = const(6)
_ADIR1 = const(7)  # ADIR2, ADIR3 follow its row

_COLOURS = (b"", b"blue", b"white", b"red")  # tic.decode.COLOURS
_BREAKER = (  # tic.decode.BREAKER; b"": not defined (absent)
    b"closed",
    b"open_overpower",
    b"open_overvoltage",
    b"open_load_shedding",
    b"open_cpl_euridis_order",
    b"open_overheat_over_max_current",
    b"open_overheat_under_max_current",
    b"",
)
_DAYS = (b"BLEU", b"BLAN", b"ROUG")  # DEMAIN: tomorrow blue, white, red


def write(rd, buf):
    """Write rd's state as JSON at the start of buf (a bytearray); returns the length.
    Raises ValueError if it does not fit (nothing useful is left in buf then)."""
    try:
        return _write(rd, buf)
    except IndexError:
        raise ValueError("state payload over %d bytes" % len(buf))


def _put(buf, p, s):
    """buf[p:] = s (bytes); IndexError past the end (a slice would grow the bytearray)."""
    n = len(s)
    if p + n > len(buf):
        raise IndexError
    buf[p : p + n] = s
    return p + n


def _name(buf, p, r, suffix):
    ""","NAME[suffix]": at p."""
    buf[p] = 44  # ,
    buf[p + 1] = 34  # "
    p += 2
    for j in range(_off(r), _off(r + 1)):
        buf[p] = _NAMES[j]
        p += 1
    if suffix:
        p = _put(buf, p, suffix)
    buf[p] = 34
    buf[p + 1] = 58  # :
    return p + 2


def _key(buf, p, key):
    ""","key": at p (key: bytes)."""
    buf[p] = 44
    buf[p + 1] = 34
    p = _put(buf, p + 2, key)
    buf[p] = 34
    buf[p + 1] = 58
    return p + 2


def _num(buf, p, b, a, e):
    """The digits b[a:e] as a JSON number (leading zeros dropped)."""
    while a < e - 1 and b[a] == 48:
        a += 1
    for j in range(a, e):
        buf[p] = b[j]
        p += 1
    return p


def _text(buf, p, b, a, e):
    """b[a:e] as a JSON string: trimmed, inner runs of spaces made one, " and \\ escaped."""
    buf[p] = 34
    p += 1
    word = sp = False  # a word was written; a space is pending (written before a next word)
    for j in range(a, e):
        c = b[j]
        if c == 32:
            sp = word
            continue
        if sp:
            buf[p] = 32
            p += 1
            sp = False
        if c in b'"\\':  # " \\
            buf[p] = 92
            p += 1
        buf[p] = c
        p += 1
        word = True
    buf[p] = 34
    return p + 1


def _iso(buf, p, h, k):
    """The horodate h[k:k + 13] as a quoted ISO 8601 time with its offset."""
    buf[p] = 34
    buf[p + 1] = 50  # "20"
    buf[p + 2] = 48
    p += 3
    for j in range(6):  # AA-MM-JJThh:mm:ss
        buf[p] = h[k + 1 + 2 * j]
        buf[p + 1] = h[k + 2 + 2 * j]
        buf[p + 2] = b"--T:: "[j]  # after each pair of digits (the last one: overwritten)
        p += 3
    p -= 1
    s = h[k] | 0x20  # season, lower case
    if s == 104:  # h: winter
        p = _put(buf, p, b"+01:00")
    elif s == 101:  # e: summer
        p = _put(buf, p, b"+02:00")
    buf[p] = 34
    return p + 1


def _bool(buf, p, key, v):
    return _put(buf, _key(buf, p, key), b"true" if v else b"false")


def _same(b, a, n, s):
    """b[a:a + n] == s, compared in place."""
    if n != len(s):
        return False
    for j in range(n):
        if b[a + j] != s[j]:
            return False
    return True


def _hex4(b, a):
    v = 0
    for j in range(a, a + 4):
        c = b[j]
        v = v * 16 + (c - 48 if c <= 57 else (c | 0x20) - 87)
    return v


def _write(rd, buf):
    st = rd.status
    vals = rd.vals
    off = rd.off
    lens = rd.lens
    hods = rd.hods
    hslot = rd.hslot
    kinds = rd.kinds
    p = 0
    for r in range(len(st)):
        if not st[r] & 1:  # readings.S_PRESENT
            continue
        a = off[r]
        e = a + lens[r]
        h = hslot[r]
        p = _name(buf, p, r, None)
        if r == _R[_DATE]:
            p = _iso(buf, p, hods, h * 13)
            continue
        k = kinds[r] & 3  # readings.K_MASK
        if k == 0:  # KIND_INT
            p = _num(buf, p, vals, a, e)
        else:
            p = _text(buf, p, vals, a, e)
        if h != 0xFF:
            p = _iso(buf, _name(buf, p, r, b"_time"), hods, h * 13)
    # Decoded fields.
    if st[_R[_DATE]] & 1:
        p = _iso(buf, _key(buf, p, b"time"), hods, hslot[_R[_DATE]] * 13)
    r = _R[_PTEC] if st[_R[_PTEC]] & 1 else _R[_LTARF]
    if st[r] & 1:
        p = _text(buf, _key(buf, p, b"period"), vals, off[r], off[r] + lens[r])
    if st[_R[_PTEC]] & 1:
        a = off[_R[_PTEC]]
        if vals[a] == 72 and (vals[a + 1] == 67 or vals[a + 1] == 80) and vals[a + 2] == 74:
            c = vals[a + 3]
            c = 1 if c == 66 else 2 if c == 87 else 3 if c == 82 else 0  # HCJB HPJW...
            if c:
                p = _put(buf, _key(buf, p, b"tempo_today"), b'"')
                p = _put(buf, _put(buf, p, _COLOURS[c]), b'"')
        if st[_R[_DEMAIN]] & 1:
            a = off[_R[_DEMAIN]]
            for c in range(3):
                if _same(vals, a, lens[_R[_DEMAIN]], _DAYS[c]):
                    p = _put(buf, _key(buf, p, b"tempo_tomorrow"), b'"')
                    p = _put(buf, _put(buf, p, _COLOURS[c + 1]), b'"')
    if rd.mode == 1:  # historique: overload warnings are labels of their own
        over = st[_R[_ADPS]] | st[_R[_ADIR1]] | st[_R[_ADIR1] + 1] | st[_R[_ADIR1] + 2]
        p = _bool(buf, p, b"overpower", over & 1)
    if st[_R[_STGE]] & 1:
        a = off[_R[_STGE]]
        hi = _hex4(vals, a)
        lo = _hex4(vals, a + 4)
        c = (hi >> 8) & 3
        if c:
            p = _put(buf, _key(buf, p, b"tempo_today"), b'"')
            p = _put(buf, _put(buf, p, _COLOURS[c]), b'"')
            c = (hi >> 10) & 3
            if c:
                p = _put(buf, _key(buf, p, b"tempo_tomorrow"), b'"')
                p = _put(buf, _put(buf, p, _COLOURS[c]), b'"')
        p = _bool(buf, p, b"contact_open", lo & 1)
        c = _BREAKER[(lo >> 1) & 7]
        if c:
            p = _put(buf, _key(buf, p, b"cutoff"), b'"')
            p = _put(buf, _put(buf, p, c), b'"')
        p = _bool(buf, p, b"overvoltage", lo & 0x40)
        p = _bool(buf, p, b"overpower", lo & 0x80)
        p = _bool(buf, p, b"producer", lo & 0x100)
    if st[_R[_NTARF]] & 1:
        a = off[_R[_NTARF]]
        p = _num(buf, _key(buf, p, b"tariff_index"), vals, a, a + lens[_R[_NTARF]])
    if p:
        buf[0] = 123  # {: over the first entry's comma
    else:
        buf[0] = 123
        p = 1
    buf[p] = 125  # }
    return p + 1
