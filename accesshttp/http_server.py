"""The HTTP/1.1 server of an accesshttp worker: an asyncio protocol around httptools' parser.

The gateway's requests are small POSTs answered with one pre-formatted
write, so the HTTP layer is kept to what spec/http-api.md §1 and the
gateway need, on the C parser uvloop's authors wrote (httptools, llhttp):
no request objects beyond `Request`, no header dictionary unless asked for,
no task per request — the handler answers through a callback, at once or
when its backend replies.  aiohttp's low-level server spent more
instructions per request than the rest of the gateway together.

What a connection does:

* requests are parsed as bytes arrive and handled one after the other;
  pipelined ones wait their turn, so answers go out in order;
* a POST body is gathered up to `body_limit` bytes; a body over it (or a
  `Content-Length` announcing one, before the body is read) gets 413, and
  ``Expect: 100-continue`` gets ``100 Continue`` once the headers are in;
  the bodies of other methods are not kept;
* a response that is not keep-alive closes the connection once written;
  after an early answer (413) what the client still sends of that request
  is read and dropped for at most `linger` seconds, so that it sees the
  answer rather than a reset;
* malformed HTTP gets 400 (empty body) and the connection is closed;
* an idle connection is closed `keep_alive` seconds after its last answer;
* while the peer does not read its answers (write buffer over
  WRITE_HIGH_WATER), nothing more is read from it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import httptools

from .responses import RawResponse, respond_and_close

log = logging.getLogger(__name__)

WRITE_HIGH_WATER = 256 * 1024
MAX_QUEUED = 128  # pipelined requests waiting their turn before the connection stops reading

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_HTTP11 = (1, 1)
_HTTP10 = (1, 0)


class Request:
    """One parsed request: method, path (without the query), HTTP version, keep-alive and the body."""

    __slots__ = ("_headers", "body", "keep_alive", "method", "raw_headers", "url", "version")

    def __init__(self, method: str, url: bytes, version: tuple[int, int], keep_alive: bool,
                 raw_headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.method = method
        self.url = url
        self.version = version
        self.keep_alive = keep_alive
        self.raw_headers = raw_headers
        self.body = body
        self._headers: Headers | None = None

    @property
    def path(self) -> str:
        return self.url.partition(b"?")[0].decode("latin-1")

    @property
    def headers(self) -> Headers:
        """The headers by name, in any case (the last of repeated ones), made on first use."""
        if self._headers is None:
            self._headers = Headers((name.decode("latin-1").lower(), value.decode("latin-1"))
                                    for name, value in self.raw_headers)
        return self._headers


class Headers(dict[str, str]):
    """Header values by lower-case name; looked up by a name in any case."""

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


Respond = Callable[[RawResponse], None]
Handler = Callable[[Request, Respond], None]
"""Answers a request by calling `respond` once, now or later (after `respond` the connection may go on)."""


class HttpServer:
    """Makes the connections of one worker (`loop.create_server(server, sock=...)`) and stops them."""

    def __init__(self, handler: Handler, *, body_limit: int, keep_alive: float, linger: float) -> None:
        self.handler = handler
        self.body_limit = body_limit
        self.keep_alive = keep_alive
        self.linger = linger
        self.connections: set[HttpConnection] = set()
        self.stopping = False

    def __call__(self) -> HttpConnection:
        return HttpConnection(self)

    def pre_shutdown(self) -> None:
        """Close idle connections now and the others after their answer."""
        self.stopping = True
        for connection in list(self.connections):
            connection.close_when_idle()

    async def shutdown(self, timeout: float) -> None:
        """Wait up to `timeout` s for the connections to finish, then close what is left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.connections and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for connection in list(self.connections):
            connection.abort()


class HttpConnection(asyncio.Protocol):
    """One client connection: the parser's callbacks, the queue of requests, the answers."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        # the request being parsed
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._body_size = 0
        self._length = -1         # its Content-Length, -1 if none
        self._expect = False      # it asked for 100-continue
        self._post = False
        self._refused = False     # answered before its end (413): the rest of it is dropped
        # requests parsed behind the one being handled, and answers made for them already (400, 413)
        self._queue: deque[Request | RawResponse] = deque()
        self._busy = False        # a request is being handled
        self._closing = False     # no more requests: close once the answers are out
        self._paused = False      # reading stopped (peer not reading, or too many queued)
        self._writing_paused = False
        self._last_active = self.loop.time()
        self._idle_timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------ transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)  # type: ignore[attr-defined]
        self.server.connections.add(self)
        if self.server.stopping:
            self.abort()
            return
        self._arm_idle_timer(self.server.keep_alive)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.transport = None
        self._queue.clear()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def data_received(self, data: bytes) -> None:
        if self.transport is None:
            return
        self._last_active = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._stop_reading()  # no protocol switch here: what was asked before it is answered
        except httptools.HttpParserError:
            self._stop_reading(respond_and_close(400))

    def eof_received(self) -> bool:
        # the client sent all it will: answer what is queued or in flight, then close
        self._closing = True
        return self._busy or bool(self._queue)

    def pause_writing(self) -> None:
        self._writing_paused = True
        self._pause_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        if not self._busy and self._queue:
            self._next()
        self._resume_reading()

    def _pause_reading(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._paused and not self._writing_paused and len(self._queue) < MAX_QUEUED \
                and self.transport is not None and not self._closing:
            self._paused = False
            self.transport.resume_reading()

    def close_when_idle(self) -> None:
        """Close now if no request is under way, else once its answer is written."""
        self._closing = True
        if not self._busy and not self._queue and self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # ------------------------------------------------------------ idle timeout

    def _arm_idle_timer(self, delay: float) -> None:
        if delay > 0:
            self._idle_timer = self.loop.call_later(delay, self._on_idle_timer)

    def _on_idle_timer(self) -> None:
        self._idle_timer = None
        if self.transport is None:
            return
        if self._busy or self._queue:
            self._arm_idle_timer(self.server.keep_alive)
            return
        left = self._last_active + self.server.keep_alive - self.loop.time()
        if left > 0:
            self._arm_idle_timer(left)
        else:
            self.transport.close()

    # ------------------------------------------------------------ parser callbacks

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._body = []
        self._body_size = 0
        self._length = -1
        self._expect = False
        self._refused = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        if len(name) == 14 and name.lower() == b"content-length":
            try:
                self._length = int(value)
            except ValueError:
                pass  # the parser refuses it
        elif len(name) == 6 and name.lower() == b"expect":
            self._expect = value.lower() == b"100-continue"

    def on_headers_complete(self) -> None:
        self._post = self.parser.get_method() == b"POST"
        if not self._post or self._closing:
            return
        if self._length > self.server.body_limit:
            self._refuse()
        elif self._expect and self.transport is not None:
            self.transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        if self._refused or not self._post:
            return
        self._body_size += len(body)
        if self._body_size > self.server.body_limit:
            self._body = []
            self._refuse()
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._refused:
            self._refused = False
            if not self._busy and not self._queue and self.transport is not None:
                self.transport.close()  # the refused request has been read to its end
            return
        if self._closing:
            return
        parser = self.parser
        version = _HTTP11 if parser.get_http_version() == "1.1" else _HTTP10
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        method = parser.get_method()
        request = Request("POST" if self._post else method.decode("latin-1"), self._url, version,
                          parser.should_keep_alive(), self._headers, body)
        if self._busy or self._writing_paused:
            self._queue.append(request)
            if len(self._queue) >= MAX_QUEUED:
                self._pause_reading()
        else:
            self._handle(request)

    # ------------------------------------------------------------ handling and answering

    def _handle(self, request: Request) -> None:
        self._busy = True
        try:
            self.server.handler(request, self._respond)
        except Exception:
            log.critical("request handler failed", exc_info=True)
            self._respond(respond_and_close(500))

    def _respond(self, response: RawResponse) -> None:
        """The answer to the request being handled; then the next one queued, if any."""
        self._busy = False
        self._last_active = self.loop.time()
        if self._write(response) and self._queue:
            self._next()

    def _next(self) -> None:
        """Handle what is queued, in order, while answers come at once and the peer takes them."""
        while self._queue and not self._writing_paused:
            following = self._queue.popleft()
            if isinstance(following, Request):
                self._resume_reading()
                self._handle(following)
                return
            if not self._write(following):
                return

    def _write(self, response: RawResponse) -> bool:
        """Write an answer; False if the connection is closing or gone (nothing more is answered)."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return False
        transport.write(response.data)
        if not response.keep_alive:
            self._closing = True
            self._queue.clear()
            if self._refused:  # a 413 written while its request is still arriving: drop the rest a while
                self.loop.call_later(self.server.linger, self._close)
            else:
                transport.close()
            return False
        if self._closing and not self._queue:
            transport.close()
            return False
        return True

    def _refuse(self) -> None:
        """Answer the request being parsed with 413 now (or after those before it); the rest of it is dropped."""
        self._refused = True
        self._closing = True
        self._body = []
        if self._busy or self._queue:
            self._queue.append(respond_and_close(413))
        else:
            self._write(respond_and_close(413))

    def _stop_reading(self, answer: RawResponse | None = None) -> None:
        """No more requests from this connection: answer those before (and `answer`, if given), then close."""
        if self._closing and answer is None:
            return
        self._closing = True
        self._pause_reading()
        if answer is not None and not self._refused:
            if self._busy or self._queue:
                self._queue.append(answer)
            else:
                self._write(answer)
        elif not self._busy and not self._queue and self.transport is not None:
            self.transport.close()

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()
