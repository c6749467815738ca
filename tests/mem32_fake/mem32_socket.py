"""Fake `socket` for the memory harness's mqtt scenario (tools/mem32): name resolution only.

Installed as sys.modules["socket"] by mem32_steps.edge_mqtt() (no file named socket.py: it
would shadow the real one wherever this directory is on a path).

The WebAssembly port has no socket module; on a board lwIP's getaddrinfo() answers (and it is
in ROM). lib/mqtt.py resolves the broker's name once through it; the connection itself goes
through firmware.hal.open_connection, replaced by tests/mem32_fake/mem32_broker.py.
"""

AF_INET = 2
SOCK_STREAM = 1
IPPROTO_TCP = 6
_ADDR = "192.168.1.10"


def getaddrinfo(host, port, *args):
    """One IPv4 TCP address for any host (lwIP's answer shape)."""
    return [(AF_INET, SOCK_STREAM, IPPROTO_TCP, "", (_ADDR, port))]
