"""A model of what Home Assistant's MQTT discovery accepts for a sensor or binary_sensor, to
check lib/ha.py's payloads without a Home Assistant install (CPython and MicroPython).

Written from Home Assistant's MQTT documentation: the abbreviation list of the discovery page,
the options of the MQTT sensor and binary sensor pages, the device classes, units and state
classes of the sensor entity page. Only the parts that concern these two components are here.

    expand(config)              abbreviated keys -> full keys (device and origin too), `~`
                                substituted in topics; KeyError names an unknown abbreviation
    problems(component, config) list of reasons Home Assistant would refuse or warn about an
                                expanded config; [] when accepted
"""

# Discovery payload keys (abbreviation -> full name), as documented.
ABBREVIATIONS = {
    "act_t": "action_topic",
    "act_tpl": "action_template",
    "atype": "automation_type",
    "avty": "availability",
    "avty_mode": "availability_mode",
    "avty_t": "availability_topic",
    "avty_tpl": "availability_template",
    "cmd_t": "command_topic",
    "cmd_tpl": "command_template",
    "cmps": "components",
    "dev": "device",
    "dev_cla": "device_class",
    "def_ent_id": "default_entity_id",
    "en": "enabled_by_default",
    "enc": "encoding",
    "ent_cat": "entity_category",
    "ent_pic": "entity_picture",
    "exp_aft": "expire_after",
    "frc_upd": "force_update",
    "ic": "icon",
    "json_attr": "json_attributes",
    "json_attr_t": "json_attributes_topic",
    "json_attr_tpl": "json_attributes_template",
    "lrst_t": "last_reset_topic",
    "lrst_val_tpl": "last_reset_value_template",
    "o": "origin",
    "obj_id": "object_id",
    "off_dly": "off_delay",
    "opt": "optimistic",
    "ops": "options",
    "p": "platform",
    "pl_avail": "payload_available",
    "pl_not_avail": "payload_not_available",
    "pl_off": "payload_off",
    "pl_on": "payload_on",
    "ret": "retain",
    "stat_cla": "state_class",
    "stat_t": "state_topic",
    "stat_tpl": "state_template",
    "stat_val_tpl": "state_value_template",
    "sug_dsp_prc": "suggested_display_precision",
    "uniq_id": "unique_id",
    "unit_of_meas": "unit_of_measurement",
    "val_tpl": "value_template",
}
DEVICE_ABBREVIATIONS = {
    "cns": "connections",
    "cu": "configuration_url",
    "hw": "hw_version",
    "ids": "identifiers",
    "mdl": "model",
    "mdl_id": "model_id",
    "mf": "manufacturer",
    "sa": "suggested_area",
    "sn": "serial_number",
    "sw": "sw_version",
}
ORIGIN_ABBREVIATIONS = {"sw": "sw_version", "url": "support_url"}

FULL_KEYS = set(ABBREVIATIONS.values())

# Options of the MQTT sensor and binary sensor (besides the common ones below).
COMMON = {
    "availability",
    "availability_mode",
    "availability_template",
    "availability_topic",
    "device",
    "device_class",
    "enabled_by_default",
    "encoding",
    "entity_category",
    "entity_picture",
    "expire_after",
    "force_update",
    "icon",
    "json_attributes_template",
    "json_attributes_topic",
    "name",
    "object_id",
    "default_entity_id",
    "origin",
    "payload_available",
    "payload_not_available",
    "platform",
    "qos",
    "state_topic",
    "unique_id",
    "value_template",
}
ALLOWED = {
    "sensor": COMMON
    | {
        "last_reset_value_template",
        "options",
        "state_class",
        "suggested_display_precision",
        "unit_of_measurement",
    },
    "binary_sensor": COMMON | {"off_delay", "payload_off", "payload_on"},
}
DEVICE_KEYS = set(DEVICE_ABBREVIATIONS.values()) | {"name", "via_device"}
ORIGIN_KEYS = {"name", "sw_version", "support_url"}

SENSOR_CLASSES = set(
    "apparent_power aqi area atmospheric_pressure battery blood_glucose_concentration "
    "carbon_dioxide carbon_monoxide conductivity current data_rate data_size date distance "
    "duration energy energy_distance energy_storage enum frequency gas humidity illuminance "
    "irradiance moisture monetary nitrogen_dioxide nitrogen_monoxide nitrous_oxide ozone ph "
    "pm1 pm10 pm25 power power_factor precipitation precipitation_intensity pressure "
    "reactive_energy reactive_power signal_strength sound_pressure speed sulphur_dioxide "
    "temperature timestamp volatile_organic_compounds volatile_organic_compounds_parts "
    "voltage volume volume_flow_rate volume_storage water weight wind_direction "
    "wind_speed".split()
)
BINARY_CLASSES = set(
    "battery battery_charging carbon_monoxide cold connectivity door garage_door gas heat "
    "light lock moisture motion moving occupancy opening plug power presence problem running "
    "safety smoke sound tamper update vibration window".split()
)
STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}

# Units Home Assistant accepts per device class (the classes lib/ha.py may use; a class not
# listed here is refused by problems() so that a new one gets checked first).
UNITS = {
    "apparent_power": {"VA"},
    "current": {"A", "mA"},
    "data_size": {"bit", "kbit", "Mbit", "Gbit", "B", "kB", "MB", "GB", "KiB", "MiB", "GiB"},
    "duration": {"d", "h", "min", "s", "ms", "µs"},
    "energy": {"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh"},
    "power": {"mW", "W", "kW", "MW", "GW", "TW"},
    "reactive_energy": {"varh", "kvarh"},
    "signal_strength": {"dB", "dBm"},
    "voltage": {"µV", "mV", "V", "kV", "MV"},
    "enum": set(),
    "timestamp": set(),
}
# State classes Home Assistant expects per device class (others log a warning).
CLASS_STATE_CLASSES = {
    "apparent_power": {"measurement"},
    "current": {"measurement"},
    "data_size": {"measurement", "total", "total_increasing"},
    "duration": {"measurement", "total", "total_increasing"},
    "energy": {"total", "total_increasing"},
    "power": {"measurement"},
    "reactive_energy": {"total", "total_increasing"},
    "signal_strength": {"measurement"},
    "voltage": {"measurement"},
    "enum": set(),
    "timestamp": set(),
}


def _expand_keys(d, table, where, full=None):
    out = {}
    for k, v in d.items():
        if k in table:
            k = table[k]
        elif full is not None and k not in full and k != "~":
            raise KeyError("%s: unknown key %r" % (where, k))
        out[k] = v
    return out


def expand(config):
    """Full keys, `~` expanded in every *_topic value that starts or ends with it."""
    c = _expand_keys(config, ABBREVIATIONS, "config", FULL_KEYS | {"name", "qos"})
    base = c.pop("~", None)
    for k in list(c):
        v = c[k]
        if k.endswith("_topic") and isinstance(v, str) and base is not None:
            if v.startswith("~"):
                c[k] = base + v[1:]
            elif v.endswith("~"):
                c[k] = v[:-1] + base
    if "device" in c:
        c["device"] = _expand_keys(c["device"], DEVICE_ABBREVIATIONS, "device")
    if "origin" in c:
        c["origin"] = _expand_keys(c["origin"], ORIGIN_ABBREVIATIONS, "origin")
    return c


def _topic_ok(t):
    return isinstance(t, str) and 0 < len(t) <= 65535 and "+" not in t and "#" not in t


def _template_ok(t):
    return isinstance(t, str) and t.count("{{") == t.count("}}") >= 1


def problems(component, c):
    """Reasons Home Assistant would refuse (or warn about) the expanded config c."""
    out = []
    if component not in ALLOWED:
        return ["unknown component %r" % component]
    for k in c:
        if k not in ALLOWED[component]:
            out.append("%s: not an option of %s" % (k, component))
    if "state_topic" not in c:
        out.append("state_topic missing")
    for k in ("state_topic", "availability_topic", "json_attributes_topic"):
        if k in c and not _topic_ok(c[k]):
            out.append("%s: bad topic %r" % (k, c[k]))
    for k in ("value_template", "json_attributes_template"):
        if k in c and not _template_ok(c[k]):
            out.append("%s: not a template %r" % (k, c[k]))
    for k in ("name", "unique_id", "unit_of_measurement", "payload_on", "payload_off"):
        if k in c and not isinstance(c[k], str):
            out.append("%s: not a string" % k)
    if "entity_category" in c and c["entity_category"] not in ("diagnostic", "config"):
        out.append("entity_category %r" % c["entity_category"])
    if component == "sensor" and c.get("entity_category") == "config":
        out.append("a sensor cannot be a config entity")
    dc = c.get("device_class")
    if component == "binary_sensor":
        if dc is not None and dc not in BINARY_CLASSES:
            out.append("binary_sensor device_class %r" % dc)
    else:
        unit = c.get("unit_of_measurement")
        sc = c.get("state_class")
        if sc is not None and sc not in STATE_CLASSES:
            out.append("state_class %r" % sc)
        if dc is not None:
            if dc not in SENSOR_CLASSES:
                out.append("device_class %r" % dc)
            elif dc not in UNITS:
                out.append("device_class %r: not modelled here" % dc)
            else:
                if unit is not None and unit not in UNITS[dc]:
                    out.append("unit %r with device_class %r" % (unit, dc))
                if unit is None and UNITS[dc]:
                    out.append("device_class %r needs a unit" % dc)
                if sc is not None and sc not in CLASS_STATE_CLASSES[dc]:
                    out.append("state_class %r with device_class %r" % (sc, dc))
        ops = c.get("options")
        if dc == "enum" or ops is not None:
            if dc != "enum":
                out.append("options without device_class enum")
            if not isinstance(ops, list) or not ops or not all(isinstance(o, str) for o in ops):
                out.append("enum: options must be a non-empty list of strings")
            if unit is not None or sc is not None:
                out.append("enum: no unit nor state_class")
    dev = c.get("device")
    if dev is not None:
        for k in dev:
            if k not in DEVICE_KEYS:
                out.append("device: unknown key %r" % k)
        ids = dev.get("identifiers")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            out.append("device: identifiers must be a non-empty list of strings")
        name = c.get("name")
        if isinstance(name, str) and isinstance(dev.get("name"), str):
            if name.startswith(dev["name"]):  # HA warns: the device name is prefixed already
                out.append("entity name starts with the device name")
    if "unique_id" in c and dev is None:
        out.append("unique_id without a device: no device page")
    org = c.get("origin")
    if org is not None:
        for k in org:
            if k not in ORIGIN_KEYS:
                out.append("origin: unknown key %r" % k)
        if not isinstance(org.get("name"), str):
            out.append("origin: name required")
    return out
