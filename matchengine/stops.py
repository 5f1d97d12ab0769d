"""Stop (trigger) orders of one market (spec/extensions.md §1): the record and its two trigger lists.

A stop rests in LOW (it fires when the market's last deal price falls to or
below its stop price) or in HIGH (rises to or above it), fixed at placement
by the side of `last` its stop price is on.  Each list keeps its stops in
firing order — LOW by stop price descending, HIGH ascending, then by id — as
price levels: a dict keyed by a sort key and the sorted list of those keys,
the level that fires next last, so firing takes from the end in O(1) and a
placement or a cancel costs a binary search.  A level is a FIFO of stops in
id order; a removed stop is flagged and skipped when it reaches the front, as
resting orders are in market.py.  The firing itself is Market's: it places
orders.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, Final

from common.decimals import fmt

STOP_LOW: Final = 1
STOP_HIGH: Final = 2

# `stops` message events, and the status a stop carries in messages and history
STOP_EVENT_PUT: Final = 1
STOP_EVENT_ACTIVE: Final = 2
STOP_EVENT_CANCEL: Final = 3
STOP_STATUS_NONE: Final = 0
STOP_STATUS_ACTIVE: Final = 1
STOP_STATUS_FAIL: Final = 2


class Stop:
    """One stop.  `freeze` is what it holds frozen until it fires or is cancelled: ask, the stock amount;
    stop-limit bid, amount × price; stop-market bid, the money amount."""

    __slots__ = (
        "active",
        "amount",
        "client_id",
        "ctime",
        "freeze",
        "id",
        "maker_fee",
        "market",
        "mtime",
        "option",
        "price",
        "side",
        "source",
        "state",
        "stop_price",
        "taker_fee",
        "type",
        "user",
    )

    def __init__(self, id: int, type: int, side: int, time: float, user: int, market: str, source: str,
                 option: int, client_id: str, stop_price: Decimal, price: Decimal, amount: Decimal,
                 taker_fee: Decimal, maker_fee: Decimal, state: int, freeze: Decimal) -> None:
        self.id = id
        self.type = type
        self.side = side
        self.ctime = time
        self.mtime = time
        self.user = user
        self.market = market
        self.source = source
        self.option = option
        self.client_id = client_id
        self.stop_price = stop_price
        self.price = price
        self.amount = amount
        self.taker_fee = taker_fee
        self.maker_fee = maker_fee
        self.state = state
        self.freeze = freeze
        self.active = False

    def to_json(self) -> dict[str, Any]:
        """The stop object of replies, queries and `stops` messages (extensions.md §0.5 less the fork's
        account and fee-asset fields)."""
        return {
            "id": self.id,
            "type": self.type,
            "side": self.side,
            "user": self.user,
            "option": self.option,
            "state": self.state,
            "ctime": self.ctime,
            "mtime": self.mtime,
            "market": self.market,
            "source": self.source,
            "client_id": self.client_id,
            "stop_price": fmt(self.stop_price),
            "price": fmt(self.price),
            "amount": fmt(self.amount),
            "taker_fee": fmt(self.taker_fee),
            "maker_fee": fmt(self.maker_fee),
        }

    def __repr__(self) -> str:
        return (f"Stop(id={self.id}, user={self.user}, {self.market}, side={self.side}, type={self.type}, "
                f"state={self.state}, stop_price={self.stop_price}, amount={self.amount})")


class StopLevel:
    __slots__ = ("count", "stops")

    def __init__(self) -> None:
        self.stops: deque[Stop] = deque()
        self.count = 0


class TriggerList:
    """The stops of one direction, the next to fire last in `keys`."""

    __slots__ = ("count", "is_low", "keys", "levels")

    def __init__(self, is_low: bool) -> None:
        self.is_low = is_low
        self.keys: list[Decimal] = []
        self.levels: dict[Decimal, StopLevel] = {}
        self.count = 0

    def insert(self, stop: Stop, *, sorted_later: bool = False) -> None:
        """Add a stop behind those of its price (ids only grow); `sorted_later` as BookSide.insert."""
        key = stop.stop_price if self.is_low else -stop.stop_price
        level = self.levels.get(key)
        if level is None:
            level = self.levels[key] = StopLevel()
            keys = self.keys
            if sorted_later or not keys or key > keys[-1]:
                keys.append(key)
            else:
                insort(keys, key)
        level.stops.append(stop)
        level.count += 1
        self.count += 1

    def sort_keys(self) -> None:
        self.keys.sort()

    def remove(self, stop: Stop) -> None:
        key = stop.stop_price if self.is_low else -stop.stop_price
        level = self.levels[key]
        level.count -= 1
        self.count -= 1
        if level.count == 0:
            del self.levels[key]
            keys = self.keys
            if keys[-1] == key:
                keys.pop()
            else:
                del keys[bisect_left(keys, key)]
        elif level.stops[0] is stop:
            level.stops.popleft()
        elif len(level.stops) > 2 * level.count + 32:
            level.stops = deque(s for s in level.stops if s.active and s is not stop)

    def head(self) -> Stop | None:
        """The stop that fires next."""
        if not self.keys:
            return None
        stops = self.levels[self.keys[-1]].stops
        while not stops[0].active:
            stops.popleft()
        return stops[0]

    def __iter__(self) -> Iterator[Stop]:
        """Resting stops in firing order."""
        levels = self.levels
        for key in reversed(self.keys):
            for stop in levels[key].stops:
                if stop.active:
                    yield stop


class StopBook:
    """A market's resting stops: the two trigger lists, by id, by user."""

    __slots__ = ("high", "low", "stops", "users")

    def __init__(self) -> None:
        self.low = TriggerList(is_low=True)
        self.high = TriggerList(is_low=False)
        self.stops: dict[int, Stop] = {}
        self.users: dict[int, dict[int, Stop]] = {}

    def add(self, stop: Stop, *, sorted_later: bool = False) -> None:
        stop.active = True
        (self.low if stop.state == STOP_LOW else self.high).insert(stop, sorted_later=sorted_later)
        self.stops[stop.id] = stop
        mine = self.users.get(stop.user)
        if mine is None:
            mine = self.users[stop.user] = {}
        mine[stop.id] = stop

    def sort(self) -> None:
        self.low.sort_keys()
        self.high.sort_keys()

    def remove(self, stop: Stop) -> None:
        (self.low if stop.state == STOP_LOW else self.high).remove(stop)
        stop.active = False
        del self.stops[stop.id]
        mine = self.users[stop.user]
        del mine[stop.id]
        if not mine:
            del self.users[stop.user]

    def next_to_fire(self, state: int, last: Decimal) -> Stop | None:
        """The head of the LOW or HIGH list if `last` has reached its stop price."""
        if state == STOP_LOW:
            stop = self.low.head()
            if stop is not None and stop.stop_price >= last:
                return stop
            return None
        stop = self.high.head()
        if stop is not None and stop.stop_price <= last:
            return stop
        return None

    def of_user(self, user: int, side: int) -> list[Stop]:
        """The user's stops (of one side, or both with 0), newest first."""
        mine = self.users.get(user)
        if not mine:
            return []
        return [s for s in reversed(mine.values()) if not side or s.side == side]
