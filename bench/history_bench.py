"""How fast the publisher turns a committed operation log into history rows and Kafka messages.

The sustained order rate of the matchengine with full history is bounded by
this: the engine answers as fast as its operation log commits, and the
publisher (a replica following that log) must keep up.  This bench writes an
operation log the way the engine does (1,000 funded users, a book of 10,000
resting orders, then the load_http.py order stream), starts the publisher as
its own process on it from nothing, and times it until every history row and
message is written (its positions in the databases reach the log's last
operation).  Prints one JSON object: `written_orders_per_s` and rows/s over
`catch_up_s`, and the CPU µs the publisher, MariaDB (the machine's shared
server) and the broker spent per order and per row over that span.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    MARIADB_SHARED_NOTE,
    CpuSpan,
    PublisherPositions,
    history_rows,
    mariadb_pid,
    throughput_report,
    wait_written,
    write_operation_log,
)
from common.config import Section
from matchengine.commands import Commands
from matchengine.config import load_config
from matchengine.engine import Engine
from tests.support import Broker, drop_databases, engine_config, mysql_connect, unique_name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--book", type=int, default=10000)
    ap.add_argument("--orders", type=int, default=50000)
    args = ap.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench_history_"))
    broker = Broker().start()
    log_db, history_db = unique_name("bench_log"), unique_name("bench_history")
    config = engine_config(workdir, log_db=log_db, history_db=history_db, brokers=broker.address,
                           slice_interval=86400)
    config_path = workdir / "matchengine.json"
    config_path.write_text(json.dumps(config))
    publisher = None
    try:
        settings = load_config(Section(config, ""))
        commands = Commands(Engine(settings.assets, settings.markets))
        operations, accepted = asyncio.run(write_operation_log(settings.db_log, commands, users=args.users,
                                                               book=args.book, orders=args.orders, money_prec=2))
        publisher = process = subprocess.Popen([sys.executable, "-m", "matchengine.publisher", str(config_path)],
                                               cwd=Path(__file__).resolve().parent.parent,
                                               env=dict(os.environ, VIABTC_LOCK_DIR=str(workdir)),
                                               stdout=sys.stderr)  # stdout carries the JSON alone
        roles = {"publisher": [process.pid], "mariadbd": [mariadb_pid() or 0], "bench_driver": [os.getpid()]}
        if broker.proc is not None:
            roles["broker"] = [broker.proc.pid]
        meter = CpuSpan(roles).start()
        positions = PublisherPositions(config["db_log"], config["db_history"])

        try:
            seconds = wait_written(positions, operations, meter=meter, alive=lambda: process.poll() is None)
        finally:
            positions.close()
        usage = meter.stop()
        conn = mysql_connect()
        try:
            rows = history_rows(conn, history_db)
        finally:
            conn.close()
        # the operation log was written before the publisher started: there is no acknowledged rate here,
        # only the rate at which the publisher writes what a committed log holds
        report = throughput_report(acked=accepted, load_s=0.0, catch_up_s=seconds, usage=usage,
                                   shared={"mariadbd": MARIADB_SHARED_NOTE})
        for key in ("acked_orders", "acked_orders_per_s", "load_s"):
            report.pop(key)
        print(json.dumps({
            "bench": "history_catch_up",
            "operations": operations,
            "orders": accepted,
            "history_rows": rows,
            "rows_per_order": round(rows / accepted, 2),
            **report,
            "rows_per_s": round(rows / seconds),
            "cpu_us_per_row": {role: round(us * accepted / rows, 2) for role, us in report["cpu_us_per_order"].items()},
        }))
    finally:
        if publisher is not None:
            publisher.terminate()
            publisher.wait()
        broker.stop()
        drop_databases(log_db, history_db)


if __name__ == "__main__":
    main()
