"""Drives a real matchengine over RPC: random operations, and a full dump of what it answers."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from common.config import ClientConfig, parse_address
from common.errors import RpcError
from common.rpc import RpcClient, RpcTimeout, RpcUnavailable
from tests.support import Daemon, cli_command, engine_port

MARKETS = {"BTCBCH": ("BTC", "BCH", 8, 8), "BTCUSDT": ("BTC", "USDT", 8, 2)}
ASSETS = ("BTC", "BCH", "USDT")


def status_of(daemon: Daemon) -> dict[str, int]:
    """The CLI `status` lines as numbers."""
    result = {}
    for line in cli_command(daemon.config, "status").splitlines():
        key, _, value = line.rpartition(" ")
        result[key.rstrip(":")] = int(value)
    return result


async def connect(daemon: Daemon, timeout: float = 30.0) -> RpcClient:
    config = ClientConfig(name="driver", addr=[parse_address(f"tcp@127.0.0.1:{engine_port(daemon.config)}")],
                          max_pkg_size=2_000_000, reconnect_timeout=0.2)
    client = RpcClient(config)
    await client.start()
    if not await client.wait_connected(timeout):
        raise TimeoutError("matchengine did not accept a connection")
    return client


class RandomTrader:
    """Random but reproducible operations from a set of users, remembering what was acknowledged: the
    original's (deposits, withdrawals, limit and market orders, cancels) and, with `extensions`, order
    options, stops, locks and unlocks, batch and mass cancels."""

    def __init__(self, client: RpcClient, seed: int, users: int = 20, fee: str = "0.002",
                 extensions: bool = True) -> None:
        self.client = client
        self.rnd = random.Random(seed)
        self.users = users
        self.fee = fee
        self.extensions = extensions
        self.stop_ids: list[tuple[int, str, int]] = []
        self.business_id = seed * 10_000_000
        self.order_ids: list[tuple[int, str, int]] = []
        self.errors: dict[int, int] = {}

    async def call(self, command: int, params: list[Any]) -> Any:
        try:
            return await self.client.call_json(command, params, timeout=30)
        except RpcError as exc:
            self.errors[exc.code] = self.errors.get(exc.code, 0) + 1
            return None

    async def fund(self, amount: str = "100000") -> None:
        await asyncio.gather(*(self.deposit(user, asset, amount) for user in range(1, self.users + 1)
                               for asset in ASSETS))

    async def deposit(self, user: int, asset: str, amount: str) -> Any:
        self.business_id += 1
        return await self.call(102, [user, asset, "deposit", self.business_id, amount, {"from": "test"}])

    async def step(self) -> None:
        rnd = self.rnd
        user = rnd.randint(1, self.users)
        market = rnd.choice(list(MARKETS))
        stock, money, stock_prec, money_prec = MARKETS[market]
        kind = rnd.random()
        if self.extensions and rnd.random() < 0.25:
            await self.extension_step(user, market, money_prec)
        elif kind < 0.08:
            self.business_id += 1
            asset = rnd.choice(ASSETS)
            change = f"{rnd.randint(1, 5000) / 100:.2f}" if rnd.random() < 0.7 else f"-{rnd.randint(1, 300) / 100:.2f}"
            await self.call(102, [user, asset, rnd.choice(["deposit", "withdraw", "bonus"]), self.business_id,
                                  change, {}])
        elif kind < 0.75:
            side = rnd.choice((1, 2))
            price = 100 + rnd.randint(-30, 30) * (0.5 if money_prec else 1)
            amount = rnd.choice(("0.01", "0.1", "0.25", "1", "2.5"))
            order = await self.call(201, [user, market, side, amount, f"{price:.{money_prec}f}", self.fee, "0.001",
                                          "rnd"])
            if order is not None and order["left"] not in ("0", "0e-8"):
                self.order_ids.append((user, market, order["id"]))
        elif kind < 0.85:
            side = rnd.choice((1, 2))
            amount = rnd.choice(("0.05", "0.5")) if side == 1 else rnd.choice(("5", "50"))
            await self.call(202, [user, market, side, amount, self.fee, "rnd"])
        elif self.order_ids:
            user, market, order_id = self.order_ids.pop(rnd.randrange(len(self.order_ids)))
            await self.call(204, [user, market, order_id])

    async def extension_step(self, user: int, market: str, money_prec: int) -> None:
        rnd = self.rnd
        kind = rnd.random()
        price = f"{100 + rnd.randint(-30, 30) * (0.5 if money_prec else 1):.{money_prec}f}"
        if kind < 0.3:
            option = rnd.choice((None, 0x8, 0x10, 0x20, 0x80, 0x100, 0x200, 0x300, 0x28))
            order = await self.call(201, [user, market, rnd.choice((1, 2)), rnd.choice(("0.1", "1")), price, self.fee,
                                          "0.001", "opt", option, rnd.choice(("", "cid-1", None))])
            if order is not None and order["left"] not in ("0", "0e-8"):
                self.order_ids.append((user, market, order["id"]))
        elif kind < 0.55:
            side = rnd.choice((1, 2))
            if rnd.random() < 0.5:
                params = [user, market, side, "0.1", price, price, self.fee, "0.001", "stop", rnd.choice((None, 0x8)),
                          "s"]
                stop = await self.call(211, params)
            else:
                stop = await self.call(212, [user, market, side, "0.1" if side == 1 else "20", price, self.fee, "stop"])
            if stop is not None:
                self.stop_ids.append((user, market, stop["id"]))
        elif kind < 0.65 and self.stop_ids:
            user, market, stop_id = self.stop_ids.pop(rnd.randrange(len(self.stop_ids)))
            await self.call(213, [user, market, stop_id])
        elif kind < 0.85:
            self.business_id += 1
            asset = rnd.choice(ASSETS)
            command = 106 if rnd.random() < 0.6 else 107
            await self.call(command, [user, asset, "withdraw", self.business_id // 2, f"{rnd.randint(0, 300) / 100}"])
        elif kind < 0.93:
            mine = [o for o in self.order_ids if o[0] == user and o[1] == market][:3]
            await self.call(222, [user, market, [o[2] for o in mine] or [1]])
        elif rnd.random() < 0.5:
            await self.call(218, [user, rnd.choice((market, None)), rnd.choice((0, 1, 2))])
        else:
            await self.call(219, [user, market])

    async def run(self, steps: int, concurrency: int = 8) -> None:
        remaining = [steps]

        async def worker() -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                await self.step()

        await asyncio.gather(*(worker() for _ in range(concurrency)))


async def dump_state(client: RpcClient, users: int) -> dict[str, Any]:
    """Everything the engine answers about its state, for equality checks across restarts."""
    state: dict[str, Any] = {}
    for user in range(1, users + 1):
        state[f"balance/{user}"] = await client.call_json(101, [user], timeout=10)
        state[f"lock/{user}"] = await client.call_json(108, [user], timeout=10)
        stops: list[Any] = []
        offset = 0
        while True:
            page = await client.call_json(214, [user, None, 0, offset, 100], timeout=10)
            stops.extend(page["records"])
            offset += 100
            if offset >= page["total"]:
                break
        state[f"stops/{user}"] = stops
        for market in MARKETS:
            records: list[Any] = []
            offset = 0
            while True:
                page = await client.call_json(203, [user, market, offset, 100], timeout=10)
                records.extend(page["records"])
                offset += 100
                if offset >= page["total"]:
                    break
            state[f"pending/{user}/{market}"] = records
    for market in MARKETS:
        for side in (1, 2):
            orders: list[Any] = []
            offset = 0
            while True:
                page = await client.call_json(205, [market, side, offset, 100], timeout=10)
                orders.extend(page["orders"])
                offset += 100
                if offset >= page["total"]:
                    break
            state[f"book/{market}/{side}"] = orders
        state[f"depth/{market}"] = await client.call_json(206, [market, 100, "0"], timeout=10)
    for market in MARKETS:
        for trigger in (1, 2):
            state[f"stop_book/{market}/{trigger}"] = await client.call_json(216, [market, trigger, 0, 100], timeout=10)
    state["assets"] = await client.call_json(105, [], timeout=10)
    state["markets"] = await client.call_json(308, [], timeout=10)
    return state


async def call_until_up(client: RpcClient, command: int, params: list[Any], deadline: float = 60.0) -> Any:
    """Call, retrying while the engine is down or restarting."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while True:
        try:
            return await client.call_json(command, params, timeout=10)
        except (RpcUnavailable, RpcTimeout):
            if loop.time() > end:
                raise
            await asyncio.sleep(0.1)
