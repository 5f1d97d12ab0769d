"""Candles (k-line buckets): the open-price rule, updating, merging and their Redis text.

A candle holds open, close, high, low, volume (stock amount) and deal (money
value, Σ price × amount) as exact decimals (spec/marketprice.md §3).  The one
rule that differs between the original's revisions — what a bucket opens at —
lives in `new_bucket_open`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

import orjson

from common.decimals import ZERO, fmt


class OpenRule(Enum):
    """What a new bucket is seeded with (open = close = high = low) before its first deal."""

    PREVIOUS_LAST = "previous_last"  # HEAD ("market kline open price error"): the price before this deal
    FIRST_TRADE = "first_trade"  # pre-HEAD: the deal's own price


def new_bucket_open(rule: OpenRule, previous_last: Decimal, deal_price: Decimal) -> Decimal:
    """The price a bucket that a deal is about to create opens at.

    HEAD semantics (the default): the market's last price before the deal, so
    a bucket's open — and its high/low — include the previous trade price, and
    the first buckets of a market without any price open at 0.
    """
    return previous_last if rule is OpenRule.PREVIOUS_LAST else deal_price


@dataclass(slots=True)
class Candle:
    open: Decimal
    close: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal = ZERO
    deal: Decimal = ZERO

    @classmethod
    def flat(cls, price: Decimal) -> Candle:
        """open = close = high = low = `price`, nothing traded (the original's `kline_info_new`)."""
        return cls(price, price, price, price, ZERO, ZERO)

    def merge(self, later: Candle) -> None:
        """Fold a later bucket into this aggregate (the original's `kline_info_merge`)."""
        self.close = later.close
        self.volume += later.volume
        self.deal += later.deal
        if later.high > self.high:
            self.high = later.high
        if later.low < self.low:
            self.low = later.low

    def row(self, start: int, market: str) -> list[object]:
        """A `market.kline` row: [start, open, close, high, low, volume, deal, market]."""
        return [start, fmt(self.open), fmt(self.close), fmt(self.high), fmt(self.low), fmt(self.volume),
                fmt(self.deal), market]


def merge_all(candles: list[Candle]) -> Candle | None:
    """Merge buckets in time order, starting flat at the first one's open; None when empty."""
    if not candles:
        return None
    total = Candle.flat(candles[0].open)
    for candle in candles:
        total.merge(candle)
    return total


def candle_text(candle: Candle) -> str:
    """The Redis hash value: ``["open", "close", "high", "low", "volume", "deal"]`` with jansson spacing."""
    return '["%s", "%s", "%s", "%s", "%s", "%s"]' % (fmt(candle.open), fmt(candle.close), fmt(candle.high),
                                                      fmt(candle.low), fmt(candle.volume), fmt(candle.deal))


_STORED_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")


def stored_decimal(value: object) -> Decimal | None:
    """A decimal string read back from Redis (no magnitude bound: sums may be large); None if bad."""
    if type(value) is not str or len(value) > 200 or not _STORED_DECIMAL.match(value):
        return None
    return Decimal(value)


def parse_candle_text(text: bytes | str) -> Candle | None:
    """A stored candle: a JSON array of at least 5 decimal strings (`deal` is optional, 0 when absent)."""
    try:
        items = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if type(items) is not list or len(items) < 5:
        return None
    values = [stored_decimal(item) for item in items[:6]]
    if any(v is None for v in values):
        return None
    if len(values) == 5:
        values.append(ZERO)
    return Candle(*values)  # type: ignore[arg-type]
