"""Shared builders for the core tests: the spec's example exchange and a recording listener."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from matchengine.balance import Asset
from matchengine.commands import Commands
from matchengine.engine import Engine
from matchengine.market import MarketSpec
from matchengine.order import Order
from matchengine.stops import Stop

T0 = 1510000000.5


def spec_engine(listener: Any = None, min_amount: str = "0.001", stp: int = 0) -> tuple[Engine, Commands]:
    """BTC (12/8), BCH (20/8), market BTCBCH 8/8/4 — http-api.md §2.6 (`stp`: the market's default)."""
    engine = Engine([Asset("BTC", 12, 8), Asset("BCH", 20, 8)],
                    [MarketSpec("BTCBCH", "BTC", "BCH", 8, 8, 4, Decimal(min_amount), stp)], listener)
    return engine, Commands(engine)


def code_of(fn: Any, *args: Any) -> tuple[int, str]:
    """(code, message) of the RpcError a call raises."""
    from common.errors import RpcError

    try:
        fn(*args)
    except RpcError as exc:
        return exc.code, exc.message
    raise AssertionError("no error raised")


def deposit(commands: Commands, user: int, asset: str, amount: str, business_id: int | None = None,
            time: float = T0) -> None:
    bid = business_id if business_id is not None else hash((user, asset, amount, time)) & 0xFFFFFFFF
    commands.balance_update([user, asset, "deposit", bid, amount, {}], time)


def limit(commands: Commands, user: int, side: int, amount: str, price: str, time: float = T0,
          taker: str = "0.002", maker: str = "0.001", market: str = "BTCBCH") -> dict[str, Any]:
    return commands.put_limit([user, market, side, amount, price, taker, maker, "api.v1"], time)[0]


def market_order(commands: Commands, user: int, side: int, amount: str, time: float = T0,
                 taker: str = "0.002") -> dict[str, Any]:
    return commands.put_market([user, "BTCBCH", side, amount, taker, ""], time)[0]


def limit_with(commands: Commands, user: int, side: int, amount: str, price: str, option: Any = 0,
               client_id: Any = "", time: float = T0) -> dict[str, Any]:
    """A limit order with `option` and `client_id` (fees 0.002 / 0.001)."""
    return commands.put_limit([user, "BTCBCH", side, amount, price, "0.002", "0.001", "opt", option, client_id],
                              time)[0]


def market_with(commands: Commands, user: int, side: int, amount: str, option: Any = 0, client_id: Any = "",
                time: float = T0) -> dict[str, Any]:
    return commands.put_market([user, "BTCBCH", side, amount, "0.002", "opt", option, client_id], time)[0]


class Recorder:
    """A TradeListener that keeps a flat list of what happened, as plain values."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def balance_updated(self, time: float, user: int, asset: str, business: str, change: Decimal,
                        balance: Decimal, detail: dict[str, object]) -> None:
        self.events.append(("update", user, asset, business, str(change), str(balance), dict(detail)))

    def deal(self, time: float, market: str, deal_id: int, ask: Order, bid: Order, taker_side: int,
             price: Decimal, amount: Decimal, deal: Decimal, ask_fee: Decimal, bid_fee: Decimal,
             stock: str, money: str) -> None:
        self.events.append(("deal", deal_id, ask.id, bid.id, taker_side, str(price), str(amount), str(deal),
                            str(ask_fee), str(bid_fee), ask.user, bid.user))

    def trade_balance(self, time: float, user: int, asset: str, change: Decimal, balance: Decimal,
                      market: str, order_id: int, price: Decimal, amount: Decimal,
                      fee_rate: Decimal | None) -> None:
        self.events.append(("trade", user, asset, str(change), str(balance), order_id,
                            None if fee_rate is None else str(fee_rate)))

    def order_event(self, event: int, order: Order, stock: str, money: str) -> None:
        self.events.append(("order", event, order.id, str(order.left)))

    def order_finished(self, order: Order) -> None:
        self.events.append(("finished", order.id))

    def balance_locked(self, time: float, user: int, asset: str, business: str) -> None:
        self.events.append(("locked", user, asset, business))

    def stop_event(self, event: int, stop: Stop, status: int, stock: str, money: str) -> None:
        self.events.append(("stop", event, stop.id, status))

    def stop_finished(self, stop: Stop, status: int) -> None:
        self.events.append(("stop_finished", stop.id, status))

    def of_kind(self, kind: str) -> list[tuple[Any, ...]]:
        return [e for e in self.events if e[0] == kind]
