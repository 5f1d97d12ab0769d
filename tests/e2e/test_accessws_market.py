"""accessws market data against a real matchengine: depth pushes with exact values, queries, the cache.

marketprice is not running here (its address has no listener), so its
queries answer error 2 and its subscriptions are accepted but silent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from common.rpc import RpcClient
from tests.e2e.accessws_env import Exchange, WsClient, wait_backend

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    env = Exchange(Path(tmp_path_factory.mktemp("accessws_market"))).start()
    yield env
    env.stop()


@pytest.fixture
async def engine(exchange: Exchange) -> AsyncIterator[RpcClient]:
    client = await exchange.engine_client()
    yield client
    await client.close()


@pytest.fixture
async def ws(exchange: Exchange) -> AsyncIterator[WsClient]:
    client = await WsClient.open(exchange.url)
    await wait_backend(client)
    yield client
    await client.close()


async def call(engine: RpcClient, command: int, params: list[Any]) -> Any:
    return await engine.call_json(command, params, timeout=5)


async def deposit(engine: RpcClient, user: int, asset: str, amount: str, business_id: int) -> None:
    assert await call(engine, 102, [user, asset, "deposit", business_id, amount, {}]) == {"status": "success"}


async def limit(engine: RpcClient, user: int, market: str, side: int, amount: str, price: str) -> dict[str, Any]:
    return await call(engine, 201, [user, market, side, amount, price, "0", "0", "test"])


def depth_update(push: dict[str, Any]) -> tuple[bool, dict[str, Any], str]:
    assert push["method"] == "depth.update" and push["id"] is None
    clean, data, market = push["params"]
    return clean, data, market


async def test_depth_pushes_exact_snapshots_and_diffs(ws: WsClient, engine: RpcClient, exchange: Exchange) -> None:
    assert await ws.result("depth.subscribe", ["BTCUSDT", 10, "0"]) == {"status": "success"}
    assert depth_update(await ws.push("depth.update")) == (True, {"asks": [], "bids": []}, "BTCUSDT")
    await ws.no_push("depth.update", 0.3)  # nothing changed, nothing sent

    await deposit(engine, 11, "BTC", "10", 1)
    await deposit(engine, 12, "USDT", "100000", 2)
    await limit(engine, 11, "BTCUSDT", 1, "1", "9000")
    assert depth_update(await ws.push("depth.update")) == (False, {"asks": [["9000", "1"]]}, "BTCUSDT")

    second = await limit(engine, 11, "BTCUSDT", 1, "0.5", "9100")
    assert depth_update(await ws.push("depth.update")) == (False, {"asks": [["9100", "0.5"]]}, "BTCUSDT")
    await limit(engine, 11, "BTCUSDT", 1, "0.25", "9000")
    assert depth_update(await ws.push("depth.update")) == (False, {"asks": [["9000", "1.25"]]}, "BTCUSDT")

    # a bid crossing the 9000 level: the taker fills at once, the level shrinks
    taker = await limit(engine, 12, "BTCUSDT", 2, "1.1", "9050")
    assert taker["deal_stock"] == "1.1"
    assert depth_update(await ws.push("depth.update")) == (False, {"asks": [["9000", "0.15"]]}, "BTCUSDT")
    await limit(engine, 12, "BTCUSDT", 2, "0.2", "8000")
    assert depth_update(await ws.push("depth.update")) == (False, {"bids": [["8000", "0.2"]]}, "BTCUSDT")
    await call(engine, 204, [11, "BTCUSDT", second["id"]])
    assert depth_update(await ws.push("depth.update")) == (False, {"asks": [["9100", "0"]]}, "BTCUSDT")

    book = {"asks": [["9000", "0.15"]], "bids": [["8000", "0.2"]]}
    late = await WsClient.open(exchange.url)
    try:
        assert await late.result("depth.subscribe", ["BTCUSDT", 10, "0"]) == {"status": "success"}
        assert depth_update(await late.push("depth.update", 0.05)) == (True, book, "BTCUSDT")
        # a different merge interval is a different key: its own snapshot, bucketed by matchengine
        assert await late.result("depth.subscribe", ["BTCUSDT", 5, "10"]) == {"status": "success"}
        assert depth_update(await late.push("depth.update")) == (
            True, {"asks": [["9000", "0.15"]], "bids": [["8000", "0.2"]]}, "BTCUSDT")
        await limit(engine, 12, "BTCUSDT", 2, "0.3", "7500.5")
        assert depth_update(await late.push("depth.update")) == (False, {"bids": [["7500", "0.3"]]}, "BTCUSDT")
        assert depth_update(await ws.push("depth.update")) == (False, {"bids": [["7500.5", "0.3"]]}, "BTCUSDT")
        assert await late.result("depth.unsubscribe", []) == {"status": "success"}
        await limit(engine, 12, "BTCUSDT", 2, "0.1", "7400")
        assert depth_update(await ws.push("depth.update")) == (False, {"bids": [["7400", "0.1"]]}, "BTCUSDT")
        await late.no_push("depth.update", 0.3)
    finally:
        await late.close()

    query = await ws.result("depth.query", ["BTCUSDT", 10, "0"])
    assert query == {"asks": [["9000", "0.15"]], "bids": [["8000", "0.2"], ["7500.5", "0.3"], ["7400", "0.1"]]}


async def test_depth_subscribe_rejects_bad_params(ws: WsClient) -> None:
    for params in (["BTCUSDT", 7, "0"], ["BTCUSDT", 10, "0.5"], ["BTCUSDT", 10, 0], ["BTCUSDT", "10", "0"],
                   ["BTCUSDTBTCUSDT12", 10, "0"], ["BTCUSDT", 10], []):
        assert await ws.error("depth.subscribe", params) == (1, "invalid argument"), params
    # numerically equal to a configured merge value is fine, and a non-existent market is not checked
    assert await ws.result("depth.subscribe", ["BTCUSDT", 5, "0.10"]) == {"status": "success"}
    assert await ws.result("depth.subscribe", ["NOSUCHMARKET", 5, "0"]) == {"status": "success"}
    await ws.no_push("depth.update", 0.4)  # matchengine refuses the poll: the key is dropped silently
    assert await ws.result("depth.unsubscribe", ["ignored"]) == {"status": "success"}


async def test_depth_query_passes_through_and_is_cached(ws: WsClient, engine: RpcClient) -> None:
    assert await ws.error("depth.query", ["NOSUCHMARKET", 10, "0"]) == (1, "invalid argument")
    reply = await ws.call("depth.query", ["BTCBCH", 10, "0"], request_id=-42)
    assert reply == {"error": None, "result": {"asks": [], "bids": []}, "id": -42}
    await deposit(engine, 31, "BTC", "1", 3)
    await limit(engine, 31, "BTCBCH", 1, "1", "20")
    # within cache_timeout (0.3 s) the cached answer is served, with the caller's own id
    reply = await ws.call("depth.query", ["BTCBCH", 10, "0"], request_id=2 ** 63 - 1)
    assert reply == {"error": None, "result": {"asks": [], "bids": []}, "id": 2 ** 63 - 1}
    await asyncio.sleep(0.35)
    assert await ws.result("depth.query", ["BTCBCH", 10, "0"]) == {"asks": [["20", "1"]], "bids": []}


async def test_oversized_params_are_not_forwarded(ws: WsClient) -> None:
    # within the 10240-byte websocket limit, but more than matchengine accepts (request_limit 4096 here)
    assert await ws.error("depth.query", ["BTCUSDT", 5, "0", "y" * 5000]) == (1, "invalid argument")
    # below the limit it is forwarded, and matchengine itself refuses four params
    assert await ws.error("depth.query", ["BTCUSDT", 5, "0", "y" * 4000]) == (1, "invalid argument")
    assert await ws.result("depth.query", ["BTCBCH", 5, "0"]) is not None  # the backend connection is intact


async def test_marketprice_and_readhistory_methods_without_them(ws: WsClient) -> None:
    for method, params in (("kline.query", ["BTCUSDT", 1, 2, 60]), ("price.query", ["BTCUSDT"]),
                           ("state.query", ["BTCUSDT", 86400]), ("today.query", ["BTCUSDT"]),
                           ("deals.query", ["BTCUSDT", 10, 0])):
        assert await ws.error(method, params) == (2, "internal error"), method
    for family, params in (("kline", ["BTCUSDT", 60]), ("price", ["BTCUSDT", "BTCBCH"]),
                           ("state", ["BTCUSDT"]), ("today", ["BTCUSDT"]), ("deals", ["BTCUSDT"])):
        assert await ws.result(f"{family}.subscribe", params) == {"status": "success"}, family
    await ws.no_push(None, 0.4)
    # readhistory is not running either; its connection is checked before authentication, as the original
    for method in ("order.history", "asset.history"):
        assert await ws.error(method, ["BTCUSDT", 0, 0, 0, 10, 0]) == (2, "internal error"), method
    for family in ("kline", "price", "state", "today", "deals"):
        assert await ws.result(f"{family}.unsubscribe", []) == {"status": "success"}


async def test_subscription_params_are_checked_in_order(ws: WsClient) -> None:
    interval = "interval: must be a positive integer (seconds)"
    assert await ws.reason("kline.subscribe", ["BTCUSDT", 0]) == interval
    assert await ws.reason("kline.subscribe", ["BTCUSDT", 60.0]) == interval
    assert await ws.reason("kline.subscribe", ["BTCUSDT"]) == "params: expected 2, got 1"
    assert await ws.reason("price.subscribe", ["BTCUSDT", 5]) == "market: must be a string"
    assert await ws.reason("state.subscribe", ["X" * 16]) == "market: at most 15 bytes"
    assert await ws.result("today.subscribe", []) == {"status": "success"}
    assert await ws.result("server.ping", []) == "pong"
    now = await ws.result("server.time", ["ignored"])
    assert isinstance(now, int) and abs(now - __import__("time").time()) < 5
