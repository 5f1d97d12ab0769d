"""Parameter rules of every matchengine command and balance.update semantics."""

from __future__ import annotations

from typing import Any

import pytest

from common.errors import RpcError
from matchengine.commands import WRITE_COMMANDS, Commands, ReplayError
from matchengine.order import ASK, BID

from .core_helpers import T0, Recorder, deposit, limit, spec_engine


def code_of(fn: Any, *args: Any) -> int:
    with pytest.raises(RpcError) as exc:
        fn(*args)
    return exc.value.code


GOOD_LIMIT = [1, "BTCBCH", 2, "1", "100", "0.002", "0.001", "api"]


@pytest.mark.parametrize("index,value", [
    (0, "1"), (0, 1.0), (0, None), (0, True),
    (1, "NOPE"), (1, 5),
    (2, 0), (2, 3), (2, "1"),
    (3, "0"), (3, "-1"), (3, "0.000000001"), (3, "NaN"), (3, "Infinity"), (3, "inf"), (3, "sNaN"),
    (3, " 1"), (3, "1 "), (3, "1_0"), (3, "١"), (3, 1), (3, "1e14"), (3, "100000000000000"), (3, "x" * 200),
    (4, "0"), (4, "-5"), (4, "nan"), (4, 100),
    (5, "1"), (5, "-0.001"), (5, "1.00001"), (5, "0.x"),
    (6, "2"), (6, "-1"),
    (7, "x" * 31), (7, 7), (7, "é" * 16),
])
def test_put_limit_rejects_each_bad_param(index: int, value: Any) -> None:
    engine, c = spec_engine()
    deposit(c, 1, "BCH", "1000000")
    params = list(GOOD_LIMIT)
    params[index] = value
    assert code_of(c.put_limit, params, T0) == 1
    assert engine.order_id == 0


def test_put_limit_param_count_and_accepted_edges() -> None:
    engine, c = spec_engine()
    deposit(c, 1, "BCH", "1000000")
    assert code_of(c.put_limit, GOOD_LIMIT[:7], T0) == 1
    assert code_of(c.put_limit, [*GOOD_LIMIT, "extra"], T0) == 1
    # over-precise input is cut toward zero, the source may be 30 bytes, a fee of 0.9999 is allowed
    order = c.put_limit([1, "BTCBCH", 2, "1.123456789", "100.999999999", "0.99999", "0", "s" * 30], T0)[0]
    assert (order["amount"], order["price"], order["taker_fee"], order["maker_fee"]) == (
        "1.12345678", "100.99999999", "0.9999", "0")
    # user ids are u32: -1 is 4294967295
    deposit(c, 4294967295, "BCH", "1000")
    assert c.put_limit([-1, "BTCBCH", 2, "1", "100", "0", "0", ""], T0)[0]["user"] == 4294967295


def test_put_market_params() -> None:
    engine, c = spec_engine()
    good = [1, "BTCBCH", 1, "1", "0.002", "src"]
    for index, value in [(0, "1"), (1, "X"), (2, 5), (3, "0"), (3, "-1"), (3, "NaN"), (4, "1"), (5, "s" * 31)]:
        params = list(good)
        params[index] = value
        assert code_of(c.put_market, params, T0) == 1
    assert code_of(c.put_market, good[:5], T0) == 1


def test_cancel_params() -> None:
    engine, c = spec_engine()
    assert code_of(c.cancel, [1, "BTCBCH"], T0) == 1
    assert code_of(c.cancel, [1, "BTCBCH", "1"], T0) == 1
    assert code_of(c.cancel, [1, "XX", 1], T0) == 1
    assert code_of(c.cancel, [1, "BTCBCH", 1], T0) == 10


def test_balance_update_params() -> None:
    engine, c = spec_engine()
    good = [1, "BTC", "deposit", 1, "1.5", {}]
    for index, value in [(0, "1"), (1, "ETH"), (1, 1), (2, 1), (3, "1"), (3, 1.5), (4, 1.5), (4, "NaN"),
                         (4, "abc"), (5, []), (5, "x"), (5, None)]:
        params = list(good)
        params[index] = value
        assert code_of(c.balance_update, params, T0) == 1
    assert code_of(c.balance_update, good[:5], T0) == 1
    assert code_of(c.balance_update, [*good, 1], T0) == 1
    assert engine.balances.available == {}


def test_balance_update_quantizes_to_prec_show_and_logs_detail_with_id() -> None:
    rec = Recorder()
    engine, c = spec_engine(rec)
    result, entries = c.balance_update([1, "BCH", "deposit", 7, "1.123456789", {"note": "x", "id": "caller"}], T0)
    assert result == {"status": "success"}
    assert entries == [("update_balance", [1, "BCH", "deposit", 7, "1.123456789", {"note": "x", "id": 7}])]
    assert str(engine.balances.get_available(1, "BCH")) == "1.12345678000000000000"
    assert rec.events == [("update", 1, "BCH", "deposit", "1.12345678", "1.12345678000000000000",
                           {"note": "x", "id": 7})]
    # a negative change is cut toward zero too
    c.balance_update([1, "BCH", "withdraw", 8, "-1.123456789", {}], T0)
    assert c.balance_query([1, "BCH"]) == {"BCH": {"available": "0", "freeze": "0"}}


def test_balance_update_repeat_and_not_enough() -> None:
    engine, c = spec_engine()
    c.balance_update([1, "BTC", "deposit", 1, "2", {}], T0)
    with pytest.raises(RpcError) as exc:
        c.balance_update([1, "BTC", "deposit", 1, "2", {}], T0 + 10)
    assert (exc.value.code, exc.value.message) == (10, "repeat update")
    # another business, asset or user with the same id is a different key
    c.balance_update([1, "BTC", "trade_bonus", 1, "1", {}], T0)
    c.balance_update([2, "BTC", "deposit", 1, "1", {}], T0)
    c.balance_update([1, "BCH", "deposit", 1, "1", {}], T0)
    # business names are compared whole, not by a 32-byte prefix
    long_a, long_b = "b" * 32 + "a", "b" * 32 + "b"
    c.balance_update([1, "BTC", long_a, 5, "1", {}], T0)
    c.balance_update([1, "BTC", long_b, 5, "1", {}], T0)
    with pytest.raises(RpcError) as exc:
        c.balance_update([1, "BTC", "withdraw", 2, "-100", {}], T0)
    assert (exc.value.code, exc.value.message) == (11, "balance not enough")
    # a refused withdrawal records no key: the same id may succeed later
    c.balance_update([1, "BTC", "withdraw", 2, "-1", {}], T0)
    assert c.balance_query([1, "BTC"]) == {"BTC": {"available": "4", "freeze": "0"}}


def test_balance_update_guard_window_is_24h() -> None:
    engine, c = spec_engine()
    c.balance_update([1, "BTC", "deposit", 1, "1", {}], T0)
    with pytest.raises(RpcError):
        c.balance_update([1, "BTC", "deposit", 1, "1", {}], T0 + 86400)
    c.balance_update([1, "BTC", "deposit", 1, "1", {}], T0 + 86400.5)
    assert engine.expire_updates(T0 + 86400 * 3) == 1
    assert engine.updates == {}


def test_zero_change_is_recorded_and_leaves_no_entry() -> None:
    engine, c = spec_engine()
    c.balance_update([1, "BTC", "deposit", 1, "0", {}], T0)
    assert engine.balances.available.get(1, {}) == {}
    with pytest.raises(RpcError):
        c.balance_update([1, "BTC", "deposit", 1, "0", {}], T0)


def test_balance_query_rules() -> None:
    engine, c = spec_engine()
    assert code_of(c.balance_query, []) == 1
    assert code_of(c.balance_query, [0]) == 1
    assert code_of(c.balance_query, [4294967296]) == 1  # u32: 2^32 is user 0
    assert code_of(c.balance_query, ["1"]) == 1
    assert code_of(c.balance_query, [1, "ETH"]) == 1
    assert c.balance_query([1]) == {"BTC": {"available": "0", "freeze": "0"}, "BCH": {"available": "0", "freeze": "0"}}
    assert list(c.balance_query([1, "BCH", "BCH"])) == ["BCH"]
    # a stored balance below prec_show shows as 0e-8 (BCH keeps 20 decimals)
    engine.balances.add_available(1, "BCH", __import__("decimal").Decimal("1e-12"))
    assert c.balance_query([1, "BCH"]) == {"BCH": {"available": "0e-8", "freeze": "0"}}


def test_query_param_rules() -> None:
    engine, c = spec_engine()
    assert code_of(c.order_book, ["BTCBCH", 1, 0, 102]) == 1
    assert code_of(c.order_book, ["BTCBCH", 1, 0, -1]) == 1
    assert code_of(c.order_book, ["BTCBCH", 3, 0, 1]) == 1
    assert code_of(c.order_book, ["BTCBCH", 1, 0]) == 1
    assert c.order_book(["BTCBCH", 1, 0, 0]) == {"offset": 0, "limit": 0, "total": 0, "orders": []}
    assert code_of(c.order_depth, ["BTCBCH", 10, "-1"]) == 1
    assert code_of(c.order_depth, ["BTCBCH", 10, 1]) == 1
    assert code_of(c.order_depth, ["BTCBCH", 102, "0"]) == 1
    assert code_of(c.order_pending, [1, "BTCBCH", 0, 102]) == 1
    assert code_of(c.order_pending, [1, "BTCBCH", "0", 10]) == 1
    assert code_of(c.order_pending_detail, ["BTCBCH"]) == 1
    assert code_of(c.order_pending_detail, ["BTCBCH", "1"]) == 1
    assert c.order_pending_detail(["BTCBCH", 1]) is None
    assert code_of(c.asset_summary, ["ETH"]) == 1
    assert code_of(c.market_summary, [1]) == 1
    assert c.asset_list([1, 2, 3]) == [{"name": "BTC", "prec": 8}, {"name": "BCH", "prec": 8}]
    assert c.market_list([]) == [{"name": "BTCBCH", "stock": "BTC", "money": "BCH", "fee_prec": 4,
                                  "stock_prec": 8, "money_prec": 8, "min_amount": "0.001"}]
    assert [s["name"] for s in c.asset_summary(["BCH", "BCH"])] == ["BCH", "BCH"]


def test_replay_applies_logged_entries_and_refuses_what_does_not_apply() -> None:
    engine, c = spec_engine()
    log: list[tuple[str, list[Any], float]] = []
    for fn, params in [
        (c.balance_update, [1, "BCH", "deposit", 1, "1000", {}]),
        (c.balance_update, [2, "BTC", "deposit", 1, "5", {}]),
        (c.put_limit, [1, "BTCBCH", BID, "2", "100", "0.002", "0.001", "a"]),
        (c.put_limit, [2, "BTCBCH", ASK, "3", "99", "0.002", "0.001", "b"]),
        (c.put_market, [1, "BTCBCH", BID, "50", "0.002", "c"]),
        (c.cancel, [2, "BTCBCH", 2]),
    ]:
        _, [(method, logged)] = fn(params, T0 + len(log))
        log.append((method, logged, T0 + len(log)))
    replica, rc = spec_engine()
    for method, params, time in log:
        rc.replay(method, params, time)
    assert replica.balances.available == engine.balances.available
    assert replica.balances.frozen == engine.balances.frozen
    assert (replica.order_id, replica.deal_id) == (engine.order_id, engine.deal_id)
    assert replica.updates == engine.updates
    with pytest.raises(ReplayError):
        rc.replay("update_balance", [1, "BCH", "deposit", 1, "1000", {}], T0)  # repeat
    with pytest.raises(ReplayError):
        rc.replay("cancel_order", [2, "BTCBCH", 2], T0)  # already gone
    with pytest.raises(ReplayError):
        rc.replay("no_such_method", [], T0)
    with pytest.raises(ReplayError):
        rc.replay("limit_order", {"not": "a list"}, T0)


def test_commands_tables_cover_every_command() -> None:
    engine, c = spec_engine()
    assert sorted(c.reads) == [101, 104, 105, 108, 203, 205, 206, 207, 214, 216, 307, 308]
    assert sorted(c.writes) == [102, 106, 107, 201, 202, 204, 211, 212, 213, 218, 219, 222, 401, 402]
    assert set(c.writes) == WRITE_COMMANDS
    assert isinstance(c, Commands)


def test_limit_ask_needs_available_stock() -> None:
    engine, c = spec_engine()
    deposit(c, 1, "BTC", "1")
    limit(c, 1, ASK, "0.6", "100")
    with pytest.raises(RpcError) as exc:
        limit(c, 1, ASK, "0.5", "100")
    assert exc.value.code == 10
