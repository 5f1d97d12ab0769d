"""readhistory's pure parts: parameter reading, the SQL of each command, row conversion."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from common.errors import RpcError
from readhistory.params import Page, as_signed64, read_int32, read_integer, read_u32, read_u64
from readhistory.queries import (
    MAX_BUSINESS_BRANCHES,
    QUERIES,
    balance_history_query,
    finished_order_query,
    finished_stop_query,
    market_user_deals_query,
    order_deals_query,
    order_history_query,
)
from readhistory.records import decimal_text, detail_object, stop_record
from tests.support import follow_lookups


def invalid(build: Any, params: list[Any]) -> bool:
    with pytest.raises(RpcError) as exc:
        build(params)
    return exc.value.code == 1 and exc.value.message == "invalid argument"


def test_integers_must_be_json_integers() -> None:
    assert read_integer(5, "x") == 5 and read_integer(-3, "x") == -3
    for value in ("5", 5.0, True, False, None, [1], {"a": 1}):
        with pytest.raises(RpcError) as exc:
            read_integer(value, "x")
        assert exc.value.code == 1


def test_unsigned_and_signed_wrapping() -> None:
    assert read_u32(-1, "x") == 4294967295
    assert read_u32(4294967297, "x") == 1
    assert read_u64(-1, "x") == 2**64 - 1
    assert read_int32(2**32 + 1, "x") == 1
    assert read_int32(2**31, "x") == -(2**31)
    assert as_signed64(2**64 - 1) == -1
    assert as_signed64(7) == 7


def test_page_rules_and_sql_tail() -> None:
    assert Page.read(0, 10).sql() == (" ORDER BY `id` DESC LIMIT %s", (10,))
    assert Page.read(5, 101).sql() == (" ORDER BY `id` DESC LIMIT %s, %s", (5, 101))
    assert Page.read(-1, 1).sql() == (" ORDER BY `id` DESC LIMIT %s, %s", (2**63 - 1, 1))
    assert Page.read(-1, 1).wrap([]) == {"offset": -1, "limit": 1, "records": []}
    with pytest.raises(RpcError):
        Page.read("7", 3)
    for limit in (0, 102, -1, "10", 10.0, None):
        with pytest.raises(RpcError):
            Page.read(0, limit)


def test_balance_history_sql_appends_filters_in_the_original_order() -> None:
    query = balance_history_query([101, "BTC", "trade", 100, 200, 3, 5])
    assert query.sql == (
        "SELECT `time`, `asset`, `business`, `change`, `balance`, `detail` FROM `balance_history_1` "
        "WHERE `user_id` = %s AND `asset` = %s AND `business` = %s AND `time` >= %s AND `time` < %s "
        "ORDER BY `id` DESC LIMIT %s, %s")
    assert query.params == (101, "BTC", "trade", 100, 200, 3, 5)
    assert invalid(balance_history_query, [7, "", "", "100", 0, 0, 5])
    bare = balance_history_query([7, "", "", 0, 0, 0, 5])
    assert bare.sql.endswith("FROM `balance_history_7` WHERE `user_id` = %s ORDER BY `id` DESC LIMIT %s")
    assert bare.params == (7, 5)


def test_quotes_in_strings_stay_parameters() -> None:
    query = balance_history_query([1, "B'TC", "x' OR '1'='1", 0, 0, 0, 1])
    assert "'" not in query.sql
    assert query.params[1:3] == ("B'TC", "x' OR '1'='1")


def test_balance_history_checks() -> None:
    good = [1, "", "", 0, 0, 0, 10]
    balance_history_query(good)
    assert invalid(balance_history_query, good[:6])
    assert invalid(balance_history_query, [*good, 1])
    assert invalid(balance_history_query, [0, "", "", 0, 0, 0, 10])
    assert invalid(balance_history_query, ["1", "", "", 0, 0, 0, 10])
    assert invalid(balance_history_query, [2**32, "", "", 0, 0, 0, 10])
    assert invalid(balance_history_query, [1, 5, "", 0, 0, 0, 10])
    assert invalid(balance_history_query, [1, "", None, 0, 0, 0, 10])
    assert invalid(balance_history_query, [1, "A\x00B", "", 0, 0, 0, 10])
    assert invalid(balance_history_query, [1, "", "", 20, 10, 0, 10])
    assert balance_history_query([1, "", "", 20, 0, 0, 10]).params == (1, 20, 10)
    assert balance_history_query([1, "", "", 10, 10, 0, 10]).params == (1, 10, 10, 10)


def test_one_assets_history_looks_up_its_businesses_then_merges_their_newest_rows() -> None:
    query = balance_history_query([103, "ETH", "", 100, 200, 3, 5])
    lookups, final = follow_lookups(query, ["deposit", "trade"])
    assert [(q.sql, q.params, q.shard) for q in lookups] == [
        ("SELECT `business` FROM `balance_history_3` WHERE `user_id` BETWEEN %s AND %s AND `asset` BETWEEN %s AND %s "
         "GROUP BY `user_id`, `asset`, `business` LIMIT %s", (103, 103, "ETH", "ETH", MAX_BUSINESS_BRANCHES + 1), 3)]
    seeks, from_seeks = follow_lookups(query, ["deposit", "trade"], "sqlite")
    assert [(q.sql, q.params, q.shard) for q in seeks] == [
        ("SELECT MIN(`business`) FROM `balance_history_3` WHERE `user_id` = %s AND `asset` = %s", (103, "ETH"), 3),
        ("SELECT MIN(`business`) FROM `balance_history_3` WHERE `user_id` = %s AND `asset` = %s "
         "AND `business` > %s", (103, "ETH", "deposit"), 3),
        ("SELECT MIN(`business`) FROM `balance_history_3` WHERE `user_id` = %s AND `asset` = %s "
         "AND `business` > %s", (103, "ETH", "trade"), 3)]
    branch = ("SELECT * FROM (SELECT `id`, `time`, `asset`, `business`, `change`, `balance`, `detail` "
              "FROM `balance_history_3` WHERE `user_id` = %s AND `asset` = %s AND `business` = %s "
              "AND `time` >= %s AND `time` < %s ORDER BY `id` DESC LIMIT %s) AS `b{}`")
    for statement in (final, from_seeks):
        assert statement.sql == ("SELECT `time`, `asset`, `business`, `change`, `balance`, `detail` FROM ("
                                 + branch.format(0) + " UNION ALL " + branch.format(1)
                                 + ") AS `u` ORDER BY `id` DESC LIMIT %s, %s")
        # each business's newest offset + limit rows, then the page of their merge
        assert statement.params == (103, "ETH", "deposit", 100, 200, 8, 103, "ETH", "trade", 100, 200, 8, 3, 5)
        assert statement.shard == 3
    assert final.shape([(1.0, "ETH", "trade", "1", "2", "{}")])["records"][0]["business"] == "trade"
    # an offset beyond 2^63 - 1 selects nothing either way; each branch's limit stays a signed 64-bit value
    assert follow_lookups(balance_history_query([3, "ETH", "", 0, 0, -1, 5]), ["a"])[1].params == (
        3, "ETH", "a", 2**63 - 1, 2**63 - 1, 5)


@pytest.mark.parametrize("dialect", ["mysql", "sqlite"])
def test_one_assets_history_without_businesses_or_with_too_many_is_the_plain_statement(dialect: str) -> None:
    plain = ("SELECT `time`, `asset`, `business`, `change`, `balance`, `detail` FROM `balance_history_3` "
             "WHERE `user_id` = %s AND `asset` = %s ORDER BY `id` DESC LIMIT %s")
    _, final = follow_lookups(balance_history_query([3, "ETH", "", 0, 0, 0, 5]), [], dialect)
    assert (final.sql, final.params) == (plain, (3, "ETH", 5))
    many = [f"b{n:02}" for n in range(MAX_BUSINESS_BRANCHES + 5)]
    lookups, final = follow_lookups(balance_history_query([3, "ETH", "", 0, 0, 0, 5]), many, dialect)
    if dialect == "sqlite":
        assert len(lookups) == MAX_BUSINESS_BRANCHES + 1  # one more than a merge takes: then it stops looking
    assert (final.sql, final.params) == (plain, (3, "ETH", 5))
    _, final = follow_lookups(balance_history_query([3, "ETH", "", 0, 0, 0, 5]), many[:MAX_BUSINESS_BRANCHES],
                              dialect)
    assert final.sql.count(" UNION ALL ") == MAX_BUSINESS_BRANCHES - 1
    # with a business, or over every asset, one statement as before
    assert not follow_lookups(balance_history_query([3, "ETH", "trade", 0, 0, 0, 5]), [], dialect)[0]
    assert not follow_lookups(balance_history_query([3, "", "", 0, 0, 0, 5]), [], dialect)[0]


def test_order_history_side_and_counts() -> None:
    query = order_history_query([201, "BTCBCH", 0, 0, 0, 10, 2, "ignored", 9])
    assert query.sql.endswith("FROM `order_history_1` WHERE `user_id` = %s AND `market` = %s AND `side` = %s "
                              "ORDER BY `id` DESC LIMIT %s")
    assert query.params == (201, "BTCBCH", 2, 10)
    assert invalid(order_history_query, [1, "M", 0, 0, 0, 10, "2"])
    assert order_history_query([1, "M", 5, 6, 0, 10]).params == (1, "M", 5, 6, 10)
    assert invalid(order_history_query, [1, "M", 0, 0, 0])
    assert invalid(order_history_query, [1, "M", 0, 0, 0, 10, 3])
    assert invalid(order_history_query, [1, "M", 0, 0, 0, 10, -1])
    assert invalid(order_history_query, [1, None, 0, 0, 0, 10])


def test_order_deals_detail_and_user_deals() -> None:
    deals = order_deals_query([2**64 - 1, 1, 2])
    assert deals.sql.startswith("SELECT `time`, `user_id`, `deal_id`, `role`, `price`, `amount`, `deal`, `fee`, "
                                "`deal_order_id` FROM `deal_history_15` WHERE `order_id` = %s")
    assert deals.params == (2**64 - 1, 1, 2)
    assert order_deals_query([-1, 0, 1]).params[0] == 2**64 - 1
    assert invalid(order_deals_query, [0, 0, 10])
    assert invalid(order_deals_query, [1, 0])
    detail = finished_order_query([1234])
    assert detail.sql.endswith("FROM `order_detail_34` WHERE `id` = %s")
    assert detail.shape([]) is None
    assert invalid(finished_order_query, [])
    assert invalid(finished_order_query, [1, 2])
    assert invalid(finished_order_query, [1.5])
    user_deals = market_user_deals_query([99, "BTCBCH", 0, 101])
    assert user_deals.sql.endswith("FROM `user_deal_history_99` WHERE `user_id` = %s AND `market` = %s "
                                   "ORDER BY `id` DESC LIMIT %s")
    assert invalid(market_user_deals_query, [99, "BTCBCH", 0, 102])
    assert invalid(market_user_deals_query, [99, "BTCBCH", 0, 10, 1])


def test_finished_stop_filters_order_and_limits() -> None:
    query = finished_stop_query([201, "BTCBCH", 1, 100, 200, 3, 1001])
    assert query.sql == (
        "SELECT `order_id`, `create_time`, `finish_time`, `user_id`, `option`, `market`, `source`, `t`, `side`, "
        "`stop_price`, `price`, `amount`, `taker_fee`, `maker_fee`, `status`, `client_id` FROM `stop_history_1` "
        "WHERE `user_id` = %s AND `market` = %s AND `side` = %s AND `create_time` >= %s AND `create_time` < %s "
        "ORDER BY `create_time` DESC, `id` DESC LIMIT %s, %s")
    assert query.params == (201, "BTCBCH", 1, 100, 200, 3, 1001)
    every_market = finished_stop_query([7, "", 0, 0, 0, 0, 1])
    assert every_market.sql.endswith("FROM `stop_history_7` WHERE `user_id` = %s "
                                     "ORDER BY `create_time` DESC, `id` DESC LIMIT %s")
    assert every_market.params == (7, 1)
    good = [7, "", 0, 0, 0, 0, 10]
    for params in (good[:6], [*good, 0], [0, *good[1:]], [7, None, *good[2:]], [7, "", 3, *good[3:]],
                   [7, "", -1, *good[3:]], [7, "", "1", *good[3:]], [7, "", 0, 20, 10, 0, 10],
                   [7, "", 0, 0, 0, 0, 0], [7, "", 0, 0, 0, 0, 1002], [7, "", 0, 0, 0, 0, 1.5],
                   [7, "", 0, 0, 0, "1", 10]):
        assert invalid(finished_stop_query, params), params
    with pytest.raises(RpcError) as exc:
        finished_stop_query([7, "", 0, 0, 0, 0, 1002])
    assert exc.value.data == "limit: must be 1 to 1001"
    with pytest.raises(RpcError) as exc:
        finished_stop_query([7, "", 5, 0, 0, 0, 10])
    assert exc.value.data == "side: must be 0 (both), 1 (ask) or 2 (bid)"


def test_stop_record_keys_and_values() -> None:
    row = (12, 1000.5, 1001.25, 7, 0x64, "BTCBCH", "api", 1, 1, "95.00000000", Decimal("89.00000000"),
           "1.00000000", "0.0020", "0.0010", 1, "c1")
    assert stop_record(row) == {
        "id": 12, "ctime": 1000.5, "ftime": 1001.25, "user": 7, "option": 100, "market": "BTCBCH", "source": "api",
        "type": 1, "side": 1, "stop_price": "95", "price": "89", "amount": "1", "taker_fee": "0.002",
        "maker_fee": "0.001", "status": 1, "client_id": "c1"}


@pytest.mark.parametrize(("value", "text"), [
    ("0.00100000", "0.001"), ("-1.00000000", "-1"), ("0.0000000000000000", "0"), ("100", "100"),
    ("12000.0000000000000000", "12000"), ("-0.00150000", "-0.0015"),
    (Decimal("0.00000000"), "0"), (Decimal("8000.00000000"), "8000"), (Decimal("0.00000001"), "0.00000001"),
    (Decimal("-0.00150000"), "-0.0015"), (Decimal("1E+2"), "100"),
])
def test_decimal_columns_are_stripped(value: Any, text: str) -> None:
    assert decimal_text(value) == text


@pytest.mark.parametrize(("text", "detail"), [
    ('{"a": "1.5", "i": 2}', {"a": "1.5", "i": 2}), ("[1, 2]", {}), ("3", {}), ("not json", {}), ("", {}),
    (None, {}), ('{"nested": {"x": [1, null]}}', {"nested": {"x": [1, None]}}),
])
def test_detail_is_an_object_or_empty(text: Any, detail: dict[str, Any]) -> None:
    assert detail_object(text) == detail


@pytest.mark.parametrize(("command", "params"), [
    (103, [1234567, "", "", 0, 0, 0, 10]),
    (208, [1234567, "BTCBCH", 0, 0, 0, 10]),
    (209, [7654321, 0, 10]),
    (210, [7654321]),
    (306, [1234567, "BTCBCH", 0, 10]),
    (215, [1234567, "", 0, 0, 0, 0, 10]),
])
def test_every_query_names_the_shard_it_reads(command: int, params: list[Any]) -> None:
    """readhistory sends each query to the server that holds its shard: the one in its table's name."""
    query = QUERIES[command](params)
    assert query.shard == params[0] % 100
    assert f"_{query.shard}` " in query.sql


@pytest.mark.parametrize(("build", "params", "reason"), [
    (balance_history_query, [1, "BTC", "", 0, 0, 0], "params: expected 7, got 6"),
    (order_history_query, [1, "BTCUSDT", 0, 0, 0], "params: expected at least 6, got 5"),
    (balance_history_query, [0, "BTC", "", 0, 0, 0, 10], "user_id: must not be 0"),
    (balance_history_query, ["1", "BTC", "", 0, 0, 0, 10], "user_id: must be an integer"),
    (balance_history_query, [1, None, "", 0, 0, 0, 10], "asset: must be a string"),
    (balance_history_query, [1, "BTC", "a\x00b", 0, 0, 0, 10], "business: must not hold U+0000"),
    (balance_history_query, [1, "BTC", "", 5, 4, 0, 10], "start_time: must not be after end_time"),
    (balance_history_query, [1, "BTC", "", 0, 1.5, 0, 10], "end_time: must be an integer"),
    (order_history_query, [1, "BTCUSDT", 0, 0, "0", 10], "offset: must be an integer"),
    (order_history_query, [1, "BTCUSDT", 0, 0, 0, 0], "limit: must be 1 to 101"),
    (order_history_query, [1, "BTCUSDT", 0, 0, 0, 10, 3], "side: must be 0 (both), 1 (ask) or 2 (bid)"),
    (order_deals_query, [0, 0, 10], "order_id: must not be 0"),
    (finished_order_query, [], "params: expected 1, got 0"),
    (market_user_deals_query, [1, 5, 0, 10], "market: must be a string"),
])
def test_an_invalid_argument_names_the_parameter(build: Any, params: list[Any], reason: str) -> None:
    with pytest.raises(RpcError) as exc:
        build(params)
    assert exc.value.to_json() == {"code": 1, "message": "invalid argument", "data": reason}
