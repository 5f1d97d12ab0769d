"""The `monitor` port (§1): accepts connections and discards what they send, for load-balancer checks."""

from __future__ import annotations

import asyncio
import logging

from common.config import ServerConfig
from common.workers import listening_socket, unlink_unix_paths

log = logging.getLogger(__name__)


class _Discard(asyncio.Protocol):
    def data_received(self, data: bytes) -> None:
        """Health checks only need the connection to be accepted; their bytes mean nothing."""


class MonitorServer:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._servers: list[asyncio.AbstractServer] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for address in self.config.bind:
            sock = listening_socket(address)
            if address.kind == "tcp":
                server = await loop.create_server(_Discard, sock=sock)
            else:
                server = await loop.create_unix_server(_Discard, sock=sock)
            self._servers.append(server)
            log.info("monitor listening on %s", address)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        unlink_unix_paths(self.config.bind)
