"""Shared pieces of the benchmarks: a lean pipelining RPC client, the order stream, CPU accounting over a span,
waiting until history and Kafka are written, and the JSON every throughput bench prints.

`PipelinedRpc` sends pre-encoded frames and matches replies by sequence with
no per-call objects beyond a future, so the load generator costs a few µs per
request and is not the bottleneck.  A throughput figure is honest only when
counted until the publisher has written every history row and Kafka message
of the acknowledged orders: `wait_written` polls the publisher's positions in
its databases, `CpuSpan` reads utime+stime of every process (/proc) from the
start of the load to the end of that catch-up, and `throughput_report` puts
both rates and the CPU µs per order of each process in one shape.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

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


# ---------------------------------------------------------------- CPU of processes over a span

def proc_cpu(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children, ...), from /proc."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as f:
                    children = [int(p) for p in f.read().split()]
            except OSError:
                continue
            found.extend(children)
            pending.extend(children)
    return found


def process_tree(pid: int) -> list[int]:
    return [pid, *descendants(pid)]


def pids_of_executable(path: str) -> list[int]:
    """Processes running the program file `path` (resolved), e.g. a daemon that forked itself away."""
    target = os.path.realpath(path)
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/exe") == target:
                    pids.append(int(entry))
            except OSError:
                continue
    return sorted(pids)


def one_row(cursor: Any) -> tuple[Any, ...]:
    """The row a query that always returns one gave."""
    row = cursor.fetchone()
    if row is None:
        raise LookupError("the query returned no row")
    return tuple(row)


def mariadb_pid(host: str = "127.0.0.1", port: int | None = None) -> int | None:
    """The pid of the MariaDB server behind host:port (by default the tests' server), from its pid file."""
    import pymysql

    from tests.support import MYSQL

    port = MYSQL["port"] if port is None else port

    try:
        conn = pymysql.connect(host=host, port=port, user="root", password="")
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT @@pid_file")
                path = one_row(cur)[0]
        finally:
            conn.close()
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, pymysql.err.Error):
        return None


MARIADB_SHARED_NOTE = ("the machine's shared MariaDB server: its CPU counts every client's queries during the "
                       "span, other users' included; on a quiet machine that is this bench's history alone")


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine so far, summed over its cores (/proc/stat)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return (total - idle) / CLK_TCK, total / CLK_TCK


@dataclass(slots=True)
class CpuUsage:
    """CPU seconds each role used over a span of wall time, and the whole machine's busy seconds."""

    seconds: dict[str, float]
    span_s: float
    machine_busy_s: float | None = None
    processes: dict[str, list[int]] = field(default_factory=dict)


class CpuSpan:
    """CPU each role's processes spend between `start` and `stop`.

    Every `sample` (call it while waiting, e.g. in a poll loop) keeps each
    process's latest reading, so one that exits mid-span still counts what it
    had used by its last sample.  `add` charges CPU measured elsewhere to a
    role (a finished child's rusage).  `read` is injectable for tests.
    """

    def __init__(self, roles: dict[str, list[int]], read: Callable[[int], float] = proc_cpu,
                 machine: Callable[[], tuple[float, float]] | None = machine_busy_seconds,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.roles = {role: list(pids) for role, pids in roles.items() if pids}
        self._read = read
        self._machine = machine
        self._clock = clock
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._added: dict[str, float] = {}
        self._machine0: float | None = None
        self._started = 0.0

    def _reading(self, pid: int) -> float | None:
        try:
            return self._read(pid)
        except (OSError, ValueError, IndexError):
            return None

    def start(self) -> CpuSpan:
        self._started = self._clock()
        self._machine0 = self._machine()[0] if self._machine else None
        for pids in self.roles.values():
            for pid in pids:
                value = self._reading(pid)
                if value is not None:
                    self._first[pid] = self._last[pid] = value
        return self

    def sample(self) -> None:
        for pid in self._first:
            value = self._reading(pid)
            if value is not None:
                self._last[pid] = value

    def add(self, role: str, seconds: float) -> None:
        self._added[role] = self._added.get(role, 0.0) + seconds

    def stop(self) -> CpuUsage:
        self.sample()
        span = self._clock() - self._started
        seconds = {role: sum(self._last[p] - self._first[p] for p in pids if p in self._first)
                   for role, pids in self.roles.items()}
        for role, extra in self._added.items():
            seconds[role] = seconds.get(role, 0.0) + extra
        machine = (self._machine()[0] - self._machine0) if self._machine and self._machine0 is not None else None
        return CpuUsage(seconds, span, machine, {role: list(pids) for role, pids in self.roles.items()})


def cpu_report(usage: CpuUsage, orders: int, shared: dict[str, str] | None = None) -> dict[str, Any]:
    """CPU µs per order of each role and in total, each role's share of one core, and the whole machine's
    CPU per order over the same span (it includes what no listed process did: other programs, softirq)."""
    per = max(orders, 1)
    per_order = {role: round(s * 1e6 / per, 1) for role, s in usage.seconds.items()}
    per_order["total"] = round(sum(usage.seconds.values()) * 1e6 / per, 1)
    report: dict[str, Any] = {
        "cpu_us_per_order": per_order,
        "cpu_pct_of_one_core": {role: round(100 * s / usage.span_s, 1) if usage.span_s > 0 else None
                                for role, s in usage.seconds.items()},
    }
    if usage.machine_busy_s is not None:
        report["machine_cpu_us_per_order"] = round(usage.machine_busy_s * 1e6 / per, 1)
        report["machine_unattributed_cpu_us_per_order"] = round(
            (usage.machine_busy_s - sum(usage.seconds.values())) * 1e6 / per, 1)
        report["machine_busy_pct"] = (round(100 * usage.machine_busy_s / (usage.span_s * (os.cpu_count() or 1)), 1)
                                      if usage.span_s > 0 else None)
    if usage.processes:
        report["processes"] = usage.processes
    if shared:
        report["shared_processes"] = {role: note for role, note in shared.items() if role in usage.seconds}
    return report


def throughput_report(*, acked: int, load_s: float, catch_up_s: float, usage: CpuUsage,
                      shared: dict[str, str] | None = None) -> dict[str, Any]:
    """The figures every throughput bench prints: the acknowledged rate, the rate counted until every history
    row and Kafka message was written, and CPU per order of each process over that whole span."""
    span = load_s + catch_up_s
    return {
        "acked_orders": acked,
        "load_s": round(load_s, 3),
        "acked_orders_per_s": round(acked / load_s, 1) if load_s > 0 else None,
        "catch_up_s": round(catch_up_s, 3),
        "written_orders_per_s": round(acked / span, 1) if span > 0 else None,
        "cpu_span_s": round(usage.span_s, 3),
        **cpu_report(usage, acked, shared),
    }


# ---------------------------------------------------------------- everything written: the publisher's positions

def parse_status(text: str) -> dict[str, int]:
    """The matchengine CLI's `status` reply ("operlog last ID: 12", "history pending 0", ...), the port's and
    the original's alike."""
    result = {}
    for line in text.splitlines():
        key, _, value = line.strip().rpartition(" ")
        if key and value.lstrip("-").isdigit():
            result[key.rstrip(":")] = int(value)
    return result


def engine_status(cli_port: int, host: str = "127.0.0.1", timeout: float = 30.0) -> dict[str, int]:
    with socket.create_connection((host, cli_port), timeout=timeout) as s:
        s.sendall(b"status\n")
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while data := s.recv(65536):
            chunks.append(data)
    return parse_status(b"".join(chunks).decode())


class PublisherPositions:
    """How far the port's publisher has written: the lowest history stripe position (`history_position`, on
    every history server) and the message position (`message_position`, recorded once the broker
    acknowledged), read from its databases (MariaDB or SQLite, as in the matchengine config's `db_log` /
    `db_history`, one database object or a list of them)."""

    def __init__(self, db_log: dict[str, Any], db_history: dict[str, Any] | list[dict[str, Any]]) -> None:
        self.db_log = db_log
        self.history_dbs = db_history if isinstance(db_history, list) else [db_history]
        self._mysql: dict[tuple[str, int], Any] = {}

    def _connection(self, db: dict[str, Any]) -> Any:
        import pymysql

        key = (db.get("host", "127.0.0.1"), int(db.get("port", 3306)))
        if key not in self._mysql:
            self._mysql[key] = pymysql.connect(host=key[0], port=key[1], user=db.get("user", "root"),
                                               password=db.get("pass", ""), autocommit=True)
        return self._mysql[key]

    def _query_mysql(self, db: dict[str, Any], sql: str) -> int | None:
        import pymysql

        try:
            with self._connection(db).cursor() as cur:
                cur.execute(sql)
                return one_row(cur)[0]
        except pymysql.err.ProgrammingError:  # the publisher has not created its tables yet
            return None

    @staticmethod
    def _query_sqlite(path: str, sql: str) -> int | None:
        import sqlite3

        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        except sqlite3.Error:
            return None
        try:
            row = conn.execute(sql).fetchone()
            return row[0] if row else None
        except sqlite3.Error:
            return None
        finally:
            conn.close()

    def _query(self, db: dict[str, Any], table: str, where: str = "") -> int | None:
        if "sqlite" in db:
            return self._query_sqlite(db["sqlite"], f"SELECT MIN(oper_id) FROM {table} {where}")
        return self._query_mysql(db, f"SELECT MIN(oper_id) FROM `{db['name']}`.`{table}` {where}")

    def read(self) -> tuple[int, int]:
        """(history, messages): every operation up to each id has its rows / messages written."""
        histories = [self._query(db, "history_position") for db in self.history_dbs]
        history = 0 if None in histories else min(h for h in histories if h is not None)
        messages = self._query(self.db_log, "message_position", "WHERE id = 1")
        return history or 0, messages or 0

    def close(self) -> None:
        for conn in self._mysql.values():
            conn.close()
        self._mysql.clear()


def wait_until(done: Callable[[], bool], *, timeout: float, interval: float = 0.1,
               meter: CpuSpan | None = None, what: str = "condition") -> float:
    """Poll `done` until it holds; the seconds that took.  Samples `meter` at every poll."""
    started = time.monotonic()
    while not done():
        if meter is not None:
            meter.sample()
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not reached after {timeout} s")
        time.sleep(interval)
    return time.monotonic() - started


def wait_written(positions: PublisherPositions, upto: int, *, meter: CpuSpan | None = None,
                 timeout: float = 1800.0, alive: Callable[[], bool] | None = None) -> float:
    """Wait until the publisher has written the history rows and Kafka messages of every operation up to `upto`
    (the engine's `operlog last ID` when the load ended); the seconds that took.  `alive` false stops the wait."""
    def done() -> bool:
        if alive is not None and not alive():
            raise RuntimeError("the publisher is not running")
        history, messages = positions.read()
        return history >= upto and messages >= upto

    return wait_until(done, timeout=timeout, meter=meter, what=f"history and messages up to operation {upto}")


HISTORY_KINDS = ("balance_history", "order_history", "order_detail", "deal_history", "user_deal_history")


def history_rows(conn: Any, database: str) -> int:
    """Rows in every history shard table of `database` (exact counts), on a pymysql connection."""
    with conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (database,))
        tables = [row[0] for row in cur.fetchall()
                  if row[0].startswith(HISTORY_KINDS) and not row[0].endswith("_example")]
        if not tables:
            return 0
        cur.execute(" UNION ALL ".join(f"SELECT COUNT(*) FROM `{database}`.`{t}`" for t in tables))
        return sum(int(row[0]) for row in cur.fetchall())


# ---------------------------------------------------------------- several runs

def spread(values: list[float | None]) -> dict[str, Any]:
    """Every run's value and their spread (min, median, max, and max - min as a share of the median)."""
    present = sorted(v for v in values if v is not None)
    if not present:
        return {"runs": values, "min": None, "median": None, "max": None, "spread_pct": None}
    middle = len(present) // 2
    median = present[middle] if len(present) % 2 else (present[middle - 1] + present[middle]) / 2
    return {"runs": values, "min": present[0], "median": round(median, 3), "max": present[-1],
            "spread_pct": round(100 * (present[-1] - present[0]) / median, 1) if median else None}


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
