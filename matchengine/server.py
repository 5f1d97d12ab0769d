"""The engine's request handling: RPC commands over the core, the log and back-pressure.

Reads run straight on the core (`order.depth` through a short cache, as the
original).  A write is checked for back-pressure first, then applied to the
core, appended to the operation log and — with `durable_reply` — answered
only when its log row is committed.  Writes are refused with "service
unavailable" while the log cannot keep up or what is not yet published —
operations after the history or message position saved in MySQL — exceeds
`max_publish_lag` (history and Kafka would otherwise fall behind without
bound).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from common.errors import SERVICE_UNAVAILABLE, RpcError
from common.metrics import metrics_for

from .commands import CMD_ORDER_BOOK_DEPTH, Commands, LogEntry, WriteResult
from .engine import Engine
from .operlog import OperlogWriter

log = logging.getLogger(__name__)

MAX_UNCOMMITTED = 50_000
CAUSE_OPERLOG = "operlog_backlog"  # the operation log cannot commit as fast as writes come
CAUSE_PUBLISH_LAG = "publish_lag"  # history or Kafka is max_publish_lag operations behind

REFUSED = metrics_for("matchengine").counter(
    "writes_refused", "Writes refused with error 3 (service unavailable), by cause", ("cause",))
CACHE_CLEAR_INTERVAL = 60.0


class PublisherState:
    """What the engine knows of its publisher (fed by the publisher channel).

    `history` and `messages` are the positions saved in MySQL: the publisher
    reads them first thing when it starts and reports them at once, before it
    rebuilds its replica, so a restarted publisher does not look behind.
    Until it has reported (`known`), nothing is refused on its account.
    """

    def __init__(self) -> None:
        self.applied = 0
        self.history = 0
        self.messages = 0
        self.history_rows = 0
        self.messages_waiting = 0
        self.stripes: list[int] = []  # the position of each history stripe, server by server
        self.history_failing = False
        self.messages_failing = False
        self.updated_at = 0.0
        self.enabled = True
        self.known = False

    @property
    def published(self) -> int:
        """The last operation whose history rows and messages are both saved."""
        return min(self.history, self.messages)


class EngineService:
    """Binds the core, the operation log and the publisher state to RPC handlers."""

    def __init__(self, engine: Engine, operlog: OperlogWriter, *, durable: bool, cache_timeout: float,
                 max_publish_lag: int, publisher: PublisherState) -> None:
        self.engine = engine
        self.commands = Commands(engine)
        self.operlog = operlog
        self.durable = durable
        self.cache_timeout = cache_timeout
        self.max_publish_lag = max_publish_lag
        self.publisher = publisher
        self.last_time = 0.0
        self._depth_cache: dict[tuple[Any, ...], tuple[float, Any]] = {}
        self._cache_cleared = time.monotonic()
        self._lag_alerted = False
        # told of every logged write (the config source follows the assets and markets added live)
        self.on_logged: Callable[[list[LogEntry]], None] | None = None

    def clock(self) -> float:
        """Wall-clock time that never goes backwards (replay and the guard rely on order)."""
        now = time.time()
        if now < self.last_time:
            return self.last_time
        self.last_time = now
        return now

    def handlers(self) -> dict[int, Callable[[list[Any]], Any]]:
        table: dict[int, Callable[[list[Any]], Any]] = dict(self.commands.reads)
        table[CMD_ORDER_BOOK_DEPTH] = self.order_depth
        for command, write in self.commands.writes.items():
            table[command] = self._write_handler(write)
        return table

    def overloaded(self) -> bool:
        operlog = self.operlog
        if operlog.last_id - operlog.committed_id >= MAX_UNCOMMITTED:
            REFUSED.inc((CAUSE_OPERLOG,))
            return True
        publisher = self.publisher
        if publisher.enabled and publisher.known and operlog.last_id - publisher.published >= self.max_publish_lag:
            if not self._lag_alerted:
                self._lag_alerted = True
                log.critical("history and messages are %d operations behind: refusing writes",
                             operlog.last_id - publisher.published)
            REFUSED.inc((CAUSE_PUBLISH_LAG,))
            return True
        self._lag_alerted = False
        return False

    def _write_handler(self, write: Callable[[list[Any], float], WriteResult]) -> Callable[[list[Any]], Any]:
        operlog = self.operlog

        def handle(params: list[Any]) -> Any:
            if self.overloaded():
                raise RpcError(SERVICE_UNAVAILABLE)
            now = self.clock()
            result, entries = write(params, now)
            for method, logged in entries:
                operlog.append(now, method, logged)
            if self.on_logged is not None and entries:
                self.on_logged(entries)
            if self.durable and entries:
                return operlog.wait_committed(result)
            return result

        return handle

    def order_depth(self, params: list[Any]) -> Any:
        market, limit, interval = self.commands.depth_args(params)  # validation precedes the cache
        key = tuple(params)
        now = time.monotonic()
        if now - self._cache_cleared > CACHE_CLEAR_INTERVAL:
            self._depth_cache.clear()
            self._cache_cleared = now
        cached = self._depth_cache.get(key)
        if cached is not None and now - cached[0] <= self.cache_timeout:
            return cached[1]
        result = market.depth(limit, interval)
        self._depth_cache[key] = (now, result)
        return result

    async def expire_guard_forever(self) -> None:
        while True:
            await asyncio.sleep(60.0)
            self.engine.expire_updates(time.time())
