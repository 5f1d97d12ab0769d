"""History rows written exactly once: batches committed with the position they reach.

The publisher's replica reports what the core did to `rows` (`HistoryRows`);
`HistoryWriter` cuts what gathered into batches at operation boundaries and
commits each batch in one transaction with the id of the last operation it
covers (`history_position`), so after a crash the rows of exactly the
operations after that id are built again — never lost, never doubled.

The shard tables are split into HISTORY_STRIPES stripes (by shard number),
each with its own position row and connection, so MariaDB works on one
stripe's batch while another's commits or is being built; a stripe's batches
commit in order, stripes independently.  While operations trickle in, rows
gather for HISTORY_INTERVAL unless a full batch is cut sooner: a batch holds
one INSERT per table it touches (up to 500), and each costs MariaDB ~85 µs
before its first row.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from common.schema import HISTORY_POSITION, HISTORY_SHARDS, HISTORY_TEMPLATES, create_table_sql, shard_name
from common.storage import Database, DatabaseError, InsertRows, Statement, UnexpectedRowCount

from .history import HistoryRows, shape_of
from .positions import read_position

log = logging.getLogger(__name__)

HISTORY_BATCH_ROWS = 10_000
HISTORY_STRIPES = 4
HISTORY_INTERVAL = 0.5
RETRY_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)

Batch = tuple[int, dict[str, list[tuple[object, ...]]], int]
"""(last operation id covered, rows by table, row count)."""


async def ensure_history_tables(db: Database) -> None:
    """Create the history templates, the 100 shards of each, and the position table, if missing."""
    existing = set(await db.list_tables(""))
    statements: list[Statement] = []
    for table in (*HISTORY_TEMPLATES, HISTORY_POSITION):
        if table.name not in existing:
            statements.extend(Statement(sql) for sql in create_table_sql(table, db.dialect))
    for template in HISTORY_TEMPLATES:
        for i in range(HISTORY_SHARDS):
            name = shard_name(template, i)
            if name not in existing:
                statements.extend(Statement(sql) for sql in create_table_sql(template, db.dialect, name))
    if statements:
        await db.transact(statements)


def stripe_of(table: str) -> int:
    """History stripe of a shard table (`balance_history_37` → 37 % HISTORY_STRIPES)."""
    return int(table.rsplit("_", 1)[1]) % HISTORY_STRIPES


async def read_stripe_positions(db: Database) -> list[int]:
    """Each stripe's position (row 1 + stripe).  Rows missing beside row 1 start at row 1's position:
    before stripes, row 1 covered every table."""
    first = await read_position(db, HISTORY_POSITION.name)
    return [first] + [await read_position(db, HISTORY_POSITION.name, 1 + stripe, first)
                      for stripe in range(1, HISTORY_STRIPES)]


class HistoryWriter:
    """Commits the rows gathered in `rows`, stripe by stripe, each batch with its position."""

    def __init__(self, db: Database, on_progress: Callable[[], None]) -> None:
        self.db = db
        self.rows = HistoryRows()
        self.on_progress = on_progress  # a batch committed: room was made, the position moved
        self.position = 0        # committed in trade_history, by every stripe
        self.stripe_ids = [0] * HISTORY_STRIPES  # committed by each stripe
        self.upto = 0            # last operation whose rows are in `rows` or being written
        self._stripe_marks: set[int] = set()     # stripe positions a recovery must cut a batch at
        self._batches: list[deque[Batch]] = [deque() for _ in range(HISTORY_STRIPES)]
        self._queued_rows = 0
        self._batched_upto = 0
        self._last_cut = 0.0
        self._idle = [asyncio.Event() for _ in range(HISTORY_STRIPES)]
        for idle in self._idle:
            idle.set()
        self._tasks: list[asyncio.Task[None]] = []
        self.stopping = False

    async def recover(self) -> None:
        """Create the tables if missing and read where each stripe stands."""
        await ensure_history_tables(self.db)
        self.stripe_ids = await read_stripe_positions(self.db)
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
        return bool(self.rows.count or any(self._batches) or not all(idle.is_set() for idle in self._idle))

    def operation_applied(self, oper_id: int) -> None:
        """The replica applied operation `oper_id` (after the position) with `rows` as its listener."""
        self.upto = oper_id
        if self.rows.count >= HISTORY_BATCH_ROWS or oper_id in self._stripe_marks:
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
            parts: list[dict[str, list[tuple[object, ...]]]] = [{} for _ in range(HISTORY_STRIPES)]
            counts = [0] * HISTORY_STRIPES
            for table, rows in self.rows.take().items():
                stripe = stripe_of(table)
                parts[stripe][table] = rows
                counts[stripe] += len(rows)
            for stripe in range(HISTORY_STRIPES):
                if self.stripe_ids[stripe] < upto:
                    self._batches[stripe].append((upto, parts[stripe], counts[stripe]))
                    self._queued_rows += counts[stripe]
            self._batched_upto = upto
            self.kick()

    def kick(self) -> None:
        """Start a writer on every idle stripe that has something to write."""
        gathering = self.rows.count or self.upto > self._batched_upto
        for stripe, idle in enumerate(self._idle):
            if idle.is_set() and (gathering or self._batches[stripe]):
                idle.clear()
                self._tasks.append(asyncio.create_task(self._write(stripe)))
        self._tasks = [t for t in self._tasks if not t.done()]

    async def _write(self, stripe: int) -> None:
        batches = self._batches[stripe]
        try:
            while True:
                if not batches:
                    # rows gather for HISTORY_INTERVAL unless a full batch is cut sooner: a statement
                    # costs MariaDB ~85 µs before its first row, and a batch has one per table touched
                    wait = self._last_cut + HISTORY_INTERVAL - time.monotonic()
                    if wait > 0 and not self.stopping:
                        await asyncio.sleep(wait)
                        continue
                    self._cut_batch()
                if not batches:
                    return
                upto, tables, count = batches.popleft()
                position = Statement(
                    f"UPDATE `{HISTORY_POSITION.name}` SET `oper_id` = %s, `time` = %s WHERE `id` = %s AND `oper_id` = %s",
                    (upto, time.time(), 1 + stripe, self.stripe_ids[stripe]), expect=1)
                ops: list[Any] = [position]
                for table, rows in tables.items():
                    columns, mysql_row = shape_of(table)
                    ops.append(InsertRows(table, columns, rows, mysql_row))
                started = time.monotonic()
                await self._commit(ops, upto, stripe)
                log.debug("history stripe %d: %d rows in %d tables up to oper id %d in %.3f s", stripe, count,
                          len(tables), upto, time.monotonic() - started)
                self._queued_rows -= count
                self.stripe_ids[stripe] = upto
                self.position = min(self.stripe_ids)
                self.on_progress()
        finally:
            self._idle[stripe].set()

    async def _commit(self, ops: list[Any], upto: int, stripe: int) -> None:
        """Commit rows + position; retried until done.  The position check makes a retry of a batch
        that did commit (the answer was lost) a no-op, and stops a second publisher."""
        attempt = 0
        while True:
            try:
                await self.db.transact(ops)
                return
            except UnexpectedRowCount:
                try:
                    current = await read_position(self.db, HISTORY_POSITION.name, 1 + stripe)
                except DatabaseError as exc:
                    log.critical("cannot read the history position: %s", exc)
                else:
                    if current == upto:
                        return
                    log.critical("history position of stripe %d is %d, expected %d: another publisher is writing; "
                                 "stopping", stripe, current, self.stripe_ids[stripe])
                    os._exit(1)
            except DatabaseError as exc:
                log.critical("history write up to oper id %d failed: %s", upto, exc)
            await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
            attempt += 1
