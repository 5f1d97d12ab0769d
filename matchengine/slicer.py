"""Slices made from the publisher's replica, so the engine never pauses for one.

`Slicer` takes a snapshot of the replica's core and writes it as slice tables
(`slice.write_slice`): on the original's schedule (within 5 s after each
multiple of `slice_interval`) and when asked (the CLI's `makeslice`).  The
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


class Slicer:
    def __init__(self, db: Database, replica: Replica, *, interval: int, keeptime: int,
                 protect: Callable[[], int]) -> None:
        self.db = db
        self.replica = replica
        self.interval = interval
        self.keeptime = keeptime
        self.protect = protect
        self.last_slice_time = 0
        self.stopping = False
        self._slicing = False

    async def recover(self) -> None:
        newest = await newest_slice(self.db)
        self.last_slice_time = newest.time if newest else 0

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
            await write_slice(self.db, snapshot, now, self.keeptime, self.protect())
            self.last_slice_time = now
        except Exception:
            log.critical("making a slice failed", exc_info=True)
        finally:
            self._slicing = False

    async def run_schedule(self) -> None:
        interval = self.interval
        while not self.stopping:
            await asyncio.sleep(1.0)
            now = int(time.time())
            if now - self.last_slice_time >= interval and now % interval <= 5:
                await self.make_slice(now)
