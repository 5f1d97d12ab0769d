"""Balance changes without a cut (`exact`, balance.add_entry / take_entry): the same state as with the cut.

The matching loops skip the cut to prec_save where their market's precisions guarantee the change has no
more decimals than that (`market.exact_changes`), relying on every stored entry holding exactly prec_save
decimals.  Random markets (precisions from 0 up, some beyond what the skip allows) and random order streams
with over-precise texts run on two engines, one with the skips and one with every skip turned off; the states
must match text for text, and every entry must hold exactly prec_save decimals.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.errors import RpcError
from matchengine.balance import AVAILABLE, EXACT_PREC_MAX, Asset, Balances
from matchengine.commands import Commands
from matchengine.engine import Engine
from matchengine.market import MarketSpec, exact_changes

PRECS = st.integers(min_value=0, max_value=6)
SAVES = st.integers(min_value=0, max_value=EXACT_PREC_MAX + 2)
DIGITS = st.text("0123456789", min_size=1, max_size=3)
FRACTION = st.text("0123456789", min_size=0, max_size=9)
AMOUNTS = st.tuples(DIGITS, FRACTION).map(lambda p: f"{int(p[0]) + 1}.{p[1]}" if p[1] else str(int(p[0]) + 1))
PRICES = st.tuples(st.integers(5, 15), FRACTION).map(lambda p: f"{p[0]}.{p[1]}" if p[1] else str(p[0]))
FEES = st.sampled_from(["0", "0.001", "0.0025", "0.01", "0.123456"])
USERS = st.integers(min_value=1, max_value=4)
OPS = st.lists(st.one_of(
    st.tuples(st.just("limit"), USERS, st.sampled_from([1, 2]), AMOUNTS, PRICES, FEES, FEES),
    st.tuples(st.just("market"), USERS, st.sampled_from([1, 2]), AMOUNTS, FEES),
    st.tuples(st.just("cancel"), USERS, st.integers(1, 40)),
), min_size=1, max_size=40)


def engines(stock_prec: int, money_prec: int, fee_prec: int, stock_save: int, money_save: int,
            ) -> tuple[Commands, Commands]:
    made = []
    for _ in range(2):
        engine = Engine([Asset("S", stock_save, stock_save), Asset("M", money_save, money_save)],
                        [MarketSpec("SM", "S", "M", stock_prec, money_prec, fee_prec, Decimal(0))])
        commands = Commands(engine)
        for user in range(1, 5):
            commands.balance_update([user, "S", "deposit", user, "1000", {}], 1.0)
            commands.balance_update([user, "M", "deposit", user, "100000", {}], 1.0)
        made.append(commands)
    market = made[1].engine.markets["SM"]
    market.exact_stock = market.exact_deal = market.exact_money_fee = False
    return made[0], made[1]


def run(commands: Commands, ops: list[tuple[object, ...]]) -> None:
    for at, op in enumerate(ops):
        try:
            if op[0] == "limit":
                commands.put_limit([op[1], "SM", op[2], op[3], op[4], op[5], op[6], ""], float(at))
            elif op[0] == "market":
                commands.put_market([op[1], "SM", op[2], op[3], op[4], ""], float(at))
            else:
                commands.cancel([op[1], "SM", op[2]], float(at))
        except RpcError:
            pass


def state(engine: Engine) -> tuple[object, ...]:
    balances = sorted((u, k, a, str(v)) for u, k, a, v in engine.balances.entries())
    market = engine.markets["SM"]
    orders = [(o.id, str(o.left), str(o.freeze), str(o.deal_stock), str(o.deal_money), str(o.deal_fee))
              for side in (market.asks, market.bids) for o in side]
    return balances, orders, str(market.last)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PRECS, PRECS, PRECS, SAVES, SAVES, OPS)
def test_changes_without_the_cut_leave_the_state_the_cut_leaves(stock_prec: int, money_prec: int, fee_prec: int,
                                                               stock_save: int, money_save: int,
                                                               ops: list[tuple[object, ...]]) -> None:
    fast, slow = engines(stock_prec, money_prec, fee_prec, stock_save, money_save)
    run(fast, ops)
    run(slow, ops)
    assert state(fast.engine) == state(slow.engine)
    saves = {"S": stock_save, "M": money_save}
    for _user, _kind, asset, value in fast.engine.balances.entries():
        assert value.as_tuple().exponent == -saves[asset], (asset, value)


def test_which_changes_are_exact() -> None:
    spec = MarketSpec("SM", "S", "M", 8, 2, 4, Decimal(0))
    assert exact_changes(spec, 12, 12) == (True, True, False)  # a money fee has 8 + 2 + 4 decimals
    assert exact_changes(spec, 12, 14) == (True, True, True)
    assert exact_changes(spec, 11, 9) == (False, False, False)
    assert exact_changes(spec, 12, EXACT_PREC_MAX + 1) == (True, False, False)
    for zero in (MarketSpec("SM", "S", "M", 0, 2, 4, Decimal(0)), MarketSpec("SM", "S", "M", 8, 0, 4, Decimal(0)),
                 MarketSpec("SM", "S", "M", 8, 2, 0, Decimal(0))):
        assert exact_changes(zero, 12, 12) == (False, False, False)  # a precision of 0 keeps the given decimals


def test_a_slice_entry_is_cut_to_prec_save_as_it_loads() -> None:
    balances = Balances({"S": Asset("S", 4, 4)})
    balances.restore(7, AVAILABLE, "S", Decimal("1.123456789"))
    balances.restore(8, AVAILABLE, "S", Decimal("0E-8"))
    assert str(balances.get_available(7, "S")) == "1.1234"
    assert str(balances.get_available(8, "S")) == "0.0000"
