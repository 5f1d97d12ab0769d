"""marketprice's base candles: bucketing, the open-price rule, run folding, merging and stored formats."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.decimals import ZERO
from marketprice import localtime
from marketprice.kline import Candle, OpenRule, candle_text, merge_all, new_bucket_open, parse_candle_text
from marketprice.market import DEALS_MAX, Market, deal_object, deal_text, jansson_real

D = Decimal
T = 1700000000  # 2023-11-14 22:13:20 UTC, 2023-11-15 06:13:20 in UTC+8
DAY_UTC8 = 1699977600  # 2023-11-15 00:00 UTC+8


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


def values(candle: Candle) -> tuple[str, ...]:
    return tuple(str(v) for v in (candle.open, candle.close, candle.high, candle.low, candle.volume, candle.deal))


def apply_all(market: Market, deals: list[tuple[float, str, str, int, int]]) -> None:
    for at, price, amount, side, deal_id in deals:
        market.apply(at, D(price), D(amount), side, deal_id)
    market.settle()


def test_one_deal_lands_in_its_second_minute_hour_and_local_day() -> None:
    market = Market("BTCUSDT")
    apply_all(market, [(T + 0.5, "9500.00000000", "1.50000000", 2, 1)])
    assert list(market.sec) == [T]
    assert list(market.min) == [T - 20]
    assert list(market.hour) == [T - 800]
    assert list(market.day) == [DAY_UTC8]
    # HEAD rule on a market without a price: the bucket opens (and its low sits) at 0
    for family in market.families:
        assert values(next(iter(family.values()))) == (
            "0", "9500.00000000", "9500.00000000", "0", "1.50000000", "14250.0000000000000000")
    assert str(market.last) == "9500.00000000"
    assert [set(d) for d in market.dirty] == [{T}, {T - 20}, {T - 800}, {DAY_UTC8}]


def test_a_new_bucket_opens_at_the_previous_last_price_and_includes_it_in_high_low() -> None:
    market = Market("BTCUSDT", last=D("100"))
    apply_all(market, [
        (T + 0.1, "110", "1", 1, 1),
        (T + 0.7, "105", "2", 2, 2),  # same second
        (T + 1.2, "90", "1", 1, 3),  # next second, same minute
        (T + 40.0, "95", "3", 2, 4),  # next minute (T is 20 s into its minute)
    ])
    assert values(market.sec[T]) == ("100", "105", "110", "100", "3", "320")
    assert values(market.sec[T + 1]) == ("105", "90", "105", "90", "1", "90")
    assert values(market.sec[T + 40]) == ("90", "95", "95", "90", "3", "285")
    assert values(market.min[T - 20]) == ("100", "90", "110", "90", "4", "410")
    assert values(market.min[T + 40]) == ("90", "95", "95", "90", "3", "285")
    assert values(market.hour[T - 800]) == ("100", "95", "110", "90", "7", "695")
    assert values(market.day[DAY_UTC8]) == ("100", "95", "110", "90", "7", "695")
    assert str(market.last) == "95"


def test_pre_head_rule_opens_a_bucket_at_its_first_deal() -> None:
    market = Market("BTCUSDT", OpenRule.FIRST_TRADE, last=D("100"))
    apply_all(market, [(T + 0.1, "110", "1", 1, 1), (T + 1.5, "90", "1", 1, 2)])
    assert values(market.sec[T]) == ("110", "110", "110", "110", "1", "110")
    assert values(market.sec[T + 1]) == ("90", "90", "90", "90", "1", "90")
    assert values(market.min[T - 20]) == ("110", "90", "110", "90", "2", "200")
    assert new_bucket_open(OpenRule.PREVIOUS_LAST, D(1), D(2)) == D(1)
    assert new_bucket_open(OpenRule.FIRST_TRADE, D(1), D(2)) == D(2)


def test_day_bucket_follows_local_midnight() -> None:
    market = Market("BTCUSDT")
    apply_all(market, [(DAY_UTC8 - 0.5, "1", "1", 1, 1), (DAY_UTC8 + 0.5, "2", "1", 1, 2)])
    assert sorted(market.day) == [DAY_UTC8 - 86400, DAY_UTC8]
    assert values(market.day[DAY_UTC8]) == ("1", "2", "2", "1", "1", "2")


@dataclass
class ReferenceMarket:
    """A market for `reference_apply`: the last price and, per family, buckets [open, close, high, low, volume, deal]."""

    last: Decimal
    families: dict[str, dict[int, list[Decimal]]] = field(
        default_factory=lambda: {"sec": {}, "min": {}, "hour": {}, "day": {}})


def reference_apply(market: ReferenceMarket, at: float, price: Decimal, amount: Decimal) -> None:
    """The spec's one-deal-at-a-time algorithm (spec/marketprice.md §3, HEAD rule)."""
    second = int(at)
    last = market.last
    keys = (second, second // 60 * 60, second // 3600 * 3600, localtime.day_start(second))
    for family, key in zip(("sec", "min", "hour", "day"), keys, strict=True):
        buckets = market.families[family]
        if key not in buckets:
            buckets[key] = [last, last, last, last, ZERO, ZERO]
        bucket = buckets[key]
        bucket[1] = price
        bucket[4] += amount
        bucket[5] += price * amount
        if price > bucket[2]:
            bucket[2] = price
        if price < bucket[3]:
            bucket[3] = price
    market.last = price


deal_lists = st.lists(
    st.tuples(st.integers(0, 200_000), st.integers(0, 999_999),
              st.sampled_from(["9500.00000000", "9499.5", "9600", "1.00000001", "9500.00"]),
              st.sampled_from(["1.50000000", "0.001", "2", "0.00000001", "3.10"])),
    min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(deal_lists)
def test_folding_runs_of_a_second_equals_applying_deals_one_by_one(deals: list[tuple[int, int, str, str]]) -> None:
    deals = sorted(deals)
    market = Market("M", last=D("9000"))
    reference = ReferenceMarket(last=D("9000"))
    for deal_id, (offset, micros, price, amount) in enumerate(deals, 1):
        at = T + offset + micros / 1e6
        market.apply(at, D(price), D(amount), 1, deal_id)
        reference_apply(reference, at, D(price), D(amount))
    market.settle()
    for family, buckets in zip(("sec", "min", "hour", "day"), market.families, strict=True):
        expected = {k: tuple(str(v) for v in b) for k, b in reference.families[family].items()}
        assert {k: values(c) for k, c in buckets.items()} == expected
    assert market.last == reference.last


def test_merge_starts_flat_at_the_first_open() -> None:
    first = Candle(D("10"), D("12"), D("13"), D("9"), D("1.5"), D("15"))
    second = Candle(D("12"), D("8"), D("12"), D("7"), D("2"), D("20"))
    merged = merge_all([first, second])
    assert merged is not None
    assert values(merged) == ("10", "8", "13", "7", "3.5", "35")
    assert merge_all([]) is None
    assert values(Candle.flat(D("5"))) == ("5", "5", "5", "5", "0", "0")


def test_candle_text_is_the_original_json_with_fmt_values() -> None:
    candle = Candle(D("9500.00000000"), D("9510.00000000"), D("9510.00000000"), D("9500.00000000"),
                    D("1.50000000"), D("14257.5000000000000000"))
    assert candle_text(candle) == '["9500", "9510", "9510", "9500", "1.5", "14257.5"]'
    assert candle_text(Candle.flat(D("0e-8"))) == '["0e-8", "0e-8", "0e-8", "0e-8", "0", "0"]'


def test_stored_candles_are_read_back_and_bad_ones_refused() -> None:
    parsed = parse_candle_text(b'["9500", "9510", "9510", "9500", "1.5", "14257.5"]')
    assert parsed is not None and values(parsed) == ("9500", "9510", "9510", "9500", "1.5", "14257.5")
    legacy = parse_candle_text('["1", "2", "3", "0.5", "7"]')  # older data: no deal value
    assert legacy is not None and values(legacy) == ("1", "2", "3", "0.5", "7", "0")
    for bad in (b"not json", b'{"a": 1}', b'["1", "2", "3", "4"]', b'["1", "2", "x", "4", "5"]',
                b'[1, 2, 3, 4, 5]', b'["NaN", "1", "1", "1", "1"]'):
        assert parse_candle_text(bad) is None


def test_deal_object_and_redis_text() -> None:
    record = (42, 1602505357.4131939, D("9500.00000000"), D("1.50000000"), 2)
    assert deal_object(record) == {"id": 42, "time": 1602505357.4131939, "price": "9500", "amount": "1.5",
                                   "type": "buy"}
    assert deal_text(record) == ('{"id": 42, "time": 1602505357.4131939, "price": "9500", "amount": "1.5", '
                                 '"type": "buy"}')
    assert deal_object((1, 2.0, D("1"), D("1"), 1))["type"] == "sell"
    assert jansson_real(1510000001.0) == "1510000001.0"
    assert jansson_real(1510000001.5) == "1510000001.5"


def test_the_deal_list_keeps_the_newest_ten_thousand_and_knows_what_is_unflushed() -> None:
    market = Market("M")
    for deal_id in range(1, DEALS_MAX + 6):
        market.apply(T + deal_id, D("1"), D("1"), 1, deal_id)
    market.settle()
    assert len(market.deals) == DEALS_MAX
    assert market.deals[0][0] == DEALS_MAX + 5
    assert market.deals[-1][0] == 6
    market.flushed_deal_id = DEALS_MAX + 2
    assert [r[0] for r in market.unflushed_deals()] == [DEALS_MAX + 5, DEALS_MAX + 4, DEALS_MAX + 3]


def test_prune_drops_old_buckets_but_keeps_days() -> None:
    market = Market("M")
    apply_all(market, [(T - 10 * 86400 + 0.5, "1", "1", 1, 1), (T + 0.5, "2", "1", 1, 2)])
    dropped = market.prune((T - 86400, T - 86400, T - 86400))
    assert dropped == 3
    assert list(market.sec) == [T] and list(market.min) == [T - 20] and list(market.hour) == [T - 800]
    assert len(market.day) == 2
