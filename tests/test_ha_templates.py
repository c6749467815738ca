"""lib/ha.py's templates rendered with Jinja2 as Home Assistant renders them (a sandboxed
environment, `value_json` the parsed state message), then read the way Home Assistant's MQTT
sensor and binary sensor read a rendered value: "None" is unknown, "" is ignored by numeric
sensors, an enum value must be one of its options, a timestamp needs an offset.

CPython only; skipped when Jinja2 is not installed (it is not a dependency of the firmware).
"""

import json
from datetime import datetime

import jinja2
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

import ha
import ha_schema
from tic import MODE_HISTORIQUE, MODE_STANDARD, label_rows, labels

MID = "041776199277"
MISSING = []  # names of undefined variables a rendering touched (Home Assistant logs them)


class _Undefined(jinja2.Undefined):
    def __str__(self):
        MISSING.append(self._undefined_name)
        return ""


ENV = ImmutableSandboxedEnvironment(undefined=_Undefined)


_COMPILED = {}


def _render(tpl, payload, value_json=None):
    t = _COMPILED.get(tpl)
    if t is None:
        t = _COMPILED[tpl] = ENV.from_string(tpl)
    if value_json is None:
        value_json = json.loads(payload)
    return t.render(value=payload, value_json=value_json)


def _value(kind, name):
    if kind == labels.KIND_INT:
        return 1234
    if kind == labels.KIND_HEX:
        return "003A4301"
    return "TXT " + name


def _state(mode, events=True):
    """A `~/state` message as the contract describes it, every label of the mode present."""
    st = {}
    for r in range(labels.COUNT):
        if label_rows.mode(r) != mode:
            continue
        name = label_rows.name(r)
        if labels.flags(r) & labels.F_EVENT and not events:
            continue
        if name == "DATE":
            st["time"] = "2024-01-15T18:30:00+01:00"
            continue
        st[name] = _value(label_rows.kind(r), name)
        if labels.flags(r) & labels.F_HORODATE:
            st[name + "_time"] = "2024-01-15T18:30:00+01:00"
    st["period"] = "HCJB" if mode == MODE_HISTORIQUE else "HP BLEU"
    st.update(tempo_today="blue", tempo_tomorrow="red", overpower=False)
    if mode == MODE_STANDARD:
        st.update(contact_open=True, cutoff="closed", overvoltage=False, tariff_index=2)
        st["producer"] = False
    return st


DIAGNOSTICS = {
    "tic_state": "ok",
    "tic_mode": "standard",
    "baud": 9600,
    "bytes": 123456,
    "frames": 100,
    "groups": 5400,
    "checksum_errors": 1,
    "format_errors": 0,
    "interrupted": 0,
    "rejected_indexes": 0,
    "dropped_values": 0,
    "rssi": -61,
    "mem_used": 51234,
    "uptime_s": 3600,
    "version": "1.0",
    "reset_cause": "power",
    "last_crash": None,
}


def _entities(mode):
    d = ha.Discovery(MID, mode)
    buf = bytearray(ha.PAYLOAD_MAX)
    tbuf = bytearray(ha.TOPIC_MAX)
    for code in ha.codes(ha.possible(mode)):
        cfg = ha_schema.expand(json.loads(bytes(buf[: d.config(code, buf)])))
        yield code, bytes(tbuf[: d.topic(code, tbuf)]).decode().split("/")[1], cfg


def _read(component, cfg, out):
    """The entity state Home Assistant keeps from rendered output `out` (or "ignored")."""
    if out == "None":
        return None
    if component == "binary_sensor":
        if out == "":
            return "ignored"
        assert out in (cfg["payload_on"], cfg["payload_off"]), out
        return out == cfg["payload_on"]
    dc = cfg.get("device_class")
    numeric = dc not in (None, "enum", "timestamp") or "unit_of_measurement" in cfg
    numeric = numeric or "state_class" in cfg
    if numeric:
        if out == "":
            return "ignored"
        return int(out)  # indexes and powers come as ints, never floats
    if dc == "enum":
        assert out in cfg["options"], (out, cfg["options"])
    if dc == "timestamp":
        assert datetime.fromisoformat(out).tzinfo is not None, out
    assert len(out) <= 255
    return out


@pytest.mark.parametrize("mode", [MODE_HISTORIQUE, MODE_STANDARD])
def test_a_full_state_message(mode):
    state = json.dumps(_state(mode))
    diag = json.dumps(DIAGNOSTICS)
    del MISSING[:]
    for code, component, cfg in _entities(mode):
        payload = diag if cfg["state_topic"].endswith("/diagnostics") else state
        got = _read(component, cfg, _render(cfg["value_template"], payload))
        assert got not in (None, "ignored"), (code, cfg["value_template"])
        if code < labels.COUNT and label_rows.kind(code) == labels.KIND_INT:
            assert str(got) == "1234"  # a number, or text when the row has no class
        if "json_attributes_template" in cfg:
            attrs = json.loads(_render(cfg["json_attributes_template"], payload))
            assert attrs == {"time": "2024-01-15T18:30:00+01:00"}
    assert MISSING == []  # no "template variable" warning in Home Assistant's log


def test_absent_event_labels_and_colours_read_as_unknown():
    st = _state(MODE_STANDARD, events=False)
    del st["tempo_tomorrow"]  # not announced yet
    state = json.dumps(st)
    del MISSING[:]
    for code, component, cfg in _entities(MODE_STANDARD):
        if cfg["state_topic"].endswith("/diagnostics"):
            continue
        got = _read(component, cfg, _render(cfg["value_template"], state))
        event = code < labels.COUNT and labels.flags(code) & labels.F_EVENT
        if event or (code == ha.DECODED + ha.KEYS.index("tempo_tomorrow")):
            assert got is None, cfg["value_template"]
        else:
            assert got is not None, cfg["value_template"]
    assert MISSING == []


def test_binary_sensors_follow_json_booleans():
    for value, want in ((True, True), (False, False)):
        st = _state(MODE_STANDARD)
        st.update(contact_open=value, overvoltage=value, overpower=value, producer=value)
        state = json.dumps(st)
        for _, component, cfg in _entities(MODE_STANDARD):
            if component == "binary_sensor":
                assert _read(component, cfg, _render(cfg["value_template"], state)) is want


def test_last_crash_is_cut_to_a_valid_state():
    code = ha.DIAG + ha.DIAG_KEYS.index("last_crash")
    cfg = next(c for k, _, c in _entities(MODE_STANDARD) if k == code)
    for crash, want in ((None, "none"), ("x" * 400, "x" * 255), ("boom", "boom")):
        diag = json.dumps(dict(DIAGNOSTICS, last_crash=crash))
        assert _read("sensor", cfg, _render(cfg["value_template"], diag)) == want


# ---- the real state payload: parser, guard, readings store, firmware.state_json


def _stream_states(data):
    """(mode, label rows present in any frame, [state payload str]) for a TIC byte stream."""
    from firmware import state_json
    from firmware.readings import Readings
    from tic.guard import IndexGuard
    from tic.parser import Parser

    guard = IndexGuard()
    rd = Readings(guard)
    buf = bytearray(state_json.SIZE)
    states = []
    present = set()
    t = [0]

    def on_frame(f):
        if not f.n:
            return
        t[0] += 1000
        rd.update(f, guard.check_frame(f, t[0]), t[0])
        states.append(bytes(buf[: state_json.write(rd, buf)]).decode())
        present.update(r for r in range(labels.COUNT) if rd.present(r))

    p = Parser(on_frame=on_frame)
    for k in range(0, len(data), 256):
        p.feed(data[k : k + 256])
    return rd.mode, present, states


def _streams():
    import os

    import ticsim

    d = "tests/fixtures/captures/"
    for name in sorted(os.listdir(d)):
        if name.endswith(".raw"):
            with open(d + name, "rb") as f:
                yield name, f.read()
    for mode in ("historique", "standard"):
        for phases in ("1", "3"):
            for contract in ("base", "hchp", "tempo", "ejp", "producer"):
                args = ["--mode", mode, "--phases", phases, "--contract", contract,
                        "--frames", "12", "--seed", "5", "--overload", "6,8"]  # fmt: skip
                if contract == "tempo":
                    args += ["--days", "R,B", "--start", "2024-01-16T21:55:00"]
                yield " ".join(args), ticsim.generate(args)


def test_real_state_payloads_render_to_valid_states():
    seen = set()
    for what, data in _streams():
        mode, present, states = _stream_states(data)
        if not states:  # a capture without a complete frame
            assert "incomplete" in what, what
            continue
        decoded = [json.loads(s) for s in states]
        tempo = any("tempo_today" in s for s in decoded)
        sel = ha.select(sorted(present), mode, tempo=tempo)
        d = ha.Discovery(MID, mode)
        buf = bytearray(ha.PAYLOAD_MAX)
        tbuf = bytearray(ha.TOPIC_MAX)
        for code in ha.codes(sel):
            cfg = ha_schema.expand(json.loads(bytes(buf[: d.config(code, buf)])))
            if not cfg["state_topic"].endswith("/state"):
                continue
            component = bytes(tbuf[: d.topic(code, tbuf)]).decode().split("/")[1]
            for payload, st in zip(states, decoded):
                got = _read(component, cfg, _render(cfg["value_template"], payload, st))
                if got not in (None, "ignored"):
                    seen.add(cfg["unique_id"].split("_", 2)[2])
                if "json_attributes_template" in cfg:
                    attrs = json.loads(_render(cfg["json_attributes_template"], payload, st))
                    assert list(attrs) == ["time"], attrs
    for k in (
        "east",
        "sinsts",
        "papp",
        "period",
        "tempo_today",
        "tempo_tomorrow",
        "cutoff",
        "contact_open",
        "overpower",
        "producer",
        "tariff_index",
        "date",
        "eait",
    ):
        assert k in seen, k  # each read as a valid state at least once
