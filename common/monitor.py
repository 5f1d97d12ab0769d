"""Every daemon's monitor port: ``GET /metrics``, ``GET /healthz`` and ``GET /readyz`` over plain HTTP/1.1.

* ``/metrics``: the process's metrics in the Prometheus text format (`common.metrics`);
* ``/healthz``: 200 while the process serves (its event loop answers);
* ``/readyz``: 200 when every readiness check passes (its backends are reachable and it is caught
  up), else 503; the body is JSON either way, ``{"ready": false, "not_ready": ["mysql", ...]}``
  naming the checks that failed;
* any other path: 404, a method other than GET or HEAD: 405.

Each answer closes its connection (``Connection: close``), and a peer that
connects and closes without a request — a TCP health probe, as the monitor
ports of the original accept — is simply let go.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import socket
from collections.abc import Awaitable, Callable

import orjson

from common.config import ServerConfig
from common.metrics import exposition
from common.service import ServiceContext
from common.workers import listening_socket, unlink_unix_paths

log = logging.getLogger(__name__)

REQUEST_LIMIT = 8192
REQUEST_TIMEOUT = 10.0
CHECK_TIMEOUT = 2.0
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Check = Callable[[], bool | Awaitable[bool]]
Exposition = Callable[[], Awaitable[bytes]]

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error",
            503: "Service Unavailable"}


class Readiness:
    """Named checks, all of which must pass for ``/readyz`` to answer 200.

    A check returns a bool or an awaitable of one; one that raises or takes
    longer than `CHECK_TIMEOUT` counts as not ready.
    """

    def __init__(self) -> None:
        self.checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> None:
        self.checks[name] = check

    async def not_ready(self) -> list[str]:
        """The names of the checks that fail now, in the order they were added."""
        names = list(self.checks)
        results = await asyncio.gather(*(self._passes(self.checks[name]) for name in names))
        return [name for name, ok in zip(names, results, strict=True) if not ok]

    @staticmethod
    async def _passes(check: Check) -> bool:
        try:
            result = check()
            if inspect.isawaitable(result):
                async with asyncio.timeout(CHECK_TIMEOUT):
                    return bool(await result)
            return bool(result)
        except Exception:
            log.debug("readiness check failed", exc_info=True)
            return False


async def _local_exposition() -> bytes:
    return exposition()


class MonitorServer:
    """Serves the monitor endpoints on every address of `config.bind`."""

    def __init__(self, config: ServerConfig | None, readiness: Readiness | None = None,
                 metrics: Exposition = _local_exposition) -> None:
        self.config = config
        self.readiness = readiness or Readiness()
        self.metrics = metrics
        self._servers: list[asyncio.AbstractServer] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        for address in self.config.bind if self.config is not None else ():
            await self.serve_on(listening_socket(address))
            log.info("monitor listening on %s", address)

    async def serve_on(self, sock: socket.socket) -> None:
        """Serve on a listening socket made elsewhere (a worker's, from its supervisor)."""
        if sock.family == socket.AF_UNIX:
            server = await asyncio.start_unix_server(self._serve, sock=sock, limit=REQUEST_LIMIT)
        else:
            server = await asyncio.start_server(self._serve, sock=sock, limit=REQUEST_LIMIT)
        self._servers.append(server)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()
        if self.config is not None:
            unlink_unix_paths(self.config.bind)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            status, content_type, body = await self.answer(head)
            method = head.split(b" ", 1)[0]
            writer.write(b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                         % (status, _REASONS[status].encode(), content_type.encode(), len(body)))
            if method != b"HEAD":
                writer.write(body)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            pass  # a probe that connects and closes, or a peer that sends no request
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def answer(self, head: bytes) -> tuple[int, str, bytes]:
        """(status, content type, body) for a request head."""
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            return 400, "text/plain", b"bad request\n"
        method, target = parts[0], parts[1].split(b"?", 1)[0]
        if target not in (b"/metrics", b"/healthz", b"/readyz"):
            return 404, "text/plain", b"not found: try /metrics, /healthz or /readyz\n"
        if method not in (b"GET", b"HEAD"):
            return 405, "text/plain", b"method not allowed\n"
        if target == b"/metrics":
            try:
                return 200, METRICS_TYPE, await self.metrics()
            except Exception:
                log.exception("collecting the metrics failed")
                return 500, "text/plain", b"collecting the metrics failed\n"
        if target == b"/healthz":
            return 200, "application/json", b'{"healthy":true}\n'
        failing = await self.readiness.not_ready()
        if failing:
            return 503, "application/json", orjson.dumps({"ready": False, "not_ready": failing}) + b"\n"
        return 200, "application/json", b'{"ready":true}\n'


async def start_monitor(config: ServerConfig | None, ctx: ServiceContext, readiness: Readiness | None = None,
                        metrics: Exposition = _local_exposition) -> MonitorServer | None:
    """Start the monitor port of `config` (None: the daemon has none configured), closed at shutdown."""
    if config is None:
        return None
    monitor = MonitorServer(config, readiness, metrics)
    await monitor.start()
    ctx.add_cleanup(monitor.close)
    return monitor
