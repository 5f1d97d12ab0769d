"""One matchengine process, from start to stop: restore, stand by or wait for the lease, lead, step down.

    open trade_log, check the lease row (exchange, roles, the fence's CHECK)
    repeat:
        rebuild the state: newest slice + the operation log after it
        role "standby": follow the log until the lease may be taken
        role "sole":    wait until the lease may be taken (refuse when another engine holds it)
        take the lease (term + 1), apply what was committed up to then, lead
        stopped: return;  deposed: "sole" stops with status 1, "standby" stands by again

Database errors while starting, rebuilding or standing by are retried in
place with backoff, so a database outage never ends the process.  Every
takeover is logged at FATAL (an alert).  `RoleStatus` says where the engine
is, for the CLI and the monitor port.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

from common.cli import CliServer
from common.monitor import start_monitor
from common.service import ServiceContext, StartRefused
from common.storage import Database, DatabaseError, open_database

from .cli import EngineCli
from .commands import ReplayError
from .config import ConfigSource, EngineConfig
from .engine import Engine
from .leader import Leadership
from .lease import ROLE_SOLE, ROLE_STANDBY, Lease, liveness_lock
from .monitoring import export_metrics, readiness
from .operlog import OperlogCatalog, OperlogWriter
from .replica import Replica
from .retry import Stopped, retrying
from .role import STANDBY, STARTING, RoleStatus
from .server import PublisherState
from .slice import SliceMismatch, ensure_log_tables
from .standby import LeaseWatch

log = logging.getLogger("matchengine")

RETRY_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
CATCH_UP_TRIES = 20

T = TypeVar("T")



class EngineNode:
    def __init__(self, config: EngineConfig, ctx: ServiceContext) -> None:
        self.config = config
        self.ctx = ctx
        self.db: Database = open_database(config.db_log)
        self.lease = Lease(self.db, liveness_lock(config.db_log), exchange=config.exchange, role=config.role,
                           timeout=config.lease_timeout)
        self.status = RoleStatus(config.role)
        self.replica: Replica | None = None
        self.leadership: Leadership | None = None
        self.source = ConfigSource(config.exchange_file or ctx.config_path)

    # ------------------------------------------------------------ what the CLI sees

    @property
    def engine(self) -> Engine | None:
        return self.replica.engine if self.replica is not None else None

    @property
    def operlog(self) -> OperlogWriter | None:
        return self.leadership.operlog if self.leadership is not None else None

    @property
    def publisher(self) -> PublisherState | None:
        return self.leadership.publisher if self.leadership is not None else None

    async def request_slice(self) -> bool:
        return await self.leadership.link.request_slice() if self.leadership is not None else False

    # ------------------------------------------------------------ the life of the process

    async def run(self) -> None:
        try:
            await self._run()
        except Stopped as exc:
            log.info("stopped while waiting for the database (%s)", exc)

    async def _run(self) -> None:
        ctx = self.ctx
        export_metrics(self)
        await start_monitor(self.config.monitor, ctx, readiness(self))
        ctx.add_cleanup(self.db.close)
        await self._retrying("open trade_log", self._open)
        ctx.add_cleanup(self.lease.close)
        cli = CliServer(self.config.cli, EngineCli(self))
        await cli.start()
        ctx.add_cleanup(cli.close)
        stopping = ctx.stopping
        replica: Replica | None = None
        while not stopping.is_set():
            if replica is None:
                self.status.become(STARTING)
                replica = await self._rebuild()
                if replica is None:
                    return
            standby = self.config.role == ROLE_STANDBY
            if standby:
                self.status.become(STANDBY)
                log.info("standing by: following the operation log from id %d", replica.applied_id)
                ctx.ready()
            found = await LeaseWatch(self.db, self.lease, self.status, replica if standby else None).wait(stopping)
            if found is None:
                return
            row, verdict = found
            if not await self._retrying("take the lease", partial(self.lease.take, row, expired=verdict.expired)):
                continue  # another engine took it first: go on standing by
            await self._catch_up(replica)
            self._write_back(replica)
            self.status.takeovers += 1
            self.status.term, self.status.leader = self.lease.term, self.lease.holder
            log.critical("took over the lease of exchange '%s': term %d, %s after %s (%s), operations up to id %d",
                         self.config.exchange, self.lease.term, "as its sole engine" if not standby else "leading",
                         row.holder or "nobody", "its lease expired" if verdict.expired else "gone",
                         replica.applied_id)
            self.leadership = Leadership(self.config, ctx.config_path, self.db, self.lease, replica, self.status,
                                         self.source)
            stopped = await self.leadership.run(stopping, on_serving=ctx.ready)
            self.leadership = None
            if stopped:
                return
            if self.config.role == ROLE_SOLE:
                raise StartRefused("another engine took the lease of this exchange: this sole engine stops "
                                   "(a second engine must run with role 'standby', and so must the first)")
            self.replica = replica = None  # its state holds operations that were never committed
            gc.collect()

    async def _open(self) -> None:
        await self.db.start()
        await ensure_log_tables(self.db)
        await self.lease.prepare()

    async def _rebuild(self) -> Replica | None:
        """The newest slice and the log after it, from scratch again after a database error."""
        attempt = 0
        while not self.ctx.stopping.is_set():
            replica = self.replica = Replica.of(self.config)
            try:
                await replica.restore(self.db)
            except DatabaseError as exc:
                log.critical("rebuilding the state failed, trying again: %s", exc)
                self.replica = None
                await self._pause(attempt)
                attempt += 1
                continue
            except (ReplayError, SliceMismatch) as exc:
                raise RuntimeError(str(exc)) from None
            self.status.applied_id = replica.applied_id
            self._write_back(replica)
            return replica
        return None

    def _write_back(self, replica: Replica) -> None:
        """The assets and markets the slice and the log hold, to the config source if it lacks them."""
        engine = replica.engine
        written = self.source.write_back(list(engine.assets.values()), [m.spec for m in engine.markets.values()])
        if written:
            log.info("%d assets and markets of the slice and log written back to %s", written, self.source.path)

    async def _replay(self, replica: Replica, catalog: OperlogCatalog) -> int:
        try:
            return await replica.replay_log(self.db, catalog, refresh=True)
        except ReplayError as exc:
            raise RuntimeError(str(exc)) from None

    async def _catch_up(self, replica: Replica) -> None:
        """After the takeover: apply every operation committed under the earlier terms.  The lease row's
        `oper_id` is the last one of them (written by the same transactions), so the log must reach it."""
        catalog = OperlogCatalog()
        for _ in range(CATCH_UP_TRIES):
            row = await self._retrying("read the lease", self.lease.read)
            await self._retrying("read the operation log", partial(self._replay, replica, catalog))
            self.status.applied_id = replica.applied_id
            if replica.applied_id >= row.oper_id:
                return
            log.error("the operation log ends at id %d, the lease says %d was committed: reading again",
                      replica.applied_id, row.oper_id)
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the operation log ends at id {replica.applied_id} but the lease row says operations up "
                           f"to id {row.oper_id} were committed")

    async def _retrying(self, what: str, action: Callable[[], Awaitable[T]]) -> T:
        return await retrying(log, what, action, stopping=self.ctx.stopping, delays=RETRY_DELAYS)

    async def _pause(self, attempt: int) -> None:
        await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])


async def serve(config: EngineConfig, ctx: ServiceContext) -> None:
    await EngineNode(config, ctx).run()
