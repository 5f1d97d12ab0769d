"""readhistory's request handling: admission control, running the queries, errors.

`HistoryService.handlers()` gives `RpcServer` one handler per command.  A
handler refuses the request with "service unavailable" while 10 × worker_num
requests are in flight (queued or running), checks the parameters (an
"invalid argument" is answered at once), and runs the query as a task on the
database that holds its shard: a MySQL pool of `worker_num` connections per
server, or SQLite's single connection.  Replies go out as queries finish, possibly out of order.

A failed statement is logged at FATAL (so it also raises an alert) and
answered with "internal error".  A statement that failed because its
connection was lost is tried once more on a fresh one first: the original's
MySQL client reconnects by itself, and a read is safe to repeat.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from common.errors import INTERNAL_ERROR, SERVICE_UNAVAILABLE, RpcError
from common.log import TRACE
from common.metrics import metrics_for
from common.rpc import Handler
from common.schema import HISTORY_SHARDS
from common.storage import Database, DatabaseError

from .params import I64_MAX
from .queries import QUERIES, Query

log = logging.getLogger(__name__)
REFUSED = metrics_for("readhistory").counter(
    "queries_refused", "Queries refused with error 3 (service unavailable), by cause", ("cause",))

PENDING_PER_WORKER = 10
# Client-side MySQL errors of a connection that is gone: can't connect, server gone away, lost connection.
CONNECTION_LOST_CODES = frozenset({2003, 2006, 2013, 2055})


class HistoryService:
    """Runs history queries on the database of their shard, at most 10 × `worker_num` at a time.

    `dbs` are the history servers, `server_of` the index of the one that holds each shard (by default
    one database holds them all)."""

    def __init__(self, dbs: Sequence[Database], worker_num: int,
                 server_of: Sequence[int] = (0,) * HISTORY_SHARDS) -> None:
        self.dbs = list(dbs)
        self.server_of = list(server_of)
        self.max_pending = PENDING_PER_WORKER * worker_num
        self.pending = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    def handlers(self) -> dict[int, Handler]:
        return {command: self._handler(command, build) for command, build in QUERIES.items()}

    def _handler(self, command: int, build: Callable[[list[Any]], Query]) -> Handler:
        def handle(params: list[Any]) -> Any:
            if self.pending >= self.max_pending:
                log.error("pending job: %d, service unavailable", self.pending)
                REFUSED.inc(("pending_queries",))
                raise RpcError(SERVICE_UNAVAILABLE)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("command: %d, params: %r", command, params)
            query = build(params)
            self.pending += 1
            task = asyncio.get_running_loop().create_task(self.run(query))
            self._tasks.add(task)
            task.add_done_callback(self._finished)
            return task

        return handle

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self.pending -= 1
        self._tasks.discard(task)

    async def run(self, query: Query) -> Any:
        """The result of one query (after the statements its lookups lead to); RpcError "internal error" when
        the database fails."""
        while True:
            db = self.dbs[self.server_of[query.shard]]
            if db.dialect == "sqlite" and query.sqlite is not None:
                query = query.sqlite
            result = query.shape(await self.fetch(db, query))
            if not isinstance(result, Query):
                return result
            query = result

    async def fetch(self, db: Database, query: Query) -> Sequence[Sequence[Any]]:
        params = self._adapt(db, query.params)
        if log.isEnabledFor(TRACE):
            log.log(TRACE, "exec sql: %s, params: %r", query.sql, params)
        try:
            try:
                return await db.fetchall(query.sql, params)
            except DatabaseError as exc:
                if exc.code not in CONNECTION_LOST_CODES:
                    raise
                log.error("exec sql: %s lost its connection (%s), retrying once", query.sql, exc)
                return await db.fetchall(query.sql, params)
        except DatabaseError as exc:
            log.critical("exec sql: %s, params: %r fail: %s", query.sql, params, exc)
            raise RpcError(INTERNAL_ERROR) from None

    @staticmethod
    def _adapt(db: Database, params: tuple[Any, ...]) -> tuple[Any, ...]:
        """SQLite integers are signed 64-bit: a larger u64 is compared as a real (matching nothing stored)."""
        if db.dialect != "sqlite":
            return params
        return tuple(float(p) if type(p) is int and p > I64_MAX else p for p in params)

    async def close(self) -> None:
        """Cancel the queries still running (their connections are about to close)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
