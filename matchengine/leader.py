"""Leading: serve RPC over the core, write the operation log under the lease, run the publisher.

`Leadership.run` serves until the process is asked to stop — then it answers
what was committed, stops its publisher and frees the lease, so that a
standby takes over at once — or until this engine cannot prove it still
leads: a commit refused by the lease's fence (another engine leads), or, for
one of a pair, its liveness lock lost for good (a standby takes over on that
signal).  It then steps down at once: the
RPC port closes (and with it every client connection, so nothing that was not
committed is ever answered), the uncommitted operations are dropped, the
publisher is stopped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from common.rpc import RpcServer
from common.storage import Database

from .commands import OP_UPDATE_ASSET_CONFIG, OP_UPDATE_MARKET_CONFIG, LogEntry
from .commit_times import CommitTimes
from .config import ConfigSource, EngineConfig
from .engine import Engine
from .lease import ROLE_STANDBY, Lease
from .operlog import OperlogWriter
from .publisher_link import PublisherLink
from .replica import Replica
from .role import LEADER, STEPPING_DOWN, RoleStatus
from .server import EngineService, PublisherState

log = logging.getLogger(__name__)

RENEWALS_PER_TIMEOUT = 6
STEP_DOWN_PUBLISHER_WAIT = 3.0


def write_back_added(source: ConfigSource, engine: Engine, entries: list[LogEntry]) -> None:
    """After a logged write: the assets and markets it added go to the config source."""
    for method, params in entries:
        if method == OP_UPDATE_ASSET_CONFIG:
            source.write_back([engine.assets[params[0]["name"]]], [])
        elif method == OP_UPDATE_MARKET_CONFIG:
            source.write_back([], [engine.markets[params[0]["name"]].spec])


class Leadership:
    """One term of leading, on the state of `replica` (caught up with the log)."""

    def __init__(self, config: EngineConfig, config_path: str, db_log: Database, lease: Lease, replica: Replica,
                 status: RoleStatus, source: ConfigSource) -> None:
        self.config = config
        self.lease = lease
        self.replica = replica
        self.status = status
        self.renew_interval = config.lease_timeout / RENEWALS_PER_TIMEOUT
        self.lost = asyncio.Event()
        self.publisher = PublisherState()
        self.publisher.enabled = config.publisher
        self.commit_times = CommitTimes()
        self.link = PublisherLink(config_path, self.publisher, lease.term)
        self.operlog = OperlogWriter(db_log, replica.applied_id, on_commit=self._committed,
                                     fence=lease.fence_statement, renew_interval=self.renew_interval,
                                     on_deposed=self.lost.set)
        self.service = EngineService(replica.engine, self.operlog, durable=config.durable_reply,
                                     cache_timeout=config.cache_timeout, max_publish_lag=config.max_publish_lag,
                                     publisher=self.publisher)
        self.service.last_time = replica.applied_time
        self.service.on_logged = lambda entries: write_back_added(source, replica.engine, entries)
        self.rpc = RpcServer(config.svr, self.service.handlers(), debug=config.debug, name="matchengine")

    def _committed(self, oper_id: int) -> None:
        self.status.applied_id = self.status.leader_oper_id = oper_id
        self.link.notify_committed(oper_id)
        self.commit_times.committed(oper_id)
        self.commit_times.forget_through(min([self.publisher.published, *self.publisher.stripes]))

    def behind(self, position: int, *, seconds: bool) -> float:
        """How far `position` (history, Kafka, a stripe) is behind the committed log: operations or seconds."""
        if seconds:
            return self.commit_times.lag_seconds(position)
        return float(max(0, self.operlog.committed_id - position))

    async def run(self, stopping: asyncio.Event, on_serving: Callable[[], None] | None = None) -> bool:
        """Lead until `stopping` (True, after a graceful stop) or until deposed (False, stepped down)."""
        self.operlog.start()
        if not self.config.publisher:
            self.publisher.history = self.publisher.messages = self.replica.applied_id
        expiry = asyncio.create_task(self.service.expire_guard_forever())
        keeper = asyncio.create_task(self._keep_lease())
        try:
            await self.rpc.start()
            self.status.become(LEADER)
            if on_serving is not None:
                on_serving()
            if self.config.publisher:
                self.link.start()
            stop = asyncio.create_task(stopping.wait())
            lost = asyncio.create_task(self.lost.wait())
            await asyncio.wait([stop, lost], return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            lost.cancel()
        finally:
            expiry.cancel()
            keeper.cancel()
        if self.lost.is_set():
            await self._step_down()
            return False
        await self._stop()
        return True

    async def _keep_lease(self) -> None:
        """Check, every renewal interval, that this engine still holds its liveness lock.  One of a pair that
        has lost it (its lease connection failed, and the lock cannot be taken back, or the database does not
        answer for `lease_timeout`) steps down: a standby takes over on that very signal.  A sole engine
        takes it back as soon as it can.  Slow commits alone are no reason to step down: a standby can
        only take an expired lease if no renewal commits meanwhile, and then the fence refuses the next one."""
        pair = self.config.role == ROLE_STANDBY
        slow_alerted = False
        while True:
            await asyncio.sleep(self.renew_interval)
            if self.operlog.deposed:
                return
            try:
                async with asyncio.timeout(self.lease.timeout):
                    held = await self.lease.still_held()
            except TimeoutError:
                held = False
            if not held and pair:
                log.critical("the lease's liveness lock is lost (its connection failed or trade_log does not "
                             "answer) and cannot be taken back: stepping down, a standby may lead")
                self.lost.set()
                return
            silent = time.monotonic() - self.operlog.renewed_at
            if silent > self.lease.timeout and not slow_alerted:
                log.critical("no operation-log commit or lease renewal went through for %.1f s: is trade_log slow "
                             "or away?", silent)
            slow_alerted = silent > self.lease.timeout

    async def _stop(self) -> None:
        """A graceful stop: no new requests, everything appended committed, the publisher drained, the lease
        freed for the standby."""
        await self.rpc.close()
        await self.operlog.stop()
        await self.link.stop()
        await self.lease.resign()

    async def _step_down(self) -> None:
        self.status.become(STEPPING_DOWN)
        log.critical("stepping down from lease term %d (%d operations committed)", self.lease.term,
                     self.operlog.committed_id)
        await self.rpc.close()
        await self.operlog.abandon()
        await self.link.stop(STEP_DOWN_PUBLISHER_WAIT)
        await self.lease.resign()

