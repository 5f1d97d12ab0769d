"""What collecting the metrics costs the engine per order: CPU µs with and without, in the same run.

Two identical engines (1,000 funded users, a book of 10,000 resting orders)
each behind an `RpcServer` and an `EngineService`, as in the matchengine, take
the same order stream as the bytes of RPC frames, `--batch` frames per read,
through the server's connection protocol (`data_received`: the frame decoder,
the request counting, the params parse, the core, the operation-log row, the
reply frames written to a transport that keeps them).  One counts as the
daemon does (requests by command, errors by code, one read in 16 timed); the
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
from typing import Any, cast

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.core_bench import build_engine, order_stream
from common.config import ServerConfig, parse_address
from common.metrics import exposition
from common.rpc import RpcServer
from common.rpc.codec import PKG_REQUEST, encode_frame
from common.storage import Database
from matchengine.commands import CMD_ORDER_PUT_LIMIT
from matchengine.operlog import OperlogWriter
from matchengine.server import EngineService, PublisherState


def engine_server(users: int, book: list[list[object]], counted: bool) -> tuple[RpcServer, OperlogWriter]:
    engine, commands = build_engine(users)
    now = time.time()
    for params in book:
        commands.put_limit(params, now)
    operlog = OperlogWriter(cast(Database, None), 0)  # rows are queued, never written: no I/O here
    service = EngineService(engine, operlog, durable=False, cache_timeout=0.45, max_publish_lag=1 << 60,
                            publisher=PublisherState())
    config = ServerConfig(bind=[parse_address("tcp@127.0.0.1:0")], max_pkg_size=1 << 20)
    return RpcServer(config, service.handlers(), name="matchengine", count_requests=counted), operlog


class KeepingTransport:
    """Stands in for the socket: keeps what is written (counted, then dropped)."""

    def __init__(self) -> None:
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1

    def writelines(self, data: list[bytes]) -> None:
        self.writes += len(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False


class Connection:
    """One client connection of an engine's server, fed reads of frame bytes."""

    def __init__(self, engine: tuple[RpcServer, OperlogWriter]) -> None:
        server, self.operlog = engine
        self.protocol = server._new_stream_connection()
        self.transport = KeepingTransport()
        self.protocol._transport = cast(Any, self.transport)

    def cpu_seconds(self, reads: list[bytes]) -> float:
        feed = self.protocol.data_received
        started = time.process_time()
        for data in reads:
            feed(data)
        spent = time.process_time() - started
        # what the log writer does (untimed): the rows are committed, so writes are never refused for them
        self.operlog._cut_batch()
        self.operlog.committed_id = self.operlog.last_id
        return spent


def run_pair(connections: dict[str, Connection], reads: list[bytes], slice_size: int, first: str,
             orders: int) -> dict[str, float]:
    """CPU µs per order of each engine over `reads`, taken slice by slice, the two alternating (so that
    what else the machine does weighs on both alike)."""
    spent = dict.fromkeys(connections, 0.0)
    names = sorted(connections, key=lambda name: name != first)
    gc.collect()
    for start in range(0, len(reads), slice_size):
        part = reads[start:start + slice_size]
        for name in names:
            spent[name] += connections[name].cpu_seconds(part)
        names.reverse()
    return {name: seconds / orders * 1e6 for name, seconds in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=200_000, help="orders in the stream (split over the runs)")
    parser.add_argument("--runs", type=int, default=10, help="chunks, each timed on both engines")
    parser.add_argument("--batch", type=int, default=8, help="frames per read (the engine sees ~64 under load)")
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
    frames = [encode_frame(CMD_ORDER_PUT_LIMIT, PKG_REQUEST, i, i, orjson.dumps(params))
              for i, params in enumerate(stream)]
    reads = [b"".join(frames[i:i + args.batch]) for i in range(0, len(frames), args.batch)]
    with_metrics = Connection(engine_server(args.users, book, counted=not args.same))
    without = Connection(engine_server(args.users, book, counted=False))

    chunk = len(reads) // args.runs
    runs: list[dict[str, float]] = []
    for run in range(args.runs):
        part = reads[run * chunk:(run + 1) * chunk]
        figures = run_pair({"with": with_metrics, "without": without}, part, max(1, args.slice // args.batch),
                           "with" if run % 2 == 0 else "without", len(part) * args.batch)
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
        "orders_per_run": chunk * args.batch,
        "frames_per_read": args.batch,
        "replies_written": with_metrics.transport.writes,
        "errors_replied": sum(with_metrics.protocol._server.requests.errors.values()),
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
