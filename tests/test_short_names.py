"""tools/short_names.py: which private names the device image shortens, and that nothing else
changes (docs/design/qstr-pools.md)."""

import short_names


def _repo(tmp_path, files):
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


def test_only_names_one_device_file_holds_are_shortened(tmp_path):
    root = _repo(tmp_path, {
        "lib/m.py": (
            "_LIMIT = 3\n"
            "_shared = 1\n"
            "_named = 2\n"
            "class _Thing:\n"
            "    def _step(self, _arg=1):\n"
            "        return self._count + _LIMIT + _arg\n"
            "def public(): return getattr(_Thing, '_named_in_string')\n"
            "x = '_named'\n"
        ),
        "firmware/n.py": "from m import _shared\n_solo_name = 5\n",
        "tests/test_m.py": "import m\nm._Thing._count = 0\n",
        "tools/t.py": "_LIMIT_TOOL = 1\n",
    })  # fmt: skip
    p = short_names.plan(root)
    m = p[root / "lib" / "m.py"]
    # _Thing and _count are used by a test, _shared by another module, _named in a string
    assert set(m) == {"_LIMIT", "_step", "_arg"}
    assert sorted(m.values()) == ["_a", "_b", "_c"]
    assert p[root / "firmware" / "n.py"] == {"_solo_name": "_a"}
    assert root / "tools" / "t.py" not in p  # not a device module


def test_renaming_keeps_lines_and_everything_else(tmp_path):
    src = (
        "_LIMIT = 3  # _LIMIT in a comment stays\n"
        "def _f(_a1, b):\n"
        "    s = '_LIMIT'\n"
        "    return _f2(_a1) + _LIMIT + b  # two on a line\n"
    )
    out = short_names.rename(src, {"_LIMIT": "_a", "_f": "_b", "_a1": "_c"})
    assert out == (
        "_a = 3  # _LIMIT in a comment stays\n"
        "def _b(_c, b):\n"
        "    s = '_LIMIT'\n"
        "    return _f2(_c) + _a + b  # two on a line\n"
    )
    assert out.count("\n") == src.count("\n")


def test_short_names_never_clash_with_a_name_of_the_file(tmp_path):
    root = _repo(tmp_path, {"lib/m.py": "_a = 1\n_b = 2\n_long_name = _a + _b\n"})
    assert short_names.plan(root)[root / "lib" / "m.py"] == {"_long_name": "_c"}


def test_the_build_uses_them_and_maps_them_back():
    """make build compiles the renamed source; build/short_names.json gives each file's short
    names back (for a board's traceback), and a renamed module keeps none of the long ones."""
    import json
    import subprocess
    import sys

    import qstr_names
    import upy

    subprocess.run([sys.executable, "tools/build.py"], cwd=upy.ROOT, check=True,
                   capture_output=True)  # fmt: skip
    with open(upy.BUILD.parent / "short_names.json") as f:
        back = json.load(f)
    import build

    plan = {str(p.relative_to(upy.ROOT)): r for p, r in short_names.plan(upy.ROOT).items()}
    plan = {k: r for k, r in plan.items() if k not in build.HOST_ONLY}
    assert back == {k: {v: n for n, v in m.items()} for k, m in plan.items()}
    assert sum(len(m) for m in back.values()) > 100
    for rel, m in back.items():
        names = set(qstr_names.mpy_names((upy.BUILD / rel).with_suffix(".mpy").read_bytes()))
        assert not names & set(m.values()), rel
