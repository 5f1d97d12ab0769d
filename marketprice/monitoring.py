"""marketprice's monitor port: the deals consumer's lag and progress, and readiness.

Ready (``/readyz``) when Redis answers a PING (``redis``), the deals consumer
is connected to the broker and its last fetch did not fail (``kafka``), and it
is less than `READY_LAG_MESSAGES` behind the end of the partition (``deals``).
"""

from __future__ import annotations

from typing import Any

from common.kafka import PartitionReader
from common.metrics import metrics_for
from common.monitor import Readiness

from .state import Markets

READY_LAG_MESSAGES = 1000


def export_metrics(reader: PartitionReader, markets: Markets) -> None:
    metrics = metrics_for("marketprice")
    metrics.gauge("deals_consumer_lag_messages", "Messages of the deals partition not yet read, as of the last "
                  "fetch", lambda: float(reader.lag() or 0))
    metrics.gauge("deals_applied_offset", "Offset of the deals message last applied",
                  lambda: float(markets.progress.offset))
    metrics.counter_from("deals_applied", "Deals applied to k-lines and status: the last applied deal id",
                         lambda: float(markets.progress.deal_id))


def readiness(redis: Any, reader: PartitionReader) -> Readiness:
    ready = Readiness()

    async def redis_answers() -> bool:
        return bool(await redis.ping())

    def caught_up() -> bool:
        lag = reader.lag()
        return reader.connected and lag is not None and lag < READY_LAG_MESSAGES

    ready.add("redis", redis_answers)
    ready.add("kafka", lambda: reader.connected)
    ready.add("deals", caught_up)
    return ready
