"""How fast the publisher turns a committed operation log into history rows and Kafka messages.

The sustained order rate of the matchengine with full history is bounded by
this: the engine answers as fast as its operation log commits, and the
publisher (a replica following that log) must keep up.  This bench writes an
operation log the way the engine does (1,000 funded users, a book of 10,000
resting orders, then the load_http.py order stream), starts the publisher as
its own process on it from nothing, and times it until every history row and
message is written.  Prints one JSON object: orders/s and rows/s of catch-up
and the CPU the publisher, MariaDB and the broker spent per order and per row.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pymysql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import CpuMeter, pids_named, write_operation_log
from common.config import Section
from matchengine.commands import Commands
from matchengine.config import load_config
from matchengine.engine import Engine
from tests.support import Broker, drop_databases, engine_config, mysql_connect, mysql_query, unique_name

HISTORY_KINDS = ("balance_history", "order_history", "order_detail", "deal_history", "user_deal_history")


def caught_up(conn: Any, log_db: str, history_db: str, operations: int) -> bool:
    """Both the history stripes and the messages are at `operations` (one cheap query on a held connection)."""
    with conn.cursor() as cur:
        try:
            cur.execute(f"SELECT (SELECT MIN(oper_id) FROM `{history_db}`.history_position), "
                        f"(SELECT oper_id FROM `{log_db}`.message_position WHERE id = 1)")
        except pymysql.err.ProgrammingError:  # the publisher has not created its tables yet
            return False
        history, messages = cur.fetchone()
    conn.commit()
    return (history or 0) >= operations and (messages or 0) >= operations


def exact_rows(db_name: str) -> int:
    tables = [r[0] for r in mysql_query(db_name, "SHOW TABLES")]
    total = 0
    for table in tables:
        if table.startswith(HISTORY_KINDS):
            total += mysql_query(db_name, f"SELECT COUNT(*) FROM `{table}`")[0][0]
    return total


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
        mariadb = pids_named("mariadbd")
        publisher = subprocess.Popen([sys.executable, "-m", "matchengine.publisher", str(config_path)],
                                     cwd=Path(__file__).resolve().parent.parent,
                                     env=dict(os.environ, VIABTC_LOCK_DIR=str(workdir)))
        processes = {"publisher": publisher.pid, "mariadbd": mariadb[-1]}
        tansu = pids_named("tansu")
        if tansu:
            processes["broker"] = tansu[-1]
        meter = CpuMeter(processes)
        meter.start()
        started = time.monotonic()
        conn = mysql_connect()
        while not caught_up(conn, log_db, history_db, operations):
            time.sleep(0.2)
            assert publisher.poll() is None, "the publisher exited"
        conn.close()
        seconds = time.monotonic() - started
        rows = exact_rows(history_db)
        cpu = meter.stop(accepted, seconds)
        del cpu["load_generator"]
        for name, figures in cpu.items():
            if name != "total_cpu_us_per_order":
                figures["cpu_us_per_row"] = round(figures["cpu_us_per_order"] * accepted / rows, 2)
        cpu.pop("total_cpu_us_per_order")
        print(json.dumps({
            "bench": "history_catch_up",
            "operations": operations,
            "orders": accepted,
            "history_rows": rows,
            "rows_per_order": round(rows / accepted, 2),
            "seconds": round(seconds, 3),
            "orders_per_s": round(accepted / seconds),
            "rows_per_s": round(rows / seconds),
            "cpu": cpu,
        }))
    finally:
        if publisher is not None:
            publisher.terminate()
            publisher.wait()
        broker.stop()
        drop_databases(log_db, history_db)


if __name__ == "__main__":
    main()
