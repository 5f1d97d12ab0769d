"""The RPC client the gateways use to reach a backend (ut_rpc_clt.c, spec/rpc.md §4, §5.1, §7).

One `RpcClient` keeps one connection to one of the configured addresses and
multiplexes any number of calls over it.  Each call gets a fresh sequence
number (a u32 counter from 1, skipping 0 and numbers still in use) and a
future; replies are matched by sequence only, late or unknown replies are
dropped.  Requests written in the same loop iteration leave in one write.

Connection management follows the original: connect in the background,
heartbeat every second on stream sockets and reconnect when no heartbeat
reply came for `heartbeat_timeout`, retry after `reconnect_timeout` (also the
connect timeout), and with several addresses move to the next one at once
after a close, waiting only after wrapping round the list.  Calls never queue
while disconnected: they fail with `RpcUnavailable`, and calls in flight on a
connection that closes fail with it at once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import socket
import tempfile
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from common.config import Address, ClientConfig
from common.errors import INTERNAL_ERROR, RpcError
from common.rpc.codec import (
    PKG_REQUEST,
    Frame,
    FrameDecoder,
    ProtocolError,
    clamp_heartbeat_timeout,
    decode_packet,
    encode_frame,
    encode_heartbeat_request,
)

__all__ = ["HEARTBEAT_INTERVAL", "TIMEOUT_RESOLUTION", "RpcClient", "RpcTimeout", "RpcUnavailable"]

HEARTBEAT_INTERVAL = 1.0
TIMEOUT_RESOLUTION = 0.005

_U32_MAX = 0xFFFFFFFF
_NEVER = float("inf")


class RpcUnavailable(ConnectionError):
    """The backend is not connected, or the connection closed before the reply came."""


class RpcTimeout(TimeoutError):
    """No reply arrived within the call's timeout."""


OnReply = Callable[[bytes | None, BaseException | None], None]


class _Answer:
    """A call of `request`: answered by calling its callback where a future would get its result or
    exception (at most once: the call is no longer pending then).  A callback that fails is logged, and
    the connection that delivered the reply goes on."""

    __slots__ = ("_log", "_on_reply")

    def __init__(self, on_reply: OnReply, log: logging.Logger) -> None:
        self._on_reply = on_reply
        self._log = log

    def done(self) -> bool:
        return False

    def set_result(self, body: bytes) -> None:
        try:
            self._on_reply(body, None)
        except Exception:
            self._log.critical("reply callback failed", exc_info=True)

    def set_exception(self, error: BaseException) -> None:
        try:
            self._on_reply(None, error)
        except Exception:
            self._log.critical("reply callback failed", exc_info=True)


class RpcClient:
    """A multiplexing client of one backend, connecting to `config.addr`."""

    def __init__(self, config: ClientConfig, *, name: str | None = None) -> None:
        if not config.addr:
            raise ValueError("rpc client needs at least one address")
        for address in config.addr:
            if address.kind not in ("tcp", "stream", "udp", "dgram"):
                raise ValueError(f"rpc client: address type '{address.kind}' is not supported")
        self.config = config
        self.name = name or config.name
        self.log = logging.getLogger(f"rpc.client.{self.name}")
        self._reconnect_timeout = config.reconnect_timeout if config.reconnect_timeout > 0 else 1.0
        self._heartbeat_timeout = clamp_heartbeat_timeout(config.heartbeat_timeout) \
            if config.heartbeat_timeout > 0 else 3.0
        self._heartbeat_frame = encode_heartbeat_request(self._heartbeat_timeout)
        self._write_limit = config.buf_limit * config.max_pkg_size
        self._pending: dict[int, asyncio.Future[bytes] | _Answer] = {}
        self._sequence = 0
        self._connection: _Connection | None = None
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._heartbeat_timer: asyncio.TimerHandle | None = None
        self._deadlines: dict[float, collections.deque[tuple[float, int]]] = {}
        self._sweep_timer: asyncio.TimerHandle | None = None
        self._sweep_at = _NEVER
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False

    @property
    def connected(self) -> bool:
        return self._connection is not None

    @property
    def address(self) -> Address | None:
        """The address of the current connection, None while disconnected."""
        connection = self._connection
        return connection.address if connection is not None else None

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    async def start(self) -> None:
        """Start connecting in the background; never fails because the backend is down."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._closing = False
        self._task = self._loop.create_task(self._run(), name=f"rpc-client-{self.name}")
        self._heartbeat_timer = self._loop.call_later(HEARTBEAT_INTERVAL, self._on_heartbeat_timer)

    async def close(self) -> None:
        """Stop reconnecting, close the connection and fail every call in flight."""
        self._closing = True
        if self._heartbeat_timer is not None:
            self._heartbeat_timer.cancel()
            self._heartbeat_timer = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        connection = self._connection
        if connection is not None:
            connection.close()
            self._on_disconnect(connection)
        self._fail_pending()
        if self._sweep_timer is not None:
            self._sweep_timer.cancel()
            self._sweep_timer = None
        self._sweep_at = _NEVER
        self._deadlines.clear()

    async def wait_connected(self, timeout: float) -> bool:
        """Wait until connected; False if that did not happen within `timeout` seconds."""
        if self._connection is not None:
            return True
        try:
            async with asyncio.timeout(timeout):
                await self._connected.wait()
        except TimeoutError:
            return False
        return self._connection is not None

    async def call(self, command: int, body: bytes, *, req_id: int = 0, timeout: float) -> bytes:
        """Send one request and return the raw reply body.

        RpcUnavailable when not connected or when the connection closes
        before the reply; RpcTimeout when no reply came within `timeout` s.
        """
        sequence, future = self._send(command, body, req_id, timeout)
        assert isinstance(future, asyncio.Future)
        try:
            return await future
        except asyncio.CancelledError:
            self._pending.pop(sequence, None)
            raise

    def request(self, command: int, body: bytes, on_reply: OnReply, *, req_id: int = 0, timeout: float) -> None:
        """Send one request now; `on_reply(body, None)` with its raw reply body, or `on_reply(None, error)`
        with the RpcUnavailable or RpcTimeout `call` would raise, once, when that happens.

        For callers that answer from a callback rather than a task (the HTTP
        gateway): no future and no loop iteration between the reply and its
        answer.  RpcUnavailable at once (raised) when not connected.
        """
        self._send(command, body, req_id, timeout, _Answer(on_reply, self.log))

    def _send(self, command: int, body: bytes, req_id: int, timeout: float,
              answer: _Answer | None = None) -> tuple[int, asyncio.Future[bytes] | _Answer]:
        connection = self._connection
        if connection is None:
            raise RpcUnavailable(f"{self.name} is not connected")
        pending = self._pending
        sequence = self._sequence
        while True:
            sequence = sequence + 1 if sequence < _U32_MAX else 1
            if sequence not in pending:
                break
        self._sequence = sequence
        frame = encode_frame(command, PKG_REQUEST, sequence, req_id, body)
        loop = connection.loop
        future = loop.create_future() if answer is None else answer
        pending[sequence] = future
        connection.send(frame)
        deadline = loop.time() + timeout
        queue = self._deadlines.get(timeout)
        if queue is None:
            queue = self._deadlines[timeout] = collections.deque()
        queue.append((deadline, sequence))
        if deadline < self._sweep_at:
            self._arm_sweep(loop, deadline)
        return sequence, future

    async def call_json(self, command: int, params: list[Any], *, req_id: int = 0, timeout: float) -> Any:
        """Call with a JSON params list; the reply's `result`, or RpcError from its `error` object."""
        raw = await self.call(command, orjson.dumps(params), req_id=req_id, timeout=timeout)
        try:
            reply = orjson.loads(raw)
            error = reply["error"]
            if error is None:
                return reply["result"]
            code, message = error["code"], error["message"]
            data = error.get("data")
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.log.error("%s: malformed reply to command %d: %r", self.name, command, raw[:256])
            raise RpcError(INTERNAL_ERROR) from None
        raise RpcError(code, message, data if type(data) is str else None)

    def _arm_sweep(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._sweep_timer is not None:
            self._sweep_timer.cancel()
        self._sweep_at = when
        self._sweep_timer = loop.call_at(when, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Fail the calls whose deadline passed, then wake up again for the earliest one left.

        Each timeout value has its own queue of (deadline, sequence), in
        deadline order because the clock only moves forward.  Entries of calls
        that already completed are skipped: their sequence is no longer
        pending, and a sequence is handed out again only after the u32
        counter wraps, so an entry cannot hit a newer call within its timeout.
        """
        self._sweep_timer = None
        self._sweep_at = _NEVER
        now = loop.time()
        pending = self._pending
        earliest = _NEVER
        for timeout, queue in list(self._deadlines.items()):
            while queue and queue[0][0] <= now:
                future = pending.pop(queue.popleft()[1], None)
                if future is not None and not future.done():
                    future.set_exception(RpcTimeout(f"{self.name}: no reply within {timeout} s"))
            if queue:
                earliest = min(earliest, queue[0][0])
            else:
                del self._deadlines[timeout]
        if earliest != _NEVER:
            self._arm_sweep(loop, max(earliest, now + TIMEOUT_RESOLUTION))

    def _on_reply(self, frame: Frame) -> None:
        future = self._pending.pop(frame.sequence, None)
        if future is not None and not future.done():
            future.set_result(frame.body)

    def _fail_pending(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending = {}
        for future in pending.values():
            if not future.done():
                future.set_exception(RpcUnavailable(f"{self.name}: connection closed"))

    def _on_disconnect(self, connection: _Connection) -> None:
        if self._connection is connection:
            self._connection = None
            self._connected.clear()
            self._fail_pending()

    def _on_heartbeat_timer(self) -> None:
        loop = self._loop
        assert loop is not None
        self._heartbeat_timer = loop.call_later(HEARTBEAT_INTERVAL, self._on_heartbeat_timer)
        connection = self._connection
        if connection is None or not connection.stream:
            return
        if loop.time() - connection.last_heartbeat > self._heartbeat_timeout:
            self.log.error("%s: peer %s: heartbeat timeout", self.name, connection.address)
            connection.heartbeat_expired = True
            connection.close()
            return
        connection.send(self._heartbeat_frame)

    async def _run(self) -> None:
        addresses = self.config.addr
        count = len(addresses)
        index = 0
        while not self._closing:
            address = addresses[index]
            retry_now = False
            try:
                async with asyncio.timeout(self._reconnect_timeout):
                    connection = await self._open(address)
            except TimeoutError:
                self.log.error("%s: connect to %s timed out", self.name, address)
                retry_now = True
            except OSError as exc:
                self.log.error("%s: connect to %s failed: %s", self.name, address, exc)
            else:
                if not connection.closed.done():
                    self._connection = connection
                    self._connected.set()
                    self.log.info("%s: connected to %s", self.name, address)
                    await connection.closed
                    self._on_disconnect(connection)
                self.log.error("%s: connection to %s closed", self.name, address)
                retry_now = connection.heartbeat_expired
            if count > 1:
                index += 1
                if index < count:
                    retry_now = True
                else:
                    index = 0
            if not retry_now and not self._closing:
                await asyncio.sleep(self._reconnect_timeout)

    async def _open(self, address: Address) -> _Connection:
        loop = asyncio.get_running_loop()
        kind = address.kind
        protocol: _Connection
        if kind == "tcp":
            _, protocol = await loop.create_connection(lambda: _StreamConnection(self, address),
                                                       address.host, address.port)
        elif kind == "stream":
            _, protocol = await loop.create_unix_connection(lambda: _StreamConnection(self, address),
                                                            address.path)
        elif kind == "udp":
            _, protocol = await loop.create_datagram_endpoint(lambda: _DatagramConnection(self, address),
                                                              remote_addr=(address.host, address.port))
        else:
            sock = _bound_unix_dgram_socket(address.path)
            try:
                _, protocol = await loop.create_datagram_endpoint(
                    lambda: _DatagramConnection(self, address, sock.getsockname()), sock=sock)
            except BaseException:
                _unlink_quietly(sock.getsockname())
                sock.close()
                raise
        return protocol


def _bound_unix_dgram_socket(peer_path: str) -> socket.socket:
    """A unix dgram socket bound to a fresh temporary path (so the server can answer) and connected."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = os.path.join(tempfile.gettempdir(), f"dgram{uuid.uuid4().hex[:10]}.sock")
    try:
        sock.bind(path)
        sock.connect(peer_path)
        sock.setblocking(False)
    except BaseException:
        _unlink_quietly(path)
        sock.close()
        raise
    return sock


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


class _Connection:
    """What the client needs of a connection, stream or datagram."""

    __slots__ = ("_client", "_out", "_transport", "address", "closed", "heartbeat_expired", "last_heartbeat",
                 "loop", "stream")

    def __init__(self, client: RpcClient, address: Address, stream: bool) -> None:
        self._client = client
        self.address = address
        self.stream = stream
        self.loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = self.loop.create_future()
        self.heartbeat_expired = False
        self.last_heartbeat = self.loop.time()
        self._transport: Any = None
        self._out: list[bytes] = []

    def send(self, data: bytes) -> None:
        out = self._out
        out.append(data)
        if len(out) == 1:
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        out = self._out
        self._out = []
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self._write(transport, out)

    def _write(self, transport: Any, out: list[bytes]) -> None:
        raise NotImplementedError

    def _lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._out = []
        if exc is not None:
            self._client.log.error("%s: connection to %s lost: %s", self._client.name, self.address, exc)
        self._client._on_disconnect(self)
        if not self.closed.done():
            self.closed.set_result(None)

    def close(self) -> None:
        transport = self._transport
        if transport is not None:
            transport.abort()


class _StreamConnection(_Connection, asyncio.Protocol):
    __slots__ = ("_decoder",)

    def __init__(self, client: RpcClient, address: Address) -> None:
        super().__init__(client, address, True)
        self._decoder = FrameDecoder(client.config.max_pkg_size)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self.last_heartbeat = self.loop.time()
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(exc)

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._decoder.feed(data)
        except ProtocolError as exc:
            self._deliver(exc.frames)
            client = self._client
            client.log.error("%s: peer %s: decode msg error: %s", client.name, self.address, exc)
            self.close()
            return
        self._deliver(frames)

    def _deliver(self, frames: list[Frame]) -> None:
        on_reply = self._client._on_reply
        for frame in frames:
            if frame.command == 0:
                self.last_heartbeat = self.loop.time()
            else:
                on_reply(frame)

    def _write(self, transport: Any, out: list[bytes]) -> None:
        if len(out) == 1:
            transport.write(out[0])
        else:
            transport.writelines(out)
        limit = self._client._write_limit
        if limit and transport.get_write_buffer_size() > limit:
            client = self._client
            client.log.error("%s: peer %s: no send buf, closing", client.name, self.address)
            self.close()


class _DatagramConnection(_Connection, asyncio.DatagramProtocol):
    __slots__ = ("_local_path",)

    def __init__(self, client: RpcClient, address: Address, local_path: str = "") -> None:
        super().__init__(client, address, False)
        self._local_path = local_path

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self._local_path:
            _unlink_quietly(self._local_path)
        self._lost(exc)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        client = self._client
        try:
            frame = decode_packet(data, client.config.max_pkg_size)
        except ProtocolError as exc:
            client.log.error("%s: datagram from %s: decode msg error: %s", client.name, self.address, exc)
            return
        if frame.command != 0:
            client._on_reply(frame)

    def error_received(self, exc: Exception) -> None:
        self._client.log.warning("%s: datagram socket error: %s", self._client.name, exc)

    def _write(self, transport: Any, out: list[bytes]) -> None:
        for data in out:
            transport.sendto(data)

