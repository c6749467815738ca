"""firmware/ota.py on the MicroPython unix port against a real HTTP server: a good update
switches the pointer to a complete folder in trial; every refusal (corrupted file, wrong
hash, truncated download, dropped or stalled server, bad or missing signature, other board,
downgrade, damaged upload) leaves the running version's folder and the pointer unchanged,
with a clear error. The device state is a temporary directory (the flash); the device runs
a copy of the factory image (tests/ota_env.py), its update through tests/ota_drive.py.
"""

import json
import shutil
from pathlib import Path

import fw_image
import ota
import ota_env
import pytest

RUNNING = "0.3.0"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("ota")
    key_file = base / "release.pem"
    pub = ota.keygen(key_file)
    image = ota_env.factory(base / "factory")
    srv = base / "srv"
    rel = {}
    for name, version, kw in (
        ("run", RUNNING, {}),
        ("good", "0.4.0", {}),
        ("board", "0.5.0", {"board": "esp8266"}),
        ("down", "0.2.5", {}),
        ("fw", "0.6.0", {"firmware": base / "mp.app-bin"}),
    ):
        if name == "fw":
            (base / "mp.app-bin").write_bytes(fw_image.app_image(64 * 1024 + 32))
        rel[name] = ota_env.release(srv / name, version, key_file, image, **kw)
    # A wrong hash: the file on the server is not the one the manifest lists (same size).
    shutil.copytree(srv / "good", srv / "hash")
    p = srv / "hash" / "0.4.0" / "firmware" / "app.mpy"
    p.write_bytes(bytes(len(p.read_bytes())))
    # A bad signature (one digit changed) and none at all.
    data = (srv / "good" / "manifest.json").read_bytes()
    for name, m in (
        ("badsig", data[:-3] + (b"0" if data[-3:-2] != b"0" else b"1") + data[-2:]),
        ("nosig", data[: data.index(b',"sig"')] + b"}"),
    ):
        shutil.copytree(srv / "good", srv / name)
        (srv / name / "manifest.json").write_bytes(m)
    server = ota_env.Server(srv)
    yield {"base": base, "pub": pub, "image": image, "srv": srv, "server": server, "rel": rel}
    server.close()


@pytest.fixture
def device(env, tmp_path):
    """A flash where RUNNING runs from app_a, marked good (as after a good update)."""
    state = tmp_path / "flash"
    state.mkdir()
    out, _ = ota_env.drive(state, "url", env["server"].url + "/run", env["pub"],
                           image=env["image"])  # fmt: skip
    assert out["ok"], out
    p = json.loads((state / "app.json").read_text())
    p["trial"] = False
    (state / "app.json").write_text(json.dumps(p))
    return state


def update(env, state, name, *extra):
    out, _ = ota_env.drive(state, "url", env["server"].url + "/" + name, env["pub"], *extra,
                           image=env["image"])  # fmt: skip
    return out


def unchanged(state, before):
    assert (state / "app.json").read_text() == before[0]
    assert ota_env.tree(state / "app_a") == before[1]
    assert not (state / "app_b").exists()  # the failed download is wiped


def snapshot(state):
    return (state / "app.json").read_text(), ota_env.tree(state / "app_a")


def test_good_update_switches_to_a_complete_folder_in_trial(env, device):
    before = ota_env.tree(device / "app_a")
    out = update(env, device, "good")
    assert out["ok"] is True, out
    assert out["status"]["state"] == "restarting"
    assert out["status"]["progress"] == 100
    assert out["status"]["available"] == "0.4.0"
    p = json.loads((device / "app.json").read_text())
    assert p["active"] == "app_b" and p["previous"] == "app_a"
    assert p["trial"] is True and p["tries"] == 0
    assert p["version"] == "0.4.0" and p["previous_version"] == RUNNING
    assert ota_env.complete(device, "app_b") is None
    assert ota_env.tree(device / "app_a") == before
    # The next boot runs it (and counts the trial boot).
    out, _ = ota_env.drive(device, "boot", image=env["image"])
    assert out == {"folder": "app_b", "version": "0.4.0"}
    assert json.loads((device / "app.json").read_text())["tries"] == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    "fault,needle",
    [
        ("corrupt", "firmware/app.mpy: SHA-256 does not match the manifest"),
        ("short", "bytes on the server"),
        ("drop", "firmware/app.mpy: truncated"),
        ("stall", "timed out"),
        ("missing", "HTTP status 404"),
    ],
)
def test_a_bad_transfer_leaves_the_running_version(env, device, fault, needle):
    before = snapshot(device)
    env["server"].faults.clear()
    env["server"].faults["good/0.4.0/firmware/app.mpy"] = fault
    try:
        out = update(env, device, "good", "", 1000)
    finally:
        env["server"].faults.clear()
    assert out["ok"] is False
    assert out["status"]["state"] == "failed"
    assert needle in out["status"]["error"], out
    unchanged(device, before)


@pytest.mark.parametrize(
    "name,needle",
    [
        ("hash", "firmware/app.mpy: SHA-256 does not match the manifest"),
        ("badsig", "manifest signature is not valid for the configured public key"),
        ("nosig", "manifest is not signed"),
        ("board", "release is for board 'esp8266', this is 'esp32'"),
        ("down", "release 0.2.5 is not newer than the running 0.3.0"),
    ],
)
def test_a_refused_release_leaves_the_running_version(env, device, name, needle):
    before = snapshot(device)
    out = update(env, device, name)
    assert out["ok"] is False
    assert needle in out["status"]["error"], out
    assert out["status"]["state"] == ("current" if name == "down" else "failed")
    unchanged(device, before)


@pytest.mark.slow
def test_a_forced_downgrade_installs(env, device):
    out = update(env, device, "down", "force")
    assert out["ok"] is True, out
    assert json.loads((device / "app.json").read_text())["version"] == "0.2.5"


@pytest.mark.slow
def test_a_manifest_dropped_or_stalled_is_refused(env, device):
    before = snapshot(device)
    for fault in ("drop", "stall"):
        env["server"].faults.clear()
        env["server"].faults["good/manifest.json"] = fault
        try:
            out = update(env, device, "good", "", 1000)
        finally:
            env["server"].faults.clear()
        assert out["ok"] is False
        assert "manifest" in out["status"]["error"], out
        unchanged(device, before)


@pytest.mark.slow
def test_upload_of_release_bin(env, device, tmp_path):
    blob = env["rel"]["good"] / "release.bin"
    data = blob.read_bytes()
    before = snapshot(device)
    # Damaged in its last file, then cut short: refused, nothing changes.
    for name, bad in (("flip", data[:-1] + bytes([data[-1] ^ 1])), ("cut", data[:-100])):
        f = tmp_path / ("%s.bin" % name)
        f.write_bytes(bad)
        out, _ = ota_env.drive(device, "upload", f, env["pub"], image=env["image"])
        assert out["ok"] is False, out
        assert out["status"]["error"], out
        unchanged(device, before)
    out, _ = ota_env.drive(device, "upload", blob, env["pub"], image=env["image"])
    assert out["ok"] is True, out
    assert json.loads((device / "app.json").read_text())["version"] == "0.4.0"
    assert ota_env.complete(device, "app_b") is None


def test_release_bin_layout(env):
    d = env["rel"]["good"]
    blob = (d / "release.bin").read_bytes()
    assert blob[:4] == b"LKR1"
    n = int.from_bytes(blob[4:8], "big")
    manifest = blob[8 : 8 + n]
    assert manifest == (d / "manifest.json").read_bytes()
    m = json.loads(manifest)
    at = 8 + n
    for f in m["files"]:
        assert blob[at : at + f["size"]] == (d / f["path"]).read_bytes()
        at += f["size"]
    assert at == len(blob)
    # The release trusts its own signing key for the next update.
    assert "firmware/ota_key.mpy" in [f["path"] for f in m["files"]]
    assert Path(d / "firmware" / "ota_key.mpy").stat().st_size > 0


def test_a_release_with_a_micropython_image_sets_the_next_slot(env, device):
    out, _ = ota_env.drive(device, "fwboot", image=env["image"])
    assert out["fw"][0] == "ota_0"
    out = update(env, device, "fw")
    assert out["ok"] is True, out
    p = json.loads((device / "app.json").read_text())
    assert p["version"] == "0.6.0" and p["firmware"] is True
    # the next boot: the bootloader runs ota_1 on trial; the trial's health check confirms it
    out, _ = ota_env.drive(device, "fwboot", image=env["image"])
    assert out["fw"][:2] == ["ota_1", "pending"]
    out, _ = ota_env.drive(device, "fwvalid", image=env["image"])
    assert out["fw"][:2] == ["ota_1", "valid"]


def _code(folder):
    return [p for p in ota_env.tree(folder) if p.endswith((".py", ".mpy"))]


def _data_only(env, state, folder, name):
    """`folder` holds the data files of release `name` (pages, templates), whole, and no code:
    the MicroPython image the release carries has the code frozen."""
    m = json.loads((env["rel"][name] / "manifest.json").read_bytes())
    data = {f["path"]: f["sha256"] for f in m["files"] if not f["path"].endswith((".py", ".mpy"))}
    assert "lib/ha_tpl.bin" in data and "www/index.html" in data
    got = ota_env.tree(state / folder)
    assert got.pop("manifest.json")
    assert got == data
    assert not (state / folder / "firmware").exists()  # the image's frozen package is used


def test_on_the_linky_image_a_release_with_an_image_installs_only_data(env, device,
                                                                       monkeypatch):  # fmt: skip
    """The FROZEN host hook plays the linky image (firmware frozen in): a release carrying a
    MicroPython image writes the image and only its data files into the folder; that folder
    boots (the code comes from the image). A release without an image installs its code as
    before, with a warning."""
    monkeypatch.setenv("LINKY_FROZEN", "1")
    env["server"].faults["fw/0.6.0/firmware/app.mpy"] = "missing"  # never fetched
    try:
        out, r = ota_env.drive(device, "url", env["server"].url + "/fw", env["pub"],
                               image=env["image"])  # fmt: skip
    finally:
        env["server"].faults.clear()
    assert out["ok"] is True, out
    assert out["status"]["progress"] == 100
    assert "only data files go into app_b" in r.stdout, r.stdout
    _data_only(env, device, "app_b", "fw")
    p = json.loads((device / "app.json").read_text())
    assert p["active"] == "app_b" and p["version"] == "0.6.0" and p["firmware"] is True
    out, _ = ota_env.drive(device, "fwboot", image=env["image"])
    assert out["fw"][:2] == ["ota_1", "pending"]
    out, _ = ota_env.drive(device, "boot", image=env["image"])
    assert out["folder"] == "app_b"  # its code: the image's (here the factory's modules)
    # A release without an image, on the same board: its code goes into the other folder.
    p = json.loads((device / "app.json").read_text())
    p["trial"] = False
    (device / "app.json").write_text(json.dumps(p))
    out, r = ota_env.drive(device, "url", env["server"].url + "/good", env["pub"], "force",
                           image=env["image"])  # fmt: skip
    assert out["ok"] is True, out
    assert "WARNING ota: release without a MicroPython image: its code goes into app_a" in (
        r.stdout
    ), r.stdout
    assert ota_env.complete(device, "app_a") is None and _code(device / "app_a")


@pytest.mark.slow
def test_on_the_linky_image_an_upload_reads_past_the_code(env, device, monkeypatch, tmp_path):
    """An upload streams every file: the code files are read past, their hashes still
    checked (a damaged one refuses the release), and only the data files are written."""
    monkeypatch.setenv("LINKY_FROZEN", "1")
    blob = env["rel"]["fw"] / "release.bin"
    data = bytearray(blob.read_bytes())
    m = json.loads((env["rel"]["fw"] / "manifest.json").read_bytes())
    at = 8 + int.from_bytes(data[4:8], "big")
    for f in m["files"]:
        if f["path"].endswith(".mpy"):
            break
        at += f["size"]
    data[at + 1] ^= 0x55
    bad = tmp_path / "bad.bin"
    bad.write_bytes(bytes(data))
    before = snapshot(device)
    out, _ = ota_env.drive(device, "upload", bad, env["pub"], image=env["image"])
    assert out["ok"] is False and "%s: SHA-256" % f["path"] in out["status"]["error"], out
    unchanged(device, before)
    out, _ = ota_env.drive(device, "upload", blob, env["pub"], image=env["image"])
    assert out["ok"] is True, out
    _data_only(env, device, "app_b", "fw")
    assert json.loads((device / "app.json").read_text())["firmware"] is True
