"""What the marketprice process tests share: configs, a market-list endpoint, a throw-away Redis, RPC calls.

`marketprice_config` builds a config on the test's broker and a Redis key
prefix; `MarketListEndpoint` answers accesshttp's `market.list` over HTTP;
`RedisServer` runs a private `redis-server` (so a test can stop and restart
Redis); `MarketpriceClient` calls the five RPC commands.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import redis
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from common.config import ClientConfig, parse_address
from common.rpc import RpcClient
from tests.support import base_config, free_port, wait_port

TZ_UTC8 = "CST-8"
UTC8 = 8 * 3600


def marketprice_config(workdir: Path, *, brokers: str, key_prefix: str, engine_port: int | None = None,
                       accesshttp: str = "", redis_port: int = 6379, **overrides: Any) -> dict[str, Any]:
    config = base_config("marketprice", workdir)
    config["log"]["flag"] = "fatal,error,warn,info"
    config.update({
        "svr": {"bind": [f"tcp@127.0.0.1:{free_port()}"], "max_pkg_size": 1_000_000, "heartbeat_check": False},
        "deals": {"brokers": brokers, "topic": "deals", "partition": 0},
        "redis": {"host": "127.0.0.1", "port": redis_port},
        "key_prefix": key_prefix,
        "flush_interval": 0.3,
        "cache_timeout": 0.01,
    })
    if engine_port is not None:
        config["matchengine"] = {"name": "matchengine", "addr": f"tcp@127.0.0.1:{engine_port}",
                                 "max_pkg_size": 1_000_000}
    if accesshttp:
        config["accesshttp"] = accesshttp
    config.update(overrides)
    return config


def rpc_port(config: dict[str, Any]) -> int:
    return int(config["svr"]["bind"][0].rsplit(":", 1)[1])


def local_day(ts: float) -> int:
    """Local midnight in UTC+8 (the zone the tests run marketprice in)."""
    return (int(ts) + UTC8) // 86400 * 86400 - UTC8


class MarketListEndpoint:
    """accesshttp's `market.list` over HTTP POST (what marketprice asks at start)."""

    def __init__(self, names: list[str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.requests: list[dict[str, Any]] = []
        body = orjson.dumps({"error": None, "result": [{"name": n, "stock": "BTC", "money": "USDT"} for n in names],
                             "id": 1})
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                requests.append(orjson.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server: ThreadingHTTPServer | None = None
        self.handler = Handler

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> MarketListEndpoint:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class RedisServer:
    """A private, memory-only redis-server on a free port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, 10)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port)


def delete_keys(prefix: str, port: int = 6379) -> None:
    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


async def create_topic(brokers: str, topic: str = "deals") -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


async def produce(brokers: str, values: list[bytes], topic: str = "deals") -> None:
    producer = AIOKafkaProducer(bootstrap_servers=brokers, enable_idempotence=False)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, partition=0)
    finally:
        await producer.stop()


def deal_message(deal_id: int, at: float, market: str, price: str, amount: str, side: int = 2) -> bytes:
    """A `deals` message as the matchengine writes it (spec/matchengine.md §11.4)."""
    return orjson.dumps([at, market, 2 * deal_id, 2 * deal_id + 1, 1, 2, price, amount, "0", "0", side, deal_id,
                         "BTC", "USDT"])


class MarketpriceClient:
    """RPC calls to a marketprice process."""

    def __init__(self, port: int) -> None:
        self.client = RpcClient(ClientConfig(name="test", addr=[parse_address(f"tcp@127.0.0.1:{port}")],
                                             max_pkg_size=10_000_000))

    async def __aenter__(self) -> MarketpriceClient:
        await self.client.start()
        assert await self.client.wait_connected(10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    async def call(self, command: int, params: list[Any]) -> Any:
        return await self.client.call_json(command, params, timeout=10)

    async def last(self, market: str) -> str:
        return await self.call(304, [market])

    async def deals(self, market: str, limit: int = 10_000, last_id: int = 0) -> list[dict[str, Any]]:
        return await self.call(303, [market, limit, last_id])

    async def status(self, market: str, period: int = 86400) -> dict[str, Any]:
        return await self.call(301, [market, period])

    async def today(self, market: str) -> dict[str, Any]:
        return await self.call(305, [market])

    async def kline(self, market: str, start: int, end: int, interval: int) -> list[list[Any]]:
        return await self.call(302, [market, start, end, interval])

    async def wait_deal(self, market: str, deal_id: int, timeout: float = 20.0) -> None:
        """Wait until `market`'s newest deal has at least id `deal_id`."""
        deadline = time.monotonic() + timeout
        newest = 0
        while time.monotonic() < deadline:
            try:
                deals = await self.deals(market, 1)
            except ConnectionError:
                deals = []
            newest = deals[0]["id"] if deals else 0
            if newest >= deal_id:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{market}: newest deal {newest}, expected {deal_id}")
