"""The settings: one schema, read once at boot from config.json, never a reason not to boot.

Contract:
  load(path=CONFIG_FILE, override=None) -> dict name -> value for every setting of SCHEMA.
    Sources, first wins: `override(NAME)` (the host HAL's LINKY_<NAME> options from
    tools/sim.py; None on the device), then the JSON object in `path`, then the default.
    A value that is missing uses its default silently; a value that is wrong (type, range,
    choice) uses its default and logs one warning naming the setting, the value and what is
    expected. A missing, oversized (> MAX_BYTES), corrupt or non-object file logs one line
    and gives every default. Never raises (MemoryError and deep nesting included).
  check(name, value) -> (value, None) or (None, message): one setting against the schema.
  is_secret(name) -> bool: a password; never sent back to a browser or published.
  save(values, path=CONFIG_FILE): validated, written atomically (temp file, then rename).
Cost: the schema is a tuple of tuples; the app imports this module at boot, reads the
values into its own attributes and drops the module from sys.modules.
"""

from log import getLogger

CONFIG_FILE = "config.json"
MAX_BYTES = 4096  # a config holds a few hundred bytes; anything bigger is not ours

# name, kind, default, low / choices, high. Kinds: "int" (low..high, or one of a tuple),
# "str" (one of choices, case-insensitive), "name" (text, 1 to `high` characters), "text"
# (text, 0 to `high` characters), "secret" (like "text", never shown back: is_secret()),
# "bool". Names are the JSON keys; the host HAL's override for a name is LINKY_<NAME>.
SCHEMA = (
    # TIC
    ("mode", "str", "auto", ("auto", "historique", "standard"), None),
    ("baud", "int", 0, (0, 1200, 9600), None),
    ("board", "name", "denky-d4", None, 32),
    ("rx_pin", "int", -1, -1, 48),  # -1: the board profile's TIC input GPIO
    ("rx_invert", "str", "board", ("board", "normal", "inverted"), None),
    ("signal_lost_s", "int", 10, 5, 3600),
    ("heartbeat_s", "int", 60, 5, 86400),
    # Wi-Fi station ("" = not configured)
    ("wifi_ssid", "text", "", None, 32),
    ("wifi_password", "secret", "", None, 64),
    ("hostname", "text", "", None, 32),
    # access point and portal (firmware/portal.py)
    ("ap_after_s", "int", 300, 0, 86400),  # station down this long opens the AP; 0: never
    ("ap_open", "bool", False, None, None),  # True: an open AP, no WPA2 password
    # web page: "" = no admin password; else stored salted and hashed (firmware/web_auth.py)
    ("admin_password", "secret", "", None, 100),
    # MQTT ("" host = MQTT off)
    ("mqtt_host", "text", "", None, 64),
    ("mqtt_port", "int", 0, 0, 65535),  # 0: 1883, or 8883 with TLS
    ("mqtt_user", "text", "", None, 64),
    ("mqtt_password", "secret", "", None, 64),
    ("mqtt_tls", "bool", False, None, None),
    ("mqtt_ca", "text", "", None, 64),  # file name of a PEM CA on flash; "" = no validation
    ("mqtt_prefix", "name", "linky", None, 32),
    ("mqtt_keepalive_s", "int", 60, 10, 3600),
    # publish policy
    ("ha_discovery", "bool", True, None, None),
    ("ha_prefix", "name", "homeassistant", None, 32),
    ("fast_min_s", "int", 5, 1, 3600),  # power and current: on change, at most this often
    ("slow_s", "int", 60, 10, 86400),  # indexes and static labels: periodically
    ("diag_s", "int", 300, 30, 86400),  # diagnostics
    ("per_label_topics", "bool", False, None, None),
    # OTA (firmware/ota.py): base URL of releases, Ed25519 public key (64 hex; "" = the
    # build's), hours between periodic checks (0: off)
    ("ota_url", "text", "", None, 128),
    ("ota_key", "text", "", None, 64),
    ("ota_check_h", "int", 0, 0, 720),
)


def is_secret(name):
    s = _spec(name)
    return s is not None and s[1] == "secret"


log = getLogger("config")


def _spec(name):
    for s in SCHEMA:
        if s[0] == name:
            return s
    return None


def check(name, value):
    """(value, None) when `value` is valid for setting `name`, else (None, message)."""
    s = _spec(name)
    if s is None:
        return None, "unknown setting"
    kind, lo, hi = s[1], s[3], s[4]
    if kind == "int":
        if isinstance(value, str):  # host options and form fields arrive as text
            try:
                value = int(value.strip())
            except ValueError:
                return None, "expected an integer"
        if not isinstance(value, int) or isinstance(value, bool):
            return None, "expected an integer"
        if isinstance(lo, tuple):
            if value not in lo:
                return None, "expected one of %s" % ", ".join(str(x) for x in lo)
        elif value < lo or value > hi:
            return None, "expected %d to %d" % (lo, hi)
        return value, None
    if kind == "bool":
        if isinstance(value, str):
            value = {
                "true": True,
                "1": True,
                "on": True,
                "false": False,
                "0": False,
                "off": False,
            }.get(value.strip().lower(), value)
        if value is True or value is False:
            return value, None
        return None, "expected true or false"
    if not isinstance(value, str):
        return None, "expected text"
    if kind != "secret":
        value = value.strip()
    if kind == "str":
        value = value.lower()
        if value not in lo:
            return None, "expected one of %s" % ", ".join(lo)
        return value, None
    if kind == "name" and not value:
        return None, "expected 1 to %d characters" % hi
    if len(value) > hi:
        return None, "expected at most %d characters" % hi
    return value, None


def _read(path):
    # The stored object, or None (logged) when there is none or it cannot be used.
    import json
    import os

    try:
        size = os.stat(path)[6]
    except OSError:
        return None  # no file: first boot, defaults, nothing to say
    if size > MAX_BYTES:
        log.warning("%s is %d bytes (over %d): ignored, using defaults", path, size, MAX_BYTES)
        return None
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError, MemoryError, RuntimeError) as e:  # RuntimeError: nesting
        log.warning("%s cannot be read (%r): using defaults", path, e)
        return None
    if not isinstance(data, dict):
        log.warning("%s is not a JSON object: using defaults", path)
        return None
    return data


def load(path=CONFIG_FILE, override=None):
    data = _read(path) or {}
    out = {}
    for s in SCHEMA:
        name, default = s[0], s[2]
        raw = override(name.upper()) if override is not None else None
        where = "option"
        if raw is None:
            raw = data.get(name)
            where = path
        if raw is None:
            out[name] = default
            continue
        value, err = check(name, raw)
        if err is not None:
            shown = "(hidden)" if s[1] == "secret" else repr(raw)
            log.warning(
                "setting %s=%s in %s: %s; using the default %r", name, shown, where, err, default
            )
            value = default
        out[name] = value
    return out


def save(values, path=CONFIG_FILE):
    """Validate `values` (name -> value, unknown names refused) and store them atomically.
    Raises ValueError naming the first bad setting; OSError when the flash refuses."""
    from firmware import state

    clean = {}
    for name in values:
        value, err = check(name, values[name])
        if err is not None:
            raise ValueError("setting %s: %s" % (name, err))
        clean[name] = value
    state.save(path, clean)
