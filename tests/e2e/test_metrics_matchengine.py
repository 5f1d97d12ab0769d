"""The engine's monitor port as a real process: counters move as the traffic says, /readyz follows its backends.

The broker and MariaDB are taken away with a TCP proxy (tests/proxy.py), as in
test_matchengine_outages.py: the shared services themselves stay up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from common.errors import RpcError
from tests.conftest import start_engine
from tests.e2e.engine_driver import connect
from tests.e2e.monitor_client import scrape, value, wait_ready, with_monitor
from tests.proxy import TcpProxy, proxied_broker
from tests.support import MYSQL, Broker, Daemon, engine_config

BID, ASK = 2, 1

@pytest.fixture
def broker_proxy() -> Iterator[tuple[Broker, TcpProxy]]:
    with proxied_broker() as pair:
        yield pair



async def test_counters_follow_the_traffic_and_refusals_show_their_cause(
        tmp_path: Path, broker_proxy: tuple[Broker, TcpProxy], mysql_names: Callable[[str], str]) -> None:
    broker, proxy = broker_proxy
    config = engine_config(tmp_path, log_db=mysql_names("log"), history_db=mysql_names("history"),
                           brokers=broker.address, max_publish_lag=1000)
    monitor = with_monitor(config)
    engine = Daemon("matchengine", config, tmp_path)
    start_engine(engine)
    try:
        client = await connect(engine)
        await asyncio.to_thread(wait_ready, monitor, True, 60)
        before = scrape(monitor)
        for user in (1, 2):
            for asset in ("BTC", "BCH"):
                await client.call_json(102, [user, asset, "deposit", user * 10 + len(asset), "1000", {}], timeout=10)
        resting = 7
        for i in range(resting):
            await client.call_json(201, [1, "BTCBCH", ASK, "0.1", str(200 + i), "0", "0", ""], timeout=10)
        await client.call_json(201, [2, "BTCBCH", BID, "0.1", "200", "0", "0", ""], timeout=10)  # one deal
        with pytest.raises(RpcError):
            await client.call_json(201, [2, "BTCBCH", BID, "-1", "200", "0", "0", ""], timeout=10)
        after = scrape(monitor)

        def grew(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        assert grew("viabtc_matchengine_orders_total") == resting + 1
        assert grew("viabtc_matchengine_deals_total") == 1
        assert grew("viabtc_matchengine_operations_total") == 4 + resting + 1
        assert grew("viabtc_matchengine_rpc_requests_total", command="201") == resting + 2
        assert grew("viabtc_matchengine_rpc_errors_total", command="201", code="1") == 1
        assert grew("viabtc_matchengine_rpc_requests_total", command="102") == 4
        assert grew("viabtc_matchengine_rpc_errors_total", command="102") == 0
        assert value(after, "viabtc_matchengine_role", role="leader") == 1
        assert value(after, "viabtc_matchengine_operlog_group_size_count") >= 1
        assert value(after, "process_resident_memory_bytes") > 0

        # the broker goes away: the Kafka messages fall behind until writes are refused for the lag
        proxy.cut()
        refused = 0
        for bid in range(100, 2000):
            try:
                await client.call_json(102, [1, "BTC", "deposit", bid, "1", {}], timeout=10)
            except RpcError as exc:
                assert exc.code == 3
                refused += 1
                if refused == 5:
                    break
        assert refused == 5
        body = await asyncio.to_thread(wait_ready, monitor, False, 30)
        assert "kafka" in body["not_ready"] and "history" not in body["not_ready"]
        during = scrape(monitor)
        assert value(during, "viabtc_matchengine_writes_refused_total", cause="publish_lag") == refused
        assert value(during, "viabtc_matchengine_rpc_errors_total", command="102", code="3") == refused
        assert value(during, "viabtc_matchengine_publisher_lag_operations", stream="kafka") >= 1000
        assert value(during, "viabtc_matchengine_publisher_lag_seconds", stream="kafka") > 0

        proxy.restore()
        await asyncio.to_thread(wait_ready, monitor, True, 60)
        assert value(scrape(monitor), "viabtc_matchengine_publisher_lag_operations", stream="kafka") == 0
        await client.close()
    finally:
        engine.stop()


async def test_readyz_names_trade_log_while_mariadb_is_away(tmp_path: Path, broker: Broker,
                                                          mysql_names: Callable[[str], str]) -> None:
    proxy = TcpProxy(MYSQL["port"]).start()
    config = engine_config(tmp_path, log_db=mysql_names("log"), history_db=mysql_names("history"),
                           brokers=broker.address)
    for key in ("db_log", "db_history"):
        config[key]["port"] = proxy.port
    monitor = with_monitor(config)
    engine = Daemon("matchengine", config, tmp_path)
    start_engine(engine)
    try:
        await asyncio.to_thread(wait_ready, monitor, True, 60)
        proxy.cut()
        body = await asyncio.to_thread(wait_ready, monitor, False, 30)
        assert "trade_log" in body["not_ready"]
        proxy.restore()
        await asyncio.to_thread(wait_ready, monitor, True, 60)
    finally:
        engine.stop()
        proxy.stop()
