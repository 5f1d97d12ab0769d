"""The `deals` topic consumer: reads batches, skips what was applied, applies the rest in order.

Start position: the message after the one that carried the last applied deal
(`k:offset` + 1), checked to really follow it (the message at `k:offset` must
still carry the last applied deal id — otherwise the broker was replaced and
the reader starts from the earliest offset).  Without a stored offset it
starts at offset 0: the original starts at 1 and never counts the very first
deal (spec/marketprice.md §5.3 step 4).

Every deal whose id is not above the last applied id is skipped, so a deal
published twice (the matchengine's publisher is at-least-once) or read twice
(after a restart or a rewind) is counted once.  Deal ids are global and
contiguous: when the next deal's id jumps, the reader is rewound once to the
earliest offset to look for the missing deals (a broker that restarted empty
and was refilled); if the jump is still there afterwards the deals are gone,
which is logged, and consumption goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal

from common.kafka import PartitionReader

from .deals import ParsedDeal, deal_id_of, parse_deal
from .state import Markets

log = logging.getLogger(__name__)

BATCH_SIZE = 5000
BATCH_TIMEOUT = 0.5

AddMarket = Callable[[str, Decimal], Awaitable[None]]


class DealsConsumer:
    """Applies the `deals` topic to `markets`; `add_market` brings in a market first seen in a deal.

    Batches are applied holding `apply_lock`, which a Redis flush takes to
    see the markets and the progress at one instant.
    """

    def __init__(self, reader: PartitionReader, markets: Markets, add_market: AddMarket,
                 apply_lock: asyncio.Lock | None = None) -> None:
        self.reader = reader
        self.apply_lock = apply_lock or asyncio.Lock()
        self.markets = markets
        self.add_market = add_market
        self.applied = 0
        self.skipped = 0
        self.invalid = 0
        self.missing = 0
        self.rewinds = 0
        self._rewound_after: int | None = None

    async def start(self) -> None:
        """Position the reader after the last applied deal (waits for the broker)."""
        progress = self.markets.progress
        if progress.offset < 0:
            await self.reader.start(0)
            return
        expected = progress.deal_id
        previous = (lambda value: deal_id_of(value) == expected) if expected > 0 else None
        await self.reader.start(progress.offset + 1, previous=previous)

    async def run(self) -> None:
        await self.start()
        while True:
            batch = await self.reader.get_batch(max_records=BATCH_SIZE, timeout=BATCH_TIMEOUT)
            if batch:
                async with self.apply_lock:
                    await self.process(batch)

    async def process(self, batch: list[tuple[int, bytes]]) -> None:
        """Apply one batch; rewinds the reader when the deal ids jump for the first time."""
        applied_up_to = self.markets.progress.deal_id
        parsed = [(offset, parse_deal(value, applied_up_to)) for offset, value in batch]
        await self._add_new_markets(parsed)
        if not self.apply(parsed, batch):
            self.rewinds += 1
            await self.reader.rewind()

    async def _add_new_markets(self, parsed: list[tuple[int, ParsedDeal | int | None]]) -> None:
        """Add the markets first seen in this batch; a market added from the market list that had no price
        gets its first deal's price, as a market first seen in a deal."""
        markets = self.markets
        new: dict[str, Decimal] = {}
        for _, deal in parsed:
            if type(deal) is not tuple:
                continue
            name = deal[1]
            if name not in markets:
                if name not in new:
                    new[name] = deal[2]
            elif markets.unpriced and name in markets.unpriced:
                markets.unpriced.discard(name)
                market = markets.by_name[name]
                if market.last.is_zero():
                    market.last = deal[2]
        for name, first_price in new.items():
            await self.add_market(name, first_price)

    def apply(self, parsed: list[tuple[int, ParsedDeal | int | None]], batch: list[tuple[int, bytes]]) -> bool:
        """Apply the parsed deals in order; False when it stopped at a jump of the ids to rewind first."""
        markets = self.markets
        by_name = markets.by_name
        progress = markets.progress
        last_id, last_offset = progress.deal_id, progress.offset
        applied = skipped = 0
        complete = True
        for index, (offset, deal) in enumerate(parsed):
            if type(deal) is not tuple:
                if deal is None:
                    self.invalid += 1
                    log.error("invalid message: %r, offset: %d", batch[index][1][:500], offset)
                else:
                    skipped += 1
                continue
            at, name, price, amount, side, deal_id = deal
            if deal_id <= last_id:
                skipped += 1
                continue
            if deal_id != last_id + 1 and last_id:
                if self._rewound_after != last_id:
                    self._rewound_after = last_id
                    log.warning("deal id jumps from %d to %d at offset %d; looking for the missing deals from "
                                "the earliest offset", last_id, deal_id, offset)
                    complete = False
                    break
                log.error("deals %d to %d are not in the topic; going on without them", last_id + 1, deal_id - 1)
                self.missing += deal_id - last_id - 1
            by_name[name].apply(at, price, amount, side, deal_id)
            applied += 1
            last_id, last_offset = deal_id, offset
        for market in by_name.values():
            market.settle()
        progress.deal_id, progress.offset = last_id, last_offset
        self.applied += applied
        self.skipped += skipped
        if skipped:
            log.info("skipped %d deals applied before (last applied deal %d)", skipped, last_id)
        return complete
