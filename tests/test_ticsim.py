"""tools/ticsim.py: the simulated meter's frames decode cleanly and its state evolves sensibly.

CPython only (subprocesses, sockets, a pty). Frames are checked with the real parser
(lib/tic/parser.py); expected labels come from tic-protocol.md §5/§6, written out here rather
than taken from ticsim's own tables.
"""

import datetime
import os
import re
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
import ticsim

from tic import MODE_HISTORIQUE, MODE_STANDARD
from tic.encode import checksum
from tic.parser import Parser

ROOT = Path(__file__).resolve().parent.parent
TICSIM = [sys.executable, str(ROOT / "tools" / "ticsim.py")]
CONTRACTS = ("base", "hchp", "tempo", "ejp", "producer")

# Transmission order (tic-protocol.md §5, long frames; §6).
HIST_ORDER = (
    "ADCO OPTARIF ISOUSC BASE HCHC HCHP EJPHN EJPHPM BBRHCJB BBRHPJB BBRHCJW BBRHPJW BBRHCJR "
    "BBRHPJR PEJP PTEC DEMAIN IINST IINST1 IINST2 IINST3 ADPS IMAX IMAX1 IMAX2 IMAX3 PMAX PAPP "
    "HHPHC MOTDETAT PPOT"
).split()
HIST_SHORT_ORDER = "ADIR1 ADIR2 ADIR3 ADCO IINST1 IINST2 IINST3".split()
STD_ORDER = (
    "ADSC VTIC DATE NGTF LTARF EAST EASF01 EASF02 EASF03 EASF04 EASF05 EASF06 EASF07 EASF08 "
    "EASF09 EASF10 EASD01 EASD02 EASD03 EASD04 EAIT ERQ1 ERQ2 ERQ3 ERQ4 IRMS1 IRMS2 IRMS3 URMS1 "
    "URMS2 URMS3 PREF PCOUP SINSTS SINSTS1 SINSTS2 SINSTS3 SMAXSN SMAXSN1 SMAXSN2 SMAXSN3 "
    "SMAXSN-1 SMAXSN1-1 SMAXSN2-1 SMAXSN3-1 SINSTI SMAXIN SMAXIN-1 CCASN CCASN-1 CCAIN CCAIN-1 "
    "UMOY1 UMOY2 UMOY3 STGE DPM1 FPM1 DPM2 FPM2 DPM3 FPM3 MSG1 MSG2 PRM RELAIS NTARF NJOURF "
    "NJOURF+1 PJOURF+1 PPOINTE"
).split()
HIST_INDEX = {
    "base": ["BASE"],
    "producer": ["BASE"],
    "hchp": ["HCHC", "HCHP"],
    "tempo": "BBRHCJB BBRHPJB BBRHCJW BBRHPJW BBRHCJR BBRHPJR".split(),
    "ejp": ["EJPHN", "EJPHPM"],
}
PRODUCER = "EAIT ERQ1 ERQ2 ERQ3 ERQ4 SINSTI SMAXIN SMAXIN-1 CCAIN CCAIN-1".split()
TRI_STD = (
    "IRMS2 IRMS3 URMS2 URMS3 SINSTS1 SINSTS2 SINSTS3 SMAXSN1 SMAXSN2 SMAXSN3 SMAXSN1-1 "
    "SMAXSN2-1 SMAXSN3-1 UMOY2 UMOY3"
).split()


def expected_labels(mode, phases, contract):
    """(always present, never present) label sets for a meter without overload."""
    if mode == "historique":
        want = {"ADCO", "OPTARIF", "ISOUSC", "PTEC", "PAPP", "HHPHC", "MOTDETAT"}
        want |= set(HIST_INDEX[contract])
        if contract == "tempo":
            want.add("DEMAIN")
        if phases == 1:
            want |= {"IINST", "IMAX"}
        else:
            want |= {"IINST1", "IINST2", "IINST3", "IMAX1", "IMAX2", "IMAX3", "PMAX", "PPOT"}
        never = set(STD_ORDER) - {"ADCO"}
        never |= set(HIST_ORDER) - want - {"PEJP", "ADPS"}
        return want, never
    want = set(STD_ORDER) - set(PRODUCER) - set(TRI_STD) - {"MSG2", "PPOINTE"}
    want -= {"DPM1", "FPM1", "DPM2", "FPM2", "DPM3", "FPM3"}
    if contract == "producer":
        want |= set(PRODUCER)
    if phases == 3:
        want |= set(TRI_STD)
    never = set(HIST_ORDER) | (set(PRODUCER) - want) | (set(TRI_STD) - want)
    return want, never


def run(*args):
    return ticsim.generate([str(a) for a in args])


def decode(data):
    """(parser, [frame as a list of (label, horodate, value)], [frame modes])."""
    frames, modes = [], []

    def on_frame(f):
        frames.append(f.groups())
        modes.append(f.mode)
        for i in range(f.n):  # every group the parser keeps must carry a right checksum
            label, hd, value = frames[-1][i]
            if f.mode == MODE_STANDARD:
                covered = label + "\t" + (hd + "\t" if hd is not None else "") + value + "\t"
            else:
                covered = label + " " + value
            assert f.checksum(i) == checksum(covered.encode()), frames[-1][i]

    p = Parser(on_frame=on_frame)
    p.feed(data)
    return p, frames, modes


def table(frames):
    return [{g[0]: (g[2] if g[1] is None else (g[1], g[2])) for g in f} for f in frames]


def is_subsequence(labels, order):
    pos = [order.index(x) for x in labels]
    return pos == sorted(pos)


def stge(row):
    return int(row["STGE"], 16)


def parse_date(hd):
    t = datetime.datetime.strptime(hd[1:], "%y%m%d%H%M%S")
    return t - datetime.timedelta(hours=1 if hd[0] in "Hh" else 2)  # UTC


@pytest.mark.parametrize("contract", CONTRACTS)
@pytest.mark.parametrize("phases", (1, 3))
@pytest.mark.parametrize("mode", ("historique", "standard"))
def test_every_meter_decodes_cleanly(mode, phases, contract):
    data = run("--mode", mode, "--phases", phases, "--contract", contract, "--frames", 50,
               "--seed", 11)  # fmt: skip
    p, frames, modes = decode(data)
    assert (p.frames, p.checksum_errors, p.format_errors, p.interrupted) == (50, 0, 0, 0)
    assert set(modes) == {MODE_HISTORIQUE if mode == "historique" else MODE_STANDARD}
    want, never = expected_labels(mode, phases, contract)
    seen = {g[0] for f in frames for g in f}
    assert want <= seen, sorted(want - seen)
    assert not seen & never, sorted(seen & never)
    order = HIST_ORDER if mode == "historique" else STD_ORDER
    rows = table(frames)
    for f in frames:
        assert is_subsequence([g[0] for g in f], order)
    for r in rows:
        for label, value in r.items():
            v = value if isinstance(value, str) else value[1]
            if label in ("EAST", "BASE", "EAIT") or label in HIST_INDEX[contract]:
                assert re.fullmatch(r"\d{9}", v), (label, v)
        ident = r["ADCO" if mode == "historique" else "ADSC"]
        assert re.fullmatch(r"\d{12}", ident)
        assert ident[4:6] in (("61", "64") if phases == 1 else ("63", "76"))
        if mode == "standard":
            assert re.fullmatch(r"\d{14}", r["PRM"])
            assert r["EAST"] == "%09d" % sum(int(r["EASF%02d" % i]) for i in range(1, 11))
            assert r["EAST"] == "%09d" % sum(int(r["EASD%02d" % i]) for i in range(1, 5))
            assert int(r["NTARF"]) == (stge(r) >> 10 & 15) + 1
            assert stge(r) >> 8 & 1 == (contract == "producer")
            assert stge(r) >> 17 & 1 == 1
    for label in HIST_INDEX[contract] + ["EAST", "EAIT", "ERQ1", "ERQ2", "ERQ3", "ERQ4"]:
        values = [int(r[label]) for r in rows if label in r]
        assert values == sorted(values), label  # indexes never decrease


def test_seed_gives_the_same_bytes_and_seeds_differ():
    args = ["--mode", "standard", "--phases", 3, "--contract", "tempo", "--frames", 20]
    a = run(*args, "--seed", 5)
    assert a == run(*args, "--seed", 5)
    assert a != run(*args, "--seed", 6)
    noisy = ["--ber", "1e-3", "--eot-rate", "0.2", "--switch-after", 7]
    assert run(*args, "--seed", 5, *noisy) == run(*args, "--seed", 5, *noisy)


def test_cli_file_output_equals_generate(tmp_path):
    args = ["--mode", "historique", "--phases", "1", "--contract", "hchp", "--seed", "3"]
    out = tmp_path / "f.tic"
    r = subprocess.run(
        TICSIM + args + ["--out", str(out)], capture_output=True, timeout=60, check=False
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""
    assert out.read_bytes() == run(*args, "--frames", 10)  # default: 10 frames to a file
    r = subprocess.run(
        TICSIM + args + ["--frames", "4"], capture_output=True, timeout=60, check=False
    )
    assert r.stdout == run(*args, "--frames", 4)


def test_standard_energy_follows_power_and_date_advances():
    data = run("--mode", "standard", "--phases", 1, "--contract", "base", "--frames", 50,
               "--seed", 2, "--speedup", 60)  # fmt: skip
    rows = table(decode(data)[1])
    dates = [parse_date(r["DATE"][0]) for r in rows]
    assert all(b > a for a, b in zip(dates, dates[1:]))
    drawn = expected = 0.0
    for a, b, ta, tb in zip(rows, rows[1:], dates, dates[1:]):
        drawn += int(b["EAST"]) - int(a["EAST"])
        expected += int(a["SINSTS"]) * (tb - ta).total_seconds() / 3600  # VA x h
    assert drawn > 0
    assert 0.85 < drawn / expected < 1.02  # active energy = apparent x power factor


def test_historique_energy_follows_power():
    # No DATE in historique: a frame lasts its bytes at 1200 Bd plus a 16.7-33.4 ms gap.
    speedup = 60
    data = run("--mode", "historique", "--phases", 1, "--contract", "base", "--frames", 50,
               "--seed", 4, "--speedup", speedup)  # fmt: skip
    sizes = [len(x) + 1 for x in data.split(b"\x03")[:-1]]
    rows = table(decode(data)[1])
    low = high = drawn = 0.0
    for a, b, size in zip(rows, rows[1:], sizes):
        drawn += int(b["BASE"]) - int(a["BASE"])
        t = size * 10 / 1200
        low += int(a["PAPP"]) * (t + 0.0167) * speedup / 3600
        high += (int(a["PAPP"]) + 5) * (t + 0.0334) * speedup / 3600
    assert 0.85 * low < drawn < high * 1.01


def test_index_that_grows_is_the_current_period():
    # Tempo across 22:00: HPJW then HCJW; only the index named by PTEC grows meanwhile.
    data = run("--mode", "historique", "--phases", 1, "--contract", "tempo", "--frames", 60,
               "--seed", 1, "--speedup", 60, "--start", "2024-01-16T21:30",
               "--days", "W")  # fmt: skip
    rows = table(decode(data)[1])
    assert {r["PTEC"] for r in rows} == {"HPJW", "HCJW"}
    for a, b in zip(rows, rows[1:]):
        for label in HIST_INDEX["tempo"]:
            if label != "BBR" + a["PTEC"]:
                assert a[label] == b[label], (a["PTEC"], label)


def test_tempo_tomorrow_announced_in_the_evening():
    args = ["--phases", 1, "--contract", "tempo", "--seed", 3, "--days", "W,R"]
    hist = table(decode(run("--mode", "historique", "--frames", 100, "--speedup", 100,
                            "--start", "2024-01-16T19:50", *args))[1])  # fmt: skip
    demain = [r["DEMAIN"] for r in hist]
    assert demain[0] == "----" and demain[-1] == "ROUG"
    assert demain == sorted(demain, key=lambda x: x != "----")  # announced once, then kept
    assert [r["PTEC"] for r in hist][:: len(hist) - 1] == ["HPJW", "HCJW"]
    std = table(decode(run("--mode", "standard", "--frames", 60, "--speedup", 100,
                           "--start", "2024-01-16T19:50", *args))[1])  # fmt: skip
    today = {stge(r) >> 24 & 3 for r in std}
    tomorrow = [stge(r) >> 26 & 3 for r in std]
    assert today == {2} and tomorrow[0] == 0 and tomorrow[-1] == 3
    for r in std:
        hour = int(r["DATE"][0][7:9])
        assert (stge(r) >> 26 & 3 == 3) == (hour >= 20)
        assert r["LTARF"].split() == ["HP" if hour < 22 else "HC", "BLANC"]
    # The next day's profile follows the announced colour (red: indexes 5 and 6).
    assert std[-1]["PJOURF+1"].startswith("00004005 06004006 22004005")
    # Next morning at 06:00 the red day starts and tomorrow is unknown again.
    morning = table(decode(run("--mode", "historique", "--frames", 30, "--speedup", 60,
                               "--start", "2024-01-17T05:50", *args))[1])  # fmt: skip
    assert (morning[0]["PTEC"], morning[0]["DEMAIN"]) == ("HCJW", "ROUG")
    assert (morning[-1]["PTEC"], morning[-1]["DEMAIN"]) == ("HPJR", "----")


def test_ejp_notice_then_peak():
    args = ["--contract", "ejp", "--seed", 3, "--speedup", 60, "--start", "2024-01-17T06:10",
            "--days", "P", "--frames", 60]  # fmt: skip
    hist = table(decode(run("--mode", "historique", "--phases", 3, *args))[1])
    states = [(r["PTEC"], r.get("PEJP")) for r in hist]
    assert states[0] == ("HN..", None) and states[-1] == ("PM..", None)
    assert ("HN..", "30") in states
    assert [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]] == [
        ("HN..", None), ("HN..", "30"), ("PM..", None)]  # fmt: skip
    std = table(decode(run("--mode", "standard", "--phases", 1, *args))[1])
    bits = [(stge(r) >> 28 & 3, stge(r) >> 30 & 3, r["NTARF"]) for r in std]
    assert [b for i, b in enumerate(bits) if i == 0 or b != bits[i - 1]] == [
        (0, 0, "01"), (1, 0, "01"), (0, 1, "02")]  # fmt: skip
    notice = [r for r in std if stge(r) >> 28 & 3]
    assert notice and all("PPOINTE" in r for r in notice)
    assert all(r["DPM1"] == (" 240117070000", "00") for r in notice)
    assert all(r["FPM1"] == (" 240118010000", "00") for r in notice)


def test_hchp_relay_and_dry_contact():
    data = run("--mode", "standard", "--phases", 1, "--contract", "hchp", "--frames", 40,
               "--seed", 8, "--speedup", 60, "--start", "2024-07-02T21:45")  # fmt: skip
    rows = table(decode(data)[1])
    for r in rows:
        hc = r["LTARF"].strip() == "HEURE  CREUSE"
        assert r["RELAIS"] == ("001" if hc else "000")
        assert stge(r) & 1 == (0 if hc else 1)  # dry contact closed in off-peak hours
        assert r["NTARF"] == ("01" if hc else "02")
        assert stge(r) >> 14 & 3 == (3 if hc else 2)  # distributor: HCB / HPB in summer
        assert r["DATE"][0][0] == "E"  # summer time
    assert {r["NTARF"] for r in rows} == {"01", "02"}


def test_season_letter_changes_at_dst():
    data = run("--mode", "standard", "--phases", 1, "--contract", "base", "--frames", 30,
               "--seed", 1, "--speedup", 30, "--start", "2024-03-31T01:50")  # fmt: skip
    dates = [r["DATE"][0] for r in table(decode(data)[1])]
    assert dates[0].startswith("H24033101") and dates[-1].startswith("E24033103")
    utc = [parse_date(d) for d in dates]
    assert all(b > a for a, b in zip(utc, utc[1:]))  # no hour lost or repeated in UTC
    degraded = table(decode(run("--mode", "standard", "--phases", 1, "--contract", "base",
                                "--frames", 2, "--seed", 1, "--degraded-clock"))[1])  # fmt: skip
    assert degraded[0]["DATE"][0][0] == "h" and stge(degraded[0]) >> 16 & 1


def test_smaxsn_tracks_the_daily_max():
    data = run("--mode", "standard", "--phases", 3, "--contract", "producer", "--frames", 80,
               "--seed", 6, "--speedup", 30, "--start", "2024-06-30T23:40")  # fmt: skip
    rows = table(decode(data)[1])
    day = [r["DATE"][0][1:7] for r in rows]
    assert day[0] == "240630" and day[-1] == "240701"
    for i, r in enumerate(rows):
        assert int(r["SMAXSN"][1]) >= int(r["SINSTS"])
        assert r["SMAXSN"][0][1:7] == day[i]
        for p in "123":
            assert int(r["SMAXSN" + p][1]) >= int(r["SINSTS" + p])
        if i and day[i] == day[i - 1]:
            assert int(r["SMAXSN"][1]) >= int(rows[i - 1]["SMAXSN"][1])
        elif i:  # midnight: today's max becomes yesterday's
            prev = rows[i - 1]
            assert r["SMAXSN-1"] == prev["SMAXSN"]
            assert r["SMAXSN2-1"] == prev["SMAXSN2"]
            assert r["SMAXIN-1"] == prev["SMAXIN"]


def test_overload_mono_historique_sends_adps():
    data = run("--mode", "historique", "--phases", 1, "--contract", "base", "--frames", 60,
               "--seed", 3, "--overload", "20,30")  # fmt: skip
    rows = table(decode(data)[1])
    flags = ["ADPS" in r for r in rows]
    assert not flags[0] and not flags[-1] and 15 < sum(flags) < 30  # ~30 s of 1.3 s frames
    first, last = flags.index(True), len(flags) - flags[::-1].index(True)
    assert all(flags[first:last])  # one continuous episode
    for r in rows:
        over = int(r["IINST"]) > int(r["ISOUSC"])
        assert ("ADPS" in r) == over
        if over:
            assert r["ADPS"] == r["IINST"]


def test_overload_tri_historique_short_frames():
    data = run("--mode", "historique", "--phases", 3, "--contract", "hchp", "--frames", 160,
               "--seed", 3, "--overload", "20,30")  # fmt: skip
    p, frames, _ = decode(data)
    assert p.checksum_errors == p.format_errors == 0
    kinds = ""
    for f in frames:
        labels = [g[0] for g in f]
        if "OPTARIF" in labels:
            kinds += "L"
        else:
            assert is_subsequence(labels, HIST_SHORT_ORDER)
            assert labels[-4:] == ["ADCO", "IINST1", "IINST2", "IINST3"]
            kinds += "S" if labels[0].startswith("ADIR") else "s"
            for g in f:
                if g[0].startswith("ADIR"):  # the phase's current, over ISOUSC
                    assert g[2] == dict((x[0], x[2]) for x in f)["IINST" + g[0][-1]]
    assert kinds.startswith("L") and kinds.endswith("LLL")
    # While over and for 1 minute after: 20 short frames, 1 long frame, and again.
    middle = kinds[kinds.index("S") : kinds.rindex("s") + 1]
    assert set(middle.split("L")[-1]) == {"s"}
    runs = middle.split("L")
    assert all(len(x) == 20 for x in runs[:-1]) and 0 < len(runs[-1]) <= 20
    assert "S" in runs[1] or len(runs) > 2
    isousc = int(table(frames)[0]["ISOUSC"])
    for f in frames:
        for g in f:
            if g[0].startswith("ADIR"):
                assert int(g[2]) > isousc


def test_overload_standard_sets_stge_bit_7():
    data = run("--mode", "standard", "--phases", 3, "--contract", "base", "--frames", 80,
               "--seed", 3, "--overload", "20,30")  # fmt: skip
    rows = table(decode(data)[1])
    bits = [stge(r) >> 7 & 1 for r in rows]
    assert bits[0] == 0 and bits[-1] == 0 and 20 < sum(bits) < 40
    assert "ADIR1" not in {k for r in rows for k in r}  # no short frames in standard
    for r, b in zip(rows, bits):
        pref = int(r["PREF"]) * 1000 // 3
        assert b == any(int(r["SINSTS" + p]) > pref for p in "123")


def test_bit_errors_are_caught_and_never_reported_as_valid():
    args = ["--mode", "standard", "--phases", 1, "--contract", "tempo", "--frames", 60,
            "--seed", 9]  # fmt: skip
    clean = run(*args)
    noisy = run(*args, "--ber", "1e-3")
    assert len(noisy) == len(clean)
    flips = sum(bin(a ^ b).count("1") for a, b in zip(clean, noisy))
    assert 0.6 < flips / (7e-3 * len(clean)) < 1.4
    assert max(noisy) < 0x80  # only the 7 data bits
    control = [i for i, b in enumerate(clean) if b in b"\x02\x03\n\r\t"]
    assert any(clean[i] != noisy[i] for i in control)  # control bytes are hit too
    p = decode(noisy)[0]  # decode() re-verifies every reported checksum
    assert p.checksum_errors > 10
    assert p.groups > 0.5 * decode(clean)[0].groups


def test_8n1_sets_the_parity_bit():
    args = ["--mode", "historique", "--phases", 1, "--contract", "base", "--frames", 5]
    args += ["--seed", 1]
    plain = run(*args)
    raw = run(*args, "--8n1")
    assert bytes(b & 0x7F for b in raw) == plain
    assert all(bin(b).count("1") % 2 == 0 for b in raw)
    assert decode(raw)[0].frames == 5


def test_switch_after_changes_mode():
    data = run("--mode", "historique", "--phases", 1, "--contract", "ejp", "--frames", 30,
               "--seed", 2, "--switch-after", 12)  # fmt: skip
    p, frames, modes = decode(data)
    assert p.checksum_errors == 0 and p.frames == 30
    assert modes == [MODE_HISTORIQUE] * 12 + [MODE_STANDARD] * 18
    rows = table(frames)
    # The same meter: same serial and indexes continue across the switch.
    assert rows[11]["ADCO"] == rows[12]["ADSC"]
    assert int(rows[11]["EJPHN"]) <= int(rows[12]["EASF01"]) < int(rows[11]["EJPHN"]) + 100


def test_eot_interrupts_frames():
    data = run("--mode", "historique", "--phases", 1, "--contract", "tempo", "--frames", 40,
               "--seed", 2, "--eot-rate", "0.3")  # fmt: skip
    p = decode(data)[0]
    assert data.count(b"\x04") == p.interrupted > 3
    assert p.frames + p.interrupted == 40
    assert p.checksum_errors == p.format_errors == 0
    assert b"\r\x04\x02" in data  # cut after a group, next frame right after


def test_historique_producer_is_a_base_meter():
    r = subprocess.run(TICSIM + ["--mode", "historique", "--phases", "1", "--contract",
                                 "producer", "--seed", "1", "--frames", "3"],
                       capture_output=True, timeout=60, check=False)  # fmt: skip
    assert r.returncode == 0
    assert b"no producer labels" in r.stderr
    rows = table(decode(r.stdout)[1])
    assert rows[0]["OPTARIF"] == "BASE" and rows[0]["PTEC"] == "TH.."


@pytest.mark.slow  # real time
def test_realtime_runs_at_9600():
    r = subprocess.run(TICSIM + ["--mode", "standard", "--phases", "1", "--contract", "base",
                                 "--seed", "1", "--frames", "2", "--realtime"],
                       capture_output=True, timeout=60, check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert decode(r.stdout)[0].frames == 2


def test_tcp_listen_streams_to_a_client():
    import socket

    args = ["--mode", "standard", "--phases", "3", "--contract", "hchp", "--seed", "4"]
    proc = subprocess.Popen(TICSIM + args + ["--frames", "5", "--out", "tcp-listen:0"],
                            stderr=subprocess.PIPE)  # fmt: skip
    try:
        line = proc.stderr.readline().decode()
        m = re.match(r"ticsim: listening on 127\.0\.0\.1:(\d+)$", line.strip())
        assert m, line
        got = b""
        with socket.create_connection(("127.0.0.1", int(m.group(1))), timeout=30) as s:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    assert got == run(*args, "--frames", 5)


def test_tty_output_is_raw_and_switches_baud():
    master, slave = os.openpty()
    try:
        args = ["--mode", "historique", "--phases", "1", "--contract", "base", "--seed", "1"]
        proc = subprocess.Popen(TICSIM + args + ["--frames", "4", "--switch-after", "2",
                                                 "--out", os.ttyname(slave)])  # fmt: skip
        got = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                got += os.read(master, 65536)
            elif proc.poll() is not None:
                break
        assert proc.wait(timeout=10) == 0
        attrs = termios.tcgetattr(slave)
    finally:
        os.close(master)
        os.close(slave)
    assert got == run(*args, "--frames", 4, "--switch-after", 2)  # no LF -> CR LF mapping
    assert attrs[1] == 0 and attrs[4] == attrs[5] == termios.B9600  # standard after the switch


@pytest.mark.parametrize(
    "argv",
    [
        ["--mode", "historique", "--phases", "2", "--contract", "base"],
        ["--mode", "historique", "--phases", "1", "--contract", "flat"],
        ["--phases", "1", "--contract", "base"],
        ["--mode", "standard", "--phases", "1", "--contract", "base", "--ber", "2"],
        ["--mode", "standard", "--phases", "1", "--contract", "base", "--days", "R"],
        ["--mode", "standard", "--phases", "1", "--contract", "tempo", "--days", "X"],
        ["--mode", "standard", "--phases", "1", "--contract", "base", "--start", "soon"],
        ["--mode", "standard", "--phases", "1", "--contract", "base", "--out", "tcp-listen:x"],
        ["--mode", "standard", "--phases", "1", "--contract", "base", "--overload", "a,b"],
        ["--mode", "standard", "--phases", "1", "--contract", "base", "--frames", "-1"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv):
    r = subprocess.run(TICSIM + argv, capture_output=True, timeout=60, check=False)
    assert r.returncode == 2
    assert r.stdout == b""
    assert r.stderr.count(b"\n") == 1 and r.stderr.startswith(b"ticsim: error: ")
