"""Mass cancel (spec/extensions.md §3) and locked funds (§4), as the port serves them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from matchengine.balance import Asset
from matchengine.commands import Commands
from matchengine.engine import Engine
from matchengine.market import MarketSpec
from matchengine.order import ASK, BID, ORDER_FINISH

from .core_helpers import T0, Recorder, code_of, deposit, limit, spec_engine


def two_markets(rec: Recorder | None = None) -> tuple[Engine, Commands]:
    engine = Engine([Asset("BTC", 12, 8), Asset("BCH", 20, 8)],
                    [MarketSpec("BTCBCH", "BTC", "BCH", 8, 8, 4, Decimal("0.001")),
                     MarketSpec("BCHBTC", "BCH", "BTC", 8, 4, 4, Decimal("0.001"))], rec)
    c = Commands(engine)
    for user in (1, 2):
        deposit(c, user, "BTC", "1000")
        deposit(c, user, "BCH", "1000")
    return engine, c


def place(c: Commands, user: int, market: str, side: int, price: str) -> int:
    return c.put_limit([user, market, side, "1", price, "0", "0", ""], T0)[0]["id"]


def test_cancel_all_in_one_market_all_markets_or_one_side() -> None:
    rec = Recorder()
    engine, c = two_markets(rec)
    mine = [place(c, 1, "BTCBCH", ASK, "10"), place(c, 1, "BTCBCH", BID, "1"), place(c, 1, "BCHBTC", ASK, "10"),
            place(c, 1, "BCHBTC", BID, "0.1")]
    other = place(c, 2, "BTCBCH", ASK, "11")
    rec.events.clear()
    result, entries = c.cancel_all([1, "BTCBCH", ASK], T0)
    assert result == {"status": "success"} and entries == [("cancel_order_all", [1, "BTCBCH", ASK])]
    assert rec.events == [("order", ORDER_FINISH, mine[0], "1.00000000")]
    rec.events.clear()
    c.cancel_all([1, None], T0)
    # every market in list order, each user's orders newest first
    assert [e[2] for e in rec.events] == [mine[1], mine[3], mine[2]]
    assert [o.id for m in engine.markets.values() for o in m.orders.values()] == [other]
    assert c.balance_query([1]) == {"BTC": {"available": "1000", "freeze": "0"},
                                    "BCH": {"available": "1000", "freeze": "0"}}
    # nothing to cancel is a success too, and it is logged (replay runs it again harmlessly)
    assert c.cancel_all([1, "BTCBCH"], T0) == ({"status": "success"}, [("cancel_order_all", [1, "BTCBCH"])])
    for params in ([1], [1, "X"], [1, 5], [1, "BTCBCH", 3], [1, "BTCBCH", "1"], ["1", None], [1, None, 0, 0]):
        assert code_of(c.cancel_all, params, T0)[0] == 1, params


def test_cancel_batch_answers_each_id_and_logs_each_cancel() -> None:
    engine, c = two_markets()
    a = place(c, 1, "BTCBCH", ASK, "10")
    b = place(c, 1, "BTCBCH", BID, "1")
    theirs = place(c, 2, "BTCBCH", ASK, "12")
    elsewhere = place(c, 1, "BCHBTC", ASK, "10")
    order_a = c.order_pending_detail(["BTCBCH", a])
    result, entries = c.cancel_batch([1, "BTCBCH", [a, 999, theirs, "7", elsewhere, a, b]], T0)
    assert result == [
        {"code": 0, "message": "", "order": order_a},
        {"code": 10, "message": "order not found", "order": None},
        {"code": 11, "message": "user not match", "order": None},
        {"code": 10, "message": "order not found", "order": None},
        {"code": 10, "message": "order not found", "order": None},
        {"code": 10, "message": "order not found", "order": None},
        {"code": 0, "message": "", "order": result[6]["order"]},
    ]
    assert result[6]["order"]["id"] == b
    assert entries == [("cancel_order", [1, "BTCBCH", a]), ("cancel_order", [1, "BTCBCH", b])]
    # nothing cancelled: nothing logged
    assert c.cancel_batch([1, "BTCBCH", [a]], T0)[1] == []
    for params in ([1, "BTCBCH", []], [1, "BTCBCH", list(range(102))], [1, "BTCBCH", 5], [1, "BTCBCH"],
                   [1, "NOPE", [1]], ["1", "BTCBCH", [1]], [1, "BTCBCH", [1], 1]):
        assert code_of(c.cancel_batch, params, T0)[0] == 1, params
    assert len(c.cancel_batch([2, "BTCBCH", [theirs] * 101], T0)[0]) == 101


def lock(c: Commands, user: int, asset: str, business_id: int, amount: str, business: str = "withdraw") -> Any:
    return c.asset_lock([user, asset, business, business_id, amount], T0)


def unlock(c: Commands, user: int, asset: str, business_id: int, amount: str, business: str = "withdraw") -> Any:
    return c.asset_unlock([user, asset, business, business_id, amount], T0)


def test_locks_move_funds_out_of_reach_and_show_as_frozen() -> None:
    rec = Recorder()
    engine, c = spec_engine(rec)
    deposit(c, 1, "BCH", "100")
    rec.events.clear()
    assert lock(c, 1, "BCH", 1, "30.123456789") == ({"status": "success"},
                                                    [("asset_lock", [1, "BCH", "withdraw", 1, "30.123456789"])])
    # quantized to prec_show; a balances message (change "0"), no balance history
    assert rec.events == [("locked", 1, "BCH", "withdraw")]
    assert engine.balances.get_locked(1, "BCH") == Decimal("30.12345678")
    assert c.balance_query([1, "BCH"]) == {"BCH": {"available": "69.87654322", "freeze": "30.12345678"}}
    assert c.asset_query_lock([1]) == {"BCH": "30.12345678"}
    assert c.asset_query_lock([1, "BTC"]) == {}
    # frozen by an order too: both count in freeze; the locked part cannot pay for an order
    limit(c, 1, BID, "0.5", "100")
    assert c.balance_query([1, "BCH"]) == {"BCH": {"available": "19.87654322", "freeze": "80.12345678"}}
    assert code_of(limit, c, 1, BID, "0.2", "100")[0] == 10
    summary = c.asset_summary(["BCH"])[0]
    assert (summary["total_balance"], summary["freeze_balance"], summary["freeze_count"]) == (
        "100", "80.12345678", 1)
    deposit(c, 2, "BCH", "5")
    lock(c, 2, "BCH", 1, "5")
    summary = c.asset_summary(["BCH"])[0]
    assert (summary["total_balance"], summary["available_count"], summary["freeze_count"]) == ("105", 1, 2)
    assert c.balance_query([2, "BCH"]) == {"BCH": {"available": "0", "freeze": "5"}}
    # unlock gives it back
    unlock(c, 1, "BCH", 1, "30.12345678")
    assert c.balance_query([1, "BCH"]) == {"BCH": {"available": "50", "freeze": "50"}}
    assert c.asset_query_lock([1]) == {}


def test_locks_are_idempotent_by_business_id_in_their_own_key_space() -> None:
    engine, c = spec_engine()
    c.balance_update([1, "BTC", "withdraw", 7, "10", {}], T0)
    lock(c, 1, "BTC", 7, "4")
    assert code_of(lock, c, 1, "BTC", 7, "4") == (10, "repeat update")
    unlock(c, 1, "BTC", 7, "1")
    assert code_of(unlock, c, 1, "BTC", 7, "1") == (10, "repeat update")
    # the same id in another business, asset or user is another key
    lock(c, 1, "BTC", 7, "1", business="other")
    # not enough: 11, and no key is recorded, so the same id may succeed later
    assert code_of(lock, c, 1, "BTC", 8, "100") == (11, "balance not enough")
    assert code_of(unlock, c, 1, "BTC", 8, "100") == (11, "balance not enough")
    lock(c, 1, "BTC", 8, "1")
    assert engine.balances.get_locked(1, "BTC") == Decimal(5)
    # a zero lock needs an available entry (the fork's rule): user 2 has none
    assert code_of(lock, c, 2, "BTC", 1, "0") == (11, "balance not enough")
    assert lock(c, 1, "BTC", 9, "0")[0] == {"status": "success"}
    # keys expire with the balance.update guard's window
    assert engine.expire_updates(T0 + 86400 * 2) == 6


@pytest.mark.parametrize("params", [
    [1, "BTC", "w", 1], [1, "BTC", "w", 1, "1", 2], ["1", "BTC", "w", 1, "1"], [1, "ETH", "w", 1, "1"],
    [1, "BTC", 5, 1, "1"], [1, "BTC", "w", "1", "1"], [1, "BTC", "w", 1, "-1"], [1, "BTC", "w", 1, "NaN"],
    [1, "BTC", "w", 1, "Infinity"], [1, "BTC", "w", 1, "1e14"], [1, "BTC", "w", 1, 1],
])
def test_lock_params(params: list[Any]) -> None:
    engine, c = spec_engine()
    deposit(c, 1, "BTC", "10")
    assert code_of(c.asset_lock, params, T0)[0] == 1
    assert code_of(c.asset_unlock, params, T0)[0] == 1
    assert engine.balances.locked == {}


def test_query_lock_params() -> None:
    engine, c = spec_engine()
    for params in ([], [0], ["1"], [1, "ETH"], [1, 5]):
        assert code_of(c.asset_query_lock, params)[0] == 1
    assert c.asset_query_lock([1, "BTC", "BCH"]) == {}
