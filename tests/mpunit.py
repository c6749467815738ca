"""Run a test module's `test_*` functions under MicroPython (or CPython) without pytest.

A test module that runs on both interpreters ends with:

    if __name__ == "__main__":
        import mpunit
        mpunit.main(globals())

Under pytest (CPython) the functions are collected as usual; conftest.py also runs the file
under the MicroPython unix port and reports each function as `name[micropython]`. Output is one
`PASS name` or `FAIL name` line (then the traceback) per test and a closing `N passed, N failed`.
"""

import sys


def main(g):
    names = sorted(n for n in g if n.startswith("test_") and callable(g[n]))
    wanted = sys.argv[1:]
    if wanted:
        names = [n for n in names if n in wanted]
    passed = failed = 0
    for name in names:
        try:
            g[name]()
        except Exception as e:  # noqa: BLE001 (report every failure, keep going)
            failed += 1
            print("FAIL", name)
            if hasattr(sys, "print_exception"):
                sys.print_exception(e)
            else:
                import traceback

                traceback.print_exception(e)
            print("END", name)
        else:
            passed += 1
            print("PASS", name)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
