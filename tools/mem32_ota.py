"""Heap use of one application update on MicroPython 1.27 built 32-bit, as on an ESP32.

    python3 tools/mem32_ota.py [--firmware] [--json]

Builds the device image (tools/build.py), a signing key and a release of it (tools/ota.py
build: the whole app, ~73 files, ~190 KB), then runs tools/mem32/ota.mjs on the WebAssembly
port of MicroPython 1.27.0 (tools/mem32.py's pinned npm package): the real firmware/ota.py,
ota_check.py, ota_http.py and lib/ota_sig.py, ota_manifest.py, ota_entries.py, ed25519.py,
sha512.py from the image, with a fake HTTP edge only (tests/mem32_fake/mem32_ota_steps.py).
Figures, bytes in use after a collection, above what the firmware already holds (firmware,
log, firmware.version, asyncio with wait_for and Lock loaded, as with MQTT):
  check phases: the manifest received, the signature check (modules, Verifier, the three
  cached points), the plan; download: every 16th chunk of a whole ota.from_url() update;
  peak: the largest of them. The signature check is one synchronous call on a board; this port
  cannot collect inside a call, so it is measured phase by phase (what each phase holds).
With --firmware, also the whole firmware with MQTT and the web server (tools/mem32.py
measure_web, standard mode, 40 frames): its board figure once the update has made its room
(`board_room`: firmware/ota_run.py make_room(), the function the update calls before its heavy
phases: MQTT stopped and dropped, the web server kept) plus the update's peak, against the
~112 KB one heap growth gives. Cost: about 5 s (15 s with --firmware). Method and figures:
docs/design/ota.md §6.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import mem32

HEAP_MAX = 2 * 56000  # one growth of the ESP32's first area (56,000 B usable): ~112 KB
# The update's own peak on 32 bits must stay under this (docs/design/ota.md §6: 22.4 KB on
# 2026-12-02, 31.6 KB download and ~38 KB check before the diet): a regression bound.
PEAK_MAX = 24 * 1024
VERSION = "9.0.0"


def release(tmp):
    """(public key hex, release directory) of the current build/device, signed with a new key."""
    sys.path.insert(0, str(mem32.ROOT / "tools"))
    import ota  # tools/ota.py (CPython: cryptography)

    key = Path(tmp) / "release.pem"
    pub = ota.keygen(key)
    out = Path(tmp) / "rel"
    ota.build(VERSION, key, out, compile_first=False)
    return pub, out


def measure(firmware=False):
    """Run the update on the 32-bit port; a JSON-able dict (see the module docstring)."""
    mem32.ensure_npm()
    mem32.build()
    with tempfile.TemporaryDirectory(prefix="mem32-ota-") as tmp:
        device = Path(tmp) / "device"
        shutil.copytree(mem32.upy.BUILD, device)
        pub, rel = release(tmp)
        cmd = ["node", "--expose-gc", str(mem32.NPM_DIR / "ota.mjs"), "--device", str(device)]
        cmd += ["--fake", str(mem32.FAKE_DIR), "--rel", str(rel), "--key", pub]
        r = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
        if r.returncode:
            raise mem32.Mem32Error("ota.mjs failed:\n" + (r.stdout + r.stderr)[-4000:])
        out = json.loads(r.stdout.strip().splitlines()[-1])
    names = ("received", "check_modules", "verifier", "points", "plan", "after_check")
    out["check"] = dict(zip(names, out.pop("verify")))
    out["check_peak"] = max(v for k, v in out["check"].items() if k != "after_check")
    out["peak"] = max(out["check_peak"], out["download_peak"])
    out["peak_max"] = PEAK_MAX
    if firmware:
        w = mem32.measure_web(frames=40, first=10, modes=("standard",))["modes"]["standard"]
        keys = (
            "board_steady",
            "fw_steady",
            "board_round_peak",
            "board_room",
            "board_room_poll",
            "board_room_poll_peak",
        )
        out["firmware"] = {k: w[k] for k in keys}
        out["total"] = w["board_room"] + out["peak"]
        out["heap_max"] = HEAP_MAX
    return out


def table(res):
    c = res["check"]
    rows = [
        ("manifest received (ota, ota_check, ota_http, ota_sig, buffers, Stream)", "received"),
        ("signature check: ota_http dropped, ed25519 and sha512 loaded", "check_modules"),
        ("... the Verifier with its message hashed", "verifier"),
        ("... the decoded key and the three cached points", "points"),
        ("plan (ota_manifest, ota_entries; the signature code dropped)", "plan"),
        ("after the check (modules dropped: interned names stay)", "after_check"),
    ]
    out = ["Bytes in use above the firmware, 32-bit, after a collection:", ""]
    out += ["| step | bytes |", "|---|---|"]
    out += ["| %s | {:,} |".format(c[k]) % label for label, k in rows]
    chunks = res["chunks"]
    out.append("| download, every 16th chunk: first / largest / last | {:,} / {:,} / {:,} |"
               .format(chunks[0], res["download_peak"], chunks[-1]))  # fmt: skip
    out.append("| **peak of the update** | **{:,}** |".format(res["peak"]))
    out.append("| kept after the update (no reset: interned names, see ota.md) | {:,} |".format(
        res["after_update"]))  # fmt: skip
    ok = res["result"] and res["result"]["ok"]
    out += ["", "Update %s; bound on the peak %d B: %s." % (
        "installed" if ok else "FAILED: %s" % res["result"], res["peak_max"],
        "ok" if res["peak"] <= res["peak_max"] else "OVER")]  # fmt: skip
    if "total" in res:
        f = res["firmware"]
        out.append("Whole firmware with MQTT and the web server (board, 40 frames): {:,} B; once "
                   "the update has made its room (MQTT stopped and dropped): {:,} B; plus the "
                   "update's peak: {:,} B, against {:,} B (one growth): {}.".format(
                       f["board_steady"], f["board_room"], res["total"], res["heap_max"],
                       "met" if res["total"] <= res["heap_max"] else "NOT MET"))  # fmt: skip
        p = f["board_room_poll_peak"]
        out.append("Not in that sum: a page poll (/api/state) during the update holds up to "
                   "{:,} B at its writes (board; its garbage included), {:,} B with the "
                   "update's peak.".format(p, p + res["peak"]))  # fmt: skip
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
