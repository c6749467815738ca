"""Shorter private names in the device image: fewer names (qstrs) for a board to intern.

    rename(source, names) -> str       source with each name of the dict replaced
    plan(root) -> {path: {old: new}}   the renames of every device module under root

Every name a loaded .mpy holds is interned for good (docs/design/qstr-pools.md). A private name
(`_name`, not `__dunder__`) that appears in one file of the repository only (as a word: other
files' comments and strings count), as a name and never inside one of its strings, can take a
short name (`_a`, `_b`...) in that file: nothing else can
reach it, except by a name built at run time, which device code does not do (getattr() and
friends take names written in strings, and a name in any string is left alone). The short
names repeat from module to module, so a board interns a few dozen instead of each module's
own. Only the NAME tokens change: every line keeps its number, so a traceback's lines still
point at the source. Cost: reads every .py file of the repository and tokenizes the device
modules (about 0.4 s).
"""

import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEVICE_DIRS = ("lib", "firmware")
SKIP_DIRS = {".venv", "build", "node_modules", "typings", ".git", "screenshots"}
_PRIVATE = re.compile(r"_[A-Za-z][A-Za-z0-9_]*\Z")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _tokens(text):
    return list(tokenize.generate_tokens(io.StringIO(text).readline))


def _repo_files(root):
    for p in sorted(root.rglob("*.py")):
        if not SKIP_DIRS.intersection(p.relative_to(root).parts):
            yield p


def _short(i):
    # _a .. _z, then _ba, _bb ... (never clashing with a name already in the file: checked)
    s = ""
    while True:
        s = chr(97 + i % 26) + s
        i //= 26
        if not i:
            return "_" + s
        i -= 1


def plan(root=ROOT):
    """{path of a device module: {private name: short name}} for the whole repository."""
    seen = {}  # word -> the files it appears in, anywhere in them (names, strings, comments)
    device = {}  # device module -> (its NAME tokens, the words inside its strings)
    for p in _repo_files(root):
        try:
            text = p.read_text()
        except UnicodeDecodeError:
            continue
        for w in set(_WORD.findall(text)):
            seen.setdefault(w, []).append(p)
        if p.relative_to(root).parts[0] in DEVICE_DIRS:
            try:
                toks = _tokens(text)
            except (tokenize.TokenError, SyntaxError):
                continue
            names = {t.string for t in toks if t.type == tokenize.NAME}
            strs = set()
            for t in toks:
                if t.type == tokenize.STRING:
                    strs.update(_WORD.findall(t.string))
            device[p] = (names, strs)
    out = {}
    for p, (mine, strs) in device.items():
        own = sorted(
            n
            for n in mine
            if _PRIVATE.match(n)
            and len(n) > 2  # _x is as short as it gets
            and not n.startswith("__")
            and seen[n] == [p]  # no other file has the word, not even in a comment
            and n not in strs
        )
        if not own:
            continue
        renames, i = {}, 0
        for n in own:
            while True:
                s = _short(i)
                i += 1
                if s not in mine:
                    break
            if len(s) < len(n):
                renames[n] = s
        if renames:
            out[p] = renames
    return out


def rename(source, names):
    """`source` with the NAME tokens in `names` replaced; lines keep their numbers."""
    lines = source.splitlines(keepends=True)
    for t in reversed(_tokens(source)):
        if t.type == tokenize.NAME and t.string in names:
            row, col = t.start
            line = lines[row - 1]
            lines[row - 1] = line[:col] + names[t.string] + line[col + len(t.string) :]
    return "".join(lines)
