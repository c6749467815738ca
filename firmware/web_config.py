"""GET and POST /api/config (docs/design/web-api.md), driven by firmware/config.py's SCHEMA;
imported by firmware/web.py for one request and dropped after, with firmware.config.

  get(app, req) -> {"fields": [{name, kind, value, set, choices, min, max}, ...]} in SCHEMA
      order (written into the request's slot buffer when it fits): the values stored in
      config.json (defaults for the rest), not the host's overrides; secrets always "" with
      "set": a value is stored.
  post(app, req): a JSON object of the fields to change; every field is checked
      (config.check) and every error answered at once: 400 {"errors": {name: message}},
      nothing saved. A secret's "" keeps the stored one; admin_password is stored hashed
      (web_auth.hash_password). Else the stored file plus the changes is saved atomically
      (config.save) and the answer is {"ok": true, "restart": true}; the device restarts
      web_api.RESTART_MS later. Stored values that no longer pass are dropped.
"""

from firmware import unload


def _stored(config):
    return config._read(config.CONFIG_FILE) or {}


def _write(buf, fields):
    """{"fields": [...]} into buf, one field at a time (no 3 KB string on a fragmented heap);
    the answer, or the dict when it does not fit."""
    import json

    p = 11
    buf[:p] = b'{"fields":['
    for f in fields:
        b = json.dumps(f).encode()
        if p + len(b) + 3 > len(buf):
            return {"fields": fields}
        if p > 11:
            buf[p] = 44  # ,
            p += 1
        buf[p : p + len(b)] = b
        p += len(b)
    buf[p : p + 2] = b"]}"
    return (200, "application/json", memoryview(buf)[: p + 2], "")


def get(app, req):
    from firmware import config

    try:
        data = _stored(config)
        out = []
        for name, kind, default, lo, hi in config.SCHEMA:
            raw = data.get(name)
            value = default
            if raw is not None:
                v, err = config.check(name, raw)
                if err is None:
                    value = v
            f = {"name": name, "kind": kind, "set": raw is not None and raw != ""}
            f["value"] = "" if kind == "secret" else value
            f["choices"] = list(lo) if isinstance(lo, tuple) else None
            f["min"] = lo if kind == "int" and not isinstance(lo, tuple) else None
            if kind == "name":
                f["min"] = 1
            f["max"] = hi
            out.append(f)
        return _write(req.buf, out)
    finally:
        unload("firmware.config")


def post(app, req):
    import httpd_form

    body = httpd_form.json_body(req)
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
