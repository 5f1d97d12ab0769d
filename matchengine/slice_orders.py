"""Open orders of a slice back into their books; compiled with the core (setup.py): a restart may
bring back a million of them."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from common.decimals import ZERO

from .market import Market
from .order import Order


class SliceOrders:
    """Rebuilds the orders of one slice, page by page.  Equal text gives the same (immutable) Decimal
    object and equal sources the same string, so a restored book shares them as a live one does."""

    def __init__(self, markets: dict[str, Market], stamp: int) -> None:
        self.markets = markets
        self.stamp = stamp
        self.decimals: dict[str, Decimal] = {}
        self.sources: dict[str, str] = {}

    def decimal(self, text: str) -> Decimal:
        value = self.decimals.get(text)
        if value is None:
            value = self.decimals[text] = Decimal(text)
        return value

    def insert(self, rows: Sequence[Sequence[Any]]) -> None:
        """Rows of (id, type, side, create_time, update_time, user, market, source, price, amount, taker_fee,
        maker_fee, left, freeze, deal_stock, deal_money, deal_fee); decimals as text."""
        decimal = self.decimal
        for row in rows:
            if len(row) != 17:
                raise ValueError(f"slice {self.stamp}: an order row has {len(row)} fields: {row!r:.200}")
            market_name: str = row[6]
            market = self.markets.get(market_name)
            if market is None:
                raise ValueError(f"slice {self.stamp}: order {row[0]} is in unknown market {market_name!r}")
            source: str | None = row[7]
            if source is not None:
                source = self.sources.setdefault(source, source)
            order = Order(int(row[0]), int(row[1]), int(row[2]), float(row[3]), int(row[5]), market.spec.name,
                          source, decimal(row[8]), decimal(row[9]), decimal(row[10]), decimal(row[11]), ZERO)
            order.mtime = float(row[4])
            order.left = decimal(row[12])
            order.freeze = decimal(row[13])
            order.deal_stock = decimal(row[14])
            order.deal_money = decimal(row[15])
            order.deal_fee = decimal(row[16])
            market.insert(order, sorted_later=True)
        if len(self.decimals) > 1_000_000:
            self.decimals.clear()
