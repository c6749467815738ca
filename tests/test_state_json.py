# micropython: also
"""firmware/state_json.py: the `~/state` payload. Every value equals what tools/ticdump.py
--decode gives for the same bytes, for every capture and ticsim streams of every mode, phase
count and contract (those run on CPython: ticsim and ticdump are host tools); formatting
details, the buffer bound (SIZE) and errors run on both interpreters."""

import json
import sys

from firmware import state_json
from firmware.readings import ABSENT_AFTER, Readings
from tic import MODE_HISTORIQUE, MODE_STANDARD, decode
from tic import labels as lbl
from tic.encode import frame
from tic.guard import IndexGuard
from tic.parser import Parser
from tic_helpers import CAPTURES

# Seconds each: make test runs them, make check does not (conftest.py).
SLOW_TESTS = ("test_ticsim_streams_equal_ticdump_decode",)

CPYTHON = sys.implementation.name != "micropython"
DECODED = ("time", "period", "tempo_today", "tempo_tomorrow", "contact_open", "cutoff",
           "overvoltage", "overpower", "producer", "tariff_index")  # fmt: skip
STRUCTURED = ("ADCO", "ADSC", "STGE", "PPOT", "RELAIS", "PJOURF+1", "PPOINTE")


class Meter:
    """Parser, guard, store and writer as the firmware wires them. `states` gets one entry per
    frame the parser reports: the state as a dict, or None for a frame with no valid group
    (the reader does not pass those on)."""

    def __init__(self, size=state_json.SIZE):
        self.guard = IndexGuard()
        self.rd = Readings(self.guard)
        self.buf = bytearray(size)
        self.t = 0
        self.states = []
        self.p = Parser(on_frame=self._on)

    def _on(self, f):
        if not f.n:
            self.states.append(None)
            return
        self.t += 1000
        self.rd.update(f, self.guard.check_frame(f, self.t), self.t)
        self.states.append(self.state())

    def state(self):
        n = state_json.write(self.rd, self.buf)
        return json.loads(bytes(self.buf[:n]))

    def feed(self, data, chunk=256):
        for k in range(0, len(data), chunk):
            self.p.feed(data[k : k + chunk])
        return self.states[-1] if self.states else None

    def frames(self, mode, groups, times=3):
        for _ in range(times):  # the meter id and indexes need a frame or two to confirm
            self.feed(frame(mode, groups), 4096)
        return self.states[-1]


STD = [("ADSC", "041776199277"), ("VTIC", "02"), ("DATE", "", "E240715183005"),
       ("NGTF", "     TEMPO      "), ("LTARF", "    HP  BLEU    "), ("EAST", "000001000"),
       ("SINSTS", "00420"), ("SMAXSN", "05000", "h240115120000"),
       ("DPM1", "01", " 240716060000"), ("STGE", "4D3A4301"), ("RELAIS", "009"),
       ("NTARF", "02"), ("MSG1", 'A "B"\\ C   D                   ')]  # fmt: skip


def test_formatting_of_every_kind():
    s = Meter().frames(MODE_STANDARD, STD)
    assert s["ADSC"] == "041776199277" and s["VTIC"] == "02"
    assert s["DATE"] == s["time"] == "2024-07-15T18:30:05+02:00"
    assert s["NGTF"] == "TEMPO" and s["period"] == "HP BLEU" and s["LTARF"] == "HP BLEU"
    assert s["EAST"] == 1000 and s["SINSTS"] == 420 and s["RELAIS"] == 9 and s["DPM1"] == 1
    assert s["SMAXSN_time"] == "2024-01-15T12:00:00+01:00"  # h: winter, degraded clock
    assert s["DPM1_time"] == "2024-07-16T06:00:00"  # no season: no offset
    assert s["STGE"] == "4D3A4301" and s["MSG1"] == 'A "B"\\ C D'
    assert s["tempo_today"] == "blue" and s["tempo_tomorrow"] == "red"
    assert s["contact_open"] is True and s["cutoff"] == "closed" and s["producer"] is True
    assert s["overvoltage"] is False and s["overpower"] is False and s["tariff_index"] == 2


def test_stge_fields_and_absent_values():
    g = [("ADSC", "041776199277"), ("STGE", "000000CE")]  # cut-off code 7; no Tempo colours
    s = Meter().frames(MODE_STANDARD, g)
    assert "cutoff" not in s and "tempo_today" not in s and "tempo_tomorrow" not in s
    assert s["overvoltage"] is True and s["overpower"] is True and s["contact_open"] is False
    assert "time" not in s and "period" not in s and "tariff_index" not in s
    g = [("ADSC", "041776199277"), ("STGE", "01000002")]  # today blue, tomorrow unknown
    s = Meter().frames(MODE_STANDARD, g)
    assert s["tempo_today"] == "blue" and "tempo_tomorrow" not in s
    assert s["cutoff"] == "open_overpower"


def test_historique_decoded_fields():
    g = [("ADCO", "031961098836"), ("OPTARIF", "BBR("), ("BBRHCJB", "000001000"),
         ("PTEC", "HCJW"), ("DEMAIN", "ROUG"), ("IINST", "002")]  # fmt: skip
    s = Meter().frames(MODE_HISTORIQUE, g)
    assert s["period"] == "HCJW" and s["tempo_today"] == "white"
    assert s["tempo_tomorrow"] == "red" and s["overpower"] is False and s["BBRHCJB"] == 1000
    s = Meter().frames(MODE_HISTORIQUE, g[:4] + [("DEMAIN", "----"), ("ADPS", "045")])
    assert s["tempo_today"] == "white" and "tempo_tomorrow" not in s
    assert s["overpower"] is True and s["ADPS"] == 45
    s = Meter().frames(MODE_HISTORIQUE, [("ADCO", "031961098836"), ("PTEC", "HC..")])
    assert s["period"] == "HC.." and "tempo_today" not in s and "tempo_tomorrow" not in s


def test_an_empty_store_and_a_buffer_too_small():
    m = Meter()
    assert m.state() == {}
    m.frames(MODE_STANDARD, STD)
    n = state_json.write(m.rd, m.buf)
    small = bytearray(n - 1)
    try:
        state_json.write(m.rd, small)
    except ValueError:
        pass
    else:
        raise AssertionError("no ValueError")
    assert len(small) == n - 1  # the buffer did not grow
    exact = bytearray(n)
    assert state_json.write(m.rd, exact) == n and bytes(exact) == bytes(m.buf[:n])


def widest_standard_frame():
    """Every standard label at once, each at its widest: ints all 9s (no zero to drop), hex
    all Fs, text all '"' (each escaped: two bytes), every horodate."""
    g = []
    for r in range(lbl.COUNT):
        if lbl.mode(r) != MODE_STANDARD:
            continue
        name = lbl.name(r)
        size = lbl.size(r)
        kind = lbl.kind(r)
        if name == "ADSC":
            v = "041776199277"
        elif name == "STGE":
            v = "FFFFFFCB"  # cut-off 5: the longest name; both Tempo colours
        elif kind == lbl.KIND_INT:
            v = "9" * size
        elif kind == lbl.KIND_HEX:
            v = "F" * size
        else:
            v = '"' * size
        g.append((name, v, "E240715183005") if lbl.flags(r) & lbl.F_HORODATE else (name, v))
    return frame(MODE_STANDARD, g)


def test_size_bounds_the_widest_payload():
    m = Meter(size=8192)
    data = widest_standard_frame()
    for _ in range(3):
        m.feed(data, 4096)
    n = state_json.write(m.rd, m.buf)
    assert m.rd.dropped == 0 and len(m.states[-1]) > 100
    assert n <= state_json.SIZE, n
    print("widest payload:", n, "bytes; SIZE", state_json.SIZE)


# -- against ticdump --decode (CPython: ticsim and ticdump are host tools) -------------------


def _iso(h):
    return decode.horodate(h)["iso"]


def _expected_decoded(view, hods, mode):
    """The decoded fields from tic.decode, on the raw values the store holds."""
    out = {}
    if "DATE" in hods:
        out["time"] = _iso(hods["DATE"])
    p = view.get("PTEC", view.get("LTARF"))
    if p is not None:
        out["period"] = decode.trim(p)
    t = decode.tempo(view)
    if t:
        if t["today"]:
            out["tempo_today"] = t["today"]
        if t["tomorrow"]:
            out["tempo_tomorrow"] = t["tomorrow"]
    if mode == MODE_HISTORIQUE:
        over = decode.overload(view)
        out["overpower"] = "ADPS" in view or bool(over and over["over"])
    if "STGE" in view:
        st = decode.stge(view["STGE"])
        out["contact_open"] = st["dry_contact"] == "open"
        if st["breaker"]:
            out["cutoff"] = st["breaker"]
        out["overvoltage"] = st["overvoltage"]
        out["overpower"] = st["overload"]
        out["producer"] = st["producer"]
    if "NTARF" in view:
        out["tariff_index"] = decode.decode_group("NTARF", view["NTARF"])["value"]
    return out


def fits(r, last):
    """Does a value tic.decode accepts also fit the store's width rule (ints and hex exactly
    `size` characters; decode takes any length)?"""
    raw = last[0]
    return lbl.kind(r) == lbl.KIND_TEXT or len(raw) == lbl.size(r) or lbl.name(r) == "ADSC"


SEEN = set()  # (mode, decoded key, value) that compare() met


def compare(data, where):
    """Feed data to the store and to ticdump --decode (in process); check every state."""
    import io

    import ticdump

    m = Meter()
    m.feed(data)
    out = io.StringIO()
    real = sys.stdout
    sys.stdout = out
    try:
        rc = ticdump.dump(io.BytesIO(data), {"decode": True, "mode": 0})
    finally:
        sys.stdout = real
    assert rc is None
    lines = [json.loads(x) for x in out.getvalue().splitlines()[:-1]]
    assert len(lines) == len(m.states), where
    last = {}  # label -> (raw value, horodate, decoded, history of decoded values)
    age = {}
    hist_index = {}
    mode = 0
    checked = 0
    for k, (line, state) in enumerate(zip(lines, m.states)):
        groups = line["groups"]
        if state is None:
            assert not groups
            continue
        fmode = 1 if line["mode"] == "historique" else 2
        if fmode != mode:
            last.clear()
            age.clear()
            mode = fmode
        short = all(lbl.flags(lbl.index(g["label"])) & lbl.F_SHORT for g in groups)
        short = short and fmode == MODE_HISTORIQUE
        for label in list(age):
            if not short:
                age[label] += 1
        for g in groups:
            d = g["decoded"]
            if "error" in d or lbl.index(g["label"]) < 0:
                continue  # the store drops it (counted): it keeps its older value, if any
            label = g["label"]
            hist_index.setdefault((where, label), set()).add(str(d["value"]))
            last[label] = (g["value"], g.get("horodate"), d)
            age[label] = 0
        view = {}
        hods = {}
        for key, v in state.items():
            if key in DECODED or key.endswith("_time"):
                continue
            assert key in last and age[key] < ABSENT_AFTER, (where, k, key)
            raw, h, d = last[key]
            r = lbl.index(key)
            view[key] = raw
            if h is not None:
                hods[key] = h
            if lbl.flags(r) & lbl.F_GUARDED:
                assert str(v) in hist_index[(where, key)], (where, k, key, v)
                prev = hist_index.get((where, key, "published"), 0)
                assert v >= prev, (where, k, key, prev, v)
                hist_index[(where, key, "published")] = v
                view[key] = "%09d" % v
                continue
            if key in STRUCTURED:
                want = int(raw) if key == "RELAIS" else decode.trim(raw)
            else:
                want = d["value"]
            assert v == want, (where, k, key, v, want)
            if h is not None and key != "DATE":
                assert state[key + "_time"] == d["time"], (where, k, key)
            checked += 1
        for key in state:
            if key.endswith("_time"):
                assert key[:-5] in hods, (where, k, key)
        # Every label of this frame is in the state (indexes once confirmed, the meter id
        # once confirmed, and after it, since a new id restarts the store).
        if "ADSC" in state or "ADCO" in state:
            for label, seen in last.items():
                r = lbl.index(label)
                if age[label] == 0 and not lbl.flags(r) & lbl.F_GUARDED and fits(r, seen):
                    assert label in state, (where, k, label)
        want = _expected_decoded(view, hods, fmode)
        got = {key: state[key] for key in DECODED if key in state}
        assert got == want, (where, k, got, want)
        for key, v in got.items():
            if key not in ("time", "period", "tariff_index"):
                SEEN.add((fmode, key, v))
        tempo = line["frame"].get("tempo")
        if (
            tempo
            and ("PTEC" in state or "STGE" in state)
            and all(age.get(x, 9) == 0 for x in ("PTEC", "DEMAIN", "STGE") if x in state)
        ):
            assert state.get("tempo_today") == tempo["today"], (where, k)
            assert state.get("tempo_tomorrow") == tempo["tomorrow"], (where, k)
    return checked


def test_captures_equal_ticdump_decode():
    if not CPYTHON:
        return
    import os

    for name in sorted(os.listdir(CAPTURES)):
        if name.endswith(".raw"):
            with open(CAPTURES + name, "rb") as f:
                compare(f.read(), name)


# Tempo days that show every colour today and tomorrow (the day turns at 06:00; tomorrow's
# colour is announced during the day).
TEMPO_DAYS = (["--days", "W,R", "--start", "2024-01-17T05:59:30"],
              ["--days", "B,W", "--start", "2024-01-16T21:55:00"],
              ["--days", "R,B", "--start", "2024-01-16T21:55:00"])  # fmt: skip


def test_ticsim_streams_equal_ticdump_decode():
    if not CPYTHON:
        return
    import ticsim

    checked = 0
    for mode in ("historique", "standard"):
        for phases in ("1", "3"):
            for contract in ("base", "hchp", "tempo", "ejp", "producer"):
                args = ["--mode", mode, "--phases", phases, "--contract", contract,
                        "--frames", "40", "--seed", "11", "--overload", "20,30"]  # fmt: skip
                for extra in TEMPO_DAYS if contract == "tempo" else ([],):
                    checked += compare(ticsim.generate(args + extra), " ".join(args + extra))
    assert checked > 15000, checked
    for mode in (MODE_HISTORIQUE, MODE_STANDARD):  # the streams show every colour, overloads
        for colour in ("blue", "white", "red"):
            assert (mode, "tempo_today", colour) in SEEN, (mode, colour)
            assert (mode, "tempo_tomorrow", colour) in SEEN, (mode, colour)
        assert (mode, "overpower", True) in SEEN and (mode, "overpower", False) in SEEN
    assert (MODE_STANDARD, "producer", True) in SEEN


def test_ticsim_at_ber_1e3_and_a_mode_switch_equal_ticdump_decode():
    if not CPYTHON:
        return
    import ticsim

    for args in (["--mode", "standard", "--phases", "3", "--contract", "producer"],
                 ["--mode", "historique", "--phases", "3", "--contract", "tempo"]):  # fmt: skip
        data = ticsim.generate(
            args + ["--frames", "150", "--ber", "1e-3", "--seed", "3", "--switch-after", "60"]
        )
        compare(data, " ".join(args))


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
