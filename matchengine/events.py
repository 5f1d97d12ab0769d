"""What the core tells the durability layer, in the order it happens.

The core calls these methods only when it was given a listener (the history
and message publisher); the request-serving engine runs without one, so its
hot path builds nothing it does not answer with.  Calls come in exactly the
order of spec/matchengine.md §5.5–§5.9 and §11.5, and the objects passed are
live: a listener must copy what it keeps before returning.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from .order import Order
from .stops import Stop


class TradeListener(Protocol):
    def balance_updated(
        self, time: float, user: int, asset: str, business: str, change: Decimal, balance: Decimal,
        detail: dict[str, object],
    ) -> None:
        """A successful balance.update; `balance` is available + frozen after it."""

    def deal(
        self, time: float, market: str, deal_id: int, ask: Order, bid: Order, taker_side: int,
        price: Decimal, amount: Decimal, deal: Decimal, ask_fee: Decimal, bid_fee: Decimal,
        stock: str, money: str,
    ) -> None:
        """One match between a taker and a maker, before the balances move."""

    def trade_balance(
        self, time: float, user: int, asset: str, change: Decimal, balance: Decimal, market: str,
        order_id: int, price: Decimal, amount: Decimal, fee_rate: Decimal | None,
    ) -> None:
        """One balance movement of a deal (business "trade")."""

    def order_event(self, event: int, order: Order, stock: str, money: str) -> None:
        """An `orders` message: PUT, UPDATE or FINISH of `order` as it is now."""

    def order_finished(self, order: Order) -> None:
        """A finished order that goes to order_history / order_detail."""

    def balance_locked(self, time: float, user: int, asset: str, business: str) -> None:
        """A successful asset.lock or asset.unlock (the total is unchanged: no balance history)."""

    def stop_event(self, event: int, stop: Stop, status: int, stock: str, money: str) -> None:
        """A `stops` message: PUT, ACTIVE (fired, with status ACTIVE or FAIL) or CANCEL of `stop` in the
        market of `stock` and `money`."""

    def stop_finished(self, stop: Stop, status: int) -> None:
        """A fired stop that goes to stop_history (status ACTIVE or FAIL)."""
