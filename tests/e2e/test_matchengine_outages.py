"""MySQL or the broker away for 10 s under load: no crash, nothing lost, nothing doubled, work resumes.

The outage is a TCP proxy between the engine and the service that stops
forwarding (existing connections reset, new ones refused), so the service
itself keeps its data as a real outage of the network or of the process would.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from common.errors import RpcError
from common.rpc import RpcTimeout, RpcUnavailable
from tests.conftest import start_engine
from tests.e2e.engine_driver import call_until_up, connect
from tests.e2e.test_matchengine_durability import (
    history_rows,
    publisher_kafka_lines,
    read_topic,
    wait_published,
)
from tests.proxy import TcpProxy, proxied_broker
from tests.support import MYSQL, Broker, Daemon, engine_config, topic_records

OUTAGE = 10.0


class Load:
    """Deposits and crossing orders from several clients; remembers what was acknowledged."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.rnd = random.Random(5)
        self.sent: dict[int, tuple[int, str, str]] = {}
        self.acked: set[int] = set()
        self.ack_times: list[float] = []
        self.refused = 0
        self.refused_times: list[float] = []
        self.next_id = 0
        self.stop = asyncio.Event()

    async def depositor(self) -> None:
        while not self.stop.is_set():
            self.next_id += 1
            bid = self.next_id
            user, asset, amount = self.rnd.randint(1, 20), self.rnd.choice(["BTC", "BCH"]), str(self.rnd.randint(1, 99))
            self.sent[bid] = (user, asset, amount)
            try:
                await self.client.call_json(102, [user, asset, "deposit", bid, amount, {}], timeout=40)
                self.acked.add(bid)
                self.ack_times.append(time.monotonic())
            except RpcError as exc:
                assert exc.code == 3, exc
                self.refused += 1
                self.refused_times.append(time.monotonic())
                await asyncio.sleep(0.05)
            except (RpcUnavailable, RpcTimeout):
                await asyncio.sleep(0.05)

    async def trader(self) -> None:
        while not self.stop.is_set():
            user, side = self.rnd.randint(1, 20), self.rnd.choice((1, 2))
            try:
                await self.client.call_json(201, [user, "BTCBCH", side, "0.1", str(self.rnd.randint(99, 101)), "0",
                                                  "0", ""], timeout=40)
            except (RpcError, RpcUnavailable, RpcTimeout):
                await asyncio.sleep(0.05)

    async def run(self, seconds: float, during: Callable[[], Any]) -> None:
        tasks = [asyncio.create_task(self.depositor()) for _ in range(6)] + \
            [asyncio.create_task(self.trader()) for _ in range(4)]
        await during()
        await asyncio.sleep(seconds)
        self.stop.set()
        await asyncio.gather(*tasks)

    async def verify(self, engine: Daemon, broker_address: str) -> None:
        client = self.client

        async def resend(bid: int) -> None:
            user, asset, amount = self.sent[bid]
            try:
                await call_until_up(client, 102, [user, asset, "deposit", bid, amount, {}])
                assert bid not in self.acked, f"acknowledged deposit {bid} lost"
            except RpcError as exc:
                assert exc.code == 10, exc

        ids = sorted(self.sent)
        for start in range(0, len(ids), 200):
            await asyncio.gather(*(resend(bid) for bid in ids[start:start + 200]))
        wait_published(engine, timeout=120)
        history_db = engine.config["db_history"]["name"]
        recorded = Counter(json.loads(r[7])["id"] for r in history_rows(history_db, "balance_history",
                                                                         "WHERE business = 'deposit'"))
        assert set(recorded) == set(self.sent) and set(recorded.values()) == {1}
        deals = [m[11] for m in await read_topic(broker_address, "deals")]
        assert deals == list(range(1, len(deals) + 1)), publisher_kafka_lines(engine)
        balances = await read_topic(broker_address, "balances")
        if len(balances) != len(self.sent):
            doubled = await doubled_tags(broker_address, "balances")
            pytest.fail(f"{len(balances)} balances messages for {len(self.sent)} deposits; doubled (offset, tag): "
                        f"{doubled[:20]} ... {doubled[-20:]}\n{publisher_kafka_lines(engine)}")


async def doubled_tags(address: str, topic: str) -> list[tuple[int, str]]:
    """(offset, `op` tag) of every message of `topic` whose tag occurs more than once."""
    tagged = [(m.offset, dict(m.headers)["op"].decode()) for m in await topic_records(address, topic)]
    counts = Counter(tag for _, tag in tagged)
    return [(offset, tag) for offset, tag in tagged if counts[tag] > 1]


@pytest.fixture
def mysql_proxy() -> Iterator[TcpProxy]:
    proxy = TcpProxy(MYSQL["port"]).start()
    yield proxy
    proxy.stop()


async def test_mysql_away_for_10s_under_load(tmp_path: Path, broker: Broker, mysql_proxy: TcpProxy,
                                             mysql_names: Callable[[str], str]) -> None:
    config = engine_config(tmp_path, log_db=mysql_names("log"), history_db=mysql_names("history"),
                           brokers=broker.address)
    for key in ("db_log", "db_history"):
        config[key]["port"] = mysql_proxy.port
    engine = Daemon("matchengine", config, tmp_path)
    start_engine(engine)
    try:
        client = await connect(engine)
        load = Load(client)

        restored_at = [0.0]

        async def outage() -> None:
            await asyncio.sleep(2.0)
            mysql_proxy.cut()
            cut_at = time.monotonic()
            await asyncio.sleep(OUTAGE)
            # durable answers wait for the log: once the commit in flight at the cut has been
            # answered, nothing is acknowledged while MySQL is away
            assert not [t for t in load.ack_times if t > cut_at + 1.0]
            mysql_proxy.restore()
            restored_at[0] = time.monotonic()
            assert time.monotonic() - cut_at >= OUTAGE

        await load.run(4.0, outage)
        assert engine.alive()
        assert len(load.acked) > 100
        # the publisher retried its reads in place (no restart, no rebuild), and no write was refused once
        # MySQL was back
        assert "publisher exited" not in Path(config["log"]["path"] + ".log").read_text()
        assert not [t for t in load.refused_times if t > restored_at[0]]
        await load.verify(engine, broker.address)
        await client.close()
    finally:
        engine.stop()


async def under_load_with_broker_trouble(tmp_path: Path, mysql_names: Callable[[str], str], seconds: float,
                                        trouble: Callable[[TcpProxy, Load], Awaitable[None]]) -> None:
    """The engine under load, its broker behind a proxy that `trouble` works on; then nothing lost, nothing
    doubled (Load.verify)."""
    with proxied_broker() as (broker, proxy):
        config = engine_config(tmp_path, log_db=mysql_names("log"), history_db=mysql_names("history"),
                               brokers=broker.address)
        engine = Daemon("matchengine", config, tmp_path)
        start_engine(engine)
        try:
            client = await connect(engine)
            load = Load(client)
            await load.run(seconds, lambda: trouble(proxy, load))
            assert engine.alive() and load.refused == 0
            await load.verify(engine, broker.address)
            await client.close()
        finally:
            engine.stop()


async def test_broker_away_for_10s_under_load(tmp_path: Path, mysql_names: Callable[[str], str]) -> None:
    async def outage(proxy: TcpProxy, load: Load) -> None:
        await asyncio.sleep(2.0)
        proxy.cut()
        before = len(load.acked)
        await asyncio.sleep(OUTAGE)
        # the engine keeps accepting work while Kafka is away; events wait for it
        assert len(load.acked) - before > 50
        proxy.restore()

    await under_load_with_broker_trouble(tmp_path, mysql_names, 4.0, outage)


async def test_broker_answers_lost_under_load(tmp_path: Path, mysql_names: Callable[[str], str]) -> None:
    """The broker appends what it is sent but its answers are lost for 3 s, then the connections drop: the
    batches in flight are in the topics once, not again by the Kafka client's own resend
    (common/kafka_producer.py); the publisher reads what the broker holds and sends the rest."""
    async def answers_lost(proxy: TcpProxy, load: Load) -> None:
        await asyncio.sleep(2.0)
        proxy.mute()
        await asyncio.sleep(3.0)
        proxy.cut()
        await asyncio.sleep(0.5)
        proxy.restore()

    await under_load_with_broker_trouble(tmp_path, mysql_names, 3.0, answers_lost)
