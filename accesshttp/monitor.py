"""The monitor port (spec/http-api.md §1.1): accepts TCP connections and ignores whatever they send.

It only proves that the accesshttp process is alive; connections stay
open until the peer closes them (or the monitor stops).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from typing import cast

from common.config import ServerConfig


class _Ignore(asyncio.Protocol):
    def __init__(self, open_transports: set[asyncio.Transport]) -> None:
        self._open = open_transports
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream server hands its protocol a stream transport (uvloop's is not an asyncio.Transport subclass)
        self._transport = cast(asyncio.Transport, transport)
        self._open.add(self._transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._open.discard(self._transport)

    def data_received(self, data: bytes) -> None:
        """Input is read and dropped: the monitor port only proves the process is alive (spec)."""


class MonitorServer:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._servers: list[asyncio.Server] = []
        self._open: set[asyncio.Transport] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def protocol() -> _Ignore:
            return _Ignore(self._open)

        for address in self.config.bind:
            if address.kind == "tcp":
                server = await loop.create_server(protocol, address.host or None, address.port, reuse_address=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    if stat.S_ISSOCK(os.stat(address.path).st_mode):
                        os.unlink(address.path)
                server = await loop.create_unix_server(protocol, address.path)
            self._servers.append(server)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for transport in list(self._open):
            transport.abort()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
