"""Reading one Kafka topic partition, as the original's consumers do (no group, explicit offsets).

`PartitionReader` starts at a given offset (or at the end), hands out batches
of (offset, payload) and keeps going through broker outages.  A broker that
restarted empty (the embedded default keeps topics in memory) or a topic that
was deleted and refilled does not raise anything in a Kafka client: old
offsets simply point at nothing, or at other messages.  So the reader checks,
when it starts and every few idle seconds, that the message just before its
position is still the one it read last; if not, it logs that and continues
from the earliest offset the broker has, and the caller skips what it has
already applied by its own ids (deal ids are monotonic).  A restart and
refill faster than the check interval can still go unseen here; a caller
whose ids are contiguous (deal ids are) notices the jump and calls `rewind`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

RETRY_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)
VERIFY_INTERVAL = 3.0


class PartitionReader:
    def __init__(self, brokers: str, topic: str, partition: int = 0, *, name: str = "kafka",
                 verify_interval: float = VERIFY_INTERVAL) -> None:
        self.brokers = brokers
        self.topic = topic
        self.partition = partition
        self.name = name
        self.verify_interval = verify_interval
        self.next_offset: int | None = None
        self.resets = 0
        self._last_value: bytes | None = None
        self._check_previous: Callable[[bytes], bool] | None = None
        self._verified_at = time.monotonic()
        self._last_data_at = 0.0
        self._consumer: Any = None
        self._tp: Any = None
        self.failing = False  # the last connect or fetch failed

    async def start(self, offset: int | None, previous: Callable[[bytes], bool] | None = None) -> None:
        """Begin at `offset` (the next message to read) or, when None, at the current end.

        `previous`, if given, must accept the message at `offset - 1` (what the
        caller applied last); when it does not, the topic is not the one the
        offset came from and reading starts from the earliest offset.
        """
        self.next_offset = offset
        self._check_previous = previous
        await self._connect()

    async def _connect(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        attempt = 0
        while self._consumer is None:
            consumer = AIOKafkaConsumer(bootstrap_servers=self.brokers, enable_auto_commit=False, group_id=None,
                                        auto_offset_reset="none", fetch_max_wait_ms=100,
                                        max_partition_fetch_bytes=4 << 20, request_timeout_ms=10000)
            try:
                await consumer.start()
                tp = TopicPartition(self.topic, self.partition)
                consumer.assign([tp])
                self._consumer, self._tp = consumer, tp
                if self.next_offset is None:
                    self.next_offset = await self._true_end()
                consumer.seek(tp, self.next_offset)
                await self._verify()
            except Exception as exc:
                self._consumer = None
                self.failing = True
                await stop_quietly(consumer)
                log.error("%s: kafka %s unavailable: %s", self.name, self.brokers, exc)
                await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
                attempt += 1
                continue
            log.info("%s: reading %s[%d] from offset %d", self.name, self.topic, self.partition, self.next_offset)

    async def _fetch_at(self, offset: int) -> list[Any]:
        consumer, tp = self._consumer, self._tp
        consumer.seek(tp, offset)
        result = await consumer.getmany(tp, timeout_ms=1000, max_records=1000)
        return result.get(tp, [])

    async def _true_end(self) -> int:
        """The end offset; Tansu reports the last batch's base offset + 1, so look at that batch."""
        tp = self._tp
        end = (await self._consumer.end_offsets([tp]))[tp]
        if end == 0:
            return 0
        messages = await self._fetch_at(end - 1)
        return messages[-1].offset + 1 if messages else end

    async def _continues(self) -> bool:
        """Whether the message before our position is the one we read last (or that `previous` accepts).

        Leaves the consumer positioned anywhere: the caller seeks afterwards.
        """
        self._verified_at = time.monotonic()
        offset = self.next_offset or 0
        check = self._check_previous
        expected = self._last_value
        if offset == 0 or (check is None and expected is None):
            return True
        messages = await self._fetch_at(offset - 1)
        if messages and messages[0].offset == offset - 1:
            value = messages[0].value
            if expected is not None:
                return value == expected
            return bool(check and check(value))
        return False

    async def _verify(self) -> None:
        if await self._continues():
            self._consumer.seek(self._tp, self.next_offset)
        else:
            await self._reset_to_earliest()

    async def get_batch(self, max_records: int = 1000, timeout: float = 0.5) -> list[tuple[int, bytes]]:
        """Up to `max_records` (offset, value) pairs; [] when nothing arrived within `timeout`.

        After a quiet spell (or an error) the first batch is only handed out once
        the position is known to continue the messages read before; under a
        steady flow no check is made.
        """
        from aiokafka.errors import OffsetOutOfRangeError

        if self._consumer is None:
            await self._connect()
        try:
            result = await self._consumer.getmany(self._tp, timeout_ms=int(timeout * 1000), max_records=max_records)
            messages = result.get(self._tp, [])
            self.failing = False
            now = time.monotonic()
            if not messages:
                if now - self._verified_at >= self.verify_interval:
                    await self._verify()
                return []
            if now - self._last_data_at >= self.verify_interval or messages[0].offset != self.next_offset:
                if not await self._continues():
                    await self._reset_to_earliest()
                    return []
                self._consumer.seek(self._tp, messages[-1].offset + 1)
            self._last_data_at = now
        except OffsetOutOfRangeError:
            await self._reset_to_earliest()
            return []
        except Exception as exc:
            self.failing = True
            log.error("%s: fetch from %s failed: %s", self.name, self.topic, exc)
            self._last_data_at = 0.0
            await self._drop()
            await asyncio.sleep(RETRY_DELAYS[0])
            return []
        self.next_offset = messages[-1].offset + 1
        self._last_value = messages[-1].value
        return [(m.offset, m.value) for m in messages]

    @property
    def connected(self) -> bool:
        return self._consumer is not None and not self.failing

    def lag(self) -> int | None:
        """Messages in the partition after the reader's position, as of the last fetch (None: not known)."""
        if self._consumer is None or self.next_offset is None:
            return None
        highwater = self._consumer.highwater(self._tp)
        return None if highwater is None else max(0, highwater - self.next_offset)

    async def rewind(self) -> None:
        """Continue from the earliest offset the broker has (a caller that saw its ids jump calls this)."""
        if self._consumer is None:
            await self._connect()
        await self._reset_to_earliest()

    async def _reset_to_earliest(self) -> None:
        tp = self._tp
        earliest = (await self._consumer.beginning_offsets([tp]))[tp]
        log.warning("%s: the message before offset %s of %s is not the one read last (broker restarted or "
                    "topic emptied); continuing at offset %d", self.name, self.next_offset, self.topic, earliest)
        self.resets += 1
        self.next_offset = earliest
        self._last_value = None
        self._check_previous = None
        self._consumer.seek(tp, earliest)

    async def _drop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await stop_quietly(consumer)

    async def stop(self) -> None:
        await self._drop()


async def stop_quietly(client: Any) -> None:
    """Stop an aiokafka consumer or producer after a failure.  Its `stop` can let the cancel of its own
    task escape (after a broker connection was cut mid-fetch): that is swallowed here unless this task itself
    is being cancelled, so a reader or writer outlives the outage instead of ending as if cancelled."""
    try:
        await client.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        log.warning("kafka client stop was cancelled from inside aiokafka: the client is dropped all the same")
    except Exception:
        pass
