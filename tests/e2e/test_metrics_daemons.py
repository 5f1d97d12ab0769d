"""The monitor ports of marketprice, readhistory, alertcenter and accesshttp as real processes.

Counters move as the traffic says, and ``/readyz`` names the backend that is
away (Redis, the broker, MariaDB: cut with a TCP proxy, tests/proxy.py, the
shared services stay up) and turns ready again after.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from common.alert import ALERT_MAGIC
from tests.e2e.accesshttp_stack import FakeBackend, HttpClient, accesshttp_config, monitor_port, wait_backend
from tests.e2e.marketprice_env import (
    MarketListEndpoint,
    MarketpriceClient,
    create_topic,
    deal_message,
    delete_keys,
    marketprice_config,
    produce,
    rpc_port,
)
from tests.e2e.monitor_client import (
    http_get,
    scrape,
    value,
    wait_ready,
    wait_until,
    with_monitor,
)
from tests.e2e.test_readhistory_engine import readhistory_config
from tests.proxy import TcpProxy, proxied_broker
from tests.support import MYSQL, Broker, Daemon, free_port, mysql_query, unique_name

REDIS_PORT = 6379

@pytest.fixture
def broker_proxy() -> Iterator[tuple[Broker, TcpProxy]]:
    with proxied_broker() as pair:
        yield pair



@pytest.fixture
def redis_proxy() -> Iterator[TcpProxy]:
    proxy = TcpProxy(REDIS_PORT).start()
    yield proxy
    proxy.stop()


def outage_names(port: int, proxy: TcpProxy, name: str) -> None:
    """Cut `proxy`: /readyz must name `name`; restore it: ready again."""
    proxy.cut()
    assert name in wait_ready(port, False, 30)["not_ready"]
    proxy.restore()
    wait_ready(port, True, 60)


async def test_marketprice_counts_deals_and_requests_and_follows_redis_and_the_broker(
        tmp_path: Path, broker_proxy: tuple[Broker, TcpProxy], redis_proxy: TcpProxy) -> None:
    broker, kafka = broker_proxy
    prefix = unique_name("t_mpm") + ":"
    await create_topic(broker.address)
    at = time.time() - 30
    await produce(broker.address, [deal_message(i, at + i, "BTCUSDT", "9500", "1") for i in (1, 2, 3)])
    endpoint = MarketListEndpoint(["BTCUSDT"]).start()
    config = marketprice_config(tmp_path, brokers=broker.address, key_prefix=prefix, accesshttp=endpoint.url,
                                redis_port=redis_proxy.port)
    monitor = with_monitor(config)
    daemon = Daemon("marketprice", config, tmp_path).start()
    try:
        async with MarketpriceClient(rpc_port(config)) as mp:
            await mp.wait_deal("BTCUSDT", 3)
            await asyncio.to_thread(wait_ready, monitor, True, 30)
            before = scrape(monitor)
            for _ in range(3):
                await mp.last("BTCUSDT")
            after = scrape(monitor)
        assert value(after, "viabtc_marketprice_deals_applied_total") == 3
        assert value(after, "viabtc_marketprice_deals_consumer_lag_messages") == 0
        assert (value(after, "viabtc_marketprice_rpc_requests_total", command="304")
                - value(before, "viabtc_marketprice_rpc_requests_total", command="304")) == 3
        await asyncio.to_thread(outage_names, monitor, redis_proxy, "redis")
        await asyncio.to_thread(outage_names, monitor, kafka, "kafka")
    finally:
        daemon.stop()
        endpoint.stop()
        delete_keys(prefix)


def test_readhistory_is_ready_while_mariadb_answers(tmp_path: Path, mysql_names: Callable[[str], str]) -> None:
    database = mysql_names("history")
    mysql_query("mysql", f"CREATE DATABASE `{database}`")
    proxy = TcpProxy(MYSQL["port"]).start()
    config = readhistory_config(tmp_path, database)
    config["db_history"]["port"] = proxy.port
    monitor = with_monitor(config)
    daemon = Daemon("readhistory", config, tmp_path).start()
    try:
        wait_ready(monitor, True, 30)
        assert value(scrape(monitor), "process_cpu_seconds_total") > 0
        outage_names(monitor, proxy, "mysql")
    finally:
        daemon.stop()
        proxy.stop()


def test_alertcenter_counts_alerts_and_follows_redis(tmp_path: Path, redis_proxy: TcpProxy) -> None:
    key = unique_name("test:alert")
    port = free_port()
    config: dict[str, Any] = {
        "log": {"path": str(tmp_path / "log" / "alertcenter"), "flag": "fatal,error,warn,info"},
        "svr": {"bind": [f"udp@127.0.0.1:{port}"], "max_pkg_size": 10240},
        "redis": {"host": "127.0.0.1", "port": redis_proxy.port},
        "redis_key": key,
    }
    monitor = with_monitor(config)
    daemon = Daemon("alertcenter", config, tmp_path).start()
    client = redis.Redis(port=REDIS_PORT)
    try:
        wait_ready(monitor, True, 30)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for i in range(5):
                udp.sendto(ALERT_MAGIC + f"alert {i}\n".encode(), ("127.0.0.1", port))
        wait_until(lambda: value(scrape(monitor), "viabtc_alertcenter_alerts_written_total") == 5, 10, "5 written")
        assert value(scrape(monitor), "viabtc_alertcenter_alerts_received_total") == 5
        assert client.llen(key) == 5
        outage_names(monitor, redis_proxy, "redis")
    finally:
        daemon.stop()
        client.delete(key)
        client.close()


def test_accesshttp_supervisor_answers_every_workers_metrics(tmp_path: Path) -> None:
    backend = FakeBackend("echo").start()
    config = accesshttp_config(tmp_path, engine=backend.port, marketprice=backend.port, readhistory=backend.port,
                               worker_num=2)
    daemon = Daemon("accesshttp", config, tmp_path).start()
    try:
        port = int(config["svr"]["bind"][0].rsplit(":", 1)[1])
        wait_backend(port, "asset.list", [])
        monitor = monitor_port(config)
        wait_ready(monitor, True, 30)
        before = scrape(monitor)
        calls = 20
        for _ in range(calls):  # a new connection each: the kernel spreads them over both workers
            client = HttpClient(port)
            assert client.call("asset.list", []).status == 200
            client.close()
        client = HttpClient(port)
        assert client.call("no.such_method", []).status == 404
        client.close()
        after = scrape(monitor)

        def grew(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        assert grew("viabtc_accesshttp_http_requests_total", method="asset.list") == calls
        assert grew("viabtc_accesshttp_http_errors_total", method="asset.list") == 0
        assert grew("viabtc_accesshttp_http_requests_total", method="(unknown)") == 1
        assert grew("viabtc_accesshttp_http_errors_total", method="(unknown)", code="4") == 1
        for worker in ("supervisor", "0", "1"):
            assert value(after, "process_resident_memory_bytes", worker=worker) > 0
        assert value(after, "viabtc_accesshttp_http_request_seconds_count", worker="0") > 0
        assert value(after, "viabtc_accesshttp_http_request_seconds_count", worker="1") > 0
        backend.stop()
        body = wait_ready(monitor, False, 30)
        assert {"worker0", "worker1"} <= set(body["not_ready"])
        assert http_get(monitor, "/healthz")[0] == 200
    finally:
        daemon.stop()
        backend.stop()
