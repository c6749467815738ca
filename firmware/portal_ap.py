"""The rarely used half of firmware/portal.py, loaded for one call and unloaded after: the
set-up at boot, the AP password, opening and closing the access point with its captive DNS,
the Wi-Fi scan, the MQTT command.

Contract (portal: firmware/portal.py's Portal):
  build(app) -> Portal         app.portal, its task ("portal"), the command b"portal"
  init(portal, app, path)      Portal.__init__'s body: the attributes, the password
  command(app)                 the MQTT command: app.portal.open("command")
  load_password(path) -> str   the device's AP key from `path` (JSON {"ap_password": ...});
                               made (os.urandom) and stored there when missing or invalid
  open(portal, reason) -> bool the AP up with portal.ssid / portal.password, the DNS started
                               (its task keeps this module's code while the AP is up);
                               portal.active, reason, opens and the opening time set
  close(portal)                the AP and the DNS down, lib/captive_dns.py unloaded
  scan(station) -> [(ssid, rssi, secure)]  strongest first, one per SSID, hidden ones left out,
                               at most MAX_NETWORKS; [] (logged) when the driver refuses.
                               Blocks for the scan itself on the board (~2-3 s)
"""

import asyncio

from firmware import hal, lazy, state, unload
from firmware.wifi import _ticks
from log import getLogger

log = getLogger("portal")

DNS_PORT = 53
MAX_NETWORKS = 20
# 32 characters without look-alikes (0 o 1 l): 12 of them make a 60-bit WPA2 key.
ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
PW_LEN = 12


def build(app):
    from firmware.portal import Portal

    p = app.portal = Portal(app)
    app.commands[b"portal"] = lazy("firmware.portal_ap", "command")
    app.add_task("portal", p.run())
    return p


def command(app):
    app.portal.open("command")


def init(p, app, path):
    s = app.settings
    p.app = app
    p.ssid = "linky-" + hal.unique_id()[-4:].upper()
    key = load_password(path)  # made and kept even while ap_open is on
    p.password = "" if s["ap_open"] else key
    p.first_boot = not s["wifi_ssid"]
    p.after_ms = s["ap_after_s"] * 1000
    p.active = False
    p.reason = None
    p.ip = None
    p.opens = 0  # times the AP opened since boot
    p._opened = 0  # ticks_ms of the last opening
    p._dns_task = None
    p._scan = None
    p._scan_at = 0
    p._scan_ms = 0


def new_password():
    """A fresh WPA2 key: PW_LEN characters of ALPHABET from os.urandom."""
    import os

    return "".join(ALPHABET[b & 31] for b in os.urandom(PW_LEN))


def load_password(path):
    d = state.load(path)
    pw = d.get("ap_password") if d else None
    if isinstance(pw, str) and 8 <= len(pw) <= 63:
        return pw
    pw = new_password()
    try:
        state.save(path, {"ap_password": pw})
    except OSError as e:  # the key lives until the next boot
        log.error("cannot store the access point password in %s: %r", path, e)
    return pw


def open(portal, reason):
    p = portal
    ap = hal.access_point()
    try:
        ap.active(True)
        ap.config(p.ssid, p.password)
        p.ip = ap.ip()
    except (OSError, ValueError) as e:
        log.error("access point %r: %r", p.ssid, e)
        try:
            ap.active(False)
        except OSError:
            pass
        return False
    log.warning(
        "access point %r open (%s), %s, config page http://%s/",
        p.ssid,
        reason,
        "WPA2" if p.password else "no password",
        p.ip,
    )
    if p.password:  # the console only: not in the log ring the web page shows
        print("portal: Wi-Fi %s password %s" % (p.ssid, p.password))
    p.active = True
    p.reason = reason
    p.opens += 1
    p._opened = _ticks()
    port = hal.setting("DNS_PORT", None if hal.PLATFORM == "host" else DNS_PORT)
    if port is None:
        log.info("captive DNS off (host without DNS_PORT)")
        return True
    import captive_dns

    bind = "127.0.0.1" if hal.PLATFORM == "host" else "0.0.0.0"
    dns = captive_dns.Responder(p.ip, int(port), bind)
    p._dns_task = asyncio.create_task(_run_dns(dns))
    return True


async def _run_dns(dns):
    try:
        await dns.run()
    except OSError as e:  # the port is taken, or the stack refused the socket
        log.error("captive DNS on port %d: %r", dns.port, e)


def close(portal):
    portal.active = False
    portal.reason = None
    t, portal._dns_task = portal._dns_task, None
    if t is not None:
        t.cancel()
    unload("captive_dns")
    try:
        hal.access_point().active(False)
    except OSError as e:
        log.error("access point off: %r", e)
    log.info("access point %r closed", portal.ssid)


def scan(station):
    try:
        if not station.active():
            station.active(True)  # first boot: the station was never started
        raw = station.scan()
    except OSError as e:
        log.warning("Wi-Fi scan: %r", e)
        raw = []
    best = {}
    for ssid, rssi, secure in raw:
        if not ssid:  # hidden: nothing to show
            continue
        old = best.get(ssid)
        if old is None or rssi > old[0]:
            best[ssid] = (rssi, secure)
    out = sorted(((k, v[0], v[1]) for k, v in best.items()), key=_strength)
    return out[:MAX_NETWORKS]


def _strength(net):
    return -net[1]
