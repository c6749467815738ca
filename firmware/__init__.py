"""linky firmware: the application and its hardware abstraction layer (firmware/hal).

Contract:
  unload(*names)      drop modules from sys.modules and their package (see below).
  lazy(module, fn) -> f   f(*args): imports `module`, returns module.fn(*args), drops the
                      module again (a command or a timer that needs a module only when it
                      fires: nothing of the module stays resident in between).
  await every(s, f, arg)  a task's body: f(arg) every s seconds, forever.
Cost: these three functions; a lazy() closure is a few words.
"""

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


def lazy(module, fn):
    def call(*args):
        __import__(module)
        try:
            return getattr(sys.modules[module], fn)(*args)
        finally:
            unload(module)

    return call


async def every(s, f, arg):
    import asyncio

    while True:
        left = s
        while left > 0:  # at most an hour per sleep: see _LONGEST_S
            n = min(left, _LONGEST_S)
            await asyncio.sleep(n)
            left -= n
        f(arg)


# asyncio.sleep_ms(t) computes ticks_add(now, t), which raises OverflowError from 2^29 ms (149 h:
# ota_check_h goes to 720), and orders sleepers by ticks_diff(), which wraps at +-2^29 ms, so a
# sleep near that length could look due before the tasks queued just now. An hour is far from
# both.
_LONGEST_S = 3600
