"""The storage layer on real MariaDB and SQLite: inserts round-trip any text, transactions are all or nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common.sqltext import escape_text, sqlite_real, sqlite_text
from common.storage import (
    SCRIPT_ROWS,
    Database,
    DatabaseError,
    InsertRows,
    MysqlDatabase,
    Statement,
    UnexpectedRowCount,
    fetch_packed,
    open_database,
)
from tests.support import scratch_database

NASTY = ["plain", "it's", 'double "quote"', "back\\slash", "new\nline", "cr\rlf", "nul\x00byte", "ctrl\x1aZ",
         "'; DROP TABLE t; --", "ünïcødé ✓", "\\'", ""]


@pytest.fixture(params=["mysql", "mysql_bulk", "sqlite"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with scratch_database(request.param, tmp_path, "t_storage") as database:
        await database.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, txt TEXT, num DOUBLE)")
        yield database


async def test_multi_row_inserts_round_trip_any_text(db: Database) -> None:
    rows = [(i, text, i / 3) for i, text in enumerate(NASTY, 1)]
    await db.transact([InsertRows("t", ("id", "txt", "num"), rows[:6]), InsertRows("t", ("id", "txt", "num"), rows[6:])])
    assert await db.fetchall("SELECT id, txt, num FROM t ORDER BY id") == rows
    assert await db.list_tables("t") == ["t"]


async def test_a_failing_transaction_changes_nothing(db: Database) -> None:
    await db.transact([InsertRows("t", ("id", "txt", "num"), [(1, "a", 1.0)])])
    with pytest.raises(DatabaseError) as exc:
        await db.transact([InsertRows("t", ("id", "txt", "num"), [(2, "b", 2.0)]),
                           InsertRows("t", ("id", "txt", "num"), [(1, "dup", 3.0)])])
    # a LOAD DATA that skipped the duplicate is refused as a whole, before its COMMIT
    assert exc.value.is_duplicate or "wrote 0 of 1 rows" in str(exc.value)
    with pytest.raises(UnexpectedRowCount):
        await db.transact([InsertRows("t", ("id", "txt", "num"), [(3, "c", 3.0)]),
                           Statement("UPDATE t SET txt = %s WHERE id = %s", ("x", 99), expect=1)])
    assert await db.fetchall("SELECT id, txt FROM t ORDER BY id") == [(1, "a")]


async def test_packed_pages_carry_text_exactly_or_decline(db: Database) -> None:
    await db.execute("CREATE TABLE p (id INTEGER PRIMARY KEY, a TEXT, b TEXT NULL, n DOUBLE)")
    plain = [(i, text, None if i % 3 else f"b{i}", i / 7) for i, text in
             enumerate(["plain", "it's", "ünïcødé ✓", "back\\slash", "", "~", "=x"] * 30, 1)]
    await db.transact([InsertRows("p", ("id", "a", "b", "n"), plain)])
    packed = await fetch_packed(db, "p", ("id", "a", "b", "n"), 0, 50, nullable=("b",))
    if db.dialect == "sqlite":
        assert packed is None
        return
    assert packed is not None
    assert [(int(i), a, b, float(n)) for i, a, b, n in packed] == plain[:50]  # type: ignore[arg-type]
    assert len(await fetch_packed(db, "p", ("id", "a"), 200, 50) or [1]) == 10
    assert await fetch_packed(db, "p", ("id", "a"), 210, 50) == []
    # a tab or a line feed inside a value: the page is declined, to be read row by row
    for bad in ("tab\there", "new\nline"):
        await db.execute("UPDATE p SET a = %s WHERE id = 5", (bad,))
        assert await fetch_packed(db, "p", ("id", "a"), 0, 50) is None
        assert await fetch_packed(db, "p", ("id", "a"), 5, 50) is not None


async def test_statements_go_with_the_inserts_and_a_failed_check_stops_the_rest(db: Database) -> None:
    """MySQL sends such a transaction as one query ending in COMMIT; a statement refused by a CHECK
    constraint must keep the statements after it, the COMMIT included, from running (the fence of
    docs/failover.md)."""
    await db.execute("CREATE TABLE g (id INTEGER PRIMARY KEY, a INTEGER NOT NULL, b INTEGER NOT NULL, "
                     "CONSTRAINT `same` CHECK (a = b))")
    await db.execute("INSERT INTO g (id, a, b) VALUES (%s, %s, %s)", (1, 5, 5))
    rows = [(i, text, float(i)) for i, text in enumerate(NASTY, 1)]
    counts = await db.transact([Statement("UPDATE g SET a = %s, b = %s WHERE id = 1", (6, 6)),
                                Statement("UPDATE t SET txt = %s WHERE id = %s", ("it's", 99)),
                                InsertRows("t", ("id", "txt", "num"), rows)])
    assert counts == [1, 0, len(NASTY)]
    with pytest.raises(DatabaseError) as exc:
        await db.transact([Statement("UPDATE g SET a = %s WHERE id = 1", (7,)),
                           InsertRows("t", ("id", "txt", "num"), [(100, "late", 1.0)]),
                           Statement("UPDATE g SET b = %s WHERE id = 1", (7,))])
    assert exc.value.is_check_failure
    assert await db.fetchall("SELECT a, b FROM g") == [(6, 6)]
    assert await db.fetchall("SELECT id, txt, num FROM t ORDER BY id") == rows


async def test_packed_statements_report_their_counts(db: Database) -> None:
    """Each statement of a multi-statement query reports its own row count, read from its OK packet (rows
    returned, were a SELECT there, are read and counted)."""
    rows = [(i, f"r{i}", float(i)) for i in range(1, 300)]
    counts = await db.transact([InsertRows("t", ("id", "txt", "num"), rows),
                                Statement("UPDATE t SET num = num + 1 WHERE id <= %s", (260,)),
                                Statement("DELETE FROM t WHERE id > %s", (250,)),
                                Statement("UPDATE t SET txt = 'x' WHERE id = 0")])
    assert counts == [299, 260, 49, 0]
    counts = await db.transact([Statement("UPDATE t SET num = 0 WHERE id <= 3"),
                                Statement("SELECT id FROM t WHERE id <= 10"), Statement("DELETE FROM t WHERE id = 4")])
    assert counts == [3, 10 if db.dialect == "mysql" else -1, 1]
    assert await db.fetchall("SELECT num FROM t WHERE id <= 5 ORDER BY id") == [(0.0,), (0.0,), (0.0,), (6.0,)]
    assert await db.execute("UPDATE t SET num = 1 WHERE id <= 2") == 2


async def test_bulk_loads_write_what_inserts_write(tmp_path: Path) -> None:
    """The same rows through INSERT and through LOAD DATA from memory: the same table contents, every
    value type history rows hold, rendered by the rows' own `mysql_row` and by the generic escaping."""
    from decimal import Decimal

    rows = [(i, text, i / 3 if i % 2 else 1733299200.123456, Decimal("-12.345678901234567890"), i * 10**12)
            for i, text in enumerate(NASTY * 3, 1)]
    columns = ("id", "txt", "num", "amount", "big")
    ddl = ("CREATE TABLE t (id INTEGER PRIMARY KEY, txt TEXT, num DOUBLE, amount DECIMAL(40,20), "
           "big BIGINT UNSIGNED)")

    def as_tuple(row: tuple[object, ...]) -> str:
        return "(" + ",".join(str(v) if isinstance(v, int) else repr(v) if isinstance(v, float)
                              else "'" + escape_text(str(v)) + "'" for v in row) + ")"

    contents = []
    for kind in ("mysql", "mysql_bulk"):
        async with scratch_database(kind, tmp_path, "t_bulk") as db:
            await db.execute(ddl)
            await db.transact([InsertRows("t", columns, rows[:20]), InsertRows("t", columns, rows[20:], as_tuple)])
            contents.append(await db.fetchall("SELECT * FROM t ORDER BY id"))
    assert contents[0] == contents[1]
    assert len(contents[0]) == len(rows)


async def test_a_load_whose_rows_do_not_fit_is_rolled_back(tmp_path: Path) -> None:
    """LOCAL makes the server turn a bad row into a warning (a value cut short, a duplicate skipped): the
    load is refused and nothing of the transaction stays."""
    async with scratch_database("mysql_bulk", tmp_path, "t_bulk") as db:
        await db.execute("CREATE TABLE s (id INTEGER PRIMARY KEY, code VARCHAR(3))")
        with pytest.raises(DatabaseError, match="wrote 2 of 2 rows with 1 warnings"):
            await db.transact([InsertRows("s", ("id", "code"), [(1, "abc"), (2, "abcdef")])])
        with pytest.raises(DatabaseError, match="wrote 1 of 2 rows"):
            await db.transact([InsertRows("s", ("id", "code"), [(3, "x"), (3, "y")])])
        assert await db.fetchall("SELECT * FROM s") == []
        await db.transact([InsertRows("s", ("id", "code"), [(4, "ok")])])
        assert await db.fetchall("SELECT * FROM s") == [(4, "ok")]


async def test_a_server_without_local_loads_gets_inserts(tmp_path: Path) -> None:
    """local_infile=OFF on the server: the first transaction is refused (its caller retries, as for any
    database error) and every later one goes as INSERTs."""
    from tests.support import mysql_connect

    admin = mysql_connect()
    try:
        with admin.cursor() as cur:
            cur.execute("SET GLOBAL local_infile = 0")
        async with scratch_database("mysql_bulk", tmp_path, "t_bulk") as db:
            await db.execute("CREATE TABLE s (id INTEGER PRIMARY KEY, code TEXT)")
            with pytest.raises(DatabaseError) as exc:
                await db.transact([InsertRows("s", ("id", "code"), [(1, "a")])])
            assert exc.value.code == 4166
            await db.transact([InsertRows("s", ("id", "code"), [(1, "a")])])
            assert await db.fetchall("SELECT * FROM s") == [(1, "a")]
    finally:
        with admin.cursor() as cur:
            cur.execute("SET GLOBAL local_infile = 1")
        admin.close()


async def test_sqlite_rows_as_text_go_first_in_one_transaction(tmp_path: Path) -> None:
    """SQLite runs leading rows given as SQL text as one script that opens the transaction: a statement after
    them whose check fails, or a bad row in them, rolls back every row; more rows than one statement takes
    (SCRIPT_ROWS) are all written."""
    async with scratch_database("sqlite", tmp_path, "t_storage_text") as db:
        await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, txt TEXT, num DOUBLE)")
        await db.execute("CREATE TABLE pos (id INTEGER PRIMARY KEY, at INTEGER)")
        await db.execute("INSERT INTO pos (id, at) VALUES (1, 0)")
        columns = ("id", "txt", "num")
        many = [f"({i},{sqlite_text(NASTY[i % len(NASTY)])},{sqlite_real(i / 3)})" for i in range(1, 3 * SCRIPT_ROWS + 8)]
        move = Statement("UPDATE pos SET at = %s WHERE id = 1 AND at = %s", (1, 0), expect=1)
        assert await db.transact([InsertRows("t", columns, many[:100], rows_text=True),
                                  InsertRows("t", columns, [], rows_text=True),
                                  InsertRows("t", columns, many[100:], rows_text=True), move]) == [100, 0, 57, 1]
        assert await db.fetchall("SELECT id, txt, num FROM t ORDER BY id") == [
            (i, NASTY[i % len(NASTY)], i / 3) for i in range(1, 3 * SCRIPT_ROWS + 8)]
        with pytest.raises(UnexpectedRowCount):  # the position moved on: nothing of the batch stays
            await db.transact([InsertRows("t", columns, ["(500,'x',1.0)"], rows_text=True), move])
        with pytest.raises(DatabaseError) as exc:
            await db.transact([InsertRows("t", columns, ["(501,'y',1.0)", "(1,'dup',1.0)"], rows_text=True),
                               Statement("UPDATE pos SET at = 2 WHERE id = 1", expect=1)])
        assert exc.value.is_duplicate
        assert await db.fetchall("SELECT COUNT(*), MAX(id) FROM t") == [(3 * SCRIPT_ROWS + 7, 3 * SCRIPT_ROWS + 7)]
        assert await db.fetchall("SELECT at FROM pos") == [(1,)]
        # a statement before rows as text: they run in the transaction opened for it
        assert await db.transact([Statement("UPDATE pos SET at = 3 WHERE id = 1", expect=1),
                                  InsertRows("t", columns, ["(600,'z',2.5)"], rows_text=True)]) == [1, 1]
        assert await db.fetchall("SELECT txt, num FROM t WHERE id = 600") == [("z", 2.5)]


async def test_a_read_ends_its_snapshot_in_the_same_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fetchall sends its COMMIT with the SELECT (one query to the server), and the next read still sees
    what another connection committed meanwhile; a statement ending in a comment keeps its COMMIT."""
    import aiomysql.connection

    async with scratch_database("mysql", tmp_path, "t_storage_read") as db:
        assert isinstance(db, MysqlDatabase)
        other = open_database(db.config)
        await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        commands: list[bytes] = []
        send = aiomysql.connection.Connection._execute_command

        async def counted(conn: object, command: int, sql: str | bytes) -> None:
            commands.append(sql if isinstance(sql, bytes) else sql.encode())
            await send(conn, command, sql)

        monkeypatch.setattr(aiomysql.connection.Connection, "_execute_command", counted)
        assert await db.fetchall("SELECT id FROM t") == []
        assert len(commands) == 1 and commands[0].endswith(b"\n;COMMIT")
        await other.execute("INSERT INTO t (id) VALUES (1)")
        assert await db.fetchall("SELECT id FROM t -- a closing comment") == [(1,)]
        await other.execute("INSERT INTO t (id) VALUES (2)")
        assert await db.fetchall("SELECT id FROM t ORDER BY id") == [(1,), (2,)]
        await other.close()
