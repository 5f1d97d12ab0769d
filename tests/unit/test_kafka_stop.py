"""stop_quietly: a Kafka client whose stop lets its own task's cancel escape does not end the caller."""

from __future__ import annotations

import asyncio

import pytest

from common.kafka import stop_quietly


class CancelEscapes:
    """Stands for an aiokafka client after a cut connection: its stop raises the cancel of its inner task."""

    def __init__(self) -> None:
        self.stopped = False

    async def stop(self) -> None:
        self.stopped = True
        raise asyncio.CancelledError


class Fails:
    async def stop(self) -> None:
        raise ConnectionError("broker gone")


async def test_a_cancel_from_inside_the_client_is_swallowed() -> None:
    client = CancelEscapes()
    await stop_quietly(client)
    assert client.stopped
    await stop_quietly(Fails())


async def test_a_cancel_of_the_caller_still_cancels_it() -> None:
    started = asyncio.Event()

    class Slow:
        async def stop(self) -> None:
            started.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(stop_quietly(Slow()))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
