"""History spread over two MariaDB servers: each row exactly once, on the server of its shard.

The machine's MariaDB holds shards 0-49 and a second server started by the
test session holds 50-99.  Orders flow through a real matchengine while its
publisher is killed with SIGKILL twice; once history has caught up, every
shard table on its server holds exactly the rows a single-server publisher
writes from the same operation log (and the other server has no such table),
and readhistory, given the same mapping, answers from both servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql

from common.config import Section
from common.schema import HISTORY_SHARDS, MESSAGE_POSITION
from common.storage import open_database
from matchengine.config import load_config
from matchengine.history_writer import HISTORY_STRIPES
from matchengine.positions import read_position
from matchengine.publisher import Publisher
from tests.conftest import start_engine
from tests.e2e.engine_driver import RandomTrader, connect, status_of
from tests.e2e.test_readhistory_engine import readhistory_config, rpc_client
from tests.support import (
    Broker,
    Daemon,
    PrivateMariadb,
    engine_config,
    mysql_connect,
    mysql_query,
    unique_name,
)

# each kind and the columns that identify a row (auto-increment ids differ between writers)
KINDS = {
    "balance_history": "time, user_id, asset, business, `change`, balance, detail",
    "order_history": "*",
    "order_detail": "*",
    "deal_history": "time, user_id, deal_id, order_id, deal_order_id, role, price, amount, deal, fee, deal_fee",
    "user_deal_history": "time, user_id, market, deal_id, order_id, deal_order_id, side, role, price, amount, deal, "
                         "fee, deal_fee",
}
SPLIT = 50  # shards below it on the first server
NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def publisher_pid(engine: Daemon) -> int | None:
    for task in Path(f"/proc/{engine.pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                if b"publisher" in Path(f"/proc/{child}/cmdline").read_bytes():
                    return int(child)
            except OSError:
                continue
    return None


async def history_position(engine: Daemon) -> int:
    status = await asyncio.to_thread(status_of, engine)
    return status["operlog last ID"] - status["history pending"]


async def kill_publisher_while_writing(engine: Daemon) -> None:
    """SIGKILL the publisher once it has committed history since it (re)started, and wait for the next."""
    deadline = time.monotonic() + 90
    start = await history_position(engine)
    while (pid := publisher_pid(engine)) is None or await history_position(engine) <= start:
        assert time.monotonic() < deadline, "the publisher wrote nothing"
        await asyncio.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    while publisher_pid(engine) in (None, pid):
        assert time.monotonic() < deadline, "the engine did not start a new publisher"
        await asyncio.sleep(0.05)


def wait_history(engine: Daemon, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while (status := status_of(engine))["history pending"]:
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


Query = Callable[[str], list[tuple[Any, ...]]]


def tables(query: Query, list_tables: str) -> dict[str, Counter[tuple[Any, ...]]]:
    """Every shard table of a database with its rows (identifying columns)."""
    names = {row[0] for row in query(list_tables)}
    found = {}
    for kind, columns in KINDS.items():
        for shard in range(HISTORY_SHARDS):
            if f"{kind}_{shard}" in names:
                rows = query(f"SELECT {columns} FROM `{kind}_{shard}`")
                found[f"{kind}_{shard}"] = Counter(tuple(map(number, row)) for row in rows)
    return found


def number(value: Any) -> Any:
    """Decimal text as a Decimal: SQLite keeps the text written, MariaDB pads it to the column's scale."""
    if isinstance(value, str) and NUMBER.fullmatch(value):
        return Decimal(value)
    return value


def sqlite_query(path: Path) -> Query:
    conn = sqlite3.connect(path)
    return lambda sql: conn.execute(sql.replace("`", '"')).fetchall()


def mysql_reader(conn: pymysql.connections.Connection) -> Query:
    def query(sql: str) -> list[tuple[Any, ...]]:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    return query


async def write_reference(raw: dict[str, Any], reference_path: Path, last: int) -> None:
    """The history of the engine's log written again by a single-database publisher (in-process, to SQLite)."""
    config = load_config(Section({**raw, "db_history": {"sqlite": str(reference_path)}}))
    log_db = open_database(config.db_log)
    history_db = open_database(config.db_history.databases[0], pool_size=HISTORY_STRIPES)
    await log_db.start()
    await history_db.start()
    await read_position(log_db, MESSAGE_POSITION.name)  # the engine's publisher sent every message: none here
    publisher = Publisher(config, log_db, [history_db])
    await publisher.recover()
    following = asyncio.create_task(publisher.follow())
    deadline = time.monotonic() + 60
    while publisher.history.position < last:
        assert time.monotonic() < deadline and not following.done(), publisher.history.stripe_ids
        await asyncio.sleep(0.05)
    await publisher.drain()
    following.cancel()
    await log_db.close()
    await history_db.close()


async def test_history_on_two_servers_exactly_once_across_publisher_kills(
        tmp_path: Path, broker: Broker, mysql_names: Callable[[str], str], second_mariadb: PrivateMariadb) -> None:
    first_db, second_db = mysql_names("hist_a"), unique_name("t_hist_b")
    db_history = [{"host": "127.0.0.1", "user": "root", "pass": "", "name": first_db, "shards": f"0-{SPLIT - 1}"},
                  {**second_mariadb.database(second_db), "shards": f"{SPLIT}-{HISTORY_SHARDS - 1}"}]
    raw = engine_config(tmp_path, log_db=mysql_names("log"), history_db=first_db, brokers=broker.address,
                        db_history=db_history)
    engine = start_engine(Daemon("matchengine", raw, tmp_path))
    reader = Daemon("readhistory", {**readhistory_config(tmp_path, first_db), "db_history": db_history}, tmp_path)
    try:
        client = await connect(engine)
        trader = RandomTrader(client, seed=12, users=HISTORY_SHARDS)
        await trader.fund("1000")
        killing = asyncio.create_task(kill_publisher_while_writing(engine))
        await trader.run(300)
        while not killing.done():
            await trader.run(50)
        killing = asyncio.create_task(kill_publisher_while_writing(engine))
        while not killing.done():
            await trader.run(50)
        await killing
        await trader.run(300)
        await client.close()
        wait_history(engine)
        last = status_of(engine)["operlog last ID"]
        engine.stop()

        await write_reference(raw, tmp_path / "reference.db", last)
        reference = tables(sqlite_query(tmp_path / "reference.db"), "SELECT name FROM sqlite_master")
        with contextlib.closing(mysql_connect(first_db)) as conn:
            first = tables(mysql_reader(conn), "SHOW TABLES")
        with contextlib.closing(second_mariadb.connect(second_db)) as conn:
            second = tables(mysql_reader(conn), "SHOW TABLES")
        assert set(first) == {t for t in reference if int(t.rsplit("_", 1)[1]) < SPLIT}
        assert set(second) == {t for t in reference if int(t.rsplit("_", 1)[1]) >= SPLIT}
        assert {**first, **second} == reference
        assert sum(map(len, first.values())) > 1000 and sum(map(len, second.values())) > 1000
        for query, database in ((mysql_query, first_db), (second_mariadb.query, second_db)):
            assert query(database, "SELECT oper_id FROM history_position") == [(last,)] * HISTORY_STRIPES

        reader.start()
        async with rpc_client(int(reader.config["svr"]["bind"][0].rsplit(":", 1)[1])) as rh:
            for user in (7, SPLIT + 7):
                result = await rh.call_json(103, [user, "", "", 0, 0, 0, 100], timeout=10)
                expected = reference[f"balance_history_{user}"]
                assert len(result["records"]) == min(100, sum(expected.values())) > 0
                assert {r["business"] for r in result["records"]} <= {row[3] for row in expected}
            for table in (f"deal_history_{SPLIT - 1}", f"deal_history_{SPLIT + 1}"):
                order_id = next(iter(reference[table]))[3]
                deals = await rh.call_json(209, [order_id, 0, 100], timeout=10)
                assert sorted(d["id"] for d in deals["records"]) == sorted(
                    row[2] for row in reference[table].elements() if row[3] == order_id)
    finally:
        reader.stop()
        engine.stop()
        second_mariadb.query(None, f"DROP DATABASE IF EXISTS `{second_db}`")
