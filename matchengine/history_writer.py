"""History rows written exactly once: batches committed with the position they reach.

The publisher's replica reports what the core did to `rows` (`HistoryRows`);
`HistoryWriter` cuts what gathered into batches at operation boundaries and
commits each batch in one transaction with the id of the last operation it
covers (`history_position`), so after a crash the rows of exactly the
operations after that id are built again — never lost, never doubled.

The shards may live on several MySQL servers (`db_history` as a list,
common/history_shards.py).  On each server the shard tables it holds are
split into HISTORY_STRIPES stripes (by shard number), each with its own
position row on that server (row 1 + stripe) and its own connection, so a
server works on one stripe's batch while another's commits or is being
built; a stripe's batches commit in order, stripes (and servers)
independently.  Each server thus records, beside its rows, how far each of
its stripes got: exactly once per server across crashes.

Batch size follows the traffic.  Every statement costs MariaDB a fixed price
before its first row, and a batch holds one statement per table it touches
(up to 500), so batches are made as large as freshness allows: while
operations keep coming, rows gather for `interval` (the config's
`history_interval`, 0.5 s by default) or until HISTORY_BATCH_ROWS; once
operations pause for HISTORY_IDLE, what gathered is written at once, so the
end of a burst is not held back.  While a stripe still has a batch waiting,
rows go on gathering up to HISTORY_BATCH_MAX, and a stripe that runs out of
work cuts what gathered at once when it is HISTORY_BATCH_ROWS.  So a writer
that falls behind writes fewer, larger statements.  (A 2 s interval — ~170
rows a LOAD at c64 instead of ~105 — did not lower MariaDB's CPU per order in
http_orders.py; the interval stays at 0.5 s.)
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from common.history_shards import shard_ranges
from common.schema import HISTORY_POSITION, HISTORY_SHARDS, HISTORY_TEMPLATES, create_table_sql, shard_name
from common.storage import Database, DatabaseError, InsertRows, Statement, UnexpectedRowCount

from .history import HistoryRows, shape_of

log = logging.getLogger(__name__)

HISTORY_BATCH_ROWS = 50_000
HISTORY_BATCH_MAX = 100_000
HISTORY_STRIPES = 4
HISTORY_INTERVAL = 0.5
HISTORY_IDLE = 0.1
RETRY_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)

Batch = tuple[int, dict[str, list[object]], int]
"""(last operation id covered, rows by table, row count)."""


class HistoryLayoutError(Exception):
    """The history servers do not hold what the config says they hold."""


async def ensure_history_tables(db: Database, shards: Sequence[int] = range(HISTORY_SHARDS)) -> None:
    """Create the history templates, the shards `shards` of each, and the position table, if missing."""
    existing = set(await db.list_tables(""))
    statements: list[Statement] = []
    for table in (*HISTORY_TEMPLATES, HISTORY_POSITION):
        if table.name not in existing:
            statements.extend(Statement(sql) for sql in create_table_sql(table, db.dialect))
    for template in HISTORY_TEMPLATES:
        for i in shards:
            name = shard_name(template, i)
            if name not in existing:
                statements.extend(Statement(sql) for sql in create_table_sql(template, db.dialect, name))
    if statements:
        await db.transact(statements)


def shard_of(table: str) -> int:
    """Shard number of a shard table (`balance_history_37` → 37)."""
    return int(table.rsplit("_", 1)[1])


async def read_stripe_positions(db: Database) -> dict[int, int]:
    """The position rows of one server: {row id: operation id}."""
    rows = await db.fetchall(f"SELECT `id`, `oper_id` FROM `{HISTORY_POSITION.name}`")
    return {int(row_id): int(oper_id) for row_id, oper_id in rows}


def stripe_positions(known: dict[int, int]) -> list[int]:
    """The position of each stripe of a server (rows 1 … HISTORY_STRIPES).  Rows missing beside row 1
    start at row 1's position: before stripes, row 1 covered every table of the server."""
    first = known.get(1, 0)
    return [known.get(1 + stripe, first) for stripe in range(HISTORY_STRIPES)]


async def create_missing_positions(db: Database, known: dict[int, int], positions: list[int]) -> None:
    missing = [Statement(f"INSERT INTO `{HISTORY_POSITION.name}` (`id`, `oper_id`, `time`) VALUES (%s, %s, %s)",
                         (1 + stripe, positions[stripe], time.time()))
               for stripe in range(HISTORY_STRIPES) if 1 + stripe not in known]
    if missing:
        await db.transact(missing)


@dataclass(slots=True)
class Stripe:
    """The shards of one server with the same number modulo HISTORY_STRIPES: one connection, one position."""

    server: int
    db: Database
    row: int             # its row in the server's history_position
    position: int = 0    # committed on its server
    batches: deque[Batch] = field(default_factory=deque)
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    work: asyncio.Event = field(default_factory=asyncio.Event)  # a batch was queued
    failing: bool = False  # its last commit attempt failed


class HistoryWriter:
    """Commits the rows gathered in `rows`, stripe by stripe, each batch with its position."""

    def __init__(self, databases: Sequence[Database], on_progress: Callable[[], None],
                 server_of: Sequence[int] = (0,) * HISTORY_SHARDS, interval: float = HISTORY_INTERVAL) -> None:
        self.databases = list(databases)
        self.interval = interval  # the longest rows gather while operations keep coming
        self.server_of = list(server_of)  # shard number → index in `databases`
        self.rows = HistoryRows()
        # rows rendered as they come, in the quoting of the databases
        self.rows.sql_text = all(db.dialect == "mysql" for db in self.databases)
        self.rows.sqlite_sql = all(db.dialect == "sqlite" for db in self.databases)
        self.on_progress = on_progress  # a batch committed: room was made, the position moved
        self.stripes = [Stripe(server, db, 1 + number) for server, db in enumerate(self.databases)
                        for number in range(HISTORY_STRIPES)]
        for stripe in self.stripes:
            stripe.idle.set()
        self.position = 0        # committed by every stripe
        self.upto = 0            # last operation whose rows are in `rows` or being written
        self._stripe_of: dict[str, int] = {}     # shard table → index in `stripes`
        self._stripe_marks: set[int] = set()     # stripe positions a recovery must cut a batch at
        self._queued_batches = 0
        self._queued_rows = 0
        self._batched_upto = 0
        self._last_cut = 0.0
        self._last_applied = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self.stopping = False

    @property
    def stripe_ids(self) -> list[int]:
        """The position of every stripe, server by server."""
        return [stripe.position for stripe in self.stripes]

    @property
    def failing(self) -> bool:
        """A stripe's last commit attempt failed (its server is away)."""
        return any(stripe.failing for stripe in self.stripes)

    def stripe_of(self, table: str) -> int:
        """Index in `stripes` of the stripe that writes shard table `table`."""
        index = self._stripe_of.get(table)
        if index is None:
            shard = shard_of(table)
            index = self._stripe_of[table] = self.server_of[shard] * HISTORY_STRIPES + shard % HISTORY_STRIPES
        return index

    async def recover(self) -> None:
        """Create the tables if missing and read where each stripe stands, on every server."""
        rows: list[dict[int, int]] = []
        for server, db in enumerate(self.databases):
            await ensure_history_tables(db, [s for s in range(HISTORY_SHARDS) if self.server_of[s] == server])
            rows.append(await read_stripe_positions(db))
            for number, position in enumerate(stripe_positions(rows[-1])):
                self.stripes[server * HISTORY_STRIPES + number].position = position
        furthest = max(self.stripe_ids)
        for server, known in enumerate(rows):
            if not known and furthest > 0:
                shards = shard_ranges([s for s in range(HISTORY_SHARDS) if self.server_of[s] == server])
                raise HistoryLayoutError(
                    f"history server {server} (shards {shards}) has no history positions while "
                    f"the others stand at operation {furthest}: its shards' tables and history_position rows must "
                    "be copied to it from the server that held them (docs/deploy.md)")
        for server, db in enumerate(self.databases):
            await create_missing_positions(db, rows[server], [s.position for s in self.stripes if s.server == server])
        self.position = min(self.stripe_ids)
        self._stripe_marks = {oper_id for oper_id in self.stripe_ids if oper_id > self.position}
        self.upto = self._batched_upto = self.position

    @property
    def pending_rows(self) -> int:
        """Rows built and not yet committed."""
        return self.rows.count + self._queued_rows

    @property
    def busy(self) -> bool:
        """Rows gathered, batches waiting, or a stripe still writing."""
        return bool(self.rows.count or self._queued_batches or not all(s.idle.is_set() for s in self.stripes))

    def operation_applied(self, oper_id: int) -> None:
        """The replica applied operation `oper_id` (after the position) with `rows` as its listener."""
        self.upto = oper_id
        self._last_applied = time.monotonic()
        count = self.rows.count
        # while a stripe still has a batch waiting, rows gather on (fewer, larger statements)
        worth_a_batch = count >= HISTORY_BATCH_ROWS and (not self._queued_batches or count >= HISTORY_BATCH_MAX)
        if worth_a_batch or oper_id in self._stripe_marks:
            self._cut_batch()

    def _cut_batch(self) -> None:
        """Close the rows gathered so far into a batch per stripe that ends at an operation boundary.

        Operations that made no rows (an order that only rests) still move the
        position on, in a batch of no rows.  After a crash the stripes may stand
        at different positions; batches are then cut at each of them, and a stripe
        gets no batch for operations its rows were already committed for.
        """
        self._last_cut = time.monotonic()
        if self.rows.count or self.upto > self._batched_upto:
            upto = self.upto
            stripes = self.stripes
            parts: list[dict[str, list[object]]] = [{} for _ in stripes]
            counts = [0] * len(stripes)
            for table, rows in self.rows.take().items():
                index = self.stripe_of(table)
                parts[index][table] = rows
                counts[index] += len(rows)
            for index, stripe in enumerate(stripes):
                if stripe.position < upto:
                    stripe.batches.append((upto, parts[index], counts[index]))
                    stripe.work.set()
                    self._queued_batches += 1
                    self._queued_rows += counts[index]
            self._batched_upto = upto
            self.kick()

    def kick(self) -> None:
        """Start a writer on every idle stripe that has something to write."""
        gathering = self.rows.count or self.upto > self._batched_upto
        for stripe in self.stripes:
            if stripe.idle.is_set() and (gathering or stripe.batches):
                stripe.idle.clear()
                self._tasks.append(asyncio.create_task(self._write(stripe)))
        self._tasks = [t for t in self._tasks if not t.done()]

    async def _next_batch(self, stripe: Stripe) -> Batch | None:
        """The stripe's next batch: one queued, else what gathered once it is worth a batch; None: nothing."""
        while not stripe.batches:
            gathering = self.rows.count or self.upto > self._batched_upto
            if not gathering:
                return None
            wait = min(self._last_cut + self.interval, self._last_applied + HISTORY_IDLE) - time.monotonic()
            if self.rows.count >= HISTORY_BATCH_ROWS or wait <= 0 or self.stopping:
                self._cut_batch()
                continue
            stripe.work.clear()
            try:
                await asyncio.wait_for(stripe.work.wait(), wait)
            except TimeoutError:
                pass
        self._queued_batches -= 1
        return stripe.batches.popleft()

    async def _write(self, stripe: Stripe) -> None:
        try:
            while (batch := await self._next_batch(stripe)) is not None:
                try:
                    await self._write_batch(stripe, batch)
                except BaseException:
                    # Not written, or not known to be (a cancel, an error nobody expects): first again when
                    # the stripe's writer next runs, never passed by the next batch's position.  Written
                    # twice it is not: the position check finds a committed batch's position moved on.
                    stripe.batches.appendleft(batch)
                    self._queued_batches += 1
                    raise
        finally:
            stripe.idle.set()

    async def _write_batch(self, stripe: Stripe, batch: Batch) -> None:
        upto, tables, count = batch
        position = Statement(
            f"UPDATE `{HISTORY_POSITION.name}` SET `oper_id` = %s, `time` = %s WHERE `id` = %s AND `oper_id` = %s",
            (upto, time.time(), stripe.row, stripe.position), expect=1)
        ops: list[Any] = [position]
        text = self.rows.sql_text or self.rows.sqlite_sql  # rows are their VALUES text already, or tuples
        for table, rows in tables.items():
            columns, mysql_row = shape_of(table)
            ops.append(InsertRows(table, columns, cast(list[tuple[object, ...]], rows), mysql_row,
                                  rows_text=text))
        if self.rows.sqlite_sql:  # SQLite runs the rows' text first, in one script (common/storage.py)
            ops.append(ops.pop(0))
        started = time.monotonic()
        await self._commit(stripe, ops, upto)
        log.debug("history server %d stripe %d: %d rows in %d tables up to oper id %d in %.3f s",
                  stripe.server, stripe.row - 1, count, len(tables), upto, time.monotonic() - started)
        self._queued_rows -= count
        stripe.position = upto
        self.position = min(self.stripe_ids)
        self.on_progress()

    async def _commit(self, stripe: Stripe, ops: list[Any], upto: int) -> None:
        """Commit rows + position; retried until done.  The position check makes a retry of a batch
        that did commit (the answer was lost) a no-op, and stops a second publisher."""
        attempt = 0
        while True:
            try:
                await stripe.db.transact(ops)
                stripe.failing = False
                return
            except UnexpectedRowCount:
                try:
                    rows = await stripe.db.fetchall(
                        f"SELECT `oper_id` FROM `{HISTORY_POSITION.name}` WHERE `id` = %s", (stripe.row,))
                except DatabaseError as exc:
                    log.critical("cannot read the history position: %s", exc)
                else:
                    current = int(rows[0][0]) if rows else None
                    if current == upto:
                        return
                    log.critical("history position of server %d stripe %d is %s, expected %d: another publisher "
                                 "is writing; stopping", stripe.server, stripe.row - 1, current, stripe.position)
                    os._exit(1)
            except DatabaseError as exc:
                stripe.failing = True
                log.critical("history write to server %d up to oper id %d failed: %s", stripe.server, upto, exc)
            await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
            attempt += 1
