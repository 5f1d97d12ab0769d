"""Open orders and stops of a slice back into their markets; compiled with the core (setup.py): a restart may
bring back a million of them."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from common.decimals import ZERO

from .market import Market
from .order import Order
from .stops import Stop

# the fields of an order row: the original's 17, then (since stops and options) option and client_id
ORDER_FIELDS_BEFORE_OPTIONS = 17
ORDER_FIELDS = 19
STOP_FIELDS = 16


class SliceOrders:
    """Rebuilds the orders and stops of one slice, page by page.  Equal text gives the same (immutable)
    Decimal object and equal sources the same string, so a restored book shares them as a live one does."""

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

    def _market(self, name: str, what: str, item_id: object) -> Market:
        market = self.markets.get(name)
        if market is None:
            raise ValueError(f"slice {self.stamp}: {what} {item_id} is in unknown market {name!r}")
        return market

    def insert(self, rows: Sequence[Sequence[Any]]) -> None:
        """Rows of (id, type, side, create_time, update_time, user, market, source, price, amount, taker_fee,
        maker_fee, left, freeze, deal_stock, deal_money, deal_fee[, option, client_id]); decimals as text."""
        decimal = self.decimal
        for row in rows:
            if len(row) != ORDER_FIELDS and len(row) != ORDER_FIELDS_BEFORE_OPTIONS:
                raise ValueError(f"slice {self.stamp}: an order row has {len(row)} fields: {row!r:.200}")
            market = self._market(row[6], "order", row[0])
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
            if len(row) == ORDER_FIELDS:
                order.option = int(row[17])
                order.client_id = row[18]
            market.insert(order, sorted_later=True)
        if len(self.decimals) > 1_000_000:
            self.decimals.clear()

    def insert_stops(self, rows: Sequence[Sequence[Any]]) -> None:
        """Rows of (id, type, side, create_time, update_time, user, market, source, option, client_id, state,
        stop_price, price, amount, taker_fee, maker_fee); decimals as text.  The frozen funds are the
        stop's own, recomputed as at placement."""
        decimal = self.decimal
        for row in rows:
            if len(row) != STOP_FIELDS:
                raise ValueError(f"slice {self.stamp}: a stop row has {len(row)} fields: {row!r:.200}")
            market = self._market(row[6], "stop", row[0])
            kind, side = int(row[1]), int(row[2])
            price, amount = decimal(row[12]), decimal(row[13])
            source: str = row[7]
            stop = Stop(int(row[0]), kind, side, float(row[3]), int(row[5]), market.spec.name,
                        self.sources.setdefault(source, source), int(row[8]), row[9], decimal(row[11]), price, amount,
                        decimal(row[14]), decimal(row[15]), int(row[10]), market.stop_funds(kind, side, amount, price))
            stop.mtime = float(row[4])
            market.insert_stop(stop, sorted_later=True)
