"""Appending alert messages to the Redis list, without ever blocking reception or losing them to an outage.

The original opened a new Sentinel-resolved connection per message, on the
event loop, and dropped the message when Redis failed.  Here messages wait in
a bounded in-memory queue and one background task appends them, oldest first,
with one ``RPUSH key m1 m2 …`` per batch over a kept connection (the Sentinel
client re-resolves the master when a connection fails).  When Redis is down
the batch stays queued and is retried with a growing delay (0.1 s doubling up
to 5 s); the outage is logged once at ERROR when it starts and at INFO when it
ends.  When the queue is full the oldest message is dropped (and counted) to
make room for the newest.  A batch whose reply was lost may be appended
twice: delivery is at least once.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any

log = logging.getLogger(__name__)

BATCH_SIZE = 100
RETRY_FIRST = 0.1
RETRY_MAX = 5.0
DROP_REPORT_INTERVAL = 10.0


class AlertWriter:
    """Queues messages and appends them to the list `key` of `redis` (a `redis.asyncio.Redis`)."""

    def __init__(self, redis: Any, key: str, limit: int) -> None:
        self.redis = redis
        self.key = key
        self.limit = limit
        self.received = 0
        self.written = 0
        self.dropped = 0
        self._queue: collections.deque[tuple[int, bytes]] = collections.deque()
        self._next_seq = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing_since = 0.0
        self._dropped_reported = 0
        self._drop_reported_at = 0.0

    @property
    def failing(self) -> bool:
        """The last append to Redis failed (messages are kept for retry)."""
        return bool(self._failing_since)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="alert-writer")

    def push(self, message: bytes) -> None:
        """Queue one message (dropping the oldest queued one when the queue is full)."""
        self.received += 1
        if len(self._queue) >= self.limit:
            self._queue.popleft()
            self.dropped += 1
            self._report_drops()
        self._queue.append((self._next_seq, message))
        self._next_seq += 1
        self._wake.set()

    def _report_drops(self) -> None:
        now = time.monotonic()
        if now - self._drop_reported_at >= DROP_REPORT_INTERVAL:
            log.error("alert queue full (%d): %d oldest messages dropped so far", self.limit, self.dropped)
            self._drop_reported_at = now

    async def _run(self) -> None:
        delay = RETRY_FIRST
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
            if await self._write_batch():
                delay = RETRY_FIRST
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)

    async def _write_batch(self) -> bool:
        """Append up to BATCH_SIZE queued messages; False (messages kept) when Redis failed."""
        batch = [self._queue[i] for i in range(min(BATCH_SIZE, len(self._queue)))]
        try:
            await self.redis.rpush(self.key, *(message for _, message in batch))
        except Exception as exc:
            if not self._failing_since:
                self._failing_since = time.monotonic()
                log.error("redis rpush %s failed: %s; %d messages kept for retry",
                          self.key, exc, len(self._queue))
            return False
        if self._failing_since:
            log.info("redis is back after %.1f s", time.monotonic() - self._failing_since)
            self._failing_since = 0.0
        last_seq = batch[-1][0]
        queue = self._queue
        while queue and queue[0][0] <= last_seq:
            queue.popleft()
        self.written += len(batch)
        return True

    async def close(self, timeout: float = 2.0) -> None:
        """Stop the background task after one last try (bounded by `timeout`) to write what is queued."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        try:
            async with asyncio.timeout(timeout):
                while self._queue and await self._write_batch():
                    pass
        except TimeoutError:
            pass
        if self._queue:
            log.error("%d alert messages not written to redis at exit", len(self._queue))
        try:
            await self.redis.aclose()
        except Exception:
            pass
