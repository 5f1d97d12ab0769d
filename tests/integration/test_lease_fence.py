"""The lease and its fence on real MariaDB and SQLite (docs/failover.md).

Once another engine has taken the lease, nothing the old leader sends commits:
not its writer's next group commit, not a renewal, not a packet that reaches the
server late.  The liveness lock of a term is held while its leader lives.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pymysql
import pytest
from pymysql.constants import CLIENT

from common.service import StartRefused
from common.storage import Database
from matchengine.lease import Lease, LivenessLock, liveness_lock
from matchengine.operlog import OperlogWriter, read_operations
from matchengine.slice import ensure_log_tables
from tests.support import MYSQL, scratch_database


@pytest.fixture(params=["mysql", "sqlite"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with scratch_database(request.param, tmp_path, "t_lease") as database:
        await ensure_log_tables(database)
        yield database


def lock_for(db: Database) -> LivenessLock:
    config = getattr(db, "config", None)
    if config is None:  # SQLite
        from common.config import DatabaseConfig

        config = DatabaseConfig(sqlite_path=db.path)  # type: ignore[attr-defined]
    return liveness_lock(config)


def lease_on(db: Database, exchange: str = "x", role: str = "standby") -> Lease:
    return Lease(db, lock_for(db), exchange=exchange, role=role, timeout=3.0)


async def logged(db: Database) -> list[int]:
    return [op[0] for page in [p async for p in read_operations(db, 0)] for op in page]


async def test_a_deposed_writer_commits_nothing_more(db: Database) -> None:
    first = lease_on(db)
    await first.prepare()
    assert await first.take(await first.read(), expired=False) and first.term == 1
    deposed = asyncio.Event()
    writer = OperlogWriter(db, 0, fence=first.fence_statement, renew_interval=0.05, on_deposed=deposed.set)
    writer.start()
    for i in range(3):
        writer.append(1.0 + i, "update_balance", [1, "BTC", "deposit", i, "1", {}])
    await writer.flush()
    row = await first.read()
    assert (row.term, row.oper_id) == (1, 3)
    await asyncio.sleep(0.2)
    assert (await first.read()).beat > row.beat  # an idle leader renews

    second = lease_on(db)
    await second.prepare()
    assert not await second.lock.acquire(1), "the first leader's liveness lock is held while it lives"
    assert await second.take(await second.read(), expired=False) and second.term == 2
    reply = writer.wait_committed("ok")
    answered: list[object] = []
    writer.append(9.0, "update_balance", [1, "BTC", "deposit", 99, "1", {}])
    reply.bind(lambda result, error: answered.append(result))
    await asyncio.wait_for(deposed.wait(), 5)
    assert writer.deposed and answered == []
    assert await logged(db) == [1, 2, 3]
    assert (await second.read()).oper_id == 3

    # the new leader goes on after id 3
    new_writer = OperlogWriter(db, 3, fence=second.fence_statement)
    new_writer.start()
    new_writer.append(10.0, "update_balance", [1, "BTC", "deposit", 100, "1", {}])
    await new_writer.flush()
    await new_writer.stop()
    assert await logged(db) == [1, 2, 3, 4]
    await first.close()
    await second.close()


async def test_a_late_packet_of_the_old_term_is_refused_by_the_server(tmp_path: Path) -> None:
    """Over the MySQL protocol a commit is one packet that may reach the server after the takeover."""
    async with scratch_database("mysql", tmp_path, "t_lease") as db:
        await ensure_log_tables(db)
        await _late_packet(db)


async def _late_packet(db: Database) -> None:
    lease = lease_on(db)
    await lease.prepare()
    assert await lease.take(await lease.read(), expired=False)
    await OperlogWriter(db, 0).db.execute("CREATE TABLE `operlog_20260101` LIKE `operlog_example`")
    # what the writer of term 1 would send, arriving after term 2 began: fence, insert and COMMIT in one query
    other = lease_on(db)
    assert await other.take(await other.read(), expired=False) and other.term == 2
    conn = pymysql.connect(**MYSQL, database=db.config.name, autocommit=False,  # type: ignore[attr-defined]
                           client_flag=CLIENT.MULTI_STATEMENTS)
    try:
        with conn.cursor() as cur, pytest.raises(pymysql.err.OperationalError) as exc:
            cur.execute("UPDATE `leader_lease` SET `writer_term` = 1, `oper_id` = 1, `beat` = `beat` + 1 "
                        "WHERE `id` = 1; INSERT INTO `operlog_20260101` (`id`, `time`, `detail`) VALUES "
                        "(1, 1.0, '{}'); COMMIT")
            while cur.nextset():
                pass
        assert exc.value.args[0] == 4025
    finally:
        conn.close()  # the server rolls back what is open
    assert await db.fetchall("SELECT COUNT(*) FROM `operlog_20260101`") == [(0,)]
    await lease.close()
    await other.close()


async def test_the_log_belongs_to_one_exchange(db: Database) -> None:
    unnamed = lease_on(db, exchange="", role="sole")
    await unnamed.prepare()
    named = lease_on(db, exchange="main")
    await named.prepare()  # claims the unnamed log
    assert (await named.read()).exchange == "main"
    other, nameless = lease_on(db, exchange="other"), lease_on(db, exchange="", role="sole")
    with pytest.raises(StartRefused) as exc:
        await other.prepare()
    assert str(exc.value) == ("config error: field 'exchange': the operation log in db_log belongs to exchange "
                              "'main', this config names 'other'")
    with pytest.raises(StartRefused):
        await nameless.prepare()
    for lease in (unnamed, named, other, nameless):
        await lease.close()


async def test_the_liveness_lock_is_free_once_its_holder_resigns(db: Database) -> None:
    leader, standby = lease_on(db), lease_on(db)
    await leader.prepare()
    await standby.prepare()
    row = await standby.read()
    assert await leader.take(row, expired=False)
    assert not await standby.take(row, expired=False), "only one engine moves the term on from a given one"
    assert not await standby.lock.acquire(leader.term, 0.05)
    assert await leader.still_held()
    await leader.resign()
    assert await standby.lock.acquire(1, 0.5)
    assert await standby.take(await standby.read(), expired=False) and standby.term == 2
    await leader.close()
    await standby.close()
