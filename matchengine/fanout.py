"""The publisher's listener: every core event to the history rows, the Kafka messages, or both.

Compiled with the core (setup.py), so that it reaches both halves by direct calls.
"""

from __future__ import annotations

from decimal import Decimal

from .history import HistoryRows
from .message import Messages
from .order import Order
from .stops import Stop


class Fanout:
    def __init__(self, history: HistoryRows, messages: Messages) -> None:
        self.history = history
        self.messages = messages

    def balance_updated(self, time: float, user: int, asset: str, business: str, change: Decimal, balance: Decimal,
                        detail: dict[str, object]) -> None:
        self.history.balance_updated(time, user, asset, business, change, balance, detail)
        self.messages.balance_updated(time, user, asset, business, change, balance, detail)

    def deal(self, time: float, market: str, deal_id: int, ask: Order, bid: Order, taker_side: int, price: Decimal,
             amount: Decimal, deal: Decimal, ask_fee: Decimal, bid_fee: Decimal, stock: str, money: str) -> None:
        self.history.deal(time, market, deal_id, ask, bid, taker_side, price, amount, deal, ask_fee, bid_fee, stock,
                          money)
        self.messages.deal(time, market, deal_id, ask, bid, taker_side, price, amount, deal, ask_fee, bid_fee, stock,
                           money)

    def trade_balance(self, time: float, user: int, asset: str, change: Decimal, balance: Decimal, market: str,
                      order_id: int, price: Decimal, amount: Decimal, fee_rate: Decimal | None) -> None:
        self.history.trade_balance(time, user, asset, change, balance, market, order_id, price, amount, fee_rate)

    def order_event(self, event: int, order: Order, stock: str, money: str) -> None:
        self.messages.order_event(event, order, stock, money)

    def order_finished(self, order: Order) -> None:
        self.history.order_finished(order)

    def balance_locked(self, time: float, user: int, asset: str, business: str) -> None:
        self.messages.balance_locked(time, user, asset, business)

    def stop_event(self, event: int, stop: Stop, status: int, stock: str, money: str) -> None:
        self.messages.stop_event(event, stop, status, stock, money)

    def stop_finished(self, stop: Stop, status: int) -> None:
        self.history.stop_finished(stop, status)
