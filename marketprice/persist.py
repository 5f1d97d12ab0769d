"""When marketprice talks to Redis: loading at start, the periodic flush, retention trimming.

Redis being away never stops the daemon: loading is retried with a growing
delay, a failed flush is logged at FATAL (which also alerts) and its data is
written by the next one, and trimming waits for the next day.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TypeVar

from redis.exceptions import RedisError

from .market import Market
from .state import Markets
from .store import KlineStore

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)
MEMORY_PRUNE_INTERVAL = 3600.0
REDIS_PRUNE_INTERVAL = 86400.0
REDIS_FAULTS = (RedisError, OSError, TimeoutError)


class Stopped(Exception):
    """The daemon was asked to stop while waiting for Redis."""


async def with_retries(action: Callable[[], Awaitable[T]], what: str, stopping: asyncio.Event | None = None) -> T:
    """Run `action` until it does not fail with a Redis fault; FATAL log on the first failure.

    Raises `Stopped` when `stopping` is set while waiting to try again.
    """
    attempt = 0
    while True:
        try:
            result = await action()
        except REDIS_FAULTS as exc:
            delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
            report = log.critical if attempt == 0 else log.error
            report("%s failed (try %d): %r; retrying in %.1f s", what, attempt + 1, exc, delay)
            attempt += 1
            if stopping is None:
                await asyncio.sleep(delay)
                continue
            try:
                await asyncio.wait_for(stopping.wait(), delay)
            except TimeoutError:
                continue
            raise Stopped
        if attempt:
            log.warning("%s succeeded after %d failed tries", what, attempt)
        return result


class Persister:
    """Loads the markets, then keeps Redis up to date with them."""

    def __init__(self, store: KlineStore, markets: Markets, flush_interval: float, apply_lock: asyncio.Lock) -> None:
        self.store = store
        self.markets = markets
        self.flush_interval = flush_interval
        self.apply_lock = apply_lock
        self._lock = asyncio.Lock()

    async def load(self, names: list[str], stopping: asyncio.Event) -> None:
        """Load the listed markets (in order) and the stored progress, retrying while Redis is away."""
        async def load_all() -> None:
            now = int(time.time())
            loaded = []
            for name in names:
                market = Market(name, self.markets.open_rule)
                await self.store.load_market(market, now)
                loaded.append(market)
            progress = await self.store.load_progress()
            self.markets.by_name.update((m.name, m) for m in loaded)
            self.markets.progress = progress

        await with_retries(load_all, "loading the markets from redis", stopping)
        progress = self.markets.progress
        log.info("%d markets loaded; last applied deal %d at offset %d", len(names), progress.deal_id,
                 progress.offset)

    async def add_market(self, name: str, first_price: Decimal) -> None:
        """A market first seen in a deal: loaded from Redis like the listed ones, last = its first price."""
        async def load_one() -> Market:
            market = Market(name, self.markets.open_rule)
            await self.store.load_market(market, int(time.time()))
            return market

        market = await with_retries(load_one, f"loading new market {name} from redis")
        if market.last.is_zero():
            market.last = first_price
        self.markets.by_name[name] = market
        log.info("market %s first seen in the deals, added", name)

    async def add_listed(self, names: list[str]) -> None:
        """Markets of a market list read again (added to the exchange live): loaded from Redis once each
        (a Redis fault is raised, nothing is added), then added unless a deal added them meanwhile."""
        markets = self.markets
        new = [name for name in names if name not in markets]
        if not new:
            return
        now = int(time.time())
        loaded = []
        for name in new:
            market = Market(name, markets.open_rule)
            await self.store.load_market(market, now)
            loaded.append(market)
        async with self.apply_lock:
            for market in loaded:
                if market.name in markets:
                    continue
                markets.by_name[market.name] = market
                if market.last.is_zero():
                    markets.unpriced.add(market.name)
                log.info("market %s found in the market list, added", market.name)

    async def flush(self) -> bool:
        """Write what changed to Redis now; False (and a FATAL log) when that failed."""
        async with self._lock:
            started = time.monotonic()
            try:
                written = await self.store.flush(self.markets, self.apply_lock)
            except REDIS_FAULTS as exc:
                log.critical("flush_market fail: %r", exc)
                return False
            if written:
                log.debug("flushed %d markets in %.3f s", written, time.monotonic() - started)
            return True

    async def flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            await self.flush()

    async def prune_memory_forever(self) -> None:
        retention = self.store.retention
        while True:
            await asyncio.sleep(MEMORY_PRUNE_INTERVAL)
            now = int(time.time())
            cutoffs = retention.cutoffs(now)
            dropped = sum(market.prune(cutoffs) for market in self.markets)
            log.info("dropped %d buckets past retention from memory", dropped)

    async def prune_redis_forever(self) -> None:
        while True:
            await asyncio.sleep(REDIS_PRUNE_INTERVAL)
            try:
                deleted = await self.store.prune(self.markets, int(time.time()))
            except REDIS_FAULTS as exc:
                log.critical("trimming redis failed: %r", exc)
                continue
            log.info("deleted %d buckets past retention from redis", deleted)
