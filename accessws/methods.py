"""Every method of the WebSocket API (§5, §6) and the checks each applies, in the original's order.

`Methods.dispatch(session, request)` answers at once (ping, subscriptions,
errors, cache hits) by returning the reply bytes or sending them itself, or
returns a coroutine for what needs a backend or an auth endpoint; the
server runs that coroutine and sends its reply when it completes.

Deviation from the original (spec/README.md rule 2): an unknown method is
answered with error 4 "method not found" (the original sends nothing).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any

import orjson

from common.errors import INTERNAL_ERROR, METHOD_NOT_FOUND, REQUIRE_AUTH, RpcError

from .auth import Authenticator
from .backends import (
    CMD_BALANCE_HISTORY,
    CMD_BALANCE_QUERY,
    CMD_MARKET_DEALS,
    CMD_MARKET_KLINE,
    CMD_MARKET_LAST,
    CMD_MARKET_STATUS,
    CMD_MARKET_STATUS_TODAY,
    CMD_ORDER_BOOK_DEPTH,
    CMD_ORDER_HISTORY,
    CMD_ORDER_PENDING_STOP,
    CMD_ORDER_QUERY,
    Backend,
    Backends,
    QueryCache,
)
from .depth import DepthFeed
from .envelope import Request, error_reply, invalid_argument, reply, success
from .feeds import MarketListFeed, PolledFeed
from .market_feeds import KlineFeed
from .session import Session
from .user_feeds import UserSubscriptions

Answer = bytes | Coroutine[Any, Any, bytes | None] | None
Handler = Callable[[Session, Request], Answer]

SOURCE_MAX = 31
UINT64_MASK = (1 << 64) - 1
CACHED_BODY_MAX = 1024
HISTORY_PARAMS = 6


def integer_problem(params: list[Any], names: tuple[str, ...], first: int) -> str | None:
    """The reason for the first of `params[first:]` that is not a JSON integer (named from `names`), or None."""
    for name, value in zip(names, params[first:], strict=False):
        if type(value) is not int:
            return f"{name}: must be an integer"
    return None


class Feeds:
    """The subscription families a session can join."""

    def __init__(self, kline: KlineFeed, depth: DepthFeed, price: MarketListFeed, state: MarketListFeed,
                 today: MarketListFeed, deals: MarketListFeed, orders: UserSubscriptions,
                 assets: UserSubscriptions) -> None:
        self.kline = kline
        self.depth = depth
        self.price = price
        self.state = state
        self.today = today
        self.deals = deals
        self.orders = orders
        self.assets = assets

    def polled(self) -> tuple[PolledFeed[Any], ...]:
        return self.kline, self.depth, self.price, self.state, self.today, self.deals


class Methods:
    def __init__(self, backends: Backends, cache: QueryCache, auth: Authenticator, feeds: Feeds) -> None:
        self.backends = backends
        self.cache = cache
        self.auth = auth
        self.feeds = feeds
        me, mp = backends.matchengine, backends.marketprice
        self.table: dict[str, Handler] = {
            "server.ping": lambda session, request: reply(request.id, "pong"),
            "server.time": lambda session, request: reply(request.id, int(time.time())),
            "server.auth": self.server_auth,
            "server.sign": self.server_sign,
            "kline.query": self._cached_query(mp, CMD_MARKET_KLINE),
            "price.query": self._cached_query(mp, CMD_MARKET_LAST),
            "state.query": self._cached_query(mp, CMD_MARKET_STATUS),
            "today.query": self._cached_query(mp, CMD_MARKET_STATUS_TODAY),
            "deals.query": self._cached_query(mp, CMD_MARKET_DEALS),
            "depth.query": self._cached_query(me, CMD_ORDER_BOOK_DEPTH),
            "kline.subscribe": self.kline_subscribe,
            "depth.subscribe": self.depth_subscribe,
            "price.subscribe": self._list_subscribe(feeds.price),
            "state.subscribe": self._list_subscribe(feeds.state),
            "today.subscribe": self._list_subscribe(feeds.today),
            "deals.subscribe": self._list_subscribe(feeds.deals),
            "order.query": self.order_query,
            "order.query_stop": self.order_query_stop,
            "order.history": self._history(CMD_ORDER_HISTORY),
            "asset.query": self.asset_query,
            "asset.history": self._history(CMD_BALANCE_HISTORY),
            "order.subscribe": self._user_subscribe(feeds.orders, "market"),
            "asset.subscribe": self._user_subscribe(feeds.assets, "asset"),
            "order.unsubscribe": self._user_unsubscribe(feeds.orders),
            "asset.unsubscribe": self._user_unsubscribe(feeds.assets),
        }
        for family, feed in (("kline", feeds.kline), ("depth", feeds.depth), ("price", feeds.price),
                             ("state", feeds.state), ("today", feeds.today), ("deals", feeds.deals)):
            self.table[f"{family}.unsubscribe"] = self._unsubscribe(feed)

    def dispatch(self, session: Session, request: Request) -> Answer:
        handler = self.table.get(request.method)
        if handler is None:
            return error_reply(request.id, METHOD_NOT_FOUND)
        return handler(session, request)

    def forget(self, session: Session) -> None:
        """A closed session leaves every family (state included: the original leaks it)."""
        for feed in self.feeds.polled():
            feed.unsubscribe(session)
        if session.auth:
            self.feeds.orders.unsubscribe(session)
            self.feeds.assets.unsubscribe(session)

    # ------------------------------------------------------------ server.*

    def server_auth(self, session: Session, request: Request) -> Answer:
        params = request.params
        if len(params) != 2:
            return invalid_argument(request.id, f"params: expected 2, got {len(params)}")
        if not isinstance(params[0], str):
            return invalid_argument(request.id, "token: must be a string")
        if not isinstance(params[1], str) or len(params[1].encode()) > SOURCE_MAX:
            return invalid_argument(request.id, f"source: a string of at most {SOURCE_MAX} bytes")
        session.source = params[1]
        return self._authenticate(session, request.id, self.auth.auth(params[0]))

    def server_sign(self, session: Session, request: Request) -> Answer:
        params = request.params
        if len(params) != 3:
            return invalid_argument(request.id, f"params: expected 3, got {len(params)}")
        if not isinstance(params[0], str):
            return invalid_argument(request.id, "access_id: must be a string")
        if not isinstance(params[1], str):
            return invalid_argument(request.id, "authorization: must be a string")
        tonce = params[2]
        if type(tonce) is not int or tonce & UINT64_MASK == 0:
            return invalid_argument(request.id, "tonce: must be a non-zero integer")
        session.source = "api"
        return self._authenticate(session, request.id, self.auth.sign(params[0], params[1], tonce & UINT64_MASK))

    async def _authenticate(self, session: Session, request_id: int, ask: Coroutine[Any, Any, int]) -> bytes | None:
        try:
            user_id = await ask
        except RpcError as exc:
            return error_reply(request_id, exc.code, exc.message, exc.data)
        if session.closed:
            return None
        if session.auth and session.user_id != user_id:
            self.feeds.orders.unsubscribe(session)
            self.feeds.assets.unsubscribe(session)
        session.auth = True
        session.user_id = user_id
        return success(request_id)

    # ------------------------------------------------------------ pass-through queries

    def _cached_query(self, backend: Backend, command: int) -> Handler:
        cache = self.cache

        def handle(session: Session, request: Request) -> Answer:
            if not backend.connected:
                return error_reply(request.id, INTERNAL_ERROR)
            body = orjson.dumps(request.params)
            key = (command, body)
            cached = cache.get(key)
            if cached is not None:
                return reply(request.id, cached)
            return self._forward_and_cache(backend, command, body, request.id, key)

        return handle

    async def _forward_and_cache(self, backend: Backend, command: int, body: bytes, request_id: int,
                                 key: tuple[int, bytes]) -> bytes:
        raw = await self._forward(backend, command, body, request_id)
        if len(body) <= CACHED_BODY_MAX:
            try:
                answer = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return raw
            if isinstance(answer, dict) and answer.get("result") is not None:
                self.cache.put(key, orjson.Fragment(orjson.dumps(answer["result"])))
        return raw

    @staticmethod
    async def _forward(backend: Backend, command: int, body: bytes, request_id: int) -> bytes:
        try:
            return await backend.forward(command, body, request_id)
        except RpcError as exc:
            return error_reply(request_id, exc.code, exc.message, exc.data)

    # ------------------------------------------------------------ private queries

    def order_query(self, session: Session, request: Request) -> Answer:
        backend = self.backends.matchengine
        if not backend.connected:
            return error_reply(request.id, INTERNAL_ERROR)
        if not session.auth:
            return error_reply(request.id, REQUIRE_AUTH)
        params = request.params
        if len(params) != 3:
            return invalid_argument(request.id, f"params: expected 3, got {len(params)}")
        if not isinstance(params[0], str):
            return invalid_argument(request.id, "market: must be a string")
        problem = integer_problem(params, ("offset", "limit"), 1)
        if problem is not None:
            return invalid_argument(request.id, problem)
        body = orjson.dumps([session.user_id, *params])
        return self._forward(backend, CMD_ORDER_QUERY, body, request.id)

    def order_query_stop(self, session: Session, request: Request) -> Answer:
        """`[market or null (every market), side (0 both), offset, limit]` → matchengine `order.pending_stop`
        for the session's user (spec/extensions.md §1.8), checked in `order.query`'s order."""
        backend = self.backends.matchengine
        if not backend.connected:
            return error_reply(request.id, INTERNAL_ERROR)
        if not session.auth:
            return error_reply(request.id, REQUIRE_AUTH)
        params = request.params
        if len(params) != 4:
            return invalid_argument(request.id, f"params: expected 4, got {len(params)}")
        if not (params[0] is None or isinstance(params[0], str)):
            return invalid_argument(request.id, "market: must be a string or null")
        problem = integer_problem(params, ("side", "offset", "limit"), 1)
        if problem is not None:
            return invalid_argument(request.id, problem)
        body = orjson.dumps([session.user_id, *params])
        return self._forward(backend, CMD_ORDER_PENDING_STOP, body, request.id)

    def asset_query(self, session: Session, request: Request) -> Answer:
        if not session.auth:
            return error_reply(request.id, REQUIRE_AUTH)
        backend = self.backends.matchengine
        if not backend.connected:
            return error_reply(request.id, INTERNAL_ERROR)
        body = orjson.dumps([session.user_id, *request.params])
        return self._forward(backend, CMD_BALANCE_QUERY, body, request.id)

    def _history(self, command: int) -> Handler:
        backend = self.backends.readhistory

        def handle(session: Session, request: Request) -> Answer:
            if not backend.connected:
                return error_reply(request.id, INTERNAL_ERROR)
            if not session.auth:
                return error_reply(request.id, REQUIRE_AUTH)
            if len(request.params) != HISTORY_PARAMS:
                return invalid_argument(request.id, f"params: expected {HISTORY_PARAMS}, got {len(request.params)}")
            body = orjson.dumps([session.user_id, *request.params])
            return self._forward(backend, command, body, request.id)

        return handle

    # ------------------------------------------------------------ subscriptions

    def kline_subscribe(self, session: Session, request: Request) -> Answer:
        problem = self.feeds.kline.subscribe(session, request.params)
        if problem is not None:
            return invalid_argument(request.id, problem)
        return success(request.id)

    def depth_subscribe(self, session: Session, request: Request) -> Answer:
        depth = self.feeds.depth
        problem = depth.subscribe(session, request.params)
        if problem is not None:
            return invalid_argument(request.id, problem)
        session.send(success(request.id))
        depth.initial_push(session, request.params)
        return None

    @staticmethod
    def _list_subscribe(feed: MarketListFeed) -> Handler:
        def handle(session: Session, request: Request) -> Answer:
            problem = feed.subscribe(session, request.params)
            if problem is not None:
                return invalid_argument(request.id, problem)
            session.send(success(request.id))
            feed.initial_pushes(session, request.params)
            return None

        return handle

    @staticmethod
    def _unsubscribe(feed: PolledFeed[Any]) -> Handler:
        def handle(session: Session, request: Request) -> Answer:
            feed.unsubscribe(session)
            return success(request.id)

        return handle

    @staticmethod
    def _user_subscribe(subscriptions: UserSubscriptions, what: str) -> Handler:
        def handle(session: Session, request: Request) -> Answer:
            if not session.auth:
                return error_reply(request.id, REQUIRE_AUTH)
            problem = subscriptions.subscribe(session, request.params, what)
            if problem is not None:
                return invalid_argument(request.id, problem)
            return success(request.id)

        return handle

    @staticmethod
    def _user_unsubscribe(subscriptions: UserSubscriptions) -> Handler:
        def handle(session: Session, request: Request) -> Answer:
            if not session.auth:
                return error_reply(request.id, REQUIRE_AUTH)
            subscriptions.unsubscribe(session)
            return success(request.id)

        return handle
