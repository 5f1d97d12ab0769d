"""Stop orders (spec/extensions.md §1 as the port serves it): placement, funds, firing, cascades, queries."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from matchengine.balance import Asset
from matchengine.commands import Commands
from matchengine.engine import Engine
from matchengine.market import MarketSpec
from matchengine.order import ASK, BID, ORDER_FINISH
from matchengine.stops import STOP_EVENT_ACTIVE, STOP_EVENT_CANCEL, STOP_EVENT_PUT, STOP_HIGH, STOP_LOW

from .core_helpers import T0, Recorder, code_of, deposit, limit, market_order, spec_engine

LIMIT, MARKET = 1, 2


def stop_limit(c: Commands, user: int, side: int, amount: str, stop_price: str, price: str, *extra: Any,
               time: float = T0) -> dict[str, Any]:
    return c.put_stop_limit([user, "BTCBCH", side, amount, stop_price, price, "0.002", "0.001", "stop", *extra],
                            time)[0]


def stop_market(c: Commands, user: int, side: int, amount: str, stop_price: str, *extra: Any,
                time: float = T0) -> dict[str, Any]:
    return c.put_stop_market([user, "BTCBCH", side, amount, stop_price, "0.002", "stop", *extra], time)[0]


def exchange(last: str | None = "100", rec: Recorder | None = None) -> tuple[Engine, Commands]:
    """Users 1..9 funded; with `last`, one deal at that price between users 8 and 9."""
    engine, c = spec_engine(rec)
    for user in range(1, 10):
        deposit(c, user, "BTC", "100")
        deposit(c, user, "BCH", "100000")
    if last is not None:
        limit(c, 8, ASK, "1", last)
        limit(c, 9, BID, "1", last)
        assert engine.markets["BTCBCH"].last == Decimal(last)
    if rec is not None:
        rec.events.clear()
    return engine, c


def balance(c: Commands, user: int, asset: str) -> dict[str, str]:
    return c.balance_query([user, asset])[asset]


def stop_events(rec: Recorder) -> list[tuple[Any, ...]]:
    return [e for e in rec.events if e[0] in ("stop", "stop_finished")]


def test_placement_checks_in_order_and_a_refusal_takes_no_id() -> None:
    engine, c = exchange(last=None)
    deposit(c, 20, "BTC", "0.00001")
    # no deal yet: last is 0, every stop price is invalid (checked before the balance)
    assert code_of(stop_limit, c, 20, ASK, "5", "90", "89") == (11, "invalid stop price")
    limit(c, 8, ASK, "1", "100")
    limit(c, 9, BID, "1", "100")
    order_id = engine.order_id
    assert code_of(stop_limit, c, 1, ASK, "1", "100", "99") == (11, "invalid stop price")
    # balance (10) before the minimum amount (12)
    assert code_of(stop_limit, c, 20, ASK, "0.0001", "90", "89") == (10, "balance not enough")
    assert code_of(stop_limit, c, 1, ASK, "0.0001", "90", "89") == (12, "amount too small")
    assert code_of(stop_market, c, 1, BID, "0.0899", "90") == (12, "amount too small")  # money < 90 × 0.001
    assert code_of(stop_market, c, 1, BID, "100000.1", "90") == (10, "balance not enough")
    # FOK, post-only and the engine's own stop bit are not for stops
    for option in (0x10, 0x80, 0x40, 0x1):
        assert code_of(stop_limit, c, 1, ASK, "1", "90", "89", option)[0] == 1
        assert code_of(stop_market, c, 1, ASK, "1", "90", option)[0] == 1
    assert engine.order_id == order_id
    # skip-min-amount lets a small one through
    assert stop_limit(c, 1, ASK, "0.0001", "90", "89", 0x4)["id"] == order_id + 1


def test_bad_params_are_invalid() -> None:
    engine, c = exchange()
    good = [1, "BTCBCH", ASK, "1", "90", "89", "0.002", "0.001", "s"]
    bad_values = [(0, "1"), (1, "NOPE"), (2, 3), (3, "0"), (3, "NaN"), (4, "0"), (4, "-1"), (4, "Infinity"),
                  (4, "1e14"), (5, "0"), (5, 89), (6, "1"), (7, "-0.1"), (8, "s" * 31)]
    for index, value in bad_values:
        params = list(good)
        params[index] = value
        assert code_of(c.put_stop_limit, params, T0)[0] == 1, (index, value)
    assert code_of(c.put_stop_limit, good[:8], T0)[0] == 1
    assert code_of(c.put_stop_limit, [*good, 0, "", 1], T0)[0] == 1
    assert code_of(c.put_stop_market, [1, "BTCBCH", ASK, "1", "90", "0.002"], T0)[0] == 1
    assert code_of(c.put_stop_market, [1, "BTCBCH", ASK, "1", "x", "0.002", "s"], T0)[0] == 1
    assert engine.markets["BTCBCH"].stops.stops == {}


def test_the_reply_is_the_stop_and_its_funds_are_frozen_until_cancelled() -> None:
    rec = Recorder()
    engine, c = exchange(rec=rec)
    stop = stop_limit(c, 1, BID, "2", "110", "111", 0x8, "cid-1", time=T0 + 1)
    assert stop == {"id": 3, "type": LIMIT, "side": BID, "user": 1, "option": 0x4C, "state": STOP_HIGH,
                    "ctime": T0 + 1, "mtime": T0 + 1, "market": "BTCBCH", "source": "stop", "client_id": "cid-1",
                    "stop_price": "110", "price": "111", "amount": "2", "taker_fee": "0.002", "maker_fee": "0.001"}
    assert balance(c, 1, "BCH") == {"available": "99778", "freeze": "222"}
    ask = stop_market(c, 1, ASK, "3", "90")
    assert (ask["state"], ask["price"], ask["maker_fee"], ask["client_id"]) == (STOP_LOW, "0", "0", "")
    assert balance(c, 1, "BTC") == {"available": "97", "freeze": "3"}
    bid = stop_market(c, 1, BID, "500", "95")
    assert balance(c, 1, "BCH") == {"available": "99278", "freeze": "722"}
    assert rec.events == [("stop", STOP_EVENT_PUT, i, 0) for i in (3, 4, 5)]

    assert code_of(c.cancel_stop, [2, "BTCBCH", 3], T0) == (11, "user not match")
    assert code_of(c.cancel_stop, [1, "BTCBCH", 99], T0) == (10, "order not found")
    assert code_of(c.cancel_stop, [1, "BTCBCH", 1], T0) == (10, "order not found")  # an order, not a stop
    cancelled, entries = c.cancel_stop([1, "BTCBCH", 3], T0 + 5)
    assert cancelled == {**stop, "mtime": T0 + 5}
    assert entries == [("cancel_stop", [1, "BTCBCH", 3])]
    assert rec.events[-1] == ("stop", STOP_EVENT_CANCEL, 3, 0)
    assert balance(c, 1, "BCH") == {"available": "99500", "freeze": "500"}
    # cancel_stop_all of one side, then both
    result, entries = c.cancel_stop_all([1, "BTCBCH", BID], T0)
    assert result == {"status": "success"} and entries == [("cancel_stop_all", [1, "BTCBCH", BID])]
    assert [s["id"] for s in c.order_pending_stop([1, None, 0, 0, 10])["records"]] == [ask["id"]]
    c.cancel_stop_all([1, "BTCBCH"], T0)
    assert c.order_pending_stop([1, None, 0, 0, 10])["total"] == 0
    assert balance(c, 1, "BTC") == {"available": "100", "freeze": "0"}
    assert balance(c, 1, "BCH") == {"available": "100000", "freeze": "0"}
    assert bid["id"] == 5


def test_a_stop_loss_fires_when_the_price_falls_to_it() -> None:
    rec = Recorder()
    engine, c = exchange(rec=rec)
    limit(c, 3, BID, "1", "99")
    limit(c, 3, BID, "5", "90")
    stop = stop_limit(c, 5, ASK, "1", "96", "91", 0x20, "sl")
    rec.events.clear()
    # a deal at 99 is above the stop price: nothing fires
    limit(c, 4, ASK, "0.5", "99")
    assert stop_events(rec) == []
    taker = market_order(c, 4, ASK, "0.5")  # takes the rest at 99: still above
    assert stop_events(rec) == []
    rec.events.clear()
    taker = market_order(c, 4, ASK, "0.5", time=T0 + 7)  # at 90: fires
    assert taker["deal_money"] == "45"
    fired = [e for e in rec.events if e[0] != "trade"]
    created = engine.order_id
    # the taker's messages, then the created order's (it rests: 91 is above the bids), then the stop's
    # ACTIVE and its history row
    assert fired[-4:] == [("order", ORDER_FINISH, taker["id"], "0e-8"), ("order", 1, created, "1.00000000"),
                          ("stop", STOP_EVENT_ACTIVE, stop["id"], 1), ("stop_finished", stop["id"], 1)]
    order = c.order_pending_detail(["BTCBCH", created])
    # the created order: the stop's price, hidden bit, client id, and the stop bits 0x44
    assert (order["price"], order["left"], order["option"], order["client_id"]) == ("91", "1", 0x64, "sl")
    assert order["ctime"] == T0 + 7
    assert balance(c, 5, "BTC") == {"available": "99", "freeze": "1"}
    assert c.order_pending_stop([5, "BTCBCH", 0, 0, 10])["total"] == 0


def test_a_stop_market_with_nobody_to_trade_with_fails_and_frees_its_funds() -> None:
    rec = Recorder()
    engine, c = exchange(rec=rec)
    limit(c, 3, BID, "1", "95")
    stop = stop_market(c, 5, ASK, "1", "96")
    assert balance(c, 5, "BTC")["freeze"] == "1"
    order_id = engine.order_id
    market_order(c, 4, ASK, "1")
    assert stop_events(rec)[-2:] == [("stop", STOP_EVENT_ACTIVE, stop["id"], 2), ("stop_finished", stop["id"], 2)]
    assert engine.order_id == order_id + 1  # the refused order took no id
    assert balance(c, 5, "BTC") == {"available": "100", "freeze": "0"}


def test_a_cascade_fires_in_order_and_depth_first() -> None:
    rec = Recorder()
    engine, c = exchange(rec=rec)
    limit(c, 1, ASK, "1", "101")
    limit(c, 1, ASK, "1", "105")
    limit(c, 3, BID, "1", "98")
    limit(c, 3, BID, "5", "90")
    x = stop_market(c, 5, BID, "200", "98")   # LOW: buys when the price falls to 98
    y = stop_market(c, 6, ASK, "1", "97")     # LOW
    z = stop_limit(c, 7, BID, "1", "101", "110")  # HIGH
    rec.events.clear()
    market_order(c, 4, ASK, "1")  # a deal at 98
    # x fires first; its buying lifts the price to 105, which fires z (a HIGH stop) before the LOW walk
    # goes on; back in the LOW walk, y's 97 is no longer reached
    assert [e for e in stop_events(rec) if e[0] == "stop"] == [("stop", STOP_EVENT_ACTIVE, x["id"], 1),
                                                               ("stop", STOP_EVENT_ACTIVE, z["id"], 1)]
    assert engine.markets["BTCBCH"].last == Decimal("105")
    assert [s["id"] for s in c.order_stop_book(["BTCBCH", STOP_LOW, 0, 10])["orders"]] == [y["id"]]
    x_order = [e for e in rec.of_kind("finished")][-1]
    assert x_order  # the market bid finished
    z_order = c.order_pending([7, "BTCBCH", 0, 10])["records"][0]
    assert (z_order["price"], z_order["left"], z_order["deal_stock"]) == ("110", "0.94285714", "0.05714286")
    # bought 1 + 0.94285714, paid the 0.002 taker fee in stock (shown at prec_show 8)
    assert balance(c, 5, "BTC")["available"] == "101.93897142"


def test_a_fired_stop_fires_the_next_and_each_walk_restarts_from_its_head() -> None:
    rec = Recorder()
    engine, c = exchange(rec=rec)
    limit(c, 3, BID, "1", "99")
    limit(c, 3, BID, "1", "97")
    limit(c, 3, BID, "5", "90")
    a = stop_market(c, 5, ASK, "1", "98")
    b = stop_market(c, 6, ASK, "1", "97")
    d = stop_market(c, 6, ASK, "1", "97")   # same stop price: the older fires first
    e = stop_limit(c, 7, ASK, "1", "92", "90")
    f = stop_limit(c, 7, ASK, "1", "50", "40")  # never reached
    assert [s["id"] for s in c.order_stop_book(["BTCBCH", STOP_LOW, 0, 10])["orders"]] == [
        a["id"], b["id"], d["id"], e["id"], f["id"]]
    rec.events.clear()
    market_order(c, 4, ASK, "1.5")  # 99, then 0.5 at 97: a fires and takes 0.5 at 97 and 0.5 at 90
    assert [ev[2] for ev in stop_events(rec) if ev[0] == "stop"] == [a["id"], b["id"], d["id"], e["id"]]
    assert c.order_stop_book(["BTCBCH", STOP_LOW, 0, 10])["total"] == 1
    assert c.order_book(["BTCBCH", BID, 0, 10])["orders"][0]["left"] == "1.5"


def test_high_stops_fire_in_ascending_order() -> None:
    rec = Recorder()
    engine, c = exchange(rec=rec)
    limit(c, 1, ASK, "1", "101")
    limit(c, 1, ASK, "10", "103")
    a = stop_limit(c, 5, BID, "1", "102", "103")
    b = stop_limit(c, 6, BID, "1", "101", "103")
    h = stop_limit(c, 6, BID, "1", "150", "151")
    assert [s["id"] for s in c.order_stop_book(["BTCBCH", STOP_HIGH, 0, 10])["orders"]] == [b["id"], a["id"], h["id"]]
    assert c.order_stop_book(["BTCBCH", STOP_HIGH, 1, 1])["orders"][0]["id"] == a["id"]
    limit(c, 4, BID, "1", "101")  # at 101: fires b, whose order buys at 103, which fires a
    assert [ev[2] for ev in stop_events(rec) if ev[0] == "stop" and ev[1] == STOP_EVENT_ACTIVE] == [b["id"], a["id"]]


def test_the_reply_is_taken_before_the_stops_fire() -> None:
    engine, c = exchange()
    limit(c, 3, BID, "1", "99")
    stop_market(c, 5, BID, "200", "99.5")  # LOW: a buy when the price falls
    order = limit(c, 4, ASK, "2", "99")    # takes the bid at 99, rests 1 — then the stop buys that
    assert order["left"] == "1"
    assert c.order_pending_detail(["BTCBCH", order["id"]]) is None
    assert c.order_pending([4, "BTCBCH", 0, 10])["total"] == 0


def test_fired_orders_carry_the_stop_options() -> None:
    rec = Recorder()
    engine, c = exchange(rec=rec)
    limit(c, 3, BID, "1", "99")
    limit(c, 5, BID, "1", "98")  # the stop's owner's own bid
    limit(c, 3, BID, "1", "97")
    # IOC + cancel-maker: the own bid at 98 is cancelled, 97 is taken, the rest does not rest
    stop = stop_limit(c, 5, ASK, "3", "99", "90", 0x8 | 0x200, "x")
    market_order(c, 4, ASK, "1")
    created = engine.order_id
    finished = [ev for ev in rec.of_kind("order") if ev[2] == created]
    assert finished == [("order", ORDER_FINISH, created, "2.00000000")]
    assert all(d[10] != d[11] for d in rec.of_kind("deal"))
    assert c.order_pending([5, "BTCBCH", 0, 10])["total"] == 0
    assert stop["option"] == 0x24C


def test_a_long_cascade_does_not_exhaust_the_stack() -> None:
    engine, c = exchange()
    count = 3000
    deposit(c, 3, "BCH", "10000000")
    for i in range(count + 1):
        limit(c, 3, BID, "0.01", f"{99 - i * 0.01:.2f}")
    for i in range(count):
        stop_market(c, 5, ASK, "0.01", f"{99 - i * 0.01:.2f}")
    market_order(c, 4, ASK, "0.01")  # a deal at 99 fires the first; each fired order fires the next
    market = engine.markets["BTCBCH"]
    assert market.stops.stops == {}
    assert market.last == Decimal(f"{99 - count * 0.01:.2f}")


def test_pending_stop_lists_newest_first_in_one_market_or_all() -> None:
    engine = Engine([Asset("BTC", 12, 8), Asset("BCH", 20, 8)],
                    [MarketSpec("BTCBCH", "BTC", "BCH", 8, 8, 4, Decimal("0.001")),
                     MarketSpec("BCHBTC", "BCH", "BTC", 8, 4, 4, Decimal("0.001"))])
    c = Commands(engine)
    for user in (1, 2, 3):
        deposit(c, user, "BTC", "1000")
        deposit(c, user, "BCH", "1000")
    for market in ("BTCBCH", "BCHBTC"):
        c.put_limit([2, market, ASK, "1", "1", "0", "0", ""], T0)
        c.put_limit([3, market, BID, "1", "1", "0", "0", ""], T0)
    ids = []
    for market, side in (("BTCBCH", ASK), ("BCHBTC", ASK), ("BTCBCH", BID), ("BCHBTC", BID)):
        ids.append(c.put_stop_market([1, market, side, "1", "0.5", "0", ""], T0)[0]["id"])
    assert [s["id"] for s in c.order_pending_stop([1, None, 0, 0, 10])["records"]] == ids[::-1]
    assert [s["id"] for s in c.order_pending_stop([1, "BCHBTC", 0, 0, 10])["records"]] == [ids[3], ids[1]]
    page = c.order_pending_stop([1, None, ASK, 1, 1])
    assert (page["total"], [s["id"] for s in page["records"]], page["offset"], page["limit"]) == (2, [ids[0]], 1, 1)
    assert c.order_pending_stop([1, None, 0, 0, 0])["records"] == []
    for params in ([1, None, 3, 0, 10], [1, "X", 0, 0, 10], [1, None, 0, 0, 102], [1, None, 0, 0], ["1", None, 0, 0, 1]):
        assert code_of(c.order_pending_stop, params)[0] == 1
    for params in (["BTCBCH", 0, 0, 10], ["BTCBCH", 3, 0, 10], ["X", 1, 0, 10], ["BTCBCH", 1, 0, 102], ["BTCBCH", 1, 0]):
        assert code_of(c.order_stop_book, params)[0] == 1
    assert code_of(c.cancel_stop_all, [1, None], T0)[0] == 1
    assert code_of(c.cancel_stop_all, [1, "BTCBCH", 3], T0)[0] == 1
    assert code_of(c.cancel_stop, [1, "BTCBCH", "1"], T0)[0] == 1


@pytest.mark.parametrize("side", [ASK, BID])
def test_replay_fires_the_same_stops(side: int) -> None:
    engine, c = exchange()
    log: list[tuple[str, list[Any], float]] = []

    def run(fn: Any, params: list[Any], at: float) -> None:
        _, entries = fn(params, at)
        log.extend((method, logged, at) for method, logged in entries)

    limit(c, 3, BID, "1", "99")
    limit(c, 3, ASK, "1", "101")
    run(c.put_stop_market, [5, "BTCBCH", side, "50" if side == BID else "1", "99.5", "0.002", "s"], T0 + 1)
    run(c.put_stop_limit, [6, "BTCBCH", ASK, "1", "99.5", "98", "0.002", "0.001", "s", 0, "c"], T0 + 2)
    run(c.put_limit, [4, "BTCBCH", ASK, "2", "99", "0.002", "0.001", "s"], T0 + 3)
    assert not engine.markets["BTCBCH"].stops.stops
    replica, rc = exchange()
    limit(rc, 3, BID, "1", "99")
    limit(rc, 3, ASK, "1", "101")
    for method, params, at in log:
        rc.replay(method, params, at)
    for table in ("available", "frozen"):
        assert getattr(replica.balances, table) == getattr(engine.balances, table)
    assert (replica.order_id, replica.deal_id) == (engine.order_id, engine.deal_id)
    assert [o.to_json() for o in replica.markets["BTCBCH"].orders.values()] == [
        o.to_json() for o in engine.markets["BTCBCH"].orders.values()]
