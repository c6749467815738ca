#!/usr/bin/env python3
"""Run the device firmware on this PC: the MicroPython unix port, fed by a TIC source.

    python3 tools/sim.py [--tic FILE|sim:MODE,PHASES,CONTRACT|/dev/ttyX|tcp://HOST:PORT]
        [--mode M] [--baud N]
        [--heap SIZE] [--state DIR] [--board NAME] [--set NAME=VALUE ...] [--run-for S]
        [--exit-after-frames N] [--reset-after-frames N [--resets K]] [--no-build]

It runs build/device/main.py (the exact image `make deploy` copies, compiled by tools/build.py)
with MICROPYPATH = the build, cwd = the state directory (the simulated flash filesystem) and an
ESP32-sized heap. The TIC line runs here, in this process (tools/sim_link.py, with the line
model of tools/sim_line.py), not in the firmware's heap: the firmware's host HAL
(firmware/hal/host.py) reaches it over a loopback TCP link whose address is passed in
LINKY_TIC, and reads its other options from LINKY_* variables set here. The firmware finds the
TIC mode and speed itself (--mode auto, the default): a capture is replayed at its own
speed(s), whatever speed the firmware listens at, and bytes read at a wrong speed are garbled
as a real UART would garble them. The line keeps running across the firmware's reboots.

The firmware asks for a device reset by exiting with status 75 (upy.RESET_EXIT_CODE): the
simulator starts it again, as the board would reboot (cause "hard"). When the firmware has
started its watchdog (hal.watchdog) and does not feed it in time, the simulator kills it
(SIGKILL) and starts it again with cause "wdt". Ctrl-C stops both cleanly. Any other exit
status ends the simulator with that status; a bad TIC source or --state ends it with status 2.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import sim_link

import upy

DEFAULT_CAPTURE = (
    upy.ROOT / "tests" / "fixtures" / "captures" / "std-tri-tempo-stream-errors-teleinfo-nom.raw"
)

# 64-bit unix objects take about twice the RAM of the ESP32's (8-byte pointers, 32-byte GC
# blocks against 4 and 16), and an ESP32_GENERIC image gives Python ~100 KB once its heap has
# grown (56 KB at boot, + one growth; esp32-micropython notes §4.1). So the default is twice
# 96 KB. Byte buffers do not double, so the simulator is a little more generous than the board
# for buffer-heavy code: treat a sim that runs close to this limit as too big for the device.
DEFAULT_HEAP = "192K"

# A firmware that resets again within this time is restarted only after this delay, so a crash
# loop does not spin the CPU.
MIN_BOOT_S = 1.0

# How often the simulator looks at the firmware process and its watchdog.
TICK_S = 0.02


class UsageError(Exception):
    """A bad option or source: one line on stderr, exit status 2."""


def file_spec(tic):
    """The absolute capture path of a FILE[@BAUD][,once] source, with its options; UsageError
    if there is no such file."""
    path, baud, loop = sim_link.parse_file_spec(tic)
    if not os.path.isfile(path):
        raise UsageError("no such TIC capture: %s" % path)
    return "file:%s%s%s" % (
        os.path.abspath(path),
        "" if baud is None else "@%d" % baud,
        "" if loop else ",once",
    )


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--tic",
        default=str(DEFAULT_CAPTURE),
        help="TIC source: a capture FILE[@BAUD][,once] (replayed at line speed, looped "
        "unless ,once), sim:MODE,PHASES,CONTRACT[,NAME=VALUE...] (tools/ticsim.py's meter, "
        "e.g. sim:standard,3,tempo or sim:historique,1,base,seed=1), a serial device "
        "/dev/ttyX, or tcp://HOST:PORT (default: %(default)s)",
    )
    ap.add_argument(
        "--mode",
        choices=("auto", "historique", "standard"),
        help="the firmware's TIC mode setting (default: auto, it detects the mode and speed)",
    )
    ap.add_argument(
        "--baud",
        type=int,
        help="the speed the firmware starts at (default: the last one it detected, kept in "
        "the state directory, else the fixed mode's, else 1200); with --mode auto it moves "
        "to the right one, with a fixed mode a wrong speed stays garbled",
    )
    ap.add_argument("--heap", default=DEFAULT_HEAP, help="MicroPython heap (default %(default)s)")
    ap.add_argument(
        "--state",
        help="directory used as the device's filesystem (default: a fresh temporary one, "
        "deleted at exit)",
    )
    ap.add_argument("--board", help="board profile name (firmware/boards.py)")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra firmware setting, passed as LINKY_NAME=VALUE (e.g. HEARTBEAT_S=5)",
    )
    ap.add_argument("--run-for", type=float, help="stop (as with Ctrl-C) after S seconds")
    ap.add_argument(
        "--exit-after-frames", type=int, help="the firmware stops after N frames (test hook)"
    )
    ap.add_argument(
        "--reset-after-frames",
        type=int,
        help="the firmware requests a device reset after N frames, in the first --resets "
        "boots (test hook)",
    )
    ap.add_argument("--resets", type=int, default=1, help="see --reset-after-frames")
    ap.add_argument("--no-build", action="store_true", help="do not run tools/build.py first")
    return ap.parse_args(argv)


def firmware_env(args, spec, boot, cause):
    env = upy.env_with(upy.build_path())
    env["LINKY_TIC"] = spec
    env["LINKY_BOOT"] = str(boot)
    env["LINKY_RESET_CAUSE"] = cause
    if args.mode:
        env["LINKY_MODE"] = args.mode
    if args.baud:
        env["LINKY_BAUD"] = str(args.baud)
    if args.board:
        env["LINKY_BOARD"] = args.board
    if args.exit_after_frames:
        env["LINKY_EXIT_AFTER_FRAMES"] = str(args.exit_after_frames)
    if args.reset_after_frames and boot <= args.resets:
        env["LINKY_RESET_AFTER_FRAMES"] = str(args.reset_after_frames)
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError("--set expects NAME=VALUE, got %r" % item)
        env["LINKY_" + name.upper()] = value
    return env


def say(msg):
    print("[sim] " + msg, flush=True)


def stop_child(proc, interrupted=False, timeout=5.0):
    """Ctrl-C the firmware (it exits cleanly on KeyboardInterrupt); kill it if it hangs.

    After a Ctrl-C in the terminal the firmware got the SIGINT too: give it a moment before
    sending another, which could interrupt its clean exit."""
    if interrupted:
        try:
            proc.wait(2.0)
        except subprocess.TimeoutExpired:
            pass
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def source_spec(tic):
    """The --tic source as the simulator names it (captures: absolute paths)."""
    if tic.startswith(("tcp://", "/dev/", "serial:", "sim:")):
        return tic
    return file_spec(tic)


def state_dir(path):
    """The --state directory, created if needed; UsageError if it cannot be."""
    state = os.path.abspath(path)
    try:
        os.makedirs(state, exist_ok=True)
        if not os.access(state, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as e:
        raise UsageError("--state %s: cannot use it as the board's filesystem: %s"
                         % (path, e.strerror or e))  # fmt: skip
    return state


def run(args):
    spec = source_spec(args.tic)
    try:
        make_line = sim_link.open_line(spec)
    except sim_link.SourceError as e:
        raise UsageError(str(e))
    server = sim_link.LinkServer(make_line)
    temp = None
    try:
        state = state_dir(args.state) if args.state else None
        if not args.no_build:
            subprocess.run([sys.executable, str(upy.ROOT / "tools" / "build.py")], check=True)
        main_py = upy.BUILD / "main.py"
        if not main_py.exists():
            raise UsageError("%s missing: run `make build`" % main_py)
        micropython = upy.require_micropython()
        if state is None:
            state = temp = tempfile.mkdtemp(prefix="linky-sim-")
        say(
            "TIC %s, firmware mode %s at %s Bd, heap %s, state %s"
            % (spec, args.mode or "auto", args.baud or "default", args.heap, state)
        )
        return supervise(args, server, micropython, main_py, state)
    finally:
        server.close()
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)


def supervise(args, server, micropython, main_py, state):
    """Run the firmware, restarting it after a reset or a watchdog timeout; its exit status."""
    deadline = time.monotonic() + args.run_for if args.run_for else None
    boot = 1
    cause = "power"
    proc = None
    try:
        while True:
            started = time.monotonic()
            server.new_boot()
            proc = subprocess.Popen(
                [micropython, "-X", "heapsize=" + args.heap, str(main_py)],
                cwd=state,
                env=firmware_env(args, server.spec, boot, cause),
            )
            rc = None
            while rc is None:
                try:
                    rc = proc.wait(TICK_S)
                except subprocess.TimeoutExpired:
                    pass
                else:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    say("ran for %g s: stopping" % args.run_for)
                    stop_child(proc)
                    return 0
                overdue = server.watchdog_overdue()
                if overdue is not None:
                    say("watchdog: no feed for %d ms, resetting" % overdue)
                    proc.kill()
                    proc.wait()
                    rc = "wdt"
            if rc in (upy.RESET_EXIT_CODE, "wdt"):
                if deadline is not None and time.monotonic() >= deadline:
                    return 0
                boot += 1
                if rc == "wdt":
                    cause = "wdt"
                else:
                    cause = "hard"
                    say("firmware requested a reset: starting boot %d" % boot)
                if time.monotonic() - started < MIN_BOOT_S:
                    time.sleep(MIN_BOOT_S)
                continue
            if rc < 0:  # killed by a signal
                say("firmware killed by signal %d" % -rc)
                return 128 - rc
            if rc:
                say("firmware exited with status %d" % rc)
            return rc
    except KeyboardInterrupt:
        # The terminal sent SIGINT to the firmware too; give it time to finish.
        if proc is not None:
            stop_child(proc, interrupted=True)
        say("stopped")
        return 0


def main(argv=None):
    args = parse_args(argv)
    try:
        rc = run(args)
    except UsageError as e:
        print("sim: %s" % e, file=sys.stderr, flush=True)
        rc = 2
    sys.exit(rc)


if __name__ == "__main__":
    main()
