"""Steps of tools/mem32_ota.py: one application update on 32-bit MicroPython (WebAssembly).

The device image's real firmware/ota*.py, lib/ota_sig.py, ota_head.py, ota_entries.py,
ed25519.py and sha512.py run against a fake socket edge: `hal.open_connection` is replaced by
an in-memory HTTP/1.0 server that answers each GET from the release directory /rel in the
interpreter's filesystem (status line, Content-Length, then the file read through the
update's buffer); an upload reads /rel's release.bin the same way.
Called from tools/mem32/ota.mjs, one step per runPython call; readings are printed as
`MEM32 <key number> <bytes>` (numbers, not names: a name would be interned and stay).

In use at a chunk: the server's readinto asks for a collection and yields to the JavaScript
loop (where the port collects), so the next chunk's reading is what is live plus at most
one chunk's garbage. The signature check is one synchronous call (no collection inside it on
this port): verify_steps() runs its phases as separate calls instead, holding what each
phase holds (the modules, the hasher, the two point tables) and reading in between.
"""

import asyncio
import gc
import sys

R = {}  # key number -> bytes
AT = asyncio.Event()  # the update waits at a chunk (or has ended)
GO = asyncio.Event()  # the harness lets it go on
DONE = [False]
COUNT = [0]  # reads served
GATE_EVERY = 32  # each gate leaves ~12 B that V8 frees late: few gates, little creep


def collect():
    gc.collect()


def in_use(key):
    v = gc.mem_alloc()
    R[key] = v
    print("MEM32", key, v)


class App:
    """What firmware/ota.py uses of the app: settings and the status dict."""

    def __init__(self, key):
        self.settings = {"ota_key": key, "ota_url": "http://rel.local/r"}
        self.ota_status = {"state": "idle", "progress": 0, "error": None}


async def _gate():
    """Before a read: every GATE_EVERY reads (and the first ones), hand control back to
    JavaScript (the harness collects and reads), then go on. Not at every read: each
    runPythonAsync call leaves ~12 B that V8 frees late (docs/design/memory.md), which would
    creep in."""
    n = COUNT[0]
    COUNT[0] = n + 1
    if n < 8 or n % GATE_EVERY == 0:
        AT.set()
        await GO.wait()
        GO.clear()
    else:
        await asyncio.sleep_ms(0)


class _Conn:
    """One GET answered from /rel: the request is read, then headers, then the file."""

    def __init__(self):
        self.f = None
        self.head = None

    def write(self, b):
        line = bytes(b).split(b"\r\n", 1)[0]
        path = line.split()[1].decode()
        # /f/...: the release with a MicroPython image (/relfw); /r/... and the rest: /rel
        rel = "/relfw" + path[2:] if path.startswith("/f/") else "/rel" + path[2:]
        try:
            self.f = open(rel, "rb")
            import os

            n = os.stat(rel)[6]
            self.head = b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % n
        except OSError:
            self.head = b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n"

    async def drain(self):
        pass

    async def readinto(self, mv):
        await _gate()
        if self.head:
            n = min(len(self.head), len(mv))
            mv[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        if self.f is None:
            return 0
        return self.f.readinto(mv)

    def close(self):
        if self.f is not None:
            self.f.close()
            self.f = None


async def open_connection(host, port):
    return _Conn()


APP = [None]
KEEP = {}


def setup(key):
    """The fake edge: the image's firmware.hal (its ESP32 side, tools/mem32_ota.py selects it,
    over the fake machine and esp32 modules) with open_connection replaced by the in-memory
    server; firmware/hal/flash.py's ESP32 side over the fake esp32.Partition."""
    asyncio.wait_for_ms  # noqa: B018 (loads asyncio.funcs, as the MQTT client has at boot)
    asyncio.Lock  # noqa: B018 (loads asyncio.lock, as the MQTT client has)
    from firmware import hal

    hal.open_connection = open_connection
    APP[0] = App(key)
    import os

    os.mkdir("app_a")  # where verify_phase(4) plans from (the update wipes it first)
    with open("/rel/manifest.json", "rb") as f, open("app_a/manifest.json", "wb") as out:
        out.write(f.read())


def import_module(name):
    __import__(name)


def unload(*names):
    from firmware import unload as u

    u(*names)


class _Upload:
    """What firmware/ota_web.py reads of a streamed POST /api/ota/upload: `length` and
    `await readinto(mv)`, the release.bin of /rel, gated as _Conn's reads are."""

    def __init__(self, path):
        import os

        self.f = open(path, "rb")
        self.length = os.stat(path)[6]

    async def readinto(self, mv):
        await _gate()
        return self.f.readinto(mv)


def upload_code(on):
    """Hold (or drop) what an upload's request holds for its duration, as the web server runs
    it: its connection's code (httpd_conn), the request's handlers (firmware/web_req.py,
    web_api.py) and firmware/ota_web.py."""
    if on:
        import httpd_conn
        from firmware import ota_web, web_api, web_req

        KEEP["upload_code"] = (httpd_conn, web_api, web_req, ota_web)
    else:
        KEEP.pop("upload_code")
        unload("firmware.ota_web", "firmware.web_api", "firmware.web_req", "httpd_conn")


async def _upload(path):
    """An upload: upload_code() held; install_upload() does the work (upload() adds the room
    and the reset)."""
    upload_code(True)
    ok = await KEEP["upload_code"][3].install_upload(APP[0], _Upload(path), True)
    print("MEM32OK", 1 if ok else 0, APP[0].ota_status["error"])
    upload_code(False)
    unload("firmware.ota")
    KEEP.pop("task", None)
    DONE[0] = True
    AT.set()


async def _start(co):
    """Run `co` (an update) in a task of its own, as ota_boot runs it (this port's wait_for
    cannot cancel the top-level coroutine); return at its first chunk."""
    AT.clear()
    DONE[0] = False
    COUNT[0] = 0
    KEEP["task"] = asyncio.create_task(co)
    await AT.wait()
    AT.clear()


async def start_upload(path):
    """Start an upload of release file `path` (tools/ota.py build's release.bin)."""
    await _start(_upload(path))


async def _update(url=None):
    from firmware import ota

    ok = await ota.from_url(APP[0], url, False)
    print("MEM32OK", 1 if ok else 0, APP[0].ota_status["error"])
    sys.modules.pop("firmware.ota", None)
    KEEP.pop("task", None)  # a finished task kept would keep its frames (firmware/app.py: not)
    DONE[0] = True
    AT.set()


async def start(url=None):
    """Start the whole update, ota.from_url (_start()). `url`: http://rel.local/f for the
    release that carries a MicroPython image."""
    await _start(_update(url))


async def next_chunk():
    """Let the update go on to its next chunk (or its end: DONE)."""
    GO.set()
    await AT.wait()
    AT.clear()


PHASES = 6


def verify_phase(i):
    """Phase i of the check (firmware/ota_check.py), holding in KEEP what the update holds then
    (see the module docstring): 0 the manifest received (ota, ota_check, ota_recv, ota_http,
    ota_sig, the check's buffer, the Stream that hashed it); 1 ota_http, ota_recv, ota_sig and
    the Stream dropped (its key, digest and signature kept), ed25519 and sha512 loaded; 2 the
    Verifier with its message; 3 the decoded key and the three cached points of the joint
    loop; 4 the plan (ed25519, sha512 dropped; ota_plan, ota_head, ota_entries loaded); 5
    all dropped."""
    if i == 0:
        import ota_sig

        from firmware import ota, ota_check, ota_recv  # noqa: F401 (held, as in an update)

        if "upload_code" not in KEEP:  # from a URL (an upload reads its request's body)
            from firmware import ota_http  # noqa: F401

        KEEP["buf"] = bytearray(ota.BUF_SIZE)  # the update's one buffer: headers, then bodies
        with open("/rel/manifest.json", "rb") as f:
            data = f.read()
        s = ota_sig.Stream(len(data))
        s.update(memoryview(data))
        del data
        KEEP["s"] = s
    elif i == 1:
        unload("firmware.ota_http", "firmware.ota_recv")
        KEEP["sig"] = KEEP.pop("s").signed(APP[0].settings["ota_key"])  # key, message, sig
        unload("ota_sig")  # with the Stream: ota_check's check() holds neither past here
        import ed25519

        KEEP["ed"] = ed25519
    elif i == 2:
        key, msg, sig = KEEP.pop("sig")
        v = KEEP["ed"].Verifier(key, sig)
        v.update(msg)
        KEEP["v"] = v
        KEEP["key"] = key
    elif i == 3:
        ed = KEEP["ed"]
        ax, ay = ed._decode_point(KEEP["key"])
        p = ed._P
        b = ed._cached(ed._BX, ed._BY, 1, ed._BX * ed._BY % p)
        a = ed._cached(p - ax, ay, 1, (p - ax) * ay % p)
        KEEP["t"] = (b, a, ed._cached(*ed._add(ed._BX, ed._BY, 1, ed._BX * ed._BY % p, a)))
    elif i == 4:
        for k in ("ed", "v", "key", "t"):
            del KEEP[k]
        unload("ed25519", "sha512", "ota_sig")
        from firmware import ota_plan

        KEEP["m"] = ota_plan.plan("app_a", False)
    elif i == 5:
        for k in [k for k in KEEP if k != "upload_code"]:
            del KEEP[k]
        unload(
            "ota_manifest",
            "ota_head",
            "ota_entries",
            "ota_sig",
            "firmware.ota_check",
            "firmware.ota",
        )
        unload("firmware.ota_plan")
        unload("firmware.ota_folder")
