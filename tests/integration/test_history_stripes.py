"""History stripes that a crash left at different positions are completed exactly once.

The publisher writes the history shard tables in HISTORY_STRIPES stripes, each
committing its rows with its own position.  A crash can leave one stripe
further on than another; the next start must write, for each stripe, the rows
of exactly the operations after its own position.  Here the publisher writes
the history of a log, then two stripes are wound back to earlier positions (their
later rows deleted, as if those batches had never committed), and a new
publisher must bring every table back to the same rows, none twice.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from common.config import DatabaseConfig, Section
from common.schema import HISTORY_POSITION, HISTORY_SHARDS, MESSAGE_POSITION
from common.storage import open_database
from matchengine.commands import OP_LIMIT_ORDER, OP_STOP_MARKET, OP_UPDATE_BALANCE, Commands
from matchengine.config import EngineConfig, load_config
from matchengine.engine import Engine
from matchengine.history_writer import HISTORY_STRIPES, HistoryLayoutError, HistoryWriter, shard_of
from matchengine.operlog import OperlogWriter
from matchengine.positions import read_position
from matchengine.publisher import Publisher
from matchengine.slice import ensure_log_tables
from tests.support import engine_config, mysql_connect, mysql_query

# each kind, its time column, and the columns that identify a row (the auto-increment ids differ)
KINDS = {
    "balance_history": ("time", "time, user_id, asset, business, `change`, balance, detail"),
    "order_history": ("finish_time", "*"),
    "order_detail": ("finish_time", "*"),
    "deal_history": ("time", "time, user_id, deal_id, order_id, deal_order_id, role, price, amount, deal, fee, "
                             "deal_fee"),
    "user_deal_history": ("time", "time, user_id, market, deal_id, order_id, deal_order_id, side, role, price, "
                                  "amount, deal, fee, deal_fee"),
    "stop_history": ("finish_time", "order_id, create_time, finish_time, user_id, market, source, client_id, "
                                    "`option`, t, side, stop_price, price, amount, taker_fee, maker_fee, status"),
}


async def write_log(config: EngineConfig) -> list[float]:
    """Deposits, crossing orders and stops from 40 users; the time of each operation, by id."""
    db = open_database(config.db_log)
    await db.start()
    await ensure_log_tables(db)
    writer = OperlogWriter(db, 0)
    writer.start()
    commands = Commands(Engine(config.assets, config.markets))
    rnd = random.Random(4)
    at = time.time() - 1000
    times = [0.0]
    for step in range(900):
        at += 0.25
        if step < 80:
            params: list[Any] = [step % 40 + 1, "BTC" if step < 40 else "BCH", "deposit", step + 1, "1000", {}]
            commands.balance_update(params, at)
            writer.append(at, OP_UPDATE_BALANCE, params)
        elif step % 6 == 0:
            side = rnd.choice((1, 2))
            params = [rnd.randint(1, 40), "BTCBCH", side, "1" if side == 1 else "150", f"{rnd.randint(97, 103)}.5",
                      "0.002", "t"]
            try:
                commands.put_stop_market(params, at)
            except Exception:
                continue
            writer.append(at, OP_STOP_MARKET, params)
        else:
            params = [rnd.randint(1, 40), "BTCBCH", rnd.choice((1, 2)), str(rnd.randint(1, 9)),
                      str(rnd.randint(98, 102)), "0.002", "0.001", "t"]
            try:
                commands.put_limit(params, at)
            except Exception:
                continue
            writer.append(at, OP_LIMIT_ORDER, params)
        times.append(at)
    await writer.flush()
    await writer.stop()
    await db.close()
    return times


async def publish_history(config: EngineConfig, until: int) -> None:
    log_db = open_database(config.db_log)
    history_db = open_database(config.db_history.databases[0], pool_size=HISTORY_STRIPES)
    await log_db.start()
    await history_db.start()
    await read_position(log_db, MESSAGE_POSITION.name, 1, until)  # history only: the messages count as sent
    publisher = Publisher(config, log_db, [history_db])
    await publisher.recover()
    following = asyncio.create_task(publisher.follow())
    deadline = time.monotonic() + 60
    while publisher.history.position < until:
        assert time.monotonic() < deadline, publisher.history.stripe_ids
        assert not following.done()
        await asyncio.sleep(0.05)
    await publisher.drain()
    following.cancel()
    await log_db.close()
    await history_db.close()


def tables_of_stripe(stripe: int) -> list[tuple[str, str]]:
    return [(f"{kind}_{shard}", column) for kind, (column, _) in KINDS.items()
            for shard in range(HISTORY_SHARDS) if shard_of(f"{kind}_{shard}") % HISTORY_STRIPES == stripe]


def history(db: str) -> dict[str, Counter[tuple[Any, ...]]]:
    conn = mysql_connect(db)
    try:
        with conn.cursor() as cur:
            rows = {}
            for kind, (_, columns) in KINDS.items():
                for shard in range(HISTORY_SHARDS):
                    cur.execute(f"SELECT {columns} FROM `{kind}_{shard}`")
                    rows[f"{kind}_{shard}"] = Counter(cur.fetchall())
            return rows
    finally:
        conn.close()


async def test_stripes_left_at_different_positions_are_completed_exactly_once(
        tmp_path: Path, mysql_names: Callable[[str], str]) -> None:
    raw = engine_config(tmp_path, log_db=mysql_names("log"), history_db=mysql_names("history"),
                        brokers="127.0.0.1:9")
    config = load_config(Section(raw))
    history_db = raw["db_history"]["name"]
    times = await write_log(config)
    last = len(times) - 1
    await publish_history(config, last)
    complete = history(history_db)
    assert sum(map(len, complete.values())) > 3000 and all(len(complete[t]) for t in ("balance_history_1",
                                                                                         "deal_history_1"))
    assert sum(len(rows) for table, rows in complete.items() if table.startswith("stop_history")) > 20

    # a crash after stripes 0 and 3 committed batches that stripes 1 and 2 had not
    assert HISTORY_STRIPES == 4
    for stripe, position in ((1, last // 3), (2, 2 * last // 3)):
        conn = mysql_connect(history_db)
        with conn.cursor() as cur:
            for table, column in tables_of_stripe(stripe):
                cur.execute(f"DELETE FROM `{table}` WHERE `{column}` > %s", (times[position],))
        conn.close()
        mysql_query(history_db, f"UPDATE `{HISTORY_POSITION.name}` SET oper_id = %s WHERE id = %s",
                    (position, stripe + 1))
    assert history(history_db) != complete

    await publish_history(config, last)
    assert history(history_db) == complete
    assert [r[0] for r in mysql_query(history_db, f"SELECT oper_id FROM `{HISTORY_POSITION.name}` ORDER BY id")] \
        == [last] * HISTORY_STRIPES


async def test_a_history_server_without_positions_beside_written_ones_stops_the_start(tmp_path: Path) -> None:
    """Shards moved to a new server without their tables and positions would be written again from the
    start of the log, or not at all: the publisher refuses to start instead."""
    first, second = (open_database(DatabaseConfig(sqlite_path=str(tmp_path / f"{n}.db"))) for n in ("a", "b"))
    server_of = [0 if shard < 50 else 1 for shard in range(HISTORY_SHARDS)]
    try:
        fresh = HistoryWriter([first, second], lambda: None, server_of)
        await fresh.recover()  # a new exchange: both servers start at 0
        assert fresh.stripe_ids == [0] * 2 * HISTORY_STRIPES
        await first.execute(f"UPDATE `{HISTORY_POSITION.name}` SET `oper_id` = 40")
        await second.execute(f"DELETE FROM `{HISTORY_POSITION.name}`")
        with pytest.raises(HistoryLayoutError, match=r"history server 1 \(shards 50-99\) has no history positions "
                                                     "while the others stand at operation 40"):
            await HistoryWriter([first, second], lambda: None, server_of).recover()
        with pytest.raises(HistoryLayoutError):  # and again: the refused start wrote no position
            await HistoryWriter([first, second], lambda: None, server_of).recover()
        # the shards a server does not hold are not created on it
        assert "balance_history_49" in await first.list_tables("balance_history_")
        assert "balance_history_49" not in await second.list_tables("balance_history_")
        assert "balance_history_50" in await second.list_tables("balance_history_")
    finally:
        await first.close()
        await second.close()
