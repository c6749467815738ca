#!/usr/bin/env python3
"""Run the device firmware on this PC: the MicroPython unix port, fed by a TIC source, with a
private MQTT broker.

    python3 tools/sim.py [--tic FILE|sim:MODE,PHASES,CONTRACT|/dev/ttyX|tcp://HOST:PORT]
        [--mqtt HOST:PORT | --no-mqtt] [--mode M] [--baud N] [--board NAME]
        [--heap SIZE] [--state DIR] [--set NAME=VALUE ...] [--run-for S]
        [--wifi-drop AT[:FOR]] [--exit-after-frames N] [--reset-after-frames N [--resets K]]
        [--fresh] [--http PORT] [--dns PORT] [--no-build]

It runs build/device/main.py (the exact image `make deploy` copies, compiled by tools/build.py)
with MICROPYPATH = the build, cwd = the state directory (the simulated flash filesystem) and an
ESP32-sized heap. The TIC line runs here, in this process (tools/sim_link.py, with the line
model of tools/sim_line.py), not in the firmware's heap: the firmware's host HAL
(firmware/hal/host.py) reaches it over a loopback TCP link whose address is passed in
LINKY_TIC. The default source is tools/ticsim.py's endless three-phase Tempo meter in standard
mode. The firmware finds the TIC mode and speed itself (--mode auto, the default): a capture is
replayed at its own speed(s), whatever speed the firmware listens at, and bytes read at a wrong
speed are garbled as a real UART would garble them. The line keeps running across the
firmware's reboots.

Settings go where the board keeps them: config.json in the state directory (an existing one is
kept, the simulator's keys updated): the broker's mqtt_host and mqtt_port, wifi_ssid "sim",
--mode/--baud/--board and every --set NAME=VALUE whose NAME is a setting of
firmware/config.py. Other --set names are host test hooks, passed as LINKY_NAME environment
variables with the link address, boot count and reset cause.

MQTT: by default a private Mosquitto on a free port of 127.0.0.1, configured by a file in the
state directory (STATE/mosquitto/), stopped when the simulator ends however it ends (but
SIGKILL); --mqtt HOST:PORT uses that broker instead; --no-mqtt sets no broker (mqtt_host "").

--fresh: no config.json (but what --set/--mode/--baud/--board give), as on a new board: the
firmware opens its first-boot access point and portal. The config page saves config.json and
resets the firmware; the simulator restarts it and never rewrites config.json after the start,
so the saved settings take effect. --http PORT and --dns PORT (LINKY_HTTP_PORT,
LINKY_DNS_PORT): where the web server and the captive DNS responder listen on 127.0.0.1.

Wi-Fi: the host HAL's fake radio is up; SIGUSR1 to the simulator takes the access point away,
SIGUSR2 brings it back, and --wifi-drop AT[:FOR] does it on a schedule (seconds from the
start; without FOR it stays down until SIGUSR2). Each change is logged as `[sim] wifi down` /
`[sim] wifi up`.

The firmware asks for a device reset by exiting with status 75 (upy.RESET_EXIT_CODE): the
simulator starts it again, as the board would reboot (cause "hard"). When the firmware has
started its watchdog (hal.watchdog) and does not feed it in time, the simulator kills it
(SIGKILL) and starts it again with cause "wdt". Ctrl-C stops both cleanly. Any other exit
status ends the simulator with that status; a bad option, TIC source, --state or --set ends it
with status 2 and one line.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import sim_link

import upy

for _p in (str(upy.ROOT / "lib"), str(upy.ROOT)):  # firmware/config.py: the settings' schema
    if _p not in sys.path:
        sys.path.insert(0, _p)

from firmware import config as fw_config  # noqa: E402

DEFAULT_TIC = "sim:standard,3,tempo"

# The fake access point's name written into config.json (any non-empty SSID joins).
WIFI_SSID = "sim"

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
BROKER_START_S = 10.0  # longest wait for a new Mosquitto to listen

# The honest equivalent of the ~112 KB an ESP32_GENERIC heap reaches with one growth is about
# 150K here (64-bit objects take ~1.34-1.45x their 32-bit size; docs/design/memory.md). The
# firmware with MQTT, web and OTA does not fit that yet: 208K is the least at which its
# discovery rounds and every page work (fragmentation, docs/design/memory-diet.md round 4), so
# the default is 224K, with a margin. Treat a sim that runs close to it as too big for a board.
DEFAULT_HEAP = "224K"

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
        default=DEFAULT_TIC,
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
        help="a firmware setting (firmware/config.py, e.g. heartbeat_s=5), written to the "
        "state directory's config.json; other names are host test hooks, passed as "
        "LINKY_NAME=VALUE (e.g. EXIT_AFTER_FRAMES=3)",
    )
    broker = ap.add_mutually_exclusive_group()
    broker.add_argument(
        "--mqtt",
        metavar="HOST:PORT",
        help="use this MQTT broker and start none (default: a private Mosquitto on a free port)",
    )
    broker.add_argument(
        "--no-mqtt", action="store_true", help="no broker: the firmware's MQTT is off"
    )
    ap.add_argument(
        "--wifi-drop",
        metavar="AT[:FOR]",
        help="the fake Wi-Fi access point goes away AT seconds after the start and comes back "
        "FOR seconds later (without FOR: at SIGUSR2). SIGUSR1 / SIGUSR2 do it at any time",
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
    ap.add_argument(
        "--fresh",
        action="store_true",
        help="an empty simulated flash: no config.json is written (only --set/--mode/--baud/"
        "--board values if given), so the first-boot access point and portal come up; the "
        "private broker still starts (its port is printed) for the portal's MQTT settings",
    )
    ap.add_argument(
        "--http", type=int, metavar="PORT", help="the firmware's web server listens on PORT"
    )
    ap.add_argument(
        "--dns",
        type=int,
        metavar="PORT",
        help="the captive DNS responder listens on 127.0.0.1:PORT while the access point is up",
    )
    ap.add_argument("--no-build", action="store_true", help="do not run tools/build.py first")
    return ap.parse_args(argv)


def split_sets(items):
    """--set items as ({setting: checked value}, {HOOK: text}): names of firmware/config.py's
    schema (any case) are settings, the others host test hooks. UsageError for a malformed
    item or a value the schema refuses."""
    settings, hooks = {}, {}
    names = {row[0] for row in fw_config.SCHEMA}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError("--set expects NAME=VALUE, got %r" % item)
        if name.lower() in names:
            v, err = fw_config.check(name.lower(), value)
            if err is not None:
                raise UsageError("--set %s: %s" % (item, err))
            settings[name.lower()] = v
        else:
            hooks[name.upper()] = value
    return settings, hooks


def firmware_env(args, spec, boot, cause):
    """The firmware's environment: the link and the host test hooks (settings are in
    config.json, see write_config)."""
    env = upy.env_with(upy.build_path())
    env["LINKY_TIC"] = spec
    env["LINKY_BOOT"] = str(boot)
    env["LINKY_RESET_CAUSE"] = cause
    if args.exit_after_frames:
        env["LINKY_EXIT_AFTER_FRAMES"] = str(args.exit_after_frames)
    if args.reset_after_frames and boot <= args.resets:
        env["LINKY_RESET_AFTER_FRAMES"] = str(args.reset_after_frames)
    if args.http:
        env["LINKY_HTTP_PORT"] = str(args.http)
    if args.dns:
        env["LINKY_DNS_PORT"] = str(args.dns)
    for name, value in split_sets(args.set)[1].items():
        env["LINKY_" + name] = value
    return env


def sim_settings(args, broker):
    """The settings the simulator writes into config.json: `broker` (host, port) or None (no
    MQTT), the fake access point, --mode/--baud/--board, then --set (which wins). With
    --fresh, only the last two: the firmware finds no Wi-Fi and no broker configured."""
    out = {}
    if not args.fresh:
        out["wifi_ssid"] = WIFI_SSID
        if broker is None:
            out["mqtt_host"] = ""
        else:
            out["mqtt_host"], out["mqtt_port"] = broker
    for name in ("mode", "baud", "board"):
        v = getattr(args, name)
        if v:
            checked, err = fw_config.check(name, v)
            if err is not None:
                raise UsageError("--%s %s: %s" % (name, v, err))
            out[name] = checked
    out.update(split_sets(args.set)[0])
    return out


def check_ports(args):
    """UsageError for a --http or --dns port out of 1..65535."""
    for name in ("http", "dns"):
        v = getattr(args, name)
        if v is not None and not 0 < v < 65536:
            raise UsageError("--%s expects a port 1 to 65535, got %d" % (name, v))


def check_fresh(state):
    """--fresh with an existing --state: UsageError if the directory already holds settings
    (a fresh flash has none; the simulator never deletes the user's files)."""
    path = os.path.join(state, fw_config.CONFIG_FILE)
    if os.path.exists(path):
        raise UsageError(
            "--fresh: %s exists, so the flash is not empty; remove it or use another --state"
            % path
        )


def write_config(state, values):
    """Update STATE/config.json with `values` (other keys kept), atomically (temp file, then
    rename). UsageError if an existing file is not a JSON object (the user's: not replaced)."""
    path = os.path.join(state, fw_config.CONFIG_FILE)
    data = {}
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise UsageError("%s cannot be read (%s): fix or remove it" % (path, e))
        if not isinstance(data, dict):
            raise UsageError("%s is not a JSON object: fix or remove it" % path)
    data.update(values)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)
    return path


def parse_broker(text):
    """(host, port) of --mqtt HOST:PORT; UsageError if malformed."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError("--mqtt expects HOST:PORT, got %r" % text)
    return host, int(port)


def parse_drop(text):
    """(at, for or None) in seconds of --wifi-drop AT[:FOR]; UsageError if malformed."""
    at, sep, dur = text.partition(":")
    try:
        at = float(at)
        dur = float(dur) if sep else None
    except ValueError:
        raise UsageError("--wifi-drop expects AT[:FOR] in seconds, got %r" % text)
    if at < 0 or (dur is not None and dur <= 0):
        raise UsageError("--wifi-drop expects AT >= 0 and FOR > 0, got %r" % text)
    return at, dur


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A private Mosquitto: listens on 127.0.0.1:`port` only, anonymous, no persistence;
    its configuration and log in `directory`. start() raises UsageError if it cannot run."""

    def __init__(self, directory):
        self.dir = directory
        self.conf = os.path.join(directory, "mosquitto.conf")
        self.log = os.path.join(directory, "mosquitto.log")
        self.port = None
        self.proc = None

    def _write_conf(self):
        lines = [
            "# written by tools/sim.py at each start: edits are lost",
            "per_listener_settings false",
            "persistence false",
            "allow_anonymous true",
            "listener %d 127.0.0.1" % self.port,
            "log_dest file %s" % self.log,
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else it becomes user mosquitto, who cannot write here
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, attempts=3):
        if not os.path.exists(MOSQUITTO):
            raise UsageError(
                "mosquitto is not installed (sudo apt-get install -y mosquitto); or use "
                "--mqtt HOST:PORT or --no-mqtt"
            )
        os.makedirs(self.dir, exist_ok=True)
        for _ in range(attempts):  # a free port may be taken between the check and the bind
            self.port = free_port()
            self._write_conf()
            self.proc = subprocess.Popen(
                [MOSQUITTO, "-c", self.conf],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._wait_listening():
                return self
            self.stop()
        raise UsageError("mosquitto did not start: %s" % self.last_log_line())

    def _wait_listening(self):
        end = time.monotonic() + BROKER_START_S
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.02)
        return False

    def last_log_line(self):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                lines = [ln.strip() for ln in f if ln.strip()]
        except OSError:
            return "no log"
        return lines[-1] if lines else "no log"

    def stop(self):
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def watch_command(broker, values):
    """The mosquitto_sub command line that shows what the firmware publishes."""
    host, port = broker
    prefix = values.get("mqtt_prefix", "linky")
    ha = values.get("ha_prefix", "homeassistant")
    return "mosquitto_sub -h %s -p %d -t '%s/#' -t '%s/#' -v" % (host, port, prefix, ha)


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
    split_sets(args.set)  # a bad --set: status 2 before anything starts
    check_ports(args)
    remote = parse_broker(args.mqtt) if args.mqtt else None
    if args.wifi_drop:
        parse_drop(args.wifi_drop)
    try:
        make_line = sim_link.open_line(spec)
    except sim_link.SourceError as e:
        raise UsageError(str(e))
    server = sim_link.LinkServer(make_line)
    temp = None
    broker = None
    try:
        state = state_dir(args.state) if args.state else None
        if args.fresh and state is not None:
            check_fresh(state)
        if not args.no_build:
            subprocess.run([sys.executable, str(upy.ROOT / "tools" / "build.py")], check=True)
        main_py = upy.BUILD / "main.py"
        if not main_py.exists():
            raise UsageError("%s missing: run `make build`" % main_py)
        micropython = upy.require_micropython()
        if state is None:
            state = temp = tempfile.mkdtemp(prefix="linky-sim-")
        address = None if args.no_mqtt else remote
        values = sim_settings(args, address)  # checked before anything starts
        if not args.no_mqtt and remote is None:
            broker = Broker(os.path.join(state, "mosquitto")).start()
            address = ("127.0.0.1", broker.port)
            values.update(sim_settings(args, address))
            if not args.fresh:
                values["mqtt_tls"] = False  # the private broker has no TLS listener
        path = write_config(state, values) if values or not args.fresh else None
        say(
            "TIC %s, firmware mode %s at %s Bd, heap %s, state %s"
            % (spec, values.get("mode", "auto"), values.get("baud") or "default", args.heap,
               state)
        )  # fmt: skip
        if path is not None:
            say("settings: %s" % describe(path))
        else:
            say("settings: none (--fresh): the firmware starts its first-boot access point")
        if args.http:
            say("web: http://127.0.0.1:%d/" % args.http)
        if args.dns:
            say("captive DNS (while the access point is up): dig @127.0.0.1 -p %d example.com"
                % args.dns)  # fmt: skip
        if broker is not None:
            say("MQTT broker: private mosquitto on 127.0.0.1:%d (%s)%s"
                % (broker.port, broker.dir,
                   " (not in the firmware's settings: give it on the config page)"
                   if args.fresh else ""))  # fmt: skip
        elif address is not None:
            say("MQTT broker: %s:%d%s" % (address + (reachable(address),)))
        else:
            say("MQTT: off (--no-mqtt)")
        if address is not None:
            say("watch it: " + watch_command(address, values))
        return supervise(args, server, micropython, main_py, state)
    finally:
        server.close()
        if broker is not None:
            broker.stop()
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)


def describe(path):
    """config.json as one line, secrets hidden."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return "%s %s" % (
        path,
        json.dumps(
            {k: ("***" if fw_config.is_secret(k) and v else v) for k, v in sorted(data.items())}
        ),
    )


def reachable(address):
    try:
        socket.create_connection(address, timeout=1).close()
    except OSError as e:
        return " (not reachable now: %s; the firmware keeps trying)" % (e.strerror or e)
    return ""


class WifiControl:
    """The fake access point's schedule (--wifi-drop) and signals (SIGUSR1 down, SIGUSR2
    up), applied to the link server from the supervision loop (tick())."""

    def __init__(self, server, drop=None, start=None):
        self.server = server
        self.start = time.monotonic() if start is None else start
        self.events = []  # (time, up), in order
        if drop is not None:
            at, dur = drop
            self.events.append((self.start + at, False))
            if dur is not None:
                self.events.append((self.start + at + dur, True))
        self.wanted = None  # set by a signal handler, applied by tick()
        self.up = True

    def install(self):
        """Route SIGUSR1 / SIGUSR2 here; returns a function that restores the handlers."""
        old = [(sig, signal.getsignal(sig)) for sig in (signal.SIGUSR1, signal.SIGUSR2)]

        def handler(sig, _frame):
            self.wanted = sig == signal.SIGUSR2

        for sig, _ in old:
            signal.signal(sig, handler)

        def restore():
            for sig, h in old:
                signal.signal(sig, h)

        return restore

    def tick(self, now=None):
        now = time.monotonic() if now is None else now
        while self.events and self.events[0][0] <= now:
            self._set(self.events.pop(0)[1], "scheduled")
        if self.wanted is not None:
            up, self.wanted = self.wanted, None
            self._set(up, "SIGUSR2" if up else "SIGUSR1")

    def _set(self, up, why):
        if up != self.up:
            self.up = up
            self.server.set_wifi(up)
            say("wifi %s (%s)" % ("up" if up else "down", why))


def supervise(args, server, micropython, main_py, state):
    """Run the firmware, restarting it after a reset or a watchdog timeout; its exit status."""
    deadline = time.monotonic() + args.run_for if args.run_for else None
    boot = 1
    cause = "power"
    proc = None
    wifi = WifiControl(server, parse_drop(args.wifi_drop) if args.wifi_drop else None)
    restore = wifi.install()
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
                wifi.tick()
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
    finally:
        restore()
        if proc is not None and proc.poll() is None:  # an error here: leave no firmware behind
            proc.kill()
            proc.wait()


def _terminated(sig, _frame):
    raise SystemExit(128 + sig)  # unwinds: the firmware and the broker are stopped


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminated)
    try:
        rc = run(args)
    except UsageError as e:
        print("sim: %s" % e, file=sys.stderr, flush=True)
        rc = 2
    sys.exit(rc)


if __name__ == "__main__":
    main()
