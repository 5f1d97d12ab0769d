"""Property tests: no operation creates or destroys money except deposits, withdrawals and fees.

Random sequences of deposits, withdrawals, limit and market orders and cancels
from several users; after every step, per asset, Σ(available + frozen) equals
deposits − withdrawals − fees; no balance is negative; the book is never
crossed; every resting order's frozen value matches its owner's freeze.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.errors import RpcError
from matchengine.balance import Asset
from matchengine.commands import Commands
from matchengine.engine import Engine
from matchengine.market import MarketSpec
from matchengine.order import ASK, BID, Order

USERS = st.integers(min_value=1, max_value=5)
SIDES = st.sampled_from([ASK, BID])
PRICES = st.integers(min_value=16, max_value=24).map(lambda n: f"{n / 2:.2f}")
AMOUNTS = st.integers(min_value=1, max_value=500).map(lambda n: f"{n / 100:.2f}")
FEES = st.sampled_from(["0", "0.01", "0.02", "0.05"])

OPS = st.one_of(
    st.tuples(st.just("deposit"), USERS, st.sampled_from(["S", "M"]), st.integers(1, 10_000)),
    st.tuples(st.just("withdraw"), USERS, st.sampled_from(["S", "M"]), st.integers(1, 5_000)),
    st.tuples(st.just("limit"), USERS, SIDES, AMOUNTS, PRICES, FEES, FEES),
    st.tuples(st.just("limit"), USERS, SIDES, AMOUNTS, PRICES, FEES, FEES),
    st.tuples(st.just("market"), USERS, SIDES, AMOUNTS, FEES),
    st.tuples(st.just("cancel"), USERS, st.integers(0, 50)),
)


class FeeTally:
    """Counts the fees the deals charge (a TradeListener that only watches deals)."""

    def __init__(self, stock: str, money: str) -> None:
        self.fees: dict[str, Decimal] = defaultdict(Decimal)
        self.fee_charges = 0
        self.stock, self.money = stock, money

    def deal(self, time: float, market: str, deal_id: int, ask: Order, bid: Order, taker_side: int,
             price: Decimal, amount: Decimal, deal: Decimal, ask_fee: Decimal, bid_fee: Decimal,
             stock: str, money: str) -> None:
        self.fees[money] += ask_fee
        self.fees[stock] += bid_fee
        self.fee_charges += (ask_fee > 0) + (bid_fee > 0)

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


def run_and_check(ops: list[tuple], prec_save_money: int, exact: bool) -> None:
    tally = FeeTally("S", "M")
    engine = Engine([Asset("S", 6, 6), Asset("M", prec_save_money, prec_save_money)],
                    [MarketSpec("SM", "S", "M", 2, 2, 2, Decimal("0.01"))], tally)
    commands = Commands(engine)
    net: dict[str, Decimal] = defaultdict(Decimal)
    business_id = 0
    market = engine.markets["SM"]
    for user in range(1, 6):
        for asset, amount in (("S", "200"), ("M", "2000")):
            business_id += 1
            commands.balance_update([user, asset, "deposit", business_id, amount, {}], 999_999.0)
            net[asset] += Decimal(amount)
    for step, op in enumerate(ops):
        time = 1_000_000.0 + step
        kind = op[0]
        try:
            if kind in ("deposit", "withdraw"):
                _, user, asset, units = op
                business_id += 1
                change = Decimal(units) / 100 * (1 if kind == "deposit" else -1)
                commands.balance_update([user, asset, kind, business_id, str(change), {}], time)
                net[asset] += change
            elif kind == "limit":
                _, user, side, amount, price, taker, maker = op
                commands.put_limit([user, "SM", side, amount, price, taker, maker, ""], time)
            elif kind == "market":
                _, user, side, amount, taker = op
                commands.put_market([user, "SM", side, amount, taker, ""], time)
            else:
                _, user, pick = op
                mine = list(market.users.get(user, {}))
                if mine:
                    commands.cancel([user, "SM", mine[pick % len(mine)]], time)
        except RpcError as exc:
            assert exc.code in (10, 11, 12), exc
        check_invariants(engine, net, tally, exact)


def check_invariants(engine: Engine, net: dict[str, Decimal], tally: FeeTally, exact: bool) -> None:
    balances = engine.balances
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for _user, _kind, asset, value in balances.entries():
        assert value >= 0
        totals[asset] += value
    for asset in ("S", "M"):
        expected = net[asset] - tally.fees[asset]
        if exact:
            assert totals[asset] == expected, (asset, totals[asset], expected)
        else:
            # a fee finer than prec_save costs its payer at most one last unit more
            unit = Decimal(1).scaleb(-engine.assets[asset].prec_save)
            assert expected - tally.fee_charges * unit <= totals[asset] <= expected

    market = engine.markets["SM"]
    best_ask, best_bid = market.asks.best(), market.bids.best()
    if best_ask is not None and best_bid is not None:
        assert best_bid.price < best_ask.price

    frozen: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    count = 0
    for side in (market.asks, market.bids):
        for order in side:
            count += 1
            assert order.left > 0
            if order.side == ASK:
                assert order.freeze == order.left
                frozen[(order.user, "S")] += order.freeze
            else:
                assert order.freeze == order.price * order.left
                frozen[(order.user, "M")] += order.freeze
    assert count == len(market.orders) == market.asks.count + market.bids.count
    stored = {(u, a): v for u, entries in balances.frozen.items() for a, v in entries.items()}
    assert {k: v for k, v in frozen.items() if v} == stored


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, min_size=10, max_size=120))
def test_conservation_exact_when_precision_suffices(ops: list[tuple]) -> None:
    # money keeps 8 decimals ≥ stock 2 + money 2 + fee 2: every fee is exact
    run_and_check(ops, prec_save_money=8, exact=True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, min_size=10, max_size=120))
def test_conservation_with_truncated_fees(ops: list[tuple]) -> None:
    # money keeps only 4 decimals: seller fees (6 decimals) are truncated from the payer
    run_and_check(ops, prec_save_money=4, exact=False)
