"""The marketprice-fed subscription families: kline, price, state, today, deals (§5.5, §5.7–§5.10).

Each polls marketprice for every subscribed key and pushes only what
changed: a new last k-line, a numerically different last price, a
different status object, new deals.  Results are pushed exactly as
marketprice returned them.
"""

from __future__ import annotations

import collections
import time
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from common.decimals import fmt

from .backends import (
    CMD_MARKET_DEALS,
    CMD_MARKET_KLINE,
    CMD_MARKET_LAST,
    CMD_MARKET_STATUS,
    CMD_MARKET_STATUS_TODAY,
    Backend,
)
from .envelope import push_frame
from .feeds import MarketListFeed, PolledFeed, name_problem
from .session import Session

STATE_PERIOD = 86400
DEALS_KEPT = 100

KlineKey = tuple[str, int]


class KlineFeed(PolledFeed[KlineKey]):
    """`kline.subscribe [market, interval]`: the candles of the last second or so, when the newest changes."""

    family = "kline"
    command = CMD_MARKET_KLINE

    def __init__(self, backend: Backend, interval: float) -> None:
        super().__init__(backend, interval)
        self.window = int(interval + 1)
        self.last_candle: dict[KlineKey, bytes] = {}

    def subscribe(self, session: Session, params: list[Any]) -> str | None:
        """`[market, interval]`; the reason it is refused, or None."""
        self.unsubscribe(session)
        if len(params) != 2:
            return f"params: expected 2, got {len(params)}"
        market, interval = params
        problem = name_problem(market, "market")
        if problem is not None:
            return problem
        if type(interval) is not int or interval <= 0:
            return "interval: must be a positive integer (seconds)"
        self.add(session, (market, interval))
        return None

    def params(self, key: KlineKey) -> list[Any]:
        now = int(time.time())
        return [key[0], now - self.window, now, key[1]]

    def on_result(self, key: KlineKey, result: Any) -> None:
        if not isinstance(result, list) or not result:
            return
        newest = orjson.dumps(result[-1])
        if self.last_candle.get(key) == newest:
            return
        self.last_candle[key] = newest
        self.broadcast(key, push_frame("kline.update", result))

    def forget(self, key: KlineKey) -> None:
        self.last_candle.pop(key, None)


def _decimal(text: object) -> Decimal | None:
    if not isinstance(text, str):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


class PriceFeed(MarketListFeed):
    """`price.subscribe [market, ...]`: the last price, when it moves."""

    family = "price"
    command = CMD_MARKET_LAST

    def __init__(self, backend: Backend, interval: float) -> None:
        super().__init__(backend, interval)
        self.last_price: dict[str, Decimal] = {}

    def params(self, key: str) -> list[Any]:
        return [key]

    def on_result(self, key: str, result: Any) -> None:
        price = _decimal(result)
        if price is None or price == self.last_price.get(key, Decimal(0)):
            return
        self.last_price[key] = price
        self.broadcast(key, push_frame("price.update", [key, result]))

    def initial_pushes(self, session: Session, names: list[str]) -> None:
        for market in names:
            price = self.last_price.get(market)
            if price:
                session.push(push_frame("price.update", [market, fmt(price)]))

    def forget(self, key: str) -> None:
        self.last_price.pop(key, None)


class StatusFeed(MarketListFeed):
    """`state.subscribe` (24 h rolling, 301) and `today.subscribe` (calendar day, 305): the status object."""

    def __init__(self, backend: Backend, interval: float, *, today: bool) -> None:
        super().__init__(backend, interval)
        self.today = today
        self.family = "today" if today else "state"
        self.command = CMD_MARKET_STATUS_TODAY if today else CMD_MARKET_STATUS
        self.method = f"{self.family}.update"
        self.last_status: dict[str, tuple[bytes, Any]] = {}

    def params(self, key: str) -> list[Any]:
        return [key] if self.today else [key, STATE_PERIOD]

    def on_result(self, key: str, result: Any) -> None:
        if not isinstance(result, dict):
            return
        canonical = orjson.dumps(result, option=orjson.OPT_SORT_KEYS)
        remembered = self.last_status.get(key)
        if remembered is not None and remembered[0] == canonical:
            return
        self.last_status[key] = (canonical, result)
        self.broadcast(key, push_frame(self.method, [key, result]))

    def initial_pushes(self, session: Session, names: list[str]) -> None:
        for market in names:
            remembered = self.last_status.get(market)
            if remembered is not None:
                session.push(push_frame(self.method, [market, remembered[1]]))

    def forget(self, key: str) -> None:
        self.last_status.pop(key, None)


class DealsFeed(MarketListFeed):
    """`deals.subscribe [market, ...]`: new deals since the last one seen, newest first."""

    family = "deals"
    command = CMD_MARKET_DEALS

    def __init__(self, backend: Backend, interval: float) -> None:
        super().__init__(backend, interval)
        self.last_id: dict[str, int] = {}
        self.recent: dict[str, collections.deque[Any]] = {}

    def params(self, key: str) -> list[Any]:
        return [key, DEALS_KEPT, self.last_id.get(key, 0)]

    def on_result(self, key: str, result: Any) -> None:
        if not isinstance(result, list) or not result:
            return
        newest = result[0]
        newest_id = newest.get("id") if isinstance(newest, dict) else None
        if type(newest_id) is not int or newest_id <= 0:
            return
        self.last_id[key] = newest_id
        recent = self.recent.get(key)
        if recent is None:
            recent = self.recent[key] = collections.deque(maxlen=DEALS_KEPT)
        recent.extendleft(reversed(result))
        self.broadcast(key, push_frame("deals.update", [key, result]))

    def initial_pushes(self, session: Session, names: list[str]) -> None:
        for market in names:
            recent = self.recent.get(market)
            if recent:
                session.push(push_frame("deals.update", [market, list(recent)]))

    def forget(self, key: str) -> None:
        self.last_id.pop(key, None)
        self.recent.pop(key, None)
