"""linky firmware: the application and its hardware abstraction layer (firmware/hal)."""

import sys


def unload(*names):
    """Drop modules used only now and then (boot, a discovery round) so gc frees their code:
    from sys.modules and from their package's attributes. Missing ones are skipped."""
    for name in names:
        m = sys.modules.pop(name, None)
        if m is not None:
            pkg, _, short = name.rpartition(".")
            parent = sys.modules.get(pkg)
            if parent is not None and getattr(parent, short, None) is m:
                delattr(parent, short)
