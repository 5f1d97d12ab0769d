"""A Kafka send that is never answered (its producer was stopped by another topic's failure) is given up
after SEND_TIMEOUT and sent again on a new producer, instead of holding the round for ever."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from matchengine import message_publisher
from matchengine.message_publisher import MessagePublisher


class Batch:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def append(self, *, key: Any, value: bytes, timestamp: Any, headers: Any) -> object:
        self.payloads.append(value)
        return object()


class Producer:
    def __init__(self, answers: bool) -> None:
        self.answers = answers
        self.sent: list[bytes] = []
        self.stopped = False

    def create_batch(self) -> Batch:
        return Batch()

    async def send_batch(self, batch: Batch, topic: str, partition: int) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.answers:
            self.sent.extend(batch.payloads)
            future.set_result(None)
        return future  # never answered otherwise

    async def stop(self) -> None:
        self.stopped = True


async def test_an_unanswered_send_is_sent_again_on_a_new_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(message_publisher, "SEND_TIMEOUT", 0.2)
    dead, alive = Producer(answers=False), Producer(answers=True)
    producers = [dead, alive]
    publisher = MessagePublisher("127.0.0.1:1", log_db=None, on_progress=lambda: None)  # type: ignore[arg-type]

    async def connect() -> Any:
        if publisher._producer is None:
            publisher._producer = producers.pop(0)
        return publisher._producer

    monkeypatch.setattr(publisher, "_connect_producer", connect)
    messages = [(7, b"a"), (7, b"b"), (8, b"c")]
    await asyncio.wait_for(publisher._publish_topic("orders", messages), 5)
    assert dead.stopped and not alive.stopped
    assert alive.sent == [b"a", b"b", b"c"]
    assert publisher.published["orders"] == (8, 0)


async def test_a_failure_on_a_replaced_producer_leaves_the_new_one(monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = Producer(answers=True), Producer(answers=True)
    publisher = MessagePublisher("127.0.0.1:1", log_db=None, on_progress=lambda: None)  # type: ignore[arg-type]
    publisher._producer = new  # another topic's failure replaced `old` already
    await publisher._reset_producer(old)
    assert publisher._producer is new and not new.stopped and not old.stopped
    await publisher._reset_producer(new)
    assert publisher._producer is None and new.stopped
