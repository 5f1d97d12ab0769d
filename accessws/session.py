"""One client connection: its authentication state and a bounded output path.

Every byte the server sends to a client — replies and pushes — goes through
`Session.push`, which writes ready-made text frames straight to the socket
transport (server frames are unmasked, so one encoded push serves every
subscriber).  When the bytes waiting in the transport exceed the session's
output limit (`svr.buf_limit` blocks of `svr.max_pkg_size` bytes, as the
original), the client is not reading: the connection is aborted at once, so
a stalled client can never make the server's memory grow without bound.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from common.metrics import metrics_for

from .envelope import text_frame

log = logging.getLogger(__name__)

OPEN = State.OPEN

_METRICS = metrics_for("accessws")
FRAMES_SENT = _METRICS.counter("frames_sent", "WebSocket messages written to clients (replies and pushes)")
SLOW_READERS_DROPPED = _METRICS.counter("slow_readers_dropped", "Clients dropped because their unread output "
                                        "passed the limit")


class TrackedConnection(ServerConnection):
    """A websockets server connection that remembers when the client last sent anything (§2.3)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_activity = self.loop.time()

    def data_received(self, data: bytes) -> None:
        self.last_activity = self.loop.time()
        super().data_received(data)


class Session:
    """The per-connection state of §4: auth flag, user id and source, plus the output path."""

    __slots__ = ("auth", "closed", "connection", "output_limit", "peer", "source", "tasks", "transport",
                 "user_id")

    def __init__(self, connection: TrackedConnection, output_limit: int, peer: str) -> None:
        self.connection = connection
        self.transport: asyncio.Transport = connection.transport
        self.output_limit = output_limit
        self.peer = peer
        self.auth = False
        self.user_id = 0
        self.source = ""
        self.closed = False
        self.tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"<session {self.peer} user {self.user_id}>"

    def send(self, payload: bytes) -> None:
        """Send one JSON message (a reply)."""
        self.push(text_frame(payload))

    def push(self, frame: bytes) -> None:
        """Write an encoded frame; drop the client if its unread output passes the limit."""
        if self.closed:
            return
        transport = self.transport
        if transport.is_closing() or self.connection.protocol.state is not OPEN:
            return
        transport.write(frame)
        FRAMES_SENT.inc()
        if transport.get_write_buffer_size() > self.output_limit:
            SLOW_READERS_DROPPED.inc()
            log.warning("%s does not read: %d bytes waiting, limit %d; dropping it", self.peer,
                        transport.get_write_buffer_size(), self.output_limit)
            self.abort()

    def abort(self) -> None:
        self.closed = True
        self.transport.abort()
