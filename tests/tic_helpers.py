"""Helpers shared by the TIC tests (CPython and MicroPython)."""

from tic import MODE_HISTORIQUE
from tic.encode import checksum
from tic.parser import Parser

CAPTURES = "tests/fixtures/captures/"


def read(path):
    with open(path, "rb") as f:
        return f.read()


def parse_all(data, chunk=0, mode=0):
    """Feed `data` (in chunks of `chunk` bytes, 0: at once); return (frames' groups, parser)."""
    out = []
    p = Parser(on_frame=lambda f: out.append((f.mode, f.groups())), mode=mode)
    if chunk:
        for i in range(0, len(data), chunk):
            p.feed(data, min(chunk, len(data) - i), i)
    else:
        p.feed(data)
    return out, p


def group_checksum_ok(mode, label, horodate, value):
    """Recompute a reported group's checksum from its text, as the spec defines it."""
    if mode == MODE_HISTORIQUE:
        covered = label + " " + value
    else:
        covered = label + "\t" + ((horodate + "\t") if horodate is not None else "") + value + "\t"
    return checksum(covered.encode())
