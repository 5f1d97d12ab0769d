"""Throughput of the pure matching core (no I/O), one core.

1,000 funded users, a book of 10,000 resting orders around the mid price, then
the order stream of ../shared/bench/load_http.py (half the orders priced to
cross the whole resting band).  Orders go through `Commands.put_limit`, so the
figure includes parameter parsing and result building, as over RPC.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from decimal import Decimal
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import order_stream as harness_stream
from matchengine.balance import Asset
from matchengine.commands import Commands
from matchengine.engine import Engine
from matchengine.market import MarketSpec


def order_stream(rnd: random.Random, count: int, users: int, taker_ratio: float, band: int) -> list[list[object]]:
    """The load_http.py order stream as params lists (the RPC bench sends the same as bytes)."""
    return [orjson.loads(body) for body in harness_stream(rnd, count, users, taker_ratio=taker_ratio, band=band,
                                                          money_prec=8)]


def build_engine(users: int) -> tuple[Engine, Commands]:
    engine = Engine([Asset("BTC", 12, 8), Asset("USDT", 12, 8)],
                    [MarketSpec("BTCUSDT", "BTC", "USDT", 8, 8, 4, Decimal("0.001"))])
    commands = Commands(engine)
    now = time.time()
    for user in range(1, users + 1):
        commands.balance_update([user, "BTC", "deposit", user, "1000000", {}], now)
        commands.balance_update([user, "USDT", "deposit", user, "10000000000", {}], now)
    return engine, commands


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--book", type=int, default=10000, help="resting orders before the stream")
    ap.add_argument("--orders", type=int, default=200000)
    ap.add_argument("--taker-ratio", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    rnd = random.Random(args.seed)
    engine, commands = build_engine(args.users)
    market = engine.markets["BTCUSDT"]
    now = time.time()
    for params in order_stream(rnd, args.book, args.users, 0.0, band=200):
        commands.put_limit(params, now)
    stream = order_stream(rnd, args.orders, args.users, args.taker_ratio, band=20)

    deals0 = engine.deal_id
    errors = 0
    put_limit = commands.put_limit
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for params in stream:
        try:
            put_limit(params, t0)
        except Exception:
            errors += 1
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    deals = engine.deal_id - deals0
    print(json.dumps({
        "bench": "core",
        "orders": args.orders,
        "rejected": errors,
        "seconds": round(elapsed, 3),
        "orders_per_s": round(args.orders / elapsed),
        "deals_per_s": round(deals / elapsed),
        "deals_per_order": round(deals / args.orders, 3),
        "cpu_us_per_order": round(cpu / args.orders * 1e6, 2),
        "resting_orders_after": market.asks.count + market.bids.count,
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
