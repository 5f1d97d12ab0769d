"""Shared pieces of the benchmarks: a lean pipelining RPC client, the order stream, CPU accounting.

`PipelinedRpc` sends pre-encoded frames and matches replies by sequence with
no per-call objects beyond a future, so the load generator costs a few µs per
request and is not the bottleneck.  `CpuMeter` reads utime+stime of processes
from /proc to report CPU µs per order for each process, as the issues ask.
"""

from __future__ import annotations

import asyncio
import os
import random
import struct
import subprocess
import time
import zlib
from dataclasses import dataclass, field
from typing import cast

import orjson

from common.config import DatabaseConfig
from common.errors import RpcError
from common.storage import open_database
from matchengine.commands import OP_LIMIT_ORDER, OP_UPDATE_BALANCE, Commands
from matchengine.operlog import OperlogWriter
from matchengine.slice import ensure_log_tables

HEADER = struct.Struct("<IIHIIIQIH")
MAGIC = 0x70656562
CLK_TCK = os.sysconf("SC_CLK_TCK")
AMOUNTS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)


def encode(command: int, sequence: int, body: bytes, req_id: int = 0) -> bytes:
    head = HEADER.pack(MAGIC, command, 0, 0, 0, sequence, req_id, len(body), 0)
    crc = zlib.crc32(head + body)
    return head[:14] + struct.pack("<I", crc) + head[18:] + body


def order_stream(rnd: random.Random, count: int, users: int, market: str = "BTCUSDT", taker_ratio: float = 0.5,
                 band: int = 20, mid: float = 10000.0, tick: float = 0.01, money_prec: int = 2,
                 user_base: int = 1) -> list[bytes]:
    """The order stream of ../shared/bench/load_http.py (JSON param bodies of order.put_limit)."""
    bodies = []
    for _ in range(count):
        side = rnd.choice((1, 2))
        if rnd.random() < taker_ratio:
            off = (band + 5) * tick
            price = mid + off if side == 2 else mid - off
        else:
            off = rnd.randint(1, band) * tick
            price = mid - off if side == 2 else mid + off
        bodies.append(b'[%d, "%s", %d, "%.8f", "%.*f", "0.001", "0.001", "bench"]' % (
            user_base + rnd.randrange(users), market.encode(), side, rnd.choice(AMOUNTS), money_prec, price))
    return bodies


@dataclass(slots=True)
class Tally:
    accepted: int = 0
    errors: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    deals_orders: int = 0


class PipelinedRpc(asyncio.Protocol):
    """One connection; `call` returns a future of the raw reply body."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.pending: dict[int, asyncio.Future[bytes]] = {}
        self.sequence = 0
        self.closed = asyncio.get_event_loop().create_future()

    @classmethod
    async def connect(cls, host: str, port: int) -> PipelinedRpc:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(cls, host, port)
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a TCP connection gets a stream transport

    def connection_lost(self, exc: Exception | None) -> None:
        for future in self.pending.values():
            if not future.done():
                future.set_exception(ConnectionError("closed"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        offset = 0
        size = len(buffer)
        while size - offset >= 36:
            body_size, ext_size = struct.unpack_from("<IH", buffer, offset + 30)
            end = offset + 36 + ext_size + body_size
            if end > size:
                break
            sequence = struct.unpack_from("<I", buffer, offset + 18)[0]
            future = self.pending.pop(sequence, None)
            if future is not None:
                future.set_result(bytes(buffer[end - body_size:end]))
            offset = end
        if offset:
            del buffer[:offset]

    def call(self, command: int, body: bytes) -> asyncio.Future[bytes]:
        self.sequence = (self.sequence + 1) & 0xFFFFFFFF or 1
        future = asyncio.get_running_loop().create_future()
        self.pending[self.sequence] = future
        assert self.transport is not None
        self.transport.write(encode(command, self.sequence, body))
        return future

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def run_stream(conns: list[PipelinedRpc], command: int, bodies: list[bytes], inflight: int,
                     duration: float | None = None) -> tuple[Tally, float]:
    """Send `bodies` keeping `inflight` requests outstanding (spread over the connections)."""
    tally = Tally()
    index = [0]
    deadline = time.perf_counter() + duration if duration else None

    async def worker(conn: PipelinedRpc) -> None:
        while index[0] < len(bodies):
            if deadline is not None and time.perf_counter() >= deadline:
                return
            body = bodies[index[0]]
            index[0] += 1
            started = time.perf_counter()
            reply = await conn.call(command, body)
            tally.latencies.append(time.perf_counter() - started)
            if reply.startswith(b'{"error":null'):
                tally.accepted += 1
                if b'"deal_stock":"0"' not in reply:
                    tally.deals_orders += 1
            else:
                code = int(reply.split(b'"code":', 1)[1].split(b",", 1)[0]) if b'"code":' in reply else -1
                tally.errors[code] = tally.errors.get(code, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(conns[i % len(conns)]) for i in range(inflight)))
    return tally, time.perf_counter() - started


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def latency_ms(values: list[float]) -> dict[str, float | None]:
    return {name: (None if v is None else round(v * 1000, 3))
            for name, v in (("p50", percentile(values, 50)), ("p99", percentile(values, 99)),
                            ("max", max(values) if values else None))}


def proc_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pids_named(name: str) -> list[int]:
    result = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True)
    return [int(p) for p in result.stdout.split()]


class CpuMeter:
    """CPU seconds each named process spends between `start` and `stop`."""

    def __init__(self, processes: dict[str, int]) -> None:
        self.processes = dict(processes)
        self.processes["load_generator"] = os.getpid()
        self.before: dict[str, float] = {}

    def start(self) -> None:
        self.before = {name: self._cpu(pid) for name, pid in self.processes.items()}

    def _cpu(self, pid: int) -> float:
        try:
            return proc_cpu(pid)
        except OSError:
            return 0.0

    def stop(self, per: int, seconds: float) -> dict[str, dict[str, float]]:
        report = {}
        for name, pid in self.processes.items():
            used = self._cpu(pid) - self.before.get(name, 0.0)
            report[name] = {"cpu_pct": round(100 * used / seconds, 1),
                            "cpu_us_per_order": round(used / max(per, 1) * 1e6, 1)}
        report["total_cpu_us_per_order"] = {"value": round(sum(v["cpu_us_per_order"] for v in report.values()), 1)}
        return report


async def write_operation_log(db_config: DatabaseConfig, commands: Commands, *, users: int, book: int, orders: int,
                              money_prec: int) -> tuple[int, int]:
    """An operation log of the load_http.py stream, as the engine writes it, through `commands`' core:
    `users` funded users, `book` resting orders, then `orders` of which about half cross.
    (operations logged, orders accepted)."""
    db = open_database(db_config)
    await db.start()
    await ensure_log_tables(db)
    writer = OperlogWriter(db, 0)
    writer.start()
    now = time.time()
    for user in range(1, users + 1):
        for asset, amount in (("BTC", "1000000"), ("USDT", "10000000000")):
            params = [user, asset, "deposit", user, amount, {}]
            commands.balance_update(params, now)
            writer.append(now, OP_UPDATE_BALANCE, params)
    rnd = random.Random(1)
    stream = (order_stream(rnd, book, users, taker_ratio=0.0, band=200, money_prec=money_prec)
              + order_stream(rnd, orders, users, money_prec=money_prec))
    accepted = 0
    for body in stream:
        params = orjson.loads(body)
        now += 0.0001
        try:
            commands.put_limit(params, now)
        except RpcError:
            continue
        accepted += 1
        writer.append(now, OP_LIMIT_ORDER, params)
        if writer.pending >= 20000:
            await writer.flush()
    await writer.flush()
    await writer.stop()
    await db.close()
    return writer.last_id, accepted
