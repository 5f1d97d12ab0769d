"""A real marketprice process fed by hand-made `deals` messages: stream rules, start-up order, Redis outages.

The market list comes from a stand-in of accesshttp (HTTP `market.list`),
the deals from a real broker, the state goes to a real Redis.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from common.decimals import fmt
from tests.e2e.marketprice_env import (
    TZ_UTC8,
    MarketListEndpoint,
    MarketpriceClient,
    RedisServer,
    create_topic,
    deal_message,
    delete_keys,
    local_day,
    marketprice_config,
    produce,
    rpc_port,
)
from tests.support import Broker, Daemon, redis_bytes, unique_name

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def broker() -> Iterator[Broker]:
    b = Broker().start()
    yield b
    b.stop()


@pytest.fixture
def prefix() -> Iterator[str]:
    name = unique_name("t_mp") + ":"
    yield name
    delete_keys(name)


@pytest.fixture(autouse=True)
def utc8(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", TZ_UTC8)  # for the daemons started by the test


def wait_log(daemon: Daemon, text: str, timeout: float = 15.0) -> None:
    log = Path(daemon.config["log"]["path"] + ".log")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        assert daemon.alive(), daemon.log_text()[-2000:]
        time.sleep(0.05)
    raise AssertionError(f"no {text!r} in the log of {daemon.name}")


def log_text(daemon: Daemon) -> str:
    return Path(daemon.config["log"]["path"] + ".log").read_text(errors="replace")


async def test_first_message_duplicates_jumps_and_junk(tmp_path: Path, broker: Broker, prefix: str) -> None:
    await create_topic(broker.address)
    at = time.time() - 30
    deals = {1: ("9500.00000000", "1.00000000"), 2: ("9510.00000000", "0.50000000"),
             3: ("9490.00000000", "0.25000000"), 6: ("9520.00000000", "2.00000000"),
             7: ("9530.00000000", "0.10000000")}
    messages = [deal_message(i, at + i / 100, "BTCUSDT", *deals[i]) for i in (1, 2)]
    messages += [deal_message(2, at + 0.02, "BTCUSDT", *deals[2]),  # published twice
                 b'{"not": "a deal"}',
                 deal_message(3, at + 0.03, "BTCUSDT", *deals[3]),
                 deal_message(6, at + 0.06, "BTCUSDT", *deals[6]),  # 4 and 5 never made it to the topic
                 deal_message(7, at + 0.07, "BTCUSDT", *deals[7])]
    await produce(broker.address, messages)
    endpoint = MarketListEndpoint(["BTCUSDT", "BTCBCH"]).start()
    config = marketprice_config(tmp_path, brokers=broker.address, key_prefix=prefix, accesshttp=endpoint.url)
    daemon = Daemon("marketprice", config, tmp_path).start()
    try:
        async with MarketpriceClient(rpc_port(config)) as mp:
            await mp.wait_deal("BTCUSDT", 7)
            assert [d["id"] for d in await mp.deals("BTCUSDT")] == [7, 6, 3, 2, 1]
            volume = sum((Decimal(a) for _, a in deals.values()), Decimal(0))
            value = sum((Decimal(p) * Decimal(a) for p, a in deals.values()), Decimal(0))
            status = await mp.status("BTCUSDT")
            assert (status["volume"], status["deal"]) == (fmt(volume), fmt(value))
            assert status["open"] == "0" and status["high"] == "9530" and status["last"] == "9530"
            assert await mp.last("BTCUSDT") == "9530.00000000"
            assert await mp.last("BTCBCH") == "0"
        for line in ("deal id jumps from 3 to 6", "deals 4 to 5 are not in the topic", "invalid message"):
            wait_log(daemon, line)
        assert endpoint.requests and endpoint.requests[0]["method"] == "market.list"

        # killed after a flush and restarted: the same numbers, nothing read twice
        time.sleep(0.6)
        daemon.kill9()
        daemon.start()
        async with MarketpriceClient(rpc_port(config)) as mp:
            assert [d["id"] for d in await mp.deals("BTCUSDT")] == [7, 6, 3, 2, 1]
            assert (await mp.status("BTCUSDT"))["volume"] == fmt(volume)
            day = local_day(at)
            assert await mp.kline("BTCUSDT", day, int(time.time()), 86400) == [
                [day, "0", "9530", "9530", "0", fmt(volume), fmt(value), "BTCUSDT"]]
    finally:
        daemon.stop()
        endpoint.stop()


async def test_waits_for_its_market_list_and_redis_and_outlives_redis(tmp_path: Path, broker: Broker,
                                                                      prefix: str) -> None:
    await create_topic(broker.address)
    endpoint = MarketListEndpoint(["BTCUSDT"])
    redis_server = RedisServer()
    config = marketprice_config(tmp_path, brokers=broker.address, key_prefix=prefix, accesshttp=endpoint.url,
                                redis_port=redis_server.port)
    daemon = Daemon("marketprice", config, tmp_path).start(wait=False)
    try:
        wait_log(daemon, "get market list fail")  # nothing answers market.list yet: it keeps asking
        endpoint.start()
        wait_log(daemon, "loading the markets from redis failed")  # then Redis is not there yet
        assert "[fatal]" in log_text(daemon)
        redis_server.start()
        daemon.wait_ready(20)

        at = time.time()
        await produce(broker.address, [deal_message(1, at, "BTCUSDT", "100.00", "1.0"),
                                       deal_message(2, at + 0.1, "BTCUSDT", "101.00", "2.0")])
        redis = redis_server.client()
        async with MarketpriceClient(rpc_port(config)) as mp:
            await mp.wait_deal("BTCUSDT", 2)
            deadline = time.monotonic() + 10
            while redis.get(prefix + "k:offset") != b"1" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert redis.get(prefix + "k:last_deal_id") == b"2"

            redis_server.stop()  # Redis goes away: deals are still applied and served
            await produce(broker.address, [deal_message(3, at + 0.2, "BTCUSDT", "102.00", "3.0")])
            await mp.wait_deal("BTCUSDT", 3)
            wait_log(daemon, "flush_market fail")
            assert (await mp.status("BTCUSDT"))["volume"] == "6"

            redis_server.start()  # back (empty): the next flush writes what is pending
            redis = redis_server.client()
            deadline = time.monotonic() + 10
            while redis.get(prefix + "k:last_deal_id") != b"3" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert redis.get(prefix + "k:offset") == b"2"
            assert redis_bytes(redis.lrange(prefix + "k:BTCUSDT:deals", 0, -1)[0]).startswith(b'{"id": 3, ')
            assert redis.get(prefix + "k:BTCUSDT:last") == b"102.00"
        assert daemon.stop() == 0
        assert "final flush done: last applied deal 3 at offset 2" in log_text(daemon)
    finally:
        daemon.stop()
        endpoint.stop()
        redis_server.stop()


def test_bad_config_names_the_field(tmp_path: Path) -> None:
    config = marketprice_config(tmp_path, brokers="127.0.0.1:1", key_prefix="x:", accesshttp="http://x/",
                                sec_max="7")
    daemon = Daemon("marketprice", config, tmp_path)
    daemon.start(wait=False)
    assert daemon.proc is not None and daemon.proc.wait(30) == 1
    assert "config error: field 'sec_max': must be an integer" in daemon.log_text()
    del config["sec_max"], config["accesshttp"]
    daemon.start(wait=False)
    assert daemon.proc.wait(30) == 1
    assert "config error: field 'accesshttp': required field is missing" in daemon.log_text()
