"""Absolute paths for the web tests, which run in a temporary working directory: the
repository's root, the test pages, and sys.path made absolute (MicroPython's MICROPYPATH
entries are relative, and the web handlers are imported on demand)."""

import os
import sys

_f = __file__ if __file__.startswith("/") else os.getcwd() + "/" + __file__
ROOT = _f[: _f.rfind("/tests/")]
WWW = ROOT + "/tests/fixtures/web/www"
for _i in range(len(sys.path)):
    _p = sys.path[_i]
    if _p in ("", "."):
        sys.path[_i] = ROOT
    elif not _p.startswith("/") and _p != ".frozen":
        sys.path[_i] = ROOT + "/" + _p
