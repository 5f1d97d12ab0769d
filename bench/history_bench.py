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

With `--sqlite` the publisher writes to SQLite files, as the embedded default
(`./run.sh`) does; the publisher's CPU is then also split by thread (its main
thread; the others are the SQLite worker threads).  `--log FILE` keeps the
operation log written in FILE (written there the first time, copied from there
after), so that runs publish the very same stream; `--digest` prints a sha256
of every history table's content (SQLite), to show two versions wrote the same
rows.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    HISTORY_KINDS,
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
    ap.add_argument("--sqlite", action="store_true", help="SQLite files for MySQL, as ./run.sh")
    ap.add_argument("--log", type=Path, help="SQLite only: the operation log file to reuse (written if missing)")
    ap.add_argument("--digest", action="store_true", help="SQLite only: sha256 of the history tables' content")
    ap.add_argument("--ports", type=int, nargs=3, metavar=("BROKER", "SVR", "CLI"),
                    help="loopback ports to use instead of free ones")
    args = ap.parse_args()
    if (args.log or args.digest) and not args.sqlite:
        ap.error("--log and --digest need --sqlite")

    workdir = Path(tempfile.mkdtemp(prefix="bench_history_"))
    broker = Broker(port=args.ports[0] if args.ports else None).start()
    log_db, history_db = unique_name("bench_log"), unique_name("bench_history")
    ports = ({"svr": {"bind": [f"tcp@127.0.0.1:{args.ports[1]}"], "max_pkg_size": 10240, "buf_limit": 100,
                      "heartbeat_check": False}, "cli": f"tcp@127.0.0.1:{args.ports[2]}"} if args.ports else {})
    config = engine_config(workdir, log_db=log_db, history_db=history_db, brokers=broker.address,
                           slice_interval=86400, sqlite=args.sqlite, **ports)
    config_path = workdir / "matchengine.json"
    config_path.write_text(json.dumps(config))
    publisher = None
    try:
        settings = load_config(Section(config, ""))
        commands = Commands(Engine(settings.assets, settings.markets))
        kept = args.log.with_suffix(".json") if args.log else None
        if args.log and kept and args.log.exists():
            shutil.copyfile(args.log, config["db_log"]["sqlite"])
            operations, accepted = json.loads(kept.read_text())
        else:
            operations, accepted = asyncio.run(write_operation_log(settings.db_log, commands, users=args.users,
                                                                   book=args.book, orders=args.orders, money_prec=2))
            if args.log and kept:
                shutil.copyfile(config["db_log"]["sqlite"], args.log)
                kept.write_text(json.dumps([operations, accepted]))
        publisher = process = subprocess.Popen([sys.executable, "-m", "matchengine.publisher", str(config_path)],
                                               cwd=Path(__file__).resolve().parent.parent,
                                               env=dict(os.environ, VIABTC_LOCK_DIR=str(workdir)),
                                               stdout=sys.stderr)  # stdout carries the JSON alone
        roles = {"publisher": [process.pid], "bench_driver": [os.getpid()]}
        if not args.sqlite:
            roles["mariadbd"] = [mariadb_pid() or 0]
        if broker.proc is not None:
            roles["broker"] = [broker.proc.pid]
        meter = CpuSpan(roles).start()
        positions = PublisherPositions(config["db_log"], config["db_history"])

        try:
            seconds = wait_written(positions, operations, meter=meter, alive=lambda: process.poll() is None)
        finally:
            positions.close()
        usage = meter.stop()
        threads = thread_cpu(process.pid)
        digest: dict[str, str] = {}
        if args.sqlite:
            rows, digest = sqlite_history(config["db_history"]["sqlite"])
        else:
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
            "publisher_thread_cpu_us_per_order": {
                "main": round(threads.get(process.pid, 0.0) * 1e6 / accepted, 1),
                "others": round(sum(s for t, s in threads.items() if t != process.pid) * 1e6 / accepted, 1),
                "busiest_other": round(max([s for t, s in threads.items() if t != process.pid], default=0.0) * 1e6
                                       / accepted, 1)},
            **({"history_sha256": digest} if args.digest else {}),
        }))
    finally:
        if publisher is not None:
            publisher.terminate()
            publisher.wait()
        broker.stop()
        drop_databases(log_db, history_db)


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each live thread of process `pid` since it started, by thread id."""
    seconds: dict[int, float] = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            seconds[int(task)] = proc_cpu_of(f"/proc/{pid}/task/{task}/stat")
        except (OSError, ValueError, IndexError):
            continue
    return seconds


def proc_cpu_of(stat_path: str) -> float:
    with open(stat_path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sqlite_history(path: str) -> tuple[int, dict[str, str]]:
    """(history rows, sha256 of each kind of table: every shard's rows in rowid order, each value with its
    SQLite type) of a SQLite history file."""
    conn = sqlite3.connect(path)
    try:
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                  if name.startswith((*HISTORY_KINDS, "stop_history")) and not name.endswith("_example")]
        count = 0
        digests: dict[str, Any] = {}
        for table in sorted(tables, key=lambda t: (t.rsplit("_", 1)[0], int(t.rsplit("_", 1)[1]))):
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info(`{table}`)")]
            typed = ", ".join(f"typeof(`{c}`), `{c}`" for c in columns)
            digest = digests.setdefault(table.rsplit("_", 1)[0], hashlib.sha256())
            digest.update(table.encode())
            for row in conn.execute(f"SELECT rowid, {typed} FROM `{table}` ORDER BY rowid"):
                digest.update(repr(row).encode())
                count += 1
        return count, {kind: d.hexdigest() for kind, d in digests.items()}
    finally:
        conn.close()


if __name__ == "__main__":
    main()
