"""tools/ticdump.py: same output on CPython and on the MicroPython unix port, JSON contract,
--check-alloc, --bench and errors."""

import json
import subprocess
import sys

import pytest

import upy

ROOT = upy.ROOT
CAPTURES = sorted((ROOT / "tests/fixtures/captures").glob("*.raw"))
TICDUMP = str(ROOT / "tools/ticdump.py")


def run(interp, *args, stdin=None):
    if interp == "micropython":
        cmd = [upy.require_micropython(), "-X", "heapsize=4M", TICDUMP, *args]
        env = upy.env_with(".frozen")  # ticdump finds lib/ itself
    else:
        cmd = [sys.executable, TICDUMP, *args]
        env = None
    return subprocess.run(cmd, input=stdin, capture_output=True, env=env, check=False, cwd="/")


@pytest.mark.parametrize("decode", [False, True], ids=["plain", "decode"])
@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.stem)
def test_same_output_on_both_interpreters(capture, decode):
    args = (["--decode"] if decode else []) + [str(capture)]
    cp = run("cpython", *args)
    mp = run("micropython", *args)
    assert cp.returncode == 0 and mp.returncode == 0, (cp.stderr, mp.stderr)
    assert cp.stdout == mp.stdout
    lines = [json.loads(line) for line in cp.stdout.splitlines()]
    assert "stats" in lines[-1]
    for frame in lines[:-1]:
        assert frame["mode"] in ("historique", "standard")
        assert all(
            ("horodate" in g) == (len(g.get("horodate", "")) == 13) for g in frame["groups"]
        )


def test_json_groups_are_byte_for_byte_and_horodate_only_when_present():
    capture = ROOT / "tests/fixtures/captures/std-tri-tempo-teleinfo-nom.raw"
    out = [json.loads(x) for x in run("cpython", str(capture)).stdout.splitlines()]
    frame, stats = out[0], out[-1]["stats"]
    assert len(out) == 2 and frame["mode"] == "standard" and len(frame["groups"]) == 55
    by_label = {g["label"]: g for g in frame["groups"]}
    assert by_label["DATE"] == {"label": "DATE", "horodate": "H200214230804", "value": ""}
    assert by_label["EAST"] == {"label": "EAST", "value": "021849106"}
    assert by_label["NGTF"]["value"] == "     TEMPO      "  # padding kept
    assert by_label["DPM1"]["horodate"] == " 200214060000"
    assert stats["frames"] == 1 and set(stats) == {
        "frames", "groups", "checksum_errors", "format_errors", "interrupted", "ignored",
        "bytes",
    }  # fmt: skip


def test_decode_adds_typed_values():
    capture = ROOT / "tests/fixtures/captures/std-tri-tempo-teleinfo-nom.raw"
    frame = json.loads(run("cpython", "--decode", str(capture)).stdout.splitlines()[0])
    by_label = {g["label"]: g["decoded"] for g in frame["groups"]}
    assert by_label["EAST"] == {"value": 21849106, "unit": "Wh"}
    assert by_label["STGE"]["value"]["tempo_today"] == "white"
    assert by_label["DATE"]["value"] == "2020-02-14T23:08:04+01:00"
    assert frame["frame"]["tempo"] == {"today": "white", "tomorrow": "blue"}


def test_stdin_and_forced_mode():
    capture = ROOT / "tests/fixtures/captures/hist-mono-tempo-teleinfo-nom.raw"
    data = capture.read_bytes()
    for interp in ("cpython", "micropython"):
        out = run(interp, "-", stdin=data).stdout.splitlines()
        assert len(json.loads(out[0])["groups"]) == 16
        forced = run(interp, "--mode", "standard", "-", stdin=data).stdout.splitlines()
        assert json.loads(forced[0])["groups"] == []  # every group is of the other mode


@pytest.mark.parametrize(
    "capture", ["std-tri-tempo-stream-errors-teleinfo-nom.raw", "hist-mono-tempo-teleinfo-nom.raw"]
)
def test_check_alloc_passes_on_micropython(capture):
    r = run("micropython", "--check-alloc", str(ROOT / "tests/fixtures/captures" / capture))
    assert r.returncode == 0, r.stdout + r.stderr
    result = json.loads(r.stdout)
    assert result["check_alloc"] == "ok" and result["frames"] >= 1 and result["heap_growth"] == 0


def test_check_alloc_needs_micropython():
    r = run("cpython", "--check-alloc", str(CAPTURES[0]))
    assert r.returncode == 2 and r.stderr.count(b"\n") == 1


@pytest.mark.parametrize("interp", ["cpython", "micropython"])
def test_bench_prints_one_json_line(interp):
    capture = ROOT / "tests/fixtures/captures/std-mono-hchp-goteleinfo.raw"
    r = run(interp, "--bench", str(capture))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert {"bytes_per_s", "floor_bytes_per_s", "ratio"} <= set(result)
    assert result["bytes_per_s"] > 0 and result["floor_bytes_per_s"] > 0
    if interp == "micropython":
        assert result["heap_bytes_per_frame"] == 0


@pytest.mark.parametrize("interp", ["cpython", "micropython"])
@pytest.mark.parametrize(
    "args",
    [["--mode", "fast", "x"], ["--nope", "x"], [], ["a", "b"], ["/nonexistent/capture"]],
    ids=["bad-mode", "unknown-option", "no-input", "two-inputs", "unreadable"],
)
def test_bad_arguments_exit_2_with_one_line(interp, args):
    r = run(interp, *args)
    assert r.returncode == 2
    assert r.stdout == b"" and r.stderr.count(b"\n") == 1 and r.stderr.startswith(b"ticdump: ")


@pytest.mark.parametrize("contract", ["base", "hchp", "tempo", "ejp", "producer"])
@pytest.mark.parametrize("phases", ["1", "3"])
@pytest.mark.parametrize("mode", ["historique", "standard"])
def test_50_frame_ticsim_file_decodes_without_checksum_error(tmp_path, mode, phases, contract):
    """Issue 4's acceptance check: every simulated meter, end to end through ticdump."""
    path = tmp_path / "tic.raw"
    sim = [sys.executable, str(ROOT / "tools/ticsim.py"), "--mode", mode, "--phases", phases]
    sim += ["--contract", contract, "--frames", "50", "--seed", "7", "--out", str(path)]
    subprocess.run(sim, check=True, capture_output=True)
    r = run("cpython", "--decode", str(path))
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    stats = lines[-1]["stats"]
    assert stats["frames"] == 50 and len(lines) == 51
    assert stats["checksum_errors"] == 0 and stats["format_errors"] == 0
    for frame in lines[:-1]:
        assert frame["mode"] == mode
        assert not any("error" in g["decoded"] for g in frame["groups"]), frame
