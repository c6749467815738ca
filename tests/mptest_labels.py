"""Proofs on the MicroPython unix port for tic.labels: what its import keeps on the heap, and
that the lookups a frame consumer makes allocate nothing.

The import is measured first thing, before anything else loads tic: gc.mem_alloc() after a
collection, before and after `import tic.labels` (the tic package included). Imported from
source as here it keeps about 6 KB (64-bit; about 4 KB from the .mpy on a 32-bit board, see
docs/design/memory-diet.md); nothing else may come with it: no text table, no
descriptions, no tic.label_rows.

The lookups run in a Parser's frame callback between micropython.heap_lock() and
heap_unlock(), so any allocation raises MemoryError: real captures of both modes, and built
frames holding unknown labels, one of which has the same tic.label_hash as EAST.
"""

import gc
import sys

gc.collect()
_before = gc.mem_alloc()
from tic import labels as lbl  # noqa: E402 (measured: must come after the first reading)

gc.collect()
IMPORT_COST = gc.mem_alloc() - _before
TABLE_KEPT = "tic.label_table" in sys.modules
DOCS_LOADED = "tic.label_docs" in sys.modules
ROWS_LOADED = "tic.label_rows" in sys.modules

import micropython  # noqa: E402
from tic import MODE_HISTORIQUE, MODE_STANDARD, label_hash  # noqa: E402
from tic.encode import frame  # noqa: E402
from tic.parser import Parser  # noqa: E402
from tic_helpers import CAPTURES, read  # noqa: E402

BUDGET = 8 * 1024  # measured: about 6 KB (64-bit, from source)


def test_import_keeps_little_on_the_heap():
    if IMPORT_COST > BUDGET:
        raise AssertionError("import tic.labels kept %d bytes (budget %d)" % (IMPORT_COST, BUDGET))
    # The text table is not read on the device; descriptions and row tuples wait to be asked.
    if TABLE_KEPT or DOCS_LOADED or ROWS_LOADED:
        raise AssertionError("loaded at import: %r" % ((TABLE_KEPT, DOCS_LOADED, ROWS_LOADED),))


def test_packing_the_table_leaves_no_garbage_per_line():
    # Host tools and the generator run this (the device no longer does): 105 lines must not
    # each leave strings and lists behind (a first version left about 100 KB of garbage).
    from tic import label_table

    label_table.pack()  # once first: the one-character names it indexes out are interned then
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        names, off, attrs = label_table.pack()
        used = gc.mem_alloc() - before
    finally:
        gc.enable()
    if len(off) != lbl.COUNT + 1 or bytes(attrs) != lbl._ATTR or bytes(names) != lbl._NAMES:
        raise AssertionError("packed differently")
    # the results (about 1.3 KB) and one list to size the offsets array
    if used > 3 * 1024:
        raise AssertionError("pack allocated %d bytes" % used)


def _colliding_unknown(known):
    """An unknown label with the same 20-bit hash as `known` (see test_labels)."""
    b = bytearray(known)
    b[-2] += 1
    b[-1] -= 33
    return bytes(b)


def streams():
    bad = _colliding_unknown(b"EAST").decode()
    if label_hash(bad.encode()) != label_hash(b"EAST"):
        raise AssertionError("not a collision")
    std = [("ADSC", "041776199277"), (bad, "000000001"), ("EAST", "000000002")]
    std += [("ZZZZ", "1"), ("SMAXSN1-1", "00100", "H200213085118"), ("SMAXSN1-", "2")]
    std += [("PPOINTE", "X"), ("EASF1", "3"), ("EASF10", "000000004")]
    hist = [("ADCO", "031961098836"), ("PAPP", "00120"), ("PAPPP", "1"), ("ADIR3", "012")]
    return (
        read(CAPTURES + "std-tri-tempo-teleinfo-nom.raw") * 3 + frame(MODE_STANDARD, std) * 5,
        read(CAPTURES + "hist-mono-tempo-teleinfo-nom.raw") * 3 + frame(MODE_HISTORIQUE, hist) * 5,
    )


def expected(frames_groups):
    """Known and unknown group counts, computed the allocating way (names as str)."""
    known = unknown = 0
    for g in frames_groups:
        if lbl.index(g) >= 0:
            known += 1
        else:
            unknown += 1
    return known, unknown


def run_locked(data):
    """Feed data once to learn the expected counts (and warm the parser up), then again with
    the lookups in the frame callback under heap_lock. Returns (tally, expected, frames)."""
    tally = [0, 0, 0, 0, 0]  # known, unknown, EAST, a sum of the fields read, frames
    names = []
    east = lbl.index("EAST")

    def collect(f):
        for i in range(f.n):
            names.append(f.label(i))

    def on_frame(f):
        for i in range(f.n):
            r = lbl.index_for_frame(f, i)
            row = lbl.for_frame(f, i)
            if r < 0:
                tally[1] += 1
                if row is not None:
                    raise AssertionError("for_frame disagrees")
                continue
            tally[0] += 1
            if row is not lbl.ROWS[r] or lbl.index_by_hash(f.label_hash(i)) != r:
                raise AssertionError("lookups disagree")
            if r == east:
                tally[2] += 1
            s = lbl.mode(r) + lbl.size(r) + lbl.kind(r) + lbl.flags(r)
            s += len(lbl.unit(r) or "") + len(lbl.device_class(r) or "")
            s += len(lbl.state_class(r) or "") + len(lbl.ha_unit(r) or "")
            s += lbl.is_energy_index(r) + lbl.is_numeric(r) + lbl.is_horodated(r)
            s += lbl.is_event(r) + lbl.is_energy_index(row)
            tally[3] = (tally[3] + s) & 0xFFFF
        tally[4] += 1

    p = Parser(on_frame=collect)
    p.feed(data)
    frames = p.frames
    want = expected(names)
    p.on_frame = on_frame
    gc.collect()
    before = gc.mem_alloc()
    micropython.heap_lock()
    try:
        p.feed(data)
        hit = lbl.index(b"EAST") + lbl.index(b"EAT3") + lbl.index(b"SMAXSN1-1")
    finally:
        micropython.heap_unlock()
    if gc.mem_alloc() != before:
        raise AssertionError("heap grew by %d bytes" % (gc.mem_alloc() - before))
    if hit != east - 1 + lbl.index("SMAXSN1-1"):
        raise AssertionError("index on bytes: %d" % hit)
    return tally, want, frames


def test_frame_lookups_allocate_nothing():
    lbl.ROWS  # noqa: B018 (for_frame returns ROWS' tuples: built before the lock)
    std, hist = streams()
    for data, with_east in ((std, True), (hist, False)):
        tally, want, frames = run_locked(data)
        if (tally[0], tally[1]) != want or want[1] < 4 or tally[4] != frames or frames < 6:
            raise AssertionError("counts %r, expected %r in %d frames" % (tally, want, frames))
        if (tally[2] > 0) != with_east:
            raise AssertionError("EAST found %d times" % tally[2])


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
