"""alertcenter's listeners: UDP/TCP (and unix dgram/stream) sockets that hand alert messages on.

Every address of `svr.bind` is served: datagram sockets (`udp`, `dgram`)
split each datagram into lines, stream sockets (`tcp`, `stream`) read lines
from each connection and close it on a protocol error (see `framing`).
Each message is logged at INFO (``alert message: <text>``) and given to the
sink, which never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
from collections.abc import Callable
from typing import Any, cast

from common.config import Address, ServerConfig

from .framing import FramingError, LineReader, split_datagram

log = logging.getLogger(__name__)

Sink = Callable[[bytes], None]


class AlertListener:
    """Listens on every address of `config.bind` and passes each valid message to `sink`."""

    def __init__(self, config: ServerConfig, sink: Sink) -> None:
        self.config = config
        self.sink = sink
        self.received = 0
        self.rejected = 0
        self.bound: list[Address] = []
        self._servers: list[asyncio.AbstractServer] = []
        self._transports: list[asyncio.BaseTransport] = []
        self._connections: set[asyncio.Transport] = set()
        self._unix_paths: list[str] = []

    def deliver(self, message: bytes) -> None:
        self.received += 1
        log.info("alert message: %s", message.decode("utf-8", "backslashreplace"))
        self.sink(message)

    async def start(self) -> None:
        """Bind every address; on failure nothing stays bound and the OSError is raised."""
        try:
            for address in self.config.bind:
                await self._bind(address)
        except BaseException:
            await self.close()
            raise

    async def _bind(self, address: Address) -> None:
        loop = asyncio.get_running_loop()
        if address.kind == "udp":
            transport, _ = await loop.create_datagram_endpoint(lambda: _DatagramReceiver(self),
                                                               local_addr=(address.host, address.port))
            self._transports.append(transport)
            host, port = transport.get_extra_info("sockname")[:2]
            self.bound.append(Address("udp", host=host, port=port))
        elif address.kind == "tcp":
            server = await loop.create_server(lambda: _StreamReceiver(self), address.host, address.port,
                                              reuse_address=True, backlog=socket.SOMAXCONN)
            self._servers.append(server)
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                self.bound.append(Address("tcp", host=host, port=port))
        elif address.kind == "dgram":
            sock = self._unix_socket(address.path, socket.SOCK_DGRAM)
            transport, _ = await loop.create_datagram_endpoint(lambda: _DatagramReceiver(self), sock=sock)
            self._transports.append(transport)
            self.bound.append(address)
        elif address.kind == "stream":
            sock = self._unix_socket(address.path, socket.SOCK_STREAM)
            self._servers.append(await loop.create_unix_server(lambda: _StreamReceiver(self), sock=sock,
                                                               backlog=socket.SOMAXCONN))
            self.bound.append(address)
        else:
            raise ValueError(f"alertcenter cannot listen on address type '{address.kind}'")
        log.info("listening on %s", self.bound[-1])

    def _unix_socket(self, path: str, sock_type: int) -> socket.socket:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, sock_type)
        try:
            sock.bind(path)
            self._unix_paths.append(path)
            os.chmod(path, stat.S_IRWXU | stat.S_IRWXG | stat.S_IRWXO)
            if sock_type == socket.SOCK_STREAM:
                sock.listen(socket.SOMAXCONN)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    def set_socket_options(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is None:
            return
        try:
            if self.config.read_mem > 0:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.config.read_mem)
            if self.config.write_mem > 0:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.config.write_mem)
        except OSError as exc:
            log.warning("cannot set socket buffer sizes: %s", exc)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for transport in self._transports:
            transport.close()
        for connection in list(self._connections):
            connection.abort()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        self._transports.clear()
        for path in self._unix_paths:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._unix_paths.clear()


class _DatagramReceiver(asyncio.DatagramProtocol):
    def __init__(self, listener: AlertListener) -> None:
        self._listener = listener

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._listener.set_socket_options(transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        listener = self._listener
        max_size = listener.config.max_pkg_size
        if len(data) > max_size:
            log.warning("datagram of %d bytes from %s cut to %d", len(data), addr, max_size)
        messages, invalid = split_datagram(data, max_size)
        if invalid:
            listener.rejected += invalid
            log.error("datagram from %s: %d invalid line(s): %r", addr, invalid, data[:64])
        for message in messages:
            listener.deliver(message)

    def error_received(self, exc: Exception) -> None:
        log.warning("datagram socket error: %s", exc)


class _StreamReceiver(asyncio.Protocol):
    def __init__(self, listener: AlertListener) -> None:
        self._listener = listener
        self._reader = LineReader(listener.config.max_pkg_size)
        self._transport: asyncio.Transport | None = None
        self._peer = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._peer = str(transport.get_extra_info("peername") or "unix")
        self._listener._connections.add(self._transport)
        self._listener.set_socket_options(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._listener._connections.discard(self._transport)

    def data_received(self, data: bytes) -> None:
        listener = self._listener
        try:
            messages = self._reader.feed(data)
        except FramingError as exc:
            for message in exc.messages:
                listener.deliver(message)
            listener.rejected += 1
            log.error("connection %s: %s, closing", self._peer, exc)
            if self._transport is not None:
                self._transport.abort()
            return
        for message in messages:
            listener.deliver(message)

    def eof_received(self) -> bool:
        message = self._reader.finish()
        if message is not None:
            self._listener.deliver(message)
        return False
