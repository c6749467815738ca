# micropython: also
"""Every label of tic.labels, in a frame of its mode: parsed, looked up and decoded.

The captures and the simulated meters (tests/test_ticdump.py) cover most labels in real
context; this covers all of them, including the rare ones (PEJP, ADPS, ADIR1-3, DPM2/3,
FPM2/3, MSG2, PPOINTE), with a value of the label's size and kind.
"""

from tic import MODE_HISTORIQUE, MODE_STANDARD, decode, labels
from tic.encode import frame
from tic.parser import Parser

# Values a meter really sends for labels whose content has a structure.
SAMPLES = {
    "STGE": "463A0800",
    "MOTDETAT": "000000",
    "PPOT": "00",
    "RELAIS": "001",
    "ADCO": "041776199277",
    "ADSC": "041776199277",
    "PJOURF+1": "00004001 06004002 22004001" + " NONUTILE" * 8,
    "PPOINTE": "00004001 06004002 22004001" + " NONUTILE" * 8,
    "OPTARIF": "BBR(",
    "PTEC": "HPJB",
    "DEMAIN": "BLEU",
    "HHPHC": "A",
    "PRM": "12345678901234",
}


def sample(row):
    name = row[labels.NAME]
    if name in SAMPLES:
        return SAMPLES[name]
    size = row[labels.SIZE]
    if row[labels.KIND] == labels.KIND_INT:
        return ("123456789" * 2)[:size]
    if row[labels.KIND] == labels.KIND_HEX:
        return "0" * size
    return ("TEXT" + " " * 200)[:size]


def test_every_label_parses_and_decodes():
    covered = 0
    for row in labels.ROWS:
        name = row[labels.NAME]
        horodate = "H200214230804" if row[labels.FLAGS] & labels.F_HORODATE else None
        value = sample(row)
        mode = row[labels.MODE]
        if mode not in (MODE_HISTORIQUE, MODE_STANDARD):
            raise AssertionError("%s: mode %r" % (name, mode))
        group = (name, value, horodate) if horodate else (name, value)
        p = Parser(mode=mode)
        p.feed(frame(mode, [group]))
        f = p.frame
        assert f is not None and f.n == 1, name
        assert labels.for_frame(f, 0) is row, name
        assert f.value(0) == value and f.horodate(0) == horodate, name
        d = decode.decode_group(f.label(0), f.value(0), f.horodate(0))
        assert "error" not in d, (name, d)
        if row[labels.KIND] == labels.KIND_INT and name not in SAMPLES:
            assert d["value"] == int(value) and f.int_value(0) == int(value), name
        covered += 1
    assert covered == len(labels.ROWS) == 105


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
