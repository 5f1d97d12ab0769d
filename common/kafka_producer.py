"""A Kafka producer that never sends a batch twice by itself.

aiokafka resends a batch whose produce request failed (a connection cut
mid-request, an answer that did not come in time) until the batch expires.
When the broker had appended the first attempt and only its answer was lost,
the topic then holds the batch twice: the producer is not idempotent (the
exchange's broker need not know producer ids and sequence numbers).  The
matchengine's publisher does its own retrying, and that one cannot double:
after a failure it reconnects, reads the `op` tag of the last message each
topic holds, and sends only what comes after it
(matchengine/message_publisher.py).  So a failed produce request fails its
batches here, and the publisher takes over.  Only a request that was never
sent (no ready connection to the broker) is left to aiokafka's retry.

This replaces one method of aiokafka's private sender (`_send_produce_req`,
with its handler's `_can_retry`); tests/integration/test_kafka_producer.py
fails if an aiokafka upgrade changes either.
"""

from __future__ import annotations

import functools
from typing import Any


def send_each_batch_once(producer: Any) -> None:
    """Make `producer` (an AIOKafkaProducer, before or after `start`) fail the batches of a produce request
    that may have reached the broker, instead of sending them again."""
    sender = producer._sender
    handler_class = _send_once_handler()

    async def send_produce_req(node_id: int, batches: dict[Any, Any]) -> None:
        # aiokafka's Sender._send_produce_req, with the handler below
        handler = handler_class(sender, batches)
        await handler.do(node_id)
        sender._in_flight.remove(node_id)
        for tp in batches:
            sender._muted_partitions.remove(tp)

    sender._send_produce_req = send_produce_req


@functools.cache
def _send_once_handler() -> type:
    from aiokafka.errors import NodeNotReadyError
    from aiokafka.producer.sender import SendProduceReqHandler

    class SendOnceHandler(SendProduceReqHandler):
        def _can_retry(self, error: Any, batch: Any) -> bool:
            # not ready: the request was never written, so a resend cannot double anything
            return isinstance(error, NodeNotReadyError) and bool(super()._can_retry(error, batch))

    return SendOnceHandler
