"""marketprice end to end: matchengine → Kafka `deals` → marketprice → Redis, all real processes.

Trades are made over RPC to the engine; marketprice learns its markets from
the engine (command 307) and runs in UTC+8.  Checked: every RPC method with
exact values; a kill -9 in the middle of the deal stream loses and doubles
nothing; a broker that restarts empty neither crashes it nor double counts.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from common.config import ClientConfig, parse_address
from common.decimals import fmt
from common.rpc import RpcClient
from tests.e2e.marketprice_env import (
    TZ_UTC8,
    MarketpriceClient,
    create_topic,
    delete_keys,
    local_day,
    marketprice_config,
    rpc_port,
)
from tests.support import Broker, Daemon, engine_config, engine_port, unique_name

pytestmark = pytest.mark.timeout(120)

D = Decimal
SELLER, BUYER = 1, 2
ASK, BID = 1, 2


@dataclass
class Exchange:
    workdir: Path
    broker: Broker
    engine: Daemon
    marketprice: Daemon
    prefix: str

    @property
    def mp_port(self) -> int:
        return rpc_port(self.marketprice.config)


@pytest.fixture
def exchange(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Exchange]:
    monkeypatch.setenv("TZ", TZ_UTC8)
    broker = Broker().start()
    asyncio.run(create_topic(broker.address))
    config = engine_config(tmp_path, log_db="log", history_db="history", brokers=broker.address, sqlite=True)
    engine = Daemon("matchengine", config, tmp_path)
    prefix = unique_name("t_mp") + ":"
    mp_config = marketprice_config(tmp_path, brokers=broker.address, key_prefix=prefix,
                                   engine_port=engine_port(config))
    env = Exchange(tmp_path, broker, engine, Daemon("marketprice", mp_config, tmp_path), prefix)
    try:
        engine.start()
        env.marketprice.start()
        yield env
    finally:
        env.marketprice.stop()
        env.engine.stop()
        env.broker.stop()  # (a test may have replaced it)
        delete_keys(prefix)


@pytest.fixture
async def engine(exchange: Exchange) -> AsyncIterator[RpcClient]:
    port = engine_port(exchange.engine.config)
    client = RpcClient(ClientConfig(name="test", addr=[parse_address(f"tcp@127.0.0.1:{port}")],
                                    max_pkg_size=1_000_000))
    await client.start()
    assert await client.wait_connected(10)
    yield client
    await client.close()


async def call(engine: RpcClient, command: int, params: list[Any]) -> Any:
    return await engine.call_json(command, params, timeout=10)


async def fund(engine: RpcClient, market: str, business_id: int = 1) -> None:
    stock, money = ("BTC", "USDT") if market == "BTCUSDT" else ("BTC", "BCH")
    await call(engine, 102, [SELLER, stock, "deposit", business_id, "100000", {}])
    await call(engine, 102, [BUYER, money, "deposit", business_id, "100000000", {}])


async def order(engine: RpcClient, user: int, market: str, side: int, amount: str, price: str) -> dict[str, Any]:
    return await call(engine, 201, [user, market, side, amount, price, "0", "0", "test"])


def reference_buckets(deals: list[tuple[float, Decimal, Decimal]], unit: int) -> dict[int, list[Decimal]]:
    """The spec's bucket rule (HEAD: a bucket opens at the price before its first deal, 0 at first)."""
    buckets: dict[int, list[Decimal]] = {}
    last = D(0)
    for at, price, amount in deals:
        key = int(at) // unit * unit
        bucket = buckets.setdefault(key, [last, last, last, last, D(0), D(0)])
        bucket[1] = price
        bucket[2] = max(bucket[2], price)
        bucket[3] = min(bucket[3], price)
        bucket[4] += amount
        bucket[5] += price * amount
        last = price
    return buckets


def reference_rows(buckets: dict[int, list[Decimal]], start: int, end: int, step: int, market: str) -> list[list]:
    rows: list[list[Any]] = []
    previous: list[Decimal] | None = None
    for key in range(start, end + 1, step):
        bucket = buckets.get(key)
        if bucket is None and previous is not None:
            bucket = [previous[1]] * 4 + [D(0), D(0)]
        if bucket is not None:
            rows.append([key, *(fmt(v) for v in bucket), market])
            previous = bucket
    return rows


async def test_every_method_after_real_trades(exchange: Exchange, engine: RpcClient) -> None:
    await fund(engine, "BTCUSDT")
    await order(engine, SELLER, "BTCUSDT", ASK, "1", "9500")
    taker1 = await order(engine, BUYER, "BTCUSDT", BID, "0.4", "9600")  # deal 1: 0.4 @ 9500, a buy
    taker2 = await order(engine, BUYER, "BTCUSDT", BID, "0.6", "9500")  # deal 2: 0.6 @ 9500, a buy
    await order(engine, BUYER, "BTCUSDT", BID, "1", "9400")
    taker3 = await order(engine, SELLER, "BTCUSDT", ASK, "0.25", "9300")  # deal 3: 0.25 @ 9400, a sell
    times = [taker1["mtime"], taker2["mtime"], taker3["mtime"]]
    trades = [(times[0], D("9500"), D("0.4")), (times[1], D("9500"), D("0.6")), (times[2], D("9400"), D("0.25"))]

    async with MarketpriceClient(exchange.mp_port) as mp:
        await mp.wait_deal("BTCUSDT", 3)
        assert await mp.last("BTCUSDT") == "9400.00"  # sci of the deal price at the market's money precision
        assert await mp.last("BTCBCH") == "0"
        assert await mp.deals("BTCUSDT", 10, 0) == [
            {"id": 3, "time": times[2], "price": "9400", "amount": "0.25", "type": "sell"},
            {"id": 2, "time": times[1], "price": "9500", "amount": "0.6", "type": "buy"},
            {"id": 1, "time": times[0], "price": "9500", "amount": "0.4", "type": "buy"},
        ]
        assert [d["id"] for d in await mp.deals("BTCUSDT", 1, 0)] == [3]
        assert [d["id"] for d in await mp.deals("BTCUSDT", 10, 1)] == [3, 2]
        assert await mp.deals("BTCBCH", 10, 0) == []

        # a fresh market (no price before): its first buckets open, and bottom, at 0
        assert await mp.status("BTCUSDT") == {"period": 86400, "last": "9400", "open": "0", "close": "9400",
                                              "high": "9500", "low": "0", "volume": "1.25", "deal": "11850"}
        assert await mp.status("BTCBCH", 3600) == {"period": 3600, "last": "0", "open": "0", "close": "0",
                                                   "high": "0", "low": "0", "volume": "0", "deal": "0"}
        today = local_day(time.time())
        if all(local_day(t) == today for t in times):  # (not across local midnight)
            assert await mp.today("BTCUSDT") == {"open": "0", "last": "9400", "high": "9500", "low": "0",
                                                 "volume": "1.25", "deal": "11850"}
            assert await mp.kline("BTCUSDT", today, int(time.time()) + 100, 86400) == [
                [today, "0", "9400", "9500", "0", "1.25", "11850", "BTCUSDT"]]
            week = await mp.kline("BTCUSDT", today, int(time.time()), 604800)
            assert len(week) == 1 and week[0][1:] == ["0", "9400", "9500", "0", "1.25", "11850", "BTCUSDT"]
            month = await mp.kline("BTCUSDT", today, int(time.time()), 2592000)
            assert len(month) == 1 and month[0][1:] == week[0][1:]
        assert await mp.today("BTCBCH") == {"open": "0", "last": "0", "high": "0", "low": "0", "volume": "0",
                                            "deal": "0"}

        first, last = int(times[0]), int(times[2])
        for unit, interval in ((1, 1), (60, 60), (3600, 3600)):
            buckets = reference_buckets(trades, unit)
            start, end = first // unit * unit, last // unit * unit + unit
            expected = reference_rows(buckets, start, min(end, int(time.time())), interval, "BTCUSDT")
            assert await mp.kline("BTCUSDT", first - 5, end, interval) == expected
        assert await mp.kline("BTCBCH", first - 100, last, 60) == []

        # error 1 in the original's code and message, the reason naming the parameter in `data`
        for command, params, reason in (
                (301, ["BTCUSDT", 0], "period: must be 1 to 604800 seconds"),  # the default sec_max
                (302, ["BTCUSDT", first, last, 7], "interval: 7 s is not a k-line interval (divides a minute, hour or "
                                                   "day; whole days; a week; a month)"),
                (303, ["NOPE", 1, 0], "market: unknown market 'NOPE'"), (304, [], "params: expected 1, got 0"),
                (305, ["BTCUSDT", 1], "params: expected 1, got 2")):
            raw = await mp.client.call(command, orjson.dumps(params), timeout=5)
            assert orjson.loads(raw)["error"] == {"code": 1, "message": "invalid argument", "data": reason}


async def wait_volume(mp: MarketpriceClient, market: str, volume: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = await mp.status(market)
        if status["volume"] == volume:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"{market} volume {status.get('volume')}, expected {volume}")


async def buy_run(engine: RpcClient, first: int, count: int, pause: float = 0.0) -> list[Decimal]:
    """`count` taker buys against one big resting sell (one deal each); their amounts."""
    amounts = []
    for i in range(first, first + count):
        amount = D("0.001") * (i % 97 + 1)
        await order(engine, BUYER, "BTCBCH", BID, str(amount), "100")
        amounts.append(amount)
        if pause:
            await asyncio.sleep(pause)
    return amounts


async def buy_until(engine: RpcClient, first: int, stop: asyncio.Event, pause: float) -> list[Decimal]:
    """Taker buys as `buy_run`, one every `pause` seconds, until `stop` is set."""
    amounts: list[Decimal] = []
    while not stop.is_set():
        amounts += await buy_run(engine, first + len(amounts), 1)
        await asyncio.sleep(pause)
    return amounts


async def flushed_deal_id(prefix: str, above: int, timeout: float = 20.0) -> int:
    """Wait until Redis holds a last applied deal id above `above`; that id."""
    client = redis.Redis(host="127.0.0.1", port=6379)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = int(client.get(prefix + "k:last_deal_id") or 0)
            if value > above:
                return value
            await asyncio.sleep(0.02)
    finally:
        client.close()
    raise TimeoutError(f"no flush beyond deal {above}")


async def check_exactly_once(mp: MarketpriceClient, deal_count: int, amounts: list[Decimal]) -> None:
    volume = sum(amounts, D(0))
    status = await wait_volume(mp, "BTCBCH", fmt(volume))
    assert status["deal"] == fmt(volume * 100)
    deals = await mp.deals("BTCBCH")
    assert [d["id"] for d in deals] == list(range(deal_count, 0, -1))
    assert [D(d["amount"]) for d in reversed(deals)] == amounts
    day_rows = await mp.kline("BTCBCH", int(time.time()) - 86400 * 2, int(time.time()), 86400)
    assert sum(D(row[5]) for row in day_rows) == volume


async def test_kill9_mid_stream_loses_and_doubles_nothing(exchange: Exchange, engine: RpcClient) -> None:
    await fund(engine, "BTCBCH")
    await order(engine, SELLER, "BTCBCH", ASK, "100000", "100")
    amounts = await buy_run(engine, 1, 100)
    stop = asyncio.Event()
    trading = asyncio.create_task(buy_until(engine, 101, stop, pause=0.006))
    # killed while deals keep coming, after a flush that holds part of them
    flushed = await flushed_deal_id(exchange.prefix, 110)
    exchange.marketprice.kill9()
    await asyncio.sleep(0.3)
    stop.set()
    amounts += await trading
    total = len(amounts)
    assert flushed < total
    exchange.marketprice.start()
    async with MarketpriceClient(exchange.mp_port) as mp:
        await mp.wait_deal("BTCBCH", total)
        await check_exactly_once(mp, total, amounts)
    # the restart resumed from its last flush, in the middle of the run
    log = Path(exchange.marketprice.config["log"]["path"] + ".log").read_text()
    resumed = [int(n) for n in re.findall(r"markets loaded; last applied deal (\d+)", log)]
    assert resumed[0] == 0 and flushed <= resumed[1] < total

    # and once more, killed as soon as it has caught up (before or after its next flush)
    exchange.marketprice.kill9()
    amounts += await buy_run(engine, total + 1, 20)
    exchange.marketprice.start()
    async with MarketpriceClient(exchange.mp_port) as mp:
        await mp.wait_deal("BTCBCH", total + 20)
        await check_exactly_once(mp, total + 20, amounts)


async def test_broker_restarted_empty(exchange: Exchange, engine: RpcClient) -> None:
    await fund(engine, "BTCBCH")
    await order(engine, SELLER, "BTCBCH", ASK, "100000", "100")
    amounts = await buy_run(engine, 1, 30)
    async with MarketpriceClient(exchange.mp_port) as mp:
        await mp.wait_deal("BTCBCH", 30)
        exchange.broker.stop()
        exchange.broker = Broker(port=exchange.broker.port).start()  # the same address, no topics, no messages
        amounts += await buy_run(engine, 31, 30)
        await mp.wait_deal("BTCBCH", 60, timeout=60)
        await check_exactly_once(mp, 60, amounts)
    assert exchange.marketprice.alive()
