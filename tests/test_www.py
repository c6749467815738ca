"""The web pages (firmware/www/): size, no external assets, well-formed HTML, API paths and
methods within the contract (docs/design/web-api.md), French labels. Fast: reads the sources
only; the browser tests are tests/test_web_pages.py."""

import re
from html.parser import HTMLParser

import pytest

import build as build_tool
import upy

WWW = upy.ROOT / "firmware" / "www"
CONTRACT = upy.ROOT / "docs" / "design" / "web-api.md"
PAGES = ("index.html", "config.html", "login.html")
SHARED = ("app.css", "app.js")
BUDGET = 20 * 1024  # all pages together, gzipped (issue 10)
VOID = {"meta", "link", "input", "br", "img", "hr", "source", "wbr", "area", "col", "base"}
# Text that reads the same in French: names, units, symbols.
SAME_IN_FRENCH = {"linky", "SSID", "VA", "\u2013", "TIC", "MQTT", "Wi-Fi", "TLS"}


def _files():
    return sorted(p for p in WWW.iterdir() if p.is_file())


def _text(name):
    return (WWW / name).read_text(encoding="utf-8")


class Page(HTMLParser):
    """Checks nesting; collects ids, attributes, text nodes and inline scripts."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.ids, self.attrs = [], [], set(), []
        self.texts, self.scripts, self._raw = [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.attrs.append((tag, a))
        if "id" in a:
            if a["id"] in self.ids:
                self.errors.append("duplicate id %s" % a["id"])
            self.ids.add(a["id"])
        if tag in ("script", "style"):
            self._raw = tag
        if tag not in VOID:
            self.stack.append((tag, self.getpos()))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag == self._raw:
            self._raw = None
        if not self.stack or self.stack[-1][0] != tag:
            self.errors.append("</%s> at %s closes %s" % (tag, self.getpos(), self.stack[-1:]))
            return
        self.stack.pop()

    def handle_data(self, data):
        if self._raw == "script":
            self.scripts.append(data)
        elif self._raw is None and data.strip():
            self.texts.append(data.strip())


def _parse(name):
    p = Page()
    p.feed(_text(name))
    p.close()
    return p


def _contract():
    """{(method, path)} of the endpoints in the contract."""
    return set(re.findall(r"`(GET|POST) (/api/[\w/]+)", CONTRACT.read_text()))


def _api_calls(src):
    """(method, path) of each api("/api/...") call: GET without a body, POST with one."""
    calls = set()
    for path, rest in re.findall(r'api\("(/api/[^"]*)"\s*(\)|,)', src):
        calls.add(("GET" if rest == ")" else "POST", path))
    return calls


def _scripts():
    return _text("app.js") + "".join("".join(_parse(n).scripts) for n in PAGES)


def test_every_page_of_the_contract_is_there():
    names = {p.name for p in _files()}
    assert set(PAGES) | set(SHARED) <= names
    assert names <= set(PAGES) | set(SHARED), "a new file: add it to the contract and here"


def test_gzipped_size_within_budget():
    sizes = {p.name: len(build_tool.gzip_bytes(p.read_bytes())) for p in _files()}
    total = sum(sizes.values())
    assert total < BUDGET, sizes


@pytest.mark.parametrize("name", PAGES)
def test_page_is_well_formed(name):
    p = _parse(name)
    assert not p.errors, p.errors
    assert not p.stack, "unclosed: %s" % p.stack
    tags = {t for t, _ in p.attrs}
    assert {"html", "head", "body", "title", "main"} <= tags
    html = next(a for t, a in p.attrs if t == "html")
    assert html.get("lang") == "en"
    metas = [a for t, a in p.attrs if t == "meta"]
    assert {"charset": "utf-8"} in metas
    assert any(a.get("name") == "viewport" and "width=device-width" in a["content"] for a in metas)
    links = {a.get("href") for t, a in p.attrs if t == "link"}
    assert "/app.css" in links
    assert any(t == "script" and a.get("src") == "/app.js" for t, a in p.attrs)


@pytest.mark.parametrize("name", [p.name for p in _files()])
def test_no_external_reference(name):
    src = _text(name)
    assert not re.search(r"https?://[\w\[]", src), "absolute URL in %s" % name
    assert "url(" not in src and "@import" not in src
    if name.endswith(".html"):
        for tag, a in _parse(name).attrs:
            for k in ("src", "href", "action"):
                v = a.get(k)
                if v is not None:
                    assert v.startswith(("/", "#")) and not v.startswith("//"), (tag, k, v)


def test_api_calls_are_in_the_contract():
    contract = _contract()
    assert ("GET", "/api/state") in contract and ("POST", "/api/config") in contract
    calls = _api_calls(_scripts())
    assert calls, "no api() call found"
    assert calls <= contract, calls - contract
    # every /api/ path a script names at all, not only through api()
    named = set(re.findall(r'"(/api/[^"]*)"', _scripts()))
    assert named <= {p for _, p in contract}, named


def test_pages_use_the_endpoints_they_should():
    calls = _api_calls(_scripts())
    for c in [
        ("GET", "/api/session"), ("GET", "/api/state"), ("GET", "/api/history"),
        ("GET", "/api/log"), ("POST", "/api/ota"), ("GET", "/api/config"),
        ("POST", "/api/config"), ("GET", "/api/scan"), ("POST", "/api/reboot"),
        ("POST", "/api/login"), ("POST", "/api/logout"), ("POST", "/api/ota/upload"),
    ]:  # fmt: skip
        assert c in calls, c
    # every POST carries the CSRF header (one helper sends them all)
    assert '"X-CSRF-Token"' in _text("app.js")
    assert "fetch(" not in "".join("".join(_parse(n).scripts) for n in PAGES)


@pytest.mark.parametrize("name", PAGES)
def test_element_ids_used_by_the_scripts_exist(name):
    p = _parse(name)
    made = set(re.findall(r'\bid: "([\w-]+)"', _scripts()))  # created by script
    used = set(re.findall(r'\$\("([\w-]+)"\)', "".join(p.scripts)))
    assert used <= p.ids | made, used - p.ids - made


def _french_keys():
    keys = set()
    for src in (_text("app.js"), "".join(_parse("config.html").scripts)):
        for block in re.findall(r"var FR_(?:TEXT|FIELD) = \{(.*?)\n\};", src, re.S):
            keys |= set(re.findall(r'"([^"]+)":', block)) | set(re.findall(r"\b(\w+):", block))
    return keys


def test_labels_have_a_french_version():
    keys = _french_keys()
    assert len(keys) > 100
    missing = set()
    for name in PAGES:
        for text in _parse(name).texts:
            if text not in keys and text not in SAME_IN_FRENCH:
                missing.add(text)
    for s in re.findall(r'\bt\("([^"]+)"\)', _scripts()):
        if s not in keys and s not in SAME_IN_FRENCH:
            missing.add(s)
    fields = re.search(r"var FIELDS = \{(.*?)\n\};", _text("config.html"), re.S).group(1)
    for label in re.findall(r'\["([^"]+)"(?:, "([^"]+)")?\]', fields):
        missing |= {x for x in label if x and x not in keys | SAME_IN_FRENCH}
    assert not missing, missing


def test_light_and_dark():
    css = _text("app.css")
    assert "@media (prefers-color-scheme: dark)" in css
    assert "color-scheme: light dark" in css


def test_scripts_compile(tmp_path):
    # Node (installed by make test for the 32-bit harness) checks the syntax of every script.
    import shutil
    import subprocess

    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.fail("node missing: run make test as root, or sudo apt-get install -y nodejs")
    sources = {"app.js": _text("app.js")}
    sources.update({n + ".js": "".join(_parse(n).scripts) for n in PAGES})
    for name, src in sources.items():
        f = tmp_path / name
        f.write_text(src)
        r = subprocess.run([node, "--check", str(f)], capture_output=True, text=True, check=False)
        assert r.returncode == 0, "%s: %s" % (name, r.stderr)
