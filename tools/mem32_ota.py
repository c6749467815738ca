"""Heap use of one application update on MicroPython 1.27 built 32-bit, as on an ESP32.

    python3 tools/mem32_ota.py [--firmware] [--json]

Builds the device image (tools/build.py), a signing key and a release of it (tools/ota.py
build: the whole app, ~73 files, ~190 KB), then runs tools/mem32/ota.mjs on the WebAssembly
port of MicroPython 1.27.0 (tools/mem32.py's pinned npm package): the real firmware/ota*.py
and lib/ota_sig.py, ota_head.py, ota_entries.py, ed25519.py, sha512.py from the image,
with a fake HTTP edge only (tests/mem32_fake/mem32_ota_steps.py).
Figures, bytes in use after a collection, above what the firmware already holds (firmware,
log, firmware.version, asyncio with wait_for and Lock loaded, as with MQTT):
  check phases: the manifest received, the signature check (modules, Verifier, the three
  cached points), the plan; download: every 32nd chunk of a whole ota.from_url() update;
  peak: the largest of them. The signature check is one synchronous call on a board; this port
  cannot collect inside a call, so it is measured phase by phase (what each phase holds).
  Interned names as a board holds them (_board(); docs/design/qstr-pools.md): this interpreter
  starts with few names, so the update's open pools here that a board has already opened; each
  reading counts instead the text (and pool, if any) of all the names the update brings.
With --firmware, also the whole firmware with MQTT and the web server (tools/mem32.py
measure_web, standard mode, 40 frames) plus the update's peak, against the ~112 KB one heap
growth gives: with MQTT kept publishing (`board_room_kept`: firmware/ota_run.py make_room()
when the heap has room, the update's task module loaded), and with MQTT stopped and dropped
(`board_room`: make_room() without room; the web server kept). Cost: about 5 s (a few
minutes with --firmware). Method and figures:
docs/design/ota.md §6.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import mem32

import qstr_names


def _need(name):
    """firmware/ota_run.py's `name` (NEED, FW_NEED): what make_room() asks of the heap."""
    import ast

    tree = ast.parse((mem32.ROOT / "firmware" / "ota_run.py").read_text())
    for n in tree.body:
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == name:
            return ast.literal_eval(n.value)
    raise mem32.Mem32Error("firmware/ota_run.py has no %s" % name)


NEED = _need("NEED")
FW_NEED = _need("FW_NEED")

HEAP_MAX = 2 * 56000  # one growth of the ESP32's first area (56,000 B usable): ~112 KB
# The update's own peak on 32 bits must stay under this (docs/design/ota.md §6: 22.4 KB on
# 2026-12-02, 31.6 KB download and ~38 KB check before the diet): a regression bound.
PEAK_MAX = 24 * 1024
VERSION = "9.0.0"
FW_VERSION = "9.0.1"  # the release that carries a MicroPython image
FW_SIZE = 256 * 1024 + 32  # its size: the writer's memory does not depend on it


def release(tmp):
    """(public key hex, release directory, the same with a MicroPython image) of the current
    build/device, signed with a new key; the image is tests/fw_image.py's (FW_SIZE bytes)."""
    sys.path.insert(0, str(mem32.ROOT / "tools"))
    sys.path.insert(0, str(mem32.ROOT / "tests"))
    import fw_image  # tests/fw_image.py: a well-formed ESP32 app image
    import ota  # tools/ota.py (CPython: cryptography)

    key = Path(tmp) / "release.pem"
    pub = ota.keygen(key)
    out = Path(tmp) / "rel"
    ota.build(VERSION, key, out, compile_first=False)
    img = Path(tmp) / "mp.app-bin"
    img.write_bytes(fw_image.app_image(FW_SIZE))
    fw = Path(tmp) / "relfw"
    ota.build(FW_VERSION, key, fw, compile_first=False, firmware=img)
    return pub, out, fw


def _esp32_flash(device):
    """firmware/hal/flash.py with its ESP32 side chosen, compiled into the image `device`."""
    src = (mem32.ROOT / "firmware/hal/flash.py").read_text(encoding="utf-8")
    if src.count(mem32.HAL_SELECT) != 1:
        raise mem32.Mem32Error("flash.py no longer selects by `%s`" % mem32.HAL_SELECT)
    tmp = Path(device) / "flash_esp32_sel.py"
    tmp.write_text(src.replace(mem32.HAL_SELECT, "True"), encoding="utf-8")
    out = Path(device) / "firmware/hal/flash.mpy"
    cmd = [str(mem32.upy.MPY_CROSS), "-s", "flash", "-o", str(out), str(tmp)]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    tmp.unlink()
    if r.returncode:
        raise mem32.Mem32Error("mpy-cross failed on the patched flash.py:\n" + r.stderr)


UPDATE_FILES = ("firmware/ota", "lib/ota_", "lib/ed25519", "lib/sha512")  # what it loads


def _board(out):
    """The readings as a board would hold them: this interpreter starts with few names, so the
    update's names open pools here; a board keeps them in the pools the firmware has opened
    (tools/qstr_names.py: room for them), paying their text only, and the pool if they cross
    the 1,260 line. Each reading: its bytes without the names' growth since the base, plus the
    text (and pool) of every name the update's files bring (all of them, at every reading)."""
    board = set(qstr_names.board_names())
    mine, rest = set(), set()
    for f in sorted(mem32.upy.BUILD.rglob("*.mpy")):
        rel = f.relative_to(mem32.upy.BUILD)
        s = rel.as_posix()
        names = set(qstr_names.mpy_names(f.read_bytes())) | set(qstr_names._import_names(rel))
        if s.startswith(UPDATE_FILES) and not s.startswith("firmware/ota_boot"):
            mine |= names
        else:
            rest |= names
    new = sorted((mine - rest) & board)  # the update's own names (the firmware's are in)
    others = len(board) - len(new)
    text = sum(len(n.encode()) + 1 for n in new)
    cost = text + qstr_names.pool_bytes(others + len(new)) - qstr_names.pool_bytes(others)
    q = out.pop("qstr")
    base_q = q[0]
    fix = [cost - (v - base_q) for v in q[1:]]
    out["raw"] = {"verify": list(out["verify"]), "chunks": list(out["chunks"]),
                  "after_update": out["after_update"]}  # fmt: skip
    k = len(out["verify"])
    out["verify"] = [v + fix[i] for i, v in enumerate(out["verify"])]
    out["upload_verify"] = [v + fix[k + i] for i, v in enumerate(out["upload_verify"])]
    k += len(out["upload_verify"])
    out["before_update"] += fix[k]
    at = k + 1
    for run, last, peak in (("chunks", "after_update", "download_peak"),
                            ("upload_chunks", "after_upload", "upload_peak"),
                            ("fw_chunks", "after_fw", "fw_peak")):  # fmt: skip
        chunks = out[run] + [out[last]]
        chunks = [v + fix[at + i] for i, v in enumerate(chunks)]
        at += len(chunks)
        out[last] = chunks.pop()
        out[run] = chunks
        out[peak] = max(chunks)
    out["names"] = {"update": len(new), "text": text, "board_cost": cost,
                    "harness": q[k + 1 + len(out["chunks"]) + 1] - base_q}  # fmt: skip


def measure(firmware=False):
    """Run the update on the 32-bit port; a JSON-able dict (see the module docstring)."""
    mem32.ensure_npm()
    mem32.build()
    with tempfile.TemporaryDirectory(prefix="mem32-ota-") as tmp:
        device = Path(tmp) / "device"
        mem32.device_image(device)  # the ESP32 HAL, over tests/mem32_fake's machine
        _esp32_flash(device)
        pub, rel, relfw = release(tmp)
        cmd = ["node", "--expose-gc", str(mem32.NPM_DIR / "ota.mjs"), "--device", str(device)]
        cmd += ["--fake", str(mem32.FAKE_DIR), "--rel", str(rel), "--relfw", str(relfw)]
        cmd += ["--key", pub]
        cmd += ["--upload", "/rel/%s/release.bin" % VERSION]
        r = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
        if r.returncode:
            raise mem32.Mem32Error("ota.mjs failed:\n" + (r.stdout + r.stderr)[-4000:])
        out = json.loads(r.stdout.strip().splitlines()[-1])
    names = ("received", "check_modules", "verifier", "points", "plan", "after_check")
    _board(out)
    out["check"] = dict(zip(names, out.pop("verify")))
    out["check_peak"] = max(v for k, v in out["check"].items() if k != "after_check")
    out["peak"] = max(out["check_peak"], out["download_peak"])
    out["upload_check"] = dict(zip(names, out.pop("upload_verify")))
    c = out["upload_check"]
    out["upload_peak"] = max(out["upload_peak"], *(v for k, v in c.items() if k != "after_check"))
    out["upload_code"] = c["after_check"] - out["check"]["after_check"]  # the request's code
    out["peak_max"] = PEAK_MAX
    if firmware:
        w = mem32.measure_web(frames=40, first=10, modes=("standard",))["modes"]["standard"]
        keys = (
            "board_steady",
            "fw_steady",
            "board_round_peak",
            "board_room_kept",
            "board_room_kept_pub_peak",
            "board_room_kept_poll_peak",
            "board_room",
            "board_room_poll",
            "board_room_poll_peak",
        )
        out["firmware"] = {k: w[k] for k in keys}
        out["total"] = w["board_room"] + out["peak"]
        out["total_mqtt_kept"] = w["board_room_kept"] + out["peak"]
        # an upload: its request's code is in its peak; make_room() finds no room for it with
        # MQTT (room_upload < NEED), so MQTT is stopped
        out["room_upload"] = HEAP_MAX - w["board_room_kept"] - out["upload_code"]
        out["total_upload"] = w["board_room"] + out["upload_peak"]
        # a release with a MicroPython image: make_room(image=True) finds no room with MQTT
        out["room_fw"] = HEAP_MAX - w["board_room_kept"]
        out["total_fw"] = w["board_room"] + out["fw_peak"]
        out["heap_max"] = HEAP_MAX
    return out


def table(res):
    c = res["check"]
    rows = [
        (
            "manifest received (ota, ota_check, ota_recv, ota_http, ota_sig, buffer, Stream)",
            "received",
        ),
        ("signature check: ota_http, ota_recv, ota_sig dropped; ed25519, sha512", "check_modules"),
        ("... the Verifier with its message hashed", "verifier"),
        ("... the decoded key and the three cached points", "points"),
        ("plan (ota_plan, ota_head, ota_entries; the signature code dropped)", "plan"),
        ("after the check (modules dropped: interned names stay)", "after_check"),
    ]
    out = ["Bytes in use above the firmware, 32-bit, after a collection:", ""]
    out += ["| step | bytes |", "|---|---|"]
    out += ["| %s | {:,} |".format(c[k]) % label for label, k in rows]
    chunks = res["chunks"]
    out.append("| download, every 32nd chunk: first / largest / last | {:,} / {:,} / {:,} |"
               .format(chunks[0], res["download_peak"], chunks[-1]))  # fmt: skip
    out.append("| **peak of the update** | **{:,}** |".format(res["peak"]))
    out.append("| kept after the update (no reset: interned names, see ota.md) | {:,} |".format(
        res["after_update"]))  # fmt: skip
    n = res["names"]
    out += ["", "Names: the update brings %d names a board does not hold yet; there they cost "
            "%d B (their text, in the pools the firmware has opened), here %d B: every reading "
            "above is as a board holds it (the raw readings are in the JSON)." % (
                n["update"], n["board_cost"], n["harness"])]  # fmt: skip
    u = res["upload_check"]
    out += ["", "The same release uploaded (POST /api/ota/upload: the request's code held, "
            "httpd_conn, web_req, web_api, ota_web: {:,} B): check phases {} B; download, "
            "largest {:,} B; **peak {:,} B**.".format(
                res["upload_code"], " / ".join("{:,}".format(u[k]) for _, k in rows[:-1]),
                max(res["upload_chunks"]), res["upload_peak"])]  # fmt: skip
    f = res["fw_chunks"]
    out += [
        "",
        "A release with a MicroPython image ({:,} B, into the fake esp32.Partition): "
        "the app's files, largest {:,} B; with the image's writer, largest {:,} B; "
        "**peak {:,} B**.".format(FW_SIZE, max(f[: len(f) // 2]), max(f), res["fw_peak"]),
    ]
    ok = res["result"] and res["result"]["ok"]
    up = res["upload_result"] and res["upload_result"]["ok"]
    fw = res["fw_result"] and res["fw_result"]["ok"]
    out += ["", "Update %s, upload %s, update with an image %s; bound on the update's peak %d B: "
            "%s." % ("installed" if ok else "FAILED: %s" % res["result"],
                     "installed" if up else "FAILED: %s" % res["upload_result"],
                     "installed" if fw else "FAILED: %s" % res["fw_result"], res["peak_max"],
                     "ok" if res["peak"] <= res["peak_max"] else "OVER")]  # fmt: skip
    if "total" in res:
        f = res["firmware"]
        out.append("Whole firmware with MQTT and the web server (board, 40 frames): {:,} B; once "
                   "the update has made its room (MQTT stopped and dropped): {:,} B; plus the "
                   "update's peak: {:,} B, against {:,} B (one growth): {}.".format(
                       f["board_steady"], f["board_room"], res["total"], res["heap_max"],
                       "met" if res["total"] <= res["heap_max"] else "NOT MET"))  # fmt: skip
        out.append("With MQTT kept publishing (make_room() with room; the task's module): {:,} "
                   "B + {:,} B = {:,} B: {}; a frame published meanwhile holds up to {:,} B at "
                   "its writes (garbage included).".format(
            f["board_room_kept"], res["peak"], res["total_mqtt_kept"],
            "within" if res["total_mqtt_kept"] <= res["heap_max"] else "over",
            f["board_room_kept_pub_peak"]))  # fmt: skip
        out.append("An upload: {:,} B of room with MQTT and the request's code, {:,} needed: "
                   "MQTT stopped; {:,} B + {:,} B = {:,} B: {}.".format(
                       res["room_upload"], NEED, f["board_room"], res["upload_peak"],
                       res["total_upload"],
                       "within" if res["total_upload"] <= res["heap_max"] else "over",
                   ))  # fmt: skip
        out.append("A release with a MicroPython image: {:,} B of room with MQTT, {:,} needed: "
                   "MQTT stopped; {:,} B + {:,} B = {:,} B: {}.".format(
                       res["room_fw"], NEED + FW_NEED, f["board_room"], res["fw_peak"],
                       res["total_fw"],
                       "within" if res["total_fw"] <= res["heap_max"] else "over",
                   ))  # fmt: skip
        p = f["board_room_kept_poll_peak"]
        out.append("A page poll during the update (the held server's 503, lib/httpd_hold.py), "
                   "MQTT kept: up to {:,} B at its writes (board; its garbage included), {:,} B "
                   "with the update's peak.".format(p, p + res["peak"]))  # fmt: skip
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--firmware", action="store_true", help="add the whole firmware's figure")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    try:
        res = measure(args.firmware)
    except mem32.Mem32Error as e:
        sys.exit(str(e))
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print("\n".join(table(res)))


if __name__ == "__main__":
    main()
