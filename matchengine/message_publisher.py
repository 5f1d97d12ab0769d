"""Kafka messages published at least once, counted once: batches, `op` tags and the message position.

The publisher's replica reports what the core did to `queue` (`Messages`);
`MessagePublisher` publishes the queued messages of each topic in order, one
batch in flight, and records the id of the last operation whose messages the
broker acknowledged (`message_position` in trade_log).  After a crash the
messages of the operations after it are built again; those the broker
already holds are recognised by their `op` header ("<operation id>.<n>",
read from the last message of each topic when it connects) and skipped, so a
topic does not get a message twice.  While the broker is away, messages wait
in memory (the publisher bounds them) and sends are retried with backoff.

A publisher started by an engine that leads under a lease term (`term`)
records its position only while that term is current, and stops the process
when it is not: another engine leads, and its own publisher goes on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from common.kafka import stop_quietly
from common.kafka_producer import send_each_batch_once
from common.schema import LEADER_LEASE, MESSAGE_POSITION
from common.storage import Database, DatabaseError, Statement, UnexpectedRowCount

from .message import HEADER_KEY, TOPICS, Messages, message_numbers, parse_header
from .positions import read_position

log = logging.getLogger(__name__)

RETRY_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)
KAFKA_BATCH_BYTES = 1 << 20
TAGS_TIMEOUT = 10.0
REQUEST_TIMEOUT_MS = 10_000
# A batch is acknowledged or failed by then (the producer's request time-out, and some).  A send on a
# producer that another topic's failure stopped meanwhile may never be answered: it is given up here and
# sent again on the new producer (what the broker holds already is skipped), not awaited for ever.
SEND_TIMEOUT = 2 * REQUEST_TIMEOUT_MS / 1000


class MessagePublisher:
    """Publishes `queue` to the brokers and keeps the message position."""

    def __init__(self, brokers: str, log_db: Database, on_progress: Callable[[], None], term: int = 0) -> None:
        self.brokers = brokers
        self.term = term
        self.log_db = log_db
        self.queue = Messages()
        self.on_progress = on_progress  # a round was acknowledged and recorded
        self.position = 0  # acknowledged by the broker, recorded in message_position
        self.upto = 0      # last operation whose messages are in `queue` or being sent
        self.published: dict[str, tuple[int, int]] = {topic: (0, -1) for topic in TOPICS}
        self._producer: Any = None
        self._producer_lock = asyncio.Lock()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: list[asyncio.Task[None]] = []
        self.failing = False  # the last attempt to reach the brokers failed (reported to the engine)

    async def recover(self) -> None:
        self.position = self.upto = await read_position(self.log_db, MESSAGE_POSITION.name)

    @property
    def busy(self) -> bool:
        return bool(self.queue.count) or not self._idle.is_set()

    def kick(self) -> None:
        """Start publishing if messages (or operations without any) wait and no round is under way."""
        if (self.queue.count or self.upto > self.position) and self._idle.is_set():
            self._idle.clear()
            self._tasks.append(asyncio.create_task(self._publish()))
        self._tasks = [t for t in self._tasks if not t.done()]

    def connect_soon(self) -> None:
        """Start reaching the brokers now, so that the first messages do not wait for it."""
        self._tasks.append(asyncio.create_task(self._ensure_producer()))

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def _ensure_producer(self) -> Any:
        async with self._producer_lock:
            return await self._connect_producer()

    async def _connect_producer(self) -> Any:
        from aiokafka import AIOKafkaProducer

        attempt = 0
        while self._producer is None:
            producer = AIOKafkaProducer(bootstrap_servers=self.brokers, linger_ms=1, acks=1,
                                        enable_idempotence=False, max_batch_size=KAFKA_BATCH_BYTES,
                                        max_request_size=KAFKA_BATCH_BYTES * 2,
                                        request_timeout_ms=REQUEST_TIMEOUT_MS)
            send_each_batch_once(producer)  # a failed send is retried below, after reading what the broker holds
            try:
                await producer.start()
                if not set(TOPICS) <= set(producer.client.cluster.topics()):
                    await self._create_topics()
                await self._load_published_tags()
                self._producer = producer
                self.failing = False
                log.info("connected to kafka %s", self.brokers)
            except Exception as exc:
                self.failing = True
                await stop_quietly(producer)
                log.critical("kafka %s unavailable: %s", self.brokers, exc)
                await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
                attempt += 1
        return self._producer

    async def _create_topics(self) -> None:
        """Make sure the topics exist (one partition) before the first message.

        A broker that creates topics on first use may otherwise have a consumer
        create them first and keep the producer waiting for a leader.
        """
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic

        admin = AIOKafkaAdminClient(bootstrap_servers=self.brokers, request_timeout_ms=10000)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            missing = [NewTopic(topic, num_partitions=1, replication_factor=1) for topic in TOPICS
                       if topic not in existing]
            if missing:
                await admin.create_topics(missing)
                log.info("created kafka topics %s", [t.name for t in missing])
        except Exception as exc:
            log.warning("cannot create kafka topics (%s); the broker will create them on first use", exc)
        finally:
            await admin.close()

    async def _load_published_tags(self) -> None:
        """Read the `op` header of the last message of each topic: what the broker already holds.

        All topics at once, each read only up to its end (an empty fetch would wait for its time-out: that
        made the first publish wait 2 s per topic).  No answer within TAGS_TIMEOUT is a failure to connect,
        not "nothing published", which would publish everything after the position again."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(bootstrap_servers=self.brokers, enable_auto_commit=False, group_id=None,
                                    auto_offset_reset="earliest", request_timeout_ms=10000)
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, 0) for topic in TOPICS]
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            last: dict[Any, Any] = {}
            waiting = set()
            for tp in partitions:
                self.published[tp.topic] = (0, -1)
                if ends[tp] > 0:
                    # the broker may report the end as the last batch's base offset + 1: read from there
                    consumer.seek(tp, ends[tp] - 1)
                    waiting.add(tp)
            deadline = time.monotonic() + TAGS_TIMEOUT
            while waiting:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no last message of {sorted(tp.topic for tp in waiting)} within "
                                       f"{TAGS_TIMEOUT} s")
                batches = await consumer.getmany(*waiting, timeout_ms=200, max_records=10000)
                for tp, records in batches.items():
                    if records:
                        last[tp] = records[-1]
                positions = {tp: await consumer.position(tp) for tp in waiting if tp in last}
                reached = [tp for tp, position in positions.items() if position >= ends[tp]]
                if reached:
                    # the end as first read may be older than what the broker holds now (a batch whose
                    # answer was lost may land meanwhile): done only where the end has not moved since
                    ends.update(await consumer.end_offsets(reached))
                for tp in reached:
                    if positions[tp] >= ends[tp]:
                        waiting.discard(tp)
                        self.published[tp.topic] = parse_header(last[tp].headers) or (0, -1)
            for topic in TOPICS:
                log.info("kafka %s: last published message is %s", topic, self.published[topic])
        finally:
            await stop_quietly(consumer)

    async def _publish(self) -> None:
        attempt = 0
        try:
            while self.queue.count or self.upto > self.position:
                upto = self.upto
                taken = self.queue.take()
                if not await self._publish_round(taken):
                    self.queue.put_back(taken)
                    await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
                    attempt += 1
                    continue
                attempt = 0
                self.position = upto
                await self._save_position()
                self.on_progress()
        finally:
            self._idle.set()

    async def _publish_round(self, taken: dict[str, list[tuple[int, bytes]]]) -> bool:
        """Publish each topic's messages, all topics at once; whether every topic got all of its own.

        A topic's send may end otherwise than by its own retries — a cancel escaping from aiokafka, an
        unexpected error: the round then fails and its messages are put back by the caller and sent again
        (what the broker holds already is skipped by its tag), rather than passed by the next position.
        The round waits for every topic before it returns, so no topic ever has two sends under way."""
        tasks = [asyncio.create_task(self._publish_topic(topic, messages), name=topic)
                 for topic, messages in taken.items() if messages]
        if not tasks:
            return True
        try:
            await asyncio.wait(tasks)
        except asyncio.CancelledError:
            self.queue.put_back(taken)  # the sends only read these lists
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
            raise
        complete = True
        for task in tasks:
            if task.cancelled() or task.exception() is not None:
                complete = False
                log.critical("kafka publish to %s ended before its messages were acknowledged: %r",
                             task.get_name(), "cancelled" if task.cancelled() else task.exception())
        return complete

    async def _publish_topic(self, topic: str, messages: list[tuple[int, bytes]]) -> None:
        """Publish in order, one batch in flight, resending from the first unacknowledged one.

        Messages the broker already holds (by their `op` header) are skipped.  Only this loop resends: the
        producer fails a batch whose request may have reached the broker (common/kafka_producer.py), and
        the reconnect reads the tags again before anything is sent.
        """
        numbers = message_numbers(messages)  # the tag of message i is (messages[i][0], numbers[i])
        count = len(messages)
        sent = 0
        attempt = 0
        while sent < count:
            producer = await self._ensure_producer()
            published = self.published[topic]
            while sent < count and (messages[sent][0], numbers[sent]) <= published:
                sent += 1
            if sent == count:
                break
            batch = producer.create_batch()
            end = sent
            while end < count:
                oper_id, payload = messages[end]
                if batch.append(key=None, value=payload, timestamp=None,
                                headers=[(HEADER_KEY, b"%d.%d" % (oper_id, numbers[end]))]) is None:
                    break
                end += 1
            if end == sent:
                log.critical("a %s message of %d bytes is larger than a batch; skipped", topic, len(messages[sent][1]))
                sent += 1
                continue
            try:
                async with asyncio.timeout(SEND_TIMEOUT):
                    await (await producer.send_batch(batch, topic, partition=0))
                sent = end
                self.published[topic] = (messages[end - 1][0], numbers[end - 1])
                attempt = 0
                self.failing = False
            except Exception as exc:
                self.failing = True
                log.critical("kafka publish to %s failed (%d messages waiting): %r", topic, count - sent, exc)
                await self._reset_producer(producer)
                await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
                attempt += 1

    async def _reset_producer(self, failed: Any) -> None:
        """Drop the producer a send failed on, unless another topic's failure replaced it already; the next
        send reconnects and re-reads what the broker holds."""
        if self._producer is failed:
            self._producer = None
            await stop_quietly(failed)

    async def _save_position(self) -> None:
        sql = f"UPDATE `{MESSAGE_POSITION.name}` SET `oper_id` = %s, `time` = %s WHERE `id` = 1"
        attempt = 0
        while True:
            params: tuple[object, ...] = (self.position, time.time())
            try:
                if self.term:
                    await self.log_db.transact([Statement(
                        sql + f" AND (SELECT `term` FROM `{LEADER_LEASE.name}` WHERE `id` = 1) = %s",
                        (*params, self.term), expect=1)])
                else:
                    await self.log_db.execute(sql, params)
                return
            except UnexpectedRowCount:
                log.critical("the engine of lease term %d no longer leads: its publisher stops", self.term)
                os._exit(1)
            except DatabaseError as exc:
                log.critical("cannot record the message position %d: %s", self.position, exc)
            await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
            attempt += 1
