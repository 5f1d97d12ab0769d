"""What `./run.sh demo --trade` sends next, for one market: a pure plan, no I/O, no clock.

A maker (user `MAKER`) keeps limit orders resting on both sides of a price
that wanders (a random walk pulled back towards where it started); a taker
(user `TAKER`) sends one limit order a round that crosses the spread, so
every round trades about once.  Maker orders are several times the size of
a taker's, so a few maker orders a round keep the book full, and the oldest
are cancelled when more than `MAX_RESTING` rest: the book stays the same
size however long it runs.  Prices and amounts are Decimals at the market's
precisions, and every order is at least the market's `min_amount`.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal

ASK, BID = 1, 2
MAKER, TAKER = 9001, 9002
LEVELS = 12  # maker prices: 1..LEVELS steps from the middle
STEP_SHARE = Decimal("0.0002")  # one price step, as a share of the price
MAX_RESTING = 60
MAKER_CHANCE = 0.35  # maker orders a round, on average (plus those that refill an empty side)
TAKER_SIZES = (1, 12)  # in units of min_amount x 10
MAKER_SIZE_FACTOR = (4, 12)  # maker size: this many times the largest taker size / 4
WALK_PER_SECOND = 0.0004  # standard deviation of the price's relative move in one second
PULL_PER_SECOND = 0.002  # share of the distance to the starting price taken back each second


@dataclass(frozen=True, slots=True)
class MarketInfo:
    """What `market.list` says of a market."""

    name: str
    stock: str
    money: str
    stock_prec: int
    money_prec: int
    min_amount: Decimal

    @classmethod
    def from_listing(cls, item: dict[str, object]) -> MarketInfo:
        return cls(str(item["name"]), str(item["stock"]), str(item["money"]), int(str(item["stock_prec"])),
                   int(str(item["money_prec"])), Decimal(str(item["min_amount"])))


@dataclass(frozen=True, slots=True)
class Put:
    """`order.put_limit` for `user`."""

    user: int
    side: int
    amount: Decimal
    price: Decimal


@dataclass(frozen=True, slots=True)
class Cancel:
    """`order.cancel` of one of the maker's orders."""

    user: int
    order_id: int


Action = Put | Cancel


def quantum(decimals: int) -> Decimal:
    return Decimal(1).scaleb(-decimals)


class MarketPlan:
    """The orders of one market, round after round; `rounds_per_second` sets how far the price walks a round."""

    def __init__(self, market: MarketInfo, start_price: Decimal, rng: random.Random,
                 rounds_per_second: float) -> None:
        self.market = market
        self.rng = rng
        self.walk = WALK_PER_SECOND / math.sqrt(rounds_per_second)
        self.pull = PULL_PER_SECOND / rounds_per_second
        self.tick = quantum(market.money_prec)
        self.start = max(self._round_price(start_price), self.tick * 100)
        self.price = self.start
        self._level = float(self.start)  # the walking price, unrounded: rounding every step would drift
        self.min_amount = market.min_amount.quantize(quantum(market.stock_prec), rounding=ROUND_UP)
        self.lot = max(self.min_amount, quantum(market.stock_prec)) * 10
        self.resting: OrderedDict[int, int] = OrderedDict()  # maker order id -> side, oldest first
        self.waiting = {ASK: 0, BID: 0}  # maker orders sent, not answered yet

    # ------------------------------------------------------------ what to send

    def opening(self) -> list[Action]:
        """The maker's first orders: a few on each side."""
        return [self._maker(side, level) for level in range(1, LEVELS + 1, 2) for side in (ASK, BID)]

    def next_round(self) -> list[Action]:
        self._move()
        actions: list[Action] = [self._taker()]
        for side in (ASK, BID):
            if self._count(side) < LEVELS // 3:
                actions.append(self._maker(side, self.rng.randint(1, LEVELS)))
        if self.rng.random() < MAKER_CHANCE:
            actions.append(self._maker(self.rng.choice((ASK, BID)), self.rng.randint(1, LEVELS)))
        while len(self.resting) > MAX_RESTING:
            order_id, _ = self.resting.popitem(last=False)
            actions.append(Cancel(MAKER, order_id))
        return actions

    # ------------------------------------------------------------ what came back

    def answered(self, action: Action, order: dict[str, object] | None) -> None:
        """The reply to `action`: the order object (None when it failed)."""
        if not isinstance(action, Put) or action.user != MAKER:
            return
        self.waiting[action.side] -= 1
        if order is not None and Decimal(str(order["left"])) > 0:
            self.resting[int(str(order["id"]))] = action.side

    # ------------------------------------------------------------ inside

    def _count(self, side: int) -> int:
        return self.waiting[side] + sum(1 for s in self.resting.values() if s == side)

    def _move(self) -> None:
        level = self._level * (1.0 + self.rng.gauss(0.0, self.walk))
        self._level = level + (float(self.start) - level) * self.pull
        self.price = max(self._round_price(Decimal(repr(self._level))), self.tick * 2)

    def _step(self) -> Decimal:
        return max(self._round_price(self.price * STEP_SHARE), self.tick)

    def _round_price(self, value: Decimal) -> Decimal:
        return value.quantize(self.tick, rounding=ROUND_DOWN)

    def _amount(self, lots: float) -> Decimal:
        amount = (self.lot * Decimal(repr(lots))).quantize(quantum(self.market.stock_prec), rounding=ROUND_DOWN)
        return max(amount, self.min_amount)

    def _taker(self) -> Put:
        side = self.rng.choice((ASK, BID))
        reach = self._step() * LEVELS
        price = self.price + reach if side == BID else max(self.price - reach, self.tick)
        return Put(TAKER, side, self._amount(self.rng.uniform(*TAKER_SIZES) / 4), price)

    def _maker(self, side: int, level: int) -> Put:
        offset = self._step() * level
        price = self.price + offset if side == ASK else max(self.price - offset, self.tick)
        size = TAKER_SIZES[1] / 4 * self.rng.uniform(*MAKER_SIZE_FACTOR)
        self.waiting[side] += 1
        return Put(MAKER, side, self._amount(size), price)
