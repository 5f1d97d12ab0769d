"""The operation log: every accepted write, committed in groups, read back in order.

`OperlogWriter` appends one row per successful write command to the table
`operlog_YYYYMMDD` (local date at commit time) and commits whatever arrived
while the previous commit was under way in one transaction — group commit,
so durable answers cost one commit per batch, not per request.  A batch is
retried, unchanged and into the same table, until it is written; a duplicate
key on retry means the earlier attempt did commit.  Under a lease (`fence`,
see matchengine/lease.py) each commit starts with the lease's fence
statement, in the same packet, and an idle writer renews the lease by
committing the fence alone; a commit the fence refuses means another engine
leads now: the writer stops and nothing it had not committed is answered.
`read_operations` yields
the operations after a given id across all daily tables, decoded, and
refuses any gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from functools import partial
from operator import itemgetter
from typing import Any

import orjson

from common.errors import RpcError
from common.metrics import SIZE_BUCKETS, metrics_for
from common.rpc import PendingReply
from common.schema import OPERLOG, create_table_sql
from common.sqltext import escape_text
from common.storage import (
    Database,
    DatabaseError,
    InsertRows,
    Statement,
    fetch_json_values,
    read_ahead,
    read_page,
)

from .commands import cannot_replay

log = logging.getLogger(__name__)

OPERLOG_PREFIX = "operlog_"
COLUMNS = ("id", "time", "detail")
READ_PAGE = 10000
MAX_BATCH = 20000
MAX_BATCH_BYTES = 3 << 20  # a commit must go in one query (common.storage.MULTI_QUERY_BYTES): see _commit
ROW_OVERHEAD = 40
CLIENT_ERRORS = (2000, 3000)  # MySQL client error numbers: the connection failed, the statement may have run
RETRY_DELAYS = (0.05, 0.1, 0.25, 0.5, 1.0)

_METRICS = metrics_for("matchengine")
COMMIT_SECONDS = _METRICS.histogram("operlog_commit_seconds",
                                    "Time to commit one group of operation-log rows, retries included")
GROUP_SIZE = _METRICS.histogram("operlog_group_size", "Operations committed together in one group commit",
                                bounds=SIZE_BUCKETS)


def operlog_table(at: float) -> str:
    return OPERLOG_PREFIX + time.strftime("%Y%m%d", time.localtime(at))


def encode_detail(method: str, params: list[Any]) -> str:
    """The row's JSON.  Keys keep their order (the original sorts them), because the publisher
    rebuilds history from these rows and a balance.update detail is recorded in the caller's order."""
    return orjson.dumps({"method": method, "params": params}).decode()


def _row_sql(row: tuple[int, float, str]) -> str:
    return f"({row[0]},{row[1]!r},'{escape_text(row[2])}')"


class LogGapError(Exception):
    """The operation log does not continue where it should."""


class OperlogWriter:
    """Numbers operations and writes them; futures complete when their row is committed."""

    def __init__(self, db: Database, last_id: int, *, on_commit: Callable[[int], None] | None = None,
                 fence: Callable[[int], Statement] | None = None, renew_interval: float = 0.5,
                 on_deposed: Callable[[], None] | None = None) -> None:
        self.db = db
        self.last_id = last_id
        self.committed_id = last_id
        self.on_commit = on_commit
        self.fence = fence
        self.renew_interval = renew_interval
        self.on_deposed = on_deposed
        self.renewed_at = time.monotonic()  # of the last commit or renewal that went through
        self.deposed = False
        self._rows: list[tuple[int, float, str]] = []
        self._waiters: list[tuple[PendingReply, Any]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._tables: set[str] = set()
        self._stopping = False
        self.failing = False

    @property
    def pending(self) -> int:
        return self.last_id - self.committed_id

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="operlog-writer")

    def append(self, at: float, method: str, params: list[Any]) -> int:
        """Queue one operation; returns its id."""
        self.last_id += 1
        self._rows.append((self.last_id, at, encode_detail(method, params)))
        self._wakeup.set()
        return self.last_id

    def wait_committed(self, result: Any) -> PendingReply:
        """A reply that becomes `result` once everything appended so far is committed."""
        pending = PendingReply()
        self._waiters.append((pending, result))
        return pending

    async def flush(self) -> None:
        """Wait until every appended row is committed."""
        if self.committed_id < self.last_id:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            def committed(_result: Any, _error: RpcError | None) -> None:
                if not future.done():
                    future.set_result(None)

            self.wait_committed(None).bind(committed)
            await future

    async def stop(self) -> None:
        """Commit what was appended, then stop."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def abandon(self) -> None:
        """Stop at once: what is not committed is dropped and never answered (another engine leads)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._rows.clear()
        self._waiters.clear()

    async def _run(self) -> None:
        while not self.deposed:
            if not self._rows:
                if self._stopping:
                    return
                self._wakeup.clear()
                if self.fence is None:
                    await self._wakeup.wait()
                    continue
                idle_for = self.renewed_at + self.renew_interval - time.monotonic()
                if idle_for > 0:
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel (abandon)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(idle_for):
                            await self._wakeup.wait()
                    continue
                await self._commit([])  # a renewal of the lease
                continue
            batch = self._cut_batch()
            if self._rows:
                waiters: list[tuple[PendingReply, Any]] = []
            else:
                waiters, self._waiters = self._waiters, []
            started = time.monotonic()
            if not await self._commit(batch):
                return
            COMMIT_SECONDS.observe(time.monotonic() - started)
            GROUP_SIZE.observe(len(batch))
            self.committed_id = batch[-1][0]
            for pending, result in waiters:
                pending.set_result(result)
            if self.on_commit is not None:
                self.on_commit(self.committed_id)

    def _cut_batch(self) -> list[tuple[int, float, str]]:
        rows = self._rows
        size = 0
        end = 0
        limit = min(len(rows), MAX_BATCH)
        while end < limit:
            size += len(rows[end][2]) + ROW_OVERHEAD
            if size > MAX_BATCH_BYTES and end:
                break
            end += 1
        batch, self._rows = rows[:end], rows[end:]
        return batch

    async def _commit(self, batch: list[tuple[int, float, str]]) -> bool:
        """Commit a batch (with the fence first, under a lease; an empty batch is a renewal); retried until
        done.  False if the fence refused it: the writer is deposed.

        The fence, the inserts and the COMMIT go to the server in one query (batches stay below
        MAX_BATCH_BYTES for that), so a leader stopped halfway never holds the lease row locked.
        """
        table = operlog_table(time.time())
        attempt = 0
        ambiguous = False  # an earlier attempt may have committed (its answer was lost)
        while True:
            try:
                ops: list[Statement | InsertRows] = []
                if self.fence is not None:
                    ops.append(self.fence(batch[-1][0] if batch else self.committed_id))
                if batch:
                    if table not in self._tables:
                        for sql in create_table_sql(OPERLOG, self.db.dialect, table):
                            await self.db.execute(sql)
                        self._tables.add(table)
                    ops.append(InsertRows(table, COLUMNS, batch, _row_sql))
                await self.db.transact(ops)
                self.renewed_at = time.monotonic()
                if self.failing:
                    log.warning("operation log writes succeed again")
                    self.failing = False
                return True
            except DatabaseError as exc:
                if exc.is_check_failure and self.fence is not None:
                    self._depose(f"the lease fence refused the commit of ids {_ids(batch)}: another engine leads")
                    return False
                if exc.is_duplicate and (ambiguous or (self.fence is None and attempt > 0)):
                    self.renewed_at = time.monotonic()
                    return True
                if exc.is_duplicate and self.fence is not None:
                    self._depose(f"operation ids {_ids(batch)} are in the log already: another engine wrote them")
                    return False
                self.failing = True
                ambiguous = ambiguous or CLIENT_ERRORS[0] <= exc.code < CLIENT_ERRORS[1]
                log.critical("operation log write of ids %s to %s failed: %s", _ids(batch), table, exc)
            except Exception:
                self.failing = True
                ambiguous = True
                log.critical("operation log write failed", exc_info=True)
            await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
            attempt += 1

    def _depose(self, reason: str) -> None:
        self.deposed = True
        log.critical("%s; %d operations not committed are dropped", reason, self.last_id - self.committed_id)
        if self.on_deposed is not None:
            self.on_deposed()


def _ids(batch: list[tuple[int, float, str]]) -> str:
    return f"{batch[0][0]}..{batch[-1][0]}" if batch else "(renewal)"


async def operlog_tables(db: Database) -> list[str]:
    names = await db.list_tables(OPERLOG_PREFIX)
    return sorted(n for n in names if n[len(OPERLOG_PREFIX):].isdigit() and n != OPERLOG.name)


class OperlogCatalog:
    """The daily tables, for a reader that follows the log: listed again at most every `max_age`
    seconds, or when asked (a reader that finds nothing where the engine says there is more)."""

    def __init__(self, max_age: float = 1.0) -> None:
        self.max_age = max_age
        self._tables: list[str] = []
        self._listed_at = -max_age

    async def tables(self, db: Database, refresh: bool = False) -> list[str]:
        now = time.monotonic()
        if refresh or now - self._listed_at >= self.max_age:
            self._tables = await operlog_tables(db)
            self._listed_at = now
        return self._tables


Operation = tuple[int, float, Any]
"""(id, time, entry): `entry` is the row's decoded JSON, normally {"method": ..., "params": [...]}."""


async def read_operations(db: Database, after_id: int, *, page: int = READ_PAGE, strict: bool = True,
                          catalog: OperlogCatalog | None = None,
                          refresh: bool = False) -> AsyncGenerator[list[Operation], None]:
    """Pages of (id, time, entry) with id > after_id, in id order, across the daily tables.

    With `strict`, the first id must be after_id + 1 and each id the previous + 1;
    anything else raises LogGapError naming the table and ids; a detail that is
    not JSON raises ReplayError naming the row.  MySQL sends each page as
    one JSON text, decoded in one call (`fetch_json_page`); where it cannot, the
    page is read as `read_pages` reads it and each detail decoded on its own.
    The next page is always asked for before this one is handed out.  A
    `catalog` spares a reader that calls again and again listing the tables
    each time (`refresh` lists them again now).
    """
    catalog = catalog or OperlogCatalog()
    tables = await catalog.tables(db, refresh)
    start = 0
    # where the log has one table it is read from there: a page of nothing costs what a MAX would, and a
    # follower of the log reads after every group commit or two
    for i in range(len(tables) - 1 if len(tables) > 1 else -1, -1, -1):
        rows = await db.fetchall(f"SELECT MAX(`id`) FROM `{tables[i]}`")
        if not rows or rows[0][0] is None:
            continue
        if rows[0][0] <= after_id:
            start = i + 1
            break
    expected = after_id + 1
    for table in tables[start:]:
        # closed on the way out, so that no page read ahead is left running on the connection
        async with aclosing(read_ahead(partial(_read_page, db, table, page=page), expected - 1, page)) as pages:
            async for operations in pages:
                if strict:
                    expected = _check_consecutive(table, operations, expected)
                else:
                    expected = operations[-1][0] + 1
                yield operations


def _check_consecutive(table: str, operations: list[Operation], expected: int) -> int:
    """The id after the page, if its ids are expected, expected + 1, ...; else LogGapError naming the first
    that is not (compared in one C loop: this runs for every operation a restart replays)."""
    end = expected + len(operations)
    if list(map(itemgetter(0), operations)) != list(range(expected, end)):
        for operation in operations:
            if operation[0] != expected:
                raise LogGapError(f"operation log {table}: expected id {expected}, found id {operation[0]}")
            expected += 1
    return end


async def _read_page(db: Database, table: str, after_id: int, *, page: int) -> list[Operation]:
    operations = await fetch_json_page(db, table, after_id, page)
    if operations is not None:
        return operations
    rows = await read_page(db, table, COLUMNS, _typed_row, after_id, page, ())
    return [(oper_id, at, _decode(oper_id, detail)) for oper_id, at, detail in rows]


async def fetch_json_page(db: Database, table: str, after_id: int, page: int) -> list[Operation] | None:
    """Up to `page` operations after `after_id` from one flat JSON text (`fetch_json_values`); None where
    the page cannot be read that way.

    The ids after_id + 1 .. after_id + page are asked for first, the server's cheapest page; unless that
    brings exactly those ids, in order, the page is asked for again as the rows that follow after_id:
    where the log ends or has a gap, the result is the same as if only that second query had run."""
    columns = ("`id`", "`time`", "`detail`")
    values = await fetch_json_values(db, table, columns, after_id, page, id_range=True)
    if values is None or len(values) != 3 * page or values[0::3] != list(range(after_id + 1, after_id + page + 1)):
        values = await fetch_json_values(db, table, columns, after_id, page)
        if values is None:
            return None
    ids = values[0::3]
    if set(map(type, ids)) - {int}:
        return None
    # float() hands a float back as it is and turns a whole-number time, which MySQL prints as an integer, into one
    return list(zip(ids, map(float, values[1::3]), values[2::3], strict=True))


def _decode(oper_id: int, detail: str) -> Any:
    try:
        return orjson.loads(detail)
    except orjson.JSONDecodeError as exc:
        raise cannot_replay(oper_id, detail, exc) from None


def _typed_row(row: list[str]) -> tuple[int, float, str]:
    return int(row[0]), float(row[1]), row[2]
