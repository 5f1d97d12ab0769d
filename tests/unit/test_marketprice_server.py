"""marketprice's RPC handlers: parameter rules (lenient typing), error codes, the result cache."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from common.errors import RpcError
from marketprice.kline import Candle
from marketprice.server import (
    CMD_MARKET_DEALS,
    CMD_MARKET_KLINE,
    CMD_MARKET_LAST,
    CMD_MARKET_STATUS,
    CMD_MARKET_STATUS_TODAY,
    MarketpriceService,
    ResultCache,
)
from marketprice.state import Markets, Retention

D = Decimal
NOW = 1700000100


def service(cache_timeout: float = 0.45) -> MarketpriceService:
    markets = Markets()
    market = markets.add("BTCUSDT", D("9500.00000000"))
    for deal_id in range(1, 4):
        market.apply(NOW - 10 + deal_id, D("9500.00000000"), D("1.00000000"), 2, deal_id)
    market.settle()
    markets.add("EMPTY")
    return MarketpriceService(markets, Retention(sec_max=1000), cache_timeout, clock=lambda: NOW + 0.5)


def call(svc: MarketpriceService, command: int, params: list[Any]) -> Any:
    return svc.handlers()[command](params)


def invalid(svc: MarketpriceService, command: int, params: list[Any]) -> None:
    with pytest.raises(RpcError) as info:
        call(svc, command, params)
    assert (info.value.code, info.value.message) == (1, "invalid argument")


@pytest.mark.parametrize("command, params", [
    (CMD_MARKET_LAST, []),
    (CMD_MARKET_LAST, ["BTCUSDT", 1]),
    (CMD_MARKET_LAST, ["NOPE"]),
    (CMD_MARKET_LAST, [1]),
    (CMD_MARKET_STATUS_TODAY, ["nope"]),
    (CMD_MARKET_STATUS, ["BTCUSDT"]),
    (CMD_MARKET_STATUS, ["BTCUSDT", 0]),
    (CMD_MARKET_STATUS, ["BTCUSDT", 1001]),  # > sec_max
    (CMD_MARKET_STATUS, ["BTCUSDT", "100"]),  # a string reads as 0
    (CMD_MARKET_STATUS, ["BTCUSDT", 100.0]),
    (CMD_MARKET_STATUS, ["BTCUSDT", True]),
    (CMD_MARKET_DEALS, ["BTCUSDT", 0, 0]),
    (CMD_MARKET_DEALS, ["BTCUSDT", 10001, 0]),
    (CMD_MARKET_DEALS, ["BTCUSDT", -1, 0]),
    (CMD_MARKET_DEALS, ["BTCUSDT", 2**32 + 5, 0]),  # the original's C int would read 5
    (CMD_MARKET_DEALS, ["BTCUSDT", 10, "0"]),  # last_id must be a JSON integer
    (CMD_MARKET_DEALS, ["BTCUSDT", 10]),
    (CMD_MARKET_KLINE, ["BTCUSDT", 0, NOW, 60]),
    (CMD_MARKET_KLINE, ["BTCUSDT", "1", NOW, 60]),
    (CMD_MARKET_KLINE, ["BTCUSDT", NOW - 100, 0, 60]),
    (CMD_MARKET_KLINE, ["BTCUSDT", NOW + 10, NOW + 100, 60]),  # end clamped to now < start
    (CMD_MARKET_KLINE, ["BTCUSDT", NOW - 100, NOW, 0]),
    (CMD_MARKET_KLINE, ["BTCUSDT", NOW - 100, NOW, 7]),  # no interval class
    (CMD_MARKET_KLINE, ["BTCUSDT", NOW - 100, NOW, 86400 * 8]),
    (CMD_MARKET_KLINE, ["BTCUSDT", NOW - 100, NOW]),
])
def test_invalid_requests_get_invalid_argument(command: int, params: list[Any]) -> None:
    invalid(service(), command, params)


def test_answers() -> None:
    svc = service()
    assert call(svc, CMD_MARKET_LAST, ["BTCUSDT"]) == "9500.00000000"
    assert call(svc, CMD_MARKET_LAST, ["EMPTY"]) == "0"
    assert call(svc, CMD_MARKET_STATUS, ["BTCUSDT", 100]) == {
        "period": 100, "last": "9500", "open": "9500", "close": "9500", "high": "9500", "low": "9500",
        "volume": "3", "deal": "28500"}
    assert call(svc, CMD_MARKET_STATUS_TODAY, ["EMPTY"]) == {
        "open": "0", "last": "0", "high": "0", "low": "0", "volume": "0", "deal": "0"}
    deals = call(svc, CMD_MARKET_DEALS, ["BTCUSDT", 2, 0])
    assert [d["id"] for d in deals] == [3, 2]
    assert call(svc, CMD_MARKET_DEALS, ["BTCUSDT", 10, 2]) == [deals[0]]
    # a negative last_id wraps to a huge unsigned value: nothing is newer
    assert call(svc, CMD_MARKET_DEALS, ["BTCUSDT", 10, -1]) == []
    rows = call(svc, CMD_MARKET_KLINE, ["BTCUSDT", NOW - 60, NOW + 1000, 60])
    # `end` is clamped to now, whose minute is empty: a flat candle
    assert rows == [[NOW - 60, "9500", "9500", "9500", "9500", "3", "28500", "BTCUSDT"],
                    [NOW, "9500", "9500", "9500", "9500", "0", "0", "BTCUSDT"]]


def test_cached_answers_are_kept_for_the_timeout() -> None:
    svc = service(cache_timeout=0.2)
    market = svc.markets.get("BTCUSDT")
    assert market is not None
    first = call(svc, CMD_MARKET_STATUS, ["BTCUSDT", 100])
    market.sec[NOW - 90] = Candle(D(1), D(1), D(1), D(1), D(100), D(100))
    assert call(svc, CMD_MARKET_STATUS, ["BTCUSDT", 100]) == first  # from the cache
    assert call(svc, CMD_MARKET_STATUS, ["BTCUSDT", 99])["volume"] == "103"  # other params, other entry
    time.sleep(0.25)
    assert call(svc, CMD_MARKET_STATUS, ["BTCUSDT", 100])["volume"] == "103"
    # market.last and market.deals are never cached
    market.last = D("1.0")
    assert call(svc, CMD_MARKET_LAST, ["BTCUSDT"]) == "1.0"


def test_the_kline_interval_check_comes_after_the_cache_and_errors_are_not_cached() -> None:
    svc = service()
    invalid(svc, CMD_MARKET_KLINE, ["BTCUSDT", NOW - 100, NOW, 7])
    invalid(svc, CMD_MARKET_KLINE, ["BTCUSDT", NOW - 100, NOW, 7])


def test_result_cache_clears_itself_every_minute() -> None:
    now = [1000.0]
    cache = ResultCache(10.0, clock=lambda: now[0])
    key = ResultCache.key(CMD_MARKET_STATUS, ["M", 1])
    cache.put(key, {"a": 1})
    now[0] += 5
    assert cache.get(key) == {"a": 1}
    now[0] += 56  # 61 s after the last clear
    assert cache.get(key) is None
    cache.put(key, {"a": 2})
    now[0] += 10.5
    assert cache.get(key) is None  # older than the timeout


@pytest.mark.parametrize(("command", "params", "reason"), [
    (CMD_MARKET_LAST, [], "params: expected 1, got 0"),
    (CMD_MARKET_LAST, [5], "market: must be a string"),
    (CMD_MARKET_LAST, ["NOPE"], "market: unknown market 'NOPE'"),
    (CMD_MARKET_LAST, [""], "market: unknown market ''"),
    (CMD_MARKET_STATUS, ["BTCUSDT", "60"], "period: must be an integer"),
    (CMD_MARKET_STATUS, ["BTCUSDT", 0], "period: must be 1 to 1000 seconds"),
    (CMD_MARKET_KLINE, ["BTCUSDT", -5, NOW, 60], "start: must be a positive time"),
    (CMD_MARKET_KLINE, ["BTCUSDT", NOW, 0, 60], "end: must be a positive time"),
    (CMD_MARKET_KLINE, ["BTCUSDT", NOW, NOW - 60, 60], "start: must not be after end (or now)"),
    (CMD_MARKET_KLINE, ["BTCUSDT", NOW - 60, NOW, 0], "interval: must be a positive number of seconds"),
    (CMD_MARKET_KLINE, ["BTCUSDT", NOW - 60, NOW, 7], "interval: 7 s is not a k-line interval (divides a minute, "
                                                     "hour or day; whole days; a week; a month)"),
    (CMD_MARKET_DEALS, ["BTCUSDT", 10_001, 0], "limit: must be 1 to 10000"),
    (CMD_MARKET_DEALS, ["BTCUSDT", 10, None], "last_id: must be an integer"),
])
def test_an_invalid_argument_names_the_parameter(command: int, params: list[Any], reason: str) -> None:
    with pytest.raises(RpcError) as info:
        call(service(), command, params)
    assert info.value.to_json() == {"code": 1, "message": "invalid argument", "data": reason}
