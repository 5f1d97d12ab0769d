"""Replay speed of the operation log, in-process: what a matchengine start spends on it.

Builds an operation log in a fresh MariaDB database the way the engine writes
it (1,000 funded users, a book of resting orders, then the load_http.py order
stream, about half crossing), then restores a fresh engine from it with the
engine's own `restore` and reports operations/s with the CPU this process and
MariaDB spent per operation.  `--profile` prints the top of a cProfile of the
restore instead of timing it.  Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.core_bench import build_engine, order_stream
from bench.harness import pids_named, proc_cpu
from common.config import DatabaseConfig
from common.storage import open_database
from matchengine.__main__ import restore
from matchengine.commands import OP_LIMIT_ORDER, OP_UPDATE_BALANCE
from matchengine.operlog import OperlogWriter
from matchengine.slice import ensure_log_tables
from tests.support import drop_databases, unique_name


async def write_log(db_name: str, users: int, book: int, orders: int) -> int:
    """Run the stream through a core whose writes are logged as the server logs them; the op count."""
    db = open_database(DatabaseConfig(host="127.0.0.1", user="root", name=db_name))
    await db.start()
    await ensure_log_tables(db)
    writer = OperlogWriter(db, 0)
    writer.start()
    _, commands = build_engine(0)
    now = time.time()
    for user in range(1, users + 1):
        for asset, amount in (("BTC", "1000000"), ("USDT", "10000000000")):
            params = [user, asset, "deposit", user, amount, {}]
            commands.balance_update(params, now)
            writer.append(now, OP_UPDATE_BALANCE, params)
    rnd = random.Random(1)
    stream = order_stream(rnd, book, users, 0.0, band=200) + order_stream(rnd, orders, users, 0.5, band=20)
    for params in stream:
        try:
            commands.put_limit(params, now)
        except Exception:
            continue
        writer.append(now, OP_LIMIT_ORDER, params)
        if writer.pending >= 20000:
            await writer.flush()
    await writer.flush()
    await writer.stop()
    await db.close()
    return writer.last_id


async def replay(db_name: str) -> tuple[int, float, float]:
    db = open_database(DatabaseConfig(host="127.0.0.1", user="root", name=db_name))
    await db.start()
    engine, _ = build_engine(0)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    last_id, _ = await restore(engine, db)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    await db.close()
    return last_id, wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--book", type=int, default=10000)
    ap.add_argument("--orders", type=int, default=200000)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    db_name = unique_name("bench_replay")
    try:
        operations = asyncio.run(write_log(db_name, args.users, args.book, args.orders))
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(asyncio.run, replay(db_name))
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
            return
        mariadb = pids_named("mariadbd")
        db_cpu0 = proc_cpu(mariadb[-1]) if mariadb else 0.0
        last_id, wall, cpu = asyncio.run(replay(db_name))
        db_cpu = (proc_cpu(mariadb[-1]) - db_cpu0) if mariadb else 0.0
        assert last_id == operations, (last_id, operations)
        print(json.dumps({
            "bench": "replay",
            "operations": operations,
            "seconds": round(wall, 3),
            "operations_per_s": round(operations / wall),
            "cpu_us_per_operation": {"matchengine": round(cpu / operations * 1e6, 2),
                                     "mariadbd": round(db_cpu / operations * 1e6, 2)},
        }))
    finally:
        drop_databases(db_name)


if __name__ == "__main__":
    main()
