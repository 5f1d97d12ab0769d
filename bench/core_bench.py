"""Throughput of the pure matching core (no I/O), one core.

1,000 funded users, a book of 10,000 resting orders around the mid price, then
the order stream of ../shared/bench/load_http.py (half the orders priced to
cross the whole resting band).  Orders go through `Commands.put_limit`, so the
figure includes parameter parsing, result building and stop firing, as over RPC.
Prints one JSON object.

    --stops N    N stop orders rest before the stream (half stop-limit asks below the
                 traded band, half stop-market bids above it, on N distinct prices):
                 none fires; compare orders_per_s with a run without them.
    --firing N   the same stream on two identical engines, the second with N stop-limit
                 orders inside the traded band (after a first deal at the mid price) that
                 the stream's deals fire, each placing an order that rests out of the
                 stream's reach: cpu_us_per_fired_stop is the difference in CPU time over
                 the stops fired.
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


def prepared(args: argparse.Namespace) -> tuple[Engine, Commands, list[list[object]]]:
    """A funded engine with its resting book, and the stream to time (the same for the same seed)."""
    rnd = random.Random(args.seed)
    engine, commands = build_engine(args.users)
    now = time.time()
    for params in order_stream(rnd, args.book, args.users, 0.0, band=200):
        commands.put_limit(params, now)
    return engine, commands, order_stream(rnd, args.orders, args.users, args.taker_ratio, band=20)


def add_resting_stops(commands: Commands, count: int, users: int) -> None:
    """Stops no deal of the stream reaches: asks below 9,000, bids above 11,000, one price each."""
    now = time.time()
    commands.put_limit([1, "BTCUSDT", 1, "0.01", "10000", "0", "0", ""], now)  # a first deal: a last price
    commands.put_limit([2, "BTCUSDT", 2, "0.01", "10000", "0", "0", ""], now)
    for i in range(count):
        user = 1 + i % users
        if i % 2:
            commands.put_stop_limit([user, "BTCUSDT", 1, "0.01", f"{9000 - i * 0.0001:.4f}", "8000", "0.001", "0.001",
                                     "bench"], now)
        else:
            commands.put_stop_market([user, "BTCUSDT", 2, "200", f"{11000 + i * 0.0001:.4f}", "0.001", "bench"], now)


def add_firing_stops(commands: Commands, count: int, users: int) -> None:
    """Stop-limit orders inside the traded band (LOW just under the mid price, HIGH just over it) whose
    orders rest far from the stream's prices."""
    now = time.time()
    commands.put_limit([1, "BTCUSDT", 1, "0.01", "10000", "0", "0", ""], now)
    commands.put_limit([2, "BTCUSDT", 2, "0.01", "10000", "0", "0", ""], now)
    for i in range(count):
        user = 1 + i % users
        offset = (i // 2) % 150 * 0.01 + 0.01
        if i % 2:
            commands.put_stop_limit([user, "BTCUSDT", 1, "0.01", f"{10000 - offset:.2f}", "10500", "0.001", "0.001",
                                     "bench"], now)
        else:
            commands.put_stop_limit([user, "BTCUSDT", 2, "0.01", f"{10000 + offset:.2f}", "9500", "0.001", "0.001",
                                     "bench"], now)


def timed(engine: Engine, commands: Commands, stream: list[list[object]]) -> dict[str, float]:
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
    return {"seconds": time.perf_counter() - t0, "cpu": time.process_time() - cpu0,
            "deals": engine.deal_id - deals0, "errors": errors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--book", type=int, default=10000, help="resting orders before the stream")
    ap.add_argument("--orders", type=int, default=200000)
    ap.add_argument("--taker-ratio", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stops", type=int, default=0, help="resting stops that never fire")
    ap.add_argument("--firing", type=int, default=0, help="stops the stream fires (measured against a twin)")
    args = ap.parse_args()

    engine, commands, stream = prepared(args)
    market = engine.markets["BTCUSDT"]
    extra: dict[str, object] = {}
    if args.firing:
        twin, twin_commands, _ = prepared(args)
        add_firing_stops(twin_commands, args.firing, args.users)
        add_firing_stops(commands, 0, args.users)  # the same first deal, no stops
        base = timed(engine, commands, stream)
        with_stops = timed(twin, twin_commands, stream)
        fired = args.firing - len(twin.markets["BTCUSDT"].stops.stops)
        extra = {"stops_placed": args.firing, "stops_fired": fired,
                 "cpu_us_per_order_with_stops": round(with_stops["cpu"] / args.orders * 1e6, 2),
                 "cpu_us_per_fired_stop": round((with_stops["cpu"] - base["cpu"]) / fired * 1e6, 2) if fired else None}
    else:
        if args.stops:
            add_resting_stops(commands, args.stops, args.users)
            extra = {"resting_stops": len(market.stops.stops)}
        base = timed(engine, commands, stream)
    print(json.dumps({
        "bench": "core",
        "orders": args.orders,
        "rejected": base["errors"],
        "seconds": round(base["seconds"], 3),
        "orders_per_s": round(args.orders / base["seconds"]),
        "deals_per_s": round(base["deals"] / base["seconds"]),
        "deals_per_order": round(base["deals"] / args.orders, 3),
        "cpu_us_per_order": round(base["cpu"] / args.orders * 1e6, 2),
        **extra,
        "resting_orders_after": market.asks.count + market.bids.count,
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
