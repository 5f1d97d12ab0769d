"""Order-book depth subscriptions (§5.6): matchengine polled per (market, interval, limit), diffs pushed.

`depth_diff` is the original's incremental update, a pure function: per
side, a merge walk of the old and new price levels emitting new or changed
levels as they are and vanished levels with amount "0".  `DepthFeed` keeps
one snapshot per key and pushes ``[true, snapshot, market]`` for the first
result and at most once a minute when something changed, ``[false, diff,
market]`` otherwise, and nothing when the book did not change.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from common.decimals import fmt, parse_decimal

from .backends import CMD_ORDER_BOOK_DEPTH, Backend
from .envelope import push_frame
from .feeds import PolledFeed, name_problem
from .session import Session

FULL_SNAPSHOT_INTERVAL = 60.0

DepthKey = tuple[str, str, int]
Level = tuple[Decimal, Decimal, Any]


class MalformedSide(ValueError):
    """A depth side that is not a list of [price, amount] decimal strings."""


def _levels(entries: object) -> list[Level]:
    if not isinstance(entries, list):
        raise MalformedSide("not a list")
    levels: list[Level] = []
    for entry in entries:
        if not isinstance(entry, list) or len(entry) < 2 or not isinstance(entry[0], str) \
                or not isinstance(entry[1], str):
            raise MalformedSide(f"bad level {entry!r}")
        try:
            price, amount = Decimal(entry[0]), Decimal(entry[1])
        except InvalidOperation:
            raise MalformedSide(f"bad level {entry!r}") from None
        if not price.is_finite() or not amount.is_finite():
            raise MalformedSide(f"bad level {entry!r}")
        levels.append((price, amount, entry))
    return levels


def side_diff(old_entries: object, new_entries: object, limit: int, ascending: bool) -> list[Any]:
    """The changes from `old_entries` to `new_entries` of one side; [] when either is malformed."""
    try:
        old, new = _levels(old_entries), _levels(new_entries)
    except MalformedSide:
        return []
    diff: list[Any] = []
    i = j = 0
    while i < len(old) and j < len(new):
        old_price, old_amount, _ = old[i]
        new_price, new_amount, new_entry = new[j]
        if old_price == new_price:
            if old_amount != new_amount:
                diff.append(new_entry)
            i += 1
            j += 1
        elif (new_price < old_price) if ascending else (new_price > old_price):
            diff.append(new_entry)
            j += 1
        else:
            diff.append([fmt(old_price), "0"])
            i += 1
    if len(new) < limit:
        diff.extend([entry[0], "0"] for _, _, entry in old[i:])
    diff.extend(entry for _, _, entry in new[j:])
    return diff


def depth_diff(old: dict[str, Any], new: dict[str, Any], limit: int) -> dict[str, Any]:
    """``{"asks": [...], "bids": [...]}`` holding only the non-empty sides; {} when nothing changed."""
    diff: dict[str, Any] = {}
    asks = side_diff(old.get("asks"), new.get("asks"), limit, ascending=True)
    if asks:
        diff["asks"] = asks
    bids = side_diff(old.get("bids"), new.get("bids"), limit, ascending=False)
    if bids:
        diff["bids"] = bids
    return diff


@dataclass(slots=True)
class Snapshot:
    book: dict[str, Any]
    last_clean: float


class DepthFeed(PolledFeed[DepthKey]):
    family = "depth"
    command = CMD_ORDER_BOOK_DEPTH

    def __init__(self, backend: Backend, interval: float, limits: list[int], merges: list[Decimal]) -> None:
        super().__init__(backend, interval)
        self.limits = frozenset(limits)
        self.merges = frozenset(merges)
        self.snapshots: dict[DepthKey, Snapshot] = {}

    def subscribe(self, session: Session, params: list[Any]) -> str | None:
        """`[market, limit, interval]`; limit one of `depth_limit`, interval numerically one of `depth_merge`.
        The reason it is refused, or None."""
        self.unsubscribe(session)
        if len(params) != 3:
            return f"params: expected 3, got {len(params)}"
        market, limit, interval = params
        problem = name_problem(market, "market") or name_problem(interval, "interval")
        if problem is not None:
            return problem
        if type(limit) is not int or limit not in self.limits:
            return f"limit: must be one of {', '.join(map(str, sorted(self.limits)))}"
        merge = parse_decimal(interval, 0)
        if merge is None or merge not in self.merges:
            return f"interval: must be one of {', '.join(str(merge) for merge in sorted(self.merges))}"
        self.add(session, (market, interval, limit))
        return None

    def initial_push(self, session: Session, params: list[Any]) -> None:
        market, limit, interval = params
        snapshot = self.snapshots.get((market, interval, limit))
        if snapshot is not None:
            session.push(push_frame("depth.update", [True, snapshot.book, market]))

    def params(self, key: DepthKey) -> list[Any]:
        market, interval, limit = key
        return [market, limit, interval]

    def on_result(self, key: DepthKey, result: Any) -> None:
        if not isinstance(result, dict):
            return
        market, _, limit = key
        now = time.monotonic()
        snapshot = self.snapshots.get(key)
        if snapshot is None:
            self.snapshots[key] = Snapshot(result, now)
            self.broadcast(key, push_frame("depth.update", [True, result, market]))
            return
        diff = depth_diff(snapshot.book, result, limit)
        if not diff:
            return
        snapshot.book = result
        if now - snapshot.last_clean >= FULL_SNAPSHOT_INTERVAL:
            snapshot.last_clean = now
            self.broadcast(key, push_frame("depth.update", [True, result, market]))
        else:
            self.broadcast(key, push_frame("depth.update", [False, diff, market]))

    def forget(self, key: DepthKey) -> None:
        self.snapshots.pop(key, None)
