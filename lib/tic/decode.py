"""Decode TIC values into JSON-friendly structures (dicts, lists, str, int, bool, None).

Called on demand (tools, status page, MQTT attributes), never per byte: it allocates freely.
The firmware does not import it at boot (about 11 KB on a 32-bit board); its first decoded
unit also loads tic.label_rows.
Malformed input raises ValueError; `decode_group` catches it and reports the raw value.

Reference: tic-protocol.md §4 (horodate), §5 (historique codes), §7 (STGE), §8 (RELAIS,
PJOURF+1/PPOINTE), §9 (ADCO/ADSC), §11 (Tempo/EJP).

Functions taking `src` read several labels of one frame: `src` is a tic.parser Frame (anything
with find(bytes) and value(i)) or a dict {label: raw value}.
"""

from tic import labels

COLOURS = (None, "blue", "white", "red")  # Tempo colour codes 0..3 (0: not announced)

# ---------------------------------------------------------------- generic helpers


def _str(v):
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode()
    return v


def _digits(s, what):
    """int of a non-empty all-decimal string (int() alone would accept spaces, signs, '_')."""
    if not s:
        raise ValueError("%s: empty" % what)
    for c in s:
        if c < "0" or c > "9":
            raise ValueError("%s: not decimal: %r" % (what, s))
    return int(s)


def _hex(s, what):
    if not s:
        raise ValueError("%s: empty" % what)
    for c in s:
        if not ("0" <= c <= "9" or "A" <= c <= "F" or "a" <= c <= "f"):
            raise ValueError("%s: not hexadecimal: %r" % (what, s))
    return int(s, 16)


def trim(value):
    """A text value for display: padding removed and inner runs of spaces collapsed
    ("   HC  BLANC    " -> "HC BLANC"). Checksums and raw storage use the untrimmed value."""
    return " ".join(_str(value).split())


def _get(src, name):
    """Raw value of label `name` (str) in a Frame or dict, or None if absent."""
    if isinstance(src, dict):
        return src.get(name)
    i = src.find(name.encode())
    return src.value(i) if i >= 0 else None


# ---------------------------------------------------------------- horodate (§4)

_SEASONS = {
    "H": ("winter", False),
    "E": ("summer", False),
    "h": ("winter", True),
    "e": ("summer", True),
    " ": (None, False),
}
_OFFSETS = {"winter": "+01:00", "summer": "+02:00", None: ""}
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def horodate(s):
    """`SAAMMJJhhmmss` -> dict: season ('winter', 'summer', or None when the season character
    is a space, as for DPMx/FPMx), degraded (lower-case season: meter clock not synchronised),
    year..second, and iso (ISO 8601, local time with its UTC offset; no offset without season).
    """
    s = _str(s)
    if not isinstance(s, str) or len(s) != 13:
        raise ValueError("horodate: 13 characters expected: %r" % (s,))
    season = _SEASONS.get(s[0])
    if season is None:
        raise ValueError("horodate: bad season %r" % s[0])
    _digits(s[1:], "horodate")
    year = 2000 + int(s[1:3])
    month = int(s[3:5])
    day = int(s[5:7])
    hour = int(s[7:9])
    minute = int(s[9:11])
    second = int(s[11:13])
    if not 1 <= month <= 12:
        raise ValueError("horodate: bad month %r" % s)
    leap = year % 4 == 0  # 2000-2099: every fourth year
    if not 1 <= day <= _MONTH_DAYS[month - 1] or (month == 2 and day == 29 and not leap):
        raise ValueError("horodate: bad day %r" % s)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError("horodate: bad time %r" % s)
    iso = "%04d-%02d-%02dT%02d:%02d:%02d%s" % (
        year,
        month,
        day,
        hour,
        minute,
        second,
        _OFFSETS[season[0]],
    )
    return {
        "season": season[0],
        "degraded": season[1],
        "year": year,
        "month": month,
        "day": day,
        "hour": hour,
        "minute": minute,
        "second": second,
        "iso": iso,
    }


_horodate = horodate  # decode_group's argument is also called horodate


# ---------------------------------------------------------------- STGE (§7)

BREAKER = (
    "closed",
    "open_overpower",
    "open_overvoltage",
    "open_load_shedding",
    "open_cpl_euridis_order",
    "open_overheat_over_max_current",
    "open_overheat_under_max_current",
    None,  # 7: not defined
)
EURIDIS = ("disabled", "enabled", None, "enabled_secured")  # 2: not defined
CPL = ("new_unlock", "new_lock", "registered", None)  # 3: not defined


def stge(value):
    """The 32-bit status register (8 hex digits, MSB first) -> dict of every field.

    Read as two 16-bit halves so that no intermediate needs a long int on the ESP32 (only
    `raw` may be one, for values >= 2^30).
    """
    value = _str(value)
    if len(value) != 8:
        raise ValueError("STGE: 8 hex digits expected: %r" % value)
    hi = _hex(value[:4], "STGE")
    lo = _hex(value[4:], "STGE")
    return {
        "raw": (hi << 16) | lo,
        "dry_contact": "open" if lo & 1 else "closed",
        "breaker": BREAKER[(lo >> 1) & 7],
        "breaker_code": (lo >> 1) & 7,
        "terminal_cover": "open" if lo & 0x10 else "closed",
        "overvoltage": bool(lo & 0x40),
        "overload": bool(lo & 0x80),  # reference power exceeded
        "producer": bool(lo & 0x100),
        "injecting": bool(lo & 0x200),  # active energy negative
        "supplier_index": ((lo >> 10) & 0xF) + 1,  # 1..10 (= NTARF)
        "distributor_index": ((lo >> 14) & 3) + 1,  # 1..4
        "clock_degraded": bool(hi & 1),  # bit 16
        "tic_mode": "standard" if hi & 2 else "historique",  # bit 17
        "euridis": EURIDIS[(hi >> 3) & 3],  # bits 19-20
        "cpl": CPL[(hi >> 5) & 3],  # bits 21-22
        "cpl_synchronised": bool(hi & 0x80),  # bit 23
        "tempo_today": COLOURS[(hi >> 8) & 3],  # bits 24-25
        "tempo_tomorrow": COLOURS[(hi >> 10) & 3],  # bits 26-27
        "mobile_peak_notice": (hi >> 12) & 3,  # bits 28-29: 0 none, n: PMn announced
        "mobile_peak": (hi >> 14) & 3,  # bits 30-31: 0 none, n: PMn in progress
    }


# ---------------------------------------------------------------- RELAIS, profiles (§8)


def relais(value):
    """RELAIS (3 decimal digits) -> 8 booleans, relay 1 first; True = contact closed."""
    v = _digits(_str(value), "RELAIS")
    if v > 255:
        raise ValueError("RELAIS: over 255: %r" % value)
    return [bool(v & (1 << n)) for n in range(8)]


DRY_CONTACT = ("no_change", "tempo", "open", "closed")  # bits 14-15 of a profile action


def day_profile(value):
    """PJOURF+1 / PPOINTE (up to 11 blocks `HHMMSSSS` or `NONUTILE`) -> list of
    (start "HH:MM", supplier index 1..10 or None for "no change", contacts), NONUTILE skipped.
    contacts = {"virtual": bits (contact n <-> bit n-1), "dry": DRY_CONTACT name,
    "action": the raw 16-bit action}."""
    out = []
    for block in _str(value).split():
        if block == "NONUTILE":
            continue
        if len(block) != 8:
            raise ValueError("profile: bad block %r" % block)
        hh = _digits(block[0:2], "profile")
        mm = _digits(block[2:4], "profile")
        if hh > 23 or mm > 59:
            raise ValueError("profile: bad time %r" % block)
        action = _hex(block[4:8], "profile")
        idx = action & 0xF
        contacts = {
            "virtual": (action >> 4) & 0x7F,
            "dry": DRY_CONTACT[(action >> 14) & 3],
            "action": action,
        }
        out.append(("%02d:%02d" % (hh, mm), idx if 1 <= idx <= 10 else None, contacts))
    return out


# ---------------------------------------------------------------- ADCO / ADSC (§9)

METER_TYPES = {
    61: ("single-phase 60 A G3, high-power input", 1),
    62: ("single-phase 90 A G1", 1),
    63: ("three-phase 60 A G1", 3),
    64: ("single-phase 60 A G3", 1),
    70: ("single-phase 60 A G3, pre-series", 1),
    71: ("three-phase 60 A G3, pre-series", 3),
    75: ("single-phase 90 A G3", 1),
    76: ("three-phase 60 A G3", 3),
}


def meter_address(value):
    """ADCO / ADSC (12 digits: manufacturer, year, type, serial) -> dict. Type descriptions
    are the Linky ones; an unknown type gives None. Years 90-99 are read as 199x (older meters).
    """
    value = _str(value)
    if len(value) != 12:
        raise ValueError("address: 12 digits expected: %r" % value)
    _digits(value, "address")
    yy = int(value[2:4])
    t = int(value[4:6])
    info = METER_TYPES.get(t, (None, None))
    return {
        "manufacturer": int(value[0:2]),
        "year": (1900 if yy >= 90 else 2000) + yy,
        "type": t,
        "type_description": info[0],
        "phases": info[1],
        "serial": value[6:12],
    }


# ---------------------------------------------------------------- historique codes (§5, §11)

_OPTIONS = {
    "BASE": ("base", "Base: single price"),
    "HC..": ("off_peak", "Peak / off-peak hours"),
    "EJP.": ("ejp", "EJP: mobile peak days"),
}
_HEATING = "0123456C"


def optarif(value):
    """OPTARIF -> {"code", "option" (base/off_peak/ejp/tempo), "description"}; for Tempo
    (`BBRx`) also the circuit programming carried by x: water_circuit 1..3 and
    heating_programme "0".."6" or "C"."""
    code = _str(value)
    opt = _OPTIONS.get(code)
    if opt is not None:
        return {"code": code, "option": opt[0], "description": opt[1]}
    if len(code) == 4 and code.startswith("BBR") and 0x28 <= ord(code[3]) <= 0x3F:
        x = ord(code[3]) - 0x28
        return {
            "code": code,
            "option": "tempo",
            "description": "Tempo: blue, white and red days",
            "water_circuit": x // 8 + 1,
            "heating_programme": _HEATING[x % 8],
        }
    raise ValueError("OPTARIF: unknown %r" % code)


_PERIODS = {
    "TH..": ("all_hours", None, "All hours"),
    "HC..": ("off_peak", None, "Off-peak hours"),
    "HP..": ("peak", None, "Peak hours"),
    "HN..": ("normal", None, "EJP normal hours"),
    "PM..": ("mobile_peak", None, "EJP mobile peak hours"),
    "HCJB": ("off_peak", "blue", "Off-peak hours, blue day"),
    "HPJB": ("peak", "blue", "Peak hours, blue day"),
    "HCJW": ("off_peak", "white", "Off-peak hours, white day"),
    "HPJW": ("peak", "white", "Peak hours, white day"),
    "HCJR": ("off_peak", "red", "Off-peak hours, red day"),
    "HPJR": ("peak", "red", "Peak hours, red day"),
}


def ptec(value):
    """PTEC -> {"code", "period", "tempo_colour" (None outside Tempo), "description"}."""
    code = _str(value)
    p = _PERIODS.get(code)
    if p is None:
        raise ValueError("PTEC: unknown %r" % code)
    return {"code": code, "period": p[0], "tempo_colour": p[1], "description": p[2]}


_DEMAIN = {"----": None, "BLEU": "blue", "BLAN": "white", "ROUG": "red"}


def demain(value):
    """DEMAIN -> tomorrow's Tempo colour, None while not yet announced (`----`)."""
    code = _str(value)
    if code not in _DEMAIN:
        raise ValueError("DEMAIN: unknown %r" % code)
    return _DEMAIN[code]


def ppot(value):
    """PPOT (`0X`, X hex) -> [phase 1 absent, phase 2 absent, phase 3 absent].

    [54E] says "bit n = 1 when phase n is absent"; read with n = 1..3, phase 1 is 0x2 and bit
    0 is unused. The wording is ambiguous and the normal value is `00` either way.
    """
    value = _str(value)
    v = _hex(value, "PPOT")
    if len(value) != 2 or v > 0xF:
        raise ValueError("PPOT: `0X` expected: %r" % value)
    return [bool(v & 2), bool(v & 4), bool(v & 8)]


# ---------------------------------------------------------------- several labels of a frame


def tempo(src):
    """Tempo colours {"today", "tomorrow"} (None = not announced) from PTEC/DEMAIN
    (historique) or STGE (standard); None when the frame shows no Tempo contract."""
    p = _get(src, "PTEC")
    if p is not None:
        colour = _PERIODS.get(p, (None, None))[1]
        d = _get(src, "DEMAIN")
        if colour is None and d is None:
            return None
        return {"today": colour, "tomorrow": _DEMAIN.get(d)}
    s = _get(src, "STGE")
    if s is not None:
        st = stge(s)
        # Bits 24-25 are 0 on every contract but Tempo, where 0 is not allowed.
        if st["tempo_today"] is None:
            return None
        return {"today": st["tempo_today"], "tomorrow": st["tempo_tomorrow"]}
    return None


def ejp(src):
    """Mobile peak (EJP) state {"notice", "peak"}: historique PEJP (30 min notice) and PTEC
    `PM..`; standard STGE bits 28-31, where notice/peak are 0 or the peak number 1..3.
    None when the frame shows no EJP information."""
    p = _get(src, "PTEC")
    if p is not None:
        if p not in ("HN..", "PM..") and _get(src, "OPTARIF") != "EJP.":
            return None
        return {"notice": _get(src, "PEJP") is not None, "peak": p == "PM.."}
    s = _get(src, "STGE")
    if s is not None:
        st = stge(s)
        return {"notice": st["mobile_peak_notice"], "peak": st["mobile_peak"]}
    return None


def overload(src):
    """Historique three-phase overload: {"short": a short frame (no OPTARIF/PTEC), "over":
    phases in overload (ADIRn present), "currents": [IINST1..3] (None if absent)}; None when
    the frame has no ADIRn and is not a short frame."""
    over = []
    for n in (1, 2, 3):
        if _get(src, "ADIR%d" % n) is not None:
            over.append(n)
    short = _get(src, "OPTARIF") is None and _get(src, "PTEC") is None
    short = short and _get(src, "IINST1") is not None
    if not over and not short:
        return None
    currents = []
    for n in (1, 2, 3):
        v = _get(src, "IINST%d" % n)
        currents.append(None if v is None else _digits(v, "IINST"))
    return {"short": short, "over": over, "currents": currents}


# ---------------------------------------------------------------- one group

_STRUCTURED = {
    "STGE": stge,
    "RELAIS": relais,
    "PJOURF+1": day_profile,
    "PPOINTE": day_profile,
    "ADCO": meter_address,
    "ADSC": meter_address,
    "PPOT": ppot,
}
_MEANING = {"PTEC": ptec, "OPTARIF": optarif, "DEMAIN": demain}


def decode_group(label, value, horodate=None):
    """One group -> dict, JSON-serialisable, for tools/ticdump.py --decode and MQTT:

    value    the typed value: int for numeric labels; a structure for STGE, RELAIS, PJOURF+1,
             PPOINTE, ADCO, ADSC, PPOT; the ISO time for DATE; trimmed text otherwise
    unit     when the label has one ("Wh", "VA", ...)
    time     ISO 8601 of the horodate, when the group has one
    meaning  for PTEC, OPTARIF, DEMAIN: their decoded code
    error    when the value or horodate is malformed (value is then the raw text)
    """
    label = _str(label)
    value = _str(value)
    r = labels.index(label)  # an index and accessors: the ROWS tuples are never built
    kind = labels.kind(r) if r >= 0 else -1
    out = {}
    if horodate is not None:
        try:
            out["time"] = _horodate(horodate)["iso"]
        except ValueError as e:
            out["time"] = None
            out["error"] = str(e)
    try:
        if label == "DATE":
            out["value"] = out.get("time")
        elif label in _STRUCTURED:
            out["value"] = _STRUCTURED[label](value)
        elif kind == labels.KIND_INT:
            out["value"] = _digits(value, label)
        elif kind == labels.KIND_HEX:
            _hex(value, label)
            out["value"] = value
        else:
            out["value"] = trim(value)
            if label in _MEANING:
                out["meaning"] = _MEANING[label](value)
    except ValueError as e:
        out["value"] = value
        out["error"] = "%s; %s" % (out["error"], e) if "error" in out else str(e)
    unit = labels.unit(r) if r >= 0 else None
    if unit is not None:
        out["unit"] = unit
    return out
