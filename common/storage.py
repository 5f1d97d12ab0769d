"""One small database interface over MySQL (aiomysql) and SQLite (embedded default).

Everything the daemons write goes through `transact`, a list of operations run
in one transaction: plain statements and multi-row inserts (`InsertRows`, one
`INSERT … VALUES (…),(…)` per table on MySQL, `executemany` on SQLite, or
there, for rows given as SQL text, multi-row INSERTs run as one script).
Reads use `fetchall`.  SQL is written once, MySQL-style, with `%s`
placeholders and backquoted names, which SQLite accepts after the
placeholders are turned into `?`.  Driver errors become `DatabaseError` with
MySQL's error numbers (1062 duplicate key, 1146 no such table, 4025 a CHECK
constraint failed), so callers handle both back ends alike.  Connections are
re-opened after a failure.  On MySQL a transaction whose statements need no
checking of their row counts goes to the server as one multi-statement query
ending in its COMMIT.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import warnings
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, cast

import orjson
from pymysql.constants import CLIENT, COMMAND, SERVER_STATUS

from . import mysql_load
from .config import DatabaseConfig
from .sqltext import escape_text

log = logging.getLogger(__name__)

# "Table already exists" notes of CREATE TABLE IF NOT EXISTS are expected, not news.
warnings.filterwarnings("ignore", module="aiomysql")
warnings.filterwarnings("ignore", module="pymysql")

ER_DUP_ENTRY = 1062
ER_NO_SUCH_TABLE = 1146
ER_TABLE_EXISTS = 1050
ER_CONSTRAINT_FAILED = 4025  # MariaDB: a CHECK constraint failed
ER_CHECK_CONSTRAINT_VIOLATED = 3819  # MySQL 8
CR_CONNECTION = 2013


class DatabaseError(Exception):
    """A failed statement; `code` is the MySQL error number (or its SQLite equivalent)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"({code}) {message}")
        self.code = code

    @property
    def is_duplicate(self) -> bool:
        return self.code == ER_DUP_ENTRY

    @property
    def is_check_failure(self) -> bool:
        """A CHECK constraint refused the statement."""
        return self.code in (ER_CONSTRAINT_FAILED, ER_CHECK_CONSTRAINT_VIOLATED)


@dataclass(slots=True)
class Statement:
    """One statement; with `expect`, the transaction is rolled back unless it affects exactly that many rows."""

    sql: str
    params: Sequence[Any] = ()
    expect: int | None = None


class UnexpectedRowCount(Exception):
    """A Statement's `expect` did not hold; the transaction was rolled back."""

    def __init__(self, statement: Statement, count: int) -> None:
        super().__init__(f"{statement.sql!r} affected {count} rows, expected {statement.expect}")
        self.count = count


@dataclass(slots=True)
class InsertRows:
    """Rows for one table.  `mysql_row`, if given, renders one row as an SQL value tuple
    (a fast path for callers that know their row shapes); otherwise values are escaped by type.
    With `rows_text` each row is the text of its value tuple already, in the quoting of the database's
    dialect (MySQL's backslash escapes, SQLite's doubled quotes)."""

    table: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]] | Sequence[str]
    mysql_row: Callable[[Any], str] | None = None
    rows_text: bool = False


Operation = Statement | InsertRows


class Database:
    """Common surface of the two back ends."""

    dialect: str = ""

    async def start(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def transact(self, operations: Sequence[Operation]) -> list[int]:
        """Run the operations in one transaction; their row counts.  All or nothing."""
        raise NotImplementedError

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return (await self.transact([Statement(sql, params)]))[0]

    async def list_tables(self, prefix: str) -> list[str]:
        raise NotImplementedError

    async def table_exists(self, name: str) -> bool:
        return name in await self.list_tables(name)


def open_database(config: DatabaseConfig, *, pool_size: int = 1, autocreate: bool = True,
                  bulk_load: bool = False) -> Database:
    """`bulk_load`: a MySQL server gets InsertRows as LOAD DATA from memory (common/mysql_load.py)."""
    if config.is_sqlite:
        return SqliteDatabase(config.sqlite_path)
    return MysqlDatabase(config, pool_size=pool_size, autocreate=autocreate, bulk_load=bulk_load)


# ---------------------------------------------------------------- MySQL

GROUP_CONCAT_MAX = 64 << 20


class MysqlDatabase(Database):
    dialect = "mysql"

    def __init__(self, config: DatabaseConfig, *, pool_size: int = 1, autocreate: bool = True,
                 bulk_load: bool = False) -> None:
        self.config = config
        self.pool_size = pool_size
        self.autocreate = autocreate
        self.bulk_load = bulk_load
        self._pool: Any = None
        self._starting = asyncio.Lock()  # callers that find no pool at the same time make only one

    async def start(self) -> None:
        async with self._starting:
            if self._pool is None:
                await self._start()

    async def _start(self) -> None:
        import aiomysql

        if self.autocreate:
            await self._create_database()
        if self.bulk_load:
            mysql_load.install()
        try:
            self._pool = await aiomysql.create_pool(
                host=self.config.host, port=self.config.port, user=self.config.user,
                password=self.config.password, db=self.config.name, charset=self._charset(),
                minsize=1, maxsize=self.pool_size, autocommit=False, pool_recycle=3600,
                client_flag=CLIENT.MULTI_STATEMENTS, local_infile=self.bulk_load,
                # room for packed page reads (GROUP_CONCAT) such as the operation log's
                # notes (a decimal rounded to its column) do not count as a load's warnings, as an INSERT
                # accepts them too
                init_command=f"SET SESSION group_concat_max_len = {GROUP_CONCAT_MAX}"
                             + (", sql_notes = 0" if self.bulk_load else ""),
            )
        except Exception as exc:
            raise _mysql_error(exc) from None

    def _charset(self) -> str:
        return "utf8mb4" if self.config.charset.lower() in ("utf8", "utf8mb3", "utf8mb4") else self.config.charset

    async def _create_database(self) -> None:
        import aiomysql

        try:
            conn = await aiomysql.connect(host=self.config.host, port=self.config.port, user=self.config.user,
                                          password=self.config.password, charset=self._charset())
        except Exception as exc:
            raise _mysql_error(exc) from None
        try:
            async with conn.cursor() as cur:
                await cur.execute(f"CREATE DATABASE IF NOT EXISTS `{self.config.name}`")
        except Exception as exc:
            log.warning("cannot create database %s: %s", self.config.name, exc)
        finally:
            conn.close()

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            await self._pool.wait_closed()
            self._pool = None

    async def transact(self, operations: Sequence[Operation]) -> list[int]:
        if self._pool is None:
            await self.start()
        conn = await self._acquire()
        counts: list[int] = []
        try:
            async with conn.cursor() as cur:
                # Statements nobody inspects the result of go together in multi-statement queries, the
                # last one carrying the COMMIT: one round trip for the whole transaction where possible.
                # The server runs them in order and stops at the first error (then the except rolls
                # back), so a statement that fails — a fence whose CHECK no longer holds — keeps the
                # rest of the packet from running, whenever the packet reaches the server.
                packet: list[tuple[str, str]] = []  # statements, each as (head, rest)
                packed: list[int] = []  # where each packed statement's count goes (-1: an insert's is known)
                loads: dict[int, InsertRows] = {}  # the packet's LOAD DATA statements, by place in it
                for op in operations:
                    if isinstance(op, InsertRows):
                        if op.rows:
                            if self.bulk_load:
                                loads[len(packet)] = op
                                packet.append(mysql_load.load_statement(conn, op.table, tuple(op.columns),
                                                                        _row_values(op, "\n")))
                            else:
                                packet.append(_mysql_insert(op))
                            packed.append(-1)
                        counts.append(len(op.rows))
                        continue
                    if op.expect is None:
                        packet.append(("", cur.mogrify(op.sql, op.params or None)))
                        packed.append(len(counts))
                        counts.append(0)
                        continue
                    if packet:
                        _place_counts(counts, packed, await _execute_packet(conn, packet, loads))
                        packet, packed, loads = [], [], {}
                    count = await cur.execute(op.sql, op.params or None)
                    if op.expect is not None and count != op.expect:
                        raise UnexpectedRowCount(op, count)
                    counts.append(count)
                if packet and not loads:
                    _place_counts(counts, [*packed, -1], await _execute_many_statements(conn, [*packet, ("", "COMMIT")]))
                else:  # loads are checked before the COMMIT: the server does not refuse their bad rows itself
                    if packet:
                        _place_counts(counts, packed, await _execute_packet(conn, packet, loads))
                    await conn.commit()
        except BaseException as exc:
            mysql_load.forget_buffers(conn)
            await self._discard(conn, exc)
            if isinstance(exc, UnexpectedRowCount):
                raise
            if isinstance(exc, Exception):
                error = _mysql_error(exc)
                if self.bulk_load and error.code in mysql_load.LOCAL_INFILE_REFUSED:
                    log.warning("%s refuses LOAD DATA LOCAL (%s): rows go as INSERTs from now on",
                                self.config.name, error)
                    self.bulk_load = False  # the caller's retry goes through
                raise error from None
            raise
        self._pool.release(conn)
        return counts

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._pool is None:
            await self.start()
        conn = await self._acquire()
        try:
            async with conn.cursor() as cur:
                # the COMMIT that ends the read's snapshot goes in the same query (one round trip); closing
                # the cursor reads its result.  The line feed ends a comment the statement may close with.
                await cur.execute(sql + "\n;COMMIT", params or None)
                rows = await cur.fetchall()
        except BaseException as exc:
            await self._discard(conn, exc)
            if isinstance(exc, Exception):
                raise _mysql_error(exc) from None
            raise
        self._pool.release(conn)
        return list(rows)

    async def list_tables(self, prefix: str) -> list[str]:
        like = prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"
        rows = await self.fetchall("SHOW TABLES LIKE %s", (like,))
        return sorted(r[0] for r in rows)

    async def _acquire(self) -> Any:
        try:
            return await self._pool.acquire()
        except Exception as exc:
            raise _mysql_error(exc) from None

    async def _discard(self, conn: Any, exc: BaseException) -> None:
        """Give a connection back after a failure: rolled back, or closed if its state is unknown."""
        if isinstance(exc, Exception):
            try:
                await conn.rollback()
                self._pool.release(conn)
                return
            except BaseException:
                pass
        conn.close()
        self._pool.release(conn)


MULTI_QUERY_BYTES = 4 << 20


async def _execute_many_statements(conn: Any, statements: list[tuple[str, str]],
                                   warning_counts: list[int] | None = None) -> list[int]:
    """Send statements ((head, rest): their text in two parts, not copied into one) joined by `;` in queries
    of up to 4 MiB, reading every result; their row counts (and, into `warning_counts`, their warnings)."""
    counts: list[int] = []
    batch: list[tuple[str, str]] = []
    size = 0
    for head, rest in statements:
        length = len(head) + len(rest)
        if batch and size + length > MULTI_QUERY_BYTES:
            counts.extend(await _run_multi(conn, batch, warning_counts))
            batch, size = [], 0
        batch.append((head, rest))
        size += length + 1
    if batch:
        counts.extend(await _run_multi(conn, batch, warning_counts))
    return counts


async def _execute_packet(conn: Any, statements: list[tuple[str, str]], loads: dict[int, InsertRows]) -> list[int]:
    """`_execute_many_statements`, then each LOAD DATA checked: every row written, no warning."""
    if not loads:
        return await _execute_many_statements(conn, statements)
    warning_counts: list[int] = []
    counts = await _execute_many_statements(conn, statements, warning_counts)
    for place, op in loads.items():
        mysql_load.check_load(op.table, len(op.rows), counts[place], warning_counts[place])
    return counts


async def _run_multi(conn: Any, batch: list[tuple[str, str]], warning_counts: list[int] | None) -> list[int]:
    """Run one multi-statement query of statements that return no rows; their row counts.

    The results are read here, one OK packet each, rather than through a cursor's `nextset`, which costs
    a result object and a packet wrapper per statement: a batch of history rows has hundreds of them.
    An error packet raises (the connection reads it: pymysql's error for its code) and ends the query.
    A LOAD DATA LOCAL's request for its rows is answered from the buffers registered on the connection.
    """
    from aiomysql.connection import MySQLResult

    pieces: list[str] = []
    for head, rest in batch:
        pieces += (";", head, rest)
    await conn._execute_command(COMMAND.COM_QUERY, "".join(pieces[1:]).encode(conn.encoding, "surrogateescape"))
    counts: list[int] = []
    while True:
        packet = await conn._read_packet()
        data = packet.get_all_data()
        if data[0] == 0 and len(data) >= 7:  # an OK packet
            packet.advance(1)
            affected = packet.read_length_encoded_integer()
            packet.read_length_encoded_integer()  # the insert id
            conn.server_status = packet.read_uint16()
            more = conn.server_status & SERVER_STATUS.SERVER_MORE_RESULTS_EXISTS
            warnings_here = packet.read_uint16()
        elif data[0] == 0xFB:  # a LOAD DATA LOCAL asks for its rows; its OK packet follows
            mysql_load.send_buffer(conn, data[1:])
            continue
        else:  # rows (a SELECT): read them as a cursor would, and count them
            result = MySQLResult(conn)
            await result._read_result_packet(packet)
            affected, more = result.affected_rows, result.has_next
            warnings_here = result.warning_count
        counts.append(affected)
        if warning_counts is not None:
            warning_counts.append(warnings_here)
        if not more:
            return counts


def _place_counts(counts: list[int], packed: list[int], results: list[int]) -> None:
    for index, result in zip(packed, results, strict=True):
        if index >= 0:
            counts[index] = result


def _literal(value: Any) -> str:
    """An SQL literal for the value types rows hold (str, int, float, None, Decimal, bytes)."""
    kind = type(value)
    if kind is str:
        return "'" + escape_text(value) + "'"
    if kind is int:
        return str(value)
    if kind is float:
        return repr(value)
    if value is None:
        return "NULL"
    if kind is bool:
        return "1" if value else "0"
    return "'" + escape_text(str(value)) + "'"


def _mysql_insert(op: InsertRows) -> tuple[str, str]:
    """One multi-row INSERT in two parts (head, values), values escaped as the connection's charset needs
    (utf8mb4, no backslash mode)."""
    return _insert_head(op.table, tuple(op.columns)), _row_values(op, ",")


def _row_values(op: InsertRows, separator: str) -> str:
    """The rows' SQL value tuples joined by `separator`."""
    if op.rows_text:
        return separator.join(cast(Sequence[str], op.rows))
    if op.mysql_row is not None:
        return separator.join(map(op.mysql_row, op.rows))
    literal = _literal
    return separator.join(["(" + ",".join([literal(v) for v in row]) + ")" for row in op.rows])


@functools.lru_cache(maxsize=4096)
def _insert_head(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO `{table}` ({', '.join(f'`{c}`' for c in columns)}) VALUES "


async def _concat_page(db: Database, table: str, row: str, separator: str, after_id: int,
                       page: int, id_range: bool = False) -> tuple[int, str] | None:
    """(row count, the rows' `row` texts joined by `separator`) of up to `page` rows after `after_id`,
    in one GROUP_CONCAT value; None if the value was cut short at group_concat_max_len.

    With `id_range` the rows are those with ids after_id + 1 .. after_id + page, in the order the server
    reads them (the primary key's, in practice, but unpromised: the caller checks): no derived table to
    fill and no sort, half the server's work of the ordered page, but a page as full as asked for only
    where no id is missing."""
    if id_range:
        rows = await db.fetchall(
            f"SELECT COUNT(*), @@group_concat_max_len, GROUP_CONCAT({row} SEPARATOR '{separator}') "
            f"FROM `{table}` WHERE `id` > %s AND `id` <= %s", (after_id, after_id + page))
    else:
        rows = await db.fetchall(
            f"SELECT COUNT(*), @@group_concat_max_len, GROUP_CONCAT({row} ORDER BY `id` SEPARATOR '{separator}') "
            f"FROM (SELECT * FROM `{table}` WHERE `id` > %s ORDER BY `id` LIMIT %s) AS page", (after_id, page))
    count, limit, text = rows[0]
    if not count:
        return 0, ""
    if text is None or len(text.encode()) >= int(limit):
        return None
    return int(count), text


async def fetch_packed(db: Database, table: str, columns: Sequence[str], after_id: int, page: int,
                       nullable: Sequence[str] = ()) -> list[list[str | None]] | None:
    """Up to `page` rows of `table` with `id` > after_id, in id order, each as its columns' text.

    MySQL sends the page packed in one GROUP_CONCAT value (tab between fields,
    line feed between rows), which spares the driver its per-row and per-field
    work: most of the cost of reading a big table back.  None where that
    cannot carry the page exactly (SQLite; a tab or line feed inside a value;
    a page longer than the session's group_concat_max_len): read it row by row.
    """
    if db.dialect != "mysql":
        return None
    fields = [f"IFNULL(CONCAT('=', `{c}`), '~')" if c in nullable else f"`{c}`" for c in columns]
    packed = await _concat_page(db, table, "CONCAT(" + ", '\t', ".join(fields) + ")", "\n", after_id, page)
    if packed is None:
        return None
    count, text = packed
    if not count:
        return []
    lines = text.split("\n")
    if len(lines) != count:
        return None
    width = len(columns)
    result: list[list[str | None]] = []
    for row in lines:
        values: list[str | None] = row.split("\t")  # type: ignore[assignment]
        if len(values) != width:
            return None
        result.append(values)
    if nullable:
        for index in [i for i, c in enumerate(columns) if c in nullable]:
            for values in result:
                text_value = values[index]
                values[index] = None if text_value == "~" else text_value[1:]  # type: ignore[index]
    return result


async def fetch_json_rows(db: Database, table: str, expressions: Sequence[str], after_id: int,
                          page: int) -> list[Any] | None:
    """Up to `page` rows of `table` with `id` > after_id, in id order, each as a JSON array of
    `expressions` (SQL that yields JSON text: a numeric column as it is, JSON_QUOTE(text), JSON stored
    as text), sent by MySQL as one text and decoded in one call: a tenth of the cost of reading the
    rows.  None where that cannot carry the page exactly (SQLite; a page longer than
    group_concat_max_len; text that is not JSON)."""
    return await _fetch_json(db, table, "CONCAT('[', " + ", ',', ".join(expressions) + ", ']')", 1, after_id, page)


async def fetch_json_values(db: Database, table: str, expressions: Sequence[str], after_id: int,
                            page: int, *, id_range: bool = False) -> list[Any] | None:
    """As `fetch_json_rows`, but the rows' values one after another in one flat list, len(expressions)
    to a row: no list per row to build, and a column is a slice of it (`values[i::width]`).  Only the
    total count is checked, so at most one expression may be text that could hold more than one value
    (JSON stored as text): the others (numbers, JSON_QUOTE) are one value each, and then a row whose text
    holds two values, or none, makes the count wrong.  `id_range` as `_concat_page` takes it."""
    return await _fetch_json(db, table, "CONCAT(" + ", ',', ".join(expressions) + ")", len(expressions), after_id,
                             page, id_range)


async def _fetch_json(db: Database, table: str, row: str, width: int, after_id: int, page: int,
                      id_range: bool = False) -> list[Any] | None:
    if db.dialect != "mysql":
        return None
    packed = await _concat_page(db, table, row, ",", after_id, page, id_range)
    if packed is None:
        return None
    count, text = packed
    if not count:
        return []
    try:
        decoded = orjson.loads("[" + text + "]")
    except orjson.JSONDecodeError:
        return None
    if len(decoded) != count * width:
        return None
    return decoded


async def read_pages(db: Database, table: str, columns: Sequence[str], typed: Callable[[list[Any]], tuple[Any, ...]],
                     *, after_id: int = 0, page: int = 10000,
                     nullable: Sequence[str] = ()) -> AsyncGenerator[list[tuple[Any, ...]], None]:
    """Pages of `table`'s rows with `id` > after_id, in id order: `columns`, the first of them `id`.

    Each page is read packed where the database can (`fetch_packed`; `typed` turns
    a row of its text into the types the driver would give), else row by row,
    and always one page ahead (`read_ahead`).
    """
    async with aclosing(read_ahead(lambda after: read_page(db, table, columns, typed, after, page, nullable),
                                   after_id, page)) as pages:
        async for rows in pages:
            yield rows


async def read_ahead(fetch: Callable[[int], Awaitable[list[Any]]], after_id: int,
                     page: int) -> AsyncGenerator[list[Any], None]:
    """The pages `fetch(after)` returns (rows whose first item is their id; a short page is the last),
    the next one asked for before this one is handed out, so the database works on it while the
    caller uses this one."""
    ahead = asyncio.ensure_future(fetch(after_id))
    try:
        while True:
            rows = await ahead
            if len(rows) < page:
                if rows:
                    yield rows
                return
            ahead = asyncio.ensure_future(fetch(rows[-1][0]))
            await asyncio.sleep(0)  # the query goes out now, not after the caller has used this page
            yield rows
    finally:
        if not ahead.done():
            ahead.cancel()


async def read_page(db: Database, table: str, columns: Sequence[str], typed: Callable[[list[Any]], tuple[Any, ...]],
                     after_id: int, page: int, nullable: Sequence[str]) -> list[tuple[Any, ...]]:
    packed = await fetch_packed(db, table, columns, after_id, page, nullable)
    if packed is not None:
        try:
            return [typed(row) for row in packed]
        except ValueError:
            pass
    return list(await db.fetchall(f"SELECT {', '.join(f'`{c}`' for c in columns)} FROM `{table}` WHERE `id` > %s "
                                  "ORDER BY `id` LIMIT %s", (after_id, page)))


def _mysql_error(exc: BaseException) -> DatabaseError:
    if isinstance(exc, DatabaseError):
        return exc
    args = exc.args
    if len(args) >= 2 and isinstance(args[0], int):
        return DatabaseError(args[0], str(args[1]))
    return DatabaseError(CR_CONNECTION, f"{type(exc).__name__}: {exc}")


# ---------------------------------------------------------------- SQLite

class SqliteDatabase(Database):
    """SQLite in WAL mode with full fsync, driven from one private thread."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def start(self) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        await self._run(self._connect)

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            self._conn = conn
        return self._conn

    async def close(self) -> None:
        if self._executor is not None:
            await self._run(self._disconnect)
            self._executor.shutdown(wait=True)
            self._executor = None

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _run(self, fn: Any, *args: Any) -> Any:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def transact(self, operations: Sequence[Operation]) -> list[int]:
        return await self._run(self._transact, operations)

    def _transact(self, operations: Sequence[Operation]) -> list[int]:
        conn = self._connect()
        counts: list[int] = []
        try:
            scripted = _leading_text_rows(operations)
            if scripted:
                _run_insert_script(conn, operations[:scripted], counts)
            else:
                conn.execute("BEGIN IMMEDIATE")
            for op in operations[scripted:]:
                if isinstance(op, InsertRows):
                    if not op.rows:
                        counts.append(0)
                        continue
                    if op.rows_text:
                        cur = conn.execute(_insert_head(op.table, tuple(op.columns))
                                           + ",".join(cast(Sequence[str], op.rows)))
                    else:
                        marks = ", ".join("?" * len(op.columns))
                        columns = ", ".join(f"`{c}`" for c in op.columns)
                        cur = conn.executemany(f"INSERT INTO `{op.table}` ({columns}) VALUES ({marks})", op.rows)
                else:
                    cur = conn.execute(_sqlite_sql(op.sql), tuple(op.params))
                    if op.expect is not None and cur.rowcount != op.expect:
                        raise UnexpectedRowCount(op, cur.rowcount)
                counts.append(cur.rowcount)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise _sqlite_error(exc) from None
        except BaseException:  # UnexpectedRowCount, or a value binding refused (OverflowError)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return counts

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await self._run(self._fetchall, sql, params)

    def _fetchall(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        try:
            return self._connect().execute(_sqlite_sql(sql), tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise _sqlite_error(exc) from None

    async def list_tables(self, prefix: str) -> list[str]:
        rows = await self.fetchall("SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, %s) = %s",
                                   (len(prefix), prefix))
        return sorted(r[0] for r in rows)


def _leading_text_rows(operations: Sequence[Operation]) -> int:
    """How many of the first operations are rows given as SQL text."""
    count = 0
    for op in operations:
        if not (isinstance(op, InsertRows) and op.rows_text):
            break
        count += 1
    return count


# SQLite's work per row grows with the rows of a statement where each row holds a constant expression (a time
# as n.0/2**k, common.sqltext.sqlite_real): measured 4.0 µs a row at 25-50 rows, 4.8 at 100, 7.5 at 1,000
# (SQLite 3.40; the profile shows sqlite3ExprCompare, which matches such expressions against each other)
SCRIPT_ROWS = 50


def _run_insert_script(conn: sqlite3.Connection, inserts: Sequence[Operation], counts: list[int]) -> None:
    """Open the transaction and run `inserts` (rows as SQL text) in it, as one script of multi-row INSERTs of up
    to SCRIPT_ROWS rows: SQLite parses and steps each with the GIL released, where executemany takes the GIL
    back for every row and binds its values under it; the statements, each seen once, stay out of the
    connection's statement cache.  The script opens the transaction itself: executescript first commits
    one that is open.  An INSERT without a conflict clause writes all its rows or fails."""
    statements = ["BEGIN IMMEDIATE"]
    for op in cast(Sequence[InsertRows], inserts):
        rows = cast(Sequence[str], op.rows)
        head = _insert_head(op.table, tuple(op.columns))
        for start in range(0, len(rows), SCRIPT_ROWS):
            statements.append(head + ",".join(rows[start:start + SCRIPT_ROWS]))
        counts.append(len(rows))
    conn.executescript(";".join(statements))


def _sqlite_sql(sql: str) -> str:
    return sql.replace("%s", "?")


def _sqlite_error(exc: sqlite3.Error) -> DatabaseError:
    text = str(exc)
    if isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in text:
        return DatabaseError(ER_DUP_ENTRY, text)
    if isinstance(exc, sqlite3.IntegrityError) and "CHECK constraint failed" in text:
        return DatabaseError(ER_CONSTRAINT_FAILED, text)
    if "no such table" in text:
        return DatabaseError(ER_NO_SUCH_TABLE, text)
    if "already exists" in text:
        return DatabaseError(ER_TABLE_EXISTS, text)
    return DatabaseError(getattr(exc, "sqlite_errorcode", 1) or 1, text)
