"""The message publisher through broker faults.  A publishing round that ends otherwise than by its own
retries (a cancel escaping from aiokafka, an unexpected error) puts its messages back and sends them again;
the message position only passes messages the broker acknowledged.  A send that is never answered (its
producer was stopped by another topic's failure) is given up after SEND_TIMEOUT and sent again on a new
producer, instead of holding the round for ever."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

import pytest

from matchengine import message_publisher
from matchengine.message import TOPIC_DEALS, TOPIC_ORDERS
from matchengine.message_publisher import MessagePublisher


class Batch:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def append(self, *, key: Any, value: bytes, timestamp: Any, headers: Any) -> object:
        self.payloads.append(value)
        return object()


class Broker:
    """A producer whose first send to a topic in `escaping` ends by a CancelledError from inside, to one in
    `failing` by an error nobody expects; one that does not answer holds every send."""

    def __init__(self, escaping: Collection[str] = (), failing: Collection[str] = (), answers: bool = True) -> None:
        self.escaping = set(escaping)
        self.failing = set(failing)
        self.answers = answers
        self.held: dict[str, list[bytes]] = {}
        self.stopped = False

    def create_batch(self) -> Batch:
        return Batch()

    async def send_batch(self, batch: Batch, topic: str, partition: int) -> asyncio.Future[None]:
        if topic in self.escaping:
            self.escaping.discard(topic)
            raise asyncio.CancelledError()
        if topic in self.failing:
            self.failing.discard(topic)
            raise RuntimeError("not an error the send expects")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.answers:
            self.held.setdefault(topic, []).extend(batch.payloads)
            future.set_result(None)
        return future

    async def stop(self) -> None:
        self.stopped = True


class Positions:
    def __init__(self) -> None:
        self.saved: list[int] = []

    async def execute(self, sql: str, params: Any = ()) -> int:
        self.saved.append(params[0])
        return 1


def publisher_on(broker: Broker, monkeypatch: pytest.MonkeyPatch) -> tuple[MessagePublisher, Positions]:
    positions = Positions()
    publisher = MessagePublisher("127.0.0.1:1", log_db=positions, on_progress=lambda: None)  # type: ignore[arg-type]

    async def connect() -> Any:
        publisher._producer = broker
        return broker

    monkeypatch.setattr(publisher, "_connect_producer", connect)
    monkeypatch.setattr(message_publisher, "RETRY_DELAYS", (0.01,))
    return publisher, positions


def queue_messages(publisher: MessagePublisher) -> None:
    publisher.queue.orders.extend([(5, b"o5"), (6, b"o6a"), (6, b"o6b")])
    publisher.queue.deals.extend([(6, b"d6"), (7, b"d7")])
    publisher.upto = 7


@pytest.mark.parametrize("trouble", ["escaping", "failing"])
async def test_a_round_that_dies_is_sent_again_and_nothing_is_passed(monkeypatch: pytest.MonkeyPatch,
                                                                    trouble: str) -> None:
    broker = Broker(**{trouble: {TOPIC_DEALS}})  # type: ignore[arg-type]
    publisher, positions = publisher_on(broker, monkeypatch)
    queue_messages(publisher)
    await asyncio.wait_for(publisher._publish(), 5)
    assert broker.held[TOPIC_DEALS] == [b"d6", b"d7"]
    assert broker.held[TOPIC_ORDERS] == [b"o5", b"o6a", b"o6b"]  # once: the second round skipped them by tag
    assert publisher.position == 7 and positions.saved == [7]
    assert publisher.queue.count == 0


async def test_messages_queued_during_a_failed_round_follow_the_put_back_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    broker = Broker(escaping={TOPIC_DEALS})
    publisher, positions = publisher_on(broker, monkeypatch)
    queue_messages(publisher)
    real_round = publisher._publish_round

    async def round_with_arrivals(taken: Any) -> bool:
        complete = await real_round(taken)
        if not complete:
            publisher.queue.deals.append((8, b"d8"))
            publisher.upto = 8
        return complete

    monkeypatch.setattr(publisher, "_publish_round", round_with_arrivals)
    await asyncio.wait_for(publisher._publish(), 5)
    assert broker.held[TOPIC_DEALS] == [b"d6", b"d7", b"d8"]
    assert publisher.position == 8 and positions.saved == [8]


async def test_a_cancelled_publisher_keeps_what_it_had_not_published(monkeypatch: pytest.MonkeyPatch) -> None:
    broker = Broker(answers=False)
    publisher, positions = publisher_on(broker, monkeypatch)
    queue_messages(publisher)
    task = asyncio.create_task(publisher._publish())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert publisher.queue.orders == [(5, b"o5"), (6, b"o6a"), (6, b"o6b")]
    assert publisher.queue.deals == [(6, b"d6"), (7, b"d7")]
    assert publisher.position == 0 and positions.saved == []


async def test_an_unanswered_send_is_sent_again_on_a_new_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(message_publisher, "SEND_TIMEOUT", 0.2)
    dead, alive = Broker(answers=False), Broker(answers=True)
    producers = [dead, alive]
    publisher = MessagePublisher("127.0.0.1:1", log_db=None, on_progress=lambda: None)  # type: ignore[arg-type]

    async def connect() -> Any:
        if publisher._producer is None:
            publisher._producer = producers.pop(0)
        return publisher._producer

    monkeypatch.setattr(publisher, "_connect_producer", connect)
    messages = [(7, b"a"), (7, b"b"), (8, b"c")]
    await asyncio.wait_for(publisher._publish_topic(TOPIC_ORDERS, messages), 5)
    assert dead.stopped and not alive.stopped
    assert alive.held == {TOPIC_ORDERS: [b"a", b"b", b"c"]}
    assert publisher.published[TOPIC_ORDERS] == (8, 0)


async def test_a_failure_on_a_replaced_producer_leaves_the_new_one() -> None:
    old, new = Broker(), Broker()
    publisher = MessagePublisher("127.0.0.1:1", log_db=None, on_progress=lambda: None)  # type: ignore[arg-type]
    publisher._producer = new  # another topic's failure replaced `old` already
    await publisher._reset_producer(old)
    assert publisher._producer is new and not new.stopped and not old.stopped
    await publisher._reset_producer(new)
    assert publisher._producer is None and new.stopped
