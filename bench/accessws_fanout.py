"""Push fan-out of accessws: many websocket connections on depth and deals of one market while orders flow.

Runs the real stack as processes — Tansu, matchengine (embedded SQLite),
marketprice (local Redis, keys under a unique prefix) and accessws — then
opens `--connections` websocket connections from `--clients` client
processes (a lean uvloop websocket client, so the clients cost little), each
subscribed to ``depth.subscribe ["BTCUSDT", 50, "0"]`` and
``deals.subscribe ["BTCUSDT"]``.  A driver sends orders to the matchengine
over RPC at `--rate` orders/s, alternating a resting ask at a fresh price
and a bid that takes it (gaps jittered ±50 %): every ask adds a depth
level, every bid removes it and makes one deal.  Each client notes when
each level and deal reaches each connection; latency = receipt time − the
time the order was accepted (its RPC reply).  The client processes run
under SCHED_BATCH so that, standing in for remote browsers, they do not
preempt the server on every frame they are woken for.  Depth comes from accessws polling matchengine every
`--depth-interval` s (the engine's own `order.depth` cache is set to
`--engine-cache`); deals take the longer road matchengine → Kafka →
marketprice → accessws polling every `--deals-interval` s.

Prints one JSON object: latency p50/p90/p99/max per kind and overall; per
event, when the first connection got it (`first_receipt_ms`: polling and
backends) and how long after that the last one did (`fanout_spread_ms`:
the cost of writing to every connection); the number of pushes received;
events never pushed (a level added and taken within one poll period is
never seen, as in the original); accessws RSS (supervisor + workers) and
CPU per push.

    .venv/bin/python bench/accessws_fanout.py [--connections 5000] [--clients 2] [--seconds 20] [--rate 10]
        [--depth-interval 0.05] [--deals-interval 0.05] [--engine-cache 0.02] [--no-marketprice]
        [--transport tcp|unix] [--workers 1] [--no-batch-clients] [--keep-workdir]
"""

from __future__ import annotations

import argparse
import array
import asyncio
import json
import multiprocessing
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.config import ClientConfig, parse_address
from common.rpc import RpcClient
from tests.e2e.accessws_env import (
    AuthEndpoint,
    accessws_config,
    create_topics,
    delete_redis_keys,
    marketprice_config,
    ws_port,
)
from tests.support import Broker, Daemon, engine_config, engine_port, unique_name

MARKET = "BTCUSDT"
DEPTH_LIMIT = 50
BASE_PRICE = 10000
AMOUNT = "0.01"
SELLER, BUYER = 1, 2

# ---------------------------------------------------------------- client processes


class FanoutClient(asyncio.Protocol):
    """A minimal websocket client: handshake, two subscriptions, then timestamps every push it receives."""

    HANDSHAKE = ("GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")

    def __init__(self, host: str, recorder: Recorder, subscribed: asyncio.Future[None]) -> None:
        self.host = host
        self.recorder = recorder
        self.subscribed = subscribed
        self.replies = 0
        self.upgraded = False
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream = cast(asyncio.Transport, transport)  # a connection to a stream socket gets a stream transport
        self.transport = stream
        stream.write(self.HANDSHAKE.format(host=self.host).encode())

    def connection_lost(self, exc: Exception | None) -> None:
        self.recorder.lost += 1
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError("closed before subscribing"))

    def data_received(self, data: bytes) -> None:
        now = time.time()
        if not self.upgraded:
            self.buffer += data
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                self.subscribed.set_exception(ConnectionError(self.buffer[:80].decode(errors="replace")))
                return
            self.upgraded = True
            data, self.buffer = self.buffer[end + 4:], b""
            assert self.transport is not None
            self.transport.write(masked_text(b'{"id": 1, "method": "depth.subscribe", "params": ["%s", %d, "0"]}'
                                             % (MARKET.encode(), DEPTH_LIMIT)))
            self.transport.write(masked_text(b'{"id": 2, "method": "deals.subscribe", "params": ["%s"]}'
                                             % MARKET.encode()))
            if not data:
                return
        buffer = self.buffer + data if self.buffer else data
        offset, size = 0, len(buffer)
        while size - offset >= 2:
            length = buffer[offset + 1] & 0x7F
            head = 2
            if length == 126:
                if size - offset < 4:
                    break
                length = int.from_bytes(buffer[offset + 2:offset + 4], "big")
                head = 4
            elif length == 127:
                if size - offset < 10:
                    break
                length = int.from_bytes(buffer[offset + 2:offset + 10], "big")
                head = 10
            if size - offset < head + length:
                break
            payload = buffer[offset + head:offset + head + length]
            offset += head + length
            if payload.startswith(b'{"method"'):
                self.recorder.push(payload, now)
            else:
                self.replies += 1
                if self.replies == 2 and not self.subscribed.done():
                    self.subscribed.set_result(None)
        self.buffer = buffer[offset:]


def masked_text(payload: bytes) -> bytes:
    """A client text frame masked with the all-zero key (valid, and the payload stays as it is)."""
    assert len(payload) < 126
    return bytes((0x81, 0x80 | len(payload))) + b"\0\0\0\0" + payload


class Recorder:
    """Receipt times of every depth level and deal, per event, over all connections of this process."""

    def __init__(self) -> None:
        self.recording = False
        self.received: dict[tuple[str, str], array.array[float]] = {}
        self.pushes = 0
        self.lost = 0
        self._keys_of: dict[bytes, list[tuple[str, str]]] = {}

    def push(self, payload: bytes, now: float) -> None:
        if not self.recording:
            return
        self.pushes += 1
        keys = self._keys_of.get(payload)
        if keys is None:
            keys = self._keys_of[payload] = events_in(payload)
        received = self.received
        for key in keys:
            times = received.get(key)
            if times is None:
                times = received[key] = array.array("d")
            times.append(now)


def events_in(payload: bytes) -> list[tuple[str, str]]:
    """("add"|"remove", price) for each ask level of an incremental depth push, ("deal", price) per deal."""
    message = orjson.loads(payload)
    method, params = message["method"], message["params"]
    if method == "depth.update":
        clean, data, _ = params
        if clean:
            return []
        return [("remove" if amount == "0" else "add", price) for price, amount in data.get("asks", [])]
    if method == "deals.update":
        return [("deal", deal["price"]) for deal in params[1]]
    return []


def client_process(host: str, port: int, unix_path: str, count: int, pipe: Connection, batch: bool) -> None:
    import uvloop

    if batch:
        # The clients stand in for browsers on other machines.  On this box every push wakes a client
        # process, and a woken client would preempt the server in the middle of its fan-out (two context
        # switches per written frame); SCHED_BATCH clients do not preempt on wakeup.
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))

    uvloop.run(run_clients(host, port, unix_path, count, pipe))


async def run_clients(host: str, port: int, unix_path: str, count: int, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    recorder = Recorder()
    transports: list[asyncio.BaseTransport] = []
    gate = asyncio.Semaphore(100)

    async def open_one() -> None:
        async with gate:
            subscribed: asyncio.Future[None] = loop.create_future()
            factory = lambda: FanoutClient(f"{host}:{port}", recorder, subscribed)  # noqa: E731
            if unix_path:
                for _ in range(100):  # a full unix backlog refuses at once (EAGAIN) instead of queueing
                    try:
                        transport, _ = await loop.create_unix_connection(factory, unix_path)
                        break
                    except BlockingIOError:
                        await asyncio.sleep(0.02)
                else:
                    raise ConnectionError(f"{unix_path}: backlog still full after 2 s")
            else:
                transport, _ = await loop.create_connection(factory, host, port)
            transports.append(transport)
            await asyncio.wait_for(subscribed, 30)

    results = await asyncio.gather(*(open_one() for _ in range(count)), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    pipe.send({"ready": count - len(failures), "failed": len(failures),
               "error": repr(failures[0]) if failures else None})
    await loop.run_in_executor(None, pipe.recv)  # "start"
    recorder.recording = True
    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    accepted: dict[tuple[str, str], float] = await loop.run_in_executor(None, pipe.recv)  # acceptance times
    recorder.recording = False
    cpu_end = resource.getrusage(resource.RUSAGE_SELF)
    latencies: dict[str, array.array[float]] = {}
    missed: dict[str, int] = {}
    spans: dict[tuple[str, str], tuple[float, float]] = {}
    for key, when in accepted.items():
        times = recorder.received.get(key)
        if times is None:
            missed[key[0]] = missed.get(key[0], 0) + 1
            continue
        bucket = latencies.setdefault(key[0], array.array("d"))
        bucket.extend(t - when for t in times)
        spans[key] = (min(times) - when, max(times) - when)
    unmatched = sum(len(v) for k, v in recorder.received.items() if k not in accepted)
    pipe.send({
        "pushes": recorder.pushes,
        "latencies": {kind: values.tobytes() for kind, values in latencies.items()},
        "events_never_pushed": missed,
        "spans": spans,
        "unmatched_receipts": unmatched,
        "lost_connections": recorder.lost,
        "cpu_s": (cpu_end.ru_utime + cpu_end.ru_stime) - (cpu_start.ru_utime + cpu_start.ru_stime),
    })
    for transport in transports:
        transport.close()


# ---------------------------------------------------------------- the stack and the driver


class Stack:
    def __init__(self, workdir: Path, args: argparse.Namespace) -> None:
        self.workdir = workdir
        self.args = args
        self.broker = Broker()
        self.auth = AuthEndpoint()
        self.redis_prefix = f"{unique_name('bench_accessws')}:"
        self.daemons: list[Daemon] = []
        self.engine_config: dict[str, Any] = {}
        self.accessws: Daemon | None = None

    def start(self) -> None:
        args = self.args
        self.broker.start()
        asyncio.run(create_topics(self.broker.address, ("balances", "orders", "deals")))
        self.auth.start()
        quiet = {"path": str(self.workdir / "log" / "{name}"), "flag": "fatal,error,warn"}
        self.engine_config = engine_config(self.workdir, log_db="log", history_db="history",
                                           brokers=self.broker.address, sqlite=True, cache_timeout=args.engine_cache)
        self.engine_config["log"] = {**quiet, "path": quiet["path"].format(name="matchengine")}
        self._start(Daemon("matchengine", self.engine_config, self.workdir))
        marketprice_addr = None
        if args.marketprice:
            mp = marketprice_config(self.workdir, engine=engine_port(self.engine_config),
                                    brokers=self.broker.address, key_prefix=self.redis_prefix)
            mp["log"] = {**quiet, "path": quiet["path"].format(name="marketprice")}
            mp["flush_interval"] = 3600.0  # Redis persistence is not what is measured here
            self._start(Daemon("marketprice", mp, self.workdir))
            marketprice_addr = mp["svr"]["bind"][0]
        aw = accessws_config(self.workdir, engine=engine_port(self.engine_config), brokers=self.broker.address,
                             auth=self.auth, depth_interval=args.depth_interval, deals_interval=args.deals_interval,
                             process={"file_limit": 20000}, worker_num=args.workers)
        aw["svr"]["max_pkg_size"] = 102400
        aw["svr"]["bind"].append(f"stream@{self.unix_path}")
        aw["log"] = {**quiet, "path": quiet["path"].format(name="accessws")}
        if marketprice_addr is not None:
            aw["marketprice"]["addr"] = marketprice_addr
        self.accessws = self._start(Daemon("accessws", aw, self.workdir))

    @property
    def unix_path(self) -> str:
        return str(self.workdir / "accessws.sock")

    def _start(self, daemon: Daemon) -> Daemon:
        self.daemons.append(daemon)
        return daemon.start()

    def stop(self) -> None:
        for daemon in reversed(self.daemons):
            daemon.stop()
        self.auth.stop()
        self.broker.stop()
        if self.args.marketprice:
            delete_redis_keys(self.redis_prefix)


async def drive(stack: Stack, args: argparse.Namespace) -> dict[tuple[str, str], float]:
    """Alternate a fresh ask and the bid that takes it; return each event's acceptance time."""
    port = engine_port(stack.engine_config)
    client = RpcClient(ClientConfig(name="bench", addr=[parse_address(f"tcp@127.0.0.1:{port}")],
                                    max_pkg_size=2_000_000))
    await client.start()
    assert await client.wait_connected(10)
    accepted: dict[tuple[str, str], float] = {}
    loop = asyncio.get_running_loop()
    rnd = random.Random(7)
    due = loop.time()
    for n in range(int(args.rate * args.seconds)):
        due += rnd.uniform(0.5, 1.5) / args.rate  # jitter, so orders do not phase-lock with the polls
        await asyncio.sleep(max(0.0, due - loop.time()))
        price = str(BASE_PRICE + n // 2)
        side, user = (1, SELLER) if n % 2 == 0 else (2, BUYER)
        body = orjson.dumps([user, MARKET, side, AMOUNT, price, "0", "0", "bench"])
        await client.call(201, body, timeout=5)
        now = time.time()
        if side == 1:
            accepted[("add", price)] = now
        else:
            accepted[("remove", price)] = now
            if args.marketprice:
                accepted[("deal", price)] = now
    await asyncio.sleep(max(1.0, 4 * max(args.depth_interval, args.deals_interval)))
    await client.close()
    return accepted


async def fund(stack: Stack) -> None:
    port = engine_port(stack.engine_config)
    client = RpcClient(ClientConfig(name="fund", addr=[parse_address(f"tcp@127.0.0.1:{port}")],
                                    max_pkg_size=2_000_000))
    await client.start()
    assert await client.wait_connected(10)
    await client.call_json(102, [SELLER, "BTC", "deposit", 1, "1000000", {}], timeout=5)
    await client.call_json(102, [BUYER, "USDT", "deposit", 2, "1000000000", {}], timeout=5)
    await client.close()


def percentiles(values: array.array[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values)

    def at(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2)

    return {"p50_ms": at(0.50), "p90_ms": at(0.90), "p99_ms": at(0.99), "max_ms": round(ordered[-1] * 1000, 2),
            "samples": len(ordered)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=10.0, help="orders per second (half asks, half bids)")
    parser.add_argument("--depth-interval", type=float, default=0.05)
    parser.add_argument("--deals-interval", type=float, default=0.05)
    parser.add_argument("--engine-cache", type=float, default=0.02, help="matchengine cache_timeout")
    parser.add_argument("--no-marketprice", dest="marketprice", action="store_false")
    parser.add_argument("--workers", type=int, default=1, help="accessws worker_num")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the configs and logs of the run")
    parser.add_argument("--no-batch-clients", dest="batch_clients", action="store_false",
                        help="run the client processes under the normal scheduler (they then preempt the server)")
    parser.add_argument("--transport", choices=("tcp", "unix"), default="tcp",
                        help="how clients reach accessws: its TCP port, or its unix socket (as nginx does)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="accessws_fanout_"))
    stack = Stack(workdir, args)
    context = multiprocessing.get_context("spawn")
    pipes: list[Connection] = []
    procs = []
    try:
        stack.start()
        assert stack.accessws is not None
        supervisor = psutil.Process(stack.accessws.pid)
        servers = [supervisor, *supervisor.children()]
        port = ws_port(stack.accessws.config)
        asyncio.run(fund(stack))
        rss_start = sum(server.memory_info().rss for server in servers)
        share = [args.connections // args.clients + (i < args.connections % args.clients)
                 for i in range(args.clients)]
        connect_started = time.monotonic()
        for count in share:
            parent, child = context.Pipe()
            unix_path = stack.unix_path if args.transport == "unix" else ""
            proc = context.Process(target=client_process, args=("127.0.0.1", port, unix_path, count, child,
                                                                args.batch_clients), daemon=True)
            proc.start()
            pipes.append(parent)
            procs.append(proc)
        ready = [pipe.recv() for pipe in pipes]
        connect_seconds = time.monotonic() - connect_started
        connected = sum(r["ready"] for r in ready)
        if connected != args.connections:
            print(f"only {connected} of {args.connections} connections subscribed: {ready}", file=sys.stderr)
        time.sleep(max(1.0, 3 * args.depth_interval))  # let the first (full) snapshots go out
        rss_connected = sum(server.memory_info().rss for server in servers)
        for pipe in pipes:
            pipe.send("start")
        cpu_before = [server.cpu_times() for server in servers]
        rss_peak = [rss_connected]

        async def drive_and_sample() -> dict[tuple[str, str], float]:
            task = asyncio.create_task(drive(stack, args))
            while not task.done():
                rss_peak.append(sum(server.memory_info().rss for server in servers))
                await asyncio.wait({task}, timeout=0.5)
            return task.result()

        accepted = asyncio.run(drive_and_sample())
        cpu_after = [server.cpu_times() for server in servers]
        for pipe in pipes:
            pipe.send(accepted)
        reports = [pipe.recv() for pipe in pipes]
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
        stack.stop()
        if not args.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    kinds: dict[str, array.array[float]] = {}
    for report in reports:
        for kind, raw in report["latencies"].items():
            values = array.array("d")
            values.frombytes(raw)
            kinds.setdefault(kind, array.array("d")).extend(values)
    everything = array.array("d")
    for values in kinds.values():
        everything.extend(values)
    pushes = sum(r["pushes"] for r in reports)
    first_receipt, fanout_spread = array.array("d"), array.array("d")
    for key in accepted:
        spans = [r["spans"][key] for r in reports if key in r["spans"]]
        if spans:
            first, last = min(s[0] for s in spans), max(s[1] for s in spans)
            first_receipt.append(first)
            fanout_spread.append(last - first)
    server_cpu = sum((after.user + after.system) - (before.user + before.system)
                     for before, after in zip(cpu_before, cpu_after, strict=True))
    events = len(accepted)
    print(json.dumps({
        "connections": connected,
        "client_processes": args.clients,
        "transport": args.transport,
        "accessws_workers": args.workers,
        "clients_sched_batch": args.batch_clients,
        "connect_and_subscribe_s": round(connect_seconds, 2),
        "orders": int(args.rate * args.seconds),
        "order_rate_per_s": args.rate,
        "depth_interval_s": args.depth_interval,
        "deals_interval_s": args.deals_interval if args.marketprice else None,
        "engine_cache_timeout_s": args.engine_cache,
        "marketprice": args.marketprice,
        "latency_ms": {"all": percentiles(everything), **{kind: percentiles(v) for kind, v in sorted(kinds.items())}},
        "first_receipt_ms": percentiles(first_receipt),
        "fanout_spread_ms": percentiles(fanout_spread),
        "pushes_received": pushes,
        "events": events,
        "events_never_pushed": reports[0]["events_never_pushed"] if reports else None,
        "unmatched_receipts": sum(r["unmatched_receipts"] for r in reports),
        "lost_connections": sum(r["lost_connections"] for r in reports),
        "server_rss_mb": {"before_connections": round(rss_start / 2**20, 1),
                          "connected": round(rss_connected / 2**20, 1),
                          "peak_during_flow": round(max(rss_peak) / 2**20, 1)},
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_us_per_push": round(server_cpu * 1e6 / pushes, 2) if pushes else None,
        "client_cpu_s": [round(r["cpu_s"], 2) for r in reports],
        "workdir": str(workdir) if args.keep_workdir else None,
    }, indent=2))


if __name__ == "__main__":
    main()
