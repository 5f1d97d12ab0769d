"""Everything marketprice holds in memory: the markets by name and how far the deal stream was applied."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from common.decimals import ZERO

from .kline import OpenRule
from .market import Market


@dataclass(slots=True)
class Progress:
    """How far the `deals` topic has been applied.

    `deal_id` is the id of the last applied deal (deal ids are global and
    contiguous; 0 before the first), `offset` the Kafka offset of the message
    that carried it (-1 before the first).  Both are saved to Redis in the
    same transaction as the candles they produced.
    """

    offset: int = -1
    deal_id: int = 0


@dataclass(slots=True)
class Retention:
    """How long the 1 s, 1 min and 1 h buckets are kept (config `sec_max`, `min_max`, `hour_max`)."""

    sec_max: int = 604_800
    min_max: int = 525_600
    hour_max: int = 87_600

    def cutoffs(self, now: int) -> tuple[int, int, int]:
        """The oldest bucket start kept for 1 s, 1 min and 1 h buckets at `now`."""
        return (now - self.sec_max, now // 60 * 60 - self.min_max * 60,
                now // 3600 * 3600 - self.hour_max * 3600)


@dataclass(slots=True)
class Markets:
    """The markets by name.  `unpriced`: markets learned from the market list after start (added live) that
    have no price yet; the first deal of one sets its price before it is applied, as for a market first seen
    in a deal, so that its first candles do not depend on whether someone asked for it before it traded."""

    open_rule: OpenRule = OpenRule.PREVIOUS_LAST
    by_name: dict[str, Market] = field(default_factory=dict)
    progress: Progress = field(default_factory=Progress)
    unpriced: set[str] = field(default_factory=set)

    def add(self, name: str, last: Decimal = ZERO) -> Market:
        market = self.by_name[name] = Market(name, self.open_rule, last)
        return market

    def get(self, name: str) -> Market | None:
        return self.by_name.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def __iter__(self) -> Iterator[Market]:
        return iter(self.by_name.values())
