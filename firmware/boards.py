"""Board profiles: where the TIC signal enters the ESP32, and how to read it.

One table, BOARDS, that users can extend (add a dict under a new name) or override from the
configuration: `profile_from_config({"board": "custom", "rx": 5, "pullup": True})`.
Pins come from the boards' published pin tables and schematics (docs/hardware.md; sources in
the project's landscape notes). No hardware access here: firmware/hal/ applies the profile.

Fields of a profile:
  name    table key
  chip    "esp32", "esp32s2", "esp32s3" or "esp32c3" (UART ids and valid pins differ)
  rx      GPIO receiving the TIC (after the board's optocoupler stage)
  tx      a harmless output-capable GPIO: MicroPython <= v1.28 always routes a UART TX pin;
          the HAL releases it back to an input right after the UART is set up
  uart    UART id (ESP32 and S3: 2; S2 and C3 have only UART0/UART1, so 1)
  invert  True if the line idles low at the pin (hardware RX inversion); the boards listed
          here all deliver a non-inverted signal
  pullup  enable the internal pull-up on rx (open-drain stages without their own pull-up)
  enable  GPIO to drive high to power the TIC stage, or None
  notes   one line for humans
"""

CHIPS = ("esp32", "esp32s2", "esp32s3", "esp32c3")

# Per chip: highest GPIO number, GPIOs that are input-only, default UART id and TX pin.
# The default TX pins avoid flash/PSRAM pins and boot straps; they are released after set-up.
_CHIP = {
    "esp32": {"max": 39, "input_only": (34, 35, 36, 37, 38, 39), "uart": 2, "tx": 26},
    "esp32s2": {"max": 46, "input_only": (46,), "uart": 1, "tx": 13},
    "esp32s3": {"max": 48, "input_only": (), "uart": 2, "tx": 13},
    "esp32c3": {"max": 21, "input_only": (), "uart": 1, "tx": 7},
}

BOARDS = {
    "denky-d4": {
        "chip": "esp32",
        "rx": 8,
        "notes": "Denky D4 (ESP32-PICO-V3-02); 10k pull-up on board",
    },
    "denky32": {
        "chip": "esp32",
        "rx": 33,
        "enable": 4,
        "notes": "original Denky ESP32; GPIO4 must be high to power the TIC stage",
    },
    "wemos-tic-esp32": {
        "chip": "esp32",
        "rx": 23,
        "notes": "WeMos-TIC shield v1.1+ on an ESP32 mini (MH-ET Live)",
    },
    "wemos-tic-s2": {
        "chip": "esp32s2",
        "rx": 11,
        "notes": "WeMos-TIC shield v1.1+ on a LOLIN S2 mini",
    },
    "wemos-tic-s3": {
        "chip": "esp32s3",
        "rx": 11,
        "notes": "WeMos-TIC shield v1.1+ on a LOLIN S3 mini",
    },
    "wemos-tic-c3": {
        "chip": "esp32c3",
        "rx": 4,
        "notes": "WeMos-TIC shield v1.1+ on a LOLIN C3 mini",
    },
    "pitinfo": {
        "chip": "esp32",
        "rx": None,
        "pullup": True,
        "notes": "PiTInfo-style open-drain output (no pull-up on the board): give rx",
    },
    "custom": {
        "chip": "esp32",
        "rx": None,
        "notes": "any wiring: give rx, and invert/pullup/enable as needed",
    },
}

DEFAULT_BOARD = "denky-d4"

FIELDS = ("chip", "rx", "tx", "uart", "invert", "pullup", "enable", "notes")


class Profile:
    """A validated board profile (plain attributes, see the module docstring)."""

    def __init__(self, name, fields):
        self.name = name
        self.chip = fields["chip"]
        self.rx = fields["rx"]
        self.tx = fields["tx"]
        self.uart = fields["uart"]
        self.invert = fields["invert"]
        self.pullup = fields["pullup"]
        self.enable = fields["enable"]
        self.notes = fields["notes"]

    def as_dict(self):
        d = {"name": self.name}
        for k in FIELDS:
            d[k] = getattr(self, k)
        return d

    def __repr__(self):
        return "Profile(%s rx=%s tx=%s uart=%s invert=%s pullup=%s enable=%s)" % (
            self.name,
            self.rx,
            self.tx,
            self.uart,
            self.invert,
            self.pullup,
            self.enable,
        )


def _pin(name, field, value, chip, output):
    # bool is an int subclass: reject True/False given for a pin by mistake.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("board %s: %s must be a GPIO number, got %r" % (name, field, value))
    c = _CHIP[chip]
    if value < 0 or value > c["max"]:
        raise ValueError(
            "board %s: %s=%d is not a GPIO of the %s (0..%d)"
            % (name, field, value, chip, c["max"])
        )
    if output and value in c["input_only"]:
        raise ValueError(
            "board %s: %s=%d is input-only on the %s, it cannot be an output"
            % (name, field, value, chip)
        )
    return value


def _flag(name, field, value):
    if value is True or value is False:
        return value
    if value in (0, 1):
        return bool(value)
    raise ValueError("board %s: %s must be true or false, got %r" % (name, field, value))


def profile(name=DEFAULT_BOARD, **overrides):
    """The validated Profile of board `name` from BOARDS, with field overrides applied.

    Raises ValueError with a message meant for the user (it ends up in the log / web page).
    """
    base = BOARDS.get(name)
    if base is None:
        raise ValueError("unknown board %r; known boards: %s" % (name, ", ".join(sorted(BOARDS))))
    for k in overrides:
        if k not in FIELDS:
            raise ValueError(
                "board %s: unknown field %r (fields: %s)" % (name, k, ", ".join(FIELDS))
            )
    f = {}
    f.update(base)
    f.update(overrides)
    chip = f.get("chip", "esp32")
    if chip not in _CHIP:
        raise ValueError("board %s: unknown chip %r (chips: %s)" % (name, chip, ", ".join(CHIPS)))
    c = _CHIP[chip]
    rx = f.get("rx")
    if rx is None:
        raise ValueError("board %s: the TIC input pin is not set: give rx (a GPIO number)" % name)
    rx = _pin(name, "rx", rx, chip, False)
    tx = _pin(name, "tx", f.get("tx", c["tx"]), chip, True)
    enable = f.get("enable")
    if enable is not None:
        enable = _pin(name, "enable", enable, chip, True)
    uart = f.get("uart", c["uart"])
    max_uart = 1 if chip in ("esp32s2", "esp32c3") else 2
    if not isinstance(uart, int) or isinstance(uart, bool) or uart < 1 or uart > max_uart:
        # UART0 carries the REPL on these boards: never take it for the TIC.
        raise ValueError(
            "board %s: uart must be %s on the %s (UART0 is the REPL), got %r"
            % (name, "1" if max_uart == 1 else "1 or 2", chip, uart)
        )
    if tx == rx:
        raise ValueError("board %s: tx and rx are both GPIO%d" % (name, rx))
    if enable is not None and enable in (rx, tx):
        raise ValueError("board %s: enable=GPIO%d is also used as rx or tx" % (name, enable))
    return Profile(
        name,
        {
            "chip": chip,
            "rx": rx,
            "tx": tx,
            "uart": uart,
            "invert": _flag(name, "invert", f.get("invert", False)),
            "pullup": _flag(name, "pullup", f.get("pullup", False)),
            "enable": enable,
            "notes": f.get("notes", ""),
        },
    )


def profile_from_config(cfg):
    """Profile from a configuration mapping: {"board": name, <field>: override, ...}.

    A missing "board" means DEFAULT_BOARD. A None value means "use the board's value".
    """
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, dict):
        raise ValueError("board configuration must be a mapping, got %r" % (cfg,))
    name = cfg.get("board") or DEFAULT_BOARD
    overrides = {}
    for k in cfg:
        if k != "board" and cfg[k] is not None:
            overrides[k] = cfg[k]
    return profile(name, **overrides)
