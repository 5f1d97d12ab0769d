"""The book's price levels under many prices: the ask side's keys are kept per price, a bounded number of
them, and the book stays exact when that store is emptied and filled again."""

from __future__ import annotations

import random
from decimal import Decimal

from common.decimals import ZERO
from matchengine.market import ASK_KEYS_KEPT, BookSide
from matchengine.order import ASK, BID, LIMIT, Order


def order(order_id: int, side: int, price: str) -> Order:
    resting = Order(order_id, LIMIT, side, 0.0, 1, "M", "", Decimal(price), Decimal("1"), ZERO, ZERO, ZERO)
    resting.resting = True
    return resting


def test_more_ask_prices_than_the_keys_kept_come_and_go_exactly() -> None:
    side = BookSide(is_ask=True)
    count = ASK_KEYS_KEPT + 5000
    orders = [order(i, ASK, f"{1 + i / 1000:.3f}") for i in range(count)]
    random.Random(5).shuffle(orders)
    for o in orders:
        side.insert(o, sorted_later=True)
    side.sort_keys()
    assert [o.price for o in side][:3] == [Decimal("1.000"), Decimal("1.001"), Decimal("1.002")]
    assert side.count == count and len(side.levels) == count
    for o in orders[: count // 2]:
        side.remove(o)
        o.resting = False
    for o in orders[count // 2:]:
        side.remove(o)
    assert side.count == 0 and side.keys == [] and side.levels == {}


def test_equal_prices_written_differently_share_one_level() -> None:
    for is_ask, side_code in ((True, ASK), (False, BID)):
        side = BookSide(is_ask=is_ask)
        first, second = order(1, side_code, "10.5"), order(2, side_code, "10.50")
        side.insert(first)
        side.insert(second)
        assert len(side.levels) == 1 and len(side.keys) == 1
        assert [str(o.price) for o in side] == ["10.5", "10.50"]
        side.remove(first)
        side.remove(second)
        assert side.keys == [] and side.levels == {}
