"""A private Mosquitto broker for the tests (pytest plugin: `pytest_plugins = ("broker",)`).

Each Mosquitto runs from its own temporary directory (config, log, optional password file and
TLS files), listens on 127.0.0.1 only, on free ports, and is stopped at the end. Fixtures:

- `mosquitto`: one anonymous broker shared by the whole test run;
- `make_mosquitto`: a factory for brokers a test may restart or configure
  (`make_mosquitto(tls=True, users={"u": "pw"})`), all stopped after the test.

With `tls=True` a CA and a server certificate for `localhost` / 127.0.0.1 are generated with
the `openssl` command; `broker.ca_pem` holds the CA (PEM bytes) and `broker.tls_port` the TLS
listener. Needs Debian's `mosquitto` and `openssl`, which `make test` installs; without them a test
fails with the install command (a test never skips for a missing tool).
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(d, name="localhost"):
    """CA + server certificate (CN and SAN `name`, SAN IP 127.0.0.1) in directory `d`."""
    if not shutil.which("openssl"):
        pytest.fail("openssl missing: run make test as root, or sudo apt-get install -y openssl")
    d = Path(d)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=linky test CA", "-keyout", "ca.key", "-out", "ca.pem", cwd=d)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + name,
             "-keyout", "server.key", "-out", "server.csr", cwd=d)  # fmt: skip
    (d / "ext.cnf").write_text("subjectAltName=DNS:%s,IP:127.0.0.1\n" % name)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "server.pem",
             cwd=d)  # fmt: skip
    return d / "ca.pem"


class Mosquitto:
    """One private broker. start(), stop(), restart() (same ports); `port`, `tls_port`."""

    def __init__(self, tls=False, users=None):
        if not os.path.exists(MOSQUITTO):
            pytest.fail(
                "mosquitto missing: run make test as root, or sudo apt-get install -y mosquitto"
            )
        if tls and not shutil.which("openssl"):
            pytest.fail(
                "openssl missing: run make test as root, or sudo apt-get install -y openssl"
            )
        self.dir = Path(tempfile.mkdtemp(prefix="linky-mosquitto-"))
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.ca_pem = None
        self.proc = None
        conf = [
            "per_listener_settings false",
            "persistence false",
            "log_dest file %s" % (self.dir / "mosquitto.log"),
            "log_type all",
            "listener %d 127.0.0.1" % self.port,
        ]
        if os.geteuid() == 0:
            conf.append("user root")  # else it switches to user mosquitto, who cannot read dir
        if tls:
            self.ca_pem = make_certs(self.dir).read_bytes()
            conf += [
                "listener %d 127.0.0.1" % self.tls_port,
                "cafile %s" % (self.dir / "ca.pem"),
                "certfile %s" % (self.dir / "server.pem"),
                "keyfile %s" % (self.dir / "server.key"),
            ]
        if users:
            pw = self.dir / "passwd"
            pw.write_text("".join("%s:%s\n" % kv for kv in users.items()))
            subprocess.run(["mosquitto_passwd", "-U", str(pw)], check=True, capture_output=True)
            conf += ["allow_anonymous false", "password_file %s" % pw]
        else:
            conf.append("allow_anonymous true")
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text("\n".join(conf) + "\n")

    def start(self, timeout=10):
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        end = time.monotonic() + timeout
        for port in (self.port, self.tls_port):
            while port:
                if self.proc.poll() is not None:
                    raise RuntimeError("mosquitto exited:\n" + self.log())
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > end:
                        raise RuntimeError("mosquitto not listening:\n" + self.log())
                    time.sleep(0.02)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def log(self):
        p = self.dir / "mosquitto.log"
        return p.read_text(errors="replace")[-3000:] if p.exists() else ""

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def mosquitto():
    b = Mosquitto().start()
    yield b
    b.cleanup()


@pytest.fixture
def make_mosquitto():
    made = []

    def make(**kw):
        b = Mosquitto(**kw).start()
        made.append(b)
        return b

    yield make
    for b in made:
        b.cleanup()
