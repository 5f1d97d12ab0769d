"""Markets added live, as marketprice learns them: shared re-reads of the market list, queries that wait for one,
and the first price of a market learned before it traded."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import orjson
import pytest

from common.errors import RpcError
from marketprice.consumer import DealsConsumer
from marketprice.market_list import MarketListError
from marketprice.refresh import MarketRefresher
from marketprice.server import CMD_MARKET_LAST, CMD_MARKET_STATUS, MarketpriceService
from marketprice.state import Markets, Retention

D = Decimal
T = 1700000000.25


class Exchange:
    """The engine's market list as a test sets it, and what the refresher did with it."""

    def __init__(self, names: list[str], markets: Markets) -> None:
        self.names = names
        self.markets = markets
        self.reads: list[float] = []
        self.fail: Exception | None = None
        self.gate: asyncio.Event | None = None

    async def read(self) -> list[str]:
        self.reads.append(asyncio.get_running_loop().time())
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return list(self.names)

    async def add_listed(self, names: list[str]) -> None:
        for name in names:
            if name not in self.markets:
                self.markets.add(name)
                self.markets.unpriced.add(name)


def setup(names: list[str], interval: float = 0.05) -> tuple[Exchange, MarketRefresher, Markets]:
    markets = Markets()
    markets.add("BTCUSDT", D("9500"))
    exchange = Exchange(names, markets)
    return exchange, MarketRefresher(exchange.read, exchange.add_listed, interval), markets


async def test_reads_are_shared_and_spaced() -> None:
    exchange, refresher, markets = setup(["BTCUSDT", "NEWUSDT"])
    await asyncio.gather(*(refresher.refreshed() for _ in range(20)))
    assert len(exchange.reads) == 1 and "NEWUSDT" in markets
    # a caller arriving while a read is out waits for the next one, which starts after it and after the interval
    exchange.gate = asyncio.Event()
    first = asyncio.ensure_future(refresher.refreshed())
    while len(exchange.reads) < 2:
        await asyncio.sleep(0.001)
    second = [asyncio.ensure_future(refresher.refreshed()) for _ in range(5)]
    await asyncio.sleep(0.01)
    assert len(exchange.reads) == 2 and not second[0].done()
    exchange.names.append("LATEUSDT")
    exchange.gate.set()
    await first
    await asyncio.gather(*second)
    assert len(exchange.reads) == 3 and "LATEUSDT" in markets
    assert exchange.reads[1] - exchange.reads[0] >= 0.05 - 1e-3
    assert exchange.reads[2] - exchange.reads[1] >= 0.05 - 1e-3
    assert refresher.reads == 3


async def test_a_failed_read_reaches_its_waiters_and_the_next_caller_reads_again() -> None:
    exchange, refresher, markets = setup(["BTCUSDT", "NEWUSDT"], interval=0.0)
    exchange.fail = MarketListError("matchengine is not connected")
    results = await asyncio.gather(refresher.refreshed(), refresher.refreshed(), return_exceptions=True)
    assert all(isinstance(r, MarketListError) for r in results) and len(exchange.reads) == 1
    exchange.fail = None
    await refresher.refreshed()
    assert "NEWUSDT" in markets and len(exchange.reads) == 2


async def test_a_cancelled_waiter_does_not_cancel_the_read() -> None:
    exchange, refresher, markets = setup(["BTCUSDT", "NEWUSDT"], interval=0.0)
    exchange.gate = asyncio.Event()
    waiter = asyncio.ensure_future(refresher.refreshed())
    other = asyncio.ensure_future(refresher.refreshed())
    await asyncio.sleep(0.01)
    waiter.cancel()
    exchange.gate.set()
    await other
    assert "NEWUSDT" in markets
    await refresher.stop()


def service(refresher: MarketRefresher, markets: Markets) -> MarketpriceService:
    return MarketpriceService(markets, Retention(sec_max=1000), 0.0, clock=lambda: T, refresher=refresher)


async def answer(svc: MarketpriceService, command: int, params: list[Any]) -> Any:
    result = svc.handlers()[command](params)
    return await result if asyncio.iscoroutine(result) else result


async def test_a_query_for_a_market_added_since_the_start_is_answered() -> None:
    exchange, refresher, markets = setup(["BTCUSDT", "NEWUSDT"])
    svc = service(refresher, markets)
    assert svc.handlers()[CMD_MARKET_LAST](["BTCUSDT"]) == "9500"  # a known market: answered at once
    assert exchange.reads == []
    assert await answer(svc, CMD_MARKET_LAST, ["NEWUSDT"]) == "0"
    assert (await answer(svc, CMD_MARKET_STATUS, ["NEWUSDT", 600]))["last"] == "0"
    assert len(exchange.reads) == 1  # known from then on
    with pytest.raises(RpcError) as exc:
        await answer(svc, CMD_MARKET_LAST, ["NOSUCH"])
    assert (exc.value.code, exc.value.message, exc.value.data) == (1, "invalid argument",
                                                                   "market: unknown market 'NOSUCH'")
    assert len(exchange.reads) == 2
    # names no market can have, and bad counts, are refused without a read
    for params in ([""], ["X" * 31], ["A\x00B"], [7], [None], [], ["NOSUCH", 1]):
        with pytest.raises(RpcError) as exc:
            await answer(svc, CMD_MARKET_LAST, params)
        assert exc.value.code == 1, params
    assert len(exchange.reads) == 2


async def test_a_query_whose_list_cannot_be_read_is_an_internal_error() -> None:
    exchange, refresher, markets = setup(["BTCUSDT"], interval=0.0)
    exchange.fail = MarketListError("POST http://127.0.0.1:1/: connection refused")
    svc = service(refresher, markets)
    with pytest.raises(RpcError) as exc:
        await answer(svc, CMD_MARKET_LAST, ["NEWUSDT"])
    assert (exc.value.code, exc.value.message) == (2, "internal error")
    assert "connection refused" in str(exc.value.data)


class NoRewinds:
    async def rewind(self) -> None:
        raise AssertionError("no rewind expected")


def deal(deal_id: int, market: str, price: str) -> bytes:
    return orjson.dumps([T + deal_id, market, 11, 12, 1, 2, price, "1", "0", "0", 2, deal_id, "NEW", "USDT"])


async def candles_of_a_new_market(learned_from_the_list: bool) -> list[Any]:
    markets = Markets()

    async def add_market(name: str, first_price: Decimal) -> None:
        markets.add(name, first_price)

    if learned_from_the_list:
        markets.add("NEWUSDT")
        markets.unpriced.add("NEWUSDT")
    consumer = DealsConsumer(NoRewinds(), markets, add_market)  # type: ignore[arg-type]
    await consumer.process([(0, deal(1, "NEWUSDT", "2.5")), (1, deal(2, "NEWUSDT", "3"))])
    market = markets.get("NEWUSDT")
    assert market is not None and "NEWUSDT" not in markets.unpriced
    return [(c.open, c.close, c.high, c.low, c.volume) for c in (*market.sec.values(), *market.day.values())]


async def test_a_market_learned_before_it_traded_opens_at_its_first_price_like_one_first_seen_in_a_deal() -> None:
    from_list, from_deal = await candles_of_a_new_market(True), await candles_of_a_new_market(False)
    assert from_list == from_deal
    assert from_list[-1] == (D("2.5"), D("3"), D("3"), D("2.5"), D("2"))
