"""A slice of a big book, in-process: take it, write it to MariaDB, load it back.

Builds a core holding --resting open orders (1,000,000 by default, on distinct
prices as `engine_rpc.py big` places them, from 1,000 funded users) and --stops
stop orders (100,000 by default, on distinct stop prices, as `core_bench.py
--stops` places them), then times
`take_snapshot` (the part that holds the core), `write_slice` and `load_slice`
into a fresh engine, and checks the loaded book and stops equal the original.  With
--row-by-row the load reads every row through the driver instead of packed
pages, for comparison.  Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.core_bench import add_resting_stops, build_engine
from common.config import DatabaseConfig
from common.storage import open_database
from matchengine import slice as slices
from matchengine.engine import Engine
from tests.support import drop_databases, mysql_query, unique_name


def fill(resting: int, users: int, stops: int) -> Engine:
    engine, commands = build_engine(users)
    now = time.time()
    for i in range(resting):
        side = 1 + (i & 1)
        price = 11000 + (i % 50000) * 0.01 if side == 1 else 9000 - (i % 50000) * 0.01
        commands.put_limit([1 + i % users, "BTCUSDT", side, "0.01", f"{price:.2f}", "0.001", "0.001", "bench"], now)
    add_resting_stops(commands, stops, users)
    return engine


def book(engine: Engine) -> list[tuple[object, ...]]:
    orders = [(o.id, o.user, o.price, o.left, o.freeze) for m in engine.markets.values()
              for side in (m.asks, m.bids) for o in side]
    stops = [(s.id, s.user, s.stop_price, s.amount, s.freeze) for m in engine.markets.values()
             for trigger in (m.stops.low, m.stops.high) for s in trigger]
    return [*orders, *stops]


async def run(args: argparse.Namespace, db_name: str) -> dict[str, object]:
    engine = fill(args.resting, args.users, args.stops)
    db = open_database(DatabaseConfig(host="127.0.0.1", user="root", name=db_name))
    await db.start()
    await slices.ensure_log_tables(db)
    started = time.perf_counter()
    snapshot = slices.take_snapshot(engine, 1)
    took = time.perf_counter() - started
    started = time.perf_counter()
    info = await slices.write_slice(db, snapshot, int(time.time()), 86400, 1)
    written = time.perf_counter() - started
    size = mysql_query(db_name, "SELECT SUM(data_length + index_length) FROM information_schema.tables "
                                "WHERE table_schema = %s AND table_name LIKE 'slice\\_%%'", (db_name,))[0][0]
    loaded, _ = build_engine(0)
    cpu, started = time.process_time(), time.perf_counter()
    if args.row_by_row:
        with mock.patch("common.storage.fetch_packed", mock.AsyncMock(return_value=None)):
            await slices.load_slice(db, loaded, info)
    else:
        await slices.load_slice(db, loaded, info)
    load_seconds, load_cpu = time.perf_counter() - started, time.process_time() - cpu
    await db.close()
    assert book(loaded) == book(engine)
    return {
        "bench": "slice",
        "resting_orders": args.resting,
        "stops": args.stops,
        "read": "row by row" if args.row_by_row else "packed pages",
        "snapshot_seconds": round(took, 3),
        "write_seconds": round(written, 3),
        "size_mb": round(int(size or 0) / 2**20, 1),
        "load_seconds": round(load_seconds, 3),
        "load_cpu_us_per_order": round(load_cpu / args.resting * 1e6, 2),  # stops included in the time
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--resting", type=int, default=1_000_000)
    ap.add_argument("--stops", type=int, default=100_000)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--row-by-row", action="store_true")
    args = ap.parse_args()
    db_name = unique_name("bench_slice")
    try:
        print(json.dumps(asyncio.run(run(args, db_name))))
    finally:
        drop_databases(db_name)


if __name__ == "__main__":
    main()
