"""Slices made from the publisher's replica, so the engine never pauses for one.

`Slicer` takes a snapshot of the replica's core and writes it as slice tables
(`slice.write_slice`): on the original's schedule (within 5 s after each
multiple of `slice_interval`), when asked (the CLI's `makeslice`), and when
the log since the last slice has grown longer than the state a slice holds
(and at least SLICE_MIN_OPERATIONS): a restart — of the engine, of a standby,
of the publisher — loads the newest slice and replays the log after it, and
replaying an operation costs about what loading an order does, so a rebuild
never takes much more than twice the load of one slice.  Slices made for
that are dropped again once a newer one exists (`slice.slices_to_drop`).  The
slice at or before where the publisher would restart (`protect()`) is never
dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from common.storage import Database

from .replica import Replica
from .slice import newest_slice, take_snapshot, write_slice

log = logging.getLogger(__name__)

SLICE_MIN_OPERATIONS = 100_000


class Slicer:
    def __init__(self, db: Database, replica: Replica, *, interval: int, keeptime: int,
                 protect: Callable[[], int]) -> None:
        self.db = db
        self.replica = replica
        self.interval = interval
        self.keeptime = keeptime
        self.protect = protect
        self.last_slice_time = 0
        self.last_scheduled = 0  # the time of the last slice the schedule made (or the newest at start)
        self.last_slice_oper_id = 0
        self.stopping = False
        self._slicing = False

    async def recover(self) -> None:
        newest = await newest_slice(self.db)
        self.last_slice_time = self.last_scheduled = newest.time if newest else 0
        self.last_slice_oper_id = newest.end_oper_id if newest else 0

    def log_is_long(self) -> bool:
        """The log since the last slice is longer than the state a slice would hold (and not short)."""
        since = self.replica.applied_id - self.last_slice_oper_id
        if since < SLICE_MIN_OPERATIONS:
            return False
        engine = self.replica.engine
        orders = sum(m.asks.count + m.bids.count for m in engine.markets.values())
        entries = sum(len(e) for e in engine.balances.available.values())
        return since >= orders + entries

    async def make_slice(self, stamp: int | None = None) -> None:
        if self._slicing:
            return
        self._slicing = True
        try:
            now = int(time.time()) if stamp is None else stamp
            if now <= self.last_slice_time:
                now = self.last_slice_time + 1
            engine = self.replica.engine
            engine.expire_updates(time.time())
            snapshot = take_snapshot(engine, self.replica.applied_id)
            await write_slice(self.db, snapshot, now, self.keeptime, self.protect(), self.interval)
            self.last_slice_time = now
            self.last_slice_oper_id = snapshot.oper_id
        except Exception:
            log.critical("making a slice failed", exc_info=True)
        finally:
            self._slicing = False

    async def run_schedule(self) -> None:
        interval = self.interval
        while not self.stopping:
            await asyncio.sleep(1.0)
            now = int(time.time())
            if now - self.last_scheduled >= interval and now % interval <= 5:
                await self.make_slice(now)
                self.last_scheduled = now
            elif self.log_is_long():
                log.info("the log since the last slice holds %d operations: making a slice",
                         self.replica.applied_id - self.last_slice_oper_id)
                await self.make_slice()
