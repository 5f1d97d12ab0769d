"""The `orders`, `balances` and `stops` Kafka topics as accessws reads them (§7).

Each topic is read from its end (only what is produced after start-up), one
partition, no consumer group, with `common.kafka.PartitionReader`, which
rides out broker outages.  `parse_order_message` and
`parse_balance_message` apply the original's checks, `parse_stop_message`
the fork's (spec/extensions.md §1.8); a message failing them is logged and
skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from common.config import KafkaConsumerConfig
from common.kafka import PartitionReader

log = logging.getLogger(__name__)

BATCH_TIMEOUT = 0.5
RETRY_DELAY = 1.0


@dataclass(slots=True)
class OrderMessage:
    event: int
    order: dict[str, Any]
    user: int
    stock: str
    money: str


def parse_order_message(value: bytes) -> OrderMessage | None:
    """``{"event": int ≠ 0, "order": {..., "user": int ≠ 0}, "stock": str, "money": str}``, else None."""
    try:
        message = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(message, dict):
        return None
    event, order = message.get("event"), message.get("order")
    stock, money = message.get("stock"), message.get("money")
    if type(event) is not int or event == 0 or not isinstance(order, dict):
        return None
    user = order.get("user")
    if type(user) is not int or user == 0 or not isinstance(stock, str) or not isinstance(money, str):
        return None
    return OrderMessage(event, order, user, stock, money)


@dataclass(slots=True)
class StopMessage:
    event: int
    stop: dict[str, Any]
    user: int
    market: str
    stock: str | None
    money: str | None


def parse_stop_message(value: bytes) -> StopMessage | None:
    """``{"event": int ≠ 0, "order": {..., "user": int ≠ 0, "market": str}, "stock"?, "money"?}``, else None.

    `stock` and `money` (the port's engine sends them, the fork's does not) name the balances the stop's
    frozen funds moved; a message without them is still pushed.
    """
    try:
        message = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(message, dict):
        return None
    event, stop = message.get("event"), message.get("order")
    if type(event) is not int or event == 0 or not isinstance(stop, dict):
        return None
    user, market = stop.get("user"), stop.get("market")
    if type(user) is not int or user == 0 or not isinstance(market, str):
        return None
    stock, money = message.get("stock"), message.get("money")
    return StopMessage(event, stop, user, market, stock if isinstance(stock, str) else None,
                       money if isinstance(money, str) else None)


def parse_balance_message(value: bytes) -> tuple[int, str] | None:
    """``[time, user_id ≠ 0, asset: str, business, change]`` → (user_id, asset), else None."""
    try:
        message = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(message, list) or len(message) < 3:
        return None
    user, asset = message[1], message[2]
    if type(user) is not int or user == 0 or not isinstance(asset, str):
        return None
    return user, asset


class TopicConsumer:
    """Reads one topic partition from its end and hands every message to `handle`."""

    def __init__(self, config: KafkaConsumerConfig, handle: Callable[[bytes], None]) -> None:
        self.config = config
        self.handle = handle
        self.reader = PartitionReader(config.brokers, config.topic, config.partition, name=f"accessws-{config.topic}")
        self.positioned = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"kafka-{self.config.topic}")

    async def wait_positioned(self, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self.positioned.wait()
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        await self.reader.start(None)
        self.positioned.set()
        handle = self.handle
        while True:
            try:
                batch = await self.reader.get_batch(self.config.limit, BATCH_TIMEOUT)
            except Exception:
                log.critical("%s: reading failed", self.config.topic, exc_info=True)
                await asyncio.sleep(RETRY_DELAY)
                continue
            for _, value in batch:
                try:
                    handle(value)
                except Exception:
                    log.critical("%s: cannot handle message %.200r", self.config.topic, value, exc_info=True)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.reader.stop()
