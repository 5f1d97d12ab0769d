"""marketprice's answers from base buckets: status, today's status, every k-line interval class, deals, last.

The process runs in UTC+8 here (as the original's examples), so local days
start at 16:00 UTC and the k-line `tz` is -28800.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

from marketprice import localtime
from marketprice.kline import Candle
from marketprice.market import Market
from marketprice.query import (
    interval_supported,
    kline,
    last_price,
    latest_before,
    market_status,
    recent_deals,
    status_today,
)
from marketprice.state import Retention

D = Decimal
T = 1700000000  # 2023-11-14 22:13:20 UTC; T % 60 == 20
DAY = 1699977600  # 2023-11-15 00:00 UTC+8 (a Wednesday)
H = 3600
RETENTION = Retention()


@pytest.fixture(autouse=True)
def utc8() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "CST-8"
    time.tzset()
    localtime.reset_cache()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()
    localtime.reset_cache()


def candle(open_: str, close: str, high: str, low: str, volume: str, deal: str) -> Candle:
    return Candle(D(open_), D(close), D(high), D(low), D(volume), D(deal))


def flat(start: int, price: str) -> list[object]:
    return [start, price, price, price, price, "0", "0", "M"]


def test_local_time_helpers_in_utc8() -> None:
    assert localtime.kline_tz() == -28800
    assert localtime.day_start(T) == DAY
    assert localtime.day_start(DAY - 1) == DAY - 86400
    assert localtime.month_of(T) == (2023, 11)
    assert localtime.month_start(2023, 11) == 1698768000
    assert localtime.next_month(2023, 12) == (2024, 1)
    assert localtime.c_div(-7, 2) == -3 and localtime.c_div(7, 2) == 3


def test_kline_tz_for_a_western_zone() -> None:
    os.environ["TZ"] = "EST+5"
    time.tzset()
    assert localtime.kline_tz() == 18000


def test_interval_classes() -> None:
    allowed = {1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60, 120, 180, 240, 300, 360, 600, 720, 900, 1200, 1800,
               3600, 7200, 10800, 14400, 21600, 28800, 43200, 86400, 172800, 259200, 345600, 432000, 518400,
               604800, 2592000}
    assert {i for i in range(1, 2_600_000) if interval_supported(i)} == allowed


def seconds_market() -> Market:
    market = Market("M")
    market.sec[T + 1] = candle("10", "11", "12", "9", "1", "10")
    market.sec[T + 3] = candle("11", "12", "13", "11", "2", "24")
    market.sec[T + 12] = candle("12", "10", "12", "10", "1", "10")
    return market


def test_seconds_kline_merges_flat_fills_and_skips_before_the_first_candle() -> None:
    market = seconds_market()
    rows = kline(market, T - 12, T + 19, 5, T + 100, RETENTION)
    assert rows == [
        [T, "10", "12", "13", "9", "3", "34", "M"],
        flat(T + 5, "12"),
        [T + 10, "12", "10", "12", "10", "1", "10", "M"],
        flat(T + 15, "10"),
    ]
    assert kline(market, T + 1, T + 1, 1, T + 100, RETENTION) == [[T + 1, "10", "11", "12", "9", "1", "10", "M"]]


def test_seconds_kline_starts_from_the_candle_before_the_range() -> None:
    market = seconds_market()
    # nothing in [T+5, T+9]: the latest 1 s bucket before it (T+3, close 12) gives flat candles
    assert kline(market, T + 5, T + 9, 5, T + 100, RETENTION) == [flat(T + 5, "12")]
    assert kline(market, T + 6, T + 8, 1, T + 100, RETENTION) == [flat(T + 6, "12"), flat(T + 7, "12"),
                                                                   flat(T + 8, "12")]
    # nothing before and nothing inside: no rows
    assert kline(market, T - 50, T - 1, 10, T + 100, RETENTION) == []


def test_seconds_kline_is_clamped_to_the_retention() -> None:
    market = seconds_market()
    market.sec[T - 30] = candle("1", "2", "2", "1", "1", "2")
    short = Retention(sec_max=98)  # now - sec_max = T + 2: T + 1 and T - 30 are out of reach
    assert kline(market, T - 100, T + 4, 1, T + 100, short) == [[T + 3, "11", "12", "13", "11", "2", "24", "M"],
                                                               flat(T + 4, "12")]


def test_minutes_kline() -> None:
    market = Market("M")
    base = T - 3200  # a multiple of 300
    assert base % 300 == 0
    market.min[base + 60] = candle("5", "6", "7", "5", "1", "6")
    market.min[base + 240] = candle("6", "4", "6", "3", "2", "9")
    market.min[base + 600] = candle("4", "8", "8", "4", "1", "8")
    rows = kline(market, base + 100, base + 900, 300, T, RETENTION)
    assert rows == [
        [base, "5", "4", "7", "3", "3", "15", "M"],
        flat(base + 300, "4"),
        [base + 600, "4", "8", "8", "4", "1", "8", "M"],
        flat(base + 900, "8"),
    ]
    # the previous minute bucket seeds the flat candles of an empty range
    assert kline(market, base + 300, base + 420, 60, T, RETENTION) == [flat(base + 300, "4"),
                                                                       flat(base + 360, "4"),
                                                                       flat(base + 420, "4")]


def test_hours_kline_aligns_to_local_midnight() -> None:
    market = Market("M")
    market.hour[DAY + 3 * H] = candle("1", "2", "3", "1", "1", "2")
    market.hour[DAY + 5 * H] = candle("2", "5", "5", "2", "1", "5")
    market.hour[DAY + 9 * H] = candle("5", "4", "6", "4", "2", "8")
    # 3 h buckets from local midnight (16:00 UTC), not from UTC midnight
    rows = kline(market, DAY + 4 * H, DAY + 12 * H, 10800, DAY + 20 * H, RETENTION)
    assert rows == [
        [DAY + 3 * H, "1", "5", "5", "1", "2", "7", "M"],
        flat(DAY + 6 * H, "5"),
        [DAY + 9 * H, "5", "4", "6", "4", "2", "8", "M"],
        flat(DAY + 12 * H, "4"),
    ]
    assert kline(market, DAY + 6 * H, DAY + 7 * H, 3600, DAY + 20 * H, RETENTION) == [
        flat(DAY + 6 * H, "5"), flat(DAY + 7 * H, "5")]


def day_market() -> Market:
    market = Market("M")
    market.day[DAY - 86400] = candle("1", "2", "2", "1", "1", "2")
    market.day[DAY] = candle("2", "3", "4", "2", "2", "6")
    market.day[DAY + 2 * 86400] = candle("3", "1", "3", "1", "1", "1")
    return market


def test_days_kline_aligns_to_local_days_with_the_tz_offset() -> None:
    market = day_market()
    now = DAY + 5 * 86400
    assert kline(market, DAY + 5 * H, DAY + 3 * 86400, 86400, now, RETENTION) == [
        [DAY, "2", "3", "4", "2", "2", "6", "M"],
        flat(DAY + 86400, "3"),
        [DAY + 2 * 86400, "3", "1", "3", "1", "1", "1", "M"],
        flat(DAY + 3 * 86400, "1"),
    ]
    # 2-day buckets: (DAY + 8 h) is a multiple of 172800, so DAY starts one
    assert kline(market, DAY + 86400 + 5 * H, DAY + 3 * 86400, 172800, now, RETENTION) == [
        [DAY, "2", "3", "4", "2", "2", "6", "M"],
        [DAY + 2 * 86400, "3", "1", "3", "1", "1", "1", "M"],
    ]


def test_week_kline_starts_on_local_monday() -> None:
    market = day_market()
    monday = DAY - 2 * 86400  # 2023-11-13 00:00 UTC+8
    rows = kline(market, DAY + 5 * H, DAY + 14 * 86400, 604800, DAY + 20 * 86400, RETENTION)
    assert rows == [
        [monday, "1", "1", "4", "1", "4", "9", "M"],
        flat(monday + 604800, "1"),
        flat(monday + 2 * 604800, "1"),
    ]


NOV, DEC, JAN = 1698768000, 1701360000, 1704038400  # local month starts (UTC+8) of 2023-11, 2023-12, 2024-01


def month_market() -> Market:
    market = Market("M")
    market.day[NOV + 86400] = candle("1", "2", "3", "1", "1", "2")
    market.day[NOV + 19 * 86400] = candle("2", "5", "6", "2", "1", "5")
    market.day[JAN + 86400] = candle("5", "4", "5", "4", "2", "8")
    return market


def test_month_kline_uses_calendar_months() -> None:
    market = month_market()
    now = JAN + 20 * 86400
    assert kline(market, T, JAN + 15 * 86400, 2592000, now, RETENTION) == [
        [NOV, "1", "5", "6", "1", "2", "7", "M"],
        flat(DEC, "5"),
        [JAN, "5", "4", "5", "4", "2", "8", "M"],
    ]
    # days after `end` are not read: January is flat
    assert kline(market, T, JAN + 12 * H, 2592000, now, RETENTION)[-1] == flat(JAN, "5")


def test_month_kline_previous_candle_is_searched_only_30_days_back_from_start() -> None:
    market = month_market()
    now = JAN + 20 * 86400
    # start 2023-12-05: the look-back reaches 2023-11-05..11-30, finds 11-20
    assert kline(market, DEC + 4 * 86400, JAN + 15 * 86400, 2592000, now, RETENTION) == [
        flat(DEC, "5"),
        [JAN, "5", "4", "5", "4", "2", "8", "M"],
    ]
    # start 2023-12-31: the look-back window is empty, so December (empty) is left out
    assert kline(market, DEC + 30 * 86400, JAN + 15 * 86400, 2592000, now, RETENTION) == [
        [JAN, "5", "4", "5", "4", "2", "8", "M"],
    ]


def test_latest_before_probes_the_same_keys_either_way() -> None:
    buckets = {10: candle("1", "1", "1", "1", "0", "0"), 13: candle("2", "2", "2", "2", "0", "0")}
    assert latest_before(buckets, 20, 0, 1) is buckets[13]
    assert latest_before(buckets, 12, 0, 1) is buckets[10]
    assert latest_before(buckets, 20, 11, 1) is buckets[13]
    assert latest_before(buckets, 12, 11, 1) is None
    assert latest_before(buckets, 20, 0, 5) is buckets[10]  # probes 20, 15, 10, 5, 0
    assert latest_before(buckets, 14, 0, 3) is None  # probes 14, 11, 8, 5, 2: off the keys
    many = {key: candle(str(key), str(key), str(key), str(key), "0", "0") for key in range(100, 200, 3)}
    many.update(buckets)
    assert latest_before(many, 14, 0, 3) is None  # more buckets than probes: probed one by one
    assert latest_before(many, 13, 0, 3) is buckets[13]
    assert latest_before({13: buckets[13]}, 13, 13, 1) is buckets[13]


def status_market() -> Market:
    market = Market("M", last=D("9.50"))
    market.sec[T - 110] = candle("1", "1", "1", "1", "9", "9")  # before the window
    market.sec[T - 90] = candle("3", "4", "5", "2", "1", "4")
    market.sec[T - 70] = candle("4", "4", "4", "4", "7", "7")  # counted through its minute bucket
    market.min[T - 140] = candle("1", "1", "1", "1", "9", "9")  # before the window
    market.min[T - 80] = candle("4", "6", "7", "4", "2", "11")
    market.min[T + 40] = candle("6", "5", "6", "1", "1.50", "7.500")
    return market


def test_market_status_merges_seconds_then_minutes() -> None:
    now = T + 100  # minute aligned; window start T - 100 is 40 s into its minute
    assert market_status(status_market(), 200, now) == {
        "period": 200, "last": "9.5", "open": "3", "close": "5", "high": "7", "low": "1", "volume": "4.5",
        "deal": "22.5"}
    assert market_status(Market("M"), 200, now) == {
        "period": 200, "last": "0", "open": "0", "close": "0", "high": "0", "low": "0", "volume": "0",
        "deal": "0"}


def test_status_today_prices_of_the_local_day_and_volume_of_24_hours() -> None:
    market = status_market()
    now = T + 100
    market.day[DAY] = candle("3", "5", "7", "1", "100", "500")
    market.sec[now - 86400 - 1] = candle("1", "1", "1", "1", "5000", "5000")  # just outside the 24 h
    market.sec[now - 86400 + 30] = candle("1", "1", "1", "1", "1000", "1000")  # in its first minute
    # the 1 s buckets of the last few minutes count through their minute buckets only
    assert status_today(market, now) == {"open": "3", "last": "5", "high": "7", "low": "1", "volume": "1012.5",
                                         "deal": "1027.5"}
    del market.day[DAY]
    market.day[DAY - 3 * 86400] = candle("1", "8.10", "9", "1", "1", "8")
    market.day[DAY - 31 * 86400] = candle("1", "2", "2", "1", "1", "2")
    assert status_today(market, now) == {"open": "8.1", "last": "8.1", "high": "8.1", "low": "8.1",
                                         "volume": "1012.5", "deal": "1027.5"}
    del market.day[DAY - 3 * 86400]  # only a bucket 31 days back: too old
    assert status_today(market, now)["open"] == "0"
    assert status_today(Market("M"), now) == {"open": "0", "last": "0", "high": "0", "low": "0", "volume": "0",
                                              "deal": "0"}


def test_recent_deals_and_last_price() -> None:
    market = Market("M")
    for deal_id in range(1, 8):
        market.apply(T + deal_id / 10, D("9500.00000000"), D("0.10000000"), 1 + deal_id % 2, deal_id)
    market.settle()
    assert [d["id"] for d in recent_deals(market, 3, 0)] == [7, 6, 5]
    assert [d["id"] for d in recent_deals(market, 100, 4)] == [7, 6, 5]
    assert recent_deals(market, 10, 7) == []
    assert recent_deals(market, 1, 0) == [{"id": 7, "time": T + 0.7, "price": "9500", "amount": "0.1",
                                           "type": "buy"}]
    assert last_price(market) == "9500.00000000"
    assert last_price(Market("N")) == "0"
