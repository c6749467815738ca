"""File-system helpers shared by the tests that also run on MicroPython (no shutil there)."""

import os


def rm_tree(path):
    """Remove `path`, a file or a folder with everything under it; missing: nothing to do."""
    try:
        names = os.listdir(path)
    except OSError:
        try:
            os.remove(path)
        except OSError:
            pass
        return
    for n in names:
        rm_tree(path + "/" + n)
    os.rmdir(path)


def make_dirs(path):
    """Make the folder `path` and the folders above it (those that exist are kept)."""
    at = 0
    while at >= 0:
        at = path.find("/", at + 1)
        try:
            os.mkdir(path if at < 0 else path[:at])
        except OSError:
            pass
