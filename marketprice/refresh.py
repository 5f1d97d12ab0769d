"""Markets added to the exchange while marketprice runs (`config.update_market`), learned when they are named.

A deal of a market marketprice does not know adds that market before the
deal is applied (consumer.py), so no deal is lost.  A *query* for a market it
does not know — a client asking right after the market was added, before its
first deal — first reads the market list again: the request waits for a read
that started after it arrived, and is then answered as if the market had been
listed at start (loaded from Redis), or with "invalid argument" when the list
does not have it either.  The engine answers `config.update_market` only once
the market is in its list, so a query sent after that answer always finds it.

Reads are shared: at most one is in flight and they start at most every
`min_interval` seconds, so clients naming markets that do not exist cost the
engine at most a few `market.list` calls a second, and a query for an unknown
market waits at most about `min_interval` plus one read.  A read that fails
(the engine or accesshttp away, Redis away) is raised to the waiting queries,
which answer "internal error": the market may well exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

MIN_INTERVAL = 0.25

ReadNames = Callable[[], Awaitable[list[str]]]
AddListed = Callable[[list[str]], Awaitable[None]]


def _retrieve(future: asyncio.Future[None]) -> None:
    """Mark a failed read's exception as seen even if every waiter went away."""
    if not future.cancelled():
        future.exception()


class MarketRefresher:
    """Reads the market list again when asked, and adds the markets it did not know (`add_listed`)."""

    def __init__(self, read_names: ReadNames, add_listed: AddListed, min_interval: float = MIN_INTERVAL) -> None:
        self.read_names = read_names
        self.add_listed = add_listed
        self.min_interval = min_interval
        self.reads = 0
        self._next: asyncio.Future[None] | None = None
        self._lock = asyncio.Lock()
        self._started_at = -math.inf
        self._tasks: set[asyncio.Task[None]] = set()

    async def refreshed(self) -> None:
        """Return once a read of the market list that started after this call was applied.

        Raises what the read raised (MarketListError, a Redis fault) when it failed.
        """
        future = self._next
        if future is None:
            loop = asyncio.get_running_loop()
            future = self._next = loop.create_future()
            future.add_done_callback(_retrieve)
            task = loop.create_task(self._read(future), name="market-list-refresh")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await asyncio.shield(future)

    async def _read(self, future: asyncio.Future[None]) -> None:
        try:
            async with self._lock:
                loop = asyncio.get_running_loop()
                wait = self._started_at + self.min_interval - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if self._next is future:
                    self._next = None  # who asks from now on waits for the next read
                self._started_at = loop.time()
                self.reads += 1
                try:
                    await self.add_listed(await self.read_names())
                except Exception as exc:
                    log.error("reading the market list again failed: %s", exc)
                    future.set_exception(exc)
                else:
                    future.set_result(None)
        finally:
            if self._next is future:
                self._next = None
            if not future.done():
                future.cancel()

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
