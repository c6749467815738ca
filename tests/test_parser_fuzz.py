"""A short run of tools/fuzz.py (`make fuzz` runs 10^6 inputs): mutated and spliced captures,
each parsed whole and in two random chunkings, checked against the reference model."""

import json

from fuzz import DEFECTS, fuzz

import upy

ROOT = upy.ROOT


def test_fuzz_cpython_no_defect():
    res = fuzz(2000, seed=7)
    assert {k: res[k] for k in DEFECTS} == dict.fromkeys(DEFECTS, 0), res
    # The inputs really reach the parser's rules: frames, groups, every kind of error.
    assert res["frames"] > 400 and res["groups"] > 15000


def test_fuzz_micropython_same_counts():
    r = upy.run([ROOT / "tools/fuzz.py", "--count", "300", "--seed", "3"], ".frozen",
                heap="16M", timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(r.stdout)
    assert res == fuzz(300, seed=3)
