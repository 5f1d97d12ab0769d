"""The port beside the original C server, in the same run on the same machine: N pairs, every run reported.

Takes the directory of an ALREADY BUILT original (its source tree after
`make`: `matchengine/matchengine.exe`, `readhistory/readhistory.exe`,
`accesshttp/accesshttp.exe`, `marketprice/marketprice.exe` and `sql/`; how to
build it is in ../shared/bench/ORIGINAL.md, never in this repository) and runs
the same load against the original and the port alternately, each run from
fresh state: a restarted broker (Tansu, in memory), a flushed private Redis
(with a Sentinel, as the original's marketprice needs), dropped and recreated
databases, fresh logs; then matchengine, readhistory, accesshttp and
marketprice start (in that order: marketprice asks accesshttp for the market
list), the users are funded with `load_http.py fund` and the load runs.

Scenarios (`--scenarios`):
  http_c16, http_c64  wrk with orders.lua at 16 / 64 connections for --seconds
  rpc_c64             load_http.py --transport rpc at concurrency 64 (straight to the engine)
  replay              one operation log (the load_http.py stream written by the
                      port's core: --replay-users funded users, a book of
                      --replay-book orders, --replay-orders more), copied into
                      a fresh database for each run; the engine starts on it
                      and the time to its first answer is taken.  Both
                      replay the same log; the port's own replay time (its
                      log line) is given beside it.

Per run: accepted orders/s, refused replies (the original answers
"service unavailable" whenever its history writer is behind), orders/s counted
until every history row and Kafka message is written (the port: its
publisher's positions reach the engine's last operation; the original: its
own queues empty and no query running on its databases for three polls
0.2 s apart), and CPU µs per accepted order of every process (the
daemons with all their workers and children, MariaDB — the machine's shared
server —, the broker, Redis, the load generator, this script) and of the
whole machine, counted from the start of the load to the end of the catch-up.
The summary gives each figure's runs and spread, not the best, and the
port-over-original ratio of each pair.

    .venv/bin/python bench/compare_original.py --original /tmp/original/src [--pairs 5] [--seconds 20]

Needs wrk (Debian's package), redis-server, the shared orders.lua and
load_http.py (--lua / --load-http, else ../shared/bench or /work/shared/bench).
If the original's binaries find their libraries only through
LD_LIBRARY_PATH, pass --original-ld-path.  Prints one JSON object on stdout;
progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pymysql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    MARIADB_SHARED_NOTE,
    CpuSpan,
    PipelinedRpc,
    descendants,
    engine_status,
    history_rows,
    mariadb_pid,
    one_row,
    spread,
    write_operation_log,
)
from bench.http_orders import (
    ASSETS,
    MARKETS,
    LoadResult,
    LocalStack,
    find_file,
    measure,
    wait_forwarding,
    wrk_load,
)
from common.config import DatabaseConfig, Section
from matchengine.commands import Commands
from matchengine.config import load_config
from matchengine.engine import Engine
from tests.support import (
    Broker,
    Daemon,
    drop_databases,
    engine_config,
    free_port,
    mysql_connect,
    unique_name,
    wait_port,
)

DAEMONS = ("matchengine", "readhistory", "accesshttp", "marketprice")
SCENARIOS = ("http_c16", "http_c64", "rpc_c64", "replay")
LOG_FLAG = "fatal,error,warn,info"
PR_SET_CHILD_SUBREAPER = 36
SHARED = {"mariadbd": MARIADB_SHARED_NOTE}


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def become_subreaper() -> None:
    """Daemons that fork themselves away (the original calls daemon(3)) stay below this process,
    so their pids are found among its descendants and nothing else is ever touched."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def executable_of(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def reap_children() -> None:
    """Collect exited processes that were reparented to this one (it is their subreaper)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == os.getpid():
            with contextlib.suppress(ChildProcessError):
                os.waitpid(int(entry), os.WNOHANG)


def kill_and_wait(pids: list[int], timeout: float = 10.0) -> None:
    """SIGKILL the given processes (recorded by pid, parents first) and wait until they are gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reap_children()
        alive = [p for p in pids if Path(f"/proc/{p}").exists() and not _zombie_elsewhere(p)]
        if not alive:
            return
        time.sleep(0.05)
    raise RuntimeError(f"processes {pids} still alive after SIGKILL")


def _zombie_elsewhere(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


# ---------------------------------------------------------------- Redis with a Sentinel, for both marketprices

class PrivateRedis:
    """A redis-server and a Sentinel watching it as `mymaster`, on free loopback ports, no persistence."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port, self.sentinel_port = free_port(), free_port()
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def sentinel(self) -> str:
        return f"127.0.0.1:{self.sentinel_port}"

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit(json.dumps({"error": "redis-server is not installed (Debian: apt-get install redis-server)"}))
        self.procs.append(subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, start_new_session=True))
        wait_port(self.port, 20)
        conf = self.workdir / "sentinel.conf"
        conf.write_text(f"port {self.sentinel_port}\nbind 127.0.0.1\ndir {self.workdir}\n"
                        f"sentinel monitor mymaster 127.0.0.1 {self.port} 1\n")
        self.procs.append(subprocess.Popen([binary, str(conf), "--sentinel"], stdout=subprocess.DEVNULL,
                                           start_new_session=True))
        wait_port(self.sentinel_port, 20)
        return self

    def flush(self) -> None:
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port)
        try:
            client.flushall()
        finally:
            client.close()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- the original's stack

def mysql_section(name: str) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": 3306, "user": "root", "pass": "", "name": name}


def run_sql_file(conn: Any, database: str, path: Path) -> None:
    with conn.cursor() as cur:
        cur.execute(f"USE `{database}`")
        for statement in path.read_text().split(";"):
            if statement.strip():
                cur.execute(statement)


def recreate_databases(*names: str) -> None:
    drop_databases(*names)
    conn = mysql_connect()
    try:
        with conn.cursor() as cur:
            for name in names:
                cur.execute(f"CREATE DATABASE `{name}`")
    finally:
        conn.close()


class OriginalStack:
    """The original's four daemons from a built tree, configured on loopback; started fresh, stopped by pid."""

    def __init__(self, tree: Path, workdir: Path, broker: Broker, redis: PrivateRedis, *, log_db: str,
                 history_db: str, accesshttp_workers: int, readhistory_workers: int, ld_path: str | None) -> None:
        self.tree = tree
        self.workdir = workdir
        self.broker = broker
        self.redis = redis
        self.log_db, self.history_db = log_db, history_db
        self.accesshttp_workers = accesshttp_workers
        self.readhistory_workers = readhistory_workers
        self.ld_path = ld_path
        self.ports = {name: free_port() for name in ("matchengine", "cli", "readhistory", "http", "monitor",
                                                        "marketprice", "alert")}
        self.pids: dict[str, list[int]] = {}

    def binary(self, name: str) -> Path:
        return self.tree / name / f"{name}.exe"

    # -- fresh state

    def create_databases(self, *, operlog_from: str | None = None) -> None:
        """Drop and recreate trade_log and trade_history from the original's own SQL (sql/ of its tree), with
        the 100 shards of each history table; with `operlog_from`, copy that database's operation log."""
        recreate_databases(self.log_db, self.history_db)
        conn = mysql_connect()
        try:
            run_sql_file(conn, self.log_db, self.tree / "sql" / "create_trade_log.sql")
            run_sql_file(conn, self.history_db, self.tree / "sql" / "create_trade_history.sql")
            with conn.cursor() as cur:
                cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                            "AND table_name LIKE '%%\\_example'", (self.history_db,))
                for (template,) in cur.fetchall():
                    shard = template.removesuffix("_example")
                    for i in range(100):
                        cur.execute(f"CREATE TABLE `{self.history_db}`.`{shard}_{i}` LIKE `{self.history_db}`.`{template}`")
            if operlog_from:
                copy_operation_log(conn, operlog_from, self.log_db)
        finally:
            conn.close()

    # -- configs (written at run time; they point every listener at loopback)

    def _common(self, name: str) -> dict[str, Any]:
        return {"debug": False, "process": {"file_limit": 20000},
                "log": {"path": str(self.workdir / "log" / name), "flag": LOG_FLAG, "num": 10},
                "alert": {"host": name, "addr": f"127.0.0.1:{self.ports['alert']}"}}

    def _client(self, name: str, port: int) -> dict[str, Any]:
        return {"name": name, "addr": [f"tcp@127.0.0.1:{port}"], "max_pkg_size": 2000000}

    def configs(self) -> dict[str, dict[str, Any]]:
        p = self.ports
        return {
            "matchengine": {
                **self._common("matchengine"),
                "svr": {"bind": [f"tcp@127.0.0.1:{p['matchengine']}"], "buf_limit": 100, "max_pkg_size": 10240,
                        "heartbeat_check": False},
                "cli": f"tcp@127.0.0.1:{p['cli']}",
                "db_log": mysql_section(self.log_db), "db_history": mysql_section(self.history_db),
                "assets": ASSETS, "markets": MARKETS, "brokers": self.broker.address,
                "slice_interval": 86400, "slice_keeptime": 259200,
            },
            "readhistory": {
                **self._common("readhistory"),
                "svr": {"bind": [f"tcp@127.0.0.1:{p['readhistory']}"], "buf_limit": 100, "max_pkg_size": 1000000,
                        "heartbeat_check": False},
                "db_history": mysql_section(self.history_db), "worker_num": self.readhistory_workers,
            },
            "accesshttp": {
                **self._common("accesshttp"),
                "svr": {"bind": [f"tcp@127.0.0.1:{p['http']}"], "max_pkg_size": 102400},
                "monitor": {"bind": f"tcp@127.0.0.1:{p['monitor']}", "max_pkg_size": 1024},
                "worker_num": self.accesshttp_workers, "timeout": 1.0,
                "matchengine": self._client("matchengine", p["matchengine"]),
                "marketprice": self._client("marketprice", p["marketprice"]),
                "readhistory": self._client("readhistory", p["readhistory"]),
            },
            "marketprice": {
                **self._common("marketprice"),
                "svr": {"bind": [f"tcp@127.0.0.1:{p['marketprice']}"], "buf_limit": 100, "max_pkg_size": 1000000,
                        "heartbeat_check": False},
                "deals": {"brokers": self.broker.address, "topic": "deals", "partition": 0},
                "redis": {"name": "mymaster", "addr": [self.redis.sentinel]},
                "accesshttp": f"http://127.0.0.1:{p['http']}",
            },
        }

    def listen_port(self, name: str) -> int:
        return self.ports[{"accesshttp": "http"}.get(name, name)]

    # -- processes

    def spawn(self, name: str) -> float:
        """Start one daemon and wait until it listens; the seconds from spawn to listening."""
        if any(executable_of(p) == str(self.binary(name).resolve()) for p in descendants(os.getpid())):
            raise RuntimeError(f"an earlier {name} of this run is still alive")
        (self.workdir / "log").mkdir(parents=True, exist_ok=True)
        config = self.workdir / f"original_{name}.json"
        config.write_text(json.dumps(self.configs()[name], indent=2))
        env = dict(os.environ)
        if self.ld_path:
            env["LD_LIBRARY_PATH"] = self.ld_path + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
        output = open(self.workdir / f"original_{name}.out", "ab")  # noqa: SIM115 - handed to the process
        started = time.monotonic()
        launcher = subprocess.Popen([str(self.binary(name)), str(config)], cwd=self.workdir, stdout=output,
                                    stderr=subprocess.STDOUT, env=env)
        output.close()
        port = self.listen_port(name)
        deadline = started + 600
        while True:
            with contextlib.suppress(TimeoutError):
                wait_port(port, 0.02)
                break
            code = launcher.poll()
            if (code not in (None, 0)) or time.monotonic() > deadline or (code == 0 and not self._running(name)):
                text = (self.workdir / f"original_{name}.out").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"original {name} did not start (exit {code}):\n{text}")
        listening = time.monotonic() - started
        launcher.wait()  # the launcher itself exits once daemon(3) has forked
        self.pids[name] = self._running(name)
        return listening

    def _running(self, name: str) -> list[int]:
        target = str(self.binary(name).resolve())
        return [p for p in descendants(os.getpid()) if executable_of(p) == target]

    def start(self) -> OriginalStack:
        for name in DAEMONS:
            if name == "marketprice":  # it asks accesshttp for the market list once, at start
                wait_forwarding(f"http://127.0.0.1:{self.ports['http']}/")
            self.spawn(name)
        return self

    def roles(self) -> dict[str, list[int]]:
        roles = {name: self._running(name) for name in DAEMONS if name in self.pids}
        roles["broker"] = [self.broker.proc.pid] if self.broker.proc else []
        roles["redis"] = self.redis.pids
        mariadb = mariadb_pid()
        if mariadb is not None:
            roles["mariadbd"] = [mariadb]
        return roles

    def stop(self) -> None:
        """SIGKILL every process of the four daemons (the keep-alive parents first, so none is restarted)."""
        for name in reversed(DAEMONS):
            if name not in self.pids:
                continue
            running = self._running(name)
            parents = [p for p in running if not any(p in descendants(q) for q in running if q != p)]
            kill_and_wait(parents + [p for p in running if p not in parents])
            del self.pids[name]

    def written_waiter(self) -> Callable[[CpuSpan], float]:
        return partial(original_written, self.ports["cli"], (self.log_db, self.history_db))


def original_written(cli: int, databases: tuple[str, ...], meter: CpuSpan, timeout: float = 1800.0) -> float:
    """Seconds until the original's queues are empty (operation log, history, the three Kafka lists) and no
    query runs on its databases, seen on three polls 0.2 s apart (its history and Kafka timers tick every 0.1 s)."""
    conn = mysql_connect()
    started = time.monotonic()
    quiet_since: float | None = None
    quiet_polls = 0
    try:
        while True:
            status = engine_status(cli)
            queued = sum(v for k, v in status.items() if k.endswith("pending"))
            with conn.cursor() as cur:
                cur.execute("SELECT COUNT(*) FROM information_schema.processlist WHERE db IN %s AND command = 'Query'",
                            (databases,))
                running = one_row(cur)[0]
            if queued == 0 and running == 0:
                quiet_since = quiet_since or time.monotonic()
                quiet_polls += 1
                if quiet_polls >= 3:
                    return quiet_since - started
            else:
                quiet_since, quiet_polls = None, 0
            if time.monotonic() - started > timeout:
                raise TimeoutError("the original did not drain its queues")
            meter.sample()
            time.sleep(0.2)
    finally:
        conn.close()


# ---------------------------------------------------------------- the operation log both replay

def copy_operation_log(conn: Any, source: str, target: str) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                    "AND table_name LIKE 'operlog\\_%%' AND table_name <> 'operlog_example'", (source,))
        for (table,) in cur.fetchall():
            cur.execute(f"CREATE TABLE `{target}`.`{table}` LIKE `{source}`.`{table}`")
            cur.execute(f"INSERT INTO `{target}`.`{table}` SELECT * FROM `{source}`.`{table}`")


def write_replay_log(database: str, *, users: int, book: int, orders: int) -> int:
    """The load_http.py order stream, written by the port's core as the engine logs it; the operations logged."""
    workdir = Path(tempfile.mkdtemp(prefix="compare_replay_"))
    try:
        config = engine_config(workdir, log_db=database, history_db=database, brokers="127.0.0.1:9",
                               assets=ASSETS, markets=MARKETS)
        settings = load_config(Section(config, ""))
        commands = Commands(Engine(settings.assets, settings.markets))
        operations, _ = asyncio.run(write_operation_log(
            DatabaseConfig(host="127.0.0.1", user="root", name=database), commands, users=users, book=book,
            orders=orders, money_prec=2))
        return operations
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def first_answer(port: int, started: float, timeout: float = 900.0) -> tuple[float, Any, Any]:
    """Seconds from `started` until the engine on `port` answers asset.list, then its asset.summary and
    market.summary (to compare what both replayed)."""
    while True:
        try:
            conn = await PipelinedRpc.connect("127.0.0.1", port)
        except OSError:
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"nothing answers on port {port}") from None
            await asyncio.sleep(0.01)
            continue
        try:
            reply = orjson.loads(await asyncio.wait_for(conn.call(104, b"[]"), 60))
            answered = time.monotonic() - started
            if reply.get("error"):
                raise RuntimeError(f"asset.list failed: {reply}")
            assets = orjson.loads(await conn.call(105, b"[]"))["result"]
            markets = orjson.loads(await conn.call(308, b"[]"))["result"]
            return answered, assets, markets
        finally:
            conn.close()


def normalised(value: Any) -> Any:
    """Decimal strings as numbers, so "1.50" and "1.5" compare equal."""
    if isinstance(value, dict):
        return {k: normalised(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [normalised(v) for v in value]
    if isinstance(value, str):
        with contextlib.suppress(ArithmeticError):
            return str(Decimal(value).normalize())
    return value


# ---------------------------------------------------------------- one run

class Runner:
    def __init__(self, args: argparse.Namespace, workdir: Path, tag: str) -> None:
        self.args = args
        self.workdir = workdir
        self.tag = tag
        self.wrk = shutil.which("wrk")
        self.lua = find_file(args.lua, "ORDERS_LUA", "orders.lua")
        self.load_http = find_file(args.load_http, "LOAD_HTTP", "load_http.py")
        self.redis = PrivateRedis(workdir).start()
        self.replay_source = f"cmp_{tag}_replay_src"
        self.replay_operations = 0

    def close(self) -> None:
        self.redis.stop()
        drop_databases(self.replay_source)

    # -- load generators (the same for both systems)

    def fund(self, url: str) -> dict[str, Any]:
        wait_forwarding(url)
        done = subprocess.run([sys.executable, str(self.load_http), "--url", url, "fund", "--users",
                               str(self.args.users)], capture_output=True, text=True, check=True)
        result = json.loads(done.stdout)
        if result["errors"]:
            raise RuntimeError(f"funding failed: {result['errors']}")
        return {"requests": result["requests"], "seconds": result["seconds"]}

    def rpc_load(self, engine: int, marketprice: int, readhistory: int, concurrency: int) -> LoadResult:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run([sys.executable, str(self.load_http), "--transport", "rpc",
                               "--rpc-addr", f"127.0.0.1:{engine}", "--mp-addr", f"127.0.0.1:{marketprice}",
                               "--rh-addr", f"127.0.0.1:{readhistory}", "orders", "--concurrency", str(concurrency),
                               "--duration", str(self.args.seconds), "--users", str(self.args.users),
                               "--deal-wait", "0"], capture_output=True, text=True, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = json.loads(done.stdout)
        return LoadResult(result["ok"], result["seconds"], result["errors"],
                          {"latency_ms": result["latency_accepted"]},
                          after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)

    def load_for(self, scenario: str, url: str, ports: dict[str, int]) -> Callable[[], LoadResult]:
        kind, _, concurrency = scenario.partition("_c")
        if kind == "http":
            assert self.wrk is not None
            return partial(wrk_load, self.wrk, self.lua, url, int(concurrency), self.args.seconds, self.args.users)
        return partial(self.rpc_load, ports["matchengine"], ports["marketprice"], ports["readhistory"],
                       int(concurrency))

    # -- throughput runs

    def run_original(self, scenario: str, rundir: Path) -> dict[str, Any]:
        broker = Broker().start()
        self.redis.flush()
        stack = OriginalStack(Path(self.args.original), rundir, broker, self.redis,
                              log_db=f"cmp_{self.tag}_orig_log", history_db=f"cmp_{self.tag}_orig_history",
                              accesshttp_workers=self.args.accesshttp_workers,
                              readhistory_workers=self.args.readhistory_workers, ld_path=self.args.original_ld_path)
        try:
            stack.create_databases()
            asyncio.run(create_topics(broker.address))
            stack.start()
            url = f"http://127.0.0.1:{stack.ports['http']}/"
            ports = {name: stack.listen_port(name) for name in DAEMONS}
            return self._throughput(scenario, url, ports, stack.roles, stack.written_waiter(), stack.history_db,
                                    "the engine's queues empty and no query running on its databases, "
                                    "3 polls 0.2 s apart")
        finally:
            stack.stop()
            broker.stop()
            drop_databases(stack.log_db, stack.history_db)

    def run_port(self, scenario: str, rundir: Path) -> dict[str, Any]:
        self.redis.flush()
        stack = LocalStack(self.args.accesshttp_workers, {}, workdir=rundir, readers=True,
                           readhistory_workers=self.args.readhistory_workers, sentinel=self.redis.sentinel,
                           log_flag=LOG_FLAG)
        try:
            stack.start()
            ports = {name: int(daemon.config["svr"]["bind"][0].rsplit(":", 1)[1])
                     for name, daemon in stack.daemons.items()}

            def roles() -> dict[str, list[int]]:
                return {**stack.roles(), "redis": self.redis.pids}

            return self._throughput(scenario, stack.url, ports, roles, stack.written_waiter(), stack.databases[1],
                                    "the publisher's history and message positions in its databases reach the "
                                    "engine's last operation")
        finally:
            stack.stop()
            reap_children()

    def _throughput(self, scenario: str, url: str, ports: dict[str, int], roles: Callable[[], dict[str, list[int]]],
                    waiter: Callable[[CpuSpan], float], history_db: str, written_check: str) -> dict[str, Any]:
        funded = self.fund(url)
        waiter(CpuSpan({}))  # the deposits are written before the load starts
        conn = mysql_connect()
        try:
            rows_before = history_rows(conn, history_db)
            report = measure(roles(), self.load_for(scenario, url, ports), waiter, SHARED)
            rows = history_rows(conn, history_db) - rows_before
        finally:
            conn.close()
        refused = sum(report["refused"].values())
        replies = report["acked_orders"] + refused
        report.update({
            "refused_replies": refused,
            "refused_pct_of_replies": round(100 * refused / replies, 1) if replies else None,
            "written_check": written_check,
            "history_rows": rows,
            "history_rows_per_order": round(rows / report["acked_orders"], 2) if report["acked_orders"] else None,
            "fund": funded,
        })
        return report

    # -- replay

    def prepare_replay(self) -> None:
        recreate_databases(self.replay_source)
        progress(f"writing the replay log ({self.args.replay_orders} orders) with the port's core")
        self.replay_operations = write_replay_log(self.replay_source, users=self.args.replay_users,
                                                  book=self.args.replay_book, orders=self.args.replay_orders)

    def replay_original(self, rundir: Path) -> dict[str, Any]:
        broker = Broker().start()
        stack = OriginalStack(Path(self.args.original), rundir, broker, self.redis,
                              log_db=f"cmp_{self.tag}_orig_log", history_db=f"cmp_{self.tag}_orig_history",
                              accesshttp_workers=self.args.accesshttp_workers,
                              readhistory_workers=self.args.readhistory_workers, ld_path=self.args.original_ld_path)
        try:
            stack.create_databases(operlog_from=self.replay_source)
            asyncio.run(create_topics(broker.address))
            started = time.monotonic()
            stack.spawn("matchengine")  # returns once it listens, after its replay
            answered, assets, markets = asyncio.run(first_answer(stack.ports["matchengine"], started))
            status = engine_status(stack.ports["cli"])
            return self._replay_report(answered, status, assets, markets, None)
        finally:
            stack.stop()
            broker.stop()
            drop_databases(stack.log_db, stack.history_db)

    def replay_port(self, rundir: Path) -> dict[str, Any]:
        broker = Broker().start()
        log_db, history_db = unique_name("cmp_port_replay_log"), unique_name("cmp_port_replay_history")
        recreate_databases(log_db)
        conn = mysql_connect()
        try:
            copy_operation_log(conn, self.replay_source, log_db)
        finally:
            conn.close()
        config = engine_config(rundir, log_db=log_db, history_db=history_db, brokers=broker.address,
                               assets=ASSETS, markets=MARKETS, publisher=False)
        config["log"]["flag"] = LOG_FLAG
        daemon = Daemon("matchengine", config, rundir)
        try:
            started = time.monotonic()
            daemon.start(wait=False)
            answered, assets, markets = asyncio.run(first_answer(int(config["svr"]["bind"][0].rsplit(":", 1)[1]),
                                                                 started))
            status = engine_status(int(config["cli"].rsplit(":", 1)[1]))
            log = Path(config["log"]["path"] + ".log").read_text(errors="replace")
            found = re.findall(r"replayed (\d+) operations up to id \d+ in ([0-9.]+) s", log)
            replay_s = float(found[-1][1]) if found else None
            return self._replay_report(answered, status, assets, markets, replay_s)
        finally:
            daemon.stop()
            broker.stop()
            drop_databases(log_db, history_db)

    def _replay_report(self, answered: float, status: dict[str, int], assets: Any, markets: Any,
                       replay_s: float | None) -> dict[str, Any]:
        operations = self.replay_operations
        report: dict[str, Any] = {
            "operations": operations,
            "replayed_all": status.get("operlog last ID") == operations,
            "restart_to_first_answer_s": round(answered, 3),
            "operations_per_s": round(operations / answered) if answered else None,
            "asset_summary": assets,
            "market_summary": markets,
        }
        if replay_s is not None:
            report["replay_s"] = replay_s
            report["replay_operations_per_s"] = round(operations / replay_s) if replay_s else None
        return report

    def run(self, scenario: str, system: str, pair: int) -> dict[str, Any]:
        rundir = self.workdir / f"pair{pair}_{scenario}_{system}"
        rundir.mkdir(parents=True)
        progress(f"pair {pair}: {scenario} on the {system}")
        try:
            if scenario == "replay":
                result = self.replay_original(rundir) if system == "original" else self.replay_port(rundir)
            elif system == "original":
                result = self.run_original(scenario, rundir)
            else:
                result = self.run_port(scenario, rundir)
        except Exception as exc:
            progress(f"  failed: {exc!r}; its files are kept in {rundir}")
            return {"scenario": scenario, "system": system, "pair": pair, "error": repr(exc),
                    "traceback": traceback.format_exc()[-3000:], "files": str(rundir)}
        finally:
            reap_children()
        if not self.args.keep_workdir:
            shutil.rmtree(rundir, ignore_errors=True)
        brief = {k: result.get(k) for k in ("acked_orders_per_s", "written_orders_per_s", "refused_pct_of_replies",
                                             "machine_cpu_us_per_order", "operations_per_s") if k in result}
        progress(f"  {brief}")
        return {"scenario": scenario, "system": system, "pair": pair, **result}


async def create_topics(brokers: str, topics: tuple[str, ...] = ("balances", "orders", "deals")) -> None:
    """The original's producer and consumer expect the topics to exist on a fresh broker."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1) for topic in topics])
    finally:
        await admin.close()


# ---------------------------------------------------------------- summary

THROUGHPUT_FIGURES = ("acked_orders_per_s", "written_orders_per_s", "refused_replies", "refused_pct_of_replies",
                      "catch_up_s", "machine_cpu_us_per_order")
RATIO_FIGURES = ("acked_orders_per_s", "written_orders_per_s", "machine_cpu_us_per_order")
REPLAY_FIGURES = ("restart_to_first_answer_s", "operations_per_s")


def figure(run: dict[str, Any], name: str) -> Any:
    if name == "cpu_us_per_order_total":
        return run.get("cpu_us_per_order", {}).get("total")
    return run.get(name)


def summarise(runs: list[dict[str, Any]], scenarios: list[str], pairs: int) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for scenario in scenarios:
        figures = REPLAY_FIGURES if scenario == "replay" else (*THROUGHPUT_FIGURES, "cpu_us_per_order_total")
        ratios = ("operations_per_s",) if scenario == "replay" else RATIO_FIGURES
        of: dict[str, dict[int, dict[str, Any]]] = {"original": {}, "port": {}}
        for run in runs:
            if run["scenario"] == scenario and "error" not in run:
                of[run["system"]][run["pair"]] = run
        entry: dict[str, Any] = {
            system: {name: spread([figure(by_pair[p], name) if p in by_pair else None for p in range(pairs)])
                     for name in figures}
            for system, by_pair in of.items()
        }
        if scenario != "replay":
            for system, by_pair in of.items():
                roles = sorted({role for run in by_pair.values() for role in run["cpu_us_per_order"]})
                entry[system]["cpu_us_per_order"] = {
                    role: spread([by_pair[p]["cpu_us_per_order"].get(role) if p in by_pair else None
                                  for p in range(pairs)]) for role in roles}
        per_pair: dict[str, list[float | None]] = {name: [] for name in ratios}
        for p in range(pairs):
            original, port = of["original"].get(p), of["port"].get(p)
            for name in ratios:
                a, b = (figure(original, name) if original else None), (figure(port, name) if port else None)
                per_pair[name].append(round(b / a, 2) if a and b is not None else None)
        entry["port_over_original_per_pair"] = {name: spread(values) for name, values in per_pair.items()}
        if scenario == "replay":
            entry["same_replayed_state_per_pair"] = [
                (normalised(of["original"][p]["asset_summary"]) == normalised(of["port"][p]["asset_summary"])
                 and normalised(of["original"][p]["market_summary"]) == normalised(of["port"][p]["market_summary"]))
                if p in of["original"] and p in of["port"] else None for p in range(pairs)]
        summary[scenario] = entry
    return summary


def machine() -> dict[str, Any]:
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@version, @@innodb_buffer_pool_size, @@innodb_flush_log_at_trx_commit")
            version, pool, flush = one_row(cur)
    finally:
        conn.close()
    return {"cores": os.cpu_count(), "load_average_at_start": os.getloadavg(), "mariadb": version,
            "innodb_buffer_pool_mb": int(pool) // 2**20, "innodb_flush_log_at_trx_commit": int(flush)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--original", required=True, help="the original's built source tree (see ORIGINAL.md)")
    parser.add_argument("--original-ld-path", default=None, help="LD_LIBRARY_PATH for the original's binaries")
    parser.add_argument("--pairs", type=int, default=2, help="original/port pairs of each scenario (alternating)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each load")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma list of {', '.join(SCENARIOS)}")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--accesshttp-workers", type=int, default=2, help="worker_num of both gateways")
    parser.add_argument("--readhistory-workers", type=int, default=4, help="worker_num of both readhistory")
    parser.add_argument("--replay-users", type=int, default=1000)
    parser.add_argument("--replay-book", type=int, default=10000)
    parser.add_argument("--replay-orders", type=int, default=200000)
    parser.add_argument("--lua", default=None, help="orders.lua of ../shared/bench")
    parser.add_argument("--load-http", default=None, help="load_http.py of ../shared/bench")
    parser.add_argument("--workdir", default=None, help="configs and logs of the runs (default: a temporary one)")
    parser.add_argument("--keep-workdir", action="store_true", help="keep every run's configs and logs")
    args = parser.parse_args()

    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios: {unknown}")
    tree = Path(args.original)
    missing = [str(tree / n / f"{n}.exe") for n in DAEMONS if not (tree / n / f"{n}.exe").is_file()]
    missing += [str(tree / "sql" / f) for f in ("create_trade_log.sql", "create_trade_history.sql")
                if not (tree / "sql" / f).is_file()]
    if missing:
        parser.error(f"not a built original: missing {missing} (build it as ../shared/bench/ORIGINAL.md says)")
    if any(s.startswith("http") for s in scenarios) and shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian: apt-get install wrk)")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    become_subreaper()
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="compare_original_"))
    workdir.mkdir(parents=True, exist_ok=True)
    tag = unique_name("r").removeprefix("r_")
    started = time.time()
    about = machine()
    runner = Runner(args, workdir, tag)
    runs: list[dict[str, Any]] = []
    try:
        if "replay" in scenarios:
            runner.prepare_replay()
        for pair in range(args.pairs):
            order = ("original", "port") if pair % 2 == 0 else ("port", "original")
            for scenario in scenarios:
                for system in order:
                    runs.append(runner.run(scenario, system, pair))
    finally:
        runner.close()
        reap_children()
    failed = [r for r in runs if "error" in r]
    print(json.dumps({
        "bench": "compare_original",
        "original": str(tree.resolve()),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "minutes": round((time.time() - started) / 60, 1),
        "machine": about,
        "settings": {"pairs": args.pairs, "seconds": args.seconds, "users": args.users, "scenarios": scenarios,
                     "accesshttp_workers": args.accesshttp_workers, "readhistory_workers": args.readhistory_workers,
                     "replay": {"users": args.replay_users, "book": args.replay_book, "orders": args.replay_orders,
                                "operations": runner.replay_operations},
                     "port_durable_reply": True, "log_flag": LOG_FLAG},
        "summary": summarise(runs, scenarios, args.pairs),
        "runs": runs,
        "failed_runs": len(failed),
        "workdir": str(workdir) if (args.keep_workdir or failed) else None,
    }, indent=2))
    if not args.keep_workdir and not failed and not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
