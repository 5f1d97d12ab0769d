"""The publisher rides out its own crash: back-pressure counts what is unpublished, not its rebuild.

A publisher that restarts rebuilds its replica from the newest slice and the
log after it, which takes a while when the log since the slice is long.  The
engine counts as unpublished what lies after the history and message positions
saved in MySQL, which the restarted publisher reports before it rebuilds
anything, so no write is refused meanwhile (before, the engine counted the
rebuild's progress and refused every write until it was done).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common.config import Section
from common.errors import RpcError
from common.rpc import RpcTimeout, RpcUnavailable
from common.schema import HISTORY_POSITION, MESSAGE_POSITION
from common.storage import open_database
from matchengine.commands import Commands
from matchengine.config import load_config
from matchengine.engine import Engine
from matchengine.history_writer import HISTORY_STRIPES, ensure_history_tables
from matchengine.operlog import OperlogWriter
from matchengine.positions import read_position
from matchengine.slice import ensure_log_tables
from tests.conftest import start_engine
from tests.e2e.engine_driver import connect, status_of
from tests.support import Broker, Daemon, engine_config

LOG_LENGTH = 20_000
MAX_PUBLISH_LAG = 8_000  # far below the rebuild's length, far above what arrives while it runs (≤ 400/s)


async def write_published_log(raw: dict[str, Any], count: int) -> None:
    """`count` deposits in the operation log (no slice), all of them counted as published."""
    config = load_config(Section(raw))
    log_db, history_db = open_database(config.db_log), open_database(config.db_history.databases[0])
    await log_db.start()
    await history_db.start()
    await ensure_log_tables(log_db)
    await ensure_history_tables(history_db)
    writer = OperlogWriter(log_db, 0)
    writer.start()
    commands = Commands(Engine(config.assets, config.markets))
    at = time.time() - 100
    for i in range(count):
        _, entries = commands.balance_update([i % 50 + 1, "BTC", "deposit", i + 1, "1", {}], at)
        for method, logged in entries:
            writer.append(at, method, logged)
    await writer.flush()
    await writer.stop()
    for row in range(1, HISTORY_STRIPES + 1):
        await read_position(history_db, HISTORY_POSITION.name, row, count)
    await read_position(log_db, MESSAGE_POSITION.name, 1, count)
    await log_db.close()
    await history_db.close()


def publisher_of(engine: Daemon) -> int:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == engine.pid:
                return int(entry)
    raise AssertionError("the engine has no publisher child")


async def test_a_publisher_killed_with_a_long_log_since_the_slice_makes_no_write_refused(
        tmp_path: Path, broker: Broker, mysql_names: Callable[[str], str]) -> None:
    raw = engine_config(tmp_path, log_db=mysql_names("log"), history_db=mysql_names("history"),
                        brokers=broker.address, max_publish_lag=MAX_PUBLISH_LAG)
    await write_published_log(raw, LOG_LENGTH)
    engine = Daemon("matchengine", raw, tmp_path)
    start_engine(engine)
    client = await connect(engine)
    refused: list[float] = []
    acked: list[float] = []
    stop = asyncio.Event()

    async def depositor(first: int) -> None:
        business_id = first
        while not stop.is_set():
            business_id += 1
            try:
                await client.call_json(102, [7, "BTC", "deposit", business_id, "1", {}], timeout=10)
                acked.append(time.monotonic())
                await asyncio.sleep(0.01)  # a steady stream, whatever the machine
            except RpcError as exc:
                assert exc.code == 3, exc
                refused.append(time.monotonic())
                await asyncio.sleep(0.01)
            except (RpcUnavailable, RpcTimeout):
                await asyncio.sleep(0.01)

    try:
        tasks = [asyncio.create_task(depositor(1_000_000 * (i + 1))) for i in range(4)]
        await asyncio.sleep(1.0)
        os.kill(publisher_of(engine), signal.SIGKILL)
        killed_at = time.monotonic()
        await asyncio.to_thread(engine.wait_log_line, "publisher exited", 10)
        # the replacement reports its positions at once, then replays the whole log to reach them
        await asyncio.sleep(4.0)
        stop.set()
        await asyncio.gather(*tasks)
        assert refused == []
        assert len([t for t in acked if t > killed_at + 1.2]) > 100  # accepted while the replacement rebuilt
        deadline = time.monotonic() + 60
        while status_of(engine)["history pending"]:
            assert time.monotonic() < deadline, status_of(engine)
            await asyncio.sleep(0.1)
    finally:
        await client.close()
        engine.stop()
