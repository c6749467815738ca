# micropython: also
"""firmware/web_boot.py root(): the pages' folder. Imported from a folder, `www` beside the
image's firmware/; frozen into the linky image (the package's __file__ is then
"firmware/__init__.py", no folder: faked here), the first sys.path entry holding `www`, as
imports look, so that an update's app folder serves its own pages with the image's code."""

import os
import sys

from fs_helpers import make_dirs, rm_tree

from firmware import web_boot

_PID = os.getpid() if hasattr(os, "getpid") else 0
_DIR = "/tmp/linky-test-webroot-%d" % _PID


def _on_flash(dirs, file, path, fn):
    """fn() in a fresh _DIR holding `dirs`, as the current folder, with the firmware
    package's __file__ `file` and sys.path `path`; all restored after."""
    pkg = sys.modules["firmware"]
    saved = pkg.__file__, list(sys.path), os.getcwd()
    rm_tree(_DIR)
    for d in dirs:
        make_dirs(_DIR + "/" + d)
    os.chdir(_DIR)
    try:
        pkg.__file__ = file
        del sys.path[:]
        sys.path.extend(path)
        fn()
    finally:
        pkg.__file__ = saved[0]
        del sys.path[:]
        sys.path.extend(saved[1])
        os.chdir(saved[2])
        rm_tree(_DIR)


BOARD_PATH = ["", ".frozen", "/lib"]  # a board's sys.path, the folder's entries put first
FOLDER_PATH = ["app_a", "app_a/lib"] + BOARD_PATH


def test_imported_from_a_folder_the_pages_are_beside_it():
    def t():
        assert web_boot.root() == _DIR + "/dev/www"

    # an app folder on sys.path does not matter: the package was not found there
    _on_flash(("dev/www", "dev/firmware", "app_a/www"), _DIR + "/dev/firmware/__init__.mpy",
              FOLDER_PATH, t)  # fmt: skip

    def t2():
        assert web_boot.root() == "app_a/www"  # an update's .mpy files, its pages

    _on_flash(("app_a/www", "app_a/firmware", "www"), "app_a/firmware/__init__.mpy",
              FOLDER_PATH, t2)  # fmt: skip


def test_frozen_the_first_sys_path_entry_with_www():
    frozen = "firmware/__init__.py"

    def t():
        assert web_boot.root() == "app_a/www"  # an update's data files with the image's code

    _on_flash(("app_a/www", "app_a/lib", "www", ".frozen/www"), frozen, FOLDER_PATH, t)

    def t2():
        assert web_boot.root() == "www"  # no folder: the root's (make deploy-image)

    _on_flash(("www", ".frozen/www"), frozen, [".frozen"] + BOARD_PATH, t2)
    _on_flash(("app_a/lib", "www"), frozen, FOLDER_PATH, t2)  # a folder without pages

    def t3():
        assert web_boot.root() == "./www"  # nothing anywhere: today's answer (the host's)

    _on_flash(("app_a",), frozen, FOLDER_PATH, t3)


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
