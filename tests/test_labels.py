# micropython: also
"""lib/tic/labels.py, its text table (label_table.py) and the rest of its API (label_rows.py):
completeness against tic-protocol.md §5/§6, packing, the generated block, hashes, lookups,
descriptions."""

from tic import MODE_HISTORIQUE, MODE_STANDARD, label_docs, label_hash, label_table
from tic import labels as lbl


class FakeFrame:
    """The part of tic.parser.Frame that labels uses, built from (label, value) pairs."""

    def __init__(self, pairs):
        self.names = [p[0].encode() for p in pairs]
        self.n = len(pairs)

    def label_hash(self, i):
        return label_hash(self.names[i])

    def label_in(self, i, blob, start, end):
        return self.names[i] == blob[start:end]


HISTORIQUE = (
    "ADCO OPTARIF ISOUSC BASE HCHC HCHP EJPHN EJPHPM BBRHCJB BBRHPJB BBRHCJW BBRHPJW "
    "BBRHCJR BBRHPJR PEJP PTEC DEMAIN IINST IINST1 IINST2 IINST3 ADPS ADIR1 ADIR2 ADIR3 "
    "IMAX IMAX1 IMAX2 IMAX3 PMAX PAPP HHPHC MOTDETAT PPOT"
).split()

STANDARD = (
    "ADSC VTIC DATE NGTF LTARF EAST EASF01 EASF02 EASF03 EASF04 EASF05 EASF06 EASF07 "
    "EASF08 EASF09 EASF10 EASD01 EASD02 EASD03 EASD04 EAIT ERQ1 ERQ2 ERQ3 ERQ4 IRMS1 IRMS2 "
    "IRMS3 URMS1 URMS2 URMS3 PREF PCOUP SINSTS SINSTS1 SINSTS2 SINSTS3 SMAXSN SMAXSN1 "
    "SMAXSN2 SMAXSN3 SMAXSN-1 SMAXSN1-1 SMAXSN2-1 SMAXSN3-1 SINSTI SMAXIN SMAXIN-1 CCASN "
    "CCASN-1 CCAIN CCAIN-1 UMOY1 UMOY2 UMOY3 STGE DPM1 FPM1 DPM2 FPM2 DPM3 FPM3 MSG1 MSG2 "
    "PRM RELAIS NTARF NJOURF NJOURF+1 PJOURF+1 PPOINTE"
).split()

HORODATED = (
    "DATE SMAXSN SMAXSN1 SMAXSN2 SMAXSN3 SMAXSN-1 SMAXSN1-1 SMAXSN2-1 SMAXSN3-1 SMAXIN "
    "SMAXIN-1 CCASN CCASN-1 CCAIN CCAIN-1 UMOY1 UMOY2 UMOY3 DPM1 FPM1 DPM2 FPM2 DPM3 FPM3"
).split()

ENERGY = (
    "BASE HCHC HCHP EJPHN EJPHPM BBRHCJB BBRHPJB BBRHCJW BBRHPJW BBRHCJR BBRHPJR EAST "
    "EASF01 EASF02 EASF03 EASF04 EASF05 EASF06 EASF07 EASF08 EASF09 EASF10 EASD01 EASD02 "
    "EASD03 EASD04 EAIT ERQ1 ERQ2 ERQ3 ERQ4"
).split()

UNITS = ("Wh", "VArh", "VA", "W", "A", "V", "kVA", "min", None)


def test_every_label_of_both_modes_in_order():
    assert [r[lbl.NAME] for r in lbl.rows_for_mode(MODE_HISTORIQUE)] == HISTORIQUE
    assert [r[lbl.NAME] for r in lbl.rows_for_mode(MODE_STANDARD)] == STANDARD
    assert lbl.COUNT == len(HISTORIQUE) + len(STANDARD) == 105
    assert len(lbl.ROWS) == lbl.COUNT


def test_rows_are_well_formed():
    for r in lbl.ROWS:
        assert len(r) == 8
        assert r[lbl.MODE] in (MODE_HISTORIQUE, MODE_STANDARD)
        assert 0 <= r[lbl.SIZE] <= 98
        assert r[lbl.UNIT] in UNITS, r
        assert r[lbl.KIND] in (lbl.KIND_INT, lbl.KIND_TEXT, lbl.KIND_HEX)
        # numbers read as small ints: 9 digits at most
        if r[lbl.KIND] == lbl.KIND_INT:
            assert r[lbl.SIZE] <= 9, r
        if r[lbl.UNIT] is not None:
            assert r[lbl.KIND] == lbl.KIND_INT, r


def test_accessors_match_the_row_tuples():
    for r in range(lbl.COUNT):
        row = lbl.ROWS[r]
        got = (lbl.name(r), lbl.mode(r), lbl.size(r), lbl.unit(r), lbl.kind(r), lbl.flags(r))
        assert got + (lbl.device_class(r), lbl.state_class(r)) == row, row
        assert lbl.row_index(row) == r and lbl.lookup(row[lbl.NAME]) is row
        for pred in (lbl.is_energy_index, lbl.is_numeric, lbl.is_horodated, lbl.is_event):
            assert pred(r) == pred(row), (pred, row)
        assert lbl.ha_unit(r) == lbl.ha_unit(row)
        assert 0 <= lbl.flags(r) < 128


def _table_rows(text):
    """label_table.pack(text) unpacked: (name, mode, size, kind, unit, flags, dc, sc) rows."""
    names, off, attrs = label_table.pack(text=text)
    assert len(attrs) == 4 * (len(off) - 1) and len(names) == off[-1] and off[0] == 0
    rows = []
    for r in range(len(off) - 1):
        a = attrs[4 * r : 4 * r + 4]
        name = bytes(names[off[r] : off[r + 1]]).decode()
        rows.append(
            (name, a[2] >> 6, a[0], (a[2] >> 4) & 3, a[2] & 15, a[1], a[3] >> 4, a[3] & 15)
        )
    return rows


def test_table_words_match_the_constants():
    for i in range(len(label_table.FLAG_WORDS)):
        assert getattr(lbl, "F_" + label_table.FLAG_WORDS[i].upper()) == 1 << i
    assert label_table.KIND_WORDS.index("int") == lbl.KIND_INT
    assert label_table.KIND_WORDS.index("text") == lbl.KIND_TEXT
    assert label_table.KIND_WORDS.index("hex") == lbl.KIND_HEX
    assert len(lbl.UNITS) <= 16 and len(lbl.DEVICE_CLASSES) <= 16  # 4-bit codes
    assert lbl.UNITS[0] is None and lbl.DEVICE_CLASSES[0] is None
    assert lbl.STATE_CLASSES[0] is None


def test_table_text_reads_into_the_packed_rows():
    rows = _table_rows(label_table.TABLE)
    assert len(rows) == lbl.COUNT
    for r in range(lbl.COUNT):
        name, mode, size, kind, unit, flags, dc, sc = rows[r]
        assert (name, mode, size, kind, flags) == (
            lbl.name(r), lbl.mode(r), lbl.size(r), lbl.kind(r), lbl.flags(r))  # fmt: skip
        assert lbl.UNITS[unit] == lbl.unit(r)
        assert lbl.DEVICE_CLASSES[dc] == lbl.device_class(r)
        assert lbl.STATE_CLASSES[sc] == lbl.state_class(r)


def test_generated_block_matches_the_table():
    # labels.py holds what label_table.emit() writes for TABLE (regenerate after an edit).
    with open("lib/tic/labels.py") as f:
        src = f.read()
    a = src.index(label_table.BEGIN)
    b = src.index(label_table.END) + len(label_table.END)
    assert src[a:b] == label_table.emit()
    names, off, attrs = label_table.pack()
    assert bytes(names) == lbl._NAMES and bytes(attrs) == lbl._ATTR
    assert [lbl._off(r) for r in range(lbl.COUNT + 1)] == list(off)
    slots, hashes = label_table.build_hash_index([lbl.name(r).encode() for r in range(lbl.COUNT)])
    assert bytes(slots) == lbl._SLOTS
    assert [lbl._HASHES[3 * r] | lbl._HASHES[3 * r + 1] << 8 | lbl._HASHES[3 * r + 2] << 16
            for r in range(lbl.COUNT)] == list(hashes)  # fmt: skip


def test_table_lines_may_stop_early_and_blank_lines_are_skipped():
    rows = _table_rows("\nXY S 2 int\n\n  \nZ   H 98 hex - tri,event - measurement  ")
    assert rows == [
        ("XY", MODE_STANDARD, 2, lbl.KIND_INT, 0, 0, 0, 0),
        ("Z", MODE_HISTORIQUE, 98, lbl.KIND_HEX, 0, lbl.F_TRI | lbl.F_EVENT, 0, 2),
    ]
    assert _table_rows("") == []


def test_table_bad_lines_are_refused_by_name():
    good = "EAST S 9 int Wh guarded energy total_increasing"
    assert len(_table_rows(good)) == 1
    bad = (
        "EAST X 9 int Wh guarded energy total_increasing",  # mode
        "EAST S nine int Wh",  # size
        "EAST S 256 int",  # size over a byte
        "EAST S -1 int",
        "EAST S 9 float",  # kind
        "EAST S 9 int kWh",  # unit
        "EAST S 9 int Wh guarded,daily",  # flag
        "EAST S 9 int Wh guarded,",  # empty flag
        "EAST S 9 int Wh -,guarded",  # "-" is not a flag
        "EAST S 9 int Wh tri guarded",  # flags are comma separated: tri, then device class
        "EAST S 9 int Wh GUARDED",
        "EAST S 09x int",
        "EAST S 9 int Wh guarded energy total_increasing -",  # nine columns
        "EAST S 9 int Wh guarded Energy",  # device class (case matters)
        "EAST S 9 int Wh guarded energy total",  # state class
        good + " extra",  # a column too many
        "EAST S",  # too short: the kind is missing
    )
    for line in bad:
        try:
            _table_rows("ADCO H 12 text\n" + line + "\n")
        except ValueError as e:
            assert line in str(e), (line, str(e))
        else:
            raise AssertionError("accepted: " + line)


def test_unknown_module_attribute_raises():
    try:
        lbl.NOT_THERE  # noqa: B018
    except AttributeError:
        pass
    else:
        raise AssertionError("no AttributeError")
    assert getattr(lbl, "NOPE", 7) == 7


def test_label_rows_names_are_looked_up_not_kept():
    # A feature that unloads tic.label_rows after use (mqtt_pub after a discovery) frees it:
    # tic.labels keeps none of its names, and loads it again on the next use.
    import sys

    import tic

    assert lbl.name(lbl.index("EAST")) == "EAST"
    assert "name" not in lbl.__dict__ and "ROWS" not in lbl.__dict__
    rows = sys.modules.pop("tic.label_rows")
    delattr(tic, "label_rows")  # as firmware.unload() does
    try:
        assert lbl.unit(lbl.index("EAST")) == "Wh"
        assert sys.modules["tic.label_rows"] is not rows
    finally:
        sys.modules["tic.label_rows"] = tic.label_rows = rows


def test_descriptions_aligned_with_rows():
    lines = label_docs.TEXT.split("\n")
    assert lines[-1] == "" and len(lines) == lbl.COUNT + 1
    for r in range(lbl.COUNT):
        name, text = lines[r].split(" ", 1)
        assert name == lbl.ROWS[r][lbl.NAME]
        assert lbl.description(r) == text
        assert 0 < len(text) <= 40 and text == text.strip(), text
    assert lbl.description(0) == "Meter address (serial number)"
    assert lbl.description(lbl.index("EAST")) == "Total energy drawn"
    assert lbl.description(lbl.COUNT - 1) == "Next peak day's profile"
    for bad in (-1, lbl.COUNT):
        try:
            lbl.description(bad)
        except IndexError:
            pass
        else:
            raise AssertionError("description(%d) did not raise" % bad)


def test_names_unique_and_match_rows():
    names = [r[lbl.NAME] for r in lbl.ROWS]
    assert len(set(names)) == len(names)
    for i in range(lbl.COUNT):
        assert lbl.name(i) == names[i]
        assert lbl.index(names[i]) == i and lbl.index(names[i].encode()) == i


def test_no_hash_collision_between_known_labels():
    hashes = [label_hash(lbl.name(i).encode()) for i in range(lbl.COUNT)]
    assert len(set(hashes)) == lbl.COUNT
    for i in range(lbl.COUNT):
        assert lbl.index_by_hash(hashes[i]) == i
        assert lbl.by_hash(hashes[i]) is lbl.ROWS[i]
    # Unknown hashes, including ones in the slots known labels probe through.
    for h in (0, 1, 0xFFFFF, hashes[0] ^ 0x100, hashes[7] + 0x100):
        if h not in hashes:
            assert lbl.index_by_hash(h) == -1 and lbl.by_hash(h) is None


def _colliding_unknown(known):
    """An unknown label with the same 20-bit hash as `known` (h*33 + b: shift one char)."""
    b = bytearray(known)
    b[-2] += 1
    b[-1] -= 33
    return bytes(b)


def test_collision_check_raises():
    bad = _colliding_unknown(b"PAPP")
    slots, hashes = label_table.build_hash_index([b"PAPP", b"IINST"])
    assert list(hashes) == [label_hash(b"PAPP"), label_hash(b"IINST")]
    assert (
        len(slots) == 256
        and sorted(slots)[:2] == [0, 1]
        and sum(1 for x in slots if x == 0xFF) == 254
    )
    for names in ([b"PAPP", b"IINST", bad], [("X%d" % i).encode() for i in range(256)]):
        try:
            label_table.build_hash_index(names)
        except ValueError:
            pass
        else:
            raise AssertionError("not refused: %d names" % len(names))


def test_hash_index_probes_past_a_clash():
    slots, hashes = label_table.build_hash_index([lbl.name(i).encode() for i in range(lbl.COUNT)])
    moved = [i for i in range(lbl.COUNT) if slots[hashes[i] & 0xFF] != i]
    assert len(moved) > 10  # labels past their first slot: the lookups probe on
    for i in moved:
        assert lbl.index_by_hash(hashes[i]) == i
        # same first slot, another hash: probes the whole run, then finds nothing
        assert lbl.index_by_hash(hashes[i] ^ 0x10000) == -1


def test_sizes_and_units_from_the_protocol():
    def chk(name, size, unit, kind):
        r = lbl.lookup(name)
        assert (r[lbl.SIZE], r[lbl.UNIT], r[lbl.KIND]) == (size, unit, kind), name

    chk("ADCO", 12, None, lbl.KIND_TEXT)
    chk("ISOUSC", 2, "A", lbl.KIND_INT)
    chk("PEJP", 2, "min", lbl.KIND_INT)
    chk("PMAX", 5, "W", lbl.KIND_INT)
    chk("PAPP", 5, "VA", lbl.KIND_INT)
    chk("MOTDETAT", 6, None, lbl.KIND_HEX)
    chk("DATE", 0, None, lbl.KIND_TEXT)
    chk("ERQ3", 9, "VArh", lbl.KIND_INT)
    chk("PREF", 2, "kVA", lbl.KIND_INT)
    chk("CCASN-1", 5, "W", lbl.KIND_INT)
    chk("URMS2", 3, "V", lbl.KIND_INT)
    chk("STGE", 8, None, lbl.KIND_HEX)
    chk("MSG1", 32, None, lbl.KIND_TEXT)
    chk("MSG2", 16, None, lbl.KIND_TEXT)
    chk("PRM", 14, None, lbl.KIND_TEXT)
    chk("PJOURF+1", 98, None, lbl.KIND_TEXT)
    chk("PPOINTE", 98, None, lbl.KIND_TEXT)


def test_horodated_exactly_the_h_labels():
    got = [r[lbl.NAME] for r in lbl.ROWS if lbl.is_horodated(r)]
    assert sorted(got) == sorted(HORODATED)


def test_energy_indexes_are_guarded_and_total_increasing():
    got = [r[lbl.NAME] for r in lbl.ROWS if lbl.is_energy_index(r)]
    assert got == ENERGY
    for r in lbl.ROWS:
        if r[lbl.UNIT] in ("Wh", "VArh"):
            assert lbl.is_energy_index(r), r
            assert r[lbl.STATE_CLASS] == "total_increasing"
            assert r[lbl.DEVICE_CLASS] == ("energy" if r[lbl.UNIT] == "Wh" else "reactive_energy")
        else:
            assert not lbl.is_energy_index(r), r


def test_home_assistant_classes_follow_units():
    expect = {"VA": "apparent_power", "W": "power", "A": "current", "V": "voltage"}
    for r in lbl.ROWS:
        u = r[lbl.UNIT]
        if u in expect:
            assert r[lbl.DEVICE_CLASS] == expect[u], r
    assert lbl.lookup("SINSTS")[lbl.STATE_CLASS] == "measurement"
    assert lbl.lookup("IRMS1")[lbl.STATE_CLASS] == "measurement"
    assert lbl.lookup("DATE")[lbl.DEVICE_CLASS] == "timestamp"
    assert lbl.lookup("PTEC")[lbl.DEVICE_CLASS] is None
    assert lbl.ha_unit(lbl.lookup("ERQ1")) == "varh"
    assert lbl.ha_unit(lbl.lookup("EAST")) == "Wh"
    assert lbl.ha_unit(lbl.lookup("OPTARIF")) is None


def test_flags():
    def f(name):
        return lbl.lookup(name)[lbl.FLAGS]

    assert f("IRMS2") & lbl.F_TRI and not f("IRMS1") & lbl.F_TRI
    assert f("SMAXSN1-1") & lbl.F_TRI and f("SMAXSN1-1") & lbl.F_HORODATE
    assert f("IINST") & lbl.F_MONO and f("ADPS") & lbl.F_MONO
    for name in ("EAIT", "ERQ1", "ERQ4", "SINSTI", "SMAXIN", "SMAXIN-1", "CCAIN", "CCAIN-1"):
        assert f(name) & lbl.F_PRODUCER, name
    assert not f("CCASN") & lbl.F_PRODUCER
    short = [r[lbl.NAME] for r in lbl.ROWS if r[lbl.FLAGS] & lbl.F_SHORT]
    assert short == ["ADCO", "IINST1", "IINST2", "IINST3", "ADIR1", "ADIR2", "ADIR3"]
    for name in ("ADPS", "PEJP", "MSG2", "PPOINTE", "DPM1", "ADIR2"):
        assert lbl.is_event(lbl.lookup(name)), name
    assert not lbl.is_event(lbl.lookup("EAST"))


def test_lookup_str_bytes_and_unknown():
    assert lbl.lookup("EAST")[lbl.NAME] == "EAST"
    assert lbl.lookup(b"SMAXSN1-1")[lbl.NAME] == "SMAXSN1-1"
    assert lbl.lookup("SMAXSN-1-1") is None
    assert lbl.lookup("east") is None
    assert lbl.lookup("") is None
    assert lbl.index("ADCO") == 0
    assert lbl.row_index(lbl.lookup("PPOINTE")) == lbl.COUNT - 1
    assert lbl.is_numeric(lbl.lookup("EAST")) and not lbl.is_numeric(lbl.lookup("STGE"))


def test_for_frame_confirms_the_name():
    bad = _colliding_unknown(b"EAST")  # b"EAT3"
    assert label_hash(bad) == label_hash(b"EAST")
    assert lbl.lookup(bad) is None
    assert lbl.by_hash(label_hash(bad))[lbl.NAME] == "EAST"  # the hash alone is fooled
    fr = FakeFrame([("EAST", "1"), (bad.decode(), "2"), ("NOPE", "3"), ("PRM", "4")])
    assert lbl.for_frame(fr, 0)[lbl.NAME] == "EAST"
    assert lbl.for_frame(fr, 1) is None
    assert lbl.index_for_frame(fr, 1) == -1
    assert lbl.for_frame(fr, 2) is None
    assert lbl.index_for_frame(fr, 3) == lbl.index("PRM")


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
