"""The storage layer on real MariaDB and SQLite: inserts round-trip any text, transactions are all or nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common.config import DatabaseConfig
from common.storage import Database, DatabaseError, InsertRows, Statement, UnexpectedRowCount, open_database
from tests.support import drop_databases, unique_name

NASTY = ["plain", "it's", 'double "quote"', "back\\slash", "new\nline", "cr\rlf", "nul\x00byte", "ctrl\x1aZ",
         "'; DROP TABLE t; --", "ünïcødé ✓", "\\'", ""]


@pytest.fixture(params=["mysql", "sqlite"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "mysql":
        name = unique_name("t_storage")
        database = open_database(DatabaseConfig(host="127.0.0.1", user="root", password="", name=name))
    else:
        name = ""
        database = open_database(DatabaseConfig(sqlite_path=str(tmp_path / "s.db")))
    await database.start()
    await database.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, txt TEXT, num DOUBLE)")
    yield database
    await database.close()
    if name:
        drop_databases(name)


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
    assert exc.value.is_duplicate
    with pytest.raises(UnexpectedRowCount):
        await db.transact([InsertRows("t", ("id", "txt", "num"), [(3, "c", 3.0)]),
                           Statement("UPDATE t SET txt = %s WHERE id = %s", ("x", 99), expect=1)])
    assert await db.fetchall("SELECT id, txt FROM t ORDER BY id") == [(1, "a")]
