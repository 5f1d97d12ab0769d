"""A produce request that reached the broker but whose answer was lost: aiokafka alone appends the batch
twice; with common.kafka_producer.send_each_batch_once the send fails instead, and the topic holds it once
(the publisher then reads what the broker holds and sends only the rest)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from common.kafka_producer import send_each_batch_once
from tests.proxy import TcpProxy
from tests.support import Broker, unique_name


@pytest.fixture
def broker_behind_proxy() -> Iterator[tuple[Broker, TcpProxy]]:
    proxy = TcpProxy(0)
    broker = Broker(advertise_port=proxy.port).start()
    proxy.target = ("127.0.0.1", broker.port)
    proxy.start()
    try:
        yield broker, proxy
    finally:
        proxy.stop()
        broker.stop()


async def topic_values(address: str, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(bootstrap_servers=address, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        values: list[bytes] = []
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            values.extend(record.value for record in batch.get(tp, []))
        return values
    finally:
        await consumer.stop()


async def send_through_a_lost_answer(proxy: TcpProxy, address: str, topic: str, once: bool) -> Any:
    """Send b"first" normally, then b"lost" while the proxy drops answers, cut the connection before the
    request times out and restore it: the result of the second send (or the exception it raised)."""
    producer = AIOKafkaProducer(bootstrap_servers=address, linger_ms=1, acks=1, enable_idempotence=False,
                                request_timeout_ms=8000)
    if once:
        send_each_batch_once(producer)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"first", partition=0)
        proxy.mute()
        sent = await producer.send(topic, b"lost", partition=0)
        await asyncio.sleep(1.0)  # the broker appends it; its answer is dropped
        proxy.cut()
        await asyncio.sleep(0.5)
        proxy.restore()
        try:
            return await asyncio.wait_for(sent, 20)
        except Exception as exc:  # the answer of a send that may have been appended
            return exc
    finally:
        await producer.stop()


@pytest.mark.parametrize("once", [False, True], ids=["aiokafka_alone", "send_each_batch_once"])
async def test_a_batch_whose_answer_was_lost_is_not_sent_again(broker_behind_proxy: tuple[Broker, TcpProxy],
                                                               once: bool) -> None:
    broker, proxy = broker_behind_proxy
    topic = unique_name("t_lost_answer")
    outcome = await send_through_a_lost_answer(proxy, broker.address, topic, once)
    values = await topic_values(broker.address, topic)
    if once:
        assert isinstance(outcome, Exception), outcome
        assert values == [b"first", b"lost"]
    else:  # what the publisher must not rely on: aiokafka's own resend doubles the batch
        assert not isinstance(outcome, Exception), outcome
        assert values == [b"first", b"lost", b"lost"]
