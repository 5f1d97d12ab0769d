"""The extensions end to end, through accesshttp and accessws as real processes (one stack for the module).

matchengine (MariaDB), readhistory, marketprice (its market list from accesshttp, as in production),
accesshttp (config methods on), accessws and an auth endpoint: every new method is reachable through
the gateway with its success and error answers; accessws pushes `order.update_stop` when a stop is put,
fires and is cancelled, answers `order.query_stop`, and pushes `asset.update` for locks and stops; a
fired stop is read back with `order.finished_stop`; a market added live is at once listed, queried,
subscribed to and traded, and its deals reach marketprice, with no daemon restarted; bad params get
error 1 through the gateway and every daemon keeps answering.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from accesshttp.methods import METHODS
from tests.e2e.accesshttp_stack import Stack, accesshttp_config, http_port, wait_backend
from tests.e2e.accessws_env import AuthEndpoint, WsClient, accessws_config, create_topics
from tests.e2e.test_matchengine_extensions import invalid_calls
from tests.support import Daemon, engine_port

pytestmark = pytest.mark.timeout(120)

COMMAND_METHODS = {route.command: name for name, route in METHODS.items()}
TOPICS = ("balances", "orders", "deals", "stops")
VISIBLE_WAIT = 20.0
SUCCESS = {"status": "success"}


@dataclass
class Gateways:
    stack: Stack
    accessws: Daemon
    auth: AuthEndpoint

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.stack.port}/"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.accessws.config['svr']['bind'][0].rsplit(':', 1)[1]}/"

    def daemons(self) -> list[Daemon]:
        stack = self.stack
        return [d for d in (stack.engine, stack.readhistory, stack.marketprice, stack.gateway, self.accessws)
                if d is not None]


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateways]:
    workdir = Path(tmp_path_factory.mktemp("extensions_gateways"))
    stack = Stack(workdir).start(readhistory=True, marketprice=True, config_methods=True)
    auth = AuthEndpoint().start()
    accessws: Daemon | None = None
    try:
        assert stack.broker is not None and stack.engine is not None
        assert stack.marketprice is not None and stack.readhistory is not None
        # accessws reads each topic from its end: they exist before it starts (the publisher creates them
        # only with its first message)
        asyncio.run(create_topics(stack.broker.address, TOPICS))
        config = accessws_config(workdir, engine=engine_port(stack.engine.config), brokers=stack.broker.address,
                                 auth=auth)
        config["marketprice"]["addr"] = stack.marketprice.config["svr"]["bind"][0]
        config["readhistory"]["addr"] = stack.readhistory.config["svr"]["bind"][0]
        accessws = Daemon("accessws", config, workdir).start()
        yield Gateways(stack, accessws, auth)
    finally:
        if accessws is not None:
            accessws.stop()
        stack.stop()
        auth.stop()


class Api:
    """JSON-RPC over HTTP POST to accesshttp."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url
        self.next_id = 0

    async def answer(self, method: str, params: list[Any]) -> tuple[int, Any]:
        self.next_id += 1
        async with self.session.post(self.url, json={"id": self.next_id, "method": method, "params": params}) as r:
            body = await r.read()
            return r.status, (await r.json(content_type=None)) if body else None

    async def result(self, method: str, params: list[Any]) -> Any:
        status, answer = await self.answer(method, params)
        assert status == 200 and answer["error"] is None, (method, params, status, answer)
        return answer["result"]

    async def error(self, method: str, params: list[Any]) -> tuple[int, str]:
        status, answer = await self.answer(method, params)
        assert status == 200 and answer["result"] is None and answer["error"] is not None, (method, params, answer)
        return answer["error"]["code"], answer["error"]["message"]

    async def deposit(self, user: int, asset: str, amount: str) -> None:
        self.next_id += 1
        assert await self.result("balance.update", [user, asset, "deposit", self.next_id, amount, {}]) == SUCCESS

    async def limit(self, user: int, market: str, side: int, amount: str, price: str, *extra: Any) -> Any:
        return await self.result("order.put_limit", [user, market, side, amount, price, "0", "0", "e2e", *extra])

    async def visible(self, method: str, params: list[Any], check: Callable[[Any], bool]) -> Any:
        """Poll until `check(result)`: history and market data arrive a moment after the trade."""
        deadline = time.monotonic() + VISIBLE_WAIT
        while True:
            result = await self.result(method, params)
            if check(result):
                return result
            assert time.monotonic() < deadline, (method, params, result)
            await asyncio.sleep(0.05)


@pytest.fixture
async def api(gateways: Gateways) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, gateways.http_url)


@pytest.fixture
async def ws(gateways: Gateways) -> AsyncIterator[Callable[[], Awaitable[WsClient]]]:
    opened: list[WsClient] = []

    async def open_one() -> WsClient:
        client = await WsClient.open(gateways.ws_url)
        opened.append(client)
        return client

    yield open_one
    for client in opened:
        await client.close()


async def authenticated(ws: Callable[[], Awaitable[WsClient]], user: int) -> WsClient:
    client = await ws()
    assert await client.result("server.auth", [f"user:{user}", "web"]) == SUCCESS
    return client


class Inbox:
    """A websocket client's pushes, taken by what they hold; the others are kept for later (pushes fed by
    different Kafka topics have no order between them)."""

    def __init__(self, client: WsClient) -> None:
        self.client = client
        self.kept: list[dict[str, Any]] = []

    async def take(self, method: str, match: Callable[[list[Any]], bool] = lambda params: True,
                   timeout: float = 10.0) -> list[Any]:
        """The params of the first push of `method` whose params `match`."""
        for index, push in enumerate(self.kept):
            if push["method"] == method and match(push["params"]):
                return self.kept.pop(index)["params"]
        deadline = time.monotonic() + timeout
        while True:
            push = await self.client.push(timeout=max(0.01, deadline - time.monotonic()))
            assert push["id"] is None, push
            if push["method"] == method and match(push["params"]):
                return push["params"]
            self.kept.append(push)

    async def balance(self, asset: str, available: str, freeze: str) -> None:
        """Wait for an `asset.update` push showing that balance."""
        await self.take("asset.update", lambda params: params[0].get(asset) == {"available": available,
                                                                                "freeze": freeze})


def without_times(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k not in ("ctime", "mtime", "ftime")}


# ------------------------------------------------------------------------------------------------------------------


async def test_every_new_method_answers_through_the_gateway(api: Api) -> None:
    for user, asset, amount in ((101, "BTC", "10"), (101, "BCH", "100000"), (102, "BTC", "10"), (102, "BCH", "100000")):
        await api.deposit(user, asset, amount)
    await api.limit(102, "BTCBCH", 1, "0.1", "1000")
    await api.limit(101, "BTCBCH", 2, "0.1", "1000")  # the last price is 1000
    # locks
    assert await api.result("asset.lock", [101, "BTC", "withdraw", 1, "2"]) == SUCCESS
    assert await api.error("asset.lock", [101, "BTC", "withdraw", 1, "2"]) == (10, "repeat update")
    assert await api.error("asset.lock", [101, "BTC", "withdraw", 2, "1000"]) == (11, "balance not enough")
    assert await api.result("asset.query_lock", [101]) == {"BTC": "2"}
    assert await api.error("asset.query_lock", [101, "DOGE"]) == (1, "invalid argument")
    assert (await api.result("balance.query", [101, "BTC"]))["BTC"] == {"available": "8.1", "freeze": "2"}
    assert await api.error("asset.unlock", [101, "BTC", "withdraw", 1, "3"]) == (11, "balance not enough")
    assert await api.result("asset.unlock", [101, "BTC", "withdraw", 1, "2"]) == SUCCESS
    assert await api.result("asset.query_lock", [101]) == {}
    # options on orders
    ioc = await api.limit(101, "BTCBCH", 1, "1", "2000", 0x8, "ioc-1")
    assert (ioc["left"], ioc["option"], ioc["client_id"]) == ("1", 8, "ioc-1")
    plain = await api.limit(101, "BTCBCH", 1, "1", "2000")
    assert "option" not in plain and "client_id" not in plain
    assert await api.error("order.put_limit", [102, "BTCBCH", 2, "2", "2000", "0", "0", "", 0x10]) == (
        12, "can't be completely executed, kill the order")
    assert await api.error("order.put_limit", [102, "BTCBCH", 2, "1", "2000", "0", "0", "", 0x80]) == (
        13, "the order may be executed, kill the order")
    assert await api.error("order.put_market", [102, "BTCBCH", 2, "5000", "0", "", 0x10]) == (
        13, "can't be completely executed, kill the order")
    fok = await api.result("order.put_market", [102, "BTCBCH", 2, "1000", "0", "", 0x10, "fok-1"])
    assert (fok["deal_money"], fok["client_id"]) == ("1000", "fok-1")
    # stops
    assert await api.error("order.put_stop_limit", [101, "BTCBCH", 1, "1", "2000", "1900", "0", "0", ""]) == (
        11, "invalid stop price")  # the last price is 2000 now
    assert await api.error("order.put_stop_limit", [101, "BTCBCH", 1, "100", "1500", "1400", "0", "0", ""]) == (
        10, "balance not enough")
    assert await api.error("order.put_stop_market", [101, "BTCBCH", 1, "0.0001", "1500", "0", ""]) == (
        12, "amount too small")
    low = await api.result("order.put_stop_limit", [101, "BTCBCH", 1, "1", "1500", "1400", "0", "0", "", None, "s"])
    high = await api.result("order.put_stop_market", [101, "BTCBCH", 2, "3000", "2500", "0", ""])
    assert (low["state"], high["state"], low["client_id"]) == (1, 2, "s")
    assert (await api.result("order.pending_stop", [101, None, 0, 0, 10]))["records"] == [high, low]
    assert (await api.result("order.stop_book", ["BTCBCH", 2, 0, 10]))["orders"] == [high]
    assert await api.error("order.cancel_stop", [102, "BTCBCH", low["id"]]) == (11, "user not match")
    assert await api.error("order.cancel_stop", [101, "BTCBCH", 999999]) == (10, "order not found")
    assert without_times(await api.result("order.cancel_stop", [101, "BTCBCH", low["id"]])) == without_times(low)
    assert await api.result("order.cancel_stop_all", [101, "BTCBCH", 2]) == SUCCESS
    assert (await api.result("order.pending_stop", [101, "BTCBCH", 0, 0, 10]))["total"] == 0
    # mass cancel
    second = await api.limit(101, "BTCBCH", 1, "1", "2100")
    batch = await api.result("order.cancel_batch", [101, "BTCBCH", [plain["id"], 999999]])
    assert [(r["code"], r["message"]) for r in batch] == [(0, ""), (10, "order not found")]
    assert batch[0]["order"]["id"] == plain["id"]
    assert (await api.result("order.cancel_batch", [102, "BTCBCH", [second["id"]]]))[0]["code"] == 11
    assert await api.result("order.cancel_all", [101, None]) == SUCCESS
    assert (await api.result("order.pending", [101, "BTCBCH", 0, 10]))["total"] == 0
    # history of stops (none fired here) and an operator's method refusing a redefinition
    assert await api.result("order.finished_stop", [101, "", 0, 0, 0, 0, 10]) == {"offset": 0, "limit": 10,
                                                                                  "records": []}
    assert await api.error("order.finished_stop", [101, "", 0, 0, 0, 0, 1002]) == (1, "invalid argument")
    status, answer = await api.answer("config.update_asset", [{"name": "BTC", "prec_save": 12, "prec_show": 2}])
    assert status == 200 and answer["error"]["code"] == 1 and "BTC" in answer["error"]["data"]


async def test_a_stop_is_pushed_on_put_cancel_and_firing_and_read_back_from_history(
        api: Api, ws: Callable[[], Awaitable[WsClient]]) -> None:
    owner, other = 201, 202
    for user in (owner, other):
        await api.deposit(user, "BTC", "10")
        await api.deposit(user, "USDT", "100000")
    client = await authenticated(ws, owner)
    inbox = Inbox(client)
    assert await client.result("order.subscribe", ["BTCUSDT"]) == SUCCESS
    assert await client.result("asset.subscribe", ["BTC", "USDT"]) == SUCCESS
    await api.limit(other, "BTCUSDT", 1, "1", "10000")
    await api.limit(owner, "BTCUSDT", 2, "1", "10000")  # the last price is 10000; the owner has 11 BTC
    await inbox.balance("BTC", "11", "0")

    # put: pushed with status 0, its funds frozen
    stop = await api.result("order.put_stop_limit", [owner, "BTCUSDT", 1, "1", "9500", "9400", "0", "0", "web",
                                                     None, "sl-1"])
    assert await inbox.take("order.update_stop") == [1, {**stop, "status": 0}]
    await inbox.balance("BTC", "10", "1")
    assert await client.result("asset.query", ["BTC"]) == {"BTC": {"available": "10", "freeze": "1"}}
    # cancel: pushed with event 3, its funds free again
    take_profit = await api.result("order.put_stop_market", [owner, "BTCUSDT", 2, "5000", "11000", "0", "web"])
    assert await inbox.take("order.update_stop") == [1, {**take_profit, "status": 0}]
    await inbox.balance("USDT", "85000", "5000")
    await api.result("order.cancel_stop", [owner, "BTCUSDT", take_profit["id"]])
    event, cancelled = await inbox.take("order.update_stop")
    assert (event, cancelled["id"], cancelled["status"]) == (3, take_profit["id"], 0)
    await inbox.balance("USDT", "90000", "0")
    # the websocket's own query of pending stops
    page = await client.result("order.query_stop", [None, 0, 0, 10])
    assert page == {"limit": 10, "offset": 0, "total": 1, "records": [stop]}
    assert (await client.result("order.query_stop", ["BTCUSDT", 2, 0, 10]))["total"] == 0
    for params in ([None, 0, 0], ["BTCUSDT", "1", 0, 10], [5, 0, 0, 10], [None, 0, 0, 1000], ["NOPE", 0, 0, 10]):
        assert await client.error("order.query_stop", params) == (1, "invalid argument"), params
    anonymous = await ws()
    assert await anonymous.error("order.query_stop", [None, 0, 0, 10]) == (6, "require authentication")

    # firing: a deal at 9500 (the other user trades with itself); the stop's ask then takes the rest of the bid
    await api.limit(other, "BTCUSDT", 2, "1", "9500")
    await api.limit(other, "BTCUSDT", 1, "0.5", "9500")
    event, fired = await inbox.take("order.update_stop")
    assert (event, fired["id"], fired["status"]) == (2, stop["id"], 1)
    _, order = await inbox.take("order.update", lambda params: params[1]["user"] == owner and "option" in params[1])
    assert (order["price"], order["option"], order["client_id"]) == ("9400", 0x44, "sl-1")
    assert (await api.result("order.pending_stop", [owner, None, 0, 0, 10]))["total"] == 0

    # a stop-market that fires with nobody to buy fails (status 2) and its funds are free again
    failing = await api.result("order.put_stop_market", [owner, "BTCUSDT", 1, "0.1", "9400", "0", "web"])
    assert (await inbox.take("order.update_stop"))[0] == 1
    await api.result("order.put_market", [other, "BTCUSDT", 2, "4700", "0", ""])  # takes the 0.5 at 9400
    event, failed = await inbox.take("order.update_stop")
    assert (event, failed["id"], failed["status"]) == (2, failing["id"], 2)
    await inbox.balance("BTC", "10", "0")
    assert (await api.result("balance.query", [owner, "BTC"]))["BTC"] == {"available": "10", "freeze": "0"}

    # both fired stops in the history, newest created first
    records = (await api.visible("order.finished_stop", [owner, "", 0, 0, 0, 0, 10],
                                 lambda page: len(page["records"]) == 2))["records"]
    assert [(r["id"], r["status"], r["type"], r["side"]) for r in records] == [
        (failing["id"], 2, 2, 1), (stop["id"], 1, 1, 1)]
    assert without_times(records[1]) == {
        "id": stop["id"], "user": owner, "option": 0x44, "market": "BTCUSDT", "source": "web", "type": 1, "side": 1,
        "stop_price": "9500", "price": "9400", "amount": "1", "taker_fee": "0", "maker_fee": "0", "status": 1,
        "client_id": "sl-1"}
    assert records[1]["ctime"] == stop["ctime"] and records[1]["ftime"] == fired["mtime"]
    assert (await api.result("order.finished_stop", [owner, "BTCUSDT", 2, 0, 0, 0, 10]))["records"] == []
    assert (await api.result("order.finished_stop", [other, "", 0, 0, 0, 0, 10]))["records"] == []


async def test_locks_options_and_hidden_orders_as_accessws_shows_them(
        api: Api, ws: Callable[[], Awaitable[WsClient]]) -> None:
    user, other = 301, 302
    await api.deposit(user, "BCH", "1000")
    await api.deposit(user, "BTC", "5")
    await api.deposit(other, "BCH", "100000")
    client = await authenticated(ws, user)
    inbox = Inbox(client)
    assert await client.result("asset.subscribe", ["BCH", "BTC"]) == SUCCESS
    assert await client.result("order.subscribe", ["BTCBCH"]) == SUCCESS
    # a lock and an unlock each push the balance (the "0" change of the balances topic)
    assert await api.result("asset.lock", [user, "BCH", "withdraw", 7, "100"]) == SUCCESS
    await inbox.balance("BCH", "900", "100")
    assert await client.result("asset.query", ["BCH"]) == {"BCH": {"available": "900", "freeze": "100"}}
    assert await api.result("asset.unlock", [user, "BCH", "withdraw", 7, "100"]) == SUCCESS
    await inbox.balance("BCH", "1000", "0")
    # an order placed with options: pushed and queried with its option and client id; hidden from the depth
    hidden = await api.limit(user, "BTCBCH", 1, "1", "99999", 0x20, "h-1")
    event, pushed = await inbox.take("order.update")
    assert (event, pushed["id"], pushed["option"], pushed["client_id"]) == (1, hidden["id"], 0x20, "h-1")
    records = (await client.result("order.query", ["BTCBCH", 0, 10]))["records"]
    assert [(r["id"], r["option"], r["client_id"]) for r in records] == [(hidden["id"], 0x20, "h-1")]
    depth = await client.result("depth.query", ["BTCBCH", 50, "0"])
    assert all(level[0] != "99999" for level in depth["asks"])
    book = await api.result("order.book", ["BTCBCH", 1, 0, 100])
    assert hidden["id"] in [o["id"] for o in book["orders"]]
    # self-trade prevention (cancel-taker): the user's own bid against its hidden ask trades nothing
    await api.deposit(user, "BCH", "200000")
    own = await api.limit(user, "BTCBCH", 2, "1", "99999", 0x100)
    assert (own["deal_stock"], own["left"], own["option"]) == ("0", "1", 0x100)
    event, finished = await inbox.take("order.update")
    assert (event, finished["id"]) == (3, own["id"])  # finished at once: it never rests
    # the other user takes the hidden order
    taken = await api.limit(other, "BTCBCH", 2, "1", "99999")
    assert taken["deal_stock"] == "1"
    event, done = await inbox.take("order.update")
    assert (event, done["id"], done["client_id"]) == (3, hidden["id"], "h-1")


async def test_a_market_added_live_is_listed_queried_subscribed_and_traded_without_restarts(
        gateways: Gateways, api: Api, ws: Callable[[], Awaitable[WsClient]]) -> None:
    pids = {daemon.name: daemon.pid for daemon in gateways.daemons()}
    seller, buyer = 401, 402
    assert await api.result("config.update_asset", [{"name": "LTC", "prec_save": 16, "prec_show": 8}]) == SUCCESS
    ltcbch = {"name": "LTCBCH", "stock": {"name": "LTC", "prec": 8}, "money": {"name": "BCH", "prec": 8},
              "min_amount": "0.01"}
    assert await api.result("config.update_market", [ltcbch]) == SUCCESS
    # right after the answer: listed, queried (marketprice learns it now) and subscribed to
    assert (await api.result("market.list", []))[-1]["name"] == "LTCBCH"
    assert await api.result("market.last", ["LTCBCH"]) == "0"
    assert await api.result("market.deals", ["LTCBCH", 10, 0]) == []
    assert (await api.result("market.status", ["LTCBCH", 86400]))["volume"] == "0"
    client = await ws()
    for method, params in (("deals.subscribe", ["LTCBCH"]), ("price.subscribe", ["LTCBCH"]),
                           ("state.subscribe", ["LTCBCH"]), ("kline.subscribe", ["LTCBCH", 60]),
                           ("depth.subscribe", ["LTCBCH", 10, "0"])):
        assert await client.result(method, params) == SUCCESS, method
    assert await client.result("price.query", ["LTCBCH"]) == "0"
    private = await authenticated(ws, buyer)
    assert await private.result("order.subscribe", ["LTCBCH"]) == SUCCESS

    # traded through accesshttp at once
    await api.deposit(seller, "LTC", "10")
    await api.deposit(buyer, "BCH", "10")
    await api.limit(seller, "LTCBCH", 1, "2", "0.05")
    assert (await api.limit(buyer, "LTCBCH", 2, "1.5", "0.05"))["deal_stock"] == "1.5"
    assert (await api.limit(buyer, "LTCBCH", 2, "0.5", "0.06"))["deal_money"] == "0.025"
    assert (await Inbox(private).take("order.update"))[1]["market"] == "LTCBCH"

    # every deal reaches marketprice, and its first candles open at its first price
    status = await api.visible("market.status", ["LTCBCH", 86400], lambda s: s["volume"] == "2")
    assert status == {"period": 86400, "last": "0.05", "open": "0.05", "close": "0.05", "high": "0.05",
                      "low": "0.05", "volume": "2", "deal": "0.1"}
    assert await api.result("market.last", ["LTCBCH"]) == "0.05000000"
    assert [d["amount"] for d in await api.result("market.deals", ["LTCBCH", 10, 0])] == ["0.5", "1.5"]
    now = int(time.time())
    kline = await api.result("market.kline", ["LTCBCH", now - 600, now, 60])
    assert sum(float(row[5]) for row in kline) == 2.0
    feeds = Inbox(client)
    for method in ("deals.update", "price.update", "state.update", "depth.update"):
        params = await feeds.take(method, lambda params: "LTCBCH" in params, timeout=VISIBLE_WAIT)
        assert params[-1 if method == "depth.update" else 0] == "LTCBCH"
    candles = await feeds.take("kline.update", lambda params: any(row[5] != "0" for row in params),
                               timeout=VISIBLE_WAIT)
    assert all(row[-1] == "LTCBCH" for row in candles)
    assert await client.result("price.query", ["LTCBCH"]) == "0.05000000"

    # a market whose first deal comes before anyone names it: marketprice adds it from the deal
    ltcbtc = {"name": "LTCBTC", "stock": {"name": "LTC", "prec": 4}, "money": {"name": "BTC", "prec": 4},
              "min_amount": "0.01"}
    assert await api.result("config.update_market", [ltcbtc]) == SUCCESS
    await api.deposit(buyer, "BTC", "1")
    await api.limit(seller, "LTCBTC", 1, "1", "0.002")
    await api.limit(buyer, "LTCBTC", 2, "1", "0.002")
    status = await api.visible("market.status", ["LTCBTC", 86400], lambda s: s["volume"] == "1")
    assert (status["open"], status["last"]) == ("0.002", "0.002")

    assert {daemon.name: daemon.pid for daemon in gateways.daemons()} == pids
    assert all(daemon.alive() for daemon in gateways.daemons())


async def test_bad_params_of_every_new_method_get_error_1_through_the_gateway(
        gateways: Gateways, api: Api) -> None:
    await api.deposit(501, "BTC", "10")
    await api.deposit(502, "BCH", "100000")
    await api.limit(501, "BTCBCH", 1, "1", "100")
    await api.limit(502, "BTCBCH", 2, "0.5", "100")
    calls = [(COMMAND_METHODS[command], params) for command, params in invalid_calls()]
    huge = [2**64, 2**80, 1e300, -(2**70)]
    for number in huge:
        calls += [("asset.lock", [number, "BTC", "w", 1, "1"]), ("order.cancel_stop", [501, "BTCBCH", number]),
                  ("order.pending_stop", [501, None, 0, number, 10]), ("order.cancel_batch", [501, "BTCBCH", [number]])]
    calls += [("order.finished_stop", params) for params in (
        [], [0, "", 0, 0, 0, 0, 10], [501, None, 0, 0, 0, 0, 10], [501, "", 3, 0, 0, 0, 10],
        [501, "", "1", 0, 0, 0, 10], [501, "", 0, 9, 8, 0, 10], [501, "", 0, 0, 0, 0, 0],
        [501, "", 0, 0, 0, 0, 1002], [501, "", 0, 0, 0, 0, 10, 1], [2**70, "", 0, 0, 0, 0, 10])]
    for method, params in calls:
        status, answer = await api.answer(method, params)
        error = answer["error"] if status == 200 and answer else None
        if method == "order.cancel_batch" and error is None:
            assert [r["code"] for r in answer["result"]] == [10], (method, params, answer)  # a huge id is no order
            continue
        assert error is not None and (error["code"], error["message"]) == (1, "invalid argument"), (
            method, params, status, answer)
    # other users' ids
    stop = await api.result("order.put_stop_market", [501, "BTCBCH", 1, "0.1", "90", "0", ""])
    assert await api.error("order.cancel_stop", [502, "BTCBCH", stop["id"]]) == (11, "user not match")
    assert await api.result("order.cancel_stop_all", [502, "BTCBCH"]) == SUCCESS
    assert (await api.result("order.pending_stop", [501, "BTCBCH", 0, 0, 10]))["total"] == 1
    resting = (await api.result("order.pending", [501, "BTCBCH", 0, 10]))["records"][0]
    assert (await api.result("order.cancel_batch", [502, "BTCBCH", [resting["id"]]]))[0]["code"] == 11
    assert await api.result("order.cancel_all", [502, "BTCBCH"]) == SUCCESS
    assert (await api.result("order.pending", [501, "BTCBCH", 0, 10]))["total"] == 1
    assert await api.result("asset.lock", [501, "BTC", "withdraw", 1, "1"]) == SUCCESS
    assert await api.error("asset.unlock", [502, "BTC", "withdraw", 1, "1"]) == (11, "balance not enough")
    assert await api.result("asset.query_lock", [502]) == {}
    # every daemon is alive and answers
    assert all(daemon.alive() for daemon in gateways.daemons())
    assert (await api.result("market.list", []))[0]["name"] == "BTCBCH"
    await api.visible("market.last", ["BTCBCH"], lambda last: last == "100.00000000")
    assert (await api.result("order.finished_stop", [501, "", 0, 0, 0, 0, 1001]))["limit"] == 1001


async def test_config_methods_are_unknown_to_a_gateway_without_the_switch(gateways: Gateways, api: Api,
                                                                          tmp_path: Path) -> None:
    engine = gateways.stack.engine
    assert engine is not None
    config = accesshttp_config(tmp_path, engine=engine_port(engine.config))
    gateway = Daemon("accesshttp", config, tmp_path).start()
    try:
        port = http_port(config)
        wait_backend(port, "market.list", [])
        async with aiohttp.ClientSession() as session:
            public = Api(session, f"http://127.0.0.1:{port}/")
            for method in ("config.update_asset", "config.update_market"):
                status, answer = await public.answer(method, [{"name": "XRP", "prec_save": 8}])
                assert (status, answer["error"]) == (404, {"code": 4, "message": "method not found"})
            assert await public.result("asset.query_lock", [1]) == {}
            async with session.get(f"http://127.0.0.1:{port}/openrpc.json") as response:
                document = await response.json(content_type=None)
        names = {method["name"] for method in document["methods"]}
        assert "asset.lock" in names and "order.finished_stop" in names
        assert not names & {"config.update_asset", "config.update_market"}
        assert "XRP" not in [a["name"] for a in await api.result("asset.list", [])]
    finally:
        gateway.stop()
