"""The three backends accessws talks to over the binary RPC, and what a failed call means to a client.

`Backend.forward` sends a client's params with the client's request id as
the RPC `req_id` and returns the backend's reply body untouched (it already
reads ``{"error", "result", "id": <client id>}``).  `Backend.query` is the
same call for the server's own polls and balance look-ups: it returns the
reply's `result` and raises `RpcError` for an error object.

A backend that is not connected, or whose connection closes under the call,
is error 2 "internal error"; no reply within `backend_timeout` is error 5
"service timeout" (spec/websocket-api.md §3.3).  Params whose frame would
exceed the backend's `request_limit` are refused with error 1 before they
reach it: the backends drop the whole connection on an oversized frame
(matchengine accepts 10 KiB), which would fail every other call in flight.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from common.errors import INTERNAL_ERROR, INVALID_ARGUMENT, SERVICE_TIMEOUT, RpcError
from common.rpc import RpcClient, RpcTimeout, RpcUnavailable
from common.rpc.codec import HEADER_SIZE

from .config import BackendConfig

CMD_BALANCE_QUERY = 101
CMD_BALANCE_HISTORY = 103
CMD_ORDER_QUERY = 203
CMD_ORDER_BOOK_DEPTH = 206
CMD_ORDER_HISTORY = 208
CMD_ORDER_PENDING_STOP = 214
CMD_MARKET_STATUS = 301
CMD_MARKET_KLINE = 302
CMD_MARKET_DEALS = 303
CMD_MARKET_LAST = 304
CMD_MARKET_STATUS_TODAY = 305


class Backend:
    """One RPC client plus the timeout every call through it gets."""

    def __init__(self, config: BackendConfig, timeout: float) -> None:
        self.name = config.client.name
        self.client = RpcClient(config.client)
        self.timeout = timeout
        self.body_limit = config.request_limit - HEADER_SIZE

    @property
    def connected(self) -> bool:
        return self.client.connected

    async def start(self) -> None:
        await self.client.start()

    async def close(self) -> None:
        await self.client.close()

    async def forward(self, command: int, body: bytes, request_id: int) -> bytes:
        """The backend's reply body to `body` (the JSON params), for the client whose request id is `request_id`."""
        if len(body) > self.body_limit:
            raise RpcError(INVALID_ARGUMENT, None, f"params: more than the {self.body_limit} bytes {self.name} takes")
        try:
            return await self.client.call(command, body, req_id=request_id, timeout=self.timeout)
        except RpcUnavailable:
            raise RpcError(INTERNAL_ERROR) from None
        except RpcTimeout:
            raise RpcError(SERVICE_TIMEOUT) from None

    async def query(self, command: int, params: list[Any]) -> Any:
        """The `result` of a call; RpcError for an error reply, RpcUnavailable / RpcTimeout pass through."""
        return await self.client.call_json(command, params, timeout=self.timeout)


class Backends:
    def __init__(self, matchengine: Backend, marketprice: Backend, readhistory: Backend) -> None:
        self.matchengine = matchengine
        self.marketprice = marketprice
        self.readhistory = readhistory

    def all(self) -> tuple[Backend, Backend, Backend]:
        return self.matchengine, self.marketprice, self.readhistory


CACHE_CLEAR_INTERVAL = 60.0
CACHE_MAX_ENTRIES = 10_000


class QueryCache:
    """Results of the pass-through queries (§5.2), keyed by command and params, kept `ttl` seconds.

    Expired entries are dropped on lookup and everything every 60 s, as the
    original; the entry count is also bounded (the original's is not), so
    a client cycling through distinct params cannot grow it for a minute.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[int, bytes], tuple[float, orjson.Fragment]] = {}
        self._cleared_at = time.monotonic()

    def get(self, key: tuple[int, bytes]) -> orjson.Fragment | None:
        now = time.monotonic()
        if now - self._cleared_at >= CACHE_CLEAR_INTERVAL:
            self._entries.clear()
            self._cleared_at = now
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now - entry[0] >= self.ttl:
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: tuple[int, bytes], result: orjson.Fragment) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= CACHE_MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (time.monotonic(), result)

    def __len__(self) -> int:
        return len(self._entries)
