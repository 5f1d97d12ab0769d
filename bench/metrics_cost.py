"""What collecting the metrics costs the engine per order: CPU µs with and without, in the same run.

Two identical engines (1,000 funded users, a book of 10,000 resting orders)
each behind an `RpcServer` and an `EngineService`, as in the matchengine, take
the same order stream as RPC frames through `RpcServer.execute` (the parse of
the params, the core, the operation-log row, the reply frame).  One counts as
the daemon does (requests by command and code, a sample of them timed); the
other has the counting switched off (`count_requests=False`).  The stream is
cut into `--runs` chunks; each chunk goes to both engines in slices of
`--slice` orders, alternating which goes first, and the CPU time
(`time.process_time`) of each is summed.  Everything else the engine counts
is read at scrape time, so it costs nothing per order.  Network, MySQL and the publisher are
left out: their CPU does not depend on the metrics, so leaving them out makes
the share measured here an upper bound of the share in the daemon.

Also timed: one scrape of ``/metrics`` (the exposition of every metric).

    .venv/bin/python bench/metrics_cost.py [--orders 200000] [--runs 10] > metrics_cost.json
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import cast

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.core_bench import build_engine, order_stream
from common.config import ServerConfig, parse_address
from common.metrics import exposition
from common.rpc import RpcServer
from common.rpc.codec import Frame
from common.storage import Database
from matchengine.commands import CMD_ORDER_PUT_LIMIT
from matchengine.operlog import OperlogWriter
from matchengine.server import EngineService, PublisherState


def engine_server(users: int, book: list[list[object]], counted: bool) -> RpcServer:
    engine, commands = build_engine(users)
    now = time.time()
    for params in book:
        commands.put_limit(params, now)
    operlog = OperlogWriter(cast(Database, None), 0)  # rows are queued, never written: no I/O here
    service = EngineService(engine, operlog, durable=False, cache_timeout=0.45, max_publish_lag=1 << 60,
                            publisher=PublisherState())
    config = ServerConfig(bind=[parse_address("tcp@127.0.0.1:0")], max_pkg_size=1 << 20)
    return RpcServer(config, service.handlers(), name="matchengine", count_requests=counted)


def cpu_seconds(server: RpcServer, frames: list[Frame]) -> float:
    replies: list[bytes] = []
    send = replies.append
    execute = server.execute
    started = time.process_time()
    for frame in frames:
        execute(frame, send)
    spent = time.process_time() - started
    assert len(replies) == len(frames)
    return spent


def run_pair(servers: dict[str, RpcServer], frames: list[Frame], slice_size: int, first: str) -> dict[str, float]:
    """CPU µs per order of each server over `frames`, taken slice by slice, the two alternating (so that
    what else the machine does weighs on both alike)."""
    spent = dict.fromkeys(servers, 0.0)
    names = sorted(servers, key=lambda name: name != first)
    gc.collect()
    for start in range(0, len(frames), slice_size):
        part = frames[start:start + slice_size]
        for name in names:
            spent[name] += cpu_seconds(servers[name], part)
        names.reverse()
    return {name: seconds / len(frames) * 1e6 for name, seconds in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=200_000, help="orders in the stream (split over the runs)")
    parser.add_argument("--runs", type=int, default=10, help="chunks, each timed on both engines")
    parser.add_argument("--slice", type=int, default=200, help="orders timed at a time, alternating the engines")
    parser.add_argument("--same", action="store_true", help="both engines count nothing: the noise floor")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--book", type=int, default=10_000)
    parser.add_argument("--taker-ratio", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rnd = random.Random(args.seed)
    book = order_stream(rnd, args.book, args.users, 0.0, band=200)
    stream = order_stream(rnd, args.orders, args.users, args.taker_ratio, band=20)
    frames = [Frame(CMD_ORDER_PUT_LIMIT, 0, 0, i, i, b"", orjson.dumps(params)) for i, params in enumerate(stream)]
    with_metrics = engine_server(args.users, book, counted=not args.same)
    without = engine_server(args.users, book, counted=False)

    chunk = len(frames) // args.runs
    runs: list[dict[str, float]] = []
    for run in range(args.runs):
        part = frames[run * chunk:(run + 1) * chunk]
        figures = run_pair({"with": with_metrics, "without": without}, part, args.slice,
                           "with" if run % 2 == 0 else "without")
        figures["overhead_pct"] = (figures["with"] / figures["without"] - 1) * 100
        runs.append(figures)

    scrape_started = time.perf_counter()
    body = exposition()
    scrape_ms = (time.perf_counter() - scrape_started) * 1000

    def spread(key: str) -> dict[str, float]:
        values = [run[key] for run in runs]
        return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
                "max": round(max(values), 3)}

    print(json.dumps({
        "orders_per_run": chunk,
        "runs": [{key: round(value, 3) for key, value in run.items()} for run in runs],
        "cpu_us_per_order_with_metrics": spread("with"),
        "cpu_us_per_order_without_metrics": spread("without"),
        "overhead_pct": spread("overhead_pct"),
        "overhead_pct_of_medians": round((statistics.median(r["with"] for r in runs)
                                          / statistics.median(r["without"] for r in runs) - 1) * 100, 3),
        "scrape_ms": round(scrape_ms, 3),
        "scrape_bytes": len(body),
    }, indent=1))


if __name__ == "__main__":
    main()
