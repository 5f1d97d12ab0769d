"""A replica of the engine: a core that follows the committed operation log.

`Replica` holds a core (`Engine` and the `Commands` that replay into it) and
the id of the last operation applied to it.  It starts from the newest slice
at or before a given operation and replays the log after it with the very
code the engine runs, so it reaches the engine's state field for field.

`LogFollower` reads the log as it grows: each round hands out the pages
committed after a given id, then rests until there may be more — woken by a
notice of a new commit (`notify`), by a writer that made room (`wake`), or by
its poll timer.  While operations trickle in it reads at most every
`gather_interval`, so a busy engine does not cost one log read per group
commit.  Where the notices say there is more than the daily tables as last
listed hold (a new day's table), it lists them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator

from common.service import collector_paused
from common.storage import Database

from .commands import Commands
from .config import EngineConfig
from .engine import Engine
from .operlog import READ_PAGE, Operation, OperlogCatalog, read_operations
from .slice import SliceInfo, load_slice, newest_slice

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.5
GATHER_INTERVAL = 0.025


class Replica:
    """A core and how far into the operation log it is."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.commands = Commands(engine)
        self.applied_id = 0
        self.applied_time = 0.0
        # what an empty replica starts from (assets and markets added live come back with the slice and log)
        self._assets = list(engine.assets.values())
        self._markets = [m.spec for m in engine.markets.values()]

    def reset(self) -> None:
        """Empty again (after a slice load that failed halfway)."""
        self.engine = Engine(self._assets, self._markets)
        self.commands = Commands(self.engine)
        self.applied_id = 0
        self.applied_time = 0.0

    @classmethod
    def of(cls, config: EngineConfig) -> Replica:
        """An empty replica of the engine `config` describes."""
        return cls(Engine(config.assets, config.markets))

    async def restore(self, db: Database, catalog: OperlogCatalog | None = None) -> int:
        """Load the newest slice and replay the log after it; the number of operations replayed."""
        started = time.monotonic()
        info = await self.load_newest_slice(db)
        if info is not None:
            log.info("slice %d loaded (oper id %d) in %.3f s", info.time, info.end_oper_id,
                     time.monotonic() - started)
        replayed = await self.replay_log(db, catalog or OperlogCatalog())
        log.info("replayed %d operations up to id %d in %.3f s", replayed, self.applied_id,
                 time.monotonic() - started)
        return replayed

    async def replay_log(self, db: Database, catalog: OperlogCatalog, refresh: bool = False) -> int:
        """Apply every operation the log holds after `applied_id`; how many there were."""
        replayed = 0
        with collector_paused():  # replay makes no reference cycles; scanning the growing state is waste
            async for operations in read_operations(db, self.applied_id, catalog=catalog, refresh=refresh):
                self.apply(operations)
                replayed += len(operations)
        return replayed

    async def load_newest_slice(self, db: Database, max_oper_id: int | None = None) -> SliceInfo | None:
        """Load the newest slice (at or before `max_oper_id`, if given) into the empty core."""
        info = await newest_slice(db, max_oper_id)
        if info is not None:
            await load_slice(db, self.engine, info)
            self.applied_id = info.end_oper_id
        return info

    def apply(self, operations: list[Operation]) -> None:
        """Replay a page of operations that continues the log where the replica stands."""
        self.commands.replay_all(operations)
        self.applied_id, self.applied_time = operations[-1][0], operations[-1][1]


class LogFollower:
    """Rounds of reading the operation log after an id, and the rests between them."""

    def __init__(self, db: Database, *, poll_interval: float = POLL_INTERVAL,
                 gather_interval: float = GATHER_INTERVAL) -> None:
        self.db = db
        self.poll_interval = poll_interval
        self.gather_interval = gather_interval
        self.committed_hint = 0  # the highest committed id a notice told of
        self.catalog = OperlogCatalog()
        self._wakeup = asyncio.Event()
        self._stuck = False  # the notices promise more than the tables as last listed hold
        self._round_started = 0.0

    def notify(self, committed_id: int) -> None:
        """The log is committed up to `committed_id`."""
        self.committed_hint = committed_id
        self._wakeup.set()

    def wake(self) -> None:
        """End the current rest now (something the follower waits for has changed)."""
        self._wakeup.set()

    def pages(self, after_id: int) -> AsyncGenerator[list[Operation], None]:
        """This round's pages of operations after `after_id` (close the iterator when leaving early)."""
        self._round_started = asyncio.get_running_loop().time()
        return read_operations(self.db, after_id, catalog=self.catalog, refresh=self._stuck)

    async def rest(self, applied_id: int, *, progressed: bool, blocked: bool = False,
                   stopping: bool = False) -> None:
        """Wait before the next round.  `progressed`: this round applied something; `blocked`: the caller
        read nothing because it has no room (a writer's `wake` ends the wait)."""
        loop = asyncio.get_running_loop()
        if progressed:
            self._stuck = False
            if self.committed_hint - applied_id < READ_PAGE and not stopping:
                # a trickle: let operations gather before the next read
                await asyncio.sleep(self._round_started + self.gather_interval - loop.time())
            return
        self._wakeup.clear()
        if not blocked and self.committed_hint > applied_id:
            if self._stuck:  # listed afresh and still nothing: the notice is ahead of what is readable yet
                await asyncio.sleep(self.gather_interval)
            self._stuck = True
            return
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the cancel of a follower being stopped
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.poll_interval):
                await self._wakeup.wait()
