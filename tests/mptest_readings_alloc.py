"""Proof on the MicroPython unix port: once built, the readings store's update() and the state
payload writer allocate nothing, and the heap stays flat over 1,000 frames.

Frames are built with tic.encode and fed to the real parser; the guard, the store and the
writer run in the frame callback while micropython.heap_lock() is held, so any allocation
raises MemoryError. The frames go through every path: values stored, changed and unchanged,
indexes confirmed, refused and pending, values dropped (kind, size, horodate, unknown label),
labels going absent, historique short frames, a one-frame corrupt meter id, a new meter, and
both mode changes. (heap_lock cannot see a call frame that MicroPython puts on the heap and
frees on return; those leave no garbage, which the flat-heap test covers.)
"""

import gc

import micropython
from firmware import state_json
from firmware.readings import Readings
from tic import MODE_HISTORIQUE, MODE_STANDARD
from tic.encode import frame
from tic.guard import IndexGuard
from tic.parser import Parser

SLOW_TESTS = ("test_heap_is_flat_over_1000_frames",)  # about 2 s on the unix port

PROFILE = "00004001 06004002 22004001" + " NONUTILE" * 8


def std(k, adsc="041776199277"):
    g = [("ADSC", adsc), ("VTIC", "02"), ("DATE", "", "E240715183000"),
         ("NGTF", "     TEMPO      "), ("LTARF", "    HP  BLEU    "),
         ("EAST", "%09d" % (21849106 + 3 * k))]  # fmt: skip
    for j in range(1, 11):
        g.append(("EASF%02d" % j, "%09d" % (1000 * j + k)))
    if k == 7:
        g.append(("EASF03", "p00003007"))  # a bit-6 flip the checksum cannot see
        g.append(("EASD01", "000000001"))  # a decrease
    g.append(("EAIT", "%09d" % (100 + 5 * k)))
    for p in ("1", "2", "3"):
        g.append(("IRMS" + p, "%03d" % (3 + k % 4)))
        g.append(("URMS" + p, "23%d" % (k % 10)))
    g += [("PREF", "12"), ("PCOUP", "12"), ("SINSTS", "%05d" % (2000 + 10 * (k % 7))),
          ("SMAXSN", "10802", "E240715175135"), ("SMAXSN-1", "09562", "E240714085118"),
          ("SINSTI", "00000"), ("UMOY1", "237", "E240715180000"),
          ("STGE", "463A0B%02X" % (k % 256)), ("MSG1", "PAS DE          MESSAGE         "),
          ("PRM", "07361794479930"), ("RELAIS", "001"), ("NTARF", "03"),
          ("PJOURF+1", PROFILE)]  # fmt: skip
    if k % 5 == 0:
        g.append(("DPM1", "00", " 240716060000"))
        g.append(("SINSTS", "0200"))  # the wrong size: dropped
        g.append(("UMOY2", "230", "E241315120000"))  # month 13: dropped
        g.append(("EASF0s", "000000001"))  # not a label: dropped
    if k % 9 == 0:
        g = [x for x in g if x[0] != "MSG1"]  # absent for a while
    return frame(MODE_STANDARD, g)


def hist(k, adco="031961098836"):
    if k % 6 == 3:  # an overload short frame
        g = [("ADIR1", "063"), ("ADCO", adco), ("IINST1", "063"), ("IINST2", "002"),
             ("IINST3", "003")]  # fmt: skip
        return frame(MODE_HISTORIQUE, g)
    g = [("ADCO", adco), ("OPTARIF", "BBR("), ("ISOUSC", "45"),
         ("BBRHCJB", "%09d" % (1478389 + 2 * k)), ("BBRHPJB", "%09d" % (2478389 + k)),
         ("PTEC", "HPJB" if k % 4 else "HCJW"), ("DEMAIN", "BLEU" if k % 3 else "----"),
         ("IINST1", "002"), ("IINST2", "%03d" % (k % 30)), ("IINST3", "003"),
         ("IMAX1", "060"), ("PMAX", "06520"), ("PAPP", "%05d" % (120 + k % 50)),
         ("HHPHC", "Y"), ("MOTDETAT", "000000"), ("PPOT", "00")]  # fmt: skip
    return frame(MODE_HISTORIQUE, g)


def stream():
    """Standard frames, a corrupt meter id once, a new meter, historique, standard again."""
    out = [std(k) for k in range(40)]
    out.append(std(40, adsc="041776199278"))  # once: not another meter
    out += [std(k) for k in range(41, 50)]
    out += [std(k, adsc="041776199279") for k in range(50, 60)]  # another meter
    out += [hist(k) for k in range(60)]
    out += [std(k) for k in range(60, 80)]
    return out


class Bench:
    def __init__(self):
        self.guard = IndexGuard()
        self.rd = Readings(self.guard)
        self.buf = bytearray(state_json.SIZE)
        self.t = 0
        self.total = 0
        self.p = Parser(on_frame=self.on_frame)

    def on_frame(self, f):
        self.t += 1700
        self.rd.update(f, self.guard.check_frame(f, self.t), self.t)
        self.total += state_json.write(self.rd, self.buf)
        rd = self.rd
        for r in (5, 40, 67):  # the accessors a publisher calls per frame
            self.total += rd.copy_value(r, self.buf) + rd.int_value(r) + rd.copy_meter_id(self.buf)
            self.total += rd.present(r) + rd.changed_since(r, self.t - 1000) + rd.seen(r)


def test_update_and_write_allocate_nothing():
    frames = stream()
    b = Bench()
    for f in frames:  # warm-up: every path once
        b.p.feed(f)
    gens = b.rd.generation
    gc.collect()
    micropython.heap_lock()
    try:
        for f in frames:
            b.p.feed(f)
    finally:
        micropython.heap_unlock()
    assert b.rd.seq == 2 * len(frames)
    # First pass: a new meter, to historique, to standard; the second starts on the meter the
    # first ended with, so a new meter, to historique, to standard again.
    assert (gens, b.rd.generation) == (3, 6), (gens, b.rd.generation)
    assert b.rd.dropped > 0 and b.total > 0


def test_heap_is_flat_over_1000_frames():
    frames = stream()
    b = Bench()
    for f in frames:
        b.p.feed(f)
    gc.collect()
    before = gc.mem_alloc()
    k = 0
    while b.rd.seq < 1000 + len(frames):
        b.p.feed(frames[k % len(frames)])
        k += 1
    gc.collect()
    after = gc.mem_alloc()
    assert after <= before, (before, after)


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
