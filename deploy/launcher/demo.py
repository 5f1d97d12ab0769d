"""`python -m deploy.launcher demo`: one trade on the running local exchange, shown through both APIs.

(`demo --trade` keeps trading instead, for the market page: trader.py.)

It funds a seller (user 1, BTC) and a buyer (user 2, USDT), subscribes a
websocket to BTCUSDT depth and deals, puts a limit ask that rests and a
limit bid that takes part of it, then prints what the HTTP API answers —
balances, the resting order, the depth, market.last / status / kline (from
marketprice, fed by Kafka), and the history (from readhistory) — and the
websocket pushes that the trade caused.  Then a stop-loss fires: the buyer
puts one below the price, a trade at its stop price places its order, and
the fired stop shows in `order.finished_stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from typing import Any

import aiohttp
import orjson
from websockets.asyncio.client import ClientConnection, connect

from .layout import DataDir

MARKET = "BTCUSDT"
SELLER, BUYER = 1, 2
PUSH_WAIT = 1.5
VISIBLE_WAIT = 10.0


class DemoFailed(Exception):
    pass


def show(label: str, value: Any) -> None:
    print(f"  {label:<54} {orjson.dumps(value).decode()}", flush=True)


class HttpApi:
    """JSON-RPC over HTTP POST, as an exchange frontend calls accesshttp."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url
        self.next_id = 1

    async def call(self, method: str, params: list[Any], *, quiet: bool = False) -> Any:
        body = {"id": self.next_id, "method": method, "params": params}
        self.next_id += 1
        async with self.session.post(self.url, data=orjson.dumps(body)) as response:
            if response.status != 200:
                raise DemoFailed(f"{method}: HTTP {response.status}")
            answer = orjson.loads(await response.read())
        if answer.get("error"):
            raise DemoFailed(f"{method} {params}: error {answer['error']}")
        if not quiet:
            show(f"{method} {orjson.dumps(params).decode()}", answer["result"])
        return answer["result"]


class WsFeed:
    """A websocket connection that keeps every push it receives."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.pushes: list[dict[str, Any]] = []
        self.replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.next_id = 1
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for message in self.connection:
                body = orjson.loads(message)
                if body.get("method"):
                    self.pushes.append(body)
                elif body.get("id") in self.replies:
                    self.replies.pop(body["id"]).set_result(body)

    async def call(self, method: str, params: list[Any]) -> Any:
        request_id = self.next_id
        self.next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.replies[request_id] = future
        await self.connection.send(orjson.dumps({"id": request_id, "method": method, "params": params}).decode())
        reply = await asyncio.wait_for(future, 5.0)
        if reply.get("error"):
            raise DemoFailed(f"websocket {method}: error {reply['error']}")
        show(f"ws {method} {orjson.dumps(params).decode()}", reply["result"])
        return reply["result"]

    async def close(self) -> None:
        await self.connection.close()
        self._task.cancel()


async def wait_until_visible(api: HttpApi, method: str, params: list[Any], check: Any) -> Any:
    """Poll `method` until `check(result)` holds: history and market data arrive a moment after the trade."""
    deadline = time.monotonic() + VISIBLE_WAIT
    while True:
        result = await api.call(method, params, quiet=True)
        if check(result):
            return result
        if time.monotonic() > deadline:
            raise DemoFailed(f"{method} {params} did not show the trade within {VISIBLE_WAIT:.0f} s: {result}")
        await asyncio.sleep(0.1)


async def run_demo(http_url: str, ws_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        api = HttpApi(session, http_url)
        feed = WsFeed(await connect(ws_url))
        try:
            print("websocket subscriptions:")
            await feed.call("depth.subscribe", [MARKET, 10, "0"])
            await feed.call("deals.subscribe", [MARKET])
            await asyncio.sleep(0.3)
            seen = len(feed.pushes)

            print("funding (balance.update) and trading over HTTP:")
            stamp = int(time.time() * 1000)
            await api.call("balance.update", [SELLER, "BTC", "deposit", stamp, "1", {"demo": True}])
            await api.call("balance.update", [BUYER, "USDT", "deposit", stamp, "50000", {"demo": True}])
            ask = await api.call("order.put_limit", [SELLER, MARKET, 1, "0.5", "20000", "0.002", "0.001", "demo"])
            bid = await api.call("order.put_limit", [BUYER, MARKET, 2, "0.2", "20000", "0.002", "0.001", "demo"])

            print("the result (HTTP):")
            await api.call("balance.query", [SELLER, "BTC", "USDT"])
            await api.call("balance.query", [BUYER, "BTC", "USDT"])
            await api.call("order.pending_detail", [MARKET, ask["id"]])
            await wait_until_visible(api, "order.depth", [MARKET, 10, "0"], lambda depth: bool(depth["asks"]))
            await api.call("order.depth", [MARKET, 10, "0"])
            await wait_until_visible(api, "market.deals", [MARKET, 1, 0],
                                     lambda deals: bool(deals) and deals[0]["time"] >= bid["ctime"])
            await api.call("market.last", [MARKET])
            await api.call("market.status", [MARKET, 86400])
            now = int(time.time())
            await api.call("market.kline", [MARKET, now - 300, now, 60])
            await wait_until_visible(api, "order.deals", [bid["id"], 0, 10], lambda page: bool(page["records"]))
            await api.call("order.deals", [bid["id"], 0, 10])
            await api.call("order.finished", [BUYER, MARKET, 0, 0, 0, 3])
            await api.call("balance.history", [SELLER, "", "", 0, 0, 0, 3])

            await asyncio.sleep(PUSH_WAIT)
            print("websocket pushes caused by the trade:")
            pushes = feed.pushes[seen:]
            for push in pushes:
                show(push["method"], push["params"])
            if not any(p["method"] == "deals.update" for p in pushes):
                raise DemoFailed("no deals.update push arrived")
            await show_stop_loss(api)
        finally:
            await feed.close()


async def show_stop_loss(api: HttpApi) -> None:
    """The buyer protects its BTC with a stop-loss; a trade at the stop price fires it."""
    print("a stop-loss (beyond the original):")
    stop = await api.call("order.put_stop_limit", [BUYER, MARKET, 1, "0.1", "19500", "19000", "0.002", "0.001",
                                                   "demo", None, "demo-stop-loss"])
    await api.call("order.pending_stop", [BUYER, MARKET, 0, 0, 10])
    await api.call("order.put_limit", [BUYER, MARKET, 2, "0.05", "19500", "0.002", "0.001", "demo"])
    await api.call("order.put_limit", [SELLER, MARKET, 1, "0.05", "19500", "0.002", "0.001", "demo"])
    await api.call("order.pending_stop", [BUYER, MARKET, 0, 0, 10])
    await api.call("order.pending", [BUYER, MARKET, 0, 10])
    await wait_until_visible(api, "order.finished_stop", [BUYER, MARKET, 0, 0, 0, 0, 1],
                             lambda page: bool(page["records"]) and page["records"][0]["id"] == stop["id"])
    await api.call("order.finished_stop", [BUYER, MARKET, 0, 0, 0, 0, 1])
    await api.call("order.cancel_all", [BUYER, MARKET])  # the stop's order rests at 19000: leave the book as it was


def launcher_running(data: DataDir) -> bool:
    """True while a launcher holds the data directory's lock (its state file may outlive a killed one)."""
    if not data.lock_file.exists():
        return False
    fd = os.open(data.lock_file, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def demo(data: DataDir, *, trade: bool = False, rate: float = 5.0, markets: list[str] | None = None) -> int:
    if not launcher_running(data) or not data.state_file.exists():
        print(f"no exchange is running on {data.root}: start it first (./run.sh, or python -m deploy.launcher)")
        return 1
    state = orjson.loads(data.state_file.read_bytes())
    if trade:
        return keep_trading(state, rate, markets or [])
    print(f"exchange: {state['http']} and {state['ws']}")
    try:
        asyncio.run(run_demo(state["http"], state["ws"]))
    except (DemoFailed, OSError, TimeoutError, aiohttp.ClientError) as exc:
        print(f"demo failed: {exc!r}")
        return 1
    print("done.")
    return 0


def keep_trading(state: dict[str, Any], rate: float, markets: list[str]) -> int:
    from .trader import TradeStopped, run_trading

    ui_url = state.get("ui", f"{state['http']}ui/")
    try:
        tally = asyncio.run(run_trading(state["http"], ui_url, markets, rate, None))
    except KeyboardInterrupt:
        print("\nstopped.")
        return 0
    except (TradeStopped, OSError, aiohttp.ClientError) as exc:
        print(f"trading stopped: {exc}")
        return 1
    print(f"done: {tally.orders} orders, {tally.cancels} cancels")
    return 0
