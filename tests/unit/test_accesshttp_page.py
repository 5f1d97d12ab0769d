"""The market page's server side without processes: its config, the file table, and the answers to GETs.

The page itself runs in a browser: tests/e2e/test_market_page.py.
"""

from __future__ import annotations

import gzip
import re
import tomllib
from fnmatch import fnmatch
from typing import Any

import orjson
import pytest

from accesshttp.config import DEFAULT_DEPTH_MERGE, UiConfig, load_config
from accesshttp.http_server import Request
from accesshttp.page import UI_DIR, MarketPage, accepts_gzip, load_files, matches, owns
from common.config import ConfigError, Section, load_config_file
from tests.support import ROOT
from tests.unit.test_accesshttp_envelope import sample_config

VENDORED = UI_DIR / "vendor" / "lightweight-charts.standalone.production.js"


def ui_config(**ui: Any) -> UiConfig:
    return load_config(Section(sample_config(ui=ui))).ui


def test_the_page_is_off_duty_by_default_and_in_the_production_sample() -> None:
    assert load_config(Section(sample_config())).ui == UiConfig("", False, 50, list(DEFAULT_DEPTH_MERGE))
    sample = load_config(load_config_file(str(ROOT / "deploy" / "accesshttp" / "conf" / "config.json")))
    assert sample.ui.demo is False


@pytest.mark.parametrize("url", ["ws://127.0.0.1:8090/", "wss://ws.example.com/", "/ws/", ""])
def test_websocket_url_forms(url: str) -> None:
    assert ui_config(ws_url=url, demo=True).ws_url == url


@pytest.mark.parametrize(("ui", "field"), [
    ({"ws_url": "http://ws.example.com/"}, "'ui.ws_url'"),
    ({"ws_url": "ws"}, "'ui.ws_url'"),
    ({"ws_url": "//ws.example.com/"}, "'ui.ws_url'"),
    ({"ws_url": 8090}, "'ui.ws_url'"),
    ({"demo": "yes"}, "'ui.demo'"),
    ({"depth_limit": 0}, "'ui.depth_limit'"),
    ({"depth_limit": 102}, "'ui.depth_limit'"),
    ({"depth_merge": ["0", "-1"]}, r"'ui.depth_merge\[1\]'"),
    ({"depth_merge": []}, "'ui.depth_merge'"),
])
def test_config_errors_name_the_field(ui: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        load_config(Section(sample_config(ui=ui)))


def test_the_file_table() -> None:
    files = load_files(UiConfig("wss://ws.example.com/", True, 20, ["0", "0.1"]))
    on_disk = {p.relative_to(UI_DIR).as_posix() for p in UI_DIR.rglob("*") if p.is_file()}
    assert set(files) == on_disk | {"", "config.json"}
    assert files[""] is files["index.html"]
    config = files["config.json"].plain
    assert orjson.loads(config.body) == {"ws_url": "wss://ws.example.com/", "demo": True, "depth_limit": 20,
                                         "depth_merge": ["0", "0.1"]}
    script = files["app.js"]
    assert script.plain.head_200.startswith(b"HTTP/1.1 200 OK\r\nContent-Type: text/javascript; charset=utf-8\r\n")
    assert script.compressed is not None and gzip.decompress(script.compressed.body) == script.plain.body
    assert script.compressed.etag != script.plain.etag
    assert b"Content-Type: text/plain" in files["vendor/LICENSE"].plain.head_200


def test_every_page_file_is_package_data() -> None:
    """`pip install .` ships what the page needs (a wheel holds only the listed data files)."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["accesshttp"]
    package = ROOT / "accesshttp"
    for path in UI_DIR.rglob("*"):
        if path.is_file():
            relative = path.relative_to(package).as_posix()
            assert any(fnmatch(relative, pattern) and "/" not in relative[len(pattern.rstrip("*")):]
                       for pattern in patterns), relative


def test_the_chart_library_is_pinned_and_named_in_the_readme() -> None:
    header = VENDORED.read_text()[:200]
    version = re.search(r"TradingView Lightweight Charts™ v(\d+\.\d+\.\d+)", header)
    assert version is not None, header
    assert f"lightweight-charts@{version[1]}" in (ROOT / "README.md").read_text()
    assert f"lightweight-charts {version[1]}" in (UI_DIR / "vendor" / "NOTICE").read_text()
    assert "Apache License" in (UI_DIR / "vendor" / "LICENSE").read_text()


@pytest.mark.parametrize(("header", "gzip_ok"), [
    ("gzip, deflate, br", True), ("br;q=1.0, gzip;q=0.8", True), ("*", True), ("gzip;q=0", False),
    ("identity", False), ("", False), ("GZIP", True),
])
def test_accept_encoding(header: str, gzip_ok: bool) -> None:
    assert accepts_gzip(header) is gzip_ok


def test_if_none_match() -> None:
    assert matches('"abc"', b'"abc"')
    assert matches('W/"abc"', b'"abc"')
    assert matches('"x", "abc"', b'"abc"')
    assert matches("*", b'"abc"')
    assert not matches('"abcd"', b'"abc"')


def test_paths_of_the_page() -> None:
    assert owns("/ui") and owns("/ui/") and owns("/ui/vendor/x.js")
    assert not owns("/") and not owns("/uix") and not owns("/openrpc.json") and not owns("/x/ui/")


def answer(page: MarketPage, path: str, headers: dict[str, str] | None = None,
           version: tuple[int, int] = (1, 1)) -> bytes:
    raw = [(name.encode(), value.encode()) for name, value in (headers or {}).items()]
    response = page.respond(Request("GET", path.encode(), version, version >= (1, 1), raw, b""))
    return response.data  # the whole response as it is written


def test_answers() -> None:
    page = MarketPage(UiConfig("ws://127.0.0.1:8090/", False))
    index = answer(page, "/ui/")
    head, _, body = index.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n")
    assert b"\r\nContent-Security-Policy: default-src 'self'; script-src 'self';" in head
    assert body == (UI_DIR / "index.html").read_bytes()
    assert answer(page, "/ui/index.html").partition(b"\r\n\r\n")[2] == body

    etag = re.search(rb"\r\nETag: (\S+)", head)[1].decode()  # type: ignore[index]
    assert answer(page, "/ui/", {"If-None-Match": etag}).startswith(b"HTTP/1.1 304 Not Modified\r\n")
    packed = answer(page, "/ui/app.js", {"Accept-Encoding": "gzip"})
    head, _, body = packed.partition(b"\r\n\r\n")
    assert b"\r\nContent-Encoding: gzip\r\n" in head
    assert gzip.decompress(body) == (UI_DIR / "app.js").read_bytes()
    assert answer(page, "/ui").startswith(b"HTTP/1.1 301 Moved Permanently\r\nLocation: ui/\r\n")
    assert answer(page, "/ui/nothing.js").startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert answer(page, "/ui/../gateway.py").startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert answer(page, "/ui/vendor").startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert b"\r\nConnection: close" in answer(page, "/ui/", version=(1, 0))
