"""Replay speed of the operation log, in-process: what a matchengine start spends on it.

Builds an operation log in a fresh MariaDB database the way the engine writes
it (1,000 funded users, a book of resting orders, then the load_http.py order
stream, about half crossing), then restores a fresh engine from it with the
engine's own `restore` (`--repeat` times) and reports operations/s of every
run with their spread, and the CPU this process and MariaDB (the machine's
shared server) spent per operation.  `--profile` prints the top of a cProfile
of the restore instead of timing it.  Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.core_bench import build_engine
from bench.harness import MARIADB_SHARED_NOTE, mariadb_pid, proc_cpu, spread, write_operation_log
from common.config import DatabaseConfig
from common.storage import open_database
from matchengine.replica import Replica
from tests.support import drop_databases, unique_name


async def replay(db_name: str) -> tuple[int, float, float]:
    db = open_database(DatabaseConfig(host="127.0.0.1", user="root", name=db_name))
    await db.start()
    engine, _ = build_engine(0)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    replica = Replica(engine)
    await replica.restore(db)
    last_id = replica.applied_id
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    await db.close()
    return last_id, wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--book", type=int, default=10000)
    ap.add_argument("--orders", type=int, default=200000)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="restores of the same log, each reported "
                                                            "(this machine's speed varies from run to run)")
    args = ap.parse_args()
    db_name = unique_name("bench_replay")
    try:
        _, commands = build_engine(0)
        operations, _ = asyncio.run(write_operation_log(
            DatabaseConfig(host="127.0.0.1", user="root", name=db_name), commands, users=args.users,
            book=args.book, orders=args.orders, money_prec=8))
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(asyncio.run, replay(db_name))
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
            return
        mariadb = mariadb_pid()
        runs = []
        for _ in range(max(1, args.repeat)):
            db_cpu0 = proc_cpu(mariadb) if mariadb else 0.0
            last_id, wall, cpu = asyncio.run(replay(db_name))
            db_cpu = (proc_cpu(mariadb) - db_cpu0) if mariadb else 0.0
            assert last_id == operations, (last_id, operations)
            runs.append((wall, cpu, db_cpu))
        print(json.dumps({
            "bench": "replay",
            "operations": operations,
            "seconds": spread([round(run[0], 3) for run in runs]),
            "operations_per_s": spread([round(operations / run[0]) for run in runs]),
            "cpu_us_per_operation": {
                "matchengine": spread([round(run[1] / operations * 1e6, 2) for run in runs]),
                "mariadbd": spread([round(run[2] / operations * 1e6, 2) for run in runs]),
            },
            "shared_processes": {"mariadbd": MARIADB_SHARED_NOTE},
        }))
    finally:
        drop_databases(db_name)


if __name__ == "__main__":
    main()
