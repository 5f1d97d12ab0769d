"""The market list: `market.list` from accesshttp, or from the matchengine — at start and whenever asked again.

The original POSTs ``{"method": "market.list", "params": [], "id": <unix
time>}`` to the `accesshttp` URL with a 1 s timeout and exits when that
fails (spec/marketprice.md §5.3).  The port keeps asking, with a growing
delay and one log line per failed try, until it gets an answer or is told to
stop.  With a `matchengine` client in the config it asks the engine directly
(RPC command 307), which is what accesshttp would forward the call to.

`MarketListSource` keeps its connection (an RPC client, or an HTTP session)
for the life of the daemon: markets added to the engine while marketprice
runs are learned by asking again (`refresh.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import orjson

from common.config import ClientConfig
from common.rpc import RpcClient

log = logging.getLogger(__name__)

CMD_MARKET_LIST = 307
REQUEST_TIMEOUT = 1.0
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)


class MarketListError(Exception):
    """The market list could not be had this time."""


def market_names(result: Any) -> list[str]:
    """The `name` of every market of a `market.list` result."""
    if not isinstance(result, list):
        raise MarketListError(f"market.list result is not an array: {result!r:.200}")
    names = []
    for item in result:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            raise MarketListError(f"market.list item without a name: {item!r:.200}")
        names.append(name)
    return names


class MarketListSource:
    """Asks `market.list` of the matchengine (when a client config is given) or of accesshttp's URL."""

    def __init__(self, accesshttp: str, matchengine: ClientConfig | None) -> None:
        self.accesshttp = accesshttp
        self.client = RpcClient(matchengine) if matchengine is not None else None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self.client is not None:
            await self.client.start()

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
        if self._session is not None:
            await self._session.close()

    async def names(self) -> list[str]:
        """The market names, asked once; MarketListError when that failed."""
        if self.client is not None:
            return await self._from_matchengine(self.client)
        return await self._from_accesshttp()

    async def _from_accesshttp(self) -> list[str]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT))
        url = self.accesshttp
        body = orjson.dumps({"method": "market.list", "params": [], "id": int(time.time())})
        try:
            async with self._session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise MarketListError(f"POST {url}: {exc!r}") from None
        try:
            reply = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise MarketListError(f"POST {url}: the reply is not JSON: {raw[:200]!r}") from None
        if not isinstance(reply, dict) or reply.get("error") is not None:
            raise MarketListError(f"POST {url}: error reply {reply!r:.200}")
        return market_names(reply.get("result"))

    @staticmethod
    async def _from_matchengine(client: RpcClient) -> list[str]:
        if not await client.wait_connected(REQUEST_TIMEOUT):
            raise MarketListError(f"matchengine {client.name} is not connected")
        try:
            result = await client.call_json(CMD_MARKET_LIST, [], req_id=int(time.time()), timeout=REQUEST_TIMEOUT)
        except Exception as exc:
            raise MarketListError(f"matchengine market.list: {exc!r}") from None
        return market_names(result)


async def fetch_market_names(source: MarketListSource, stopping: asyncio.Event) -> list[str] | None:
    """The market names, asking until it works; None when `stopping` was set first."""
    attempt = 0
    while not stopping.is_set():
        try:
            return await source.names()
        except MarketListError as exc:
            delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
            log.error("get market list fail (try %d): %s; retrying in %.1f s", attempt + 1, exc, delay)
            attempt += 1
            try:
                await asyncio.wait_for(stopping.wait(), delay)
            except TimeoutError:
                pass
    return None
