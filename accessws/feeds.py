"""What every polled subscription family shares (§5.4): subscribers per key and one repeating poll.

A family (kline, depth, price, state, today, deals) keeps, per key (a
market, or a market with parameters), the sessions subscribed to it, and
remembers per session which keys it holds — a session has at most one
subscription set per family, replaced by each `subscribe`.  Every
`interval` seconds the poll drops the keys nobody holds any more and sends
one backend request per remaining key; the family's `on_result` decides
what to push.

Differences from the original, none visible to a well-behaved client:
* a key is not polled again while its previous poll is still out, so
  replies can never arrive out of order (a depth diff against an older
  snapshot would be wrong);
* while the backend is disconnected no polls are sent (the original sends
  them into the void and logs each timeout at FATAL, an alert storm);
  a poll timeout on a connected backend is logged at FATAL at most once per
  family and minute;
* only an "invalid argument" reply (unknown market, bad parameter) drops
  the key and its subscribers, silently as the original does; transient
  errors (internal error, service unavailable) keep them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from common.errors import INVALID_ARGUMENT, RpcError
from common.rpc import RpcTimeout, RpcUnavailable

from .backends import Backend
from .session import Session

log = logging.getLogger(__name__)

K = TypeVar("K")

MARKET_NAME_MAX = 15
FATAL_LOG_INTERVAL = 60.0


def name_problem(value: object, what: str) -> str | None:
    """Why `value` is not a market or asset name as a subscription accepts it (a JSON string of at most
    15 bytes), naming the parameter `what`; None when it is one."""
    if not isinstance(value, str):
        return f"{what}: must be a string"
    if len(value.encode()) > MARKET_NAME_MAX:
        return f"{what}: at most {MARKET_NAME_MAX} bytes"
    return None


class PolledFeed(Generic[K]):
    """Subscribers of one family and the timer that polls the backend for each key."""

    family = ""
    command = 0

    def __init__(self, backend: Backend, interval: float) -> None:
        self.backend = backend
        self.interval = interval
        self.subscribers: dict[K, set[Session]] = {}
        self.keys_of: dict[Session, list[K]] = {}
        self._in_flight: set[K] = set()
        self._polls: set[asyncio.Task[None]] = set()
        self._timer: asyncio.Task[None] | None = None
        self._fatal_logged_at = -FATAL_LOG_INTERVAL
        self._down_logged = False

    # ------------------------------------------------------------ subscriptions

    def unsubscribe(self, session: Session) -> None:
        keys = self.keys_of.pop(session, None)
        if keys is None:
            return
        for key in keys:
            subscribers = self.subscribers.get(key)
            if subscribers is not None:
                subscribers.discard(session)

    def add(self, session: Session, key: K) -> None:
        subscribers = self.subscribers.get(key)
        if subscribers is None:
            subscribers = self.subscribers[key] = set()
        if session not in subscribers:
            subscribers.add(session)
            self.keys_of.setdefault(session, []).append(key)

    def sessions(self, key: K) -> tuple[Session, ...]:
        return tuple(self.subscribers.get(key, ()))

    def broadcast(self, key: K, frame: bytes) -> None:
        for session in self.sessions(key):
            session.push(frame)

    # ------------------------------------------------------------ polling

    def start(self) -> None:
        self._timer = asyncio.get_running_loop().create_task(self._run(), name=f"poll-{self.family}")

    async def stop(self) -> None:
        tasks = [t for t in (self._timer, *self._polls) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time() + self.interval
        while True:
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
            next_tick = max(next_tick + self.interval, loop.time())
            try:
                self.tick()
            except Exception:
                log.critical("%s poll tick failed", self.family, exc_info=True)

    def tick(self) -> None:
        subscribers = self.subscribers
        for key in [k for k, sessions in subscribers.items() if not sessions]:
            del subscribers[key]
            self.forget(key)
        if not subscribers:
            return
        if not self.backend.connected:
            if not self._down_logged:
                self._down_logged = True
                log.error("%s: %s is not connected; %s polls wait for it", self.family, self.backend.name,
                          self.family)
            return
        self._down_logged = False
        loop = asyncio.get_running_loop()
        for key in subscribers:
            if key in self._in_flight:
                continue
            self._in_flight.add(key)
            task = loop.create_task(self._poll(key))
            self._polls.add(task)
            task.add_done_callback(self._polls.discard)

    async def _poll(self, key: K) -> None:
        try:
            result = await self.backend.query(self.command, self.params(key))
        except RpcError as exc:
            if exc.code == INVALID_ARGUMENT:
                log.error("%s poll of %r refused (%s): dropping its %d subscribers", self.family, key,
                          exc.message, len(self.subscribers.get(key, ())))
                self.drop_key(key)
            else:
                log.error("%s poll of %r failed: %d %s", self.family, key, exc.code, exc.message)
            return
        except RpcTimeout:
            now = time.monotonic()
            if now - self._fatal_logged_at >= FATAL_LOG_INTERVAL:
                self._fatal_logged_at = now
                log.critical("%s poll of %r: %s timed out", self.family, key, self.backend.name)
            return
        except RpcUnavailable:
            return
        finally:
            self._in_flight.discard(key)
        if key in self.subscribers:
            try:
                self.on_result(key, result)
            except Exception:
                log.critical("%s: cannot handle the result for %r: %.200r", self.family, key, result,
                             exc_info=True)

    def drop_key(self, key: K) -> None:
        for session in self.subscribers.pop(key, ()):
            keys = self.keys_of.get(session)
            if keys is not None and key in keys:
                keys.remove(key)
        self.forget(key)

    # ------------------------------------------------------------ family specifics

    def params(self, key: K) -> list[Any]:
        raise NotImplementedError

    def on_result(self, key: K, result: Any) -> None:
        raise NotImplementedError

    def forget(self, key: K) -> None:
        """Drop what is remembered for `key` (it has no subscribers any more)."""


class MarketListFeed(PolledFeed[str]):
    """A family whose subscribe takes a list of market names (price, state, today, deals)."""

    def subscribe(self, session: Session, names: Iterable[object]) -> str | None:
        """Replace the session's set; the reason at the first invalid name (the names before it stay), or None."""
        self.unsubscribe(session)
        for name in names:
            problem = name_problem(name, "market")
            if problem is not None:
                return problem
            self.add(session, name)  # type: ignore[arg-type]
        return None

    def initial_pushes(self, session: Session, names: list[str]) -> None:
        """What a new subscriber gets at once, from what is already remembered."""
        raise NotImplementedError
