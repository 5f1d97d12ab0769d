"""marketprice's Redis persistence against the real Redis: exact keys and values, reload, failures, retention."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from marketprice import localtime
from marketprice.flush_plan import build_plan, new_plan
from marketprice.market import DEALS_MAX, Market
from marketprice.persist import Persister
from marketprice.redis_tx import encode_command, run_transaction
from marketprice.state import Markets, Progress, Retention
from marketprice.store import KlineStore
from tests.support import free_port, redis_bytes, unique_name

D = Decimal
NOW = int(time.time())
T = NOW - NOW % 3600 - 7200 + 20  # 20 s into a minute, two hours ago


@pytest.fixture(autouse=True)
def utc8() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "CST-8"
    time.tzset()
    localtime.reset_cache()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()
    localtime.reset_cache()


@pytest.fixture
async def redis() -> AsyncIterator[tuple[aioredis.Redis, str]]:
    client = aioredis.Redis(host="127.0.0.1", port=6379)
    prefix = unique_name("t_mp") + ":"
    yield client, prefix
    keys = [key async for key in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def traded_markets() -> Markets:
    markets = Markets()
    market = markets.add("BTCUSDT")
    market.apply(T + 0.25, D("9500.00000000"), D("1.50000000"), 2, 1)
    market.apply(T + 1.5, D("9510.00000000"), D("0.50000000"), 1, 2)
    market.settle()
    markets.add("EMPTY")
    markets.progress = Progress(offset=6, deal_id=2)
    return markets


def day_of(ts: int) -> int:
    return localtime.day_start(ts)


async def test_flush_writes_the_original_keys_and_formats(redis: tuple[aioredis.Redis, str]) -> None:
    client, prefix = redis
    store = KlineStore(client, Retention(), prefix)
    markets = traded_markets()
    assert await store.flush(markets, asyncio.Lock()) == 1
    key = f"{prefix}k:BTCUSDT:"
    assert await client.hgetall(key + "1s") == {
        b"%d" % T: b'["0", "9500", "9500", "0", "1.5", "14250"]',
        b"%d" % (T + 1): b'["9500", "9510", "9510", "9500", "0.5", "4755"]'}
    assert await client.hgetall(key + "1m") == {b"%d" % (T - 20): b'["0", "9510", "9510", "0", "2", "19005"]'}
    assert await client.hgetall(key + "1h") == {b"%d" % (T - 20): b'["0", "9510", "9510", "0", "2", "19005"]'}
    assert await client.hgetall(key + "1d") == {b"%d" % day_of(T): b'["0", "9510", "9510", "0", "2", "19005"]'}
    assert await client.lrange(key + "deals", 0, -1) == [
        b'{"id": 2, "time": %s, "price": "9510", "amount": "0.5", "type": "sell"}' % repr(T + 1.5).encode(),
        b'{"id": 1, "time": %s, "price": "9500", "amount": "1.5", "type": "buy"}' % repr(T + 0.25).encode()]
    assert await client.get(key + "last") == b"9510.00000000"
    assert await client.get(prefix + "k:offset") == b"6"
    assert await client.get(prefix + "k:last_deal_id") == b"2"
    assert await client.exists(f"{prefix}k:EMPTY:last") == 0  # nothing happened there
    # nothing changed: nothing written
    assert await store.flush(markets, asyncio.Lock()) == 0


async def test_a_restart_loads_what_was_flushed(redis: tuple[aioredis.Redis, str]) -> None:
    client, prefix = redis
    markets = traded_markets()
    await KlineStore(client, Retention(), prefix).flush(markets, asyncio.Lock())

    store = KlineStore(client, Retention(), prefix)
    loaded = Market("BTCUSDT")
    await store.load_market(loaded, NOW)
    original = markets.by_name["BTCUSDT"]
    for mine, theirs in zip(loaded.families, original.families, strict=True):
        assert {k: (c.open, c.close, c.high, c.low, c.volume, c.deal) for k, c in mine.items()} == \
               {k: (c.open, c.close, c.high, c.low, c.volume, c.deal) for k, c in theirs.items()}
    assert list(loaded.deals) == list(original.deals)
    assert str(loaded.last) == "9510.00000000"
    assert loaded.flushed_deal_id == 2 and not any(loaded.dirty)
    assert await store.load_progress() == Progress(6, 2)

    fresh = Market("EMPTY")
    await store.load_market(fresh, NOW)
    assert str(fresh.last) == "0" and not fresh.sec and not fresh.deals


async def test_only_new_deals_are_pushed_and_the_list_is_trimmed(redis: tuple[aioredis.Redis, str]) -> None:
    client, prefix = redis
    store = KlineStore(client, Retention(), prefix)
    markets = traded_markets()
    await store.flush(markets, asyncio.Lock())
    market = markets.by_name["BTCUSDT"]
    for deal_id in range(3, DEALS_MAX + 6):
        market.apply(T + 2 + deal_id / 1e4, D("9520"), D("0.1"), 2, deal_id)
    market.settle()
    markets.progress = Progress(DEALS_MAX + 9, DEALS_MAX + 5)
    await store.flush(markets, asyncio.Lock())
    key = f"{prefix}k:BTCUSDT:deals"
    assert await client.llen(key) == DEALS_MAX
    ids = [int(redis_bytes(item).split(b",")[0].split(b": ")[1]) for item in await client.lrange(key, 0, -1)]
    assert ids == list(range(DEALS_MAX + 5, 5, -1))
    assert await client.get(prefix + "k:offset") == b"%d" % (DEALS_MAX + 9)


async def test_a_failed_flush_is_written_by_the_next_one(redis: tuple[aioredis.Redis, str]) -> None:
    client, prefix = redis
    markets = traded_markets()
    down = aioredis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5,
                          retry=Retry(NoBackoff(), 0))
    with pytest.raises(RedisConnectionError):
        await KlineStore(down, Retention(), prefix).flush(markets, asyncio.Lock())
    await down.aclose()
    market = markets.by_name["BTCUSDT"]
    assert [len(d) for d in market.dirty] == [2, 1, 1, 1] and market.changed and market.flushed_deal_id == 0
    assert await client.exists(prefix + "k:offset") == 0
    assert await KlineStore(client, Retention(), prefix).flush(markets, asyncio.Lock()) == 1
    assert len(await client.hgetall(f"{prefix}k:BTCUSDT:1s")) == 2
    assert await client.llen(f"{prefix}k:BTCUSDT:deals") == 2
    assert await client.get(prefix + "k:offset") == b"6"


async def test_a_transaction_is_all_or_nothing(redis: tuple[aioredis.Redis, str]) -> None:
    client, prefix = redis
    markets = traded_markets()
    # a command Redis refuses while queueing (an unknown command name) aborts the whole transaction
    plan = new_plan(markets)
    await build_plan(plan, markets, prefix)
    plan.add(encode_command(b"NOSUCHCOMMAND"))
    with pytest.raises(ResponseError, match=r"unknown command"):
        await run_transaction(client, plan.chunks)
    assert [key async for key in client.scan_iter(match=prefix + "*")] == []
    # the connection went back to the pool in a usable state
    assert await client.ping()


async def test_retention_on_load_and_in_redis(redis: tuple[aioredis.Redis, str]) -> None:
    client, prefix = redis
    key = f"{prefix}k:M:"
    old, recent = NOW - 700_000, NOW - 100
    candle = b'["1", "1", "1", "1", "1", "1"]'
    for suffix in ("1s", "1m", "1h", "1d"):
        await client.hset(key + suffix, mapping={b"%d" % old: candle, b"%d" % recent: candle})
    await client.hset(key + "1s", mapping={b"junk": candle, b"%d" % (recent + 1): b"not a candle"})
    retention = Retention(sec_max=600_000, min_max=10_000, hour_max=100)
    store = KlineStore(client, retention, prefix)
    market = Market("M")
    await store.load_market(market, NOW)
    assert list(market.sec) == [recent] and list(market.min) == [recent]
    assert list(market.hour) == [recent] and sorted(market.day) == [old, recent]
    markets = Markets()
    markets.by_name["M"] = market
    assert await store.prune(markets, NOW) == 4  # the old 1s/1m/1h fields and the unreadable field name
    assert sorted(await client.hkeys(key + "1s")) == sorted([b"%d" % recent, b"%d" % (recent + 1)])
    assert len(await client.hkeys(key + "1d")) == 2


async def test_progress_of_data_written_by_the_original(redis: tuple[aioredis.Redis, str]) -> None:
    client, prefix = redis
    store = KlineStore(client, Retention(), prefix)
    assert await store.load_progress() == Progress(-1, 0)  # fresh: read from offset 0
    await client.set(prefix + "k:offset", b"41")
    assert await store.load_progress() == Progress(41, 0)  # no deal id stored by the original


async def test_an_interrupted_flush_gives_everything_back(redis: tuple[aioredis.Redis, str]) -> None:
    client, prefix = redis
    markets = Markets()
    market = markets.add("M")
    for deal_id in range(1, 3001):  # more buckets than one chunk: building yields to the loop
        market.apply(T + deal_id + 0.5, D("1"), D("1"), 1, deal_id)
    market.settle()
    markets.progress = Progress(2999, 3000)
    store = KlineStore(client, Retention(), prefix)
    flush = asyncio.create_task(store.flush(markets, asyncio.Lock()))
    for _ in range(3):
        await asyncio.sleep(0)
    flush.cancel()  # e.g. the daemon stopping
    with pytest.raises(asyncio.CancelledError):
        await flush
    assert len(market.dirty[0]) == 3000 and market.changed and market.flushed_deal_id == 0
    assert await client.exists(prefix + "k:offset") == 0
    assert await store.flush(markets, asyncio.Lock()) == 1
    assert await client.hlen(prefix + "k:M:1s") == 3000
    assert await client.get(prefix + "k:last_deal_id") == b"3000"


async def test_a_market_first_seen_in_a_deal_keeps_its_stored_history(redis: tuple[aioredis.Redis, str]) -> None:
    client, prefix = redis
    key = f"{prefix}k:NEW:"
    day = day_of(T)
    await client.hset(key + "1d", mapping={b"%d" % day: b'["5", "6", "7", "4", "10", "55"]'})
    await client.rpush(key + "deals", b'{"id": 9, "time": 1700000000.5, "price": "6", "amount": "1", "type": "sell"}',
                       b"not json", b'{"id": "x"}')
    await client.set(key + "last", b"6.00")
    markets = Markets()
    store = KlineStore(client, Retention(), prefix)
    await Persister(store, markets, 10.0, asyncio.Lock()).add_market("NEW", D("7"))
    market = markets.by_name["NEW"]
    assert str(market.last) == "6.00"  # the stored last price, not the new deal's
    assert [r[0] for r in market.deals] == [9]  # the two unreadable entries were skipped
    market.apply(T + 0.5, D("7"), D("1"), 2, 10)
    market.settle()
    candle = market.day[day]
    assert [str(v) for v in (candle.open, candle.close, candle.high, candle.low, candle.volume, candle.deal)] == \
        ["5", "7", "7", "4", "11", "62"]
    # with nothing stored, the HEAD rule: last = the first deal's price
    await Persister(store, markets, 10.0, asyncio.Lock()).add_market("FRESH", D("7.5"))
    assert str(markets.by_name["FRESH"].last) == "7.5"
