"""Self-trade prevention (spec/extensions.md §6): the taker's mode decides, inside the matching loop."""

from __future__ import annotations

from typing import Any

import pytest

from matchengine.order import ASK, BID, ORDER_FINISH, ORDER_PUT

from .core_helpers import T0, Recorder, code_of, deposit, limit, limit_with, market_with, spec_engine

NONE, CANCEL_TAKER, CANCEL_MAKER, CANCEL_BOTH = 0, 0x100, 0x200, 0x300


def own_makers_in_a_row(stp: int = NONE) -> tuple[Any, Any, Recorder]:
    """Asks: user 1 at 100, 100, 101; user 2 at 101; user 3 at 102 (ids 1..5), one each."""
    rec = Recorder()
    engine, c = spec_engine(rec, stp=stp)
    for user in (1, 2, 3):
        deposit(c, user, "BTC", "100")
        deposit(c, user, "BCH", "1000000")
    for user, price in ((1, "100"), (1, "100"), (1, "101"), (2, "101"), (3, "102")):
        limit(c, user, ASK, "1", price)
    rec.events.clear()
    return engine, c, rec


def asks(c: Any) -> list[tuple[int, str]]:
    return [(o["id"], o["left"]) for o in c.order_book(["BTCBCH", ASK, 0, 101])["orders"]]


def no_self_deal(rec: Recorder) -> bool:
    return all(d[10] != d[11] for d in rec.of_kind("deal"))


def test_none_lets_a_user_trade_with_itself() -> None:
    engine, c, rec = own_makers_in_a_row()
    order = limit(c, 1, BID, "4", "102")
    assert order["deal_stock"] == "4"
    assert [(d[2], d[10], d[11]) for d in rec.of_kind("deal")] == [(1, 1, 1), (2, 1, 1), (3, 1, 1), (4, 2, 1)]


def test_cancel_taker_stops_at_the_first_own_maker() -> None:
    engine, c, rec = own_makers_in_a_row()
    order = limit_with(c, 1, BID, "4", "102", CANCEL_TAKER)
    assert (order["left"], order["deal_stock"]) == ("4", "0")
    assert asks(c) == [(1, "1"), (2, "1"), (3, "1"), (4, "1"), (5, "1")]
    # finished like an unfilled IOC: FINISH, no history, not resting, nothing frozen
    assert rec.events == [("order", ORDER_FINISH, order["id"], "4.00000000")]
    assert c.balance_query([1, "BCH"])["BCH"] == {"available": "1000000", "freeze": "0"}
    # after another user's maker it has traded: then history too
    limit(c, 2, ASK, "0.5", "99")
    rec.events.clear()
    order = limit_with(c, 1, BID, "4", "102", CANCEL_TAKER)
    assert (order["left"], order["deal_stock"]) == ("3.5", "0.5")
    assert rec.events[-2:] == [("finished", order["id"]), ("order", ORDER_FINISH, order["id"], "3.50000000")]
    assert no_self_deal(rec)


def test_cancel_maker_cancels_every_own_maker_and_goes_on() -> None:
    engine, c, rec = own_makers_in_a_row()
    order = limit_with(c, 1, BID, "4", "102", CANCEL_MAKER)
    assert (order["deal_stock"], order["left"]) == ("2", "2")
    # the three own asks were cancelled (as order.cancel: FINISH, freeze released), the rest rests
    finishes = [e for e in rec.of_kind("order") if e[1] == ORDER_FINISH]
    assert [e[2] for e in finishes[:3]] == [1, 2, 3]
    assert rec.of_kind("order")[-1][:3] == ("order", ORDER_PUT, order["id"])
    assert asks(c) == []
    assert c.order_book(["BTCBCH", BID, 0, 10])["orders"][0]["id"] == order["id"]
    assert c.balance_query([1, "BTC"])["BTC"] == {"available": "101.996", "freeze": "0"}
    assert no_self_deal(rec)


def test_cancel_both_cancels_the_first_own_maker_then_the_taker() -> None:
    engine, c, rec = own_makers_in_a_row()
    order = limit_with(c, 1, BID, "4", "102", CANCEL_BOTH)
    assert (order["deal_stock"], order["left"]) == ("0", "4")
    assert rec.events == [("order", ORDER_FINISH, 1, "1.00000000"), ("order", ORDER_FINISH, order["id"], "4.00000000")]
    assert asks(c) == [(2, "1"), (3, "1"), (4, "1"), (5, "1")]


@pytest.mark.parametrize("mode", [CANCEL_TAKER, CANCEL_MAKER, CANCEL_BOTH])
def test_market_orders_and_ask_takers_follow_the_same_rules(mode: int) -> None:
    engine, c, rec = own_makers_in_a_row()
    order = market_with(c, 1, BID, "1000", mode)
    assert no_self_deal(rec)
    expected = {CANCEL_TAKER: "0", CANCEL_MAKER: "2", CANCEL_BOTH: "0"}[mode]
    assert order["deal_stock"] == expected
    # ask takers against own bids
    engine, c = spec_engine(Recorder())
    for user in (1, 2):
        deposit(c, user, "BTC", "100")
        deposit(c, user, "BCH", "100000")
    limit(c, 1, BID, "1", "100")
    limit(c, 1, BID, "1", "99")
    limit(c, 2, BID, "1", "98")
    order = limit_with(c, 1, ASK, "3", "98", mode)
    assert order["deal_stock"] == ("1" if mode == CANCEL_MAKER else "0")
    bids = [o["id"] for o in c.order_book(["BTCBCH", BID, 0, 10])["orders"]]
    assert bids == {CANCEL_TAKER: [1, 2, 3], CANCEL_MAKER: [], CANCEL_BOTH: [2, 3]}[mode]


def test_the_market_default_applies_to_orders_that_set_no_mode() -> None:
    engine, c, rec = own_makers_in_a_row(stp=CANCEL_TAKER)
    # an original-shaped order takes the default
    assert limit(c, 1, BID, "4", "102")["deal_stock"] == "0"
    # an order's own bits win over the default
    assert limit_with(c, 1, BID, "4", "102", CANCEL_MAKER)["deal_stock"] == "2"
    assert no_self_deal(rec)


def test_fok_counts_only_what_the_mode_lets_it_take() -> None:
    engine, c, rec = own_makers_in_a_row()
    # 5 on the book up to 102, 2 of them other users'
    assert code_of(limit_with, c, 1, BID, "2.00000001", "102", 0x10 | CANCEL_MAKER)[0] == 12
    assert limit_with(c, 1, BID, "2", "102", 0x10 | CANCEL_MAKER)["deal_stock"] == "2"
    engine, c, rec = own_makers_in_a_row()
    limit(c, 2, ASK, "0.5", "99")
    # cancel-taker and cancel-both stop at the first own maker: only the 0.5 before it counts
    for mode in (CANCEL_TAKER, CANCEL_BOTH):
        assert code_of(limit_with, c, 1, BID, "0.50000001", "102", 0x10 | mode)[0] == 12
        assert code_of(market_with, c, 1, BID, "49.50000001", 0x10 | mode)[0] == 13
    assert limit_with(c, 1, BID, "0.5", "102", 0x10 | CANCEL_TAKER)["left"] == "0e-8"
    assert no_self_deal(rec)
    assert T0
