"""The history and message publisher: a replica of the engine that writes what happened.

The engine answers requests and writes the operation log, nothing else.  This
process (started and watched by the engine) follows the committed operation
log, applies each operation to its own copy of the core — the same code, so
the same results — and turns what the core reports into history rows and
Kafka messages.  That keeps history and Kafka off the engine's hot path and
makes both survive any crash.  The jobs live in their own modules:

* `replica`: the core and the log follower (`Replica`, `LogFollower`);
* `history_writer`: history rows exactly once, in stripes, each batch
  committed with its position (`HistoryWriter`);
* `message_publisher`: Kafka messages at least once, skipped when the broker
  already has them, with the message position (`MessagePublisher`);
* `slicer`: slices from this replica, so the engine never pauses for one.

This module wires them together: for each operation it picks the listener
the core reports to (history rows, messages, both or neither, by the two
positions), bounds what waits in memory (while MySQL or Kafka is away, with a
FATAL alert as the bound nears), reports its progress to the engine over the
channel the engine opened, and runs as `python -m matchengine.publisher`.

On start it loads the newest slice at or before min(history, message
position), replays silently up to each position and goes on from there.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import replace
from functools import partial
from typing import Any

import orjson

from common.daemon import set_parent_death_signal
from common.service import ServiceContext, run_service
from common.storage import Database, DatabaseError, open_database

from .config import EngineConfig, load_config
from .events import TradeListener
from .fanout import Fanout
from .history_writer import HISTORY_STRIPES, HistoryWriter
from .message_publisher import MessagePublisher
from .operlog import Operation
from .replica import LogFollower, Replica
from .retry import RETRY_DELAYS, Stopped, retrying
from .slice import ensure_log_tables
from .slicer import Slicer

log = logging.getLogger(__name__)

CHANNEL_ENV = "VIABTC_PUBLISHER_FD"
TERM_ENV = "VIABTC_PUBLISHER_TERM"
MAX_HISTORY_ROWS = 300_000
MAX_MESSAGES = 300_000
ALERT_SHARE = 0.8
YIELD_EVERY = 200
STATUS_INTERVAL = 0.1


class Publisher:
    """The replica, its two writers and the slicer, wired together."""

    def __init__(self, config: EngineConfig, log_db: Database, history_dbs: Sequence[Database], term: int = 0) -> None:
        self.config = config
        self.log_db = log_db
        self.replica = Replica.of(config)
        self.follower = LogFollower(log_db)
        self.history = HistoryWriter(history_dbs, self.follower.wake, config.db_history.server_of,
                                     config.history_interval)
        self.messages = MessagePublisher(config.brokers, log_db, self.follower.wake, term)
        self.slicer = Slicer(log_db, self.replica, interval=config.slice_interval, keeptime=config.slice_keeptime,
                             protect=lambda: min(self.history.position, self.messages.position))
        self._fanout = Fanout(self.history.rows, self.messages.queue)
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopping = False
        self._alerted_bound = False
        self.positions_known = False
        self.recovered = asyncio.Event()  # the replica is whole: slices may be taken from it

    # ------------------------------------------------------------ start

    async def recover(self, stopping: asyncio.Event | None = None) -> None:
        """Read the positions (reported to the engine from then on), start reaching Kafka, and load the
        slice to rebuild the replica from.  Database errors are retried in place."""
        await retrying(log, "create the trade_log tables", partial(ensure_log_tables, self.log_db), stopping=stopping)
        await retrying(log, "read the history positions", self.history.recover, stopping=stopping)
        await retrying(log, "read the message position", self.messages.recover, stopping=stopping)
        self.positions_known = True
        self.messages.connect_soon()
        await retrying(log, "load a slice", self._load_slice, stopping=stopping)
        await retrying(log, "read the slices", self.slicer.recover, stopping=stopping)
        log.info("publisher recovering from oper id %d (history %s, messages %d)",
                 self.replica.applied_id, "/".join(map(str, self.history.stripe_ids)), self.messages.position)
        self.recovered.set()

    async def _load_slice(self) -> None:
        self.replica.reset()  # a load that failed halfway left part of a slice
        await self.replica.load_newest_slice(self.log_db, min(self.history.position, self.messages.position))

    # ------------------------------------------------------------ following the log

    def _select_listener(self, oper_id: int) -> None:
        want_history = oper_id > self.history.position
        want_messages = oper_id > self.messages.position
        if want_history and want_messages:
            listener: TradeListener | None = self._fanout
        elif want_history:
            listener = self.history.rows
        elif want_messages:
            listener = self.messages.queue
        else:
            listener = None
        engine = self.replica.engine
        if listener is not engine.listener:
            engine.set_listener(listener)

    def _over_bound(self) -> bool:
        rows = self.history.pending_rows
        messages = self.messages.queue.count
        near = rows >= ALERT_SHARE * MAX_HISTORY_ROWS or messages >= ALERT_SHARE * MAX_MESSAGES
        if near != self._alerted_bound:
            self._alerted_bound = near
            if near:
                log.critical("publisher buffers near their bound (%d/%d history rows, %d/%d messages): "
                             "is MySQL or Kafka away?", rows, MAX_HISTORY_ROWS, messages, MAX_MESSAGES)
            else:
                log.warning("publisher buffers back below %d%% of their bound", ALERT_SHARE * 100)
        return rows >= MAX_HISTORY_ROWS or messages >= MAX_MESSAGES

    async def _apply(self, operations: list[Operation]) -> None:
        replay = self.replica.commands.replay
        history, messages = self.history, self.messages
        for index, (oper_id, at, entry) in enumerate(operations):
            if index and not index % YIELD_EVERY:
                await asyncio.sleep(0)  # let the writers hand the database its next statement
            self._select_listener(oper_id)
            messages.queue.oper_id = oper_id
            replay(entry["method"], entry["params"], at)
            self.replica.applied_id = oper_id
            if oper_id > history.position:
                history.operation_applied(oper_id)
            if oper_id > messages.position:
                messages.upto = oper_id

    async def follow(self) -> None:
        """Apply committed operations as they appear; wake on the engine's notices or a poll.  A database
        error while reading the log is retried in place (the replica stands at a page boundary)."""
        follower = self.follower
        failures = 0
        while not self._stopping:
            progressed = False
            full = self._over_bound()
            if not full:
                try:
                    async with aclosing(follower.pages(self.replica.applied_id)) as pages:
                        async for operations in pages:
                            await self._apply(operations)
                            progressed = True
                            self._kick_writers()
                            if self._over_bound() or self._stopping:
                                break
                            await asyncio.sleep(0)
                except DatabaseError as exc:
                    if failures % 10 == 0:
                        log.critical("reading the operation log failed (retrying): %s", exc)
                    await asyncio.sleep(RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)])
                    failures += 1
                    continue
                if failures:
                    log.warning("reading the operation log works again")
                    failures = 0
            else:
                log.debug("publisher buffers full: waiting for the writers")
            await follower.rest(self.replica.applied_id, progressed=progressed, blocked=full,
                                stopping=self._stopping)

    def _kick_writers(self) -> None:
        self.history.kick()
        self.messages.kick()

    # ------------------------------------------------------------ engine channel

    def status(self) -> bytes:
        return orjson.dumps({"applied": self.replica.applied_id, "history": self.history.position,
                             "messages": self.messages.position, "history_rows": self.history.pending_rows,
                             "messages_waiting": self.messages.queue.count,
                             "slice": self.slicer.last_slice_time, "stripes": self.history.stripe_ids,
                             "history_failing": self.history.failing,
                             "messages_failing": self.messages.failing}) + b"\n"

    async def talk_to_engine(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def report() -> None:
            while True:
                if self.positions_known:  # until then the engine keeps what it knew
                    writer.write(self.status())
                    await writer.drain()
                await asyncio.sleep(STATUS_INTERVAL)

        reporter = asyncio.create_task(report())
        try:
            while True:
                line = await reader.readline()
                if not line:
                    log.info("engine channel closed: stopping")
                    return
                message = orjson.loads(line)
                if "committed" in message:
                    self.follower.notify(message["committed"])
                if message.get("makeslice"):
                    self._tasks.append(asyncio.create_task(self._make_slice_when_recovered()))
        finally:
            reporter.cancel()

    async def _make_slice_when_recovered(self) -> None:
        await self.recovered.wait()  # a replica still loading its slice is no state to snapshot
        await self.slicer.make_slice()

    async def drain(self, timeout: float = 10.0) -> None:
        """Stop following and give the writers a moment to write what is buffered."""
        self._stopping = True
        self.history.stopping = True
        self.slicer.stopping = True
        self.follower.wake()
        deadline = time.monotonic() + timeout
        while (self.history.busy or self.messages.busy) and time.monotonic() < deadline:
            self._kick_writers()
            await asyncio.sleep(0.05)
        await self.messages.stop()


def publisher_config(sec: Any) -> EngineConfig:
    config = load_config(sec)
    config.log = replace(config.log, path=config.log.path + "_publisher")
    return config


async def serve(config: EngineConfig, ctx: ServiceContext) -> None:
    log_db = open_database(config.db_log)
    history_dbs = [open_database(database, pool_size=HISTORY_STRIPES, bulk_load=True)
                   for database in config.db_history.databases]
    ctx.add_cleanup(log_db.close)
    for history_db in history_dbs:
        ctx.add_cleanup(history_db.close)
    publisher = Publisher(config, log_db, history_dbs, int(os.environ.get(TERM_ENV) or 0))
    ctx.add_cleanup(publisher.drain)

    tasks: list[asyncio.Task[Any]] = []
    fd = os.environ.get(CHANNEL_ENV)
    if fd is not None:  # talk at once: the positions go to the engine before the replica is rebuilt
        set_parent_death_signal(signal.SIGTERM)
        sock = socket.socket(fileno=int(fd))
        reader, writer = await asyncio.open_connection(sock=sock)
        channel = asyncio.create_task(publisher.talk_to_engine(reader, writer))
        channel.add_done_callback(lambda _: ctx.stop())
        tasks.append(channel)
    recovering = asyncio.create_task(publisher.recover(ctx.stopping), name="recover")
    stopper = asyncio.create_task(ctx.stopping.wait())
    await asyncio.wait([recovering, stopper], return_when=asyncio.FIRST_COMPLETED)
    if recovering.done() and recovering.exception() is None:
        tasks += [asyncio.create_task(publisher.follow(), name="follow"),
                  asyncio.create_task(publisher.slicer.run_schedule(), name="slices")]
        ctx.ready()
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    elif recovering.done() and not isinstance(recovering.exception(), Stopped):
        raise recovering.exception()  # type: ignore[misc]
    for task in (*tasks, recovering, stopper):
        task.cancel()


def main() -> None:
    run_service("matchengine_publisher", publisher_config, serve, sys.argv[1:])


if __name__ == "__main__":
    main()
