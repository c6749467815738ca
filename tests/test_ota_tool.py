"""tools/ota.py: keygen, build and serve, end to end.

The round trip builds a release from the real device image (build/device, compiled first),
serves it with `ota.py serve` on a free port, fetches the manifest and a file over HTTP, and
checks the manifest with the device's own code (lib/ota_manifest.py, lib/ed25519.py) on
CPython and on the MicroPython unix port.
"""

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import urllib.error
import urllib.request

import ota
import ota_manifest
import pytest

import upy

ROOT = upy.ROOT
OTA = [sys.executable, str(ROOT / "tools" / "ota.py")]


def run(*args, check=True):
    r = subprocess.run(
        OTA + [str(a) for a in args], check=False, capture_output=True, text=True, timeout=120
    )
    if check and r.returncode:
        raise AssertionError("ota.py %s: %s %s" % (args, r.stdout, r.stderr))
    return r


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    path = tmp_path_factory.mktemp("key") / "release.pem"
    r = run("keygen", "--out", path)
    return path, r.stdout.strip()


@pytest.fixture
def image(tmp_path):
    """A small device image: entry points, two modules and the version module."""
    img = tmp_path / "image"
    (img / "lib").mkdir(parents=True)
    (img / "firmware").mkdir()
    (img / "boot.py").write_text("# boot\n")
    (img / "main.py").write_text("# main\n")
    (img / "lib" / "a.mpy").write_bytes(b"M\x06a" * 10)
    (img / "firmware" / "app.mpy").write_bytes(b"M\x06app")
    (img / "firmware" / "version.mpy").write_bytes(b"old")
    return img


class Server:
    """`ota.py serve DIR --port 0` in a child process; `.url` once it listens."""

    def __init__(self, directory):
        self.proc = subprocess.Popen(
            [*OTA, "serve", str(directory), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline()
        assert "serving" in line, line
        self.url = line.split(" on ", 1)[1].split()[0].rstrip("/")

    def get(self, path):
        with urllib.request.urlopen(self.url + "/" + path, timeout=10) as r:
            return r.read()

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


def test_keygen_makes_a_private_file_and_prints_the_public_key(key, tmp_path):
    path, pub = key
    assert len(pub) == 64 and int(pub, 16) >= 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert (path.parent / "release.pem.pub").read_text() == pub + "\n"
    assert ota.public_hex(ota.load_key(path)) == pub
    # never overwritten
    before = path.read_bytes()
    r = run("keygen", "--out", path, check=False)
    assert r.returncode == 2 and "exists" in r.stderr
    assert path.read_bytes() == before


def test_build_writes_files_and_a_signed_canonical_manifest(key, image, tmp_path):
    path, pub = key
    out = tmp_path / "rel"
    r = run(
        "build",
        "--version",
        "1.4.0",
        "--key-file",
        path,
        "--out",
        out,
        "--from",
        image,
        "--no-compile",
    )
    assert "release 1.4.0: 4 files" in r.stdout and pub in r.stdout
    data = (out / "manifest.json").read_bytes()
    assert (out / "1.4.0" / "manifest.json").read_bytes() == data
    m = json.loads(data)
    assert set(m) == {"version", "min_micropython", "board", "files", "sig"}
    assert (m["version"], m["min_micropython"], m["board"]) == ("1.4.0", "1.27.0", "esp32")
    paths = [f["path"] for f in m["files"]]
    # no entry points; the signing key's public half for the next update (firmware/ota_key)
    assert paths == ["firmware/app.mpy", "firmware/ota_key.mpy", "firmware/version.mpy",
                     "lib/a.mpy"]  # fmt: skip
    for f in m["files"]:
        content = (out / "1.4.0" / f["path"]).read_bytes()
        assert f["size"] == len(content)
        assert f["sha256"] == hashlib.sha256(content).hexdigest()
    assert (out / "1.4.0" / "lib" / "a.mpy").read_bytes() == (image / "lib" / "a.mpy").read_bytes()
    # canonical: the body without sig, re-serialised, is exactly what precedes the sig member
    body = {k: v for k, v in m.items() if k != "sig"}
    signed, sig = ota_manifest.split(data)
    assert (
        signed
        == ota.canonical(body)
        == json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    )
    assert sig.hex() == m["sig"]
    # cryptography agrees: the signature is over the body's SHA-256
    ota.load_key(path).public_key().verify(sig, hashlib.sha256(signed).digest())
    # the device's check accepts it, for its board and an older running version
    assert ota_manifest.check(data, pub, "esp32", "1.3.9", micropython=(1, 27, 0)) == body
    # the ota.py verify command agrees, and sees a changed file
    assert "signature and 4 files ok" in run("verify", out, "--public-key", pub).stdout
    # release.bin: the manifest then the files, in manifest order
    blob = (out / "1.4.0" / "release.bin").read_bytes()
    n = int.from_bytes(blob[4:8], "big")
    assert blob[:4] == b"LKR1" and blob[8 : 8 + n] == data
    assert blob[8 + n :] == b"".join((out / "1.4.0" / p).read_bytes() for p in paths)
    (out / "1.4.0" / "lib" / "a.mpy").write_bytes(b"tampered")
    r = run("verify", out, "--key-file", path, check=False)
    assert r.returncode == 2 and "does not match" in r.stderr


def test_release_reports_its_own_version_on_micropython(key, image, tmp_path):
    path, _ = key
    out = tmp_path / "rel"
    run(
        "build",
        "--version",
        "2.0.0-rc1",
        "--key-file",
        path,
        "--out",
        out,
        "--from",
        image,
        "--no-compile",
    )
    r = upy.run(
        ["-c", "from firmware import version, ota_key; print(version.VERSION, ota_key.KEY)"],
        upy.micropypath(out / "2.0.0-rc1"),
        cwd=tmp_path,
        timeout=30,
    )
    assert r.stdout.split() == ["2.0.0-rc1", key[1]], r.stderr


def test_build_carries_a_micropython_image(key, image, tmp_path):
    path, pub = key
    fw = tmp_path / "fw.app-bin"
    fw.write_bytes(bytes(range(256)) * 20)
    out = tmp_path / "rel"
    run("build", "--version", "3.0.0", "--key-file", path, "--out", out, "--from", image,
        "--no-compile", "--firmware", fw)  # fmt: skip
    data = (out / "manifest.json").read_bytes()
    m = ota_manifest.check(data, pub, "esp32", "1.0.0", micropython=(1, 27, 0))
    assert m["firmware"] == {
        "path": "micropython.app-bin",
        "size": 5120,
        "sha256": hashlib.sha256(fw.read_bytes()).hexdigest(),
    }
    blob = (out / "3.0.0" / "release.bin").read_bytes()
    assert blob.endswith(fw.read_bytes())
    r = run("build", "--version", "3.0.1", "--key-file", path, "--out", out, "--from", image,
            "--no-compile", "--firmware", tmp_path / "none.bin", check=False)  # fmt: skip
    assert r.returncode == 2 and "no such MicroPython image" in r.stderr


def test_a_linky_image_must_hold_the_releases_version(key, image, tmp_path):
    """On a board that runs the linky image, a release carrying an image installs no code:
    the image's frozen version and key are what the board then runs and trusts. Without the
    release's version it is refused, without the key a warning says the ota_key setting is
    needed; a stock image (no frozen firmware) is carried as it is."""
    path, pub = key
    out = tmp_path / "rel"
    args = ["--key-file", path, "--out", out, "--from", image, "--no-compile", "--firmware"]
    frozen = b"\0firmware/version.py\0firmware/ota_key.py\0"
    for name, version, content, ok, warned in (
        ("stock", "3.9.0", bytes(range(256)), True, False),
        ("linky-old", "4.0.0", frozen + b"0.2.0-dev\0" + pub.encode(), False, False),
        ("linky-nokey", "4.0.1", frozen + b"4.0.1\0", True, True),
        ("linky", "4.0.2", frozen + b"4.0.2\0" + pub.encode() + b"\0", True, False),
    ):
        fw = tmp_path / (name + ".app-bin")
        fw.write_bytes(content)
        r = run("build", "--version", version, *args, fw, check=False)
        assert (r.returncode == 0) == ok, (name, r.stderr)
        assert ("ota_key setting" in r.stderr) == warned, (name, r.stderr)
        if not ok:
            assert "linky image without this release's version 4.0.0" in r.stderr, r.stderr
            assert not (out / version).exists()


def test_build_options_and_refusals(key, image, tmp_path):
    path, _ = key
    out = tmp_path / "rel"
    args = ["--key-file", path, "--out", out, "--from", image, "--no-compile"]
    run("build", "--version", "1.0.0", "--board", "esp32", "--min-micropython", "1.28.1", *args)
    assert json.loads((out / "manifest.json").read_bytes())["min_micropython"] == "1.28.1"
    # a second release in the same directory: the manifest names the newest, both stay
    run("build", "--version", "1.1.0", *args)
    assert json.loads((out / "manifest.json").read_bytes())["version"] == "1.1.0"
    assert (out / "1.0.0" / "lib" / "a.mpy").exists()

    def refused(*extra, key_file=path):
        r = run(
            "build",
            *extra,
            "--key-file",
            key_file,
            "--out",
            out,
            "--from",
            image,
            "--no-compile",
            check=False,
        )
        assert r.returncode == 2, r.stdout
        assert r.stderr.startswith("ota: ") and len(r.stderr.splitlines()) == 1, r.stderr
        return r.stderr

    assert "never rebuilt" in refused("--version", "1.1.0")
    assert "not X.Y.Z" in refused("--version", "latest")
    assert "not X.Y.Z" in refused("--version", "1.2.0/../x")
    assert "board" in refused("--version", "1.2.0", "--board", "esp8266")
    assert "min MicroPython" in refused("--version", "1.2.0", "--min-micropython", "new")
    assert "cannot read key" in refused("--version", "1.2.0", key_file=tmp_path / "none.pem")
    (tmp_path / "junk.pem").write_text("not a key")
    assert "PEM" in refused("--version", "1.2.0", key_file=tmp_path / "junk.pem")
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run(
        "build",
        "--version",
        "1.2.0",
        "--key-file",
        path,
        "--out",
        out,
        "--from",
        empty,
        "--no-compile",
        check=False,
    )
    assert r.returncode == 2 and "no files" in r.stderr
    assert not (out / "1.2.0").exists()
    assert json.loads((out / "manifest.json").read_bytes())["version"] == "1.1.0"


def test_round_trip_real_image_served_and_verified_on_both_interpreters(key, tmp_path):
    path, pub = key
    out = tmp_path / "releases"
    # a private copy of the image: build/device is shared with other work
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build.py")],
        check=True,
        capture_output=True,
        timeout=300,
    )
    image = tmp_path / "device"
    shutil.copytree(upy.BUILD, image)
    run(
        "build",
        "--version",
        "9.0.0",
        "--key-file",
        path,
        "--out",
        out,
        "--from",
        image,
        "--no-compile",
    )
    server = Server(out)
    try:
        data = server.get("manifest.json")
        m = ota_manifest.check(data, pub, "esp32", "0.2.0-dev", micropython=(1, 27, 0))
        assert {f["path"] for f in m["files"]} >= {"lib/ed25519.mpy", "firmware/app.mpy"}
        assert not any(f["path"] in ("boot.py", "main.py") for f in m["files"])
        f = next(f for f in m["files"] if f["path"] == "lib/ota_manifest.mpy")
        content = server.get("9.0.0/" + f["path"])
        assert hashlib.sha256(content).hexdigest() == f["sha256"] and len(content) == f["size"]
        with pytest.raises(urllib.error.HTTPError):
            server.get("9.0.0/nothing.mpy")
    finally:
        server.close()
    # the same bytes, checked by the unix port with the device modules
    got = tmp_path / "manifest.json"
    got.write_bytes(data)
    script = (
        "import ota_manifest\n"
        "data = open(%r, 'rb').read()\n"
        "m = ota_manifest.check(data, %r, 'esp32', '0.2.0-dev', micropython=(1, 27, 0))\n"
        "print('ok', m['version'], len(m['files']))\n"
        "bad = bytearray(data); bad[20] ^= 1\n"
        "try:\n"
        "    ota_manifest.check(bytes(bad), %r, 'esp32', '0.2.0-dev', micropython=(1, 27, 0))\n"
        "except ota_manifest.ManifestError as e:\n"
        "    print('refused', e)\n" % (str(got), pub, pub)
    )
    r = upy.run(["-c", script], upy.source_path(), timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "ok 9.0.0 %d" % len(m["files"])
    assert lines[1].startswith("refused manifest")


def test_serve_refuses_a_missing_directory(tmp_path):
    r = run("serve", tmp_path / "none", "--port", "0", check=False)
    assert r.returncode == 2 and "not a directory" in r.stderr


def test_serve_listens_on_loopback_only(tmp_path):
    (tmp_path / "manifest.json").write_text("{}")
    server = Server(tmp_path)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert server.get("manifest.json") == b"{}"
    finally:
        server.close()
    assert os.path.exists(tmp_path / "manifest.json")


def test_push_logs_in_and_streams_release_bin(key, image, tmp_path):
    """push against a small stand-in of the device's web API (docs/design/web-api.md): login
    with the password, the session cookie and CSRF token on the upload, the body streamed."""
    import http.server
    import threading

    path, _ = key
    out = tmp_path / "rel"
    run("build", "--version", "1.4.0", "--key-file", path, "--out", out, "--from", image,
        "--no-compile")  # fmt: skip
    got = {}

    class Device(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def answer(self, status, obj, cookie=None):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if cookie:
                self.send_header("Set-Cookie", cookie)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            data = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/api/login":
                if json.loads(data) != {"password": "pw"}:
                    return self.answer(401, {"error": "wrong password"})
                return self.answer(200, {"ok": True, "csrf": "tok"}, "sid=abc; HttpOnly")
            if self.headers.get("Cookie") != "sid=abc":
                return self.answer(401, {"error": "login required"})
            if self.headers.get("X-CSRF-Token") != "tok":
                return self.answer(403, {"error": "CSRF token missing or wrong"})
            got["body"] = data
            return self.answer(200, {"ok": True, "restart": True})

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Device)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d" % srv.server_address[1]
    try:
        r = run("push", "--device", url, "--password", "pw", out)
        assert '"restart": true' in r.stdout and "100%" in r.stderr
        assert got["body"] == (out / "1.4.0" / "release.bin").read_bytes()
        r = run("push", "--device", url, "--password", "nope", out / "1.4.0", check=False)
        assert r.returncode == 2 and "login refused (401): wrong password" in r.stderr
        r = run("push", "--device", url, "--password", "pw", tmp_path, check=False)
        assert r.returncode == 2 and "no release.bin" in r.stderr
    finally:
        srv.shutdown()
        srv.server_close()
