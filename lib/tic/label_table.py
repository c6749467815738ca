"""The TIC label table as text: one line per label, in transmission order, historique first.

The source of truth for tic.labels, used on the host only: the device never imports it.
`pack` reads the text into small buffers, `emit` writes them as the bytes literals of
tic.labels' generated block, so the firmware gets the packed table without the text, the
reader or any boot-time work. Edit the table here, then regenerate:

    PYTHONPATH=lib .venv/bin/python -m tic.label_table   # rewrites the block in tic/labels.py

(tests/test_labels.py fails while the two disagree). Reference: tic-protocol.md §5
(historique, three-phase short frames), §6 (standard).

Columns, separated by spaces; a line may stop anywhere after kind, the missing columns read
"-" (none):
    label          as sent
    mode           H historique, S standard (no label is sent in both)
    size           data field width in characters (DATE: 0, its value is the horodate)
    kind           int (decimal digits, at most 9), text, hex (hexadecimal digits)
    unit           Wh VArh VA W A V kVA min, or -
    flags          comma separated, or -:
                   horodate  (standard) the group carries a SAAMMJJhhmmss horodate
                   guarded   energy index that must never decrease (checked by tic.guard)
                   tri       sent by three-phase meters only
                   mono      sent by single-phase meters only
                   producer  (standard) sent in producer mode only
                   short     (historique three-phase) part of the overload short frames
                   event     sent only while a condition holds: absence is not "unavailable"
    device_class   Home Assistant sensor device_class, or -
    state_class    Home Assistant state_class, or -

Reactive energy quadrants (ERQ1 to ERQ4): Q1 drawing + inductive, Q2 injecting + inductive,
Q3 injecting + capacitive, Q4 drawing + capacitive.
"""

from array import array

from tic import MODE_HISTORIQUE, MODE_STANDARD, label_hash

# What a row's 4-bit codes index: units and Home Assistant classes (entry 0: none, "-").
from tic.label_rows import DEVICE_CLASSES, STATE_CLASSES, UNITS

# Flag words in bit order: "horodate" is 1 << 0 (tic.labels.F_HORODATE), and so on.
FLAG_WORDS = ("horodate", "guarded", "tri", "mono", "producer", "short", "event")
KIND_WORDS = ("int", "text", "hex")  # tic.labels.KIND_INT, KIND_TEXT, KIND_HEX

TABLE = """\
ADCO      H 12 text -    short
OPTARIF   H  4 text -    -
ISOUSC    H  2 int  A    -                       current
BASE      H  9 int  Wh   guarded                 energy          total_increasing
HCHC      H  9 int  Wh   guarded                 energy          total_increasing
HCHP      H  9 int  Wh   guarded                 energy          total_increasing
EJPHN     H  9 int  Wh   guarded                 energy          total_increasing
EJPHPM    H  9 int  Wh   guarded                 energy          total_increasing
BBRHCJB   H  9 int  Wh   guarded                 energy          total_increasing
BBRHPJB   H  9 int  Wh   guarded                 energy          total_increasing
BBRHCJW   H  9 int  Wh   guarded                 energy          total_increasing
BBRHPJW   H  9 int  Wh   guarded                 energy          total_increasing
BBRHCJR   H  9 int  Wh   guarded                 energy          total_increasing
BBRHPJR   H  9 int  Wh   guarded                 energy          total_increasing
PEJP      H  2 int  min  event                   duration
PTEC      H  4 text -    -
DEMAIN    H  4 text -    -
IINST     H  3 int  A    mono                    current         measurement
IINST1    H  3 int  A    tri,short               current         measurement
IINST2    H  3 int  A    tri,short               current         measurement
IINST3    H  3 int  A    tri,short               current         measurement
ADPS      H  3 int  A    mono,event              current         measurement
ADIR1     H  3 int  A    tri,short,event         current         measurement
ADIR2     H  3 int  A    tri,short,event         current         measurement
ADIR3     H  3 int  A    tri,short,event         current         measurement
IMAX      H  3 int  A    mono                    current
IMAX1     H  3 int  A    tri                     current
IMAX2     H  3 int  A    tri                     current
IMAX3     H  3 int  A    tri                     current
PMAX      H  5 int  W    tri                     power           measurement
PAPP      H  5 int  VA   -                       apparent_power  measurement
HHPHC     H  1 text -    -
MOTDETAT  H  6 hex  -    -
PPOT      H  2 hex  -    tri

ADSC      S 12 text -    -
VTIC      S  2 text -    -
DATE      S  0 text -    horodate                timestamp
NGTF      S 16 text -    -
LTARF     S 16 text -    -
EAST      S  9 int  Wh   guarded                 energy          total_increasing
EASF01    S  9 int  Wh   guarded                 energy          total_increasing
EASF02    S  9 int  Wh   guarded                 energy          total_increasing
EASF03    S  9 int  Wh   guarded                 energy          total_increasing
EASF04    S  9 int  Wh   guarded                 energy          total_increasing
EASF05    S  9 int  Wh   guarded                 energy          total_increasing
EASF06    S  9 int  Wh   guarded                 energy          total_increasing
EASF07    S  9 int  Wh   guarded                 energy          total_increasing
EASF08    S  9 int  Wh   guarded                 energy          total_increasing
EASF09    S  9 int  Wh   guarded                 energy          total_increasing
EASF10    S  9 int  Wh   guarded                 energy          total_increasing
EASD01    S  9 int  Wh   guarded                 energy          total_increasing
EASD02    S  9 int  Wh   guarded                 energy          total_increasing
EASD03    S  9 int  Wh   guarded                 energy          total_increasing
EASD04    S  9 int  Wh   guarded                 energy          total_increasing
EAIT      S  9 int  Wh   guarded,producer        energy          total_increasing
ERQ1      S  9 int  VArh guarded,producer        reactive_energy total_increasing
ERQ2      S  9 int  VArh guarded,producer        reactive_energy total_increasing
ERQ3      S  9 int  VArh guarded,producer        reactive_energy total_increasing
ERQ4      S  9 int  VArh guarded,producer        reactive_energy total_increasing
IRMS1     S  3 int  A    -                       current         measurement
IRMS2     S  3 int  A    tri                     current         measurement
IRMS3     S  3 int  A    tri                     current         measurement
URMS1     S  3 int  V    -                       voltage         measurement
URMS2     S  3 int  V    tri                     voltage         measurement
URMS3     S  3 int  V    tri                     voltage         measurement
PREF      S  2 int  kVA  -                       apparent_power
PCOUP     S  2 int  kVA  -                       apparent_power
SINSTS    S  5 int  VA   -                       apparent_power  measurement
SINSTS1   S  5 int  VA   tri                     apparent_power  measurement
SINSTS2   S  5 int  VA   tri                     apparent_power  measurement
SINSTS3   S  5 int  VA   tri                     apparent_power  measurement
SMAXSN    S  5 int  VA   horodate                apparent_power  measurement
SMAXSN1   S  5 int  VA   horodate,tri            apparent_power  measurement
SMAXSN2   S  5 int  VA   horodate,tri            apparent_power  measurement
SMAXSN3   S  5 int  VA   horodate,tri            apparent_power  measurement
SMAXSN-1  S  5 int  VA   horodate                apparent_power  measurement
SMAXSN1-1 S  5 int  VA   horodate,tri            apparent_power  measurement
SMAXSN2-1 S  5 int  VA   horodate,tri            apparent_power  measurement
SMAXSN3-1 S  5 int  VA   horodate,tri            apparent_power  measurement
SINSTI    S  5 int  VA   producer                apparent_power  measurement
SMAXIN    S  5 int  VA   horodate,producer       apparent_power  measurement
SMAXIN-1  S  5 int  VA   horodate,producer       apparent_power  measurement
CCASN     S  5 int  W    horodate,event          power           measurement
CCASN-1   S  5 int  W    horodate,event          power           measurement
CCAIN     S  5 int  W    horodate,producer,event power           measurement
CCAIN-1   S  5 int  W    horodate,producer,event power           measurement
UMOY1     S  3 int  V    horodate                voltage         measurement
UMOY2     S  3 int  V    horodate,tri            voltage         measurement
UMOY3     S  3 int  V    horodate,tri            voltage         measurement
STGE      S  8 hex  -    -
DPM1      S  2 int  -    horodate,event
FPM1      S  2 int  -    horodate,event
DPM2      S  2 int  -    horodate,event
FPM2      S  2 int  -    horodate,event
DPM3      S  2 int  -    horodate,event
FPM3      S  2 int  -    horodate,event
MSG1      S 32 text -    -
MSG2      S 16 text -    event
PRM       S 14 text -    -
RELAIS    S  3 int  -    -
NTARF     S  2 int  -    -
NJOURF    S  2 int  -    -
NJOURF+1  S  2 int  -    -
PJOURF+1  S 98 text -    -
PPOINTE   S 98 text -    event
"""


def pack(units=UNITS, device_classes=DEVICE_CLASSES, state_classes=STATE_CLASSES, text=TABLE):
    """Read text into (names, offsets, attrs), the packed table tic.labels reads:

        names    bytearray, every label back to back
        offsets  array("H"), row r's label is names[offsets[r]:offsets[r + 1]]
        attrs    bytearray, 4 bytes per row: size, flags, mode << 6 | kind << 4 | unit,
                 device_class << 4 | state_class

    unit and the classes are indexes into the given tuples, whose entry 0 is None (written
    "-"). Raises ValueError naming a malformed line. Allocates the three results and nothing
    per line (it runs while the firmware boots): words are compared in place.
    """
    n = nb = 0
    a = 0
    while a < len(text):  # first pass: how many rows, how many name bytes
        e = _eol(text, a)
        p = _skip(text, a, e)
        if p < e:
            n += 1
            nb += _end(text, p, e) - p
        a = e + 1
    names = bytearray(nb)
    offsets = array("H", [0] * (n + 1))
    attrs = bytearray(4 * n)
    r = k = a = 0
    while a < len(text):
        e = _eol(text, a)
        p = _skip(text, a, e)
        if p == e:
            a = e + 1
            continue
        try:
            q = _end(text, p, e)
            for j in range(p, q):
                names[k] = ord(text[j])
                k += 1
            offsets[r + 1] = k
            p = _skip(text, q, e)
            q = _end(text, p, e)
            mode = MODE_STANDARD if _pick(("H", "S"), text, p, q) else MODE_HISTORIQUE
            p = _skip(text, q, e)
            q = _end(text, p, e)
            attrs[4 * r] = _number(text, p, q)
            p = _skip(text, q, e)
            q = _end(text, p, e)
            kind = _pick(KIND_WORDS, text, p, q)
            p = _skip(text, q, e)
            q = _end(text, p, e)
            attrs[4 * r + 2] = mode << 6 | kind << 4 | _pick(units, text, p, q)
            p = _skip(text, q, e)
            q = _end(text, p, e)
            attrs[4 * r + 1] = _flags(text, p, q)
            p = _skip(text, q, e)
            q = _end(text, p, e)
            dc = _pick(device_classes, text, p, q)
            p = _skip(text, q, e)
            q = _end(text, p, e)
            attrs[4 * r + 3] = dc << 4 | _pick(state_classes, text, p, q)
            if _skip(text, q, e) < e:
                raise ValueError  # a column too many
        except ValueError:
            raise ValueError("tic.label_table: bad line: %s" % text[a:e]) from None
        r += 1
        a = e + 1
    return names, offsets, attrs


def _eol(text, a):
    e = text.find("\n", a)
    return len(text) if e < 0 else e


def _skip(text, p, e):
    """The first non-space position from p, or e."""
    while p < e and text[p] == " ":
        p += 1
    return p


def _end(text, p, e):
    """The end of the word starting at p."""
    q = text.find(" ", p, e)
    return e if q < 0 else q


def _pick(words, text, p, q):
    """The index in words of text[p:q]; an empty or "-" word is index 0 if that is None."""
    if words[0] is None and (q == p or (q == p + 1 and text[p] == "-")):
        return 0
    for i in range(len(words)):
        w = words[i]
        if w is not None and len(w) == q - p and text.startswith(w, p):
            return i
    raise ValueError


def _number(text, p, q):
    """text[p:q] as an int from 0 to 255."""
    if p == q:
        raise ValueError
    v = 0
    for j in range(p, q):
        d = ord(text[j]) - 48
        if not 0 <= d <= 9:
            raise ValueError
        v = v * 10 + d
    if v > 255:
        raise ValueError
    return v


def _flags(text, p, q):
    """The comma separated FLAG_WORDS in text[p:q] as bits; "-" or nothing is none."""
    if q == p or (q == p + 1 and text[p] == "-"):
        return 0
    bits = 0
    while True:
        c = text.find(",", p, q)
        if c < 0:
            c = q
        bits |= 1 << _pick(FLAG_WORDS, text, p, c)
        if c == q:
            return bits
        p = c + 1


# ---- the generated block of tic.labels ----

_EMPTY = 0xFF
_SLOT_MASK = 0xFF
BEGIN = "# -- generated by tic.label_table from its TABLE (see there): do not edit --\n"
END = "# -- end of generated block --\n"


def build_hash_index(names):
    """(slots, hashes) for a sequence of bytes names (at most 255): hashes[i] is
    tic.label_hash(names[i]), slots the 256 one-byte slots tic.labels.index_by_hash probes
    (row index, 0xFF empty; first probe at the hash's low byte, the next slots on a clash).
    Raises ValueError if two names hash alike: a colliding label added to the table fails
    when the block is generated (and in the tests), not in the field."""
    if len(names) > _SLOT_MASK:
        raise ValueError("too many labels for the hash index")
    slots = bytearray(b"\xff" * (_SLOT_MASK + 1))
    hashes = array("I", [0] * len(names))
    for i in range(len(names)):
        h = label_hash(names[i])
        hashes[i] = h
        s = h & _SLOT_MASK
        while slots[s] != _EMPTY:
            if hashes[slots[s]] == h:
                raise ValueError("label hash collision: %s %s" % (names[slots[s]], names[i]))
            s = (s + 1) & _SLOT_MASK
        slots[s] = i
    return slots, hashes


def _literal(name, data, comment):
    """Python source assigning bytes `data` to `name`, in lines of at most 99 characters."""
    out = ["%s = (  # %s\n" % (name, comment)]
    line = ""
    for b in data:
        c = chr(b)
        if 0x20 <= b < 0x7F and c not in '\\"':
            e = c
        else:
            e = "\\x%02x" % b
        if len(line) + len(e) > 88:
            out.append('    b"%s"\n' % line)
            line = ""
        line += e
    out.append('    b"%s"\n)\n' % line)
    return "".join(out)


def emit(text=TABLE):
    """The generated block of tic.labels (between BEGIN and END) for `text`: COUNT and the
    packed table as bytes literals. Raises ValueError on a bad line or a hash collision."""
    names, off, attrs = pack(text=text)
    n = len(off) - 1
    rows = [bytes(names[off[r] : off[r + 1]]) for r in range(n)]
    slots, hashes = build_hash_index(rows)
    off2 = bytearray()
    for o in off:
        off2 += bytes((o & 0xFF, o >> 8))
    h3 = bytearray()
    for h in hashes:
        h3 += bytes((h & 0xFF, (h >> 8) & 0xFF, h >> 16))
    return "".join(
        (
            BEGIN,
            "COUNT = const(%d)\n" % n,
            _literal("_NAMES", names, "every label, back to back"),
            _literal("_OFF", off2, "row r's name starts at 2 bytes LE at 2r; COUNT + 1 of them"),
            _literal("_ATTR", attrs, "4 bytes a row: size, flags, mode|kind|unit, dc|sc"),
            _literal("_SLOTS", slots, "hash index: 256 slots, row index or 0xFF (empty)"),
            _literal("_HASHES", h3, "row r's label_hash, 3 bytes LE at 3r"),
            END,
        )
    )


def regenerate(path):
    """Rewrite the generated block of the tic.labels source at `path`; True if it changed."""
    with open(path) as f:
        src = f.read()
    a = src.index(BEGIN)
    b = src.index(END) + len(END)
    new = src[:a] + emit() + src[b:]
    if new == src:
        return False
    with open(path, "w") as f:
        f.write(new)
    return True


if __name__ == "__main__":
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    changed = regenerate(os.path.join(here, "labels.py"))
    print("lib/tic/labels.py:", "block rewritten" if changed else "already up to date")
