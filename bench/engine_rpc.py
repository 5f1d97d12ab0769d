"""matchengine over its RPC port, with durable answers, full history on MariaDB and Kafka.

Modes (each prints one JSON object):
  throughput  1,000 funded users, a book of 10,000 resting orders, then the
              order stream of load_http.py with many requests in flight:
              acknowledged orders/s, orders/s counted until the publisher
              has written every history row and Kafka message of them
              (`written_orders_per_s`, over `load_s + catch_up_s`), deals/s,
              rejections, latency, and the CPU µs per order of every process
              (engine, publisher, MariaDB, broker, this load generator)
              counted over that whole span; then a restart to measure
              replay speed.
  big         1,000,000 resting orders: engine RSS, slice time and size,
              restart to first answer.

The engine, its publisher, a fresh pair of MariaDB databases and a broker are
started here; the databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    MARIADB_SHARED_NOTE,
    CpuSpan,
    PipelinedRpc,
    PublisherPositions,
    engine_status,
    latency_ms,
    mariadb_pid,
    order_stream,
    proc_rss_mb,
    process_tree,
    run_stream,
    throughput_report,
    wait_written,
)
from tests.support import (
    Broker,
    Daemon,
    cli_command,
    cli_port,
    drop_databases,
    engine_config,
    engine_port,
    mysql_query,
    unique_name,
)


def start_engine(daemon: Daemon, timeout: float = 600) -> float:
    started = time.monotonic()
    daemon.start(wait=False)
    daemon.wait_ready(timeout, port=cli_port(daemon.config))
    return time.monotonic() - started


def status(daemon: Daemon) -> dict[str, int]:
    return engine_status(cli_port(daemon.config))


def wait_caught_up(daemon: Daemon, meter: CpuSpan | None = None) -> float:
    """Seconds until the publisher has written the history and messages of every operation logged so far."""
    if not daemon.config.get("publisher", True):
        return 0.0
    positions = PublisherPositions(daemon.config["db_log"], daemon.config["db_history"])
    try:
        return wait_written(positions, status(daemon)["operlog last ID"], meter=meter)
    finally:
        positions.close()


async def connections(daemon: Daemon, count: int) -> list[PipelinedRpc]:
    return [await PipelinedRpc.connect("127.0.0.1", engine_port(daemon.config)) for _ in range(count)]


async def fund(conns: list[PipelinedRpc], users: int) -> None:
    bodies = []
    for user in range(1, users + 1):
        bodies.append(b'[%d, "BTC", "deposit", %d, "1000000", {}]' % (user, user * 2))
        bodies.append(b'[%d, "USDT", "deposit", %d, "10000000000", {}]' % (user, user * 2 + 1))
    tally, _ = await run_stream(conns, 102, bodies, 256)
    assert tally.accepted == len(bodies), tally.errors


def engine_processes(daemon: Daemon, broker: Broker) -> dict[str, list[int]]:
    roles = {"matchengine": [daemon.pid], "publisher": process_tree(daemon.pid)[1:],
             "load_generator": [os.getpid()]}
    if broker.proc is not None:
        roles["broker"] = [broker.proc.pid]
    mariadb = mariadb_pid()
    if mariadb is not None and "sqlite" not in daemon.config["db_log"]:
        roles["mariadbd"] = [mariadb]
    return roles


def replay_rate(daemon: Daemon) -> dict[str, Any]:
    daemon.stop()
    first_answer = start_engine(daemon)
    text = (Path(daemon.config["log"]["path"] + ".log")).read_text()
    match = re.findall(r"replayed (\d+) operations up to id \d+ in ([0-9.]+) s", text)[-1]
    count, seconds = int(match[0]), float(match[1])
    return {"operations": count, "seconds": seconds, "operations_per_s": round(count / seconds) if seconds else None,
            "restart_to_first_answer_s": round(first_answer, 3)}


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


async def throughput(args: argparse.Namespace, daemon: Daemon, broker: Broker) -> dict[str, Any]:
    conns = await connections(daemon, args.connections)
    await fund(conns, args.users)
    progress("funded")
    rnd = random.Random(1)
    book, _ = await run_stream(conns, 201, order_stream(rnd, args.book, args.users, taker_ratio=0.0, band=200), 256)
    progress(f"book placed: {book.accepted} accepted, {book.errors}")
    wait_caught_up(daemon)
    progress("publisher caught up; streaming orders")
    before = status(daemon)
    bodies = order_stream(rnd, args.orders, args.users)
    meter = CpuSpan(engine_processes(daemon, broker)).start()
    tally, seconds = await run_stream(conns, 201, bodies, args.inflight, args.duration)
    after = status(daemon)
    progress("stream done; waiting until history and messages are written")
    catch_up = wait_caught_up(daemon, meter)
    usage = meter.stop()
    for conn in conns:
        conn.close()
    deals = after["deals last ID"] - before["deals last ID"]
    publisher = daemon.config.get("publisher", True)
    report = throughput_report(acked=tally.accepted, load_s=seconds, catch_up_s=catch_up, usage=usage,
                               shared={"mariadbd": MARIADB_SHARED_NOTE})
    if not publisher:
        report["written_orders_per_s"] = None  # nothing is written without the publisher
    return {
        "bench": "matchengine_rpc",
        "durable_reply": daemon.config.get("durable_reply", True),
        "publisher": publisher,
        "inflight": args.inflight,
        "requests": len(tally.latencies),
        "rejected": tally.errors,
        **report,
        "deals_per_s": round(deals / seconds),
        "latency_ms": latency_ms(tally.latencies),
        "engine_rss_mb": round(proc_rss_mb(daemon.pid), 1),
    }


async def big(args: argparse.Namespace, daemon: Daemon) -> dict[str, Any]:
    conns = await connections(daemon, args.connections)
    await fund(conns, args.users)
    rnd = random.Random(2)
    # resting orders only: bids below 9000, asks above 11000, on distinct prices
    bodies = []
    for i in range(args.resting):
        side = 1 + (i & 1)
        price = 11000 + (i % 50000) * 0.01 if side == 1 else 9000 - (i % 50000) * 0.01
        bodies.append(b'[%d, "BTCUSDT", %d, "0.01", "%.2f", "0.001", "0.001", "bench"]' % (
            1 + rnd.randrange(args.users), side, price))
    tally, seconds = await run_stream(conns, 201, bodies, args.inflight)
    assert tally.accepted == args.resting, tally.errors
    for conn in conns:
        conn.close()
    rss = proc_rss_mb(daemon.pid)
    caught_up = wait_caught_up(daemon)
    slice_started = time.monotonic()
    assert cli_command(daemon.config, "makeslice", timeout=900) == "OK\n"
    slice_seconds = time.monotonic() - slice_started
    log_db = daemon.config["db_log"]["name"]
    stamp = mysql_query(log_db, "SELECT MAX(time) FROM slice_history")[0][0]
    size = mysql_query(log_db, "SELECT SUM(data_length + index_length) FROM information_schema.tables "
                               "WHERE table_schema = %s AND table_name LIKE %s", (log_db, f"slice_%_{stamp}"))[0][0]
    daemon.stop()
    first_answer = start_engine(daemon)
    return {
        "bench": "matchengine_big_book",
        "resting_orders": args.resting,
        "acked_orders_per_s": round(args.resting / seconds),
        "catch_up_s": round(caught_up, 3),
        "written_orders_per_s": round(args.resting / (seconds + caught_up)),
        "engine_rss_mb": round(rss, 1),
        "slice_seconds": round(slice_seconds, 3),
        "slice_size_mb": round(int(size or 0) / 2**20, 1),
        "restart_to_first_answer_s": round(first_answer, 3),
        "engine_rss_after_restart_mb": round(proc_rss_mb(daemon.pid), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("throughput", "big"))
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--book", type=int, default=10000)
    ap.add_argument("--orders", type=int, default=400000)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--inflight", type=int, default=256)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--resting", type=int, default=1_000_000)
    ap.add_argument("--answer-first", action="store_true", help="durable_reply false (the original's mode)")
    ap.add_argument("--sqlite", action="store_true")
    ap.add_argument("--no-publisher", action="store_true",
                    help="engine and operation log only (no history, Kafka or slices): the RPC path alone")
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    workdir = Path(tempfile.mkdtemp(prefix="bench_engine_"))
    broker = Broker().start()
    log_db, history_db = unique_name("bench_log"), unique_name("bench_history")
    config = engine_config(workdir, log_db=log_db, history_db=history_db, brokers=broker.address,
                           sqlite=args.sqlite, durable_reply=not args.answer_first, slice_interval=86400,
                           publisher=not args.no_publisher)
    config["svr"]["max_pkg_size"] = 10240
    daemon = Daemon("matchengine", config, workdir)
    try:
        start_engine(daemon)
        if args.mode == "throughput":
            result = asyncio.run(throughput(args, daemon, broker))
            result["replay"] = replay_rate(daemon)
        else:
            result = asyncio.run(big(args, daemon))
        print(json.dumps(result))
    finally:
        daemon.stop()
        broker.stop()
        if not args.sqlite:
            drop_databases(log_db, history_db)


if __name__ == "__main__":
    main()
