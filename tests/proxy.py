"""A TCP proxy on loopback whose link can be cut and restored: a database or broker "going away".

It runs its own event loop in a thread, so tests of any kind can use it.
`cut()` closes every proxied connection and refuses new ones (connections are
accepted and closed at once, as a host whose service stopped would reset them);
`mute()` goes on forwarding requests but drops every answer (a service that
does the work and whose replies are lost); `restore()` forwards again.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support import Broker, free_port


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._open = True
        self._muted = False

    def start(self) -> TcpProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._open:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer, answers=True))
        self._writers.difference_update((writer, up_writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answers: bool = False) -> None:
        try:
            while data := await reader.read(65536):
                if answers and self._muted:
                    continue
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.transport.abort()

    def cut(self) -> None:
        async def _cut() -> None:
            self._open = False
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()

        asyncio.run_coroutine_threadsafe(_cut(), self._loop).result(10)

    def mute(self) -> None:
        async def _mute() -> None:
            self._muted = True

        asyncio.run_coroutine_threadsafe(_mute(), self._loop).result(10)

    def restore(self) -> None:
        async def _restore() -> None:
            self._open = True
            self._muted = False

        asyncio.run_coroutine_threadsafe(_restore(), self._loop).result(10)

    def stop(self) -> None:
        async def _stop() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()

        asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@contextmanager
def proxied_broker() -> Iterator[tuple[Broker, TcpProxy]]:
    """A broker reached through a TCP proxy (advertised on the proxy's port), so a test can cut it."""
    proxy = TcpProxy(0)
    broker = Broker(advertise_port=proxy.port).start()
    proxy.target = ("127.0.0.1", broker.port)
    proxy.start()
    try:
        yield broker, proxy
    finally:
        proxy.stop()
        broker.stop()
