"""The RPC server every backend runs (ut_rpc_svr.c, spec/rpc.md §2, §5.2, §8).

`RpcServer` listens on every address of a `ServerConfig` (tcp, udp, unix
stream, dgram and seqpacket), reassembles frames, answers heartbeats itself
and hands every other frame to the handler registered for its command.  A
handler gets the decoded JSON params list and returns the result, or an
awaitable of the result; it raises `RpcError` to answer with an error object.

Requests of one connection are dispatched in arrival order inside
`data_received`; replies produced while one chunk of input is processed go out
in one write.  Replies to awaitable results are written when they complete, so
they can overtake each other; the client matches them by sequence.

Deviations from the original (spec/README.md rule 2), all keeping the
connection open: an unknown command is answered with error 4 "method not
found" instead of silence, a body that is not JSON or not a JSON array with
error 1 "invalid argument" instead of closing the connection, and a handler
crash with error 2 "internal error".
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import json
import logging
import os
import socket
import stat
from collections.abc import Callable, Iterable
from functools import partial
from operator import attrgetter
from time import perf_counter
from typing import Any, cast

import orjson

from common.config import Address, ServerConfig
from common.errors import INTERNAL_ERROR, INVALID_ARGUMENT, MESSAGES, METHOD_NOT_FOUND, RpcError
from common.metrics import metrics_for
from common.rpc.codec import (
    HEARTBEAT_TIMEOUT_DEFAULT,
    Frame,
    FrameDecoder,
    ProtocolError,
    decode_packet,
    encode_heartbeat_reply,
    encode_reply,
    parse_heartbeat_body,
)

__all__ = ["HEARTBEAT_CHECK_INTERVAL", "Handler", "RpcServer"]

Handler = Callable[[list[Any]], Any]
Send = Callable[[bytes], None]

HEARTBEAT_CHECK_INTERVAL = 1.0
LATENCY_SAMPLE_MASK = 15  # the first request of one batch in 16 is timed: see RpcServer.count_batch
_COMMAND = attrgetter("command")
# Counter.update's own isinstance(…, Mapping) check costs more than the counting (an ABC check)
_count_elements: Callable[[dict[Any, int], Iterable[Any]], None] = collections._count_elements  # type: ignore[attr-defined]

_PLAIN_RESULT_TYPES = frozenset({dict, list, str, int, float, bool, type(None), tuple})


class PendingReply:
    """A result a handler will have later, without asyncio Future machinery.

    A handler returns one; whoever finishes the work calls `set_result` (or
    `set_error` with an RpcError) and the reply is sent right then.  Cheaper
    than a Future when thousands complete together (a group commit).
    """

    __slots__ = ("_callback", "_error", "_result", "_set")

    def __init__(self) -> None:
        self._callback: Callable[[Any, RpcError | None], None] | None = None
        self._set = False
        self._result: Any = None
        self._error: RpcError | None = None

    def bind(self, callback: Callable[[Any, RpcError | None], None]) -> None:
        self._callback = callback
        if self._set:
            callback(self._result, self._error)

    def set_result(self, result: Any) -> None:
        self._set, self._result = True, result
        if self._callback is not None:
            self._callback(result, None)

    def set_error(self, error: RpcError) -> None:
        self._set, self._error = True, error
        if self._callback is not None:
            self._callback(None, error)
_HEXDUMP_LIMIT = 256


def _debug_dumps(obj: Any) -> bytes:
    return json.dumps(obj, indent=4, ensure_ascii=False).encode()


def _hexdump(data: bytes) -> str:
    text = data[:_HEXDUMP_LIMIT].hex()
    return text + "..." if len(data) > _HEXDUMP_LIMIT else text


def _peer_name(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer) if peer else "unix"


class RpcServer:
    """An RPC server bound to every address of `config.bind`."""

    def __init__(self, config: ServerConfig, handlers: dict[int, Handler], *, debug: bool = False,
                 name: str = "rpc", count_requests: bool = True) -> None:
        self.config = config
        self.handlers = handlers
        self.debug = debug
        self.name = name
        self.log = logging.getLogger(name)
        self._dumps: Callable[[Any], bytes] = _debug_dumps if debug else orjson.dumps
        self._write_limit = config.buf_limit * config.max_pkg_size
        self._servers: list[asyncio.AbstractServer] = []
        self._datagram_transports: list[asyncio.DatagramTransport] = []
        self._seqpacket_listeners: list[_SeqpacketListener] = []
        self._connections: set[_StreamConnection] = set()
        self._bound: list[Address] = []
        self._unix_paths: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        metrics = metrics_for(name)
        # viabtc_<name>_rpc_requests_total{command, code} and viabtc_<name>_rpc_request_seconds{command}
        self.requests = metrics.requests("rpc", "RPC requests", label="command", sample_every=LATENCY_SAMPLE_MASK + 1)
        self.requests.hidden.add(0)  # heartbeats
        self.count_requests = count_requests  # False only to measure what counting costs (bench/metrics_cost.py)
        self._batches = 0
        metrics.gauge("rpc_connections", "Open RPC connections", lambda: len(self._connections))

    @property
    def connection_count(self) -> int:
        """Open stream and seqpacket connections."""
        return len(self._connections)

    @property
    def bound_addresses(self) -> list[Address]:
        """The addresses actually listened on (tcp/udp ports resolved when 0 was configured)."""
        return list(self._bound)

    async def start(self) -> None:
        """Bind every configured address; on any failure nothing stays bound and the OSError is raised."""
        self._loop = asyncio.get_running_loop()
        try:
            for address in self.config.bind:
                await self._bind(address)
        except BaseException:
            await self.close()
            raise
        if self.config.heartbeat_check:
            self._timer = self._loop.call_later(HEARTBEAT_CHECK_INTERVAL, self._check_heartbeats)

    async def close(self) -> None:
        """Stop listening and close every connection."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for server in self._servers:
            server.close()
        for listener in self._seqpacket_listeners:
            listener.close()
        for transport in self._datagram_transports:
            transport.close()
        for conn in list(self._connections):
            conn.abort()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        self._seqpacket_listeners.clear()
        self._datagram_transports.clear()
        self._bound.clear()
        for path in self._unix_paths:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._unix_paths.clear()
        await asyncio.sleep(0)

    async def _bind(self, address: Address) -> None:
        loop = self._loop
        assert loop is not None
        kind = address.kind
        if kind == "tcp":
            server = await loop.create_server(self._new_stream_connection, address.host, address.port,
                                              reuse_address=True, backlog=socket.SOMAXCONN)
            self._servers.append(server)
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                self._bound.append(Address("tcp", host=host, port=port))
        elif kind == "udp":
            transport, _ = await loop.create_datagram_endpoint(lambda: _DatagramEndpoint(self),
                                                               local_addr=(address.host, address.port))
            self._datagram_transports.append(transport)
            host, port = transport.get_extra_info("sockname")[:2]
            self._bound.append(Address("udp", host=host, port=port))
        elif kind == "stream":
            sock = self._unix_socket(address.path, socket.SOCK_STREAM)
            self._servers.append(await loop.create_unix_server(self._new_stream_connection, sock=sock,
                                                               backlog=socket.SOMAXCONN))
            self._bound.append(address)
        elif kind == "dgram":
            sock = self._unix_socket(address.path, socket.SOCK_DGRAM)
            transport, _ = await loop.create_datagram_endpoint(lambda: _DatagramEndpoint(self), sock=sock)
            self._datagram_transports.append(transport)
            self._bound.append(address)
        elif kind == "seqpacket":
            sock = self._unix_socket(address.path, socket.SOCK_SEQPACKET)
            self._seqpacket_listeners.append(_SeqpacketListener(self, loop, sock))
            self._bound.append(address)
        else:
            raise ValueError(f"cannot listen on address type '{kind}'")
        self.log.info("%s: listening on %s", self.name, self._bound[-1])

    def _unix_socket(self, path: str, sock_type: int) -> socket.socket:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, sock_type)
        try:
            sock.bind(path)
            self._unix_paths.append(path)
            os.chmod(path, stat.S_IRWXU | stat.S_IRWXG | stat.S_IRWXO)
            if sock_type != socket.SOCK_DGRAM:
                sock.listen(socket.SOMAXCONN)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    def _new_stream_connection(self) -> _StreamConnection:
        return _StreamConnection(self)

    def _set_socket_options(self, sock: Any, tcp: bool) -> None:
        try:
            if tcp:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.config.read_mem > 0:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.config.read_mem)
            if self.config.write_mem > 0:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.config.write_mem)
        except OSError as exc:
            self.log.warning("%s: cannot set socket options: %s", self.name, exc)

    def _check_heartbeats(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        for conn in list(self._connections):
            if now - conn.last_heartbeat > conn.heartbeat_timeout:
                self.log.error("%s: peer %s: heartbeat timeout, silent for %.3f s, timeout %.3f s",
                               self.name, conn.peer, now - conn.last_heartbeat, conn.heartbeat_timeout)
                conn.abort()
        self._timer = loop.call_later(HEARTBEAT_CHECK_INTERVAL, self._check_heartbeats)

    def count_batch(self, frames: list[Frame]) -> bool:
        """Count the requests of one batch of frames (one read) in C, not one by one; True when the first of
        them is to be timed (one batch in 16): per request, counting costs nothing in Python."""
        if not self.count_requests:
            return False
        _count_elements(self.requests.received, map(_COMMAND, frames))
        self._batches += 1
        return not self._batches & LATENCY_SAMPLE_MASK

    def execute(self, frame: Frame, send: Send, started: float = 0.0) -> None:
        """Run the handler of a non-heartbeat frame and send its reply (now or when it completes).

        `started` (a `perf_counter` time, or 0.0 for a request not timed): when the request came.  Requests
        were counted by `count_batch`; only errors are counted here."""
        command = frame.command
        handler = self.handlers.get(command)
        if handler is None:
            self.log.warning("%s: unknown command %d", self.name, command)
            self._send_error(frame, send, started, METHOD_NOT_FOUND, MESSAGES[METHOD_NOT_FOUND])
            return
        try:
            params = orjson.loads(frame.body)
        except orjson.JSONDecodeError:
            params = None
        if type(params) is not list:
            self.log.warning("%s: command %d: body is not a JSON array: %s",
                             self.name, command, _hexdump(frame.body))
            self._send_error(frame, send, started, INVALID_ARGUMENT, MESSAGES[INVALID_ARGUMENT],
                             "params: must be a JSON array")
            return
        try:
            result = handler(params)
        except RpcError as exc:
            self._send_error(frame, send, started, exc.code, exc.message, exc.data)
            return
        except Exception:
            self.log.exception("%s: command %d failed, params: %r", self.name, command, params)
            self._send_error(frame, send, started, INTERNAL_ERROR, MESSAGES[INTERNAL_ERROR])
            return
        if type(result) is PendingReply:
            result.bind(partial(self._deliver, frame, send, started))
            return
        if type(result) not in _PLAIN_RESULT_TYPES and inspect.isawaitable(result):
            future = asyncio.ensure_future(result)
            future.add_done_callback(partial(self._complete, frame, send, started))
            return
        send(self._result_reply(frame, result))
        if started:
            self.requests.timed(command, perf_counter() - started)

    def _send_error(self, frame: Frame, send: Send, started: float, code: int, message: str,
                    data: str | None = None) -> None:
        send(self._error_reply(frame, code, message, data))
        if not self.count_requests:
            return
        self.requests.failed(frame.command, code)
        if started:
            self.requests.timed(frame.command, perf_counter() - started)

    def _deliver(self, frame: Frame, send: Send, started: float, result: Any, error: RpcError | None) -> None:
        if error is None:
            send(self._result_reply(frame, result))
            if started:
                self.requests.timed(frame.command, perf_counter() - started)
        else:
            self._send_error(frame, send, started, error.code, error.message, error.data)

    def _complete(self, frame: Frame, send: Send, started: float, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            self.log.error("%s: command %d cancelled", self.name, frame.command)
            self._send_error(frame, send, started, INTERNAL_ERROR, MESSAGES[INTERNAL_ERROR])
            return
        exc = future.exception()
        if exc is None:
            send(self._result_reply(frame, future.result()))
            if started:
                self.requests.timed(frame.command, perf_counter() - started)
        elif isinstance(exc, RpcError):
            self._send_error(frame, send, started, exc.code, exc.message, exc.data)
        else:
            self.log.error("%s: command %d failed", self.name, frame.command, exc_info=exc)
            self._send_error(frame, send, started, INTERNAL_ERROR, MESSAGES[INTERNAL_ERROR])

    def _result_reply(self, frame: Frame, result: Any) -> bytes:
        try:
            return encode_reply(frame, self._dumps({"error": None, "result": result, "id": frame.signed_req_id}))
        except (TypeError, ValueError):
            self.log.exception("%s: command %d: cannot encode the result", self.name, frame.command)
            return self._error_reply(frame, INTERNAL_ERROR, MESSAGES[INTERNAL_ERROR])

    def _error_reply(self, frame: Frame, code: int, message: str, data: str | None = None) -> bytes:
        error: dict[str, object] = {"code": code, "message": message}
        if data is not None:
            error["data"] = data
        return encode_reply(frame, self._dumps({"error": error, "result": None, "id": frame.signed_req_id}))


class _StreamConnection(asyncio.Protocol):
    """One accepted stream connection (tcp, unix stream)."""

    __slots__ = ("_closed", "_decoder", "_later", "_out", "_send", "_server", "_transport", "heartbeat_timeout",
                 "last_heartbeat", "peer")

    def __init__(self, server: RpcServer) -> None:
        self._server = server
        self._decoder = FrameDecoder(server.config.max_pkg_size)
        self._transport: asyncio.Transport | None = None
        self._out: list[bytes] | None = None
        self._later: list[bytes] | None = None
        self._closed = False
        self._send: Send = self.send
        self.last_heartbeat = 0.0
        self.heartbeat_timeout = HEARTBEAT_TIMEOUT_DEFAULT
        self.peer = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        server = self._server
        self._transport = cast(asyncio.Transport, transport)
        self.peer = _peer_name(transport)
        self.last_heartbeat = asyncio.get_running_loop().time()
        sock = transport.get_extra_info("socket")
        if sock is not None:
            server._set_socket_options(sock, sock.family in (socket.AF_INET, socket.AF_INET6))
        server._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._server._connections.discard(self)
        if exc is not None:
            self._server.log.info("%s: peer %s: connection lost: %s", self._server.name, self.peer, exc)

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._decoder.feed(data)
        except ProtocolError as exc:
            self._process(exc.frames)
            self._fail(f"decode msg error: {exc}")
            return
        self._process(frames)

    def _process(self, frames: list[Frame]) -> None:
        if not frames:
            return
        server = self._server
        execute = server.execute
        send = self._send
        out: list[bytes] = []
        self._out = out
        started = perf_counter() if server.count_batch(frames) else 0.0
        try:
            for frame in frames:
                if self._closed:
                    return
                if frame.command == 0:
                    self._heartbeat(frame)
                else:
                    execute(frame, send, started)
                    started = 0.0
        finally:
            self._out = None
            if out and not self._closed:
                transport = self._transport
                assert transport is not None
                if len(out) == 1:
                    transport.write(out[0])
                else:
                    transport.writelines(out)
                self._check_backlog(transport)

    def _heartbeat(self, frame: Frame) -> None:
        self.last_heartbeat = asyncio.get_running_loop().time()
        try:
            timeout = parse_heartbeat_body(frame.body)
        except ProtocolError as exc:
            self._fail(f"bad heartbeat ({exc}): {_hexdump(frame.body)}")
            return
        if timeout is not None and timeout != self.heartbeat_timeout:
            self._server.log.info("%s: peer %s: heartbeat timeout %.3f -> %.3f s",
                                  self._server.name, self.peer, self.heartbeat_timeout, timeout)
            self.heartbeat_timeout = timeout
        self.send(encode_heartbeat_reply(frame))

    def send(self, data: bytes) -> None:
        """Queue a reply; replies made outside `data_received` (late ones) leave together at the next turn."""
        out = self._out
        if out is not None:
            out.append(data)
            return
        if self._closed:
            return
        later = self._later
        if later is None:
            self._later = [data]
            asyncio.get_running_loop().call_soon(self._flush_later)
        else:
            later.append(data)

    def _flush_later(self) -> None:
        later, self._later = self._later, None
        if not later or self._closed:
            return
        transport = self._transport
        assert transport is not None
        if len(later) == 1:
            transport.write(later[0])
        else:
            transport.writelines(later)
        self._check_backlog(transport)

    def _check_backlog(self, transport: asyncio.Transport) -> None:
        limit = self._server._write_limit
        if limit and transport.get_write_buffer_size() > limit:
            self._fail(f"no send buf: {transport.get_write_buffer_size()} bytes queued")

    def _fail(self, reason: str) -> None:
        server = self._server
        server.log.error("%s: peer %s: %s, closing", server.name, self.peer, reason)
        self.abort()

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._server._connections.discard(self)
        if self._out:
            self._out.clear()
        if self._transport is not None:
            self._transport.abort()


class _PacketConnection(_StreamConnection):
    """One accepted unix seqpacket connection: every record holds exactly one frame."""

    __slots__ = ()

    def data_received(self, data: bytes) -> None:
        try:
            frame = decode_packet(data, self._server.config.max_pkg_size)
        except ProtocolError as exc:
            self._fail(f"decode msg error: {exc}")
            return
        self._process([frame])


class _DatagramEndpoint(asyncio.DatagramProtocol):
    """A bound udp or unix dgram socket: one frame per datagram, replies to the sender."""

    def __init__(self, server: RpcServer) -> None:
        self._server = server
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self._server._set_socket_options(sock, False)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        server = self._server
        try:
            frame = decode_packet(data, server.config.max_pkg_size)
        except ProtocolError as exc:
            server.log.error("%s: datagram from %s: decode msg error: %s", server.name, addr, exc)
            return
        send = partial(self._send_to, addr)
        if frame.command == 0:
            try:
                parse_heartbeat_body(frame.body)
            except ProtocolError as exc:
                server.log.error("%s: datagram from %s: bad heartbeat (%s): %s",
                                 server.name, addr, exc, _hexdump(frame.body))
                return
            send(encode_heartbeat_reply(frame))
            return
        started = perf_counter() if server.count_batch([frame]) else 0.0
        server.execute(frame, send, started)

    def _send_to(self, addr: Any, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if not addr:
            self._server.log.warning("%s: cannot reply to an unbound datagram sender", self._server.name)
            return
        transport.sendto(data, addr)

    def error_received(self, exc: Exception) -> None:
        self._server.log.warning("%s: datagram socket error: %s", self._server.name, exc)


class _SeqpacketListener:
    """Accepts unix seqpacket connections (asyncio has no server for this socket type)."""

    def __init__(self, server: RpcServer, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        self._server = server
        self._loop = loop
        self._sock = sock
        loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._server.log.error("%s: accept error: %s", self._server.name, exc)
                return
            conn.setblocking(False)
            _SeqpacketTransport(self._loop, conn, _PacketConnection(self._server),
                                self._server.config.max_pkg_size)

    def close(self) -> None:
        if self._sock.fileno() >= 0:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()


class _SeqpacketTransport(asyncio.Transport):
    """A minimal transport over a connected unix seqpacket socket: one record per write/read."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol: asyncio.Protocol,
                 max_record: int) -> None:
        super().__init__({"socket": sock, "peername": "seqpacket", "sockname": sock.getsockname()})
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._max_record = max_record
        self._queue: collections.deque[bytes] = collections.deque()
        self._queued = 0
        self._closing = False
        self._finished = False
        protocol.connection_made(self)
        if not self._closing:
            loop.add_reader(self._fd, self._on_readable)

    def _on_readable(self) -> None:
        try:
            data = self._sock.recv(self._max_record)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._force_close(exc)
            return
        if not data:
            self._force_close(None)
            return
        self._protocol.data_received(data)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            return
        if not self._queue:
            try:
                self._sock.send(data)
                return
            except (BlockingIOError, InterruptedError):
                self._loop.add_writer(self._fd, self._on_writable)
            except OSError as exc:
                self._force_close(exc)
                return
        record = bytes(data)
        self._queue.append(record)
        self._queued += len(record)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def _on_writable(self) -> None:
        queue = self._queue
        while queue:
            try:
                self._sock.send(queue[0])
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._force_close(exc)
                return
            self._queued -= len(queue.popleft())
        self._loop.remove_writer(self._fd)
        if self._closing:
            self._finish(None)

    def get_write_buffer_size(self) -> int:
        return self._queued

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._loop.remove_reader(self._fd)
        if not self._queue:
            self._loop.call_soon(self._finish, None)

    def abort(self) -> None:
        self._force_close(None)

    def _force_close(self, exc: Exception | None) -> None:
        if self._finished:
            return
        self._closing = True
        self._loop.remove_reader(self._fd)
        if self._queue:
            self._loop.remove_writer(self._fd)
            self._queue.clear()
            self._queued = 0
        self._loop.call_soon(self._finish, exc)

    def _finish(self, exc: Exception | None) -> None:
        if self._finished:
            return
        self._finished = True
        self._sock.close()
        self._protocol.connection_lost(exc)
