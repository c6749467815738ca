"""The HAL contract: firmware/hal/esp32.py and firmware/hal/host.py expose the names listed in
firmware/hal/__init__.py (INTERFACE) with the same signatures, their TIC ports have the same
methods, and nothing else is public except the extras listed here.

Read with `ast` (machine cannot be imported on CPython), so nothing runs.
"""

import ast
from pathlib import Path

HAL = Path(__file__).resolve().parent.parent / "firmware" / "hal"

# What the TIC port returned by open_tic() offers (methods; `baud` is an attribute).
PORT_METHODS = ("readinto", "any", "set_baud", "wait", "deinit")
# What the Wi-Fi station returned by wlan() offers.
STATION_METHODS = (
    "active",
    "connect",
    "disconnect",
    "status",
    "isconnected",
    "rssi",
    "ip",
    "scan",
)
# What the access point returned by access_point() offers.
AP_METHODS = ("active", "config", "ip")

# Public names a side may have beyond INTERFACE. Add a name here when adding it to a side.
ESP32_EXTRAS = {
    "TicUart",  # the port class
    "poll_ms",  # poll period arithmetic (docs/design/uart.md)
    "POLL_MAX_MS",
}
HOST_EXTRAS = {
    "RESET_EXIT_CODE",  # the simulator's "device reset" exit status
    "POLL_MS",
    "Watchdog",
    # the link to tools/sim.py
    "ERROR",
    "MAX_READ",
    "Link",
    "Port",
    # the fake radio
    "Station",
    "set_radio",
    "AccessPoint",
    "neighbours",  # what the fake station's scan() hears besides the simulator's network
    "BUTTON_PRESS_MS",  # how long the simulated boot button press lasts
}


def _tree(name):
    return ast.parse((HAL / name).read_text(encoding="utf-8"))


def _top(tree):
    """{name: node} of the module's top-level defs, classes and assignments (also inside
    top-level try/if blocks)."""
    out = {}

    def visit(body):
        for n in body:
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out[n.name] = n
            elif isinstance(n, ast.Assign):
                for t in n.targets:
                    if isinstance(t, ast.Name):
                        out[t.id] = n
            elif isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name):
                out[n.target.id] = n
            elif isinstance(n, ast.Try):
                visit(n.body)
                for h in n.handlers:
                    visit(h.body)
            elif isinstance(n, ast.If):
                visit(n.body)
                visit(n.orelse)

    visit(tree.body)
    return out


def _signature(fn):
    a = fn.args
    return (
        [x.arg for x in a.posonlyargs],
        [x.arg for x in a.args],
        [ast.dump(d) for d in a.defaults],
        [x.arg for x in a.kwonlyargs],
        [ast.dump(d) if d is not None else None for d in a.kw_defaults],
        a.vararg.arg if a.vararg else None,
        a.kwarg.arg if a.kwarg else None,
    )


def _interface():
    for n in _tree("__init__.py").body:
        if isinstance(n, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "INTERFACE" for t in n.targets
        ):
            return ast.literal_eval(n.value)
    raise AssertionError("firmware/hal/__init__.py has no INTERFACE tuple")


def _port_class(top):
    """The class whose instance open_tic() returns (`return Cls(...)`)."""
    for n in ast.walk(top["open_tic"]):
        if isinstance(n, ast.Return) and isinstance(n.value, ast.Call):
            f = n.value.func
            if isinstance(f, ast.Name) and isinstance(top.get(f.id), ast.ClassDef):
                return top[f.id]
    raise AssertionError("open_tic() does not return a class instance")


def _made_class(top, fn):
    """The module class that function `fn` instantiates (`Cls(...)` anywhere in it)."""
    for n in ast.walk(top[fn]):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name):
            if isinstance(top.get(n.func.id), ast.ClassDef):
                return top[n.func.id]
    raise AssertionError("%s() makes no class instance" % fn)


def _methods(cls, top):
    """{name: FunctionDef} of class `cls`, its bases in the same module first."""
    out = {}
    for b in cls.bases:
        if isinstance(b, ast.Name) and isinstance(top.get(b.id), ast.ClassDef):
            out.update(_methods(top[b.id], top))
    for n in cls.body:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out[n.name] = n
    return out


def _sets_baud(cls, top):
    for klass in [cls] + [top[b.id] for b in cls.bases if isinstance(b, ast.Name) and b.id in top]:
        for n in ast.walk(klass):
            if isinstance(n, ast.Attribute) and n.attr == "baud" and isinstance(n.ctx, ast.Store):
                return True
            if isinstance(n, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "baud" for t in n.targets
            ):
                return True
    return False


def test_interface_lists_the_documented_names():
    names = _interface()
    assert set(names) == {
        "PLATFORM",
        "RXBUF",
        "HEAP_LIMIT",
        "open_tic",
        "reset",
        "reset_cause",
        "watchdog",
        "stretch_watchdog",
        "unique_id",
        "setting",
        "wlan",
        "access_point",
        "boot_button",
        "open_connection",
    }
    doc = ast.get_docstring(_tree("__init__.py"))
    for name in names:
        assert name in doc, name


def test_init_binds_every_interface_name():
    top = _top(_tree("__init__.py"))
    for name in _interface():
        assert name in top, "firmware/hal/__init__.py does not bind %s" % name


def test_both_sides_define_the_interface_with_the_same_signatures():
    esp, host = _top(_tree("esp32.py")), _top(_tree("host.py"))
    for name in _interface():
        assert name in esp, "esp32.py lacks %s" % name
        assert name in host, "host.py lacks %s" % name
        e, h = esp[name], host[name]
        assert type(e) is type(h), "%s: %s on esp32, %s on host" % (name, type(e), type(h))
        if isinstance(e, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assert _signature(e) == _signature(h), "%s: signatures differ" % name


def test_ports_have_the_same_methods():
    esp, host = _top(_tree("esp32.py")), _top(_tree("host.py"))
    e_cls, h_cls = _port_class(esp), _port_class(host)
    e_m, h_m = _methods(e_cls, esp), _methods(h_cls, host)
    for m in PORT_METHODS:
        assert m in e_m, "esp32 %s lacks %s()" % (e_cls.name, m)
        assert m in h_m, "host %s lacks %s()" % (h_cls.name, m)
        assert _signature(e_m[m]) == _signature(h_m[m]), "%s(): signatures differ" % m
    assert _sets_baud(e_cls, esp) and _sets_baud(h_cls, host)


def test_stations_have_the_same_methods():
    # The ESP32 station class lives in esp32_net.py, which esp32.wlan() loads on first use.
    esp, host = _top(_tree("esp32_net.py")), _top(_tree("host.py"))
    e_cls, h_cls = esp["Station"], _made_class(host, "wlan")
    assert "esp32_net" in ast.dump(_top(_tree("esp32.py"))["wlan"])
    e_m, h_m = _methods(e_cls, esp), _methods(h_cls, host)
    for m in STATION_METHODS:
        assert m in e_m, "esp32 %s lacks %s()" % (e_cls.name, m)
        assert m in h_m, "host %s lacks %s()" % (h_cls.name, m)
        assert _signature(e_m[m]) == _signature(h_m[m]), "%s(): signatures differ" % m


def test_access_points_have_the_same_methods():
    # The ESP32 access point class lives in esp32_ap.py, which esp32.access_point() loads.
    esp, host = _top(_tree("esp32_ap.py")), _top(_tree("host.py"))
    e_cls, h_cls = esp["AccessPoint"], _made_class(host, "access_point")
    assert "esp32_ap" in ast.dump(_top(_tree("esp32.py"))["access_point"])
    e_m, h_m = _methods(e_cls, esp), _methods(h_cls, host)
    for m in AP_METHODS:
        assert m in e_m, "esp32 %s lacks %s()" % (e_cls.name, m)
        assert m in h_m, "host %s lacks %s()" % (h_cls.name, m)
        assert _signature(e_m[m]) == _signature(h_m[m]), "%s(): signatures differ" % m


def test_open_connection_is_a_coroutine_on_both_sides():
    for name in ("esp32.py", "host.py"):
        assert isinstance(_top(_tree(name))["open_connection"], ast.AsyncFunctionDef), name


def _imported(tree):
    """Names bound by imports anywhere in the module (`asyncio = None` fallbacks included)."""
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, (ast.Import, ast.ImportFrom)):
            for a in n.names:
                out.add((a.asname or a.name).split(".")[0])
    return out


def test_no_unlisted_public_names():
    iface = set(_interface())
    for name, extras in (("esp32.py", ESP32_EXTRAS), ("host.py", HOST_EXTRAS)):
        tree = _tree(name)
        public = {n for n in _top(tree) if not n.startswith("_")} - _imported(tree)
        unlisted = public - iface - extras
        assert not unlisted, "%s: public names outside the contract: %s" % (name, unlisted)
