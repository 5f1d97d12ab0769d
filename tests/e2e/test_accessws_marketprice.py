"""accessws's marketprice-fed channels against a real marketprice (kline, price, state, today, deals).

Deals flow matchengine → Kafka `deals` → marketprice → accessws polls →
pushes.  Values are marketprice's (spec/marketprice.md, HEAD k-line rule:
a new bucket opens at the previous last price, 0 for a fresh market).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from common.rpc import RpcClient
from tests.e2e.accessws_env import Exchange, WsClient, wait_backend

pytestmark = pytest.mark.timeout(60)

ZERO_STATE = {"period": 86400, "last": "0", "open": "0", "close": "0", "high": "0", "low": "0", "volume": "0",
              "deal": "0"}
ZERO_TODAY = {"open": "0", "last": "0", "high": "0", "low": "0", "volume": "0", "deal": "0"}


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    env = Exchange(Path(tmp_path_factory.mktemp("accessws_marketprice")), with_marketprice=True).start()
    yield env
    env.stop()


@pytest.fixture
async def engine(exchange: Exchange) -> AsyncIterator[RpcClient]:
    client = await exchange.engine_client()
    yield client
    await client.close()


async def open_client(exchange: Exchange) -> WsClient:
    client = await WsClient.open(exchange.url)
    await wait_backend(client)
    return client


async def call(engine: RpcClient, command: int, params: list[Any]) -> Any:
    return await engine.call_json(command, params, timeout=5)


async def trade(engine: RpcClient, market: str, amount: str, price: str, business_id: int) -> None:
    """User 1 sells `amount` at `price`, user 2 buys it at once (the taker is the bid: a "buy" deal)."""
    stock, money = ("BTC", "USDT") if market == "BTCUSDT" else ("BTC", "BCH")
    await call(engine, 102, [1, stock, "deposit", business_id, amount, {}])
    await call(engine, 102, [2, money, "deposit", business_id + 1, "1000000", {}])
    await call(engine, 201, [1, market, 1, amount, price, "0", "0", "test"])
    await call(engine, 201, [2, market, 2, amount, price, "0", "0", "test"])


async def next_params(client: WsClient, method: str, timeout: float = 5.0) -> list[Any]:
    push = await client.push(method, timeout)
    assert push["id"] is None
    return push["params"]


async def test_live_pushes_and_initial_pushes(exchange: Exchange, engine: RpcClient) -> None:
    client = await open_client(exchange)
    try:
        for family, params in (("kline", ["BTCUSDT", 60]), ("price", ["BTCUSDT"]), ("state", ["BTCUSDT"]),
                               ("today", ["BTCUSDT"]), ("deals", ["BTCUSDT"])):
            assert await client.result(f"{family}.subscribe", params) == {"status": "success"}
        # the first polls: a fresh market has zero status; a zero price and no deals push nothing
        assert await next_params(client, "state.update") == ["BTCUSDT", ZERO_STATE]
        assert await next_params(client, "today.update") == ["BTCUSDT", ZERO_TODAY]
        client.drain()

        before = time.time()
        await trade(engine, "BTCUSDT", "0.5", "9000", 1)
        pushes: dict[str, Any] = {}
        while len(pushes) < 5:
            push = await client.push(None, 5)
            pushes.setdefault(push["method"], push["params"])
        candle = pushes["kline.update"][-1]
        assert candle[1:] == ["0", "9000", "9000", "0", "0.5", "4500", "BTCUSDT"]
        assert candle[0] % 60 == 0 and before - 60 < candle[0] <= time.time()
        assert pushes["price.update"] == ["BTCUSDT", "9000.00"]  # marketprice's unstripped text
        assert pushes["state.update"] == ["BTCUSDT", {**ZERO_STATE, "last": "9000", "close": "9000", "high": "9000",
                                                      "volume": "0.5", "deal": "4500"}]
        assert pushes["today.update"] == ["BTCUSDT", {**ZERO_TODAY, "last": "9000", "high": "9000", "volume": "0.5",
                                                      "deal": "4500"}]
        market, deals = pushes["deals.update"]
        assert market == "BTCUSDT" and len(deals) == 1
        first_deal = deals[0]
        assert {k: first_deal[k] for k in ("id", "price", "amount", "type")} == {
            "id": 1, "price": "9000", "amount": "0.5", "type": "buy"}
        assert before <= first_deal["time"] <= time.time()

        # a second deal at the same price: only the new deal is pushed, the price does not move
        await trade(engine, "BTCUSDT", "0.25", "9000", 3)
        market, deals = await next_params(client, "deals.update")
        assert [d["id"] for d in deals] == [2]
        await client.no_push("price.update", 0.4)

        late = await open_client(exchange)
        try:
            assert await late.result("price.subscribe", ["BTCUSDT", "BTCBCH"]) == {"status": "success"}
            assert await next_params(late, "price.update", 0.2) == ["BTCUSDT", "9000"]  # stripped, from memory
            assert await late.result("deals.subscribe", ["BTCUSDT"]) == {"status": "success"}
            market, deals = await next_params(late, "deals.update", 0.2)
            assert [d["id"] for d in deals] == [2, 1] and deals[1] == first_deal
            assert await late.result("state.subscribe", ["BTCUSDT"]) == {"status": "success"}
            _, state = await next_params(late, "state.update", 0.2)
            assert (state["volume"], state["deal"]) == ("0.75", "6750")
        finally:
            await late.close()
    finally:
        await client.close()


async def test_queries_and_unknown_markets(exchange: Exchange, engine: RpcClient) -> None:
    client = await open_client(exchange)
    try:
        await trade(engine, "BTCBCH", "2", "15", 11)
        deadline = time.monotonic() + 5
        while await client.result("price.query", ["BTCBCH"]) == "0" and time.monotonic() < deadline:
            await client.result("server.ping", [])
        assert await client.result("price.query", ["BTCBCH"]) == "15.00000000"
        deals = await client.result("deals.query", ["BTCBCH", 10, 0])
        assert [(d["price"], d["amount"], d["type"]) for d in deals] == [("15", "2", "buy")]
        now = int(time.time())
        kline = await client.result("kline.query", ["BTCBCH", now - 120, now, 60])
        assert kline[-1][1:] == ["0", "15", "15", "0", "2", "30", "BTCBCH"]
        today = await client.result("today.query", ["BTCBCH"])
        assert (today["last"], today["volume"]) == ("15", "2")
        assert await client.error("state.query", ["BTCBCH", 0]) == (1, "invalid argument")
        assert await client.error("price.query", ["NOSUCH"]) == (1, "invalid argument")
        # an unknown market is accepted at subscribe time; its poll is refused and it is dropped silently
        assert await client.result("price.subscribe", ["NOSUCH"]) == {"status": "success"}
        await client.no_push("price.update", 0.4)
    finally:
        await client.close()
