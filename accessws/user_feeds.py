"""Per-user subscriptions fed by Kafka: `order.update`, `order.update_stop` and `asset.update` (§5.11, §5.12).

Both keep, per user id, each authenticated session's set of names (markets
for orders, assets for balances).  An order event is pushed, as received, to
the sessions of the order's user that subscribed its market; so is a stop
event, as `order.update_stop` (spec/extensions.md §1.8).  A balance
change of (user, asset) makes the server ask matchengine for that balance
(`balance.query [user, asset]`) and push the answer to the sessions of that
user subscribed to that asset — never to anybody else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

from common.errors import RpcError
from common.rpc import RpcTimeout, RpcUnavailable

from .backends import CMD_BALANCE_QUERY, Backend
from .envelope import push_frame
from .feeds import FATAL_LOG_INTERVAL, name_problem
from .session import Session

log = logging.getLogger(__name__)


class UserSubscriptions:
    """user id → session → subscribed names."""

    def __init__(self) -> None:
        self.by_user: dict[int, dict[Session, set[str]]] = {}

    def subscribe(self, session: Session, names: Iterable[object], what: str) -> str | None:
        """Replace the session's set; the reason at the first invalid name (`what`: "market" or "asset"; the
        names before it stay), or None."""
        self.unsubscribe(session)
        user = session.user_id
        for name in names:
            problem = name_problem(name, what)
            if problem is not None:
                return problem
            sessions = self.by_user.setdefault(user, {})
            sessions.setdefault(session, set()).add(name)  # type: ignore[arg-type]
        return None

    def unsubscribe(self, session: Session, user_id: int | None = None) -> None:
        user = session.user_id if user_id is None else user_id
        sessions = self.by_user.get(user)
        if sessions is None:
            return
        sessions.pop(session, None)
        if not sessions:
            del self.by_user[user]

    def sessions_for(self, user: int, name: str) -> list[Session]:
        sessions = self.by_user.get(user)
        if not sessions:
            return []
        return [session for session, names in sessions.items() if name in names]


class OrderNotifier:
    def __init__(self) -> None:
        self.subscriptions = UserSubscriptions()

    def on_order(self, user: int, event: int, order: dict[str, Any]) -> None:
        sessions = self.subscriptions.sessions_for(user, order.get("market"))  # type: ignore[arg-type]
        if not sessions:
            return
        frame = push_frame("order.update", [event, order])
        for session in sessions:
            session.push(frame)

    def on_stop(self, user: int, market: str, event: int, stop: dict[str, Any]) -> None:
        sessions = self.subscriptions.sessions_for(user, market)
        if not sessions:
            return
        frame = push_frame("order.update_stop", [event, stop])
        for session in sessions:
            session.push(frame)


class AssetNotifier:
    def __init__(self, matchengine: Backend) -> None:
        self.matchengine = matchengine
        self.subscriptions = UserSubscriptions()
        self._queries: set[asyncio.Task[None]] = set()
        self._fatal_logged_at = -FATAL_LOG_INTERVAL

    def on_change(self, user: int, asset: str) -> None:
        """A balance of `user` may have changed: query it if a session of the user watches `asset`."""
        if not self.subscriptions.sessions_for(user, asset):
            return
        task = asyncio.get_running_loop().create_task(self._query_and_push(user, asset))
        self._queries.add(task)
        task.add_done_callback(self._queries.discard)

    async def _query_and_push(self, user: int, asset: str) -> None:
        try:
            result = await self.matchengine.query(CMD_BALANCE_QUERY, [user, asset])
        except RpcError as exc:
            log.error("balance.query [%d, %r] failed: %d %s", user, asset, exc.code, exc.message)
            return
        except RpcTimeout:
            now = time.monotonic()
            if now - self._fatal_logged_at >= FATAL_LOG_INTERVAL:
                self._fatal_logged_at = now
                log.critical("balance.query [%d, %r]: matchengine timed out", user, asset)
            return
        except RpcUnavailable:
            log.error("balance.query [%d, %r]: matchengine is not connected", user, asset)
            return
        sessions = self.subscriptions.sessions_for(user, asset)
        if sessions:
            frame = push_frame("asset.update", [result])
            for session in sessions:
                session.push(frame)

    async def stop(self) -> None:
        tasks = list(self._queries)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
