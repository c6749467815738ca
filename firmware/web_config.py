"""GET and POST /api/config (docs/design/web-api.md), driven by firmware/config.py's SCHEMA;
imported by firmware/web.py for one request and dropped after, with firmware.config.

  get(app, req) -> {"fields": [{name, kind, value, set, choices, min, max}, ...]} in SCHEMA
      order (streamed through the request's slot buffer, one field at a time): the values in
      config.json (defaults for the rest), not the host's overrides; secrets always "" with
      "set": a value is stored.
  await post(app, req): a JSON object of the fields to change (a streamed route: the body,
      at most web.MAX_BODY bytes, is read into a buffer of its own, not the slot); every
      field is checked
      (config.check) and every error answered at once: 400 {"errors": {name: message}},
      nothing saved. A secret's "" keeps the stored one; admin_password is stored hashed
      (web_auth.hash_password). Else the stored file plus the changes is saved atomically
      (config.save) and the answer is {"ok": true, "restart": true}; the device restarts
      web_api.RESTART_MS later. Stored values that no longer pass are dropped.
"""

from firmware import unload


def _stored(config):
    return config._read(config.CONFIG_FILE) or {}


def _field(config, data, row):
    name, kind, default, lo, hi = row
    raw = data.get(name)
    value = default
    if raw is not None:
        v, err = config.check(name, raw)
        if err is None:
            value = v
    f = {"name": name, "kind": kind, "set": raw is not None and raw != ""}
    f["value"] = "" if kind == "secret" else value
    f["choices"] = list(lo) if isinstance(lo, tuple) else None
    if name == "board":  # the profiles' names: a drop-down rather than free text
        from firmware import boards

        f["choices"] = sorted(boards.BOARDS)
        unload("firmware.boards")
    f["min"] = lo if kind == "int" and not isinstance(lo, tuple) else None
    if kind == "name":
        f["min"] = 1
    f["max"] = hi
    return f


class _Fields:
    """GET's answer {"fields": [...]}, streamed by lib/httpd.py through the slot buffer
    (`size`, `readinto(buf)`, `close()`): one field's JSON at a time, never the list of
    dicts nor the 3 KB text (a fragmented heap refuses such blocks). Holds the config module
    until sent."""

    def __init__(self, config, data):
        self.config = config
        self.data = data
        self.size = 0
        for b in self._parts():
            self.size += len(b)
        self._it = self._parts()
        self._b = b""
        self._at = 0

    def _parts(self):
        import json

        yield b'{"fields":['
        sep = b""
        for row in self.config.SCHEMA:
            yield sep + json.dumps(_field(self.config, self.data, row)).encode()
            sep = b","
        yield b"]}"

    def readinto(self, buf):
        p = 0
        while p < len(buf):
            if self._at == len(self._b):
                self._b = next(self._it, None)
                self._at = 0
                if self._b is None:
                    self._b = b""
                    break
            n = min(len(self._b) - self._at, len(buf) - p)
            buf[p : p + n] = memoryview(self._b)[self._at : self._at + n]
            self._at += n
            p += n
        return p

    def close(self):
        self.config = self.data = self._it = None


def get(app, req):
    from firmware import config

    try:
        return (200, "application/json", _Fields(config, _stored(config)), "")
    finally:
        unload("firmware.config")


async def post(app, req):
    import httpd_form
    from firmware import web

    body = await httpd_form.read_json(req, web.MAX_BODY)
    if not isinstance(body, dict):
        return 400, {"errors": {"": "a JSON object expected"}}
    from firmware import config

    try:
        errors = {}
        changes = {}
        for name in body:
            value = body[name]
            if config.is_secret(name) and value == "":
                continue  # unchanged
            v, err = config.check(name, value)
            if err is not None:
                errors[name] = err
                continue
            if name == "admin_password":
                from firmware import web_auth

                v = web_auth.hash_password(v)
            changes[name] = v
        if errors:
            return 400, {"errors": errors}
        data = _stored(config)
        clean = {}
        for name in data:
            if config.check(name, data[name])[1] is None:
                clean[name] = data[name]
        clean.update(changes)
        try:
            config.save(clean)
        except (OSError, ValueError) as e:
            return 500, {"error": "cannot save: %r" % e}
    finally:
        unload("firmware.config", "firmware.web_auth")
    from firmware import web_api

    web_api.restart_soon(app)
    unload("firmware.web_api")
    return {"ok": True, "restart": True}
