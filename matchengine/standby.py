"""Standing by: follow the operation log into a replica while watching the lease.

`LeaseWatch.wait` returns when this engine may take the lease (docs/failover.md):
nobody ever led, the leader's liveness lock is free (its process is gone), or
its `beat` has not moved for `lease_timeout`.  Every WATCH_INTERVAL it reads
the lease row and waits that long on the leader's liveness lock, which returns
at once when the leader dies.  With a replica (role "standby") a second task
follows the log meanwhile — the lease row says how far the leader has
committed, so the follower reads as soon as there is more — and the replica
stays current within a few tens of milliseconds.  Database errors are
retried in place with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from contextlib import aclosing

from common.service import StartRefused
from common.storage import Database, DatabaseError

from .lease import Lease, LeaseRow, Verdict, judge
from .replica import LogFollower, Replica
from .role import RoleStatus

log = logging.getLogger(__name__)

WATCH_INTERVAL = 0.025
FOLLOW_POLL = 0.1
FOLLOW_GATHER = 0.005
RETRY_DELAYS = (0.05, 0.1, 0.25, 0.5, 1.0)


async def _stop(task: asyncio.Task[None]) -> None:
    """Cancel `task` and wait for it to end, cancelling again should a cancel be lost on the way."""
    while not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([task], timeout=0.1)
    with contextlib.suppress(asyncio.CancelledError):
        task.result()


class LeaseWatch:
    def __init__(self, db: Database, lease: Lease, status: RoleStatus, replica: Replica | None) -> None:
        self.db = db
        self.lease = lease
        self.status = status
        self.replica = replica

    async def wait(self, stopping: asyncio.Event) -> tuple[LeaseRow, Verdict] | None:
        """Until the lease may be taken: the row as last read and the verdict; None when stopping."""
        follower = LogFollower(self.db, poll_interval=FOLLOW_POLL, gather_interval=FOLLOW_GATHER)
        following = asyncio.create_task(self._follow(follower)) if self.replica is not None else None
        try:
            return await self._watch(follower, following, stopping)
        finally:
            if following is not None:
                await _stop(following)

    async def _watch(self, follower: LogFollower, following: asyncio.Task[None] | None,
                     stopping: asyncio.Event) -> tuple[LeaseRow, Verdict] | None:
        lease, status = self.lease, self.status
        started = time.monotonic()
        seen: tuple[int, int] = (-1, -1)
        still_since = started
        attempt = 0
        while not stopping.is_set():
            if following is not None and following.done():
                following.result()  # a replay that cannot go on stops the engine
                raise RuntimeError("the log follower stopped")
            try:
                row = await lease.read()
                lock_free = row.term > 0 and await lease.lock.acquire(row.term, WATCH_INTERVAL)
            except DatabaseError as exc:
                log.critical("standby: cannot read the lease: %s", exc)
                await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
                attempt += 1
                continue
            attempt = 0
            now = time.monotonic()
            if (row.term, row.beat) != seen:
                seen, still_since = (row.term, row.beat), now
            status.term, status.leader = row.term, row.holder
            if row.oper_id > status.leader_oper_id or row.term != status.term:
                status.leader_oper_id = row.oper_id
            if row.oper_id > follower.committed_hint:
                follower.notify(row.oper_id)
            verdict = judge(row, role=lease.role, exchange=lease.exchange, lock_free=lock_free,
                            still_for=now - still_since, timeout=lease.timeout, waited=now - started)
            if verdict.refusal:
                await lease.lock.release(row.term)
                raise StartRefused(verdict.refusal)
            if verdict.take:
                return row, verdict
            if row.term == 0:
                await asyncio.sleep(WATCH_INTERVAL)
        return None

    async def _follow(self, follower: LogFollower) -> None:
        replica = self.replica
        assert replica is not None
        status = self.status
        attempt = 0
        while True:
            progressed = False
            try:
                async with aclosing(follower.pages(replica.applied_id)) as pages:
                    async for operations in pages:
                        replica.apply(operations)
                        status.applied_id = replica.applied_id
                        status.apply_delay = max(0.0, time.time() - replica.applied_time)
                        progressed = True
                        await asyncio.sleep(0)
            except DatabaseError as exc:
                log.critical("standby: reading the operation log failed: %s", exc)
                await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
                attempt += 1
                continue
            attempt = 0
            await follower.rest(replica.applied_id, progressed=progressed)
