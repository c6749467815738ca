"""A connection answered while the server is held (lib/httpd.py Server.hold set: its owner is
busy, e.g. an update): loaded by Server.serve for the connection, dropped after.

  await serve(srv, s)   reads what the client sent (one read into a free slot's buffer, at
        most HOLD_READ_MS or srv.timeout_ms; nothing read when every slot is busy), then
        answers 503 with `Retry-After: 2`, no-store, and srv.hold as its JSON body, and
        closes. Never raises.
        Counted in srv.busy. No route runs and lib/httpd_conn.py is not loaded.
Cost: this module for the connection, its timer task and the JSON body (~1 KB on 32 bits).
"""

import asyncio
import json
import sys

from httpd import _timer

HOLD_READ_MS = 1000  # the request is read (so closing does not reset it) this long at most
_HEAD = (  # no Content-Length: the body ends with the connection
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nCache-Control: no-store\r\n"
    b"Content-Type: application/json\r\nConnection: close\r\n\r\n"
)


async def serve(srv, s):
    srv.busy += 1
    p = srv._pool
    req = p.pop() if p else None
    t = None
    try:
        if req is not None:
            ms = min(HOLD_READ_MS, srv.timeout_ms)
            t = asyncio.create_task(_timer(ms, asyncio.current_task()))
            try:
                await s.readinto(req.buf)
            except asyncio.CancelledError:
                if not t.done():  # not our time limit: not ours to swallow
                    raise
            finally:
                t.cancel()
                srv._free(req)
                req = None
        s.write(_HEAD)
        s.write(json.dumps(srv.hold).encode())
        await s.drain()
    except Exception:  # noqa: BLE001 (the client's doing: reset, broken pipe; never raised)
        pass
    finally:
        if req is not None:
            srv._free(req)
        try:
            await s.wait_closed()
        except Exception:  # noqa: BLE001
            pass
        sys.modules.pop("httpd_hold", None)
