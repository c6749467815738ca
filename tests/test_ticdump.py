"""tools/ticdump.py: same output on CPython and on the MicroPython unix port, JSON contract,
--check-alloc, --bench, streaming in constant memory, --help, read and write errors."""

import json
import os
import subprocess
import sys

import pytest
import ticdump
import ticsim

import upy

ROOT = upy.ROOT
CAPTURES = sorted((ROOT / "tests/fixtures/captures").glob("*.raw"))
TICDUMP = str(ROOT / "tools/ticdump.py")
CAPTURES_DIR = ROOT / "tests/fixtures/captures"
INTERPRETERS = ["cpython", "micropython"]


def command(interp, *args, heap="4M"):
    """(argv, env) that run ticdump on interp; heap: the unix port's heap size."""
    if interp == "micropython":
        cmd = [upy.require_micropython(), "-X", "heapsize=" + heap, TICDUMP, *args]
        return cmd, upy.env_with(".frozen")  # ticdump finds lib/ itself
    return [sys.executable, TICDUMP, *args], None


def run(interp, *args, stdin=None, heap="4M", stdout=subprocess.PIPE):
    cmd, env = command(interp, *args, heap=heap)
    return subprocess.run(
        cmd, input=stdin, stdout=stdout, stderr=subprocess.PIPE, env=env, check=False, cwd="/"
    )


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


@pytest.mark.slow  # timing loops: about 2 s each, by design
@pytest.mark.parametrize("interp", INTERPRETERS)
def test_bench_prints_one_json_line(interp):
    capture = ROOT / "tests/fixtures/captures/std-mono-hchp-goteleinfo.raw"
    r = run(interp, "--bench", str(capture))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert {"bytes_per_s", "floor_bytes_per_s", "ratio"} <= set(result)
    assert result["bytes_per_s"] > 0 and result["floor_bytes_per_s"] > 0
    assert result["bytes"] == capture.stat().st_size and result["frames"] == 1
    if interp == "micropython":
        assert result["heap_bytes_per_frame"] == 0


@pytest.mark.parametrize("interp", INTERPRETERS)
@pytest.mark.parametrize(
    "args",
    [["--mode", "fast", "x"], ["--nope", "x"], [], ["a", "b"], ["/nonexistent/capture"],
     [str(CAPTURES_DIR)]],
    ids=["bad-mode", "unknown-option", "no-input", "two-inputs", "unreadable", "directory"],
)  # fmt: skip
def test_bad_arguments_exit_2_with_one_line(interp, args):
    r = run(interp, *args)
    assert r.returncode == 2
    assert r.stdout == b"" and r.stderr.count(b"\n") == 1 and r.stderr.startswith(b"ticdump: ")


# --- large inputs: streamed through one buffer, in constant memory ------------------------------

SMALL_HEAP = "256K"  # the unix port's heap for --check-alloc on the ~1 MB input


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    """About 1 MB of real, noisy line (a capture repeated 94 times): (path, bytes)."""
    data = (CAPTURES_DIR / "std-tri-tempo-stream-errors-teleinfo-nom.raw").read_bytes() * 94
    path = tmp_path_factory.mktemp("ticdump") / "big.raw"
    path.write_bytes(data)
    return path, data


@pytest.fixture(scope="module")
def big(big_file):
    """big_file and CPython's output for it; the unix port gets a fraction of that as heap, so
    only a streaming ticdump copes. (Decoding it takes CPython about half a second: tests that
    need only the file take big_file.)"""
    path, data = big_file
    r = run("cpython", str(path))
    assert r.returncode == 0, r.stderr
    stats = json.loads(r.stdout.splitlines()[-1])["stats"]
    assert stats["bytes"] == len(data) and stats["frames"] > 700
    return path, data, r.stdout, stats


@pytest.mark.parametrize("how", ["file", "stdin"])
def test_check_alloc_streams_a_large_input_with_the_heap_locked(big, how):
    path, data, _out, stats = big
    args, stdin = ([str(path)], None) if how == "file" else (["-"], data)
    r = run("micropython", "--check-alloc", *args, stdin=stdin, heap=SMALL_HEAP)
    assert r.returncode == 0 and r.stderr == b"", r.stdout + r.stderr
    result = json.loads(r.stdout)
    assert result == {
        "check_alloc": "ok", "frames": stats["frames"], "bytes": len(data), "heap_growth": 0,
    }  # fmt: skip


def test_check_alloc_finds_an_allocation(tmp_path):
    """The check has teeth: a consumer that makes a string per frame fails it (exit 1)."""
    script = tmp_path / "leaky.py"
    script.write_text(
        "import sys\n"
        "import ticdump\n"
        "def leaky(acc):\n"
        "    def on_frame(f):\n"
        "        acc[0] += 1\n"
        "        acc[1] = f.label(0)\n"  # a new str
        "    return on_frame\n"
        "ticdump._consumer = leaky\n"
        "sys.exit(ticdump.main(['--check-alloc', %r]))\n" % str(CAPTURES[0])
    )
    proc = upy.run([script], upy.micropypath(ROOT / "tools"), heap="4M", timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["check_alloc"] == "allocated"


@pytest.mark.slow  # about 1.5 s of decoding on the unix port, 3 MB of JSON compared
def test_plain_decoding_streams_a_large_input(big):
    path, _data, cp_out, _stats = big
    r = run("micropython", str(path), heap="512K")
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    assert r.stdout == cp_out


@pytest.mark.slow  # timing loops, about 3 s
@pytest.mark.parametrize("interp", INTERPRETERS)
def test_bench_takes_a_bounded_sample_of_a_large_input(big, interp):
    path, _data, _out, _stats = big
    r = run(interp, "--bench", str(path), heap="512K")
    assert r.returncode == 0 and r.stderr == b"", r.stdout + r.stderr
    result = json.loads(r.stdout)
    assert result["bytes"] == 256 * 1024 and result["frames"] > 100
    if interp == "micropython":
        assert result["heap_bytes_per_frame"] == 0


def test_out_of_memory_is_one_line():
    r = run("micropython", "--decode", str(CAPTURES_DIR / "std-tri-tempo-teleinfo-nom.raw"),
            heap="96K")  # fmt: skip
    assert r.returncode == 2 and r.stdout == b""
    assert r.stderr == b"ticdump: out of memory (MicroPython: a larger -X heapsize)\n"


# --- help, and errors on the output side --------------------------------------------------------


@pytest.mark.parametrize("interp", INTERPRETERS)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_exits_0_with_the_usage_on_stdout(interp, flag):
    r = run(interp, flag)
    assert r.returncode == 0 and r.stderr == b""
    assert r.stdout.startswith(b"usage: ticdump.py [--mode ")
    for option in (b"--mode", b"--decode", b"--check-alloc", b"--bench", b"Exit status"):
        assert option in r.stdout


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("interp", INTERPRETERS)
@pytest.mark.parametrize("what", ["small", "large", "help"])
def test_a_full_disk_is_a_write_error(big_file, interp, what):
    args = {"small": [str(CAPTURES[0])], "large": ["--decode", str(big_file[0])], "help": ["-h"]}
    with open("/dev/full", "wb") as full:
        r = run(interp, *args[what], stdout=full)
    assert r.returncode == 2
    assert r.stderr == b"ticdump: cannot write output: [Errno 28] No space left on device\n"


@pytest.mark.parametrize("interp", INTERPRETERS)
def test_a_broken_pipe_ends_quietly(big_file, interp):
    """`ticdump.py big.raw | head`: the reader goes away after a few lines."""
    cmd, env = command(interp, str(big_file[0]))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd="/")
    head = proc.stdout.read(1000)
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 141  # what a shell reports for a tool SIGPIPE stopped
    assert head.startswith(b'{"mode": "standard", "groups": [')
    assert err == b""


@pytest.mark.parametrize("contract", ["base", "hchp", "tempo", "ejp", "producer"])
@pytest.mark.parametrize("phases", ["1", "3"])
@pytest.mark.parametrize("mode", ["historique", "standard"])
def test_50_frame_ticsim_file_decodes_without_checksum_error(
    tmp_path, capsys, mode, phases, contract
):
    """Issue 4's acceptance check: every simulated meter, end to end through ticdump (both
    called in this process: the command lines are tested above)."""
    path = tmp_path / "tic.raw"
    sim = ["--mode", mode, "--phases", phases, "--contract", contract, "--frames", "50"]
    path.write_bytes(ticsim.generate([*sim, "--seed", "7"]))
    assert ticdump.main(["--decode", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = [json.loads(x) for x in out.splitlines()]
    stats = lines[-1]["stats"]
    assert stats["frames"] == 50 and len(lines) == 51
    assert stats["checksum_errors"] == 0 and stats["format_errors"] == 0
    for frame in lines[:-1]:
        assert frame["mode"] == mode
        assert not any("error" in g["decoded"] for g in frame["groups"]), frame
