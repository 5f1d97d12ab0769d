"""Redis persistence of the market data (spec/marketprice.md §5): keys, load, flush, retention.

Keys and value formats are the original's (a `key_prefix`, empty by default,
can be put in front of every key so that tests can share one Redis):

    k:<market>:1s|1m|1h|1d   hash   bucket start -> '["open", "close", "high", "low", "volume", "deal"]'
    k:<market>:deals         list   deal JSON objects, newest at the head, at most 10 000
    k:<market>:last          string sci(last price), unstripped
    k:offset                 string Kafka offset of the message of the last applied deal

plus one key of the port, ``k:last_deal_id`` (the id of the last applied
deal), which lets a restart skip deals it has already counted.

A flush writes everything that changed *and* the offset in one MULTI/EXEC
transaction, so Redis always holds the state after some exact prefix of the
deal stream: a crash or a failed write can never leave candles counted
whose offset was not saved (the original writes key by key and double counts
after a partial failure).  What a failed flush took is put back and written
by the next one (the original drops dirty buckets whose write failed).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from redis.exceptions import ResponseError

from common.decimals import sci

from .flush_plan import LAST_DEAL_ID_KEY, OFFSET_KEY, build_plan, new_plan
from .kline import Candle, parse_candle_text, stored_decimal
from .market import DEALS_MAX, FAMILY_SUFFIXES, SIDE_ASK, SIDE_BID, DealRecord, Market
from .redis_tx import run_transaction
from .state import Markets, Progress, Retention

log = logging.getLogger(__name__)

PRUNE_CHUNK = 1000


def stored_deal(text: bytes) -> DealRecord | None:
    """A `k:<market>:deals` element read back; None when it is not a deal object."""
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if type(obj) is not dict:
        return None
    deal_id, at, kind = obj.get("id"), obj.get("time"), obj.get("type")
    price, amount = stored_decimal(obj.get("price")), stored_decimal(obj.get("amount"))
    if type(deal_id) is not int or price is None or amount is None:
        return None
    if type(at) is not float and type(at) is not int:
        return None
    if kind not in ("sell", "buy"):
        return None
    return deal_id, float(at), price, amount, SIDE_ASK if kind == "sell" else SIDE_BID


def stored_int(value: bytes | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


class KlineStore:
    """Loads and saves the markets in Redis (`redis` is a `redis.asyncio.Redis`)."""

    def __init__(self, redis: Any, retention: Retention, key_prefix: str = "") -> None:
        self.redis = redis
        self.retention = retention
        self.prefix = key_prefix
        self._saved = Progress()

    def key(self, name: str) -> str:
        return self.prefix + name

    def market_key(self, market: str, suffix: str) -> str:
        return f"{self.prefix}k:{market}:{suffix}"

    async def load_progress(self) -> Progress:
        """The stored offset and last deal id (offset -1 and id 0 when there are none)."""
        offset_raw, deal_raw = await self.redis.mget(self.key(OFFSET_KEY), self.key(LAST_DEAL_ID_KEY))
        offset, deal_id = stored_int(offset_raw), stored_int(deal_raw)
        if offset_raw is not None and offset is None:
            log.error("%s holds %r, not an offset; reading the deals from the start", OFFSET_KEY, offset_raw)
        if deal_raw is not None and deal_id is None:
            log.error("%s holds %r, not a deal id; ignoring it", LAST_DEAL_ID_KEY, deal_raw)
        progress = Progress(offset if offset is not None else -1, deal_id if deal_id is not None else 0)
        self._saved = Progress(progress.offset, progress.deal_id)
        return progress

    async def load_market(self, market: Market, now: int) -> None:
        """Fill a fresh `market` from Redis: buckets within retention, the deal list, the last price."""
        pipe = self.redis.pipeline(transaction=False)
        for suffix in FAMILY_SUFFIXES:
            pipe.hgetall(self.market_key(market.name, suffix))
        pipe.lrange(self.market_key(market.name, "deals"), 0, DEALS_MAX - 1)
        pipe.get(self.market_key(market.name, "last"))
        *hashes, deals, last = await pipe.execute()
        cutoffs = (*self.retention.cutoffs(now), None)
        bad = 0
        for buckets, stored, cutoff in zip(market.families, hashes, cutoffs, strict=True):
            bad += self._load_buckets(buckets, stored, cutoff)
        records = [stored_deal(text) for text in deals]
        bad += sum(1 for record in records if record is None)
        market.deals.extend(record for record in records if record is not None)
        market.flushed_deal_id = market.deals[0][0] if market.deals else 0
        if last is not None:
            price = stored_decimal(last.decode(errors="replace"))
            if price is None:
                log.error("market %s: %s holds %r, not a price", market.name,
                          self.market_key(market.name, "last"), last)
            else:
                market.last = price
        if bad:
            log.error("market %s: %d unreadable values in Redis were skipped", market.name, bad)
        log.info("market %s loaded: %d s, %d min, %d h, %d day buckets, %d deals, last %s", market.name,
                 len(market.sec), len(market.min), len(market.hour), len(market.day), len(market.deals),
                 sci(market.last))

    @staticmethod
    def _load_buckets(buckets: dict[int, Candle], stored: dict[bytes, bytes], cutoff: int | None) -> int:
        bad = 0
        for field, value in stored.items():
            start = stored_int(field)
            if start is None:
                bad += 1
                continue
            if cutoff is not None and start < cutoff:
                continue
            candle = parse_candle_text(value)
            if candle is None:
                bad += 1
                continue
            buckets[start] = candle
        return bad

    async def flush(self, markets: Markets, apply_lock: asyncio.Lock) -> int:
        """Write what changed since the last flush, and the progress, in one transaction.

        The values are taken while holding `apply_lock` (the consumer applies
        no deal meanwhile, so they match the progress), then sent.  Returns
        the number of markets written; on failure what was taken is marked
        changed again and the exception is raised.
        """
        async with apply_lock:
            plan = new_plan(markets)
            try:
                await build_plan(plan, markets, self.prefix)
            except BaseException:
                plan.give_back()
                raise
        if not plan.changes and plan.progress == self._saved:
            return 0
        try:
            results = await run_transaction(self.redis, plan.chunks)
        except BaseException:
            plan.give_back()
            raise
        failed = [r for r in results if isinstance(r, ResponseError)]
        if failed:
            # Redis does not roll back the other commands of a transaction: report and go on
            log.critical("flush: %d commands failed inside the transaction, first: %s", len(failed), failed[0])
        plan.committed()
        self._saved = plan.progress
        return len(plan.changes)

    async def prune(self, markets: Markets, now: int) -> int:
        """Delete 1 s / 1 min / 1 h fields past retention (day buckets are kept); how many were deleted.

        Fields are walked with HSCAN, a page at a time, so a large hash does
        not hold up the event loop; unreadable field names count as old (the
        original's `strtol` reads them as 0).
        """
        deleted = 0
        cutoffs = self.retention.cutoffs(now)
        for market in list(markets):
            for suffix, cutoff in zip(FAMILY_SUFFIXES, cutoffs, strict=False):
                key = self.market_key(market.name, suffix)
                old = [field async for field, _ in self.redis.hscan_iter(key, count=PRUNE_CHUNK)
                       if (stored_int(field) or 0) < cutoff]
                for i in range(0, len(old), PRUNE_CHUNK):
                    deleted += await self.redis.hdel(key, *old[i:i + PRUNE_CHUNK])
        return deleted
