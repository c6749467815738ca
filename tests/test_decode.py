# micropython: also
"""lib/tic/decode.py against the worked examples of tic-protocol.md and values of the captures."""

import json

from tic import decode as d
from tic.parser import Parser
from tic_helpers import CAPTURES, read


def raises(fn, *args):
    try:
        fn(*args)
    except ValueError:
        return True
    return False


# ---- horodates (§4)


def test_horodate_winter():
    h = d.horodate("H081225223518")
    assert h["season"] == "winter" and h["degraded"] is False
    assert (h["year"], h["month"], h["day"]) == (2008, 12, 25)
    assert (h["hour"], h["minute"], h["second"]) == (22, 35, 18)
    assert h["iso"] == "2008-12-25T22:35:18+01:00"


def test_horodate_summer():
    h = d.horodate("E090714074553")
    assert h["season"] == "summer" and not h["degraded"]
    assert h["iso"] == "2009-07-14T07:45:53+02:00"


def test_horodate_space_season_has_no_offset():
    # DPM1 of the teleinfo-nom capture
    h = d.horodate(" 200214060000")
    assert h["season"] is None and h["degraded"] is False
    assert h["iso"] == "2020-02-14T06:00:00"


def test_horodate_degraded_clock():
    h = d.horodate("h200214230804")
    assert h["season"] == "winter" and h["degraded"] is True
    assert h["iso"] == "2020-02-14T23:08:04+01:00"
    assert d.horodate(b"e191203125805")["iso"] == "2019-12-03T12:58:05+02:00"


def test_horodate_malformed():
    for bad in (
        "",
        "H08122522351",  # 12 chars
        "H0812252235180",  # 14
        "X081225223518",  # season
        "H0812252235 8",  # space in digits
        "H081325223518",  # month 13
        "H080025223518",  # month 0
        "H081200223518",  # day 0
        "H080431000000",  # 31 April
        "H090229000000",  # 29 Feb 2009
        "H081225243518",  # hour 24
        "H081225226018",  # minute 60
        "H081225223560",  # second 60
    ):
        assert raises(d.horodate, bad), bad
    assert d.horodate("H080229000000")["day"] == 29  # 2008 is a leap year


# ---- STGE (§7)


def test_stge_463a0800_tri_tempo():
    s = d.stge("463A0800")
    assert s["raw"] == 0x463A0800
    assert s["dry_contact"] == "closed" and s["breaker"] == "closed"
    assert s["breaker_code"] == 0
    assert s["terminal_cover"] == "closed"
    assert not s["overvoltage"] and not s["overload"]
    assert not s["producer"] and not s["injecting"]
    assert s["supplier_index"] == 3  # NTARF 03
    assert s["distributor_index"] == 1
    assert not s["clock_degraded"]
    assert s["tic_mode"] == "standard"
    assert s["euridis"] == "enabled_secured"
    assert s["cpl"] == "new_lock" and not s["cpl_synchronised"]
    assert s["tempo_today"] == "white" and s["tempo_tomorrow"] == "blue"
    assert s["mobile_peak_notice"] == 0 and s["mobile_peak"] == 1


def test_stge_002a0301_mono_producer():
    s = d.stge("002A0301")
    assert s["dry_contact"] == "open"
    assert s["producer"] and s["injecting"]
    assert s["euridis"] == "enabled"
    assert s["supplier_index"] == 1
    assert s["tempo_today"] is None and s["mobile_peak"] == 0


def test_stge_013a0501_tri_producer():
    s = d.stge("013A0501")
    assert s["producer"] and not s["injecting"]
    assert s["supplier_index"] == 2
    assert s["tempo_today"] == "blue" and s["tempo_tomorrow"] is None


def test_stge_goteleinfo_and_all_bits():
    s = d.stge("003A8000")  # std-mono-hchp-goteleinfo.raw
    assert s["distributor_index"] == 3 and s["supplier_index"] == 1
    s = d.stge("FFFFFFFF")  # above a small int on the ESP32: read in halves
    assert s["raw"] == 0xFFFFFFFF
    assert s["breaker"] is None and s["breaker_code"] == 7
    assert s["supplier_index"] == 16 and s["distributor_index"] == 4
    assert s["clock_degraded"] and s["overload"] and s["overvoltage"]
    assert s["euridis"] == "enabled_secured" and s["cpl"] is None
    assert s["tempo_today"] == "red" and s["mobile_peak_notice"] == 3
    assert s["mobile_peak"] == 3
    assert d.stge("00000002")["breaker"] == "open_overpower"
    assert d.stge("00000008")["breaker"] == "open_cpl_euridis_order"
    assert d.stge("0000000C")["breaker"] == "open_overheat_under_max_current"
    assert d.stge("00010000")["clock_degraded"]
    assert d.stge("00000000")["tic_mode"] == "historique"
    assert d.stge("00400000")["cpl"] == "registered"
    assert d.stge("00800000")["cpl_synchronised"]
    assert d.stge("00100000")["euridis"] is None  # code 2 undefined
    assert d.stge("463a0800")["supplier_index"] == 3


def test_stge_malformed():
    for bad in ("463A080", "463A08000", "463G0800", " 63A0800", "+63A0800", ""):
        assert raises(d.stge, bad), bad


# ---- RELAIS, profiles (§8)


def test_relais():
    assert d.relais("140") == [False, False, True, True, False, False, False, True]
    assert d.relais("001") == [True] + [False] * 7
    assert d.relais("000") == [False] * 8
    assert d.relais("255") == [True] * 8
    for bad in ("256", "1 0", "", "-01"):
        assert raises(d.relais, bad), bad


def test_day_profile_example():
    v = "00004001 06004002 22004001" + " NONUTILE" * 8
    assert len(v) == 98
    p = d.day_profile(v)
    assert [(t, i) for t, i, _ in p] == [("00:00", 1), ("06:00", 2), ("22:00", 1)]
    c = p[0][2]
    assert c == {"virtual": 0, "dry": "tempo", "action": 0x4001}


def test_day_profile_goteleinfo():
    v = "00008002 0256C001 07568002 1156C001 14568002" + " NONUTILE" * 6
    p = d.day_profile(v)
    assert [x[0] for x in p] == ["00:00", "02:56", "07:56", "11:56", "14:56"]
    assert p[0][1] == 2 and p[0][2]["dry"] == "open"
    assert p[1][1] == 1 and p[1][2]["dry"] == "closed"


def test_day_profile_index_and_contacts():
    p = d.day_profile("12300000 12350FF0 1240000B")
    assert p[0] == ("12:30", None, {"virtual": 0, "dry": "no_change", "action": 0})
    assert p[1][1] is None and p[1][2]["virtual"] == 0x7F
    assert p[2][1] is None  # 11..15: no change
    assert d.day_profile("NONUTILE NONUTILE") == []
    for bad in ("2400400A", "0060400A", "0000400G", "000040011", "0000 4001"):
        assert raises(d.day_profile, bad), bad


# ---- ADCO / ADSC (§9)


def test_meter_address():
    a = d.meter_address("041776199277")
    assert a == {
        "manufacturer": 4,
        "year": 2017,
        "type": 76,
        "type_description": "three-phase 60 A G3",
        "phases": 3,
        "serial": "199277",
    }
    a = d.meter_address("031961098836")  # hist-mono-tempo-teleinfo-nom.raw
    assert a["type"] == 61 and a["phases"] == 1 and a["year"] == 2019
    a = d.meter_address("999999999999")
    assert a["type_description"] is None and a["year"] == 1999
    assert raises(d.meter_address, "12345678900")  # goteleinfo: anonymised to 11 digits
    assert raises(d.meter_address, "04177619927A")


# ---- historique codes


def test_optarif():
    assert d.optarif("BASE")["option"] == "base"
    assert d.optarif("HC..")["option"] == "off_peak"
    assert d.optarif("EJP.")["option"] == "ejp"
    t = d.optarif("BBR(")
    assert t["option"] == "tempo"
    assert (t["water_circuit"], t["heating_programme"]) == (1, "0")
    assert d.optarif("BBR/")["heating_programme"] == "C"
    assert d.optarif("BBR0")["water_circuit"] == 2
    t = d.optarif("BBR?")
    assert (t["water_circuit"], t["heating_programme"]) == (3, "C")
    assert raises(d.optarif, "BBR'") and raises(d.optarif, "BBR@") and raises(d.optarif, "HC")


def test_ptec_and_demain():
    assert d.ptec("HPJB") == {
        "code": "HPJB",
        "period": "peak",
        "tempo_colour": "blue",
        "description": "Peak hours, blue day",
    }
    assert d.ptec("HCJR")["tempo_colour"] == "red"
    assert d.ptec("TH..")["period"] == "all_hours"
    assert d.ptec("PM..")["period"] == "mobile_peak"
    assert d.ptec("HC..")["tempo_colour"] is None
    assert raises(d.ptec, "HPJX")
    assert d.demain("BLEU") == "blue" and d.demain("BLAN") == "white"
    assert d.demain("ROUG") == "red" and d.demain("----") is None
    assert raises(d.demain, "____")


def test_ppot():
    assert d.ppot("00") == [False, False, False]
    assert d.ppot("02") == [True, False, False]
    assert d.ppot("0E") == [True, True, True]
    assert raises(d.ppot, "1") and raises(d.ppot, "10") and raises(d.ppot, "0G")


def test_trim():
    assert d.trim("     TEMPO      ") == "TEMPO"
    assert d.trim("   HC  BLANC    ") == "HC BLANC"
    assert d.trim("PAS DE          MESSAGE         ") == "PAS DE MESSAGE"
    assert d.trim(b" HC et Week-End ") == "HC et Week-End"
    assert d.trim("") == ""


# ---- several labels


def test_tempo_historique_and_standard():
    hist = {"OPTARIF": "BBR(", "PTEC": "HPJB", "DEMAIN": "BLEU"}
    assert d.tempo(hist) == {"today": "blue", "tomorrow": "blue"}
    assert d.tempo({"PTEC": "HCJW", "DEMAIN": "----"}) == {"today": "white", "tomorrow": None}
    assert d.tempo({"PTEC": "HC.."}) is None
    assert d.tempo({"STGE": "463A0800"}) == {"today": "white", "tomorrow": "blue"}
    assert d.tempo({"STGE": "003A8000"}) is None
    assert d.tempo({}) is None


def test_ejp():
    assert d.ejp({"OPTARIF": "EJP.", "PTEC": "HN.."}) == {"notice": False, "peak": False}
    assert d.ejp({"OPTARIF": "EJP.", "PTEC": "HN..", "PEJP": "30"}) == {
        "notice": True,
        "peak": False,
    }
    assert d.ejp({"PTEC": "PM.."}) == {"notice": False, "peak": True}
    assert d.ejp({"OPTARIF": "HC..", "PTEC": "HP.."}) is None
    assert d.ejp({"STGE": "463A0800"}) == {"notice": 0, "peak": 1}
    assert d.ejp({"STGE": "20000000"}) == {"notice": 2, "peak": 0}


def test_overload_short_frame():
    short = {"ADIR2": "045", "ADCO": "041776199277", "IINST1": "010", "IINST2": "045"}
    short["IINST3"] = "012"
    assert d.overload(short) == {"short": True, "over": [2], "currents": [10, 45, 12]}
    long_ = {"OPTARIF": "BASE", "PTEC": "TH..", "IINST1": "1", "IINST2": "2", "IINST3": "3"}
    assert d.overload(long_) is None
    long_["ADIR1"] = "050"
    assert d.overload(long_)["over"] == [1] and not d.overload(long_)["short"]


# ---- decode_group


def test_decode_group_numbers_units_and_time():
    assert d.decode_group("EAST", "021849106") == {"value": 21849106, "unit": "Wh"}
    assert d.decode_group(b"ERQ2", b"000000123") == {"value": 123, "unit": "VArh"}
    assert d.decode_group("PREF", "30") == {"value": 30, "unit": "kVA"}
    g = d.decode_group("SMAXSN-1", "09562", "H200213085118")
    assert g == {"value": 9562, "unit": "VA", "time": "2020-02-13T08:51:18+01:00"}
    g = d.decode_group("DATE", "", "H200214230804")
    assert g == {"value": "2020-02-14T23:08:04+01:00", "time": "2020-02-14T23:08:04+01:00"}
    g = d.decode_group("DPM1", "00", " 200214060000")
    assert g == {"value": 0, "time": "2020-02-14T06:00:00"}
    assert d.decode_group("NTARF", "03") == {"value": 3}


def test_decode_group_structures_and_text():
    assert d.decode_group("STGE", "463A0800")["value"]["mobile_peak"] == 1
    assert d.decode_group("RELAIS", "001")["value"][0] is True
    assert len(d.decode_group("PJOURF+1", "00004001" + " NONUTILE" * 10)["value"]) == 1
    assert d.decode_group("PPOINTE", "NONUTILE")["value"] == []
    assert d.decode_group("ADSC", "041776199277")["value"]["phases"] == 3
    assert d.decode_group("ADCO", "031961098836")["value"]["type"] == 61
    assert d.decode_group("NGTF", "     TEMPO      ") == {"value": "TEMPO"}
    assert d.decode_group("MOTDETAT", "000000") == {"value": "000000"}
    g = d.decode_group("PTEC", "HPJB")
    assert g["value"] == "HPJB" and g["meaning"]["tempo_colour"] == "blue"
    assert d.decode_group("OPTARIF", "BBR(")["meaning"]["option"] == "tempo"
    assert d.decode_group("DEMAIN", "----") == {"value": "----", "meaning": None}
    assert d.decode_group("XYZ", "  some text ") == {"value": "some text"}


def test_decode_group_errors_keep_raw_value():
    g = d.decode_group("EAST", " 21849107")  # the '0' -> SP flip of the noisy capture
    assert g["value"] == " 21849107" and "error" in g and g["unit"] == "Wh"
    g = d.decode_group("ADSC", "12345678900")
    assert g["value"] == "12345678900" and "error" in g
    g = d.decode_group("SMAXSN", "10802", "X200214175135")
    assert g["time"] is None and "error" in g and g["value"] == 10802
    g = d.decode_group("SMAXSN", "1O802", "X200214175135")
    assert g["error"].count(";") == 1 and g["value"] == "1O802"
    g = d.decode_group("STGE", "46GA0800")
    assert g["value"] == "46GA0800" and "error" in g
    g = d.decode_group("PTEC", "ABCD")
    assert g["value"] == "ABCD" and "error" in g


def test_decode_group_is_json_serialisable():
    groups = [
        ("STGE", "463A0800", None),
        ("PJOURF+1", "00004001 06004002 22004001" + " NONUTILE" * 8, None),
        ("RELAIS", "140", None),
        ("ADSC", "041776199277", None),
        ("SMAXSN", "10802", "H200214175135"),
        ("PTEC", "HPJB", None),
        ("OPTARIF", "BBR(", None),
        ("EAST", "x", None),
    ]
    for label, value, h in groups:
        text = json.dumps(d.decode_group(label, value, h))
        assert json.loads(text) is not None


# ---- real captures, through the parser


def frames_of(name):
    out = []
    p = Parser(on_frame=lambda f: out.append((f.groups(), dict((g[0], g[2]) for g in f.groups()))))
    p.feed(read(CAPTURES + name))
    return out


def test_captures_decode_without_error():
    names = (
        "std-tri-tempo-teleinfo-nom.raw",
        "std-tri-tempo-stream-errors-teleinfo-nom.raw",
        "std-mono-hchp-goteleinfo.raw",
        "hist-mono-tempo-teleinfo-nom.raw",
        "hist-mono-hchp-badchecksum-teleinfo-parser.raw",
    )
    n = 0
    for name in names:
        for groups, _ in frames_of(name):
            for label, h, value in groups:
                g = d.decode_group(label, value, h)
                json.dumps(g)
                n += 1
                if label == "ADSC" and len(value) == 11:  # goteleinfo anonymised it
                    assert "error" in g
                else:
                    assert "error" not in g, (name, label, value, g)
    assert n == 492  # every valid group of every complete frame


def test_captures_frame_level_helpers():
    tri = frames_of("std-tri-tempo-teleinfo-nom.raw")[0][1]
    assert d.tempo(tri) == {"today": "white", "tomorrow": "blue"}
    assert d.ejp(tri) == {"notice": 0, "peak": 1}
    assert d.overload(tri) is None
    assert d.meter_address(tri["ADSC"])["phases"] == 3
    assert d.decode_group("STGE", tri["STGE"])["value"]["supplier_index"] == int(tri["NTARF"])
    hist = frames_of("hist-mono-tempo-teleinfo-nom.raw")[0][1]
    assert d.tempo(hist) == {"today": "blue", "tomorrow": "blue"}
    assert d.ejp(hist) is None
    mono = frames_of("std-mono-hchp-goteleinfo.raw")[0][1]
    assert d.tempo(mono) is None
    assert d.trim(mono["NGTF"]) == "HC et Week-End"


def test_helpers_read_a_parser_frame():
    p = Parser()
    p.feed(read(CAPTURES + "hist-mono-tempo-teleinfo-nom.raw"), -1, 0, True)  # stop at ETX
    assert d.tempo(p.frame) == {"today": "blue", "tomorrow": "blue"}
    assert d.ejp(p.frame) is None and d.overload(p.frame) is None
    p = Parser()
    p.feed(read(CAPTURES + "std-tri-tempo-teleinfo-nom.raw"), -1, 0, True)  # stop at ETX
    assert d.tempo(p.frame) == {"today": "white", "tomorrow": "blue"}


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
