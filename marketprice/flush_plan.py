"""What one Redis flush writes: the changed buckets, last prices and new deals of every market, and the progress.

`build_plan` fills a `FlushPlan` (made by `new_plan`, both while no deal is
being applied): it takes the dirty marks of every market (leaving fresh,
empty ones behind), renders the values in the original's formats and
encodes the Redis commands, in chunks, giving the event loop a turn between
chunks so that a large flush (a long catch-up) does not stall RPC answers.
If building or the transaction fails, `FlushPlan.give_back` marks
everything dirty again; if it succeeds, `FlushPlan.committed` records which
deals Redis now holds.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from common.decimals import sci

from .kline import candle_text
from .market import DEALS_MAX, FAMILY_SUFFIXES, Market, deal_text
from .redis_tx import encode_command
from .state import Markets, Progress

OFFSET_KEY = "k:offset"
LAST_DEAL_ID_KEY = "k:last_deal_id"
CHUNK = 1000


@dataclass(slots=True)
class MarketChanges:
    """What a flush took from one market."""

    market: Market
    taken_dirty: tuple[set[int], set[int], set[int], set[int]]
    last_changed: bool
    newest_deal_id: int

    def give_back(self) -> None:
        market = self.market
        for dirty, taken in zip(market.dirty, self.taken_dirty, strict=True):
            dirty.update(taken)
        if self.last_changed:
            market.changed = True


@dataclass(slots=True)
class FlushPlan:
    progress: Progress
    changes: list[MarketChanges] = field(default_factory=list)
    chunks: list[list[bytes]] = field(default_factory=list)

    def add(self, command: bytes) -> None:
        if not self.chunks or len(self.chunks[-1]) >= CHUNK:
            self.chunks.append([])
        self.chunks[-1].append(command)

    def give_back(self) -> None:
        for change in self.changes:
            change.give_back()

    def committed(self) -> None:
        for change in self.changes:
            market = change.market
            market.flushed_deal_id = max(market.flushed_deal_id, change.newest_deal_id)


def new_plan(markets: Markets) -> FlushPlan:
    progress = markets.progress
    return FlushPlan(Progress(progress.offset, progress.deal_id))


async def build_plan(plan: FlushPlan, markets: Markets, prefix: str) -> None:
    """Fill `plan` with the commands that bring Redis up to date with `markets`.

    A market is recorded in `plan.changes` as soon as its dirty marks are
    taken, so `give_back` restores them even if building is interrupted.
    """
    rendered = 0
    for market in list(markets):
        unflushed = market.unflushed_deals()
        if not market.changed and not unflushed and not any(market.dirty):
            continue
        taken = market.dirty
        market.dirty = (set(), set(), set(), set())
        change = MarketChanges(market, taken, market.changed,
                               unflushed[0][0] if unflushed else market.flushed_deal_id)
        market.changed = False
        plan.changes.append(change)
        name = f"{prefix}k:{market.name}:"
        for suffix, buckets, keys in zip(FAMILY_SUFFIXES, market.families, taken, strict=True):
            hash_key = (name + suffix).encode()
            ordered = sorted(keys)
            for i in range(0, len(ordered), CHUNK):
                args = [b"HSET", hash_key]
                for key in ordered[i:i + CHUNK]:
                    candle = buckets.get(key)
                    if candle is not None:
                        args += (b"%d" % key, candle_text(candle).encode())
                if len(args) > 2:
                    plan.add(encode_command(*args))
                rendered += len(args) // 2
                if rendered >= CHUNK:
                    rendered = 0
                    await asyncio.sleep(0)
        if change.last_changed:
            plan.add(encode_command(b"SET", (name + "last").encode(), sci(market.last).encode()))
        if unflushed:
            deals_key = (name + "deals").encode()
            oldest_first = unflushed[::-1]
            for i in range(0, len(oldest_first), CHUNK):
                texts = [deal_text(record).encode() for record in oldest_first[i:i + CHUNK]]
                plan.add(encode_command(b"LPUSH", deals_key, *texts))
                rendered += len(texts)
                if rendered >= CHUNK:
                    rendered = 0
                    await asyncio.sleep(0)
            plan.add(encode_command(b"LTRIM", deals_key, b"0", b"%d" % (DEALS_MAX - 1)))
    if plan.progress.offset >= 0:
        plan.add(encode_command(b"SET", (prefix + OFFSET_KEY).encode(), b"%d" % plan.progress.offset))
    if plan.progress.deal_id > 0:
        plan.add(encode_command(b"SET", (prefix + LAST_DEAL_ID_KEY).encode(), b"%d" % plan.progress.deal_id))
