"""accessws private channels against a real matchengine, broker and HTTP auth endpoint.

An authenticated user receives its own `order.update` and `asset.update`
pushes (from the Kafka `orders` and `balances` topics) and never another
user's; the private methods refuse unauthenticated connections; the auth and
sign endpoints are called for every attempt and their failures, refusals and
slowness come back as the spec's errors within `backend_timeout`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from common.rpc import RpcClient
from tests.e2e.accessws_env import Exchange, WsClient, wait_backend

pytestmark = pytest.mark.timeout(60)

BACKEND_TIMEOUT = 0.6


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    env = Exchange(Path(tmp_path_factory.mktemp("accessws_user")), with_readhistory=True,
                   backend_timeout=BACKEND_TIMEOUT).start()
    yield env
    env.stop()


@pytest.fixture
async def engine(exchange: Exchange) -> AsyncIterator[RpcClient]:
    client = await exchange.engine_client()
    yield client
    await client.close()


@pytest.fixture
async def clients(exchange: Exchange) -> AsyncIterator[list[WsClient]]:
    opened: list[WsClient] = []

    async def open_one() -> WsClient:
        client = await WsClient.open(exchange.url)
        opened.append(client)
        return client

    first = await open_one()
    await wait_backend(first)
    yield [first] + [await open_one() for _ in range(2)]
    for client in opened:
        await client.close()


async def call(engine: RpcClient, command: int, params: list[Any]) -> Any:
    return await engine.call_json(command, params, timeout=5)


async def deposit(engine: RpcClient, user: int, asset: str, amount: str, business_id: int) -> None:
    assert await call(engine, 102, [user, asset, "deposit", business_id, amount, {}]) == {"status": "success"}


async def limit(engine: RpcClient, user: int, market: str, side: int, amount: str, price: str) -> dict[str, Any]:
    return await call(engine, 201, [user, market, side, amount, price, "0", "0", "test"])


def asset_update(push: dict[str, Any]) -> dict[str, Any]:
    assert push["method"] == "asset.update" and push["id"] is None and len(push["params"]) == 1
    return push["params"][0]


async def asset_updates(client: WsClient, count: int) -> dict[str, Any]:
    """`count` asset.update pushes merged into one {asset: balance} view (their order is not fixed)."""
    merged: dict[str, Any] = {}
    for _ in range(count):
        merged.update(asset_update(await client.push("asset.update")))
    return merged


ORDER_KEYS = ["id", "market", "source", "type", "side", "user", "ctime", "mtime", "price", "amount", "taker_fee",
              "maker_fee", "left", "deal_stock", "deal_money", "deal_fee"]


async def test_own_order_and_asset_updates_only(clients: list[WsClient], engine: RpcClient) -> None:
    alice, bob, anonymous = clients
    assert await alice.result("server.auth", ["user:21", "web"]) == {"status": "success"}
    assert await bob.result("server.auth", ["user:22", "web"]) == {"status": "success"}
    for client in (alice, bob):
        assert await client.result("order.subscribe", ["BTCUSDT"]) == {"status": "success"}
        assert await client.result("asset.subscribe", ["BTC", "USDT"]) == {"status": "success"}
    assert await anonymous.error("order.subscribe", ["BTCUSDT"]) == (6, "require authentication")

    await deposit(engine, 21, "USDT", "10000", 1)
    assert asset_update(await alice.push("asset.update")) == {"USDT": {"available": "10000", "freeze": "0"}}
    await deposit(engine, 22, "BTC", "2", 2)
    assert asset_update(await bob.push("asset.update")) == {"BTC": {"available": "2", "freeze": "0"}}

    bid = await limit(engine, 21, "BTCUSDT", 2, "1", "5000")
    push = await alice.push("order.update")
    assert push["id"] is None
    event, order = push["params"]
    assert event == 1 and list(order) == ORDER_KEYS
    assert {k: order[k] for k in ("id", "market", "source", "type", "side", "user", "price", "amount", "left",
                                  "deal_stock", "deal_money", "deal_fee")} == {
        "id": bid["id"], "market": "BTCUSDT", "source": "test", "type": 1, "side": 2, "user": 21, "price": "5000",
        "amount": "1", "left": "1", "deal_stock": "0", "deal_money": "0", "deal_fee": "0"}
    assert order["ctime"] == pytest.approx(bid["ctime"])
    assert await asset_updates(alice, 2) == {"USDT": {"available": "5000", "freeze": "5000"},
                                             "BTC": {"available": "0", "freeze": "0"}}

    await limit(engine, 22, "BTCUSDT", 1, "0.4", "5000")
    maker = await alice.push("order.update")
    assert maker["params"][0] == 2
    assert (maker["params"][1]["id"], maker["params"][1]["left"], maker["params"][1]["deal_stock"]) == (
        bid["id"], "0.6", "0.4")
    taker = await bob.push("order.update")
    assert taker["params"][0] == 3
    assert (taker["params"][1]["user"], taker["params"][1]["deal_money"]) == (22, "2000")
    assert await asset_updates(alice, 2) == {"USDT": {"available": "5000", "freeze": "3000"},
                                             "BTC": {"available": "0.4", "freeze": "0"}}
    assert await asset_updates(bob, 2) == {"USDT": {"available": "2000", "freeze": "0"},
                                           "BTC": {"available": "1.6", "freeze": "0"}}

    await asyncio.sleep(0.5)
    for client, user in ((alice, 21), (bob, 22)):
        for push in client.drain():
            if push["method"] == "order.update":
                assert push["params"][1]["user"] == user, push
    assert anonymous.drain() == []


async def test_order_subscription_is_per_market_and_asset_per_asset(clients: list[WsClient],
                                                                   engine: RpcClient) -> None:
    client = clients[0]
    assert await client.result("server.auth", ["user:41", "web"]) == {"status": "success"}
    assert await client.result("order.subscribe", ["BTCBCH"]) == {"status": "success"}
    assert await client.result("asset.subscribe", ["BCH"]) == {"status": "success"}
    await deposit(engine, 41, "USDT", "100", 1)
    await deposit(engine, 41, "BCH", "100", 2)
    assert asset_update(await client.push("asset.update")) == {"BCH": {"available": "100", "freeze": "0"}}
    await limit(engine, 41, "BTCUSDT", 2, "0.01", "100")
    await limit(engine, 41, "BTCBCH", 2, "1", "10")
    push = await client.push("order.update")
    assert push["params"][1]["market"] == "BTCBCH"
    assert asset_update(await client.push("asset.update")) == {"BCH": {"available": "90", "freeze": "10"}}
    await client.no_push(None, 0.5)
    # subscribing to no assets subscribes to nothing; an invalid name keeps the names before it
    assert await client.result("asset.subscribe", []) == {"status": "success"}
    assert await client.error("order.subscribe", ["BTCUSDT", 7, "BTCBCH"]) == (1, "invalid argument")
    await limit(engine, 41, "BTCUSDT", 2, "0.01", "100")
    assert (await client.push("order.update"))["params"][1]["market"] == "BTCUSDT"
    await limit(engine, 41, "BTCBCH", 2, "1", "10")
    await client.no_push(None, 0.5)
    assert await client.result("order.unsubscribe", []) == {"status": "success"}


async def test_switching_user_drops_private_subscriptions(clients: list[WsClient], engine: RpcClient,
                                                          exchange: Exchange) -> None:
    client = clients[0]
    assert await client.result("server.auth", ["user:51", "web"]) == {"status": "success"}
    assert await client.result("asset.subscribe", ["BTC"]) == {"status": "success"}
    # re-authentication as the same user keeps them, a failed one changes nothing
    assert await client.result("server.auth", ["user:51", "app"]) == {"status": "success"}
    assert await client.error("server.auth", ["refuse", "web"]) == (11, "token expired")
    await deposit(engine, 51, "BTC", "1", 1)
    assert asset_update(await client.push("asset.update")) == {"BTC": {"available": "1", "freeze": "0"}}
    assert await client.result("server.auth", ["user:52", "web"]) == {"status": "success"}
    await deposit(engine, 51, "BTC", "1", 2)
    await deposit(engine, 52, "BTC", "1", 3)
    await client.no_push(None, 0.6)
    assert await client.result("asset.query", ["BTC"]) == {"BTC": {"available": "1", "freeze": "0"}}


async def test_private_methods_need_authentication(clients: list[WsClient], engine: RpcClient) -> None:
    anonymous = clients[1]
    params: list[Any]
    for method, params in (("order.query", ["BTCUSDT", 0, 10]), ("asset.query", []), ("order.subscribe", []),
                           ("order.unsubscribe", []), ("asset.subscribe", ["BTC"]), ("asset.unsubscribe", [])):
        assert await anonymous.error(method, params) == (6, "require authentication"), method
    for method in ("order.history", "asset.history"):
        assert await anonymous.error(method, ["BTCUSDT", 0, 0, 0, 10, 0]) == (6, "require authentication"), method

    client = clients[2]
    assert await client.result("server.auth", ["user:61", "web"]) == {"status": "success"}
    await deposit(engine, 61, "BTC", "3", 1)
    first = await limit(engine, 61, "BTCUSDT", 1, "1", "70000")
    second = await limit(engine, 61, "BTCUSDT", 1, "1", "71000")
    pending = await client.result("order.query", ["BTCUSDT", 0, 10])
    assert (pending["offset"], pending["limit"], pending["total"]) == (0, 10, 2)
    assert [o["id"] for o in pending["records"]] == [second["id"], first["id"]]
    assert all(o["user"] == 61 for o in pending["records"])
    for params, reason in ((["BTCUSDT", 0], "params: expected 3, got 2"), (["BTCUSDT", "0", 10], "offset: must be an integer"),
                           ([1, 0, 10], "market: must be a string"), (["BTCUSDT", 0, 10.5], "limit: must be an integer")):
        assert await client.reason("order.query", params) == reason, params
    # the engine's reason, passed through
    assert await client.reason("order.query", ["NOSUCH", 0, 10]) == "market: unknown market 'NOSUCH'"
    assert await client.result("asset.query", []) == {
        "BTC": {"available": "1", "freeze": "2"}, "BCH": {"available": "0", "freeze": "0"},
        "USDT": {"available": "0", "freeze": "0"}}
    assert await client.reason("asset.query", ["NOSUCH"]) == "asset: unknown asset 'NOSUCH'"
    assert await client.reason("order.history", ["BTCUSDT"]) == "params: expected 6, got 1"
    assert await client.error("asset.history", ["BTC", "", 0, 0, 0]) == (1, "invalid argument")


async def eventually(probe: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


async def test_history_is_the_authenticated_users_own(clients: list[WsClient], engine: RpcClient) -> None:
    seller, buyer = clients[1], clients[2]
    assert await seller.result("server.auth", ["user:71", "web"]) == {"status": "success"}
    assert await buyer.result("server.auth", ["user:72", "web"]) == {"status": "success"}
    await deposit(engine, 71, "BTC", "1", 1)
    await deposit(engine, 72, "BCH", "100", 2)
    ask = await limit(engine, 71, "BTCBCH", 1, "1", "20")
    await limit(engine, 72, "BTCBCH", 2, "1", "20")

    async def finished() -> Any:
        return (await seller.result("order.history", ["BTCBCH", 0, 0, 0, 10, 0]))["records"]

    records = await eventually(finished)
    assert [(r["id"], r["user"], r["deal_stock"], r["deal_money"]) for r in records] == [(ask["id"], 71, "1", "20")]

    async def buyer_bch() -> Any:
        reply = await buyer.result("asset.history", ["BCH", "", 0, 0, 0, 10])
        return reply["records"] if len(reply["records"]) == 2 else None

    rows = await eventually(buyer_bch)
    assert [(r["business"], r["change"], r["balance"]) for r in rows] == [("trade", "-20", "80"),
                                                                         ("deposit", "100", "100")]
    # the user id is the connection's own: each side sees its own order of the deal, never the other's
    bought = (await buyer.result("order.history", ["BTCBCH", 0, 0, 0, 10, 0]))["records"]
    assert [(r["user"], r["side"]) for r in bought] == [(72, 2)]
    assert (await seller.result("asset.history", ["BCH", "", 0, 0, 0, 10]))["records"][0]["change"] == "20"


async def test_auth_endpoint_failures(clients: list[WsClient], exchange: Exchange) -> None:
    client = clients[0]
    assert await client.error("server.auth", ["refuse", "web"]) == (11, "token expired")
    for token in ("garbage", "nocode", "strcode", "nouser"):
        assert await client.error("server.auth", [token, "web"]) == (2, "internal error"), token
    started = time.monotonic()
    assert await client.error("server.auth", ["slow", "web"]) == (5, "service timeout")
    assert BACKEND_TIMEOUT - 0.05 <= time.monotonic() - started < BACKEND_TIMEOUT + 0.5
    # the connection was never authenticated
    assert await client.error("asset.query", []) == (6, "require authentication")
    # a slow auth does not hold up the connection's other requests
    slow = asyncio.ensure_future(client.call("server.auth", ["slow", "web"]))
    assert await client.result("server.ping", []) == "pong"
    assert (await slow)["error"]["code"] == 5

    for params in (["user:1"], ["user:1", "web", "x"], [1, "web"], ["user:1", "s" * 32], ["user:1", None]):
        assert await client.error("server.auth", params) == (1, "invalid argument"), params
    assert await client.result("server.auth", ["user:1", "s" * 31]) == {"status": "success"}


async def test_auth_is_asked_every_time_with_the_original_headers(clients: list[WsClient],
                                                                  exchange: Exchange) -> None:
    client = clients[0]
    before = exchange.auth.tokens["user:77"]
    for _ in range(3):
        assert await client.result("server.auth", ["user:77", "web"]) == {"status": "success"}
    assert exchange.auth.tokens["user:77"] - before == 3
    kind, headers, query = exchange.auth.requests[-1]
    assert kind == "auth" and query == {}
    assert (headers["Authorization"], headers["Accept-Language"], headers["Content-Type"]) == (
        "user:77", "en_US", "application/json")


async def test_server_sign(clients: list[WsClient], exchange: Exchange, engine: RpcClient) -> None:
    client = clients[1]
    assert await client.result("server.sign", ["key-81", "good-signature", 1510000000123]) == {"status": "success"}
    assert exchange.auth.requests[-1][0] == "sign"
    assert exchange.auth.requests[-1][2] == {"access_id": "key-81", "tonce": "1510000000123"}
    await deposit(engine, 81, "BCH", "5", 1)
    assert await client.result("asset.query", ["BCH"]) == {"BCH": {"available": "5", "freeze": "0"}}

    assert await client.error("server.sign", ["key-81", "bad-signature", 1]) == (11, "signature error")
    assert await client.error("server.sign", ["a b&c=d", "good-signature", 1]) == (11, "signature error")
    assert exchange.auth.requests[-1][2] == {"access_id": "a b&c=d", "tonce": "1"}
    # the tonce is read as an unsigned 64-bit integer, as the original does
    assert await client.result("server.sign", ["key-81", "good-signature", -1]) == {"status": "success"}
    assert exchange.auth.requests[-1][2]["tonce"] == str(2 ** 64 - 1)
    for params in (["key-81", "good-signature", 0], ["key-81", "good-signature", "1"],
                   ["key-81", "good-signature", 1.5], ["key-81", "good-signature"], ["key-81", 1, 1]):
        assert await client.error("server.sign", params) == (1, "invalid argument"), params
