"""Speed of lib/ed25519.py and lib/sha512.py on the running interpreter (CPython or MicroPython).

    python3 tools/ed25519_bench.py [ROUNDS]
    MICROPYPATH=lib .venv/bin/micropython tools/ed25519_bench.py [ROUNDS]

Prints the best of ROUNDS (default 20) timings, in ms: one verify of a 32-byte message (what a
release manifest's check costs: its signed message is its SHA-256), one of a 4,500-byte message
(a 40-file manifest, were it signed directly), SHA-512 and SHA-256 of 4,500 bytes, and the
verify's parts. Figures and the ESP32 estimate: docs/design/ota-signing.md.
"""

import hashlib
import sys
import time

if sys.implementation.name != "micropython":
    sys.path.insert(0, __file__.rsplit("/", 2)[0] + "/lib")

import ed25519
import sha512

# RFC 8032 TEST 1's key and signature; the message does not need to match for timing
PK = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
SIG = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def _now_us():
    if hasattr(time, "ticks_us"):
        return time.ticks_us()
    return int(time.perf_counter() * 1e6)


def best(f, rounds):
    out = None
    for _ in range(rounds):
        t = _now_us()
        f()
        dt = _now_us() - t
        out = dt if out is None or dt < out else out
    return out / 1000


S = int.from_bytes(SIG[32:], "little")
K = int.from_bytes(sha512.sha512(SIG[:32] + PK).digest(), "little") % ed25519._L


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    short = bytes(32)
    manifest = bytes(4500)
    a = ed25519._decode_point(PK)
    rows = (
        ("verify, 32-byte message", lambda: ed25519.verify(PK, short, SIG)),
        ("verify, 4500-byte message", lambda: ed25519.verify(PK, manifest, SIG)),
        ("sha512, 4500 bytes", lambda: sha512.sha512(manifest).digest()),
        ("hashlib.sha256, 4500 bytes", lambda: hashlib.sha256(manifest).digest()),
        ("  decode A (one sqrt)", lambda: ed25519._decode_point(PK)),
        ("  [s]B - [k]A + inversion", lambda: ed25519._straus(S, K, *a)),
        ("  inversion", lambda: ed25519._inverse(12345678901234567890)),
    )
    print(
        "%s %s"
        % (sys.implementation.name, ".".join(str(x) for x in sys.implementation.version[:3]))
    )
    for name, f in rows:
        print("%-28s %8.2f ms" % (name, best(f, rounds)))


if __name__ == "__main__":
    main()
