"""Shared helpers of the OTA tests: a signing key, a factory image, releases made from it,
an HTTP server of releases that can misbehave, and the unix-port driver (tests/ota_drive.py).
"""

import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import ota

import upy

ROOT = upy.ROOT
DRIVE = ROOT / "tests" / "ota_drive.py"


def compile_to(src_text, dst, name):
    """Compile Python source `src_text` to the .mpy file `dst` (device path `name`)."""
    tmp = Path(str(dst) + ".py")
    tmp.write_text(src_text)
    try:
        subprocess.run(
            [str(upy.MPY_CROSS), "-s", name, "-o", str(dst), str(tmp)],
            check=True,
            capture_output=True,
        )
    finally:
        tmp.unlink()


def factory(dst):
    """A copy of the device image (tools/build.py first), taken once: build/device is shared."""
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build.py")], check=True, capture_output=True
    )
    shutil.copytree(upy.BUILD, dst)
    return dst


def release(out, version, key_file, image, *, patch=None, board="esp32", firmware=None):
    """Build release `version` from `image` into `out` (ota.build, no compile); `patch`:
    {device path: Python source} compiled into a copy of the image first."""
    src = image
    if patch:
        src = Path(str(out) + ".img-" + version)
        shutil.copytree(image, src)
        for name, text in patch.items():
            compile_to(text, src / Path(name).with_suffix(".mpy"), name)
    if board != "esp32":
        ota.BOARDS = (*ota.BOARDS, board)
    ota.build(version, key_file, out, src=src, compile_first=False, board=board,
              firmware=firmware)  # fmt: skip
    return Path(out) / version


class _Handler(http.server.SimpleHTTPRequestHandler):
    faults = {}  # path -> "corrupt" | "drop" | "stall" | "short" | "missing"; "*delay*": s

    def log_message(self, *args):
        pass

    def do_GET(self):
        delay = self.faults.get("*delay*")
        if delay:
            time.sleep(delay)
        fault = self.faults.get(self.path.lstrip("/"))
        if fault is None:
            return super().do_GET()
        path = Path(self.directory) / self.path.lstrip("/")
        data = path.read_bytes()
        if fault == "missing":
            self.send_error(404)
            return
        if fault == "corrupt":
            data = data[:-1] + bytes([data[-1] ^ 0x55])
        if fault == "short":
            data = data[: len(data) // 2]
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if fault == "drop":
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        if fault == "stall":
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            time.sleep(5)
            return
        self.wfile.write(data)


class Server:
    """A threaded HTTP server of `directory` on 127.0.0.1; .faults, .url, .close()."""

    def __init__(self, directory):
        handler = type("H", (_Handler,), {"faults": {}})
        self.faults = handler.faults
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(directory))
        )
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def drive(state, *args, image=None, timeout=60):
    """Run tests/ota_drive.py STATE ARGS on the unix port with MICROPYPATH = `image` (a device
    image laid out as on the flash); its JSON line (dict) and the completed process."""
    path = upy.micropypath(Path(image) / "lib", image) if image else upy.source_path()
    r = upy.run([DRIVE, state] + [str(a) for a in args], path, heap="192K", timeout=timeout)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode or not lines:
        raise AssertionError("ota_drive %s: rc %d\n%s\n%s" % (args, r.returncode, r.stdout,
                                                             r.stderr))  # fmt: skip
    return json.loads(lines[-1]), r


def tree(directory):
    """{relative path: sha256} of every file under `directory` (missing: {})."""
    out = {}
    d = Path(directory)
    if not d.exists():
        return out
    for p in sorted(d.rglob("*")):
        if p.is_file():
            out[p.relative_to(d).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def complete(state, folder):
    """None if `folder` of `state` holds exactly the files of its manifest.json, else why."""
    d = Path(state) / folder
    try:
        m = json.loads((d / "manifest.json").read_bytes())
    except (OSError, ValueError) as e:
        return "no readable manifest: %s" % e
    for f in m["files"]:
        p = d / f["path"]
        if not p.is_file():
            return "missing %s" % f["path"]
        if (
            p.stat().st_size != f["size"]
            or hashlib.sha256(p.read_bytes()).hexdigest() != f["sha256"]
        ):
            return "%s differs" % f["path"]
    return None


def environ_without_linky():
    return {k: v for k, v in os.environ.items() if not k.startswith("LINKY_")}
