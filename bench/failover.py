"""A failover pair of matchengines (docs/failover.md): takeover time, the standby's lag and cost, the fence's cost.

Modes (each prints one JSON object):
  takeover  two engines (role "standby", with their watchdogs, as deployed) on fresh MariaDB
            databases, the broker, an accesshttp listing both.  A client writes balance.update
            through HTTP without pause; each round kills the leader's worker with SIGKILL and
            measures the time from the kill to the first write acknowledged after it.  The
            watchdog restarts the killed worker, which comes back as the standby; the next round
            starts once it is current.  `--book N` first puts N resting orders in the book
            (written straight into the operation log, then sliced, so that both engines hold
            them); report: the distribution over `--rounds` takeovers.
  follow    the leader under the order stream of engine_rpc.py `throughput`, alternately with
            the standby stopped (as if there were none) and following, `--repeat` times each:
            accepted orders/s of every run, the standby's lag (operations behind, and how old
            each applied operation was) sampled every 50 ms, its CPU µs per order.
  fence     the operation-log writer in this process against MariaDB, with and without the
            lease's fence statement in every commit: commits/s one operation at a time, and
            operations/s in group commits of 1,000.
  publisher a single engine whose log holds `--log` operations since the last slice (none), all
            published; under a steady order stream, its publisher is killed (`--fault kill`) or
            MySQL is cut off for 10 s (`--fault outage`, through a proxy): writes refused, when
            the publisher reported its positions again, how long its rebuild took, the most
            operations left unpublished.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench.engine_rpc import connections, fund, progress, wait_caught_up
from bench.harness import CpuSpan, order_stream, run_stream, write_operation_log
from common.config import DatabaseConfig, Section
from common.schema import HISTORY_POSITION, MESSAGE_POSITION
from common.storage import open_database
from matchengine.commands import Commands
from matchengine.config import load_config
from matchengine.engine import Engine
from matchengine.history_writer import HISTORY_STRIPES, ensure_history_tables
from matchengine.lease import Lease, liveness_lock
from matchengine.operlog import OperlogWriter
from matchengine.positions import read_position
from matchengine.slice import ensure_log_tables
from tests.e2e.accesshttp_stack import http_port
from tests.e2e.failover_support import gateway_for, pair, role_of, wait_role
from tests.support import Broker, Daemon, cli_command, cli_port, drop_databases, unique_name

USERS = 1000


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000, 1)

    return {"min_ms": at(0), "p50_ms": at(50), "p90_ms": at(90), "max_ms": at(100),
            "mean_ms": round(statistics.mean(ordered) * 1000, 1)}


def start_daemon_mode(engine: Daemon, timeout: float = 900) -> None:
    """`python -m matchengine config --daemon`: the watchdog restarts a killed worker.  (The process
    started daemonises and exits at once: wait for the CLI to say what the worker does.)"""
    engine.start(wait=False, extra=("--daemon",))
    deadline = time.monotonic() + timeout
    while role_of(engine).get("role") not in ("leader", "standby"):
        assert time.monotonic() < deadline, engine.log_text()[-2000:]
        time.sleep(0.1)


def leader_pid(engines: list[Daemon]) -> tuple[Daemon, int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for engine in engines:
            info = role_of(engine)
            if info.get("role") == "leader":
                return engine, int(info["leader"].rsplit(" ", 1)[1])
        time.sleep(0.05)
    raise TimeoutError("no leader")


async def prepare_book(config: dict[str, Any], book: int) -> None:
    """Funded users and `book` resting orders in the operation log, all counted as published."""
    engine_config = load_config(Section(config))
    commands = Commands(Engine(engine_config.assets, engine_config.markets))
    last_id, _ = await write_operation_log(engine_config.db_log, commands, users=USERS, book=book, orders=0,
                                           money_prec=2)
    await mark_published(engine_config, last_id)


async def write_without_pause(port: int, stop: asyncio.Event, acks: list[float]) -> None:
    url = f"http://127.0.0.1:{port}/"
    business_id = random.randrange(1 << 40)
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            business_id += 1
            body = {"id": 1, "method": "balance.update", "params": [7, "BTC", "deposit", business_id, "1", {}]}
            try:
                async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=0.5)) as response:
                    answer = await response.json(content_type=None) if response.status == 200 else None
            except (aiohttp.ClientError, TimeoutError):
                answer = None
            if answer is not None and answer.get("error") is None:
                acks.append(time.monotonic())
            else:
                await asyncio.sleep(0.002)


async def takeover(args: argparse.Namespace, workdir: Path, broker: Broker) -> dict[str, Any]:
    log_db, history_db = unique_name("bench_fo_log"), unique_name("bench_fo_history")
    engines = pair(workdir, log_db=log_db, history_db=history_db, brokers=broker.address)
    gateway = None
    try:
        if args.book:
            progress(f"writing {args.book} resting orders into the operation log")
            await prepare_book(engines[0].config, args.book)
        for engine in engines:
            start_daemon_mode(engine)
        wait_role(engines[1], "standby", 900, current=True, daemonized=True)
        if args.book:
            leader, _ = leader_pid(engines)
            progress("making a slice")
            assert cli_command(leader.config, "makeslice", timeout=900) == "OK\n"
        gateway = gateway_for(workdir, engines)
        stop = asyncio.Event()
        acks: list[float] = []
        writer = asyncio.create_task(write_without_pause(http_port(gateway.config), stop, acks))
        times: list[float] = []
        try:
            for round_number in range(args.rounds):
                leader, pid = await asyncio.to_thread(leader_pid, engines)
                standby = engines[1 - engines.index(leader)]
                await asyncio.to_thread(partial(wait_role, standby, "standby", 900, current=True, daemonized=True))
                await asyncio.sleep(1.0)
                killed_at = time.monotonic()
                signal_pid(pid, signal.SIGKILL)
                while not acks or acks[-1] <= killed_at:
                    await asyncio.sleep(0.001)
                    assert time.monotonic() - killed_at < 60, "no write acknowledged within 60 s"
                first = next(t for t in acks if t > killed_at)
                times.append(first - killed_at)
                progress(f"round {round_number + 1}: first write acknowledged {times[-1] * 1000:.0f} ms after the kill")
                # back from its watchdog as the standby
                await asyncio.to_thread(partial(wait_role, leader, "standby", 900, current=True, daemonized=True))
        finally:
            stop.set()
            await writer
        return {"bench": "failover_takeover", "resting_orders": args.book, "rounds": len(times),
                "kill_to_first_acknowledged_write": percentiles(times),
                "all_ms": [round(t * 1000, 1) for t in times]}
    finally:
        if gateway is not None:
            gateway.stop()
        for engine in engines:
            stop_daemon_mode(engine)
        drop_databases(log_db, history_db)


def signal_pid(pid: int, signo: int) -> None:
    import os

    os.kill(pid, signo)


def stop_daemon_mode(engine: Daemon) -> None:
    """SIGTERM to the watchdog and its worker (the processes holding the engine's lock file)."""
    import os

    lock = engine.workdir / "matchengine.lock"
    holders = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                for fd in (proc / "fd").iterdir():
                    if fd.resolve() == lock:
                        holders.add(int(proc.name))
            except OSError:
                continue
    for pid in holders:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 60
    while holders and time.monotonic() < deadline:
        holders = {pid for pid in holders if Path(f"/proc/{pid}").exists()}
        time.sleep(0.1)
    engine.stop()


async def follow(args: argparse.Namespace, workdir: Path, broker: Broker) -> dict[str, Any]:
    """Runs of the order stream against the leader, alternately with the standby stopped (SIGSTOP: for the
    leader as if there were none) and following, each once history and Kafka have caught up."""
    log_db, history_db = unique_name("bench_fo_log"), unique_name("bench_fo_history")
    engines = pair(workdir, log_db=log_db, history_db=history_db, brokers=broker.address)
    leader, standby = engines
    try:
        leader.start(wait=False)
        leader.wait_ready(120, port=cli_port(leader.config))
        wait_role(leader, "leader")
        conns = await connections(leader, args.connections)
        await fund(conns, USERS)
        rnd = random.Random(1)
        await run_stream(conns, 201, order_stream(rnd, args.book, USERS, taker_ratio=0.0, band=200), 256)
        standby.start(wait=False)
        standby.wait_ready(300, port=cli_port(standby.config))
        wait_role(standby, "standby", 300, current=True)
        rates: dict[str, list[float]] = {"alone": [], "with_standby": []}
        samples: list[tuple[int, float]] = []
        cpu: list[dict[str, float]] = []
        for _ in range(args.repeat):
            for mode in ("alone", "with_standby"):
                if mode == "alone":
                    standby.signal(signal.SIGSTOP)
                else:
                    standby.signal(signal.SIGCONT)
                    wait_role(standby, "standby", 300, current=True)
                wait_caught_up(leader)
                progress(f"the leader {mode.replace('_', ' ')}")
                stop = asyncio.Event()
                sampler = asyncio.create_task(sample_lag(standby, stop, samples)) if mode == "with_standby" else None
                span = CpuSpan({"leader": [leader.pid], "standby": [standby.pid]}, machine=None).start()
                tally, seconds = await run_stream(conns, 201, order_stream(rnd, args.orders, USERS), args.inflight,
                                                  args.duration)
                if sampler is not None:
                    usage = span.stop()
                    per = max(tally.accepted, 1)
                    cpu.append({"standby_us": usage.seconds["standby"] * 1e6 / per,
                                "standby_pct": 100 * usage.seconds["standby"] / usage.span_s,
                                "leader_us": usage.seconds["leader"] * 1e6 / per})
                    stop.set()
                    await sampler
                rates[mode].append(tally.accepted / seconds)
        for conn in conns:
            conn.close()
        lags = sorted(lag for lag, _ in samples)
        delays = [delay / 1000 for _, delay in samples]
        return {
            "bench": "failover_follow",
            "leader_orders_per_s_alone": [round(r) for r in rates["alone"]],
            "leader_orders_per_s_with_standby": [round(r) for r in rates["with_standby"]],
            "standby_lag_operations": {"p50": lags[len(lags) // 2], "p99": lags[int(len(lags) * 0.99)],
                                       "max": lags[-1]} if lags else None,
            "standby_apply_delay": percentiles(delays) if delays else None,
            "standby_cpu_us_per_order": [round(c["standby_us"], 1) for c in cpu],
            "standby_cpu_pct_of_one_core": [round(c["standby_pct"], 1) for c in cpu],
            "leader_cpu_us_per_order": [round(c["leader_us"], 1) for c in cpu],
        }
    finally:
        for engine in engines:
            if engine.alive():
                engine.signal(signal.SIGCONT)
            engine.stop()
        drop_databases(log_db, history_db)


async def sample_lag(standby: Daemon, stop: asyncio.Event, samples: list[tuple[int, float]]) -> None:
    while not stop.is_set():
        info = await asyncio.to_thread(role_of, standby)
        if info:
            samples.append((int(info["lag"]), float(info["apply delay ms"])))
        await asyncio.sleep(0.05)


async def publisher_fault(args: argparse.Namespace, workdir: Path, broker: Broker) -> dict[str, Any]:
    from bench.engine_rpc import status
    from tests.e2e.test_matchengine_publisher_faults import publisher_of
    from tests.proxy import TcpProxy
    from tests.support import MYSQL, engine_config

    log_db, history_db = unique_name("bench_pub_log"), unique_name("bench_pub_history")
    config = engine_config(workdir, log_db=log_db, history_db=history_db, brokers=broker.address)
    proxy = TcpProxy(MYSQL["port"]).start()
    for key in ("db_log", "db_history"):
        config[key]["port"] = proxy.port
    engine = Daemon("matchengine", config, workdir)
    try:
        progress(f"writing {args.log} operations into the operation log")
        engine_cfg = load_config(Section(config))
        commands = Commands(Engine(engine_cfg.assets, engine_cfg.markets))
        last_id, _ = await write_operation_log(engine_cfg.db_log, commands, users=USERS, book=10000,
                                               orders=max(0, args.log - 10000 - 2 * USERS), money_prec=2)
        await mark_published(engine_cfg, last_id)
        started = time.monotonic()
        engine.start(wait=False)
        engine.wait_ready(1800, port=cli_port(engine.config))
        progress(f"engine up in {time.monotonic() - started:.1f} s; waiting for its publisher")
        while status(engine)["history pending"] > 1000:
            time.sleep(0.2)
        conns = await connections(engine, 2)
        rnd = random.Random(5)
        pending: list[tuple[float, int]] = []
        stop = asyncio.Event()

        async def watch() -> None:
            while not stop.is_set():
                s = await asyncio.to_thread(status, engine)
                pending.append((time.monotonic(), s["history pending"]))
                await asyncio.sleep(0.1)

        watcher = asyncio.create_task(watch())
        load = asyncio.create_task(run_stream(conns, 201, order_stream(rnd, 10_000_000, USERS), 16,
                                              args.duration))
        await asyncio.sleep(2.0)
        fault_at = time.monotonic()
        if args.fault == "kill":
            signal_pid(publisher_of(engine), signal.SIGKILL)
            back_at = fault_at
        else:
            proxy.cut()
            await asyncio.sleep(10.0)
            proxy.restore()
            back_at = time.monotonic()
        tally, seconds = await load
        stop.set()
        await watcher
        for conn in conns:
            conn.close()
        after = [(t, p) for t, p in pending if t >= back_at]
        peak = max(after, key=lambda item: item[1])
        caught_up = next((t for t, p in after if t > peak[0] and p < 1000), None)
        return {"bench": "failover_publisher_fault", "fault": args.fault, "operations_since_slice": last_id,
                "refused_writes": tally.errors.get(3, 0), "accepted": tally.accepted,
                "orders_per_s": round(tally.accepted / seconds),
                "unpublished_peak": peak[1], "unpublished_peak_after_s": round(peak[0] - back_at, 2),
                "caught_up_after_s": round(caught_up - back_at, 2) if caught_up else None}
    finally:
        engine.stop()
        proxy.stop()
        drop_databases(log_db, history_db)


async def mark_published(config: Any, last_id: int) -> None:
    log_db, history_db = open_database(config.db_log), open_database(config.db_history.databases[0])
    await history_db.start()
    await ensure_history_tables(history_db)
    for row in range(1, HISTORY_STRIPES + 1):
        await read_position(history_db, HISTORY_POSITION.name, row, last_id)
    await read_position(log_db, MESSAGE_POSITION.name, 1, last_id)
    await log_db.close()
    await history_db.close()


async def fence(args: argparse.Namespace) -> dict[str, Any]:
    name = unique_name("bench_fence")
    config = DatabaseConfig(host="127.0.0.1", user="root", password="", name=name)
    db = open_database(config)
    await db.start()
    await ensure_log_tables(db)
    lease = Lease(db, liveness_lock(config), exchange="bench", role="sole", timeout=3.0)
    await lease.prepare()
    assert await lease.take(await lease.read(), expired=False)
    result: dict[str, Any] = {"bench": "failover_fence"}
    try:
        last = 0
        for _ in range(args.repeat):
            for label, fence_statement in (("without_fence", None), ("with_fence", lease.fence_statement)):
                writer = OperlogWriter(db, last, fence=fence_statement, renew_interval=3600)
                writer.start()
                params = [1, "BTC", "deposit", 1, "1", {"note": "x" * 40}]
                started = time.perf_counter()
                for _ in range(args.single):
                    writer.append(time.time(), "update_balance", params)
                    await writer.flush()
                single = args.single / (time.perf_counter() - started)
                started = time.perf_counter()
                for _ in range(args.batches):
                    for _ in range(1000):
                        writer.append(time.time(), "update_balance", params)
                    await writer.flush()
                batched = args.batches * 1000 / (time.perf_counter() - started)
                await writer.stop()
                last = writer.last_id
                entry = result.setdefault(label, {"commits_per_s_one_at_a_time": [],
                                                  "operations_per_s_in_groups_of_1000": []})
                entry["commits_per_s_one_at_a_time"].append(round(single))
                entry["operations_per_s_in_groups_of_1000"].append(round(batched))
    finally:
        await lease.close()
        await db.close()
        drop_databases(name)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("takeover", "follow", "fence", "publisher"))
    ap.add_argument("--log", type=int, default=500_000, help="publisher: operations since the last slice")
    ap.add_argument("--fault", choices=("kill", "outage"), default="kill")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--book", type=int, default=0, help="takeover: resting orders; follow: the book (10000)")
    ap.add_argument("--orders", type=int, default=400000)
    ap.add_argument("--duration", type=float, default=15.0)
    ap.add_argument("--inflight", type=int, default=256)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--single", type=int, default=500, help="fence: commits of one operation each")
    ap.add_argument("--batches", type=int, default=50, help="fence: group commits of 1,000 operations")
    ap.add_argument("--repeat", type=int, default=3,
                    help="fence, follow: alternate the two cases this many times")
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if args.mode == "fence":
        print(json.dumps(asyncio.run(fence(args))))
        return
    if args.mode == "follow" and not args.book:
        args.book = 10000
    workdir = Path(tempfile.mkdtemp(prefix="bench_failover_"))
    broker = Broker().start()
    try:
        run = {"takeover": takeover, "follow": follow, "publisher": publisher_fault}[args.mode]
        print(json.dumps(asyncio.run(run(args, workdir, broker))))
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
