"""Property tests over random streams of every operation, old and new.

Deposits, withdrawals, limit and market orders with any options and client ids,
cancels, mass and batch cancels, stops of both kinds and their cancels, locks
and unlocks (with repeated business ids), and assets and markets added live
(sometimes redefined, which must fail).  After every step: no asset is created
or destroyed except by deposits, withdrawals and fees; no balance is negative;
each user's frozen funds are exactly what their resting orders and stops hold
and their locked funds what their locks and unlocks left; the book is never
crossed; a taker with a self-trade prevention mode never trades with its own
user.  At the end, the state rebuilt by replaying the operation log — by
restoring a snapshot taken midway and replaying the rest, and with no order
holding its owner's balance entries — equals the live state field for field.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.errors import RpcError
from matchengine.balance import Asset
from matchengine.commands import Commands
from matchengine.engine import Engine
from matchengine.market import MarketSpec
from matchengine.order import ASK, BID, STP_MASK, Order
from matchengine.slice import restore_snapshot, take_snapshot
from matchengine.stops import Stop

USERS = st.integers(min_value=1, max_value=4)
SIDES = st.sampled_from([ASK, BID])
SIDE_OR_ALL = st.sampled_from([0, ASK, BID])
PRICES = st.integers(min_value=16, max_value=24).map(lambda n: f"{n / 2:.2f}")
AMOUNTS = st.integers(min_value=1, max_value=400).map(lambda n: f"{n / 100:.2f}")
FEES = st.sampled_from(["0", "0.01", "0.02"])
MARKETS = st.sampled_from(["SM", "SM", "SM", "XM"])
STP = st.sampled_from([0, 0x100, 0x200, 0x300])
LIMIT_OPTION = st.one_of(st.none(), st.builds(lambda a, b: a | b, st.sampled_from([0, 0x4, 0x8, 0x10, 0x20, 0x80, 0x28]),
                                              STP))
MARKET_OPTION = st.one_of(st.none(), st.builds(lambda a, b: a | b, st.sampled_from([0, 0x4, 0x8, 0x10]), STP))
STOP_OPTION = st.one_of(st.none(), st.builds(lambda a, b: a | b, st.sampled_from([0, 0x4, 0x8, 0x20]), STP))
CLIENT_IDS = st.sampled_from([None, "", "a-1", "client_2"])
BUSINESS_IDS = st.integers(1, 6)

X_ASSET = {"name": "X", "prec_save": 6, "prec_show": 6}
XM_MARKET = {"name": "XM", "stock": {"name": "X", "prec": 2}, "money": {"name": "M", "prec": 2}, "fee_prec": 2,
             "min_amount": "0.01"}

LIMIT = st.tuples(st.just("limit"), USERS, MARKETS, SIDES, AMOUNTS, PRICES, FEES, FEES, LIMIT_OPTION, CLIENT_IDS)
ORIGINAL_LIMIT = st.tuples(st.just("limit"), USERS, MARKETS, SIDES, AMOUNTS, PRICES, FEES, FEES, st.just(-1),
                           CLIENT_IDS)
STOP_LIMIT = st.tuples(st.just("stop_limit"), USERS, MARKETS, SIDES, AMOUNTS, PRICES, PRICES, STOP_OPTION, CLIENT_IDS)
STOP_MARKET = st.tuples(st.just("stop_market"), USERS, MARKETS, SIDES, AMOUNTS, PRICES, STOP_OPTION)
MARKET_ORDER = st.tuples(st.just("market"), USERS, MARKETS, SIDES, AMOUNTS, FEES, MARKET_OPTION, CLIENT_IDS)
OPS = st.one_of(
    st.tuples(st.just("deposit"), USERS, st.sampled_from(["S", "M", "X"]), st.integers(1, 10_000)),
    st.tuples(st.just("withdraw"), USERS, st.sampled_from(["S", "M"]), st.integers(1, 5_000)),
    LIMIT, LIMIT, LIMIT, ORIGINAL_LIMIT, ORIGINAL_LIMIT, MARKET_ORDER, MARKET_ORDER, STOP_LIMIT, STOP_LIMIT,
    STOP_MARKET, STOP_MARKET,
    st.tuples(st.just("cancel"), USERS, MARKETS, st.integers(0, 50)),
    st.tuples(st.just("cancel_all"), USERS, st.sampled_from(["SM", "XM", None]), SIDE_OR_ALL),
    st.tuples(st.just("cancel_batch"), USERS, MARKETS, st.lists(st.integers(0, 60), min_size=1, max_size=5)),
    st.tuples(st.just("cancel_stop"), USERS, MARKETS, st.integers(0, 50)),
    st.tuples(st.just("cancel_stop_all"), USERS, MARKETS, SIDE_OR_ALL),
    st.tuples(st.just("lock"), st.integers(1, 2), st.sampled_from(["S", "M"]), BUSINESS_IDS, st.integers(0, 3000)),
    st.tuples(st.just("unlock"), st.integers(1, 2), st.just("M"), BUSINESS_IDS, st.integers(0, 1000)),
    st.tuples(st.just("add_asset"), st.booleans()),
    st.tuples(st.just("add_market"), st.booleans()),
)


class Tally:
    """Fees charged by deals, and self-trades of takers that asked for prevention."""

    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine
        self.fees: dict[str, Decimal] = defaultdict(Decimal)
        self.prevented_self_trades = 0

    def deal(self, time: float, market: str, deal_id: int, ask: Order, bid: Order, taker_side: int,
             price: Decimal, amount: Decimal, deal: Decimal, ask_fee: Decimal, bid_fee: Decimal,
             stock: str, money: str) -> None:
        self.fees[money] += ask_fee
        self.fees[stock] += bid_fee
        taker = ask if taker_side == ASK else bid
        assert self.engine is not None
        mode = (taker.option & STP_MASK) or self.engine.markets[market].spec.stp
        if mode and ask.user == bid.user:
            self.prevented_self_trades += 1

    def balance_updated(self, *args: object) -> None:
        pass

    def trade_balance(self, *args: object) -> None:
        pass

    def order_event(self, *args: object) -> None:
        pass

    def order_finished(self, *args: object) -> None:
        pass

    def balance_locked(self, *args: object) -> None:
        pass

    def stop_event(self, *args: object) -> None:
        pass

    def stop_finished(self, *args: object) -> None:
        pass


def new_engine(listener: Any = None, stp: int = 0) -> Engine:
    return Engine([Asset("S", 6, 6), Asset("M", 8, 8)], [MarketSpec("SM", "S", "M", 2, 2, 2, Decimal("0.01"), stp)],
                  listener)


def params_of(op: tuple[Any, ...], engine: Engine, business: int) -> tuple[str, list[Any]]:
    """The command and params an operation becomes (ids picked from the live state)."""
    kind = op[0]
    if kind in ("deposit", "withdraw"):
        _, user, asset, units = op
        change = Decimal(units) / 100 * (1 if kind == "deposit" else -1)
        return "balance_update", [user, asset, kind, business, str(change), {}]
    if kind == "limit":
        _, user, market, side, amount, price, taker, maker, option, client_id = op
        params = [user, market, side, amount, price, taker, maker, ""]
        return "put_limit", params if option == -1 else [*params, option, client_id]
    if kind == "market":
        _, user, market, side, amount, taker, option, client_id = op
        return "put_market", [user, market, side, amount if side == ASK else str(Decimal(amount) * 20), taker, "",
                              option, client_id]
    if kind in ("cancel", "cancel_stop"):
        _, user, market, pick = op
        book = engine.markets.get(market)
        mine = [] if book is None else list((book.users if kind == "cancel" else book.stops.users).get(user, {}))
        return kind, [user, market, mine[pick % len(mine)] if mine else pick]
    if kind == "cancel_all":
        _, user, market, side = op
        return kind, [user, market, side]
    if kind == "cancel_batch":
        _, user, market, picks = op
        book = engine.markets.get(market)
        ids = [] if book is None else sorted(book.orders)
        return kind, [user, market, [ids[p % len(ids)] if ids and p % 3 else p for p in picks]]
    if kind == "stop_limit":
        _, user, market, side, amount, stop_price, price, option, client_id = op
        return "put_stop_limit", [user, market, side, amount, stop_price, price, "0.01", "0.01", "", option, client_id]
    if kind == "stop_market":
        _, user, market, side, amount, stop_price, option = op
        return "put_stop_market", [user, market, side, amount if side == ASK else str(Decimal(amount) * 20),
                                   stop_price, "0.01", "", option]
    if kind == "cancel_stop_all":
        _, user, market, side = op
        return kind, [user, market, side]
    if kind in ("lock", "unlock"):
        _, user, asset, business_id, units = op
        return f"asset_{kind}", [user, asset, "withdraw", business_id, str(Decimal(units) / 100)]
    if kind == "add_asset":
        return "update_asset", [X_ASSET if op[1] else {**X_ASSET, "prec_show": 4}]
    return "update_market", [XM_MARKET if op[1] else {**XM_MARKET, "fee_prec": 1}]


def dump(engine: Engine) -> dict[str, Any]:
    """Every field of the state."""
    markets = {}
    for name, m in engine.markets.items():
        markets[name] = {
            "spec": m.spec, "last": str(m.last), "checked_last": str(m.checked_last),
            "book": [[o.id, o.type, o.side, o.ctime, o.mtime, o.user, o.market, o.source, str(o.price), str(o.amount),
                      str(o.taker_fee), str(o.maker_fee), str(o.left), str(o.freeze), str(o.deal_stock),
                      str(o.deal_money), str(o.deal_fee), o.option, o.client_id]
                     for side in (m.asks, m.bids) for o in side],
            "users": {u: list(orders) for u, orders in m.users.items() if orders},
            "stops": [[s.id, s.type, s.side, s.ctime, s.mtime, s.user, s.market, s.source, s.option, s.client_id,
                       s.state, str(s.stop_price), str(s.price), str(s.amount), str(s.taker_fee), str(s.maker_fee),
                       str(s.freeze)] for trigger in (m.stops.low, m.stops.high) for s in trigger],
            "stop_users": {u: list(stops) for u, stops in m.stops.users.items()},
        }
    balances = {table: {u: {a: str(v) for a, v in entries.items()} for u, entries in getattr(engine.balances, table)
                        .items() if entries} for table in ("available", "frozen", "locked")}
    return {"assets": list(engine.assets.values()), "markets": markets, "balances": balances,
            "updates": dict(engine.updates), "ids": (engine.order_id, engine.deal_id)}


def check_invariants(engine: Engine, net: dict[str, Decimal], tally: Tally, locks: dict[tuple[int, str], Decimal],
                     ) -> None:
    balances = engine.balances
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for _user, _kind, asset, value in balances.entries():
        assert value >= 0
        totals[asset] += value
    for asset in engine.assets:
        assert totals[asset] == net[asset] - tally.fees[asset], asset
    assert tally.prevented_self_trades == 0

    frozen: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for market in engine.markets.values():
        best_ask, best_bid = market.asks.best(), market.bids.best()
        if best_ask is not None and best_bid is not None:
            assert best_bid.price < best_ask.price
        for side in (market.asks, market.bids):
            for order in side:
                assert order.left > 0
                expected = order.left if order.side == ASK else order.price * order.left
                assert order.freeze == expected
                frozen[(order.user, market.stock if order.side == ASK else market.money)] += order.freeze
        for stop in market.stops.stops.values():
            assert stop.freeze == market.stop_funds(stop.type, stop.side, stop.amount, stop.price)
            frozen[(stop.user, market.stock if stop.side == ASK else market.money)] += stop.freeze
            # a resting stop is on the right side of the last price
            assert stop.stop_price < market.last if stop.state == 1 else stop.stop_price > market.last
        assert market.checked_last == market.last
    stored = {(u, a): v for u, entries in balances.frozen.items() for a, v in entries.items()}
    assert {k: v for k, v in frozen.items() if v} == stored
    locked = {(u, a): v for u, entries in balances.locked.items() for a, v in entries.items()}
    assert {k: v for k, v in locks.items() if v} == locked
    check_held_entries(engine)


def check_held_entries(engine: Engine) -> None:
    """An order that holds its owner's balance entries holds the very dicts the balances keep."""
    for market in engine.markets.values():
        for side in (market.asks, market.bids):
            for order in side:
                if order.available_entries is not None:
                    assert order.available_entries is engine.balances.available[order.user]
                if order.frozen_entries is not None:
                    assert order.frozen_entries is engine.balances.frozen[order.user]


def drop_held_entries(engine: Engine) -> None:
    """Make every resting order find its owner's entries by user again, as before orders held them."""
    for market in engine.markets.values():
        for side in (market.asks, market.bids):
            for order in side:
                order.available_entries = order.frozen_entries = None


def run(ops: list[tuple[Any, ...]], stp: int, cut: int) -> None:
    tally = Tally()
    engine = new_engine(tally, stp)
    tally.engine = engine
    commands = Commands(engine)
    log: list[tuple[str, list[Any], float]] = []
    net: dict[str, Decimal] = defaultdict(Decimal)
    locks: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    business = 0
    for user in range(1, 5):
        for asset, amount in (("S", "100"), ("M", "2000")):
            business += 1
            _, entries = commands.balance_update([user, asset, "deposit", business, amount, {}], 999_000.0)
            log.extend((method, params, 999_000.0) for method, params in entries)
            net[asset] += Decimal(amount)
    # a first deal at 10: stops can be placed on both sides of it
    for first in ([1, "SM", ASK, "0.1", "10", "0", "0", ""], [2, "SM", BID, "0.1", "10", "0", "0", ""]):
        log.extend((method, logged, 999_000.0) for method, logged in commands.put_limit(first, 999_000.0)[1])
    snapshot = None
    snapshot_at = 0
    for step, op in enumerate(ops):
        if step == cut:
            snapshot, snapshot_at = take_snapshot(engine, len(log)), len(log)
        time = 1_000_000.0 + step
        business += 1
        command, params = params_of(op, engine, business)
        try:
            _, entries = getattr(commands, command)(params, time)
        except RpcError as exc:
            assert exc.code in (1, 10, 11, 12, 13), (op, exc)
            if exc.code == 1:  # only an unknown market/asset before it is added, or a redefinition
                assert op[0] in ("add_asset", "add_market") or "XM" in params or "X" in params, (op, exc)
        else:
            log.extend((method, logged, time) for method, logged in entries)
            if command == "balance_update":
                net[params[1]] += Decimal(params[4])
            elif command in ("asset_lock", "asset_unlock"):
                locks[(params[0], params[1])] += Decimal(params[4]) * (1 if command == "asset_lock" else -1)
        check_invariants(engine, net, tally, locks)

    expected = dump(engine)
    replica = new_engine(None, stp)
    replay = Commands(replica)
    for method, params, time in log:
        replay.replay(method, params, time)
    assert dump(replica) == expected
    # the same log with no order holding its owner's entries: every balance move looks the user up
    unheld = new_engine(None, stp)
    replay = Commands(unheld)
    for method, params, time in log:
        drop_held_entries(unheld)
        replay.replay(method, params, time)
    assert dump(unheld) == expected
    if snapshot is not None:
        restored = new_engine(None, stp)
        restore_snapshot(restored, snapshot)
        rest = Commands(restored)
        for method, params, time in log[snapshot_at:]:
            rest.replay(method, params, time)
        assert dump(restored) == expected


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, min_size=10, max_size=100), STP, st.integers(0, 100))
def test_every_operation_conserves_and_replays_exactly(ops: list[tuple[Any, ...]], stp: int, cut: int) -> None:
    run(ops, stp, cut)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(
    st.tuples(st.just("limit"), USERS, st.just("SM"), SIDES, AMOUNTS, PRICES, FEES, FEES, st.just(0), st.just("")),
    st.tuples(st.just("market"), USERS, st.just("SM"), SIDES, AMOUNTS, FEES, st.just(0), st.just("")),
    st.tuples(st.just("stop_limit"), USERS, st.just("SM"), SIDES, AMOUNTS, PRICES, PRICES, STOP_OPTION, CLIENT_IDS),
    st.tuples(st.just("stop_market"), USERS, st.just("SM"), SIDES, AMOUNTS, PRICES, STOP_OPTION),
    st.tuples(st.just("cancel_stop"), USERS, st.just("SM"), st.integers(0, 50)),
    st.tuples(st.just("lock"), st.integers(1, 2), st.just("M"), BUSINESS_IDS, st.integers(0, 3000)),
    st.tuples(st.just("unlock"), st.integers(1, 2), st.just("M"), BUSINESS_IDS, st.integers(0, 1000)),
), min_size=20, max_size=120), STP, st.integers(0, 120))
def test_streams_heavy_in_stops_and_locks_conserve_and_replay_exactly(ops: list[tuple[Any, ...]], stp: int, cut: int) -> None:
    run(ops, stp, cut)


def test_the_strategies_reach_the_new_paths() -> None:
    """A fixed stream through the same checks: a fired stop, a lock, an added market trading."""
    run([("add_asset", True), ("add_market", True), ("deposit", 1, "X", 500), ("limit", 1, "XM", ASK, "1.00", "10.00",
         "0", "0", None, None), ("stop_market", 2, "XM", ASK, "0.50", "9.00", 0x100),
         ("limit", 2, "XM", BID, "1.00", "10.00", "0", "0", -1, None), ("stop_limit", 3, "XM", ASK, "0.50", "9.50",
         "9.00", None, "c"), ("limit", 4, "XM", BID, "0.50", "9.00", "0", "0", 0, ""),
         ("lock", 1, "M", 1, 100), ("lock", 1, "M", 1, 100), ("unlock", 1, "M", 1, 50),
         ("market", 1, "XM", ASK, "0.50", "0", 0x10, "f"), ("add_market", False)], 0x200, 5)
    assert isinstance(Stop, type)
