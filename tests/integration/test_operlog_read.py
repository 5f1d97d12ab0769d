"""Reading the operation log back on MariaDB and SQLite: every row exactly, in order, gaps refused.

MySQL pages come packed in one GROUP_CONCAT value; rows the packing cannot carry
(line breaks in a detail, a page longer than the session's group_concat_max_len)
must still come back exactly, through the row-by-row read.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
import pytest

from common.schema import OPERLOG, create_table_sql
from common.storage import Database, InsertRows, fetch_json_values
from matchengine.commands import ReplayError
from matchengine.operlog import (
    LogGapError,
    Operation,
    OperlogCatalog,
    OperlogWriter,
    encode_detail,
    fetch_json_page,
    operlog_table,
    read_operations,
)
from matchengine.slice import ensure_log_tables
from tests.support import scratch_database


@pytest.fixture(params=["mysql", "sqlite"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with scratch_database(request.param, tmp_path, "t_operlog_read") as database:
        await ensure_log_tables(database)
        yield database


def details(count: int) -> list[tuple[str, list[object]]]:
    rnd = random.Random(3)
    texts = ["plain", "tab\there", "new\nline", "cr\rlf", "ünïcødé ✓", "back\\slash", "'quote'", "x" * 3000]
    return [("update_balance", [i, "BTC", "deposit", i, str(rnd.randint(1, 99)), {"note": rnd.choice(texts)}])
            for i in range(count)]


def decoded(method: str, params: list[object]) -> object:
    return orjson.loads(encode_detail(method, params))


async def write(db: Database, entries: list[tuple[str, list[object]]]) -> list[Operation]:
    writer = OperlogWriter(db, 0)
    writer.start()
    now = time.time()
    for i, (method, params) in enumerate(entries):
        writer.append(now + i / 7, method, params)
    await writer.flush()
    await writer.stop()
    return [(i + 1, now + i / 7, decoded(method, params)) for i, (method, params) in enumerate(entries)]


async def read_all(db: Database, after: int, page: int, catalog: OperlogCatalog | None = None,
                   refresh: bool = False) -> list[Operation]:
    rows: list[Operation] = []
    async for batch in read_operations(db, after, page=page, catalog=catalog, refresh=refresh):
        rows += batch
    return rows


async def test_every_row_comes_back_exactly(db: Database) -> None:
    written = await write(db, details(2500))
    assert await read_all(db, 0, 1000) == written
    assert await read_all(db, 1234, 300) == written[1234:]
    assert await read_all(db, 2500, 1000) == []


@pytest.mark.filterwarnings("ignore:Row .* was cut by GROUP_CONCAT")
async def test_pages_longer_than_the_packing_allows_are_read_row_by_row(db: Database) -> None:
    written = await write(db, [("update_balance", [i, "BTC", "deposit", i, "1", {"k": "v" * 500}])
                               for i in range(400)])
    if db.dialect == "mysql":
        await db.execute("SET SESSION group_concat_max_len = 4096")  # the pool's one connection
    assert await read_all(db, 0, 100) == written


async def test_a_gap_is_refused_naming_the_table_and_ids(db: Database) -> None:
    await write(db, details(50))
    table = operlog_table(time.time())
    await db.execute(f"DELETE FROM `{table}` WHERE `id` = 20")
    with pytest.raises(LogGapError, match=f"operation log {table}: expected id 20, found id 21"):
        await read_all(db, 0, 8)


async def test_a_catalog_lists_the_daily_tables_again_when_asked_or_when_old(db: Database) -> None:
    written = await write(db, details(30))
    catalog = OperlogCatalog(max_age=3600)
    assert await read_all(db, 0, 100, catalog) == written
    # the engine moves on to the next day's table
    tomorrow = operlog_table(time.time() + 86400)
    for sql in create_table_sql(OPERLOG, db.dialect, tomorrow):
        await db.execute(sql)
    at = time.time()
    rows = [(31, at, encode_detail("update_balance", [1, "BTC", "deposit", 31, "1", {}]))]
    await db.transact([InsertRows(tomorrow, ("id", "time", "detail"), rows)])
    later = [(31, at, decoded("update_balance", [1, "BTC", "deposit", 31, "1", {}]))]
    assert await read_all(db, 30, 100, catalog) == []  # listed an hour ago as far as it knows
    assert await read_all(db, 30, 100, catalog, refresh=True) == later
    assert await read_all(db, 0, 100, OperlogCatalog(max_age=0)) == written + later


async def test_a_log_of_one_table_is_read_without_asking_where_it_ends(db: Database,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """With one daily table there is nothing to choose: no MAX(id) per read (a follower reads after every
    commit or two); the same rows come back, and nothing after the end."""
    written = await write(db, details(40))
    asked: list[str] = []
    fetchall = db.fetchall

    async def recorded(sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        asked.append(sql)
        return await fetchall(sql, params)

    monkeypatch.setattr(db, "fetchall", recorded)
    catalog = OperlogCatalog(max_age=3600)
    assert await read_all(db, 0, 100, catalog) == written
    assert await read_all(db, 25, 100, catalog) == written[25:]
    assert await read_all(db, 40, 100, catalog) == []
    assert not [sql for sql in asked if "MAX(" in sql]


async def test_mysql_sends_a_page_as_one_json_text_with_whole_number_times_as_floats(db: Database) -> None:
    written = await write(db, details(30))
    table = operlog_table(time.time())
    await db.execute(f"UPDATE `{table}` SET `time` = 1700000000 WHERE `id` = 3")
    written[2] = (3, 1700000000.0, written[2][2])
    page = await fetch_json_page(db, table, 0, 100)
    if db.dialect != "mysql":
        assert page is None
        return
    assert page == written
    assert type(page[2][1]) is float
    assert await fetch_json_page(db, table, 30, 100) == []


async def test_a_detail_that_is_not_json_is_refused_naming_its_row(db: Database) -> None:
    await write(db, details(10))
    table = operlog_table(time.time())
    await db.execute(f"UPDATE `{table}` SET `detail` = 'not json{{' WHERE `id` = 7")
    if db.dialect == "mysql":
        assert await fetch_json_page(db, table, 0, 100) is None
    with pytest.raises(ReplayError, match="cannot replay operation 7 \\('not json\\{'\\)"):
        await read_all(db, 0, 4)
    assert [row[0] for row in await read_all(db, 7, 4)] == [8, 9, 10]


async def test_a_json_page_equals_the_same_page_read_row_by_row(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    written = await write(db, details(700))
    table = operlog_table(time.time())
    await db.execute(f"UPDATE `{table}` SET `time` = 1700000000 WHERE `id` = 5")
    fast = await read_all(db, 0, 300)
    monkeypatch.setattr("matchengine.operlog.fetch_json_values", mock.AsyncMock(return_value=None))
    assert await read_all(db, 0, 300) == fast
    assert [(oper_id, type(at)) for oper_id, at, _ in fast] == [(oper_id, float) for oper_id, _, _ in written]


async def test_a_detail_holding_two_json_values_is_not_read_as_two(db: Database) -> None:
    await write(db, details(10))
    table = operlog_table(time.time())
    await db.execute(f"UPDATE `{table}` SET `detail` = '1,2' WHERE `id` = 4")
    await db.execute(f"DELETE FROM `{table}` WHERE `id` = 5")
    await db.execute(f"UPDATE `{table}` SET `detail` = '[]' WHERE `id` = 6")
    if db.dialect == "mysql":
        assert await fetch_json_page(db, table, 0, 100) is None
    with pytest.raises(ReplayError, match="cannot replay operation 4 \\('1,2'\\)"):
        await read_all(db, 0, 100)


@pytest.mark.parametrize("missing", [10, 11, 20])
async def test_a_gap_at_a_page_boundary_is_refused(db: Database, missing: int) -> None:
    await write(db, details(25))
    table = operlog_table(time.time())
    await db.execute(f"DELETE FROM `{table}` WHERE `id` = {missing}")
    with pytest.raises(LogGapError, match=f"expected id {missing}, found id {missing + 1}"):
        await read_all(db, 0, 10)


async def test_a_page_of_ids_the_server_sends_out_of_order_is_asked_for_again_in_order(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    written = await write(db, details(40))
    fetch = fetch_json_values

    async def shuffled_by_range(*args: Any, id_range: bool = False) -> list[Any] | None:
        values = await fetch(*args, id_range=id_range)
        if id_range and values:
            rows = [values[i:i + 3] for i in range(0, len(values), 3)]
            values = [value for row in rows[1:] + rows[:1] for value in row]
        return values

    monkeypatch.setattr("matchengine.operlog.fetch_json_values", shuffled_by_range)
    assert await read_all(db, 0, 10) == written
