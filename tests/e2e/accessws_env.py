"""What the accessws end-to-end tests share: the real daemons, a real HTTP auth endpoint, a WS client.

`Exchange` runs a broker, a matchengine and an accessws as real processes;
`AuthEndpoint` is an aiohttp server on its own thread answering the way the
exchange's auth/sign endpoints do; `WsClient` is a `websockets` client that
matches replies by id and keeps pushes apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import redis
from aiohttp import web
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from common.config import ClientConfig, parse_address
from common.rpc import RpcClient
from tests.support import Broker, Daemon, base_config, engine_config, engine_port, free_port, unique_name

DEPTH_LIMITS = [1, 5, 10, 20, 50]
DEPTH_MERGES = ["0", "0.01", "0.1", "1", "10"]


class AuthEndpoint:
    """The auth_url / sign_url endpoints, driven by the token the client presents.

    auth (`Authorization` header): ``user:<id>`` → that user; ``refuse`` →
    code 401 with a message; ``slow`` → answers after 5 s; ``garbage`` → an
    HTML 500 page; ``nocode`` → a JSON object without `code`; ``strcode`` →
    a string `code` with a user id.  sign: ``access_id=key-<id>`` with
    ``Authorization: good-signature`` → that user, else code 1.
    """

    SLOW_SECONDS = 5.0

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self.tokens: Counter[str] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = asyncio.Event()
        self._thread: threading.Thread | None = None

    @property
    def auth_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/auth"

    @property
    def sign_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sign"

    async def _auth(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "")
        self.requests.append(("auth", dict(request.headers), dict(request.query)))
        self.tokens[token] += 1
        if token.startswith("user:"):
            return web.json_response({"code": 0, "message": None, "data": {"user_id": int(token[5:])}})
        if token == "refuse":
            return web.json_response({"code": 401, "message": "token expired", "data": None})
        if token == "slow":
            await asyncio.sleep(self.SLOW_SECONDS)
            return web.json_response({"code": 0, "message": None, "data": {"user_id": 1}})
        if token == "garbage":
            return web.Response(status=500, text="<html>internal server error</html>")
        if token == "nocode":
            return web.json_response({"message": "who knows"})
        if token == "strcode":
            return web.json_response({"code": "1", "message": "denied", "data": {"user_id": 5}})
        return web.json_response({"code": 0, "message": None, "data": {}})

    async def _sign(self, request: web.Request) -> web.Response:
        self.requests.append(("sign", dict(request.headers), dict(request.query)))
        access_id = request.query.get("access_id", "")
        if request.headers.get("Authorization") == "good-signature" and access_id.startswith("key-") \
                and request.query.get("tonce", "").isdigit():
            return web.json_response({"code": 0, "message": None, "data": {"user_id": int(access_id[4:])}})
        return web.json_response({"code": 1, "message": "signature error", "data": None})

    def start(self) -> AuthEndpoint:
        ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve(ready)), name="auth-endpoint",
                                        daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    async def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_get("/auth", self._auth)
        app.router.add_get("/sign", self._sign)
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.2)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        ready.set()
        await self._stopping.wait()
        await runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(10)


def accessws_config(workdir: Path, *, engine: int, brokers: str, auth: AuthEndpoint, name: str = "accessws",
                    **overrides: Any) -> dict[str, Any]:
    config = base_config(name, workdir)
    config.update({
        "svr": {"bind": [f"tcp@127.0.0.1:{free_port()}"], "max_pkg_size": 10240, "keep_alive": 3600},
        "monitor": {"bind": f"tcp@127.0.0.1:{free_port()}", "max_pkg_size": 1024},
        # a request_limit below the frame size, so that refusing oversized params can be seen
        "matchengine": {"name": "matchengine", "addr": f"tcp@127.0.0.1:{engine}", "max_pkg_size": 2000000,
                        "request_limit": 4096},
        "marketprice": {"name": "marketprice", "addr": f"tcp@127.0.0.1:{free_port()}", "max_pkg_size": 2000000},
        "readhistory": {"name": "readhistory", "addr": f"tcp@127.0.0.1:{free_port()}", "max_pkg_size": 2000000},
        "orders": {"brokers": brokers, "topic": "orders"},
        "balances": {"brokers": brokers, "topic": "balances"},
        "auth_url": auth.auth_url,
        "sign_url": auth.sign_url,
        "backend_timeout": 0.6,
        "cache_timeout": 0.3,
        "depth_limit": DEPTH_LIMITS,
        "depth_merge": DEPTH_MERGES,
        **{f"{family}_interval": 0.1 for family in ("deals", "price", "state", "today", "kline", "depth")},
    })
    config.update(overrides)
    return config


def marketprice_config(workdir: Path, *, engine: int, brokers: str, key_prefix: str) -> dict[str, Any]:
    """A real marketprice on the test's broker, the local Redis (keys under `key_prefix`) and its market list
    asked of the matchengine."""
    config = base_config("marketprice", workdir)
    config.update({
        "svr": {"bind": [f"tcp@127.0.0.1:{free_port()}"], "max_pkg_size": 1000000, "heartbeat_check": False},
        "deals": {"brokers": brokers, "topic": "deals"},
        "redis": {"host": "127.0.0.1", "port": 6379},
        "key_prefix": key_prefix,
        "matchengine": {"name": "matchengine", "addr": f"tcp@127.0.0.1:{engine}", "max_pkg_size": 2000000},
        "cache_timeout": 0.05,
    })
    return config


def readhistory_config(workdir: Path, *, history: dict[str, Any]) -> dict[str, Any]:
    """A real readhistory reading the history database the matchengine writes."""
    config = base_config("readhistory", workdir)
    config.update({
        "svr": {"bind": [f"tcp@127.0.0.1:{free_port()}"], "max_pkg_size": 1000000, "heartbeat_check": False},
        "db_history": history,
        "worker_num": 2,
    })
    return config


def delete_redis_keys(prefix: str) -> None:
    client = redis.Redis(host="127.0.0.1", port=6379)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def ws_port(config: dict[str, Any]) -> int:
    return int(next(b for b in config["svr"]["bind"] if b.startswith("tcp@")).rsplit(":", 1)[1])


async def create_topics(brokers: str, topics: tuple[str, ...]) -> None:
    """Create the topics before any client asks for them (the broker would create them on first use)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1) for topic in topics])
    finally:
        await admin.close()


class Exchange:
    """A broker, a matchengine, the auth endpoint and an accessws, all real."""

    def __init__(self, workdir: Path, *, with_marketprice: bool = False, with_readhistory: bool = False,
                 **accessws_overrides: Any) -> None:
        self.workdir = workdir
        self.databases = [unique_name("t_awlog"), unique_name("t_awhist")]
        self.broker = Broker()
        self.auth = AuthEndpoint()
        self.engine: Daemon | None = None
        self.marketprice: Daemon | None = None
        self.readhistory: Daemon | None = None
        self.with_readhistory = with_readhistory
        self.redis_prefix = f"{unique_name('t_accessws')}:" if with_marketprice else ""
        self.accessws: Daemon | None = None
        self.overrides = accessws_overrides
        self.rpc: RpcClient | None = None

    def start(self) -> Exchange:
        self.broker.start()
        asyncio.run(create_topics(self.broker.address, ("balances", "orders", "deals", "stops")))
        self.auth.start()
        config = engine_config(self.workdir, log_db=self.databases[0], history_db=self.databases[1],
                               brokers=self.broker.address, sqlite=True, cache_timeout=0.02)
        self.engine = Daemon("matchengine", config, self.workdir).start()
        aw_config = accessws_config(self.workdir, engine=engine_port(config), brokers=self.broker.address,
                                    auth=self.auth, **self.overrides)
        if self.redis_prefix:
            mp_config = marketprice_config(self.workdir, engine=engine_port(config), brokers=self.broker.address,
                                           key_prefix=self.redis_prefix)
            self.marketprice = Daemon("marketprice", mp_config, self.workdir).start()
            aw_config["marketprice"]["addr"] = mp_config["svr"]["bind"][0]
        if self.with_readhistory:
            rh_config = readhistory_config(self.workdir, history=config["db_history"])
            self.readhistory = Daemon("readhistory", rh_config, self.workdir).start()
            aw_config["readhistory"]["addr"] = rh_config["svr"]["bind"][0]
        self.accessws = Daemon("accessws", aw_config, self.workdir).start()
        return self

    def stop(self) -> None:
        for daemon in (self.accessws, self.readhistory, self.marketprice, self.engine):
            if daemon is not None:
                daemon.stop()
        self.auth.stop()
        self.broker.stop()
        if self.redis_prefix:
            delete_redis_keys(self.redis_prefix)

    @property
    def url(self) -> str:
        assert self.accessws is not None
        return f"ws://127.0.0.1:{ws_port(self.accessws.config)}/"

    async def engine_client(self) -> RpcClient:
        assert self.engine is not None
        client = RpcClient(ClientConfig(name="test", addr=[parse_address(f"tcp@127.0.0.1:{engine_port(self.engine.config)}")],
                                        max_pkg_size=2_000_000))
        await client.start()
        assert await client.wait_connected(10)
        return client


class WsClient:
    """A websockets client: `call` waits for the reply with its id; pushes queue up in `pushes`."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.pushes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.raw_replies: dict[int, str | bytes] = {}
        self.next_id = 1
        self.closed = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, url: str, **kwargs: Any) -> WsClient:
        return cls(await connect(url, **kwargs))

    async def _read(self) -> None:
        try:
            with contextlib.suppress(ConnectionClosed):
                async for message in self.connection:
                    body = orjson.loads(message)
                    if body.get("method") is not None:
                        await self.pushes.put(body)
                        continue
                    future = self.replies.pop(body["id"], None)
                    if future is not None and not future.done():
                        self.raw_replies[body["id"]] = message
                        future.set_result(body)
        finally:
            self.closed.set()

    async def send_raw(self, data: str | bytes) -> None:
        await self.connection.send(data)

    async def call_raw(self, data: str | bytes, reply_id: int | None, timeout: float = 5.0) -> dict[str, Any]:
        """Send `data` as it is (text or binary frame) and wait for the reply whose id is `reply_id`."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.replies[reply_id] = future  # type: ignore[index]
        await self.connection.send(data)
        return await asyncio.wait_for(future, timeout)

    async def call(self, method: str, params: list[Any], *, request_id: int | None = None,
                   timeout: float = 5.0) -> dict[str, Any]:
        if request_id is None:
            request_id = self.next_id
            self.next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.replies[request_id] = future
        await self.connection.send(orjson.dumps({"id": request_id, "method": method, "params": params}).decode())
        return await asyncio.wait_for(future, timeout)

    async def result(self, method: str, params: list[Any], **kwargs: Any) -> Any:
        reply = await self.call(method, params, **kwargs)
        assert reply["error"] is None, reply
        return reply["result"]

    async def error(self, method: str, params: list[Any], **kwargs: Any) -> tuple[int, str]:
        reply = await self.call(method, params, **kwargs)
        assert reply["result"] is None and reply["error"] is not None, reply
        return reply["error"]["code"], reply["error"]["message"]

    async def reason(self, method: str, params: list[Any], **kwargs: Any) -> str:
        """The `data` of an error 1 reply (what was wrong), its code and message checked."""
        reply = await self.call(method, params, **kwargs)
        assert reply["result"] is None and reply["error"] is not None, reply
        assert (reply["error"]["code"], reply["error"]["message"]) == (1, "invalid argument"), reply
        return str(reply["error"]["data"])

    async def push(self, method: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
        """The next push (of `method`, skipping others)."""
        deadline = time.monotonic() + timeout
        while True:
            body = await asyncio.wait_for(self.pushes.get(), max(0.01, deadline - time.monotonic()))
            if method is None or body["method"] == method:
                return body

    async def no_push(self, method: str | None = None, wait: float = 0.5) -> None:
        """Assert that no push (of `method`) arrives within `wait` seconds."""
        with contextlib.suppress(TimeoutError):
            body = await self.push(method, wait)
            raise AssertionError(f"unexpected push {body}")

    def drain(self) -> list[dict[str, Any]]:
        items = []
        while not self.pushes.empty():
            items.append(self.pushes.get_nowait())
        return items

    async def close(self) -> None:
        await self.connection.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


async def wait_backend(client: WsClient, timeout: float = 10.0) -> None:
    """Wait until accessws is connected to matchengine (depth.query stops answering error 2)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = await client.call("depth.query", ["BTCUSDT", 1, "0"])
        if reply["error"] is None:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("accessws is not connected to matchengine")
