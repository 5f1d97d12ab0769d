"""One market's data in memory: last price, the four base k-line families, the newest deals.

`Market.apply` is the hot path (spec/marketprice.md §3).  Every deal of one
second touches the same 1 s, 1 min, 1 h and day buckets, so consecutive deals
of a market within one second are first gathered in a small *run*
(first-seen open, high, low, volume, deal value) and the run is folded into
the four buckets once, by `settle`, when the second changes or the batch of
deals ends.  The result is exactly what applying the deals one by one gives:
a bucket the run creates opens at the price before the run's first deal (the
price before its first deal, as the one-by-one rule says), high/low keep the
first extreme seen, and the sums are exact (decimal additions with 34
digits).  Callers settle every market after a batch, so queries and flushes
never see a half-applied run.

A deal is kept as a `DealRecord` tuple ``(id, time, price, amount, side)``;
the JSON object clients and Redis see is built only when asked for.  The deal
list is newest first and, because deals are applied in increasing id order,
the deals not yet written to Redis are exactly those with an id above
`flushed_deal_id` — no separate pending list is needed, and a flush never
pushes more than the 10 000 that Redis keeps anyway.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from common.decimals import ZERO, fmt

from .kline import Candle, OpenRule, new_bucket_open
from .localtime import day_start

DEALS_MAX = 10_000
SIDE_ASK = 1
SIDE_BID = 2

SEC, MIN, HOUR, DAY = range(4)
FAMILY_SUFFIXES = ("1s", "1m", "1h", "1d")

DealRecord = tuple[int, float, Decimal, Decimal, int]


def deal_type(side: int) -> str:
    """The taker side as clients see it: 1 (ask) is a sell, anything else a buy."""
    return "sell" if side == SIDE_ASK else "buy"


def deal_object(record: DealRecord) -> dict[str, object]:
    """The `market.deals` item, keys in the original's order."""
    deal_id, at, price, amount, side = record
    return {"id": deal_id, "time": at, "price": fmt(price), "amount": fmt(amount), "type": deal_type(side)}


def jansson_real(value: float) -> str:
    """A JSON real as jansson writes it: ``%.17g``, with ``.0`` added when it looks integral."""
    text = "%.17g" % value
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def deal_text(record: DealRecord) -> str:
    """The `k:<market>:deals` list element, jansson spacing, e.g. ``{"id": 42, "time": ..., ...}``."""
    deal_id, at, price, amount, side = record
    return '{"id": %d, "time": %s, "price": "%s", "amount": "%s", "type": "%s"}' % (
        deal_id, jansson_real(at), fmt(price), fmt(amount), deal_type(side))


class Market:
    """The in-memory state of one market."""

    __slots__ = ("changed", "day", "deals", "dirty", "families", "flushed_deal_id", "hour", "last", "min",
                 "name", "open_rule", "run_deal", "run_high", "run_low", "run_open", "run_second", "run_volume",
                 "sec")

    def __init__(self, name: str, open_rule: OpenRule = OpenRule.PREVIOUS_LAST, last: Decimal = ZERO) -> None:
        self.name = name
        self.open_rule = open_rule
        self.last = last
        self.sec: dict[int, Candle] = {}
        self.min: dict[int, Candle] = {}
        self.hour: dict[int, Candle] = {}
        self.day: dict[int, Candle] = {}
        self.families = (self.sec, self.min, self.hour, self.day)
        self.dirty: tuple[set[int], set[int], set[int], set[int]] = (set(), set(), set(), set())
        self.deals: deque[DealRecord] = deque(maxlen=DEALS_MAX)
        self.flushed_deal_id = 0
        self.changed = False
        self.run_second = -1
        self.run_open = self.run_high = self.run_low = self.run_volume = self.run_deal = ZERO

    def apply(self, at: float, price: Decimal, amount: Decimal, side: int, deal_id: int) -> None:
        """Apply one deal made at `at` (unix seconds with fraction, > 0); `settle` must follow."""
        second = int(at)
        if second == self.run_second:
            self.run_volume += amount
            self.run_deal += price * amount
            if price > self.run_high:
                self.run_high = price
            if price < self.run_low:
                self.run_low = price
        else:
            if self.run_second >= 0:
                self.settle()
            self.run_second = second
            self.run_open = new_bucket_open(self.open_rule, self.last, price)
            self.run_high = self.run_low = price
            self.run_volume = amount
            self.run_deal = price * amount
        self.last = price
        self.deals.appendleft((deal_id, at, price, amount, side))

    def settle(self) -> None:
        """Fold the open run of deals into the 1 s, 1 min, 1 h and day buckets."""
        second = self.run_second
        if second < 0:
            return
        self.run_second = -1
        self.changed = True
        seed, close, high, low = self.run_open, self.last, self.run_high, self.run_low
        volume, value = self.run_volume, self.run_deal
        dirty_sec, dirty_min, dirty_hour, dirty_day = self.dirty
        for buckets, dirty, key in ((self.sec, dirty_sec, second),
                                    (self.min, dirty_min, second - second % 60),
                                    (self.hour, dirty_hour, second - second % 3600),
                                    (self.day, dirty_day, day_start(second))):
            candle = buckets.get(key)
            if candle is None:
                candle = buckets[key] = Candle(seed, seed, seed, seed, ZERO, ZERO)
            candle.close = close
            candle.volume += volume
            candle.deal += value
            if high > candle.high:
                candle.high = high
            if low < candle.low:
                candle.low = low
            dirty.add(key)

    def unflushed_deals(self) -> list[DealRecord]:
        """The deals newer than the last flush, newest first (at most `DEALS_MAX`)."""
        flushed = self.flushed_deal_id
        result = []
        for record in self.deals:
            if record[0] <= flushed:
                break
            result.append(record)
        return result

    def prune(self, cutoffs: tuple[int, int, int]) -> int:
        """Drop 1 s, 1 min and 1 h buckets older than their cutoff (day buckets stay); how many went."""
        dropped = 0
        for buckets, cutoff in zip((self.sec, self.min, self.hour), cutoffs, strict=True):
            old = [key for key in buckets if key < cutoff]
            for key in old:
                del buckets[key]
            dropped += len(old)
        return dropped
