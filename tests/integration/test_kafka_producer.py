"""A produce request that reached the broker but whose answer was lost: aiokafka alone appends the batch
twice; with common.kafka_producer.send_each_batch_once the send fails instead, and the topic holds it once
(the publisher then reads what the broker holds and sends only the rest)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from common.kafka_producer import send_each_batch_once
from tests.proxy import TcpProxy, proxied_broker
from tests.support import topic_records, unique_name


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
async def test_a_batch_whose_answer_was_lost_is_not_sent_again(once: bool) -> None:
    with proxied_broker() as (broker, proxy):
        topic = unique_name("t_lost_answer")
        outcome = await send_through_a_lost_answer(proxy, broker.address, topic, once)
        values = [record.value for record in await topic_records(broker.address, topic)]
    if once:
        assert isinstance(outcome, Exception), outcome
        assert values == [b"first", b"lost"]
    else:  # what the publisher must not rely on: aiokafka's own resend doubles the batch
        assert not isinstance(outcome, Exception), outcome
        assert values == [b"first", b"lost", b"lost"]
