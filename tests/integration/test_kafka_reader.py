"""PartitionReader against the real (Tansu) broker: offsets, end start, broker restarted empty."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer

from common.kafka import PartitionReader
from tests.support import Broker


async def produce(address: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=address, enable_idempotence=False)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, partition=0)
    finally:
        await producer.stop()


async def read_all(reader: PartitionReader, count: int, timeout: float = 15.0) -> list[tuple[int, bytes]]:
    got: list[tuple[int, bytes]] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(got) < count and asyncio.get_running_loop().time() < deadline:
        got.extend(await reader.get_batch(timeout=0.2))
    return got


@pytest.fixture
def broker():
    b = Broker().start()
    yield b
    b.stop()


async def test_reads_from_offset_and_from_end(broker: Broker) -> None:
    await produce(broker.address, "t", [b"m%d" % i for i in range(10)])
    reader = PartitionReader(broker.address, "t", name="test")
    await reader.start(4)
    got = await read_all(reader, 6)
    assert got == [(i, b"m%d" % i) for i in range(4, 10)]
    await reader.stop()

    tail = PartitionReader(broker.address, "t", name="tail")
    await tail.start(None)
    await produce(broker.address, "t", [b"new"])
    got = await read_all(tail, 1)
    assert got[-1] == (10, b"new")
    await tail.stop()


@pytest.mark.parametrize("refill", [1, 6])
async def test_broker_restarted_empty_resets_to_earliest(refill: int) -> None:
    broker = Broker().start()
    try:
        await produce(broker.address, "t", [b"a", b"b", b"c"])
        reader = PartitionReader(broker.address, "t", name="test", verify_interval=0.5)
        await reader.start(0)
        assert [v for _, v in await read_all(reader, 3)] == [b"a", b"b", b"c"]
        port = broker.port
        broker.stop()
        broker = Broker(port=port)
        broker.start()
        await asyncio.sleep(1.0)
        # the new topic may hold fewer or more messages than the old offset
        new = [b"n%d" % i for i in range(refill)]
        await produce(broker.address, "t", new)
        got = await read_all(reader, refill, timeout=30)
        assert got == list(enumerate(new))
        assert reader.resets == 1
        await reader.stop()
    finally:
        broker.stop()


async def test_start_checks_the_previous_message(broker: Broker) -> None:
    await produce(broker.address, "t", [b"1", b"2", b"3"])
    reader = PartitionReader(broker.address, "t", name="test")
    await reader.start(2, previous=lambda value: value == b"2")
    assert await read_all(reader, 1) == [(2, b"3")]
    assert reader.resets == 0
    await reader.rewind()
    assert await read_all(reader, 3) == [(0, b"1"), (1, b"2"), (2, b"3")]
    other = PartitionReader(broker.address, "t", name="test")
    await other.start(2, previous=lambda value: value == b"something else")
    assert await read_all(other, 3) == [(0, b"1"), (1, b"2"), (2, b"3")]
    assert other.resets == 1
    await other.stop()
    await reader.stop()
