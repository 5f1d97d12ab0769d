"""Matching, fees and rounding of the core, with exact decimal expectations."""

from __future__ import annotations

from decimal import Decimal

import pytest

from common.errors import RpcError
from matchengine.balance import Asset
from matchengine.commands import Commands
from matchengine.engine import Engine
from matchengine.market import MarketSpec
from matchengine.order import ASK, BID, ORDER_FINISH, ORDER_PUT, ORDER_UPDATE

from .core_helpers import T0, Recorder, deposit, limit, market_order, spec_engine


def test_spec_scenario_exact_results() -> None:
    engine, c = spec_engine()
    deposit(c, 1, "BCH", "20000")
    deposit(c, 2, "BTC", "3")
    bid = limit(c, 1, BID, "2", "8000", time=1510000000.5)
    assert bid == {
        "id": 1, "market": "BTCBCH", "source": "api.v1", "type": 1, "side": 2, "user": 1,
        "ctime": 1510000000.5, "mtime": 1510000000.5, "price": "8000", "amount": "2",
        "taker_fee": "0.002", "maker_fee": "0.001", "left": "2", "deal_stock": "0",
        "deal_money": "0", "deal_fee": "0",
    }
    ask = limit(c, 2, ASK, "1.5", "7990", time=1510000001.5)
    assert ask["left"] == "0e-8"
    assert (ask["deal_stock"], ask["deal_money"], ask["deal_fee"]) == ("1.5", "12000", "24")
    assert ask["mtime"] == 1510000001.5
    assert c.balance_query([1]) == {"BTC": {"available": "1.4985", "freeze": "0"},
                                    "BCH": {"available": "4000", "freeze": "4000"}}
    assert c.balance_query([2]) == {"BTC": {"available": "1.5", "freeze": "0"},
                                    "BCH": {"available": "11976", "freeze": "0"}}
    resting = c.order_pending_detail(["BTCBCH", 1])
    assert (resting["left"], resting["deal_stock"], resting["deal_money"], resting["deal_fee"]) == (
        "0.5", "1.5", "12000", "0.0015")
    assert c.order_depth(["BTCBCH", 10, "0"]) == {"asks": [], "bids": [["8000", "0.5"]]}
    assert c.asset_summary(["BTC"]) == [{"name": "BTC", "total_balance": "2.9985", "available_count": 2,
                                         "available_balance": "2.9985", "freeze_count": 0,
                                         "freeze_balance": "0"}]


def test_market_bid_spends_money_and_shows_0e_16() -> None:
    engine, c = spec_engine()
    deposit(c, 1, "BCH", "20000")
    deposit(c, 2, "BTC", "3")
    limit(c, 2, ASK, "1", "8100")
    order = market_order(c, 1, BID, "810", time=1510000100.25)
    assert order == {
        "id": 2, "market": "BTCBCH", "source": "", "type": 2, "side": 2, "user": 1,
        "ctime": 1510000100.25, "mtime": 1510000100.25, "price": "0", "amount": "810",
        "taker_fee": "0.002", "maker_fee": "0", "left": "0e-16", "deal_stock": "0.1",
        "deal_money": "810", "deal_fee": "0.0002",
    }
    assert c.balance_query([1]) == {"BTC": {"available": "0.0998", "freeze": "0"},
                                    "BCH": {"available": "19190", "freeze": "0"}}
    # the maker paid its 0.001 fee on 810 money
    assert c.balance_query([2])["BCH"] == {"available": "809.19", "freeze": "0"}


def test_partial_fills_across_several_makers_in_price_time_priority() -> None:
    rec = Recorder()
    engine, c = spec_engine(rec)
    deposit(c, 9, "BTC", "10")
    for user in (1, 2, 3):
        deposit(c, user, "BCH", "100000")
    limit(c, 1, BID, "1", "100")     # order 1
    limit(c, 2, BID, "1", "101")     # order 2: best price
    limit(c, 3, BID, "1", "100")     # order 3: same price as 1, later
    rec.events.clear()
    taker = limit(c, 9, ASK, "2.5", "99", time=T0 + 1)
    deals = rec.of_kind("deal")
    # (deal_id, ask id, bid id, taker side, price, amount)
    assert [d[1:7] for d in deals] == [
        (1, 4, 2, ASK, "101.00000000", "1.00000000"),
        (2, 4, 1, ASK, "100.00000000", "1.00000000"),
        (3, 4, 3, ASK, "100.00000000", "0.50000000"),
    ]
    assert taker["left"] == "0e-8"
    assert taker["deal_money"] == "251"
    # maker 3 keeps half, pending newest first for user 3
    assert c.order_pending([3, "BTCBCH", 0, 10])["records"][0]["left"] == "0.5"
    assert c.order_book(["BTCBCH", BID, 0, 10])["total"] == 1
    orders = [e for e in rec.events if e[0] == "order"]
    assert orders == [("order", ORDER_FINISH, 2, "0e-8"), ("order", ORDER_FINISH, 1, "0e-8"),
                      ("order", ORDER_UPDATE, 3, "0.50000000"), ("order", ORDER_FINISH, 4, "0e-8")]


def test_limit_taker_stops_at_its_price_and_rests_the_rest() -> None:
    rec = Recorder()
    engine, c = spec_engine(rec)
    deposit(c, 1, "BTC", "5")
    deposit(c, 2, "BCH", "100000")
    limit(c, 1, ASK, "1", "100")
    limit(c, 1, ASK, "1", "102")
    rec.events.clear()
    order = limit(c, 2, BID, "3", "101")
    assert order["left"] == "2"
    assert order["deal_stock"] == "1"
    assert rec.of_kind("order")[-1] == ("order", ORDER_PUT, 3, "2.00000000")
    # price improvement stays available: 3 × 101 was checked, 100 paid, 2 × 101 frozen
    assert c.balance_query([2])["BCH"] == {"available": "99698", "freeze": "202"}
    assert c.order_depth(["BTCBCH", 10, "0"]) == {"asks": [["102", "1"]], "bids": [["101", "2"]]}


def test_fee_rounding_truncates_seller_fee_beyond_prec_save() -> None:
    # money prec_save 8: the seller fee price*amount*rate has 8+2+4 = 14 decimals
    engine = Engine([Asset("AAA", 8, 8), Asset("MMM", 10, 8)],
                    [MarketSpec("AAAMMM", "AAA", "MMM", 2, 8, 4, Decimal("0.01"))])
    c = Commands(engine)
    c.balance_update([1, "AAA", "deposit", 1, "1", {}], T0)
    c.balance_update([2, "MMM", "deposit", 2, "100", {}], T0)
    c.put_limit([2, "AAAMMM", BID, "0.33", "1.23456789", "0.0003", "0.0003", ""], T0)
    taker = c.put_limit([1, "AAAMMM", ASK, "0.33", "1.23456789", "0.0003", "0.0003", ""], T0)[0]
    deal = Decimal("1.23456789") * Decimal("0.33")
    fee = deal * Decimal("0.0003")
    assert taker["deal_fee"] == str(fee)  # exact in the order record: 0.000122222221110
    # credited exactly, then the fee subtraction truncated to 10 decimals
    assert engine.balances.get_available(1, "MMM") == (deal - fee).quantize(Decimal("1e-10"), "ROUND_DOWN")
    # 0.4074074037 - 0.00012222222111 = 0.40728518147889, cut to 10 decimals
    assert engine.balances.get_available(1, "MMM") == Decimal("0.4072851814")


def test_zero_fee_gives_exponent_zero_forms() -> None:
    engine, c = spec_engine()
    deposit(c, 1, "BTC", "1")
    deposit(c, 2, "BCH", "100")
    limit(c, 2, BID, "1", "10", taker="0", maker="0")
    taker = limit(c, 1, ASK, "1", "10", taker="0", maker="0")
    # deal (exponent −16) × rate (exponent −4): a zero with exponent −20, as libmpdec
    assert taker["deal_fee"] == "0e-20"
    assert taker["left"] == "0e-8"


def test_market_ask_runs_out_of_liquidity() -> None:
    rec = Recorder()
    engine, c = spec_engine(rec)
    deposit(c, 1, "BTC", "5")
    deposit(c, 2, "BCH", "1000")
    limit(c, 2, BID, "0.5", "100")
    limit(c, 2, BID, "0.25", "90")
    order = market_order(c, 1, ASK, "2")
    assert order["left"] == "1.25"
    assert order["deal_stock"] == "0.75"
    assert order["deal_money"] == "72.5"
    assert c.order_book(["BTCBCH", BID, 0, 10])["total"] == 0
    # unfilled stock is simply left available
    assert c.balance_query([1])["BTC"] == {"available": "4.25", "freeze": "0"}
    assert rec.events[-2:] == [("finished", 3), ("order", ORDER_FINISH, 3, "1.25000000")]


def test_market_bid_runs_out_of_liquidity_and_cannot_buy_a_unit() -> None:
    engine, c = spec_engine()
    deposit(c, 1, "BTC", "5")
    deposit(c, 2, "BCH", "1000")
    limit(c, 1, ASK, "0.5", "100")
    order = market_order(c, 2, BID, "80")
    assert order["deal_stock"] == "0.5"
    assert order["left"] == "30"
    assert c.order_book(["BTCBCH", ASK, 0, 10])["total"] == 0
    # remaining money that buys less than 1e-8 stock at the next price stops the sweep
    limit(c, 1, ASK, "0.1", "100")
    limit(c, 1, ASK, "1", "1000000")
    order = market_order(c, 2, BID, "10.000001")
    assert (order["deal_stock"], order["deal_money"], order["left"]) == ("0.1", "10", "0.000001")
    assert c.order_book(["BTCBCH", ASK, 0, 10])["total"] == 1


def test_market_bid_amount_steps_down_until_affordable() -> None:
    engine, c = spec_engine()
    deposit(c, 1, "BTC", "5")
    deposit(c, 2, "BCH", "1000")
    limit(c, 1, ASK, "1", "3")
    order = market_order(c, 2, BID, "1")
    # 1/3 = 0.33333333 stock costs 0.99999999
    assert order["deal_stock"] == "0.33333333"
    assert order["deal_money"] == "0.99999999"
    # 1.00000000 − 0.9999999900000000: a 16-decimal result printed in exponent form
    assert order["left"] == "1.00000000e-8"


def test_self_trade_is_allowed_and_conserves() -> None:
    engine, c = spec_engine()
    deposit(c, 1, "BTC", "1")
    deposit(c, 1, "BCH", "1000")
    limit(c, 1, BID, "1", "100")
    taker = limit(c, 1, ASK, "1", "100")
    assert taker["deal_stock"] == "1"
    # paid fees on both sides: 0.2 BCH (taker ask) and 0.001 BTC (maker bid)
    assert c.balance_query([1]) == {"BTC": {"available": "0.999", "freeze": "0"},
                                    "BCH": {"available": "999.8", "freeze": "0"}}


def test_cancel_releases_freeze_and_checks_owner() -> None:
    rec = Recorder()
    engine, c = spec_engine(rec)
    deposit(c, 1, "BCH", "1000")
    order = limit(c, 1, BID, "2", "100")
    assert c.balance_query([1])["BCH"] == {"available": "800", "freeze": "200"}
    with pytest.raises(RpcError) as exc:
        c.cancel([2, "BTCBCH", order["id"]], T0)
    assert (exc.value.code, exc.value.message) == (11, "user not match")
    with pytest.raises(RpcError) as exc:
        c.cancel([1, "BTCBCH", 999], T0)
    assert (exc.value.code, exc.value.message) == (10, "order not found")
    rec.events.clear()
    cancelled, [entry] = c.cancel([1, "BTCBCH", order["id"]], T0 + 5)
    assert cancelled["left"] == "2" and cancelled["mtime"] == T0
    assert entry == ("cancel_order", [1, "BTCBCH", order["id"]])
    assert c.balance_query([1])["BCH"] == {"available": "1000", "freeze": "0"}
    # cancelled without a fill: a FINISH message but no order history
    assert rec.events == [("order", ORDER_FINISH, 1, "2.00000000")]
    with pytest.raises(RpcError):
        c.cancel([1, "BTCBCH", order["id"]], T0)


def test_cancel_after_partial_fill_is_recorded() -> None:
    rec = Recorder()
    engine, c = spec_engine(rec)
    deposit(c, 1, "BCH", "1000")
    deposit(c, 2, "BTC", "1")
    limit(c, 1, BID, "2", "100")
    limit(c, 2, ASK, "0.5", "100")
    rec.events.clear()
    c.cancel([1, "BTCBCH", 1], T0)
    assert rec.events == [("order", ORDER_FINISH, 1, "1.50000000"), ("finished", 1)]
    assert c.balance_query([1])["BCH"] == {"available": "950", "freeze": "0"}


def test_balance_check_precedes_min_amount_and_consumes_no_id() -> None:
    engine, c = spec_engine()
    with pytest.raises(RpcError) as exc:
        limit(c, 1, BID, "0.0001", "100")
    assert exc.value.code == 10
    deposit(c, 1, "BCH", "1000")
    with pytest.raises(RpcError) as exc:
        limit(c, 1, BID, "0.0001", "100")
    assert (exc.value.code, exc.value.message) == (11, "amount too small")
    assert engine.order_id == 0
    assert limit(c, 1, BID, "0.001", "100")["id"] == 1


def test_market_order_checks() -> None:
    engine, c = spec_engine()
    deposit(c, 1, "BTC", "1")
    deposit(c, 2, "BCH", "1000")
    with pytest.raises(RpcError) as exc:
        market_order(c, 1, ASK, "2")
    assert exc.value.code == 10
    with pytest.raises(RpcError) as exc:
        market_order(c, 1, ASK, "0.5")
    assert (exc.value.code, exc.value.message) == (12, "no enough trader")
    limit(c, 2, BID, "1", "100")
    with pytest.raises(RpcError) as exc:
        market_order(c, 1, ASK, "0.0001")
    assert exc.value.code == 11
    limit(c, 1, ASK, "0.5", "200")
    # bid minimum is best ask price × min_amount = 0.2 money
    with pytest.raises(RpcError) as exc:
        market_order(c, 2, BID, "0.19")
    assert exc.value.code == 11
    assert market_order(c, 2, BID, "0.2")["deal_stock"] == "0.001"


def test_depth_merge_interval_rounds_asks_up_and_bids_down() -> None:
    engine, c = spec_engine()
    deposit(c, 1, "BTC", "100")
    deposit(c, 2, "BCH", "1000000")
    for price in ("100.01", "100.5", "101", "101.2", "103"):
        limit(c, 1, ASK, "1", price)
    for price in ("99.99", "99.5", "99", "98.7", "97"):
        limit(c, 2, BID, "1", price)
    assert c.order_depth(["BTCBCH", 10, "1"]) == {
        "asks": [["101.00000000", "3"], ["102.00000000", "1"], ["103.00000000", "1"]],
        "bids": [["99.00000000", "3"], ["98.00000000", "1"], ["97.00000000", "1"]],
    } or c.order_depth(["BTCBCH", 10, "1"]) == {
        "asks": [["101", "3"], ["102", "1"], ["103", "1"]],
        "bids": [["99", "3"], ["98", "1"], ["97", "1"]],
    }
    assert c.order_depth(["BTCBCH", 2, "0"]) == {
        "asks": [["100.01", "1"], ["100.5", "1"]], "bids": [["99.99", "1"], ["99.5", "1"]]}
    assert c.order_depth(["BTCBCH", 0, "0"]) == {"asks": [], "bids": []}
    # an interval below money precision quantizes to zero: one level per price
    assert len(c.order_depth(["BTCBCH", 101, "0.000000001"])["asks"]) == 5


def test_book_and_pending_ordering() -> None:
    engine, c = spec_engine()
    deposit(c, 1, "BTC", "100")
    deposit(c, 2, "BTC", "100")
    limit(c, 1, ASK, "1", "105")
    limit(c, 2, ASK, "1", "101")
    limit(c, 1, ASK, "1", "101")
    limit(c, 2, ASK, "1", "103")
    book = c.order_book(["BTCBCH", ASK, 0, 101])
    assert [o["id"] for o in book["orders"]] == [2, 3, 4, 1]
    assert book["total"] == 4
    assert [o["id"] for o in c.order_book(["BTCBCH", ASK, 1, 2])["orders"]] == [3, 4]
    assert c.order_book(["BTCBCH", ASK, -1, 2])["orders"] == []
    pending = c.order_pending([1, "BTCBCH", 0, 10])
    assert [o["id"] for o in pending["records"]] == [3, 1]
    assert (pending["total"], pending["offset"], pending["limit"]) == (2, 0, 10)
    assert c.order_pending([7, "BTCBCH", 0, 10]) == {"limit": 10, "offset": 0, "total": 0, "records": []}
    assert c.market_summary([]) == [{"name": "BTCBCH", "ask_count": 4, "ask_amount": "4",
                                     "bid_count": 0, "bid_amount": "0"}]


def test_trade_balance_rows_follow_the_spec_order() -> None:
    rec = Recorder()
    engine, c = spec_engine(rec)
    deposit(c, 1, "BCH", "20000")
    deposit(c, 2, "BTC", "3")
    limit(c, 1, BID, "2", "8000")
    rec.events.clear()
    limit(c, 2, ASK, "1.5", "7990")
    rows = rec.of_kind("trade")
    assert rows == [
        ("trade", 2, "BTC", "-1.50000000", "1.500000000000", 2, None),
        ("trade", 2, "BCH", "12000.0000000000000000", "12000.00000000000000000000", 2, None),
        ("trade", 2, "BCH", "-24.00000000000000000000", "11976.00000000000000000000", 2, "0.0020"),
        ("trade", 1, "BCH", "-12000.0000000000000000", "8000.00000000000000000000", 1, None),
        ("trade", 1, "BTC", "1.50000000", "1.500000000000", 1, None),
        ("trade", 1, "BTC", "-0.001500000000", "1.498500000000", 1, "0.0010"),
    ]
    kinds = [e[0] for e in rec.events]
    assert kinds == ["deal", "trade", "trade", "trade", "trade", "trade", "trade", "order", "finished", "order"]
