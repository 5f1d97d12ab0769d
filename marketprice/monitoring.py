"""marketprice's monitor port: the deals consumer's lag and progress, and readiness.

Ready (``/readyz``) when Redis answers a PING, the broker accepts connections
and the deals consumer reads without failing and is less than
`READY_LAG_MESSAGES` behind the end of the partition.
"""

from __future__ import annotations

from typing import Any

from common.kafka import PartitionReader
from common.metrics import metrics_for
from common.monitor import Readiness, tcp_reachable

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


def readiness(redis: Any, brokers: str, reader: PartitionReader | None = None) -> Readiness:
    ready = Readiness()

    async def redis_answers() -> bool:
        return bool(await redis.ping())

    async def broker_reachable() -> bool:
        return await tcp_reachable(brokers)

    def caught_up() -> bool:
        if reader is None or not reader.connected:
            return False
        lag = reader.lag()
        return lag is not None and lag < READY_LAG_MESSAGES

    ready.add("redis", redis_answers)
    ready.add("kafka", broker_reachable)
    ready.add("deals", caught_up)
    return ready
