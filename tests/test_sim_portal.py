"""tools/sim.py's portal options: --fresh (an empty simulated flash, no settings written, the
private broker still started and printed), --http PORT and --dns PORT (LINKY_HTTP_PORT and
LINKY_DNS_PORT for the firmware). The slow test runs the first-boot flow in real time: the
access point comes up, the captive DNS answers, settings saved into config.json (as the config
page does) take effect after the reset, and the simulator does not overwrite them.

Quick tests run sim.run() in-process with the supervision replaced."""

import json
import re
import socket

import dns.exception
import dns.message
import dns.query
import pytest
import sim
from test_sim import STD_MONO, Sim
from test_sim_mqtt import WATCH, built  # noqa: F401 (the fixture)


def _fake_image(tmp_path, monkeypatch):
    image = tmp_path / "image"
    image.mkdir()
    (image / "main.py").write_text("")
    monkeypatch.setattr(sim.upy, "BUILD", image)


def _free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- quick --------------------------------------------------------------------------------------


def test_fresh_writes_no_settings_and_still_starts_a_broker(tmp_path, monkeypatch, capsys):
    _fake_image(tmp_path, monkeypatch)
    state = tmp_path / "flash"
    seen = {}

    def supervise(args, server, micropython, main_py, st):
        seen["files"] = sorted(p.name for p in state.iterdir())
        seen["env"] = sim.firmware_env(args, server.spec, 1, "power")
        return 0

    monkeypatch.setattr(sim, "supervise", supervise)
    args = sim.parse_args(["--no-build", "--tic", STD_MONO, "--state", str(state), "--fresh"])
    assert sim.run(args) == 0
    assert seen["files"] == ["mosquitto"]  # no config.json
    out = capsys.readouterr().out
    assert "settings: none (--fresh)" in out
    m = re.search(r"private mosquitto on 127.0.0.1:(\d+) .*give it on the config page", out)
    assert m, out
    assert re.search(WATCH, out)
    assert "LINKY_HTTP_PORT" not in seen["env"] and "LINKY_DNS_PORT" not in seen["env"]


def test_fresh_writes_only_the_settings_asked_for(tmp_path, monkeypatch):
    _fake_image(tmp_path, monkeypatch)
    monkeypatch.setattr(sim, "supervise", lambda *a: 0)
    state = tmp_path / "flash"
    args = ["--no-build", "--no-mqtt", "--tic", STD_MONO, "--state", str(state), "--fresh"]
    assert sim.run(sim.parse_args([*args, "--set", "heartbeat_s=7", "--board", "denky32"])) == 0
    assert json.loads((state / "config.json").read_text()) == {
        "board": "denky32",
        "heartbeat_s": 7,
    }


def test_fresh_refuses_a_flash_that_has_settings(tmp_path, monkeypatch):
    _fake_image(tmp_path, monkeypatch)
    monkeypatch.setattr(sim, "supervise", lambda *a: 0)
    state = tmp_path / "flash"
    state.mkdir()
    (state / "config.json").write_text('{"wifi_ssid": "home"}')
    args = sim.parse_args(["--no-build", "--no-mqtt", "--tic", STD_MONO, "--state", str(state)])
    args.fresh = True
    with pytest.raises(sim.UsageError, match=r"--fresh: .*config\.json exists"):
        sim.run(args)
    assert json.loads((state / "config.json").read_text()) == {"wifi_ssid": "home"}


def test_http_and_dns_ports_reach_the_firmware():
    args = sim.parse_args(["--http", "8080", "--dns", "5353"])
    env = sim.firmware_env(args, "link:127.0.0.1:1", 2, "hard")
    assert env["LINKY_HTTP_PORT"] == "8080" and env["LINKY_DNS_PORT"] == "5353"


@pytest.mark.parametrize("opt", ["--http", "--dns"])
@pytest.mark.parametrize("port", ["0", "65536"])
def test_bad_port_is_a_usage_error(opt, port):
    with pytest.raises(sim.UsageError, match=opt):
        sim.check_ports(sim.parse_args([opt, port]))


def test_settings_are_not_rewritten_at_a_restart(tmp_path, monkeypatch):
    # write_config runs once, before supervise(): what the firmware saves survives its resets.
    _fake_image(tmp_path, monkeypatch)
    state = tmp_path / "flash"
    saved = {"wifi_ssid": "home", "mqtt_host": "192.0.2.7", "mqtt_port": 1884}
    writes = []
    real = sim.write_config

    def write_config(st, values):
        writes.append(dict(values))
        return real(st, values)

    def supervise(args, server, micropython, main_py, st):
        (state / "config.json").write_text(json.dumps(saved))  # the portal saves, then resets
        return 0

    monkeypatch.setattr(sim, "write_config", write_config)
    monkeypatch.setattr(sim, "supervise", supervise)
    args = ["--no-build", "--no-mqtt", "--tic", STD_MONO, "--state", str(state)]
    assert sim.run(sim.parse_args([*args, "--fresh", "--set", "heartbeat_s=9"])) == 0
    assert writes == [{"heartbeat_s": 9}]
    assert json.loads((state / "config.json").read_text()) == saved


# -- slow: the firmware in real time ------------------------------------------------------------


def _query(port, tries=10):
    # The responder binds its socket in its task, just after the AP's log lines: a query sent
    # before that finds the port closed. Asked again, at most `tries` times.
    for i in range(tries):
        try:
            return dns.query.udp(
                dns.message.make_query("example.com", "A"), "127.0.0.1", port=port, timeout=1
            )
        except (dns.exception.Timeout, OSError):
            if i == tries - 1:
                raise
    return None


@pytest.mark.slow
def test_fresh_first_boot_portal_then_saved_settings_take_effect(built, tmp_path):  # noqa: F811
    state = tmp_path / "flash"
    dns_port = _free_udp_port()
    s = Sim(
        "--fresh",
        "--state",
        str(state),
        "--dns",
        str(dns_port),
        "--reset-after-frames",
        "8",  # room for the DNS query on a loaded machine before boot 1 ends (~10 s)
        "--resets",
        "1",
        mqtt=True,
    )
    port = int(s.wait_for(WATCH).group(1))
    s.wait_for(r"WARNING portal: access point 'linky-0001' open \(first boot\)")
    pw = s.wait_for(r"portal: Wi-Fi linky-0001 password (\w+)").group(1)
    assert len(pw) == 12
    r = _query(dns_port)
    assert [x.address for x in r.answer[0]] == ["192.168.4.1"]
    # What the config page does: config.json written, then a reset (here: the test hook).
    saved = {"wifi_ssid": "sim", "mqtt_host": "127.0.0.1", "mqtt_port": port}
    tmp = state / "config.json.tmp"
    tmp.write_text(json.dumps(saved))
    tmp.rename(state / "config.json")
    s.wait_for(r"firmware requested a reset: starting boot 2")
    s.wait_for(r"INFO app: linky (?:\S+ )?on host, boot 2 \(hard\)")
    s.wait_for(r"INFO wifi: connected to 'sim'")
    s.wait_for(r"INFO mqtt: connected to 127.0.0.1:%d" % port)
    rc, out = s.ctrl_c()
    assert rc == 0, out
    boot2 = out[out.index("boot 2 (hard)") :]
    assert "access point" not in boot2 and "Traceback" not in out
    assert json.loads((state / "config.json").read_text()) == saved
    assert json.loads((state / "portal.json").read_text()) == {"ap_password": pw}


@pytest.mark.slow
def test_boot_button_hook_opens_the_access_point_beside_the_station(built):  # noqa: F811
    s = Sim("--set", "BOOT_BUTTON=1", "--set", "ap_open=true")
    s.wait_for(r"WARNING portal: access point 'linky-0001' open \(button\), no password")
    s.wait_for(r"INFO wifi: connected to 'sim'")
    rc, out = s.ctrl_c()
    assert rc == 0, out
    assert "portal: Wi-Fi" not in out  # an open AP: no password printed
