"""The market page: the files of accesshttp/ui at ``GET /ui/...``, and the page's `config.json`.

The page is static — no build step, no rendering on the server: it reads
`config.json` (made here from the `ui` config: the websocket URL, the demo
panel switch, the depth choices), then speaks only the public APIs, HTTP
JSON-RPC to this gateway (relative to the page, so a proxy may put it under
any path) and accessws's websocket.

The files are read when a worker starts (a few hundred kB) and served from
memory: with an ETag (a revalidation gets 304), gzip-compressed for a
client that accepts it, and with a Content-Security-Policy that lets the page
load only its own files and connect only here and to a websocket.  A path is
looked up in that table, never on the file system, so no request reaches
another file.  ``GET /ui`` redirects to ``ui/``; an unknown name under
``/ui/`` is a 404.  Other paths are not this module's (gateway.py).
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import orjson

from .config import UiConfig
from .responses import Answered, RawResponse, connection_tail


class PageRequest(Answered, Protocol):
    """What the page needs of a GET: its path and headers (by name, any case), beside what an answer needs."""

    @property
    def path(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

PAGE_ROOT = "/ui"
PAGE_PREFIX = PAGE_ROOT + "/"
UI_DIR = Path(__file__).with_name("ui")
INDEX = "index.html"
CONFIG = "config.json"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
TEXT = "text/plain; charset=utf-8"  # LICENSE, NOTICE
COMPRESSED_TYPES = ("text/", "application/json", "image/svg+xml")
MIN_COMPRESSED_SIZE = 512

# Lightweight Charts sets style attributes, hence 'unsafe-inline' for styles (never for scripts).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
COMMON_HEADERS = (
    f"Content-Security-Policy: {CONTENT_SECURITY_POLICY}\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Referrer-Policy: no-referrer\r\n"
).encode()


def owns(path: str) -> bool:
    """True for the page's paths: ``/ui`` and everything under ``/ui/``."""
    return path == PAGE_ROOT or path.startswith(PAGE_PREFIX)


def page_config(ui: UiConfig) -> bytes:
    """What the page learns from the gateway's config (no secret: everything here is public)."""
    return orjson.dumps({"ws_url": ui.ws_url, "demo": ui.demo, "depth_limit": ui.depth_limit,
                         "depth_merge": ui.depth_merge}, option=orjson.OPT_INDENT_2)


@dataclass(frozen=True, slots=True)
class Representation:
    """One body of a file (as it is, or gzip-compressed) with its headers, but for Date and Connection."""

    etag: bytes
    head_200: bytes
    head_304: bytes
    body: bytes


@dataclass(frozen=True, slots=True)
class PageFile:
    plain: Representation
    compressed: Representation | None


def representation(content_type: str, body: bytes, etag: bytes, encoding: bytes) -> Representation:
    validators = b"ETag: " + etag + b"\r\nCache-Control: no-cache\r\nVary: Accept-Encoding\r\n"
    head_200 = (b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type.encode() + b"\r\n" + encoding + validators
                + COMMON_HEADERS + b"Content-Length: " + str(len(body)).encode())
    head_304 = b"HTTP/1.1 304 Not Modified\r\n" + validators + COMMON_HEADERS.rstrip(b"\r\n")
    return Representation(etag, head_200, head_304, body)


def page_file(name: str, body: bytes) -> PageFile:
    content_type = CONTENT_TYPES.get(Path(name).suffix, TEXT)
    digest = hashlib.sha256(body).hexdigest()[:20]
    plain = representation(content_type, body, f'"{digest}"'.encode(), b"")
    compressed = None
    if content_type.startswith(COMPRESSED_TYPES) and len(body) >= MIN_COMPRESSED_SIZE:
        packed = gzip.compress(body, compresslevel=9, mtime=0)
        if len(packed) < len(body):
            compressed = representation(content_type, packed, f'"{digest}-gz"'.encode(),
                                        b"Content-Encoding: gzip\r\n")
    return PageFile(plain, compressed)


def load_files(ui: UiConfig, directory: Path = UI_DIR) -> dict[str, PageFile]:
    """Every file under `directory` by its path relative to it, `config.json` from `ui`, the index as ""."""
    files: dict[str, PageFile] = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            files[relative.as_posix()] = page_file(relative.as_posix(), path.read_bytes())
    files[CONFIG] = page_file(CONFIG, page_config(ui))
    files[""] = files[INDEX]
    return files


def accepts_gzip(accept_encoding: str) -> bool:
    for item in accept_encoding.split(","):
        coding, _, parameters = item.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            quality = parameters.strip().lower()
            return not (quality.startswith("q=") and _quality(quality[2:]) == 0)
    return False


def _quality(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 1.0


def matches(if_none_match: str, etag: bytes) -> bool:
    """If-None-Match's weak comparison: any listed tag equal to `etag`, with or without W/, or *."""
    tag = etag.decode()
    for item in if_none_match.split(","):
        item = item.strip()
        if item == "*" or item.removeprefix("W/") == tag:
            return True
    return False


NOT_FOUND = b"not found: the market page has no such file\n"
_NOT_FOUND_HEAD = (b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n" + COMMON_HEADERS
                   + b"Content-Length: " + str(len(NOT_FOUND)).encode())
_REDIRECT_HEAD = b"HTTP/1.1 301 Moved Permanently\r\nLocation: ui/\r\nContent-Length: 0"


class MarketPage:
    """The page's files of one worker, and the answers to GETs of its paths."""

    def __init__(self, ui: UiConfig) -> None:
        self.files = load_files(ui)

    def respond(self, request: PageRequest) -> RawResponse:
        path = request.path
        tail, keep_alive = connection_tail(request)
        if path == PAGE_ROOT:  # relative, so that it holds under whatever prefix a proxy adds
            return RawResponse(_REDIRECT_HEAD + tail, keep_alive)
        file = self.files.get(path[len(PAGE_PREFIX):])
        if file is None:
            return RawResponse(_NOT_FOUND_HEAD + tail + NOT_FOUND, keep_alive)
        chosen = file.plain
        if file.compressed is not None and accepts_gzip(request.headers.get("Accept-Encoding", "")):
            chosen = file.compressed
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None and matches(if_none_match, chosen.etag):
            return RawResponse(chosen.head_304 + tail, keep_alive)
        return RawResponse(chosen.head_200 + tail + chosen.body, keep_alive)
