"""Retrying a database step in place, with backoff, instead of ending the process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from common.storage import DatabaseError

T = TypeVar("T")

RETRY_DELAYS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


class Stopped(Exception):
    """The process was asked to stop while a step waited for the database."""


async def retrying(log: logging.Logger, what: str, action: Callable[[], Awaitable[T]], *,
                   stopping: asyncio.Event | None = None, delays: tuple[float, ...] = RETRY_DELAYS) -> T:
    """`action()`, again after each DatabaseError (logged at FATAL the first time, then every 10th), until it
    succeeds; Stopped if `stopping` is set meanwhile."""
    attempt = 0
    while True:
        if stopping is not None and stopping.is_set():
            raise Stopped(what)
        try:
            result = await action()
        except DatabaseError as exc:
            if attempt % 10 == 0:
                log.critical("cannot %s (attempt %d, retrying): %s", what, attempt + 1, exc)
        else:
            if attempt:
                log.warning("%s: done after %d attempts", what, attempt + 1)
            return result
        await asyncio.sleep(delays[min(attempt, len(delays) - 1)])
        attempt += 1
