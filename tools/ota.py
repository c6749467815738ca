#!/usr/bin/env python3
"""Signed releases for over-the-air updates: make a key, build a release, serve it.

    python3 tools/ota.py keygen --out KEYFILE
    python3 tools/ota.py build --version V --key-file KEYFILE --out DIR
                               [--board esp32] [--min-micropython 1.27.0] [--from build/device]
                               [--firmware FILE.app-bin]
    python3 tools/ota.py serve DIR --port PORT
    python3 tools/ota.py verify DIR --public-key HEX|--key-file KEYFILE
    python3 tools/ota.py push --device http://HOST[:PORT] --password PW DIR

keygen writes a new Ed25519 private key (PEM, mode 0600; never overwrites), KEYFILE.pub with
the public key in hex, and prints that hex: the public key the device checks releases with.
build compiles the device image (tools/build.py, as `make build`), copies it, without the
entry points boot.py and main.py, which OTA never changes, to DIR/V/, with
firmware/version.mpy recompiled to say V and firmware/ota_key.mpy to hold the signing key's
public half (the key the updated device trusts next), and writes DIR/manifest.json (also
DIR/V/manifest.json): {"board", "files": [{"path", "size", "sha256"}], "min_micropython",
"version"[, "firmware": {"path", "size", "sha256"}]} as canonical JSON (json.dumps(sort_keys=True,
separators=(",", ":")), ASCII); the Ed25519 signature of its SHA-256 digest goes, in hex, into a
last "sig" member. A file's URL is <base>/V/<path>. --firmware adds a MicroPython image as
V/micropython.app-bin. DIR/V/release.bin holds the whole release for an upload: b"LKR1", the
manifest's length (4 bytes, big-endian), the manifest, then each file's bytes in manifest
order, then the MicroPython image if any.
push logs in to a device's web server (POST /api/login) and uploads DIR/release.bin (DIR is a
release directory DIR/V/ or a build --out directory: its newest manifest's release), with a
progress bar on stderr; the device installs it and restarts.
serve is a plain HTTP server of DIR on 127.0.0.1 (--port 0 picks a free port; the line it
prints says which). verify checks DIR/manifest.json and the files with the device's own code
(lib/ota_manifest.py, lib/ed25519.py). Format and reasons: docs/design/ota-signing.md.
Errors exit with status 2 and one line. Needs the PyPI package `cryptography` (keygen, build).
"""

import argparse
import functools
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import upy

ROOT = upy.ROOT
sys.path.insert(0, str(ROOT / "lib"))

import ota_manifest  # noqa: E402 (lib/ on the path above)

ENTRY_POINTS = ("boot.py", "main.py")  # stay on the board's root; never part of a release
VERSION_MODULE = "firmware/version.py"
KEY_MODULE = "firmware/ota_key.py"
# In a MicroPython image with the firmware frozen in (the linky image): its frozen module table
# names each module by its path.
LINKY_IMAGE_MARK = VERSION_MODULE.encode()
FIRMWARE_NAME = "micropython.app-bin"
RELEASE_MAGIC = b"LKR1"
BOARDS = ("esp32",)  # the board families a release can name
DEFAULT_MIN_MICROPYTHON = "1.27.0"


class OtaError(Exception):
    pass


def canonical(body):
    """The bytes that are signed: `body` (no "sig") as sorted, compact, ASCII JSON."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def signed_manifest(body, private_key):
    """manifest.json's bytes: canonical(body) with `,"sig":"<hex>"` before its final brace; the
    Ed25519 signature is over SHA-256(canonical(body))."""
    if "sig" in body:
        raise OtaError("the manifest body must not have a sig member")
    data = canonical(body)
    sig = private_key.sign(hashlib.sha256(data).digest()).hex()
    return data[:-1] + b',"sig":"' + sig.encode() + b'"}'


def public_hex(private_key):
    from cryptography.hazmat.primitives import serialization

    raw = private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return raw.hex()


def load_key(path):
    """The Ed25519 private key in the PEM file `path` (written by keygen)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise OtaError("cannot read key file %s: %s" % (path, e.strerror))
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise OtaError("%s is not an unencrypted PEM private key: %s" % (path, e))
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise OtaError("%s is not an Ed25519 key" % path)
    return key


def keygen(out):
    """Write a new private key to `out` (0600, never overwritten) and `out`.pub; return hex."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise OtaError("%s exists: a key is never overwritten" % out)
    except OSError as e:
        raise OtaError("cannot create %s: %s" % (out, e.strerror))
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    pub = public_hex(key)
    Path(str(out) + ".pub").write_text(pub + "\n")
    return pub


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(functools.partial(f.read, 65536), b""):
            h.update(chunk)
    return h.hexdigest()


def _release_files(src):
    """Relative POSIX paths of the files of the image `src` that a release carries."""
    files = []
    for p in sorted(src.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(src).as_posix()
        if rel in ENTRY_POINTS:
            continue
        if not ota_manifest._safe_path(rel):
            raise OtaError("file name not allowed in a release: %r" % rel)
        files.append(rel)
    if not files:
        raise OtaError("%s has no files: run `make build` first" % src)
    return files


def _version_mpy(version, dst):
    """Compile firmware/version.py with VERSION set to `version` into `dst` (.mpy)."""
    _module_mpy(VERSION_MODULE, "VERSION", version, dst)


def _module_mpy(module, name, value, dst):
    """Compile `module` (a path under ROOT) with its line `NAME = "..."` set to `value`."""
    text = (ROOT / module).read_text()
    new, n = re.subn(r'(?m)^%s = ".*"$' % name, '%s = "%s"' % (name, value), text)
    if n != 1:
        raise OtaError("no %s line in %s" % (name, module))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / Path(module).name
        src.write_text(new)
        cmd = [str(upy.MPY_CROSS), "-s", module, "-o", str(dst), str(src)]
        r = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if r.returncode:
            raise OtaError("mpy-cross failed on %s: %s" % (module, r.stderr.strip()))


def _check_linky_image(path, version, key_hex):
    """A linky image (MicroPython with the firmware frozen in: make image) is installed
    without the release's code on a board that runs one (docs/design/ota.md §8): its frozen
    firmware/version.py and firmware/ota_key.py are what the board runs next. OtaError unless
    the image holds the release's version (their text is in the image's frozen data); a
    warning on stderr when it lacks the signing key's public half (the board then needs the
    ota_key setting to trust the next release). A stock MicroPython image is not checked."""
    data = Path(path).read_bytes()
    if LINKY_IMAGE_MARK not in data:
        return
    if version.encode() not in data:
        raise OtaError(
            "%s is a linky image without this release's version %s: set VERSION in %s, then "
            "make build and make image" % (path, version, VERSION_MODULE)
        )
    if key_hex.encode() not in data:
        print(
            "warning: %s does not hold this key's public half (KEY in %s): boards will check "
            "the next release with their ota_key setting" % (path, KEY_MODULE),
            file=sys.stderr,
        )


def build(
    version,
    key_file,
    out,
    *,
    board="esp32",
    min_micropython=DEFAULT_MIN_MICROPYTHON,
    src=None,
    compile_first=True,
    firmware=None,
):
    """Make the release `version` in `out`; return (manifest bytes, body). `firmware`: a
    MicroPython .app-bin to carry too."""
    if ota_manifest.parse_version(version) is None or not re.match(r"^[0-9A-Za-z.+-]+$", version):
        raise OtaError("version %r is not X.Y.Z[-tag]" % version)
    if ota_manifest.parse_version(min_micropython) is None:
        raise OtaError("min MicroPython %r is not X.Y.Z" % min_micropython)
    if board not in BOARDS:
        raise OtaError("unknown board family %r (known: %s)" % (board, ", ".join(BOARDS)))
    key = load_key(key_file)
    if compile_first:
        r = subprocess.run(
            [sys.executable, str(ROOT / "tools" / "build.py")],
            check=False,
            capture_output=True,
            text=True,
        )
        if r.returncode:
            raise OtaError("tools/build.py failed: %s" % (r.stderr or r.stdout).strip())
    src = Path(src) if src else upy.BUILD
    files = _release_files(src)
    key_mpy = str(Path(KEY_MODULE).with_suffix(".mpy"))
    if key_mpy not in files:
        files = sorted(files + [key_mpy])
    if firmware is not None and not Path(firmware).is_file():
        raise OtaError("no such MicroPython image: %s" % firmware)
    if firmware is not None:
        _check_linky_image(firmware, version, public_hex(key))
    out = Path(out)
    vdir = out / version
    if vdir.exists():
        raise OtaError("%s exists: a release is never rebuilt in place" % vdir)
    out.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=".%s." % version, dir=out))
    try:
        entries = []
        for rel in files:
            dst = tmpdir / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if rel == "firmware/version.mpy":
                _version_mpy(version, dst)
            elif rel == key_mpy:
                _module_mpy(KEY_MODULE, "KEY", public_hex(key), dst)
            else:
                shutil.copyfile(src / rel, dst)
            entries.append({"path": rel, "size": dst.stat().st_size, "sha256": _sha256(dst)})
        body = {
            "version": version,
            "min_micropython": min_micropython,
            "board": board,
            "files": entries,
        }
        if firmware is not None:
            fw = tmpdir / FIRMWARE_NAME
            shutil.copyfile(firmware, fw)
            body["firmware"] = {
                "path": FIRMWARE_NAME,
                "size": fw.stat().st_size,
                "sha256": _sha256(fw),
            }
        data = signed_manifest(body, key)
        (tmpdir / "manifest.json").write_bytes(data)
        _write_release_bin(tmpdir, data, body)
        tmpdir.rename(vdir)
    except BaseException:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise
    tmp = out / "manifest.json.tmp"
    tmp.write_bytes(data)
    tmp.replace(out / "manifest.json")
    return data, body


def _write_release_bin(vdir, data, body):
    """vdir/release.bin: RELEASE_MAGIC, len(manifest) (4 bytes, big-endian), the manifest,
    each file in manifest order, then the MicroPython image if any."""
    parts = [f["path"] for f in body["files"]]
    if "firmware" in body:
        parts.append(body["firmware"]["path"])
    with open(vdir / "release.bin", "wb") as out:
        out.write(RELEASE_MAGIC + len(data).to_bytes(4, "big") + data)
        for rel in parts:
            with open(vdir / rel, "rb") as f:
                shutil.copyfileobj(f, out)


def release_bin(directory):
    """The release.bin of DIR: DIR/release.bin, else that of the version DIR/manifest.json
    names."""
    directory = Path(directory)
    p = directory / "release.bin"
    if p.is_file():
        return p
    try:
        version = json.loads((directory / "manifest.json").read_bytes())["version"]
    except (OSError, ValueError, KeyError, TypeError):
        raise OtaError("%s has no release.bin nor a readable manifest.json" % directory)
    p = directory / str(version) / "release.bin"
    if not p.is_file():
        raise OtaError("no %s: build the release with this tools/ota.py" % p)
    return p


def _bar(done, total, width=40):
    k = width * done // max(total, 1)
    sys.stderr.write(
        "\r[%s%s] %3d%% %d/%d bytes" % ("#" * k, "." * (width - k), 100 * done // max(total, 1),
                                       done, total)
    )  # fmt: skip
    sys.stderr.flush()


def push(device, password, directory, progress=_bar, timeout=120):
    """Log in to `device` (http://HOST[:PORT]) and upload DIR's release.bin; the device's JSON
    answer (dict). OtaError with the device's message on a refusal."""
    import http.client
    import urllib.parse

    path = release_bin(directory)
    u = urllib.parse.urlsplit(device if "://" in device else "http://" + device)
    if u.scheme != "http" or not u.hostname:
        raise OtaError("--device must be http://HOST[:PORT]: %s" % device)
    port = u.port or 80

    def request(method, url, body=None, headers=None, size=None):
        conn = http.client.HTTPConnection(u.hostname, port, timeout=timeout)
        try:
            if size is None:
                conn.request(method, url, body=body, headers=headers or {})
            else:
                conn.putrequest(method, url)
                for k, v in (headers or {}).items():
                    conn.putheader(k, v)
                conn.putheader("Content-Length", str(size))
                conn.endheaders()
                done = 0
                with open(path, "rb") as f:
                    while True:
                        chunk = f.read(4096)
                        if not chunk:
                            break
                        conn.send(chunk)
                        done += len(chunk)
                        if progress:
                            progress(done, size)
                if progress:
                    sys.stderr.write("\n")
            r = conn.getresponse()
            raw = r.read()
            cookie = r.getheader("Set-Cookie") or ""
        except OSError as e:
            raise OtaError("%s: %s" % (device, e.strerror or e))
        finally:
            conn.close()
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:
            answer = {"error": raw[:200].decode("latin-1")}
        return r.status, answer, cookie

    status, answer, cookie = request(
        "POST",
        "/api/login",
        json.dumps({"password": password}).encode(),
        {"Content-Type": "application/json"},
    )
    if status != 200:
        raise OtaError("login refused (%d): %s" % (status, answer.get("error", answer)))
    sid = cookie.split(";", 1)[0]
    headers = {
        "Content-Type": "application/octet-stream",
        "X-CSRF-Token": answer.get("csrf", ""),
    }
    if sid:
        headers["Cookie"] = sid
    size = path.stat().st_size
    status, answer, _ = request("POST", "/api/ota/upload", headers=headers, size=size)
    if status != 200:
        raise OtaError("upload refused (%d): %s" % (status, answer.get("error", answer)))
    return answer


def verify_dir(directory, public_key):
    """Check DIR/manifest.json with the device's code, then every file's size and SHA-256;
    return the manifest. Raises OtaError."""
    directory = Path(directory)
    try:
        data = (directory / "manifest.json").read_bytes()
    except OSError as e:
        raise OtaError("cannot read %s/manifest.json: %s" % (directory, e.strerror))
    try:
        board = json.loads(data).get("board")
        m = ota_manifest.check(data, public_key, board, "0", force=True, micropython=(99, 0, 0))
    except (ota_manifest.ManifestError, ValueError, AttributeError) as e:
        raise OtaError("manifest refused: %s" % e)
    for f in m["files"]:
        p = directory / m["version"] / f["path"]
        if not p.is_file():
            raise OtaError("missing file %s" % p)
        if p.stat().st_size != f["size"] or _sha256(p) != f["sha256"]:
            raise OtaError("file %s does not match the manifest" % p)
    return m


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), format % args))


def serve(directory, port, bind="127.0.0.1", ready=None):
    """Serve `directory` over HTTP until interrupted; `ready(port)` is called once listening."""
    directory = Path(directory)
    if not directory.is_dir():
        raise OtaError("%s is not a directory" % directory)
    handler = functools.partial(_Handler, directory=str(directory))
    try:
        server = http.server.ThreadingHTTPServer((bind, port), handler)
    except OSError as e:
        raise OtaError("cannot listen on %s:%d: %s" % (bind, port, e.strerror))
    with server:
        real = server.server_address[1]
        if ready:
            ready(real)
        server.serve_forever()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    k = sub.add_parser("keygen", help="make a signing key")
    k.add_argument("--out", required=True, help="private key file to create (0600)")
    b = sub.add_parser("build", help="build and sign a release from the device image")
    b.add_argument("--version", required=True)
    b.add_argument("--key-file", required=True)
    b.add_argument("--out", required=True, help="release directory (served as is)")
    b.add_argument("--board", default="esp32", help="board family (default esp32)")
    b.add_argument("--min-micropython", default=DEFAULT_MIN_MICROPYTHON)
    b.add_argument("--from", dest="src", help="device image directory (default build/device)")
    b.add_argument("--firmware", help="a MicroPython .app-bin to carry (firmware OTA)")
    b.add_argument(
        "--no-compile",
        action="store_true",
        help="take the image as it is (default: run tools/build.py first)",
    )
    s = sub.add_parser("serve", help="serve a release directory over HTTP on 127.0.0.1")
    s.add_argument("dir")
    s.add_argument("--port", type=int, required=True, help="TCP port, 0 for any free one")
    s.add_argument("--bind", default="127.0.0.1", help="address to listen on")
    p = sub.add_parser("push", help="upload a release to a device's web server")
    p.add_argument("--device", required=True, help="http://HOST[:PORT]")
    p.add_argument("--password", default="", help="the device's admin password")
    p.add_argument("dir", help="a release directory (DIR/V) or a build --out directory")
    v = sub.add_parser("verify", help="check a release directory as a device would")
    v.add_argument("dir")
    g = v.add_mutually_exclusive_group(required=True)
    g.add_argument("--public-key", help="64 hex characters")
    g.add_argument("--key-file", help="the private key file (its public half is used)")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "keygen":
            print(keygen(args.out))
        elif args.cmd == "build":
            data, body = build(
                args.version,
                args.key_file,
                args.out,
                board=args.board,
                min_micropython=args.min_micropython,
                src=args.src,
                compile_first=not args.no_compile,
                firmware=args.firmware,
            )
            size = sum(f["size"] for f in body["files"])
            print(
                "release %s: %d files, %d bytes, manifest %s (%d bytes), public key %s"
                % (
                    args.version,
                    len(body["files"]),
                    size,
                    Path(args.out) / "manifest.json",
                    len(data),
                    public_hex(load_key(args.key_file)),
                )
            )
        elif args.cmd == "serve":

            def ready(port):
                print(
                    "serving %s on http://%s:%d/ (Ctrl-C stops)" % (args.dir, args.bind, port),
                    flush=True,
                )

            try:
                serve(args.dir, args.port, args.bind, ready)
            except KeyboardInterrupt:
                pass
        elif args.cmd == "push":
            answer = push(args.device, args.password, args.dir)
            print("uploaded: %s" % json.dumps(answer))
        elif args.cmd == "verify":
            pub = args.public_key or public_hex(load_key(args.key_file))
            m = verify_dir(args.dir, pub)
            print(
                "release %s for %s: signature and %d files ok"
                % (m["version"], m["board"], len(m["files"]))
            )
    except OtaError as e:
        print("ota: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
