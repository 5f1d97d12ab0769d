"""The WebSocket server (§2, §3): the handshake rules, one loop per connection, idle clients.

The `websockets` library does the RFC 6455 work — handshake, frame parsing,
masking checks, ping/pong, the closing handshake — with these settings:
no compression (the original never compresses), no server-initiated pings,
`max_size` = `svr.max_pkg_size` (a bigger message closes the connection
with 1009) and a bounded receive queue (`max_queue`: a client that floods
requests is throttled by TCP, not buffered).  On top of it:

* the handshake needs a `Host` header, a `Sec-WebSocket-Protocol`, when
  sent, must offer `svr.protocol` (which is then echoed), and a non-empty
  `svr.origin` must match the `Origin` header (see `origin_allowed`);
  a refused handshake is answered with an HTTP error status (the original
  closes the socket without a word);
* each message is one request; requests that need a backend run as tasks,
  at most `MAX_IN_FLIGHT` per connection (then reading pauses), so replies
  can overtake each other as in the original;
* a malformed envelope gets error 1 "invalid argument" with the request's
  id when it could be read, else null, and the connection stays open (the
  original closes it; spec/README.md rule 2);
* `svr.keep_alive`: a connection that sent nothing for that long is closed
  (checked every 60 s, or every `keep_alive` seconds when that is shorter);
* output is bounded per connection (`Session.push`): `svr.buf_limit` blocks
  of `svr.max_pkg_size` bytes, or `DEFAULT_BUF_LIMIT` blocks when
  `buf_limit` is 0 — the original's "unlimited" would let one client that
  never reads grow the server's memory without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import socket
from collections.abc import Coroutine, Sequence
from time import perf_counter
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve, unix_serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse
from websockets.typing import Subprotocol

from common.errors import INTERNAL_ERROR, INVALID_ARGUMENT
from common.metrics import json_rpc_error_code, metrics_for
from common.workers import listening_socket, unlink_unix_paths

from .config import WsServerConfig
from .envelope import BadRequest, Request, error_reply, invalid_argument, parse_request
from .methods import Methods
from .session import Session, TrackedConnection

log = logging.getLogger(__name__)
REQUESTS = metrics_for("accessws").requests("ws", "WebSocket requests answered", label="method")

MAX_IN_FLIGHT = 64
MAX_QUEUE = 16
DEFAULT_BUF_LIMIT = 10
IDLE_CHECK_INTERVAL = 60.0
OPEN_TIMEOUT = 10.0
CLOSE_TIMEOUT = 3.0
CLIENT_IP_HEADERS = ("X-Connecting-IP", "X-Forwarded-For", "X-Proxy-IP", "X-Real-IP")


def _count(method: str, reply: bytes | None, started: float) -> None:
    code = json_rpc_error_code(reply) if reply is not None else 0
    REQUESTS.observe(method, code if code is not None else 0, perf_counter() - started)


def origin_allowed(origin: str | None, required: str) -> bool:
    """The `Origin` must end with `required` at a boundary (`.`, `/`, or the whole value).

    The original accepts any suffix, so `https://evilexample.com` passes for
    `example.com`; here the character before the match must end a label or
    the scheme.
    """
    if not required:
        return True
    if origin is None or not origin.endswith(required):
        return False
    if len(origin) == len(required):
        return True
    return origin[-len(required) - 1] in "./"


def client_ip(headers: Headers, connection: TrackedConnection) -> str:
    """The client address for logs: the first proxy header present, else the socket peer."""
    for name in CLIENT_IP_HEADERS:
        value = headers.get(name)
        if value:
            return value.split(",", 1)[0].strip()
    peer = connection.transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return "unix"


class WsServer:
    def __init__(self, config: WsServerConfig, methods: Methods) -> None:
        self.config = config
        self.methods = methods
        server = config.server
        blocks = server.buf_limit or DEFAULT_BUF_LIMIT
        self.output_limit = blocks * server.max_pkg_size
        self.sessions: set[Session] = set()
        self._servers: list[Server] = []
        self._idle_task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._own_sockets = True
        metrics_for("accessws").gauge("connections", "Open WebSocket connections", lambda: float(len(self.sessions)))

    async def start(self, sockets: list[socket.socket] | None = None) -> None:
        """Serve on `sockets` (one per `svr.bind` address, in order), or bind the addresses here."""
        server = self.config.server
        options: dict[str, Any] = {
            "compression": None,
            "max_size": server.max_pkg_size,
            "max_queue": MAX_QUEUE,
            "write_limit": min(self.output_limit, 1 << 20),
            "ping_interval": None,
            "ping_timeout": None,
            "open_timeout": OPEN_TIMEOUT,
            "close_timeout": CLOSE_TIMEOUT,
            "process_request": self._check_request,
            "select_subprotocol": self._select_subprotocol,
            "subprotocols": [Subprotocol(self.config.protocol)],
            "server_header": None,
            "create_connection": TrackedConnection,
        }
        self._own_sockets = sockets is None
        if sockets is None:
            sockets = [listening_socket(address, server.read_mem, server.write_mem) for address in server.bind]
        for address, sock in zip(server.bind, sockets, strict=True):
            if address.kind == "tcp":
                self._servers.append(await serve(self._handle, sock=sock, **options))
            else:
                self._servers.append(await unix_serve(self._handle, sock=sock, **options))
            log.info("websocket server listening on %s", address)
        if server.keep_alive > 0:
            self._idle_task = asyncio.get_running_loop().create_task(self._close_idle(server.keep_alive))

    async def close(self) -> None:
        if self._idle_task is not None:
            self._idle_task.cancel()
        for ws_server in self._servers:
            ws_server.close()
        for ws_server in self._servers:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT + 1):
                    await ws_server.wait_closed()
        if self._own_sockets:
            unlink_unix_paths(self.config.server.bind)

    # ------------------------------------------------------------ handshake

    def _check_request(self, connection: TrackedConnection, request: HttpRequest) -> HttpResponse | None:
        if "Host" not in request.headers:
            return connection.respond(http.HTTPStatus.BAD_REQUEST, "Missing Host header.\n")
        if not origin_allowed(request.headers.get("Origin"), self.config.origin):
            return connection.respond(http.HTTPStatus.FORBIDDEN, "Origin not allowed.\n")
        return None

    def _select_subprotocol(self, connection: TrackedConnection,
                            offered: Sequence[Subprotocol]) -> Subprotocol | None:
        if not offered:
            return None
        if self.config.protocol in offered:
            return Subprotocol(self.config.protocol)
        raise NegotiationError(f"subprotocol {self.config.protocol!r} not offered")

    # ------------------------------------------------------------ connections

    async def _handle(self, connection: ServerConnection) -> None:
        assert isinstance(connection, TrackedConnection)  # the connection class the server is given
        assert connection.request is not None
        session = Session(connection, self.output_limit, client_ip(connection.request.headers, connection))
        self.sessions.add(session)
        try:
            with contextlib.suppress(ConnectionClosed):
                while True:
                    data = await connection.recv(decode=False)
                    self._on_message(session, data)
                    if len(session.tasks) >= MAX_IN_FLIGHT:
                        await asyncio.wait(session.tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            session.closed = True
            self.sessions.discard(session)
            self.methods.forget(session)

    def _on_message(self, session: Session, data: bytes) -> None:
        started = perf_counter()
        try:
            request = parse_request(data)
        except BadRequest as exc:
            log.info("%s: bad request (%s): %.200r", session.peer, exc, data)
            session.send(invalid_argument(exc.request_id, f"request: {exc}"))
            REQUESTS.observe("(invalid)", INVALID_ARGUMENT, perf_counter() - started)
            return
        method = request.method if request.method in self.methods.table else "(unknown)"  # no made-up series
        try:
            answer = self.methods.dispatch(session, request)
        except Exception:
            log.critical("%s: %s failed", session.peer, request.method, exc_info=True)
            session.send(error_reply(request.id, INTERNAL_ERROR))
            REQUESTS.observe(method, INTERNAL_ERROR, perf_counter() - started)
            return
        if answer is None or isinstance(answer, bytes):
            if answer is not None:
                session.send(answer)
            _count(method, answer, started)
            return
        task = asyncio.get_running_loop().create_task(self._answer_later(session, request, method, answer, started))
        session.tasks.add(task)
        task.add_done_callback(session.tasks.discard)

    @staticmethod
    async def _answer_later(session: Session, request: Request, method: str,
                            answer: Coroutine[Any, Any, bytes | None], started: float) -> None:
        try:
            payload = await answer
        except Exception:
            log.critical("%s: %s failed", session.peer, request.method, exc_info=True)
            payload = error_reply(request.id, INTERNAL_ERROR)
        if payload is not None:
            session.send(payload)
        _count(method, payload, started)

    async def _close_idle(self, keep_alive: int) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(IDLE_CHECK_INTERVAL, keep_alive))
            now = loop.time()
            for session in [s for s in self.sessions if now - s.connection.last_activity > keep_alive]:
                log.info("%s: idle for more than %d s, closing", session.peer, keep_alive)
                session.closed = True
                task = loop.create_task(session.connection.close(1001, "idle timeout"))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
