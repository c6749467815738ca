# micropython: also
"""lib/ha.py: every discovery payload parses, expands to a config Home Assistant accepts
(tests/ha_schema.py), carries the classes and units of its label, and the entity sets follow
what the meter sends. Pinned ids and topics: test_ha_contract.py."""

import gc
import json

import ha
import ha_schema
from tic import MODE_HISTORIQUE, MODE_STANDARD, decode, label_rows, labels
from tic_helpers import CAPTURES, parse_all, read

MID = "041776199277"  # manufacturer 04, 2017, type 76 (three-phase 60 A G3)
BOTH = (MODE_HISTORIQUE, MODE_STANDARD)


def _disc(mode, **kw):
    return ha.Discovery(MID, mode, **kw)


def _entity(d, code):
    """(topic str, payload dict) of one entity."""
    buf = bytearray(ha.PAYLOAD_MAX)
    tbuf = bytearray(ha.TOPIC_MAX)
    n = d.config(code, buf)
    tn = d.topic(code, tbuf)
    return bytes(tbuf[:tn]).decode(), json.loads(bytes(buf[:n]))


def _all(mode, **kw):
    d = _disc(mode, **kw)
    return [(code,) + _entity(d, code) for code in ha.codes(ha.possible(mode))]


def _row(name):
    r = labels.index(name)
    if r < 0:
        raise KeyError(name)
    return r


def _cfg(mode, code):
    return _entity(_disc(mode), code)[1]


# ---- every payload


def test_every_payload_is_accepted_by_the_schema():
    for mode in BOTH:
        for _code, topic, cfg in _all(mode, version="1.2.3"):
            parts = topic.split("/")
            assert len(parts) == 5 and parts[0] == "homeassistant", topic
            assert parts[2] == "linky_" + MID and parts[4] == "config", topic
            full = ha_schema.expand(cfg)
            bad = ha_schema.problems(parts[1], full)
            assert bad == [], (topic, bad)
            assert full["unique_id"] == "linky_%s_%s" % (MID, parts[3])
            assert full["state_topic"] in ("linky/%s/state" % MID, "linky/%s/diagnostics" % MID)
            assert full["availability_topic"] == "linky/%s/availability" % MID


def test_keys_are_abbreviated_with_a_base():
    short = set(ha_schema.ABBREVIATIONS)
    for mode in BOTH:
        for _, _, cfg in _all(mode):
            assert cfg["~"] == "linky/" + MID
            for k in cfg:
                assert k in short or k in ("~", "name"), k
            assert cfg["stat_t"] in ("~/state", "~/diagnostics")
            assert cfg["avty_t"] == "~/availability"
            for k in cfg["dev"]:
                assert k in ha_schema.DEVICE_ABBREVIATIONS or k == "name", k


def test_one_component_per_entity():
    for mode in BOTH:
        for code, topic, _ in _all(mode):
            binary = ha.DECODED <= code < ha.DIAG and ha.KEYS[code - ha.DECODED] in (
                "contact_open",
                "overvoltage",
                "overpower",
                "producer",
            )
            assert topic.split("/")[1] == ("binary_sensor" if binary else "sensor"), topic


# ---- labels


def test_energy_indexes_feed_the_energy_dashboard():
    n = 0
    for r in range(labels.COUNT):
        if labels.flags(r) & labels.F_GUARDED:
            cfg = _cfg(label_rows.mode(r), r)
            n += 1
            assert cfg["stat_cla"] == "total_increasing"
            if label_rows.unit(r) == "Wh":
                assert (cfg["dev_cla"], cfg["unit_of_meas"]) == ("energy", "Wh")
            else:
                assert (cfg["dev_cla"], cfg["unit_of_meas"]) == ("reactive_energy", "varh")
    assert n == 31  # 11 historique, 20 standard


def test_power_current_voltage_classes():
    cases = {
        "PAPP": ("apparent_power", "VA", "measurement"),
        "SINSTS": ("apparent_power", "VA", "measurement"),
        "SINSTS3": ("apparent_power", "VA", "measurement"),
        "SMAXSN-1": ("apparent_power", "VA", "measurement"),
        "SINSTI": ("apparent_power", "VA", "measurement"),
        "IINST": ("current", "A", "measurement"),
        "IRMS1": ("current", "A", "measurement"),
        "ADIR2": ("current", "A", "measurement"),
        "URMS2": ("voltage", "V", "measurement"),
        "UMOY3": ("voltage", "V", "measurement"),
        "PMAX": ("power", "W", "measurement"),
        "CCASN": ("power", "W", "measurement"),
    }
    for name, (dc, unit, sc) in cases.items():
        r = _row(name)
        cfg = _cfg(label_rows.mode(r), r)
        assert (cfg["dev_cla"], cfg["unit_of_meas"], cfg["stat_cla"]) == (dc, unit, sc), name


def test_every_label_follows_its_row():
    # Device class, unit and state class as tic.label_rows gives them; kVA (PREF, PCOUP) is
    # not a unit of Home Assistant's apparent_power, so those two keep the unit only.
    for r in range(labels.COUNT):
        cfg = _cfg(label_rows.mode(r), r)
        unit = label_rows.ha_unit(r)
        dc = None if unit == "kVA" else label_rows.device_class(r)
        assert cfg.get("dev_cla") == dc, label_rows.name(r)
        assert cfg.get("unit_of_meas") == unit, label_rows.name(r)
        assert cfg.get("stat_cla") == label_rows.state_class(r), label_rows.name(r)
        assert label_rows.name(r) in cfg["name"]


def test_value_templates():
    def tpl(name):
        r = _row(name)
        return _cfg(label_rows.mode(r), r)["val_tpl"]

    assert tpl("EAST") == "{{ value_json.EAST }}"
    assert tpl("PTEC") == "{{ value_json.PTEC }}"
    assert tpl("SMAXSN-1") == "{{ value_json['SMAXSN-1'] }}"
    assert tpl("SMAXSN3-1") == "{{ value_json['SMAXSN3-1'] }}"
    assert tpl("NJOURF+1") == "{{ value_json['NJOURF+1'] }}"
    # sent only while a condition holds: absent -> "None", which Home Assistant reads as unknown
    assert tpl("ADPS") == "{{ value_json.ADPS | default('None') }}"
    assert tpl("CCASN-1") == "{{ value_json['CCASN-1'] | default('None') }}"
    assert tpl("DATE") == "{{ value_json.time }}"


def test_horodated_labels_carry_their_time_as_an_attribute():
    for r in range(labels.COUNT):
        cfg = _cfg(label_rows.mode(r), r)
        name = label_rows.name(r)
        if labels.flags(r) & labels.F_HORODATE and name != "DATE":
            assert cfg["json_attr_t"] == "~/state"
            assert "value_json.get('%s_time')" % name in cfg["json_attr_tpl"]
        else:
            assert "json_attr_t" not in cfg and "json_attr_tpl" not in cfg


def test_date_is_a_timestamp():
    cfg = _cfg(MODE_STANDARD, _row("DATE"))
    assert cfg["dev_cla"] == "timestamp" and "unit_of_meas" not in cfg


# ---- decoded keys and diagnostics


def _key(name):
    return ha.DECODED + ha.KEYS.index(name)


def test_period_is_an_enum_in_historique_only():
    cfg = _cfg(MODE_HISTORIQUE, _key("period"))
    assert cfg["dev_cla"] == "enum"
    assert sorted(cfg["ops"]) == sorted(decode._PERIODS)  # every PTEC code decode knows
    cfg = _cfg(MODE_STANDARD, _key("period"))  # LTARF: free text chosen by the supplier
    assert "dev_cla" not in cfg and "ops" not in cfg
    assert cfg["val_tpl"] == "{{ value_json.period }}"


def test_tempo_and_cutoff_enums():
    # The values firmware.state_json writes: tic.decode's names (state = ticdump --decode).
    for k in ("tempo_today", "tempo_tomorrow"):
        cfg = _cfg(MODE_STANDARD, _key(k))
        assert cfg["dev_cla"] == "enum" and cfg["ops"] == list(decode.COLOURS[1:])
        assert cfg["val_tpl"] == "{{ value_json.%s | default('None') }}" % k
    cfg = _cfg(MODE_STANDARD, _key("cutoff"))
    assert cfg["ops"] == [b for b in decode.BREAKER if b is not None]


def test_stge_booleans_are_binary_sensors():
    d = _disc(MODE_STANDARD)
    classes = {
        "contact_open": "opening",
        "overvoltage": "problem",
        "overpower": "problem",
        "producer": None,
    }
    for k, dc in classes.items():
        topic, cfg = _entity(d, _key(k))
        assert topic == "homeassistant/binary_sensor/linky_%s/%s/config" % (MID, k)
        assert (cfg["pl_on"], cfg["pl_off"]) == ("True", "False")  # JSON true renders True
        assert cfg.get("dev_cla") == dc
        assert cfg["val_tpl"] == "{{ value_json.%s }}" % k
    _, cfg = _entity(d, _key("tariff_index"))
    assert "dev_cla" not in cfg and "unit_of_meas" not in cfg


def test_diagnostics():
    d = _disc(MODE_HISTORIQUE)
    assert len(ha.DIAG_KEYS) == 17
    for i, k in enumerate(ha.DIAG_KEYS):
        topic, cfg = _entity(d, ha.DIAG + i)
        assert topic == "homeassistant/sensor/linky_%s/diag_%s/config" % (MID, k)
        assert cfg["ent_cat"] == "diagnostic"
        assert cfg["stat_t"] == "~/diagnostics"
        assert k in cfg["val_tpl"]
    assert _entity(d, ha.DIAG + ha.DIAG_KEYS.index("rssi"))[1]["unit_of_meas"] == "dBm"
    crash = _entity(d, ha.DIAG + ha.DIAG_KEYS.index("last_crash"))[1]["val_tpl"]
    assert "[:255]" in crash  # Home Assistant refuses a state over 255 characters


# ---- the device


def test_device_block_from_the_meter_id():
    for mid in ("041776199277", "021861348497", "309912345678"):
        buf = bytearray(ha.PAYLOAD_MAX)
        d = ha.Discovery(mid, MODE_STANDARD, version="2.0")
        dev = json.loads(bytes(buf[: d.config(_row("EAST"), buf)]))["dev"]
        info = decode.meter_address(mid)
        assert dev["ids"] == ["linky_" + mid]
        assert dev["name"] == "Linky " + mid
        assert dev["mf"] == "Linky maker %02d" % info["manufacturer"]
        want = info["type_description"]
        assert dev["mdl"] == ("Linky " + want if want else "meter type %02d" % info["type"])
        assert dev["hw"] == str(info["year"])
        assert dev["sw"] == "2.0"


def test_meter_types_match_decode():
    for t in range(100):
        v = decode.METER_TYPES.get(t)
        assert ha._model(t) == (v[0] if v else None), t


def test_bad_meter_id_or_mode():
    for mid in ("04177619927", "0417761992770", "04177619927x", ""):
        try:
            ha.Discovery(mid, MODE_STANDARD)
        except ValueError:
            continue
        raise AssertionError(mid)
    try:
        ha.Discovery(MID, 0)
    except ValueError:
        return
    raise AssertionError("mode 0 accepted")


def test_text_is_escaped():
    d = ha.Discovery(MID, MODE_STANDARD, version='1.0 "rc\\1"\n')
    buf = bytearray(ha.PAYLOAD_MAX)
    cfg = json.loads(bytes(buf[: d.config(_row("EAST"), buf)]))
    assert cfg["dev"]["sw"] == '1.0 "rc\\1"'
    assert cfg["o"] == {"name": "linky", "sw": '1.0 "rc\\1"'}


def test_prefixes():
    d = ha.Discovery(b"041776199277", MODE_STANDARD, prefix="home/tic", ha_prefix="ha")
    buf = bytearray(ha.TOPIC_MAX)
    assert bytes(buf[: d.topic(_row("EAST"), buf)]) == b"ha/sensor/linky_041776199277/east/config"
    cbuf = bytearray(ha.PAYLOAD_MAX)
    cfg = json.loads(bytes(cbuf[: d.config(_row("EAST"), cbuf)]))
    assert ha_schema.expand(cfg)["state_topic"] == "home/tic/041776199277/state"


# ---- buffers


def test_worst_case_fits_and_small_buffers_raise():
    long = "p" * 32
    d = ha.Discovery(MID, MODE_HISTORIQUE, prefix=long, ha_prefix=long, version="v" * 24)
    most = tmost = 0
    buf = bytearray(ha.PAYLOAD_MAX)
    tbuf = bytearray(ha.TOPIC_MAX)
    for mode in BOTH:
        d.mode = mode
        for code in ha.codes(ha.possible(mode)):
            most = max(most, d.config(code, buf))
            tmost = max(tmost, d.topic(code, tbuf))
    assert most <= ha.PAYLOAD_MAX and tmost <= ha.TOPIC_MAX
    for size in (0, 10, most - 1):
        try:
            for code in ha.codes(ha.possible(MODE_STANDARD)):
                d.config(code, bytearray(size))
        except ValueError:
            continue
        raise AssertionError(size)
    try:
        d.topic(0, bytearray(20))
    except ValueError:
        pass
    else:
        raise AssertionError("topic overflow")
    for bad in (-1, labels.COUNT, ha.DECODED + len(ha.KEYS), ha.DIAG + len(ha.DIAG_KEYS)):
        for f in (d.config, d.topic):
            try:
                f(bad, buf)
            except ValueError:
                continue
            raise AssertionError(bad)


# ---- sets of entities


def _rows(mode, skip=0):
    return [r for r in range(labels.COUNT) if label_rows.mode(r) == mode and not (
        labels.flags(r) & skip)]  # fmt: skip


def _names(s):
    out = []
    for c in ha.codes(s):
        if c < labels.COUNT:
            out.append(label_rows.name(c))
        elif c < ha.DIAG:
            out.append(ha.KEYS[c - ha.DECODED])
        else:
            out.append("diag_" + ha.DIAG_KEYS[c - ha.DIAG])
    return out


def test_three_phase_producer_standard():
    rows = _rows(MODE_STANDARD, labels.F_MONO)
    s = ha.select(rows, MODE_STANDARD)
    names = _names(s)
    for k in ("period", "contact_open", "cutoff", "overvoltage", "overpower", "tariff_index"):
        assert k in names, k
    assert "producer" in names and "EAIT" in names and "SINSTI" in names
    assert "tempo_today" not in names  # not a Tempo contract unless the caller says so
    assert len(names) == len(rows) + 7 + 17
    s = ha.select(rows, MODE_STANDARD, tempo=True)
    assert "tempo_today" in _names(s) and "tempo_tomorrow" in _names(s)


def test_only_what_the_meter_sends():
    rows = [_row(n) for n in ("ADSC", "EAST", "SINSTS", "URMS1")]
    names = _names(ha.select(rows, MODE_STANDARD))
    assert names[:4] == ["ADSC", "EAST", "URMS1", "SINSTS"]
    assert names[4:] == ["diag_" + k for k in ha.DIAG_KEYS]  # no STGE, LTARF, NTARF: no keys


def test_historique_tempo_from_its_labels():
    rows = [_row(n) for n in ("ADCO", "OPTARIF", "BBRHCJB", "BBRHPJB", "PTEC", "PAPP")]
    names = _names(ha.select(rows, MODE_HISTORIQUE))
    for k in ("period", "tempo_today", "tempo_tomorrow", "overpower"):
        assert k in names, k
    names = _names(ha.select([_row("ADCO"), _row("HCHC"), _row("PTEC")], MODE_HISTORIQUE))
    assert "tempo_today" not in names and "period" in names


def test_select_from_a_real_capture():
    frames, _ = parse_all(read(CAPTURES + "std-tri-tempo-teleinfo-nom.raw"))
    present = set()
    stge = None
    for mode, groups in frames:
        assert mode == MODE_STANDARD
        for label, _, value in groups:
            present.add(_row(label))
            if label == "STGE":
                stge = value
    tempo = decode.stge(stge)["tempo_today"] is not None
    assert tempo  # a Tempo contract: STGE bits 24-25 give today's colour
    s = ha.select(sorted(present), MODE_STANDARD, tempo=tempo)
    names = _names(s)
    for k in ("EAST", "SINSTS3", "URMS3", "period", "tempo_tomorrow", "cutoff", "diag_rssi"):
        assert k in names, k
    assert len(names) == len(present) + 9 + 17
    d = _disc(MODE_STANDARD)
    for code in ha.codes(s):
        topic, cfg = _entity(d, code)
        assert ha_schema.problems(topic.split("/")[1], ha_schema.expand(cfg)) == []


def test_rows_of_the_other_mode_are_refused():
    for rows, mode in (([_row("EAST")], MODE_HISTORIQUE), ([_row("BASE")], MODE_STANDARD)):
        try:
            ha.select(rows, mode)
        except ValueError:
            continue
        raise AssertionError(rows)
    for bad in ([-1], [labels.COUNT]):
        try:
            ha.select(bad, MODE_STANDARD)
        except ValueError:
            continue
        raise AssertionError(bad)


def test_retired_after_a_mode_change():
    hchp = ("ADCO", "OPTARIF", "ISOUSC", "HCHC", "HCHP", "PTEC", "IINST", "IMAX", "PAPP")
    old = ha.select([_row(n) for n in hchp], MODE_HISTORIQUE)
    new = ha.select(_rows(MODE_STANDARD, labels.F_TRI), MODE_STANDARD)
    gone = _names(_set(ha.retired(old, new)))
    assert gone[:9] == list(hchp)
    assert not any(n.startswith("diag_") for n in gone)  # the same entities in both modes
    assert "period" not in gone and "overpower" not in gone  # both modes have them
    assert "tempo_today" not in gone  # this historique meter is not on Tempo
    # After a reboot the old set is unknown: everything of the other mode.
    gone = _names(_set(ha.retired(ha.possible(MODE_HISTORIQUE), new)))
    assert "BBRHPJR" in gone and "tempo_today" in gone and "ADIR3" in gone
    assert all(label_rows.mode(_row(n)) == MODE_HISTORIQUE for n in gone if n.isupper())


def test_retired_within_a_mode():
    old = ha.select([_row("ADSC"), _row("EAST"), _row("EAIT"), _row("SINSTI")], MODE_STANDARD)
    new = ha.select([_row("ADSC"), _row("EAST")], MODE_STANDARD)
    assert _names(_set(ha.retired(old, new))) == ["EAIT", "SINSTI"]
    assert list(ha.retired(new, new)) == []


def _set(codes):
    s = bytearray(ha.SET_BYTES)
    for c in codes:
        s[c >> 3] |= 1 << (c & 7)
    return s


def test_ids_are_unique():
    seen = {}
    for mode in BOTH:
        for code, topic, cfg in _all(mode):
            uid = cfg["uniq_id"]
            assert seen.setdefault(uid, (code, topic)) == (code, topic), uid
    assert len(seen) == labels.COUNT + len(ha.KEYS) + len(ha.DIAG_KEYS)


# ---- memory (MicroPython: nothing kept after a round)


def test_a_round_keeps_nothing():
    if not hasattr(gc, "mem_alloc"):
        return  # CPython
    d = _disc(MODE_STANDARD, version="1.0")
    buf = bytearray(ha.PAYLOAD_MAX)
    tbuf = bytearray(ha.TOPIC_MAX)
    s = ha.select(_rows(MODE_STANDARD, labels.F_MONO), MODE_STANDARD, tempo=True)

    def round_():
        for code in ha.codes(s):
            d.config(code, buf)
            d.topic(code, tbuf)

    round_()  # loads tic.label_docs
    gc.collect()
    before = gc.mem_alloc()
    round_()
    gc.collect()
    assert gc.mem_alloc() - before <= 64, gc.mem_alloc() - before
    # What one payload allocates (freed by the next collection): 4,224 bytes measured on the
    # 64-bit unix port (2,736 on a 32-bit board, docs/design/ha-discovery.md).
    most = 0
    for code in ha.codes(s):
        gc.collect()
        a = gc.mem_alloc()
        gc.disable()
        try:
            d.config(code, buf)
            d.topic(code, tbuf)
            most = max(most, gc.mem_alloc() - a)
        finally:
            gc.enable()
    assert most <= 6 * 1024, most


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
