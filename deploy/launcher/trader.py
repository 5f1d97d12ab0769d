"""`./run.sh demo --trade`: keep trading on the running local exchange until Ctrl-C, through the public HTTP API.

For each market (or those named with --market) a `MarketPlan` (trade_plan.py)
says what to send; this sends it: the maker and the taker are funded once
(`balance.update` deposits), then rounds go out at `rate` a second per market
— one taker order that trades, now and then a maker order or a cancel — over
a few keep-alive connections, as many at once as `CONCURRENCY`.  When the
exchange answers slower than that, rounds wait (the rate is a ceiling, not a
promise).  Every `REPORT_SECONDS` it prints what it sent and the deals it
made; errors the plan expects (a cancel of an order that was filled
meanwhile) are counted, not shown.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
import orjson

from .trade_plan import MAKER, TAKER, Action, Cancel, MarketInfo, MarketPlan

DEFAULT_RATE = 5.0
MAX_RATE = 1000.0
CONCURRENCY = 16
REPORT_SECONDS = 10.0
ORDER_NOT_FOUND = 10
FUNDS_LOTS = Decimal(1_000_000)
SOURCE = "demo --trade"
FEES = ("0.002", "0.001")
# where a market that never traded starts
START_PRICES = {"BTCUSDT": Decimal(20000), "ETHUSDT": Decimal(1500), "ETHBTC": Decimal("0.075")}
FALLBACK_START = Decimal(100)


class TradeStopped(Exception):
    pass


@dataclass(slots=True)
class Tally:
    orders: int = 0
    cancels: int = 0
    expected_errors: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    first_deal_id: int = 0
    last_deal_id: int = 0


class Api:
    """JSON-RPC over HTTP POST; `call` gives (result, error) without raising for a protocol error."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url
        self.next_id = 1

    async def call(self, method: str, params: list[Any]) -> tuple[Any, dict[str, Any] | None]:
        body = orjson.dumps({"id": self.next_id, "method": method, "params": params})
        self.next_id += 1
        async with self.session.post(self.url, data=body) as response:
            if response.status != 200:
                return None, {"code": -response.status, "message": f"HTTP {response.status}"}
            answer = orjson.loads(await response.read())
        return answer.get("result"), answer.get("error")

    async def result(self, method: str, params: list[Any]) -> Any:
        result, error = await self.call(method, params)
        if error:
            raise TradeStopped(f"{method} {params}: {error}")
        return result


async def start_price(api: Api, market: MarketInfo) -> Decimal:
    last = Decimal(str(await api.result("market.last", [market.name])))
    return last if last > 0 else START_PRICES.get(market.name, FALLBACK_START)


async def fund(api: Api, markets: list[MarketInfo]) -> None:
    business = int(time.time() * 1000)
    assets: dict[str, Decimal] = {}
    for market in markets:
        stock_funds = market.min_amount * FUNDS_LOTS
        assets[market.stock] = max(assets.get(market.stock, Decimal(0)), stock_funds)
        money_funds = (stock_funds * START_PRICES.get(market.name, FALLBACK_START) * 10).quantize(Decimal(1))
        assets[market.money] = max(assets.get(market.money, Decimal(0)), money_funds)
    for user in (MAKER, TAKER):
        for asset, amount in assets.items():
            await api.result("balance.update", [user, asset, "deposit", business, str(amount), {"demo": "trade"}])


def action_call(action: Action, market: MarketInfo) -> tuple[str, list[Any]]:
    if isinstance(action, Cancel):
        return "order.cancel", [action.user, market.name, action.order_id]
    return "order.put_limit", [action.user, market.name, action.side, str(action.amount), str(action.price),
                               *FEES, SOURCE]


class Trader:
    def __init__(self, api: Api, plans: list[MarketPlan], rate: float) -> None:
        self.api = api
        self.plans = plans
        self.rate = rate
        self.slots = asyncio.Semaphore(CONCURRENCY)
        self.tally = Tally()
        self.tasks: set[asyncio.Task[None]] = set()
        self.failure: Exception | None = None

    async def send(self, plan: MarketPlan, action: Action) -> None:
        method, params = action_call(action, plan.market)
        try:
            result, error = await self.api.call(method, params)
        except (aiohttp.ClientError, OSError) as exc:
            self.failure = exc
            return
        finally:
            self.slots.release()
        plan.answered(action, None if error else result)
        if isinstance(action, Cancel):
            self.tally.cancels += 1
        else:
            self.tally.orders += 1
        if error:
            if isinstance(action, Cancel) and error.get("code") == ORDER_NOT_FOUND:
                self.tally.expected_errors += 1
            else:
                key = f"{method}: {error.get('message')}"
                self.tally.errors[key] = self.tally.errors.get(key, 0) + 1

    async def submit(self, plan: MarketPlan, actions: list[Action]) -> None:
        for action in actions:
            await self.slots.acquire()
            if self.failure is not None:
                raise TradeStopped(f"the exchange stopped answering: {self.failure!r}")
            task = asyncio.get_running_loop().create_task(self.send(plan, action))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def run(self, seconds: float | None) -> None:
        loop = asyncio.get_running_loop()
        for plan in self.plans:
            await self.submit(plan, plan.opening())
        started = loop.time()
        next_report = started + REPORT_SECONDS
        rounds = 0
        while seconds is None or loop.time() - started < seconds:
            for plan in self.plans:
                await self.submit(plan, plan.next_round())
            rounds += 1
            # rounds go out on a fixed schedule; one that is late does not make the next ones bunch up
            due = started + rounds / self.rate
            now = loop.time()
            if due > now:
                await asyncio.sleep(due - now)
            elif now - due > 1.0:
                started, rounds = now, 0
            if loop.time() >= next_report:
                next_report += REPORT_SECONDS
                await self.report()
        await asyncio.gather(*self.tasks)

    async def last_deal_id(self) -> int:
        newest = 0
        for plan in self.plans:
            deals = await self.api.result("market.deals", [plan.market.name, 1, 0])
            if deals:
                newest = max(newest, int(deals[0]["id"]))
        return newest

    async def report(self) -> None:
        tally = self.tally
        deals = await self.last_deal_id()
        made = deals - tally.first_deal_id
        errors = "; ".join(f"{n} x {what}" for what, n in tally.errors.items())
        print(f"  {tally.orders} orders, {tally.cancels} cancels, {made} deals so far"
              + (f"; errors: {errors}" if errors else ""), flush=True)


async def run_trading(http_url: str, ui_url: str, names: list[str], rate: float, seconds: float | None,
                      seed: int | None = None) -> Tally:
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        api = Api(session, http_url)
        listed = [MarketInfo.from_listing(item) for item in await api.result("market.list", [])]
        markets = [m for m in listed if not names or m.name in names]
        unknown = set(names) - {m.name for m in listed}
        if unknown:
            raise TradeStopped(f"no such market: {', '.join(sorted(unknown))}")
        rng = random.Random(seed)
        plans = [MarketPlan(m, await start_price(api, m), random.Random(rng.random()), rate) for m in markets]
        await fund(api, markets)
        trader = Trader(api, plans, rate)
        trader.tally.first_deal_id = await trader.last_deal_id()
        print(f"trading on {', '.join(m.name for m in markets)}, about {rate:g} trades a second each "
              f"(users {MAKER} and {TAKER}); watch it on {ui_url}", flush=True)
        if seconds is None:
            print("Ctrl-C stops it.", flush=True)
        try:
            await trader.run(seconds)
        finally:
            trader.tally.last_deal_id = await trader.last_deal_id()
        return trader.tally
