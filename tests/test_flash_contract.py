"""The flash HAL's contract: every name firmware/hal/flash.py takes from its implementation is
defined by flash_esp32.py and flash_host.py with the same signature, and the host partition has
the esp32.Partition methods the firmware OTA uses. Read with `ast` (esp32 cannot be imported
on CPython), so nothing runs."""

import ast
from pathlib import Path

HAL = Path(__file__).resolve().parent.parent / "firmware" / "hal"
PARTITION_METHODS = ("info", "readblocks", "writeblocks", "ioctl", "set_boot", "get_next_update")


def _tree(name):
    return ast.parse((HAL / name).read_text(encoding="utf-8"))


def _top(tree):
    out = {}
    for n in tree.body:
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            out[n.name] = n
        elif isinstance(n, ast.Assign):
            for t in n.targets:
                if isinstance(t, ast.Name):
                    out[t.id] = n
    return out


def _taken_from_impl():
    """Names flash.py binds as `NAME = _impl.NAME`."""
    names = []
    for n in _tree("flash.py").body:
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Attribute):
            v = n.value
            if isinstance(v.value, ast.Name) and v.value.id == "_impl":
                names.append(v.attr)
    return names


def _signature(fn):
    a = fn.args
    return [x.arg for x in a.args], len(a.defaults)


def test_both_sides_define_the_interface_with_the_same_signatures():
    names = _taken_from_impl()
    assert set(names) == {"CHIP_ID", "next_update", "running_info", "mark_valid", "boot"}
    esp, host = _top(_tree("flash_esp32.py")), _top(_tree("flash_host.py"))
    for name in names:
        assert name in esp, "flash_esp32.py lacks %s" % name
        assert name in host, "flash_host.py lacks %s" % name
        e, h = esp[name], host[name]
        assert type(e) is type(h), name
        if isinstance(e, ast.FunctionDef):
            assert _signature(e) == _signature(h), "%s(): signatures differ" % name


def test_host_partition_has_the_esp32_block_api():
    cls = _top(_tree("flash_host.py"))["Partition"]
    methods = {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}
    for m in PARTITION_METHODS:
        assert m in methods, m
    # esp32.Partition v1.27: readblocks/writeblocks(block, buf[, offset]), ioctl(cmd, arg)
    assert _signature(methods["readblocks"]) == (["self", "block", "buf", "offset"], 1)
    assert _signature(methods["writeblocks"]) == (["self", "block", "buf", "offset"], 1)
    assert _signature(methods["ioctl"]) == (["self", "op", "arg"], 0)


def test_only_the_esp32_side_imports_esp32():
    for name in ("flash.py", "flash_host.py", "otadata.py"):
        src = (HAL / name).read_text(encoding="utf-8")
        assert "import esp32" not in src and "import machine" not in src, name
