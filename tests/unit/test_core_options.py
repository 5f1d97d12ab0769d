"""Order options (spec/extensions.md §2 as the port serves it): parameters, check order, outcomes."""

from __future__ import annotations

from typing import Any

import pytest

from matchengine.order import ASK, BID, ORDER_FINISH, ORDER_PUT

from .core_helpers import T0, Recorder, code_of, deposit, limit, limit_with, market_with, spec_engine

IOC, FOK, HIDDEN, MAKER_ONLY, NO_MINIMUM = 0x8, 0x10, 0x20, 0x80, 0x4


def funded(listener: Any = None, **kwargs: Any) -> Any:
    engine, c = spec_engine(listener, **kwargs)
    for user in (1, 2, 3):
        deposit(c, user, "BTC", "100")
        deposit(c, user, "BCH", "1000000")
    return engine, c


@pytest.mark.parametrize("option", ["8", 8.0, True, -1, 0x1, 0x2, 0x40, 0x400, 0x1000, [8], {"a": 1}])
def test_an_option_that_is_not_an_allowed_integer_is_invalid(option: Any) -> None:
    engine, c = funded()
    assert code_of(c.put_limit, [1, "BTCBCH", BID, "1", "100", "0", "0", "", option], T0)[0] == 1
    assert code_of(c.put_market, [1, "BTCBCH", BID, "1", "0", "", option], T0)[0] == 1
    assert engine.order_id == 0


@pytest.mark.parametrize("client_id", ["a b", "x" * 33, "é", "a.b", "tab\t"])
def test_a_client_id_string_of_other_characters_is_invalid(client_id: str) -> None:
    engine, c = funded()
    assert code_of(c.put_limit, [1, "BTCBCH", BID, "1", "100", "0", "0", "", 0, client_id], T0)[0] == 1
    assert engine.order_id == 0


def test_parameter_counts_and_lenient_slots() -> None:
    engine, c = funded()
    # original count: exactly the original object
    original = limit(c, 1, BID, "1", "100")
    assert "option" not in original and "client_id" not in original
    # null option is none; a client id that is not a non-empty string is none (the fork's rule)
    for option, client_id in [(None, 5), (0, None), (None, ""), (0, ["x"])]:
        order = c.put_limit([1, "BTCBCH", BID, "1", "100", "0", "0", "", option, client_id], T0)[0]
        assert (order["option"], order["client_id"]) == (0, "")
    order = c.put_limit([1, "BTCBCH", BID, "1", "100", "0", "0", "", None], T0)[0]
    assert (order["option"], order["client_id"]) == (0, "")
    order = limit_with(c, 1, BID, "1", "100", HIDDEN | 0x300, "My-id_" + "9" * 26)
    assert (order["option"], order["client_id"]) == (0x320, "My-id_" + "9" * 26)
    # more than two extra parameters: invalid
    assert code_of(c.put_limit, [1, "BTCBCH", BID, "1", "100", "0", "0", "", 0, "", 1], T0)[0] == 1
    assert code_of(c.put_market, [1, "BTCBCH", BID, "1", "0", "", 0, "", 1], T0)[0] == 1
    # post-only means nothing to a market order: refused rather than paying taker fees
    assert code_of(c.put_market, [1, "BTCBCH", BID, "1", "0", "", MAKER_ONLY], T0)[0] == 1
    # the extended shape shows in pending, book and detail
    assert c.order_pending([1, "BTCBCH", 0, 1])["records"][0]["client_id"] == "My-id_" + "9" * 26
    assert "option" in c.order_pending_detail(["BTCBCH", order["id"]])
    assert "option" not in c.order_pending_detail(["BTCBCH", original["id"]])


def test_checks_come_in_the_spec_order_and_a_refusal_takes_no_id() -> None:
    engine, c = funded()
    deposit(c, 9, "BCH", "1")
    limit(c, 2, ASK, "1", "100")
    # balance (10) before minimum (11) before FOK (12) before post-only (13)
    assert code_of(limit_with, c, 9, BID, "0.0001", "100000", FOK | MAKER_ONLY) == (10, "balance not enough")
    assert code_of(limit_with, c, 1, BID, "0.0001", "100", FOK | MAKER_ONLY) == (11, "amount too small")
    assert code_of(limit_with, c, 1, BID, "2", "100", FOK | MAKER_ONLY) == (
        12, "can't be completely executed, kill the order")
    assert code_of(limit_with, c, 1, BID, "1", "100", MAKER_ONLY) == (13, "the order may be executed, kill the order")
    assert engine.order_id == 1
    # skip-min-amount lets a small order through
    assert limit_with(c, 1, BID, "0.0001", "99", NO_MINIMUM)["id"] == 2


def test_fok_exactly_at_the_boundary() -> None:
    rec = Recorder()
    engine, c = funded(rec)
    limit(c, 2, ASK, "0.4", "100")
    limit(c, 3, ASK, "0.6", "101")
    limit(c, 2, ASK, "5", "102")  # beyond the price: does not count
    assert code_of(limit_with, c, 1, BID, "1.00000001", "101", FOK)[0] == 12
    order = limit_with(c, 1, BID, "1", "101", FOK)
    assert order["left"] == "0e-8" and order["deal_stock"] == "1"
    assert rec.of_kind("order")[-1] == ("order", ORDER_FINISH, order["id"], "0e-8")
    # market: an ask needs the bids' amount, a bid the asks' money
    limit(c, 2, BID, "0.5", "90")
    assert code_of(market_with, c, 1, ASK, "0.50000001", FOK) == (13, "can't be completely executed, kill the order")
    assert market_with(c, 1, ASK, "0.5", FOK)["left"] == "0e-8"
    assert code_of(market_with, c, 1, BID, "510.00000001", FOK)[0] == 13  # 5 × 102 on the book
    assert market_with(c, 1, BID, "510", FOK)["deal_stock"] == "5"


def test_post_only_is_refused_at_an_equal_price_and_rests_one_tick_away() -> None:
    rec = Recorder()
    engine, c = funded(rec)
    limit(c, 2, ASK, "1", "100")
    limit(c, 2, BID, "1", "90")
    assert code_of(limit_with, c, 1, BID, "1", "100", MAKER_ONLY)[0] == 13
    assert code_of(limit_with, c, 1, ASK, "1", "90", MAKER_ONLY)[0] == 13
    order = limit_with(c, 1, BID, "1", "99.99999999", MAKER_ONLY)
    assert order["left"] == "1" and rec.of_kind("order")[-1][:3] == ("order", ORDER_PUT, order["id"])
    assert code_of(limit_with, c, 1, ASK, "1", "99.99999999", MAKER_ONLY)[0] == 13
    assert limit_with(c, 1, ASK, "1", "100", MAKER_ONLY)["left"] == "1"


def test_ioc_finishes_without_resting_with_or_without_fills() -> None:
    rec = Recorder()
    engine, c = funded(rec)
    limit(c, 2, ASK, "0.3", "100")
    rec.events.clear()
    order = limit_with(c, 1, BID, "1", "100", IOC)
    assert (order["left"], order["deal_stock"]) == ("0.7", "0.3")
    assert rec.events[-2:] == [("finished", order["id"]), ("order", ORDER_FINISH, order["id"], "0.70000000")]
    assert c.order_pending([1, "BTCBCH", 0, 10])["total"] == 0
    assert c.balance_query([1, "BCH"])["BCH"]["freeze"] == "0"
    # no fill: the id is used, FINISH is sent, no history row
    rec.events.clear()
    order = limit_with(c, 1, BID, "1", "99", IOC)
    assert order["id"] == engine.order_id and order["left"] == "1"
    assert rec.events == [("order", ORDER_FINISH, order["id"], "1.00000000")]
    assert c.order_book(["BTCBCH", BID, 0, 10])["total"] == 0


def test_hidden_orders_are_left_out_of_depth_only() -> None:
    engine, c = funded()
    limit_with(c, 2, ASK, "1", "100", HIDDEN)
    limit(c, 2, ASK, "2", "100")
    limit_with(c, 2, ASK, "3", "101", HIDDEN)
    limit_with(c, 3, BID, "1", "90.5", HIDDEN)
    assert c.order_depth(["BTCBCH", 10, "0"]) == {"asks": [["100", "2"]], "bids": []}
    assert c.order_depth(["BTCBCH", 10, "1"]) == {"asks": [["100", "2"]], "bids": []}
    assert c.order_book(["BTCBCH", ASK, 0, 10])["total"] == 3
    assert c.market_summary(["BTCBCH"])[0]["ask_amount"] == "6"
    # hidden orders still match, in time priority
    order = limit(c, 1, BID, "4", "101")
    assert order["deal_stock"] == "4"
    assert c.order_book(["BTCBCH", ASK, 0, 10])["orders"][0]["left"] == "2"
    assert c.order_depth(["BTCBCH", 10, "0"])["asks"] == []


def test_skip_min_amount_on_market_orders() -> None:
    engine, c = funded()
    limit(c, 2, ASK, "1", "100")
    limit(c, 2, BID, "1", "90")
    assert code_of(market_with, c, 1, ASK, "0.0001", 0)[0] == 11
    assert market_with(c, 1, ASK, "0.0001", NO_MINIMUM)["deal_stock"] == "0.0001"
    assert code_of(market_with, c, 1, BID, "0.01", 0)[0] == 11
    assert market_with(c, 1, BID, "0.01", NO_MINIMUM | IOC)["deal_stock"] == "0.0001"
