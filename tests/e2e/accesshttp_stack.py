"""What the accesshttp end-to-end tests share: the gateway's config, real stacks of daemons, an HTTP client.

`Stack` runs a broker, a matchengine (MariaDB) and an accesshttp as real
processes, optionally readhistory and marketprice too; `FakeBackend` is a
tiny RPC server (echo, or silent) for the cases a real backend will not
produce on demand.  `HttpClient` speaks
HTTP/1.1 over one keep-alive socket with http.client and reconnects when the
server closed the connection, so tests see exactly the status, headers and
body bytes the gateway sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import importlib.util
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import orjson

from common.rpc import FrameDecoder, encode_heartbeat_reply, encode_reply
from tests.support import (
    MYSQL,
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

READY_TIMEOUT = 120.0


def backend_client(name: str, port: int, **extra: Any) -> dict[str, Any]:
    return {"name": name, "addr": [f"tcp@127.0.0.1:{port}"], "max_pkg_size": 2_000_000, "reconnect_timeout": 0.2,
            **extra}


def accesshttp_config(workdir: Path, *, engine: int, marketprice: int | None = None,
                      readhistory: int | None = None, **overrides: Any) -> dict[str, Any]:
    """A gateway config on free ports; a backend given no port points at a port where nothing listens."""
    config = base_config("accesshttp", workdir)
    config.update({
        "svr": {"bind": [f"tcp@127.0.0.1:{free_port()}"], "max_pkg_size": 102400},
        "monitor": {"bind": [f"tcp@127.0.0.1:{free_port()}"], "max_pkg_size": 1024},
        "matchengine": backend_client("matchengine", engine),
        "marketprice": backend_client("marketprice", marketprice or free_port()),
        "readhistory": backend_client("readhistory", readhistory or free_port()),
        "timeout": 1.0,
        "worker_num": 1,
        "connect_wait": 0.3,
    })
    config.update(overrides)
    return config


def http_port(config: dict[str, Any]) -> int:
    return int(config["svr"]["bind"][0].rsplit(":", 1)[1])


def monitor_port(config: dict[str, Any]) -> int:
    return int(config["monitor"]["bind"][0].rsplit(":", 1)[1])


@dataclass(slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def closes(self) -> bool:
        return self.headers.get("connection", "").lower() == "close"


class HttpClient:
    """Requests over one keep-alive connection to the gateway (reopened after the server closes it)."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.port = port
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._id = 0

    def request(self, body: bytes | None, *, method: str = "POST", path: str = "/",
                headers: dict[str, str] | None = None) -> Reply:
        if self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        conn = self._conn
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
        except BaseException:
            self.close()
            raise
        reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
        if response.will_close:
            self.close()
        return reply

    def post(self, payload: Any) -> Reply:
        return self.request(orjson.dumps(payload))

    def call(self, method: str, params: list[Any], call_id: int | None = None) -> Reply:
        if call_id is None:
            self._id += 1
            call_id = self._id
        return self.post({"id": call_id, "method": method, "params": params})

    def result(self, method: str, params: list[Any]) -> Any:
        """The `result` of a call that must succeed."""
        reply = self.call(method, params)
        assert reply.status == 200, (method, params, reply)
        answer = reply.json()
        assert answer["error"] is None, (method, params, answer)
        return answer["result"]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def wait_backend(port: int, method: str, params: list[Any], timeout: float = 30.0) -> None:
    """Poll until the gateway forwards `method` (HTTP 200), i.e. its backend is connected."""
    client = HttpClient(port, timeout=5)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with contextlib.suppress(OSError, http.client.HTTPException):
                if client.call(method, params).status == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{method} is not forwarded after {timeout} s")
            time.sleep(0.05)
    finally:
        client.close()


def backend_present(package: str) -> bool:
    """True if the daemon `package` exists in the repository (other engineers may not have written it yet)."""
    return importlib.util.find_spec(f"{package}.__main__") is not None


def wait_history_tables(database: str, timeout: float = 60.0) -> None:
    sql = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s AND table_name LIKE %s"
    deadline = time.monotonic() + timeout
    while mysql_query("information_schema", sql, (database, "user\\_deal\\_history\\_%"))[0][0] < 100:
        assert time.monotonic() < deadline, "the publisher did not create the history tables"
        time.sleep(0.1)


@dataclass
class Stack:
    """Real processes: broker + matchengine (+ readhistory, marketprice) + accesshttp."""

    workdir: Path
    broker: Broker | None = None
    engine: Daemon | None = None
    gateway: Daemon | None = None
    readhistory: Daemon | None = None
    marketprice: Daemon | None = None
    databases: list[str] = field(default_factory=list)
    redis_prefix: str = ""

    @property
    def port(self) -> int:
        assert self.gateway is not None
        return http_port(self.gateway.config)

    def client(self) -> HttpClient:
        return HttpClient(self.port)

    def start(self, *, readhistory: bool = False, marketprice: bool = False,
              engine_overrides: dict[str, Any] | None = None, **gateway_overrides: Any) -> Stack:
        log_db, history_db = unique_name("t_ah_log"), unique_name("t_ah_history")
        self.databases = [log_db, history_db]
        self.broker = Broker().start()
        self.engine = Daemon("matchengine", engine_config(self.workdir, log_db=log_db, history_db=history_db,
                                                          brokers=self.broker.address, **(engine_overrides or {})),
                             self.workdir)
        self.engine.start(wait=False)
        self.engine.wait_ready(READY_TIMEOUT, port=cli_port(self.engine.config))
        rh_port = mp_port = None
        if readhistory:
            wait_history_tables(history_db)
            self.readhistory = Daemon("readhistory", readhistory_config(self.workdir, history_db), self.workdir)
            self.readhistory.start()
            rh_port = rpc_port(self.readhistory.config)
        mp_port = free_port() if marketprice else None
        config = accesshttp_config(self.workdir, engine=engine_port(self.engine.config), marketprice=mp_port,
                                   readhistory=rh_port, **gateway_overrides)
        self.gateway = Daemon("accesshttp", config, self.workdir)
        self.gateway.start(timeout=READY_TIMEOUT)
        wait_backend(self.port, "market.list", [])
        if mp_port is not None:
            # marketprice learns the markets from accesshttp's market.list, as in the original
            self.redis_prefix = unique_name("t_ah") + ":"
            self.marketprice = Daemon("marketprice", marketprice_config(
                self.workdir, port=mp_port, brokers=self.broker.address, accesshttp=f"http://127.0.0.1:{self.port}/",
                key_prefix=self.redis_prefix), self.workdir)
            self.marketprice.start()
            wait_backend(self.port, "market.last", ["BTCBCH"])
        return self

    def stop(self) -> None:
        for daemon in (self.gateway, self.marketprice, self.readhistory, self.engine):
            if daemon is not None:
                daemon.stop()
        if self.broker is not None:
            self.broker.stop()
        if self.databases:
            drop_databases(*self.databases)
        if self.redis_prefix:
            clear_redis_prefix(self.redis_prefix)


def rpc_port(config: dict[str, Any]) -> int:
    return int(config["svr"]["bind"][0].rsplit(":", 1)[1])


def readhistory_config(workdir: Path, database: str) -> dict[str, Any]:
    config = base_config("readhistory", workdir)
    config.update({
        "svr": {"bind": [f"tcp@127.0.0.1:{free_port()}"], "max_pkg_size": 1000000, "heartbeat_check": False},
        "db_history": {"host": MYSQL["host"], "port": MYSQL["port"], "user": "root", "pass": "", "name": database},
        "worker_num": 2,
    })
    return config


def marketprice_config(workdir: Path, *, port: int, brokers: str, accesshttp: str, key_prefix: str) -> dict[str, Any]:
    config = base_config("marketprice", workdir)
    config.update({
        "svr": {"bind": [f"tcp@127.0.0.1:{port}"], "max_pkg_size": 1000000, "heartbeat_check": False},
        "deals": {"brokers": brokers, "topic": "deals", "partition": 0},
        "redis": {"host": "127.0.0.1", "port": 6379},
        "accesshttp": accesshttp,
        "key_prefix": key_prefix,
        "flush_interval": 0.5,
    })
    return config


def clear_redis_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def raw_exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes on a fresh connection and read until the server closes it (or `timeout`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
    return b"".join(chunks)


class FakeBackend:
    """A tiny RPC backend on its own thread and event loop, for what a real one will not do on demand.

    It answers heartbeats.  In mode ``echo`` it replies to every request with
    ``{"conn": <its connection number>, "command": ..., "params": ...}``; in
    mode ``silent`` it never replies to a request.
    """

    def __init__(self, mode: str = "echo", port: int | None = None) -> None:
        self.mode = mode
        self.port = port or free_port()
        self.connections = 0
        self.requests = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._transports: set[asyncio.Transport] = set()

    def start(self) -> FakeBackend:
        started = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                self._loop.create_server(lambda: _FakeConnection(self), "127.0.0.1", self.port, reuse_address=True))
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-backend", daemon=True)
        self._thread.start()
        started.wait(10)
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def shutdown() -> None:
            self._server.close()
            for transport in list(self._transports):
                transport.abort()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        assert self._thread is not None
        self._thread.join(10)
        loop.close()
        self._loop = None


class _FakeConnection(asyncio.Protocol):
    def __init__(self, backend: FakeBackend) -> None:
        self.backend = backend
        self.decoder = FrameDecoder(2_000_000)
        self.transport: asyncio.Transport | None = None
        self.number = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream server's protocol gets a stream transport
        self.backend._transports.add(self.transport)
        self.backend.connections += 1
        self.number = self.backend.connections

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.backend._transports.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        for frame in self.decoder.feed(data):
            if frame.command == 0:
                self.transport.write(encode_heartbeat_reply(frame))
                continue
            self.backend.requests += 1
            if self.backend.mode == "silent":
                continue
            result = {"conn": self.number, "command": frame.command, "params": orjson.loads(frame.body)}
            body = orjson.dumps({"error": None, "result": result, "id": frame.signed_req_id})
            self.transport.write(encode_reply(frame, body))
