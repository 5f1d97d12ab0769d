"""marketprice's RPC commands 301-305: parameter checks, the result cache and the answers.

An integer parameter must be a JSON integer and a string one a JSON string;
anything else is "invalid argument" (the original read a non-integer as 0,
which its range checks then refused anyway; spec/README.md rule 2).
`market.status`, `market.kline` and `market.status_today` answers are cached
for `cache_timeout` seconds, keyed by the command and its parameters (the
original keys by the raw body bytes; the port by the parameters re-encoded,
so the same request written with other whitespace shares the entry); the
whole cache is dropped every 60 s.  Only successful answers are cached.

A request naming a market marketprice does not know waits, when a
`MarketRefresher` is given, for the market list to be read again (a market
added to the exchange live, not traded yet): it is then answered, or refused
with "invalid argument" when the list does not have the market either, or
with "internal error" when the list could not be read (refresh.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from common.errors import INTERNAL_ERROR, RpcError, invalid_argument, quoted
from common.params import read_integer

from .market import DEALS_MAX, Market
from .query import interval_supported, kline, last_price, market_status, recent_deals, status_today
from .refresh import MarketRefresher
from .state import Markets, Retention

CMD_MARKET_STATUS = 301
CMD_MARKET_KLINE = 302
CMD_MARKET_DEALS = 303
CMD_MARKET_LAST = 304
CMD_MARKET_STATUS_TODAY = 305

CACHE_CLEAR_INTERVAL = 60.0
U64 = (1 << 64) - 1
MARKET_NAME_MAX = 30  # the engine's limit

Handler = Callable[[list[Any]], Any]


class UnknownMarket(Exception):
    """A request names a market that is not (yet) known here; "invalid argument" unless it turns up.

    Not an RpcError subclass: that class is compiled (mypyc), and interpreted code cannot subclass it."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def invalid(self) -> RpcError:
        return invalid_argument(f"market: unknown market {quoted(self.name)}")


def could_be_a_market(name: str) -> bool:
    """A name the engine could have given a market: worth reading the market list again for."""
    return 0 < len(name) <= MARKET_NAME_MAX and "\x00" not in name


class ResultCache:
    """Answers kept for `timeout` seconds, keyed by command and parameters."""

    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.clock = clock
        self._entries: dict[bytes, tuple[float, Any]] = {}
        self._cleared_at = clock()

    @staticmethod
    def key(command: int, params: list[Any]) -> bytes:
        return b"%d" % command + orjson.dumps(params)

    def get(self, key: bytes) -> Any:
        """The cached answer, or None when there is none young enough."""
        now = self.clock()
        if now - self._cleared_at >= CACHE_CLEAR_INTERVAL:
            self._entries.clear()
            self._cleared_at = now
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now - entry[0] > self.timeout:
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: bytes, result: Any) -> None:
        self._entries[key] = (self.clock(), result)


class MarketpriceService:
    """The RPC handlers over the in-memory markets."""

    def __init__(self, markets: Markets, retention: Retention, cache_timeout: float,
                 clock: Callable[[], float] = time.time, refresher: MarketRefresher | None = None) -> None:
        self.markets = markets
        self.retention = retention
        self.cache = ResultCache(cache_timeout)
        self.clock = clock
        self.refresher = refresher

    def handlers(self) -> dict[int, Handler]:
        handlers: dict[int, Handler] = {
            CMD_MARKET_STATUS: self.market_status,
            CMD_MARKET_KLINE: self.market_kline,
            CMD_MARKET_DEALS: self.market_deals,
            CMD_MARKET_LAST: self.market_last,
            CMD_MARKET_STATUS_TODAY: self.market_status_today,
        }
        return {command: self._learning(handler) for command, handler in handlers.items()}

    def _learning(self, handler: Handler) -> Handler:
        def handle(params: list[Any]) -> Any:
            try:
                return handler(params)
            except UnknownMarket as unknown:
                if self.refresher is None:
                    raise unknown.invalid() from None
                return self._after_refresh(handler, params)

        return handle

    async def _after_refresh(self, handler: Handler, params: list[Any]) -> Any:
        """Answer once the market list was read again: the market may have been added since the start."""
        assert self.refresher is not None
        try:
            await self.refresher.refreshed()
        except Exception as exc:
            raise RpcError(INTERNAL_ERROR, None, f"market: unknown here and the market list cannot be read: "
                                                 f"{exc}"[:200]) from None
        try:
            return handler(params)
        except UnknownMarket as unknown:
            raise unknown.invalid() from None

    def _now(self) -> int:
        return int(self.clock())

    def _market(self, params: list[Any], count: int) -> Market:
        """The market named by params[0] of a request that must have exactly `count` params."""
        if len(params) != count:
            raise invalid_argument(f"params: expected {count}, got {len(params)}")
        name = params[0]
        if type(name) is not str:
            raise invalid_argument("market: must be a string")
        market = self.markets.get(name)
        if market is None:
            if could_be_a_market(name):
                raise UnknownMarket(name)
            raise UnknownMarket(name).invalid()
        return market

    def market_status(self, params: list[Any]) -> Any:
        market = self._market(params, 2)
        period = read_integer(params[1], "period")
        if period <= 0 or period > self.retention.sec_max:
            raise invalid_argument(f"period: must be 1 to {self.retention.sec_max} seconds")
        key = ResultCache.key(CMD_MARKET_STATUS, params)
        result = self.cache.get(key)
        if result is None:
            result = market_status(market, period, self._now())
            self.cache.put(key, result)
        return result

    def market_kline(self, params: list[Any]) -> Any:
        market = self._market(params, 4)
        start = read_integer(params[1], "start")
        if start <= 0:
            raise invalid_argument("start: must be a positive time")
        now = self._now()
        end = min(read_integer(params[2], "end"), now)
        if end <= 0:
            raise invalid_argument("end: must be a positive time")
        if start > end:
            raise invalid_argument("start: must not be after end (or now)")
        interval = read_integer(params[3], "interval")
        if interval <= 0:
            raise invalid_argument("interval: must be a positive number of seconds")
        key = ResultCache.key(CMD_MARKET_KLINE, params)
        result = self.cache.get(key)
        if result is not None:
            return result
        if not interval_supported(interval):
            raise invalid_argument(f"interval: {interval} s is not a k-line interval (divides a minute, hour or day; "
                                   "whole days; a week; a month)")
        result = kline(market, start, end, interval, now, self.retention)
        self.cache.put(key, result)
        return result

    def market_deals(self, params: list[Any]) -> Any:
        market = self._market(params, 3)
        limit = read_integer(params[1], "limit")
        if limit <= 0 or limit > DEALS_MAX:
            raise invalid_argument(f"limit: must be 1 to {DEALS_MAX}")
        return recent_deals(market, limit, read_integer(params[2], "last_id") & U64)

    def market_last(self, params: list[Any]) -> Any:
        return last_price(self._market(params, 1))

    def market_status_today(self, params: list[Any]) -> Any:
        market = self._market(params, 1)
        key = ResultCache.key(CMD_MARKET_STATUS_TODAY, params)
        result = self.cache.get(key)
        if result is None:
            result = status_today(market, self._now())
            self.cache.put(key, result)
        return result

