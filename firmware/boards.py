"""Board profiles: where the TIC signal enters the ESP32, and how to read it.

profile(name, **overrides) -> Profile, profile_from_config({"board": name, field: value, ...})
-> Profile; both raise ValueError with a message for the user that names the pin. Pins come
from the boards' published pin tables and schematics (docs/hardware.md; sources in the
project's landscape notes). No hardware access here: firmware/hal/ applies the profile.
Imported at boot only (the app drops it afterwards): tables are tuples, cheap to load.

Profile attributes (all but name can be overridden):
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
  notes   one line for humans ("" for the built-in boards: see the comments of BOARDS)

Pin rules (MicroPython v1.27, ports/esp32/machine_pin.h: a GPIO the build lacks raises
"invalid pin"): the GPIO must exist; tx and enable must be able to drive; no pull-up where
the pad has none; and pins that break the board are refused (flash bus, USB, REPL UART, the
ESP32's GPIO12 strap as RX), unless the board's entry lists them in its free_pins, as the
Denky D4 does for GPIO8 (its ESP32-PICO-V3-02 does not wire GPIO8 to the flash).
"""

CHIPS = ("esp32", "esp32s2", "esp32s3", "esp32c3")

# Per chip, in CHIPS order: (pin map, UART id, default tx). The UART id is also the highest one
# usable (UART0 is the REPL). The default tx avoids flash/PSRAM pins and straps; it is released
# after set-up. The pin map has one character per GPIO number, from GPIO0:
#   "."  usable                     "-"  not a GPIO of MicroPython v1.27's generic build
#   "i"  input-only, no pulls       "o"  input-only
#   other letters: refused for any role (see _WHY), "s": refused as rx only
_CHIP = (
    (".r.r..ffffffs...........-...----..iiiiii", 2, 26),
    ("...................uu.----p------..........rr.o", 1, 13),
    ("...................uu.----p------..........rr....", 2, 13),
    ("..............----jjrr", 1, 7),
)
# Why a pin letter is refused: "|<letter><reason>" entries, one string (cheaper than a table).
_WHY = (
    "|fthe flash bus of ESP32 modules|rUART0 (the REPL)|sa strap: a line idling high at reset"
    " selects 1.8 V flash, no boot|uthe native USB (the REPL)|pthe PSRAM chip select (invalid"
    " in ESP32_GENERIC_S2/S3)|jUSB Serial/JTAG (invalid in ESP32_GENERIC_C3)|"
)

# name: (chip, rx, enable, pullup, free_pins[, notes]). Add an entry for another board.
BOARDS = {
    "denky-d4": ("esp32", 8, None, False, (8,)),  # ESP32-PICO-V3-02, 10k pull-up on board
    "denky32": ("esp32", 33, 4, False, ()),  # original Denky: GPIO4 high powers the TIC stage
    "wemos-tic-esp32": ("esp32", 23, None, False, ()),  # WeMos-TIC on an ESP32 mini
    "wemos-tic-s2": ("esp32s2", 11, None, False, ()),  # WeMos-TIC on a LOLIN S2 mini
    "wemos-tic-s3": ("esp32s3", 11, None, False, ()),  # WeMos-TIC on a LOLIN S3 mini
    "wemos-tic-c3": ("esp32c3", 4, None, False, ()),  # WeMos-TIC on a LOLIN C3 mini
    "pitinfo": ("esp32", None, None, True, ()),  # PiTInfo-style open drain: give rx
    "custom": ("esp32", None, None, False, ()),  # any wiring: give rx, invert, pullup, enable
}

DEFAULT_BOARD = "denky-d4"

FIELDS = ("chip", "rx", "tx", "uart", "invert", "pullup", "enable", "notes")


class Profile:
    """A validated board profile: plain attributes (see the module docstring), set by
    profile(). No methods on purpose: a method's function keeps this module's globals alive,
    and the app keeps the profile after it drops the module."""


def _valid(pins):
    # "0-23, 25-27, 32-39": the GPIO numbers of a pin map (for error messages only).
    out, lo = [], None
    for i in range(len(pins) + 1):
        ok = i < len(pins) and pins[i] != "-"
        if ok and lo is None:
            lo = i
        elif not ok and lo is not None:
            out.append("%d" % lo if lo == i - 1 else "%d-%d" % (lo, i - 1))
            lo = None
    return ", ".join(out)


def _pin(name, field, v, chip, free):
    # bool is an int subclass: reject True/False given for a pin by mistake.
    if not isinstance(v, int) or isinstance(v, bool):
        raise ValueError("board %s: %s must be a GPIO number, got %r" % (name, field, v))
    pins = _CHIP[CHIPS.index(chip)][0]
    k = pins[v] if 0 <= v < len(pins) else "-"
    where = "board %s: %s=GPIO%d" % (name, field, v)
    if k == "-":
        raise ValueError("%s is not a GPIO of the %s (valid: %s)" % (where, chip, _valid(pins)))
    if field != "rx" and k in "io":
        raise ValueError("%s is input-only on the %s, it cannot drive" % (where, chip))
    if v not in free and k not in ".io" and (k != "s" or field == "rx"):
        i = _WHY.find("|" + k) + 2
        why = _WHY[i : _WHY.find("|", i)]
        raise ValueError("%s is %s; a board entry may list it in free_pins" % (where, why))
    return v


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
    chip = overrides.get("chip", base[0])
    if chip not in CHIPS:
        raise ValueError("board %s: unknown chip %r (chips: %s)" % (name, chip, ", ".join(CHIPS)))
    c = _CHIP[CHIPS.index(chip)]
    free = base[4]
    rx = overrides.get("rx", base[1])
    if rx is None:
        raise ValueError("board %s: the TIC input pin is not set: give rx (a GPIO number)" % name)
    rx = _pin(name, "rx", rx, chip, free)
    tx = _pin(name, "tx", overrides.get("tx", c[2]), chip, free)
    enable = overrides.get("enable", base[2])
    if enable is not None:
        enable = _pin(name, "enable", enable, chip, free)
    uart = overrides.get("uart", c[1])
    if not isinstance(uart, int) or isinstance(uart, bool) or uart < 1 or uart > c[1]:
        # UART0 carries the REPL on these boards: never take it for the TIC.
        raise ValueError(
            "board %s: uart must be %s on the %s (UART0 is the REPL), got %r"
            % (name, "1" if c[1] == 1 else "1 or 2", chip, uart)
        )
    pullup = _flag(name, "pullup", overrides.get("pullup", base[3]))
    if pullup and c[0][rx] == "i":
        raise ValueError(
            "board %s: pullup on rx=GPIO%d: that pad of the %s has no pull resistor; wire an "
            "external pull-up to 3.3 V and set pullup off" % (name, rx, chip)
        )
    if tx == rx:
        raise ValueError("board %s: tx and rx are both GPIO%d" % (name, rx))
    if enable is not None and enable in (rx, tx):
        raise ValueError("board %s: enable=GPIO%d is also used as rx or tx" % (name, enable))
    p = Profile()
    p.name = name
    p.chip = chip
    p.rx = rx
    p.tx = tx
    p.uart = uart
    p.invert = _flag(name, "invert", overrides.get("invert", False))
    p.pullup = pullup
    p.enable = enable
    p.notes = overrides.get("notes", base[5] if len(base) > 5 else "")
    return p


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
