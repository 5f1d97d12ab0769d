"""Orders/s end to end through accesshttp with wrk and shared/bench/orders.lua, counted until history is written.

Starts a Kafka-compatible broker, a matchengine on fresh MariaDB databases and
an accesshttp (or, with --attach URL --engine-config PATH, uses a running
stack), funds the users as ``load_http.py fund`` does (balance.update of both
assets for every user), then runs the order stream of orders.lua through HTTP
with wrk at each concurrency (1, 16 and 64 by default).  After each wrk run it
waits until the publisher has written the history rows and Kafka messages of
every acknowledged order (its positions in the databases reach the engine's
last operation) before the next run starts.

Prints one JSON object; per run: the acknowledged orders/s
(`acked_orders_per_s`), the orders/s counted until everything is written
(`written_orders_per_s`, over `load_s + catch_up_s`), refused replies,
latency percentiles, and the CPU µs per acknowledged order of every process
(accesshttp, matchengine, its publisher, mariadbd, the broker, wrk, this
script) counted over that whole span, with the whole machine's figure beside
them.  MariaDB is the machine's shared server: its CPU includes whatever else
queried it during the span.

    .venv/bin/python bench/http_orders.py [--seconds 15] [--concurrency 1,16,64] [--workers 1]
    .venv/bin/python bench/http_orders.py --attach http://127.0.0.1:8080/ --engine-config data/matchengine.json \\
        --pids 1234,1240

wrk is Debian's package (``apt-get install wrk``); without it the bench says so
and exits with status 2.  orders.lua is looked up in --lua, $ORDERS_LUA, then
shared/bench/orders.lua beside the repository and /work/shared/bench/orders.lua.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pymysql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    MARIADB_SHARED_NOTE,
    CpuSpan,
    PublisherPositions,
    engine_status,
    history_rows,
    mariadb_pid,
    process_tree,
    throughput_report,
    wait_written,
)
from tests.support import (
    Broker,
    Daemon,
    base_config,
    cli_port,
    drop_databases,
    engine_config,
    engine_port,
    free_port,
    mysql_query,
    unique_name,
)

ROOT = Path(__file__).resolve().parent.parent
MARKET = "BTCUSDT"
ASSETS = [{"name": "BTC", "prec_save": 12, "prec_show": 8}, {"name": "USDT", "prec_save": 12, "prec_show": 8}]
MARKETS = [{"name": MARKET, "stock": {"name": "BTC", "prec": 8}, "money": {"name": "USDT", "prec": 2},
            "fee_prec": 4, "min_amount": "0.001"}]
READY_TIMEOUT = 180.0


def find_file(explicit: str | None, env: str, name: str) -> Path:
    """A file of ../shared/bench (orders.lua, load_http.py): --option, $ENV, beside the repository, /work/shared."""
    candidates = [explicit, os.environ.get(env), ROOT.parent / "shared" / "bench" / name, f"/work/shared/bench/{name}"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise SystemExit(json.dumps({"error": f"{name} not found; pass its path"}))


def rpc_port_of(config: dict[str, Any]) -> int:
    return int(config["svr"]["bind"][0].rsplit(":", 1)[1])


def wait_history_tables(database: str, shards: int = 100, timeout: float = 120.0) -> None:
    """Wait until the default server holds the `shards` shard tables of user_deal_history it should."""
    sql = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s AND table_name LIKE %s"
    deadline = time.monotonic() + timeout
    while mysql_query("information_schema", sql, (database, "user\\_deal\\_history\\_%"))[0][0] < shards:
        if time.monotonic() > deadline:
            raise TimeoutError("the publisher did not create the history tables")
        time.sleep(0.1)


def wait_forwarding(url: str, timeout: float = 60.0) -> None:
    """Poll until the gateway forwards market.list to a connected engine."""
    body = b'{"id": 1, "method": "market.list", "params": []}'
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, ValueError), urllib.request.urlopen(
                urllib.request.Request(url, data=body), timeout=5) as reply:
            if json.loads(reply.read()).get("error") is None:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} does not forward market.list")
        time.sleep(0.1)


# ---------------------------------------------------------------- the port's stack

class LocalStack:
    """The port as processes in a scratch directory: broker, matchengine (MariaDB), accesshttp and, with
    `readers`, readhistory and marketprice (Redis through the Sentinel at `sentinel`, else the local Redis)."""

    def __init__(self, workers: int, engine_options: dict[str, Any], *, workdir: Path | None = None,
                 readers: bool = False, readhistory_workers: int = 4, sentinel: str | None = None,
                 log_flag: str = "fatal,error,warn", history_servers: list[tuple[str, int]] | None = None) -> None:
        self.workers = workers
        self.engine_options = engine_options
        self.history_servers = history_servers or []
        self.readers = readers
        self.readhistory_workers = readhistory_workers
        self.sentinel = sentinel
        self.log_flag = log_flag
        self.dir = workdir or Path(tempfile.mkdtemp(prefix="http_orders_"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.databases = [unique_name("bench_log"), unique_name("bench_history")]
        self.redis_prefix = unique_name("bench_mp") + ":"
        self.broker = Broker()
        self.daemons: dict[str, Daemon] = {}

    def _daemon(self, name: str, config: dict[str, Any]) -> Daemon:
        config["log"]["flag"] = self.log_flag
        daemon = Daemon(name, config, self.dir)
        self.daemons[name] = daemon
        return daemon

    def start(self) -> LocalStack:
        self.broker.start()
        config = engine_config(self.dir, log_db=self.databases[0], history_db=self.databases[1],
                               brokers=self.broker.address, assets=ASSETS, markets=MARKETS, **self.engine_options)
        if self.history_servers:
            config["db_history"] = spread_history(config["db_history"], self.history_servers)
        engine = self._daemon("matchengine", config)
        engine.start(wait=False)
        engine.wait_ready(READY_TIMEOUT, port=cli_port(config))
        readhistory_port = marketprice_port = free_port()
        if self.readers:
            wait_history_tables(self.databases[1], -(-100 // (1 + len(self.history_servers))))
            readhistory = base_config("readhistory", self.dir)
            readhistory.update({
                "svr": {"bind": [f"tcp@127.0.0.1:{free_port()}"], "max_pkg_size": 1000000, "heartbeat_check": False},
                "db_history": config["db_history"],
                "worker_num": self.readhistory_workers,
            })
            self._daemon("readhistory", readhistory).start(timeout=READY_TIMEOUT)
            readhistory_port = rpc_port_of(readhistory)

        def client(name: str, port: int) -> dict[str, Any]:
            return {"name": name, "addr": [f"tcp@127.0.0.1:{port}"], "max_pkg_size": 2000000}

        gateway = base_config("accesshttp", self.dir)
        gateway.update({
            "svr": {"bind": [f"tcp@127.0.0.1:{free_port()}"], "max_pkg_size": 102400},
            "monitor": {"bind": [f"tcp@127.0.0.1:{free_port()}"], "max_pkg_size": 1024},
            "matchengine": client("matchengine", engine_port(config)),
            "marketprice": client("marketprice", marketprice_port),
            "readhistory": client("readhistory", readhistory_port),
            "timeout": 1.0, "worker_num": self.workers, "connect_wait": 0.5,
        })
        self._daemon("accesshttp", gateway).start(timeout=READY_TIMEOUT)
        wait_forwarding(self.url, READY_TIMEOUT)
        if self.readers:
            marketprice = base_config("marketprice", self.dir)
            marketprice.update({
                "svr": {"bind": [f"tcp@127.0.0.1:{marketprice_port}"], "max_pkg_size": 1000000,
                        "heartbeat_check": False},
                "deals": {"brokers": self.broker.address, "topic": "deals", "partition": 0},
                "redis": ({"name": "mymaster", "addr": [self.sentinel]} if self.sentinel
                          else {"host": "127.0.0.1", "port": 6379}),
                "accesshttp": self.url,
                "key_prefix": "" if self.sentinel else self.redis_prefix,
            })
            self._daemon("marketprice", marketprice).start(timeout=READY_TIMEOUT)
        return self

    @property
    def engine(self) -> Daemon:
        return self.daemons["matchengine"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{rpc_port_of(self.daemons['accesshttp'].config)}/"

    def roles(self) -> dict[str, list[int]]:
        """The processes whose CPU is counted, by role (every worker and child included)."""
        engine = self.engine.pid
        roles = {"matchengine": [engine], "publisher": process_tree(engine)[1:]}
        for name in ("accesshttp", "readhistory", "marketprice"):
            if name in self.daemons:
                roles[name] = process_tree(self.daemons[name].pid)
        if self.broker.proc is not None:
            roles["broker"] = [self.broker.proc.pid]
        mariadb = mariadb_pid()
        if mariadb is not None:
            roles["mariadbd"] = [mariadb]
        for host, port in self.history_servers:
            other = mariadb_pid(host, port)
            if other is not None:
                roles[f"mariadbd_{port}"] = [other]
        return roles

    def written_waiter(self) -> Callable[[CpuSpan], float]:
        """Waits until every operation the engine logged so far has its history rows and messages written."""
        config = self.engine.config
        return engine_written_waiter(cli_port(config), config["db_log"], config["db_history"])

    def stop(self) -> None:
        for name in ("marketprice", "accesshttp", "readhistory", "matchengine"):
            if name in self.daemons:
                self.daemons[name].stop(timeout=60)
        self.broker.stop()
        drop_databases(*self.databases)
        for host, port in self.history_servers:
            conn = pymysql.connect(host=host, port=port, user="root", password="", autocommit=True)
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{self.databases[1]}`")
            conn.close()
        if self.readers and not self.sentinel:
            import redis

            client = redis.Redis(host="127.0.0.1", port=6379)
            keys = list(client.scan_iter(match=self.redis_prefix + "*"))
            if keys:
                client.delete(*keys)
            client.close()


def engine_written_waiter(cli: int, db_log: dict[str, Any],
                          db_history: dict[str, Any] | list[dict[str, Any]]) -> Callable[[CpuSpan], float]:
    def wait(meter: CpuSpan) -> float:
        upto = engine_status(cli)["operlog last ID"]
        positions = PublisherPositions(db_log, db_history)
        try:
            return wait_written(positions, upto, meter=meter)
        finally:
            positions.close()

    return wait


def spread_history(database: dict[str, Any], others: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """`db_history` with the 100 shards split evenly, in order, over `database`'s server and `others`."""
    servers = [database] + [{**database, "host": host, "port": port} for host, port in others]
    size = -(-100 // len(servers))
    return [{**server, "shards": f"{i * size}-{min(100, (i + 1) * size) - 1}"} for i, server in enumerate(servers)]


def history_rows_everywhere(db_history: dict[str, Any] | list[dict[str, Any]]) -> int:
    """Rows in every history shard table of every history server."""
    total = 0
    for db in db_history if isinstance(db_history, list) else [db_history]:
        conn = pymysql.connect(host=db.get("host", "127.0.0.1"), port=int(db.get("port", 3306)),
                               user=db.get("user", "root"), password=db.get("pass", ""), autocommit=True)
        try:
            total += history_rows(conn, db["name"])
        finally:
            conn.close()
    return total


# ---------------------------------------------------------------- load

async def fund(url: str, users: int, concurrency: int, stock: str = "1000000", money: str = "10000000000") -> dict[
        str, Any]:
    """balance.update (deposit) of the market's stock and money for users 1..`users`, as load_http.py fund."""
    base = int(time.time() * 1000) % 1_000_000_000 * 1000
    jobs = [(user, asset, amount, base + i) for i, (user, asset, amount) in enumerate(
        (u, a, amt) for u in range(1, users + 1) for a, amt in (("BTC", stock), ("USDT", money)))]
    errors = 0
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def worker() -> None:
            nonlocal errors
            while jobs:
                user, asset, amount, business_id = jobs.pop()
                body = {"id": business_id, "method": "balance.update",
                        "params": [user, asset, "deposit", business_id, amount, {}]}
                async with session.post(url, data=json.dumps(body)) as reply:
                    answer = json.loads(await reply.read())
                if answer.get("error"):
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"users": users, "requests": users * 2, "errors": errors, "seconds": round(time.perf_counter() - started, 3)}


@dataclass(slots=True)
class LoadResult:
    """What a load generator reports: acknowledged orders, its own duration, refused replies by error code."""

    acked: int
    seconds: float
    refused: dict[str, int]
    details: dict[str, Any]
    cpu_s: float  # the load generator's CPU (a child process: its rusage)


def wrk_load(wrk: str, lua: Path, url: str, concurrency: int, seconds: float, users: int) -> LoadResult:
    threads = 1 if concurrency < 4 else 2
    env = dict(os.environ, MARKET=MARKET, USERS=str(users), STOCK_PREC="8", MONEY_PREC="2")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([wrk, f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "-s", str(lua),
                           url], capture_output=True, text=True, env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    refused = {"any": summary["rejected"]} if summary["rejected"] else {}
    return LoadResult(summary["accepted"], summary["seconds"], refused,
                      {"socket_errors": summary["socket_errors"], "latency_ms": summary["latency_ms"]},
                      after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)


def measure(roles: dict[str, list[int]], load: Callable[[], LoadResult], wait_caught_up: Callable[[CpuSpan], float],
            shared: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `load`, then wait until what it acknowledged is written; CPU of every role over the whole span."""
    meter = CpuSpan({**roles, "bench_driver": [os.getpid()]}).start()
    result = load()
    meter.add("load_generator", result.cpu_s)
    catch_up = wait_caught_up(meter)
    usage = meter.stop()
    report = throughput_report(acked=result.acked, load_s=result.seconds, catch_up_s=catch_up, usage=usage,
                               shared=shared if shared is not None else {"mariadbd": MARIADB_SHARED_NOTE})
    report["refused"] = result.refused
    report.update(result.details)
    return report


def attached_roles(pids: list[int]) -> dict[str, list[int]]:
    roles: dict[str, list[int]] = {}
    for pid in pids:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
        roles.setdefault(name, []).extend(process_tree(pid))
    mariadb = mariadb_pid()
    if mariadb is not None and mariadb not in {p for ps in roles.values() for p in ps}:
        roles["mariadbd"] = [mariadb]
    return roles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each wrk run")
    parser.add_argument("--concurrency", default="1,16,64", help="comma-separated connection counts")
    parser.add_argument("--workers", type=int, default=1, help="accesshttp worker_num")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of unreported load first (c16)")
    parser.add_argument("--engine-option", action="append", default=[], metavar="KEY=JSON",
                        help="extra matchengine config field, e.g. durable_reply=false (repeatable)")
    parser.add_argument("--lua", default=None)
    parser.add_argument("--attach", default=None, help="URL of a running accesshttp (nothing is started)")
    parser.add_argument("--engine-config", default=None,
                        help="with --attach: the running matchengine's config (its CLI port and databases)")
    parser.add_argument("--pids", default="", help="with --attach: PIDs to report (their children too)")
    parser.add_argument("--no-fund", action="store_true", help="with --attach: the users are funded already")
    parser.add_argument("--history-server", action="append", default=[], metavar="HOST:PORT",
                        help="another MariaDB (root, no password) to spread the history shards over, evenly and in "
                             "order after the default server's (repeatable)")
    args = parser.parse_args()

    wrk = shutil.which("wrk")
    if wrk is None:
        print(json.dumps({"bench": "http_orders", "error": "wrk is not installed (Debian: apt-get install wrk)"}))
        sys.exit(2)
    if args.attach and not args.engine_config:
        parser.error("--attach needs --engine-config: the rate is counted until history is written")
    lua = find_file(args.lua, "ORDERS_LUA", "orders.lua")
    engine_options = {key: json.loads(value) for key, _, value in (o.partition("=") for o in args.engine_option)}
    history_servers = [(host, int(port)) for host, _, port in (h.rpartition(":") for h in args.history_server)]
    stack = None if args.attach else LocalStack(args.workers, engine_options, history_servers=history_servers)
    try:
        if stack is not None:
            stack.start()
            url, roles, waiter = stack.url, stack.roles(), stack.written_waiter()
            db_history = stack.engine.config["db_history"]
        else:
            config = json.loads(Path(args.engine_config).read_text())
            url, roles = args.attach, attached_roles([int(p) for p in args.pids.split(",") if p.strip()])
            waiter = engine_written_waiter(int(config["cli"].rsplit(":", 1)[1]), config["db_log"],
                                           config["db_history"])
            db_history = config["db_history"]
        funded = None if args.no_fund else asyncio.run(fund(url, args.users, 32))
        waiter(CpuSpan({}))
        if args.warmup > 0:
            measure(roles, partial(wrk_load, wrk, lua, url, 16, args.warmup, args.users), waiter)
        runs = []
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            report = measure(roles, partial(wrk_load, wrk, lua, url, concurrency, args.seconds, args.users), waiter)
            runs.append({"concurrency": concurrency, **report})
        totals: dict[str, Any] = {}
        if "sqlite" not in db_history:
            totals["history_rows"] = history_rows_everywhere(db_history)
    finally:
        if stack is not None:
            stack.stop()
    print(json.dumps({
        "bench": "http_orders", "market": MARKET, "users": args.users, "accesshttp_workers": args.workers,
        "seconds_per_run": args.seconds, "cores": os.cpu_count(), "engine_options": engine_options,
        "fund": funded, "runs": runs, "written_in_total": totals,
    }, indent=2))


if __name__ == "__main__":
    main()
