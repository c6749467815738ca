"""A lib/httpd.py server process for tests/test_http_hostile.py, on either interpreter:

    micropython tests/http_runner.py PORT [TIMEOUT_MS]    (MICROPYPATH=lib:tests:.frozen)
    python3 tests/http_runner.py PORT [TIMEOUT_MS]

Listens on 127.0.0.1:PORT with 3 connection slots (1536-byte buffers) and prints READY.
Routes: /s/ the files of tests/fixtures/http/www; GET /tick: the ticker's count; GET /stats:
ticks, the largest gap between two ticks (ms), the server's counters and, on MicroPython, the
heap in use after a collection; POST /echo: the JSON body back; GET /boom raises. A ticker task
beside the server counts every 10 ms: it stands for the TIC reader, which must keep running.
"""

import asyncio
import gc
import sys
import time

sys.path[:0] = ["lib", "tests"]  # CPython; MicroPython takes MICROPYPATH

import httpd  # noqa: E402
import httpd_form  # noqa: E402

try:
    _ms = time.ticks_ms
    _diff = time.ticks_diff
    _sleep_ms = asyncio.sleep_ms
except AttributeError:  # CPython

    def _ms():
        return int(time.monotonic() * 1000)

    def _diff(a, b):
        return a - b

    def _sleep_ms(ms):
        return asyncio.sleep(ms / 1000)


ticks = [0, 0]  # count, largest gap in ms


async def ticker():
    last = _ms()
    while True:
        await _sleep_ms(10)
        now = _ms()
        ticks[0] += 1
        ticks[1] = max(ticks[1], _diff(now, last))
        last = now


def stats(req):
    gc.collect()
    heap = gc.mem_alloc() if hasattr(gc, "mem_alloc") else None
    s = req.srv
    return {
        "ticks": ticks[0],
        "max_gap_ms": ticks[1],
        "served": s.served,
        "busy": s.busy,
        "bad": s.bad,
        "timeouts": s.timeouts,
        "errors": s.errors,
        "heap": heap,
    }


def boom(req):
    raise RuntimeError("boom")


async def main(port, timeout_ms):
    srv = httpd.Server(3, 1536)
    srv.timeout_ms = timeout_ms
    srv.route("GET", "/tick", lambda req: [ticks[0]])
    srv.route("GET", "/stats", stats)
    srv.route("POST", "/echo", lambda req: {"echo": httpd_form.json_body(req)})
    srv.route("GET", "/boom", boom)
    import httpd_file

    httpd_file.static(srv, "/s/", "tests/fixtures/http/www")
    del httpd_file  # loaded per file answer from now on: nothing of it is resident
    sys.modules.pop("httpd_file")
    tick_task = asyncio.create_task(ticker())
    await srv.start("127.0.0.1", port, backlog=16)
    print("READY")
    while True:
        await asyncio.sleep(1)
        if tick_task.done():
            raise SystemExit("the ticker stopped")


if __name__ == "__main__":
    import log

    log.basicConfig(console=False)
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1000))
