"""HTTP responses written in one piece: status line, Content-Type, Content-Length, Date, body.

Every answer of the gateway has the same shape, so it is formatted here into
one bytes object (`RawResponse`) that the connection writes with one call.

Headers: `Content-Type: application/json` when there is a body, `Content-Length`,
`Date` (RFC 7231, formatted once a second), and `Connection: close` when the
connection is closed after the response (or `Connection: keep-alive` for an
HTTP/1.0 client that asked for it).  No `Server` header, as the original.
"""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import Protocol

_STATUS_LINES = {
    200: b"HTTP/1.1 200 OK\r\n",
    400: b"HTTP/1.1 400 Bad Request\r\n",
    404: b"HTTP/1.1 404 Not Found\r\n",
    413: b"HTTP/1.1 413 Request Entity Too Large\r\n",
    500: b"HTTP/1.1 500 Internal Server Error\r\n",
    504: b"HTTP/1.1 504 Gateway Timeout\r\n",
}
_JSON = b"Content-Type: application/json\r\nContent-Length: "
_EMPTY = b"Content-Length: 0"
_CLOSE = b"\r\nConnection: close"
_KEEP_ALIVE_10 = b"\r\nConnection: keep-alive"
_HTTP11 = (1, 1)
_JSON_HEADS = {status: line + _JSON for status, line in _STATUS_LINES.items()}
_EMPTY_HEADS = {status: line + _EMPTY for status, line in _STATUS_LINES.items()}

_date_second = 0
_date_tail = b""


def date_tail() -> bytes:
    """The Date header of the current second and the end of the header block."""
    global _date_second, _date_tail
    now = int(time.time())
    if now != _date_second:
        _date_second = now
        _date_tail = b"\r\nDate: " + formatdate(now, usegmt=True).encode() + b"\r\n\r\n"
    return _date_tail


class Answered(Protocol):
    """What an answer needs of its request."""

    @property
    def keep_alive(self) -> bool: ...

    @property
    def version(self) -> tuple[int, int]: ...


class RawResponse:
    """A complete response, and whether the connection stays open after it."""

    __slots__ = ("data", "keep_alive")

    def __init__(self, data: bytes, keep_alive: bool) -> None:
        self.data = data
        self.keep_alive = keep_alive


def respond(request: Answered, status: int, body: bytes = b"") -> RawResponse:
    """`status` with a JSON `body` (or none); the connection stays open if the client keeps it."""
    if request.keep_alive:
        middle = date_tail() if request.version >= _HTTP11 else _KEEP_ALIVE_10 + date_tail()
        keep_alive = True
    else:
        middle = _CLOSE + date_tail()
        keep_alive = False
    if body:
        return RawResponse(b"".join((_JSON_HEADS[status], str(len(body)).encode(), middle, body)), keep_alive)
    return RawResponse(_EMPTY_HEADS[status] + middle, keep_alive)


def connection_tail(request: Answered) -> tuple[bytes, bool]:
    """What `respond` puts after its own headers (Connection if needed, Date, the blank line); keep-alive or not.

    For responses off the hot path (the market page's files); `respond` inlines the same.
    """
    if not request.keep_alive:
        return _CLOSE + date_tail(), False
    if request.version >= _HTTP11:
        return date_tail(), True
    return _KEEP_ALIVE_10 + date_tail(), True


def respond_and_close(status: int, body: bytes = b"") -> RawResponse:
    """`status` with a JSON `body` (or none), then close the connection."""
    if body:
        return RawResponse(b"".join((_JSON_HEADS[status], str(len(body)).encode(), _CLOSE, date_tail(), body)), False)
    return RawResponse(b"".join((_EMPTY_HEADS[status], _CLOSE, date_tail())), False)
