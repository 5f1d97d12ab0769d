"""`server.auth` and `server.sign`: asking the external HTTP endpoints who a client is (§6).

`auth_url` checks a web token, `sign_url` an API key signature; both answer
``{"code": 0, "message": null, "data": {"user_id": <id>}}`` on success.  Each
request runs under `backend_timeout` as a whole — connect, send, wait, read —
so a slow endpoint costs the client at most that long and yields error 5; a
transport failure or a malformed reply yields error 2, a refusal (non-zero
`code`) error 11 carrying the endpoint's message.  There is no cache: every
call asks the endpoint, as the original.  Concurrency per endpoint is capped
like the original's thread pools (10 for auth, 5 for sign); requests queued
behind the cap count against the same timeout.

One deviation: a `code` that is not an integer is a malformed reply
(error 2).  The original reads it as 0 — success — so an endpoint answering
``{"code": "1", ..., "data": {"user_id": 5}}`` would log the client in.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from yarl import URL

from common.errors import INTERNAL_ERROR, SERVICE_TIMEOUT, RpcError

log = logging.getLogger(__name__)

AUTH_CONCURRENCY = 10
SIGN_CONCURRENCY = 5
MAX_REPLY_BYTES = 64 * 1024
UINT32_MAX = 0xFFFFFFFF
AUTH_REFUSED = 11


class Authenticator:
    def __init__(self, auth_url: str, sign_url: str, timeout: float) -> None:
        self.auth_url = auth_url
        self.sign_url = sign_url
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._auth_slots = asyncio.Semaphore(AUTH_CONCURRENCY)
        self._sign_slots = asyncio.Semaphore(SIGN_CONCURRENCY)

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=AUTH_CONCURRENCY + SIGN_CONCURRENCY)
        self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def auth(self, token: str) -> int:
        """The user id `auth_url` gives for `token`; RpcError otherwise."""
        headers = {"Authorization": token, "Accept-Language": "en_US", "Content-Type": "application/json"}
        return await self._ask(URL(self.auth_url), headers, self._auth_slots)

    async def sign(self, access_id: str, authorisation: str, tonce: int) -> int:
        """The user id `sign_url` gives for an API key request; RpcError otherwise."""
        url = URL(f"{self.sign_url}?access_id={quote(access_id, safe='')}&tonce={tonce}", encoded=True)
        headers = {"Authorization": authorisation, "Accept-Language": "en_US", "Content-Type": "application/json"}
        return await self._ask(url, headers, self._sign_slots)

    async def _ask(self, url: URL, headers: dict[str, str], slots: asyncio.Semaphore) -> int:
        session = self._session
        if session is None:
            raise RpcError(INTERNAL_ERROR)
        try:
            async with asyncio.timeout(self.timeout):
                async with slots:
                    body = await _fetch(session, url, headers)
        except TimeoutError:
            log.error("auth endpoint %s: no answer within %.3f s", url.with_query(None), self.timeout)
            raise RpcError(SERVICE_TIMEOUT) from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            log.critical("auth endpoint %s: request failed: %s", url.with_query(None), exc)
            raise RpcError(INTERNAL_ERROR) from None
        return user_id_of(body, str(url.with_query(None)))


async def _fetch(session: aiohttp.ClientSession, url: URL, headers: dict[str, str]) -> bytes:
    async with session.get(url, headers=headers, allow_redirects=False) as response:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(16384):
            size += len(chunk)
            if size > MAX_REPLY_BYTES:
                raise ValueError(f"reply larger than {MAX_REPLY_BYTES} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def user_id_of(body: bytes, endpoint: str) -> int:
    """Read an endpoint's reply: the user id, or the RpcError the client gets (§6.1 step 4)."""
    try:
        reply: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        log.error("auth endpoint %s: reply is not JSON: %r", endpoint, body[:200])
        raise RpcError(INTERNAL_ERROR) from None
    if not isinstance(reply, dict) or "code" not in reply:
        log.critical("auth endpoint %s: invalid reply: %r", endpoint, body[:200])
        raise RpcError(INTERNAL_ERROR)
    code = reply["code"]
    if type(code) is not int:
        log.critical("auth endpoint %s: invalid reply, code is not an integer: %r", endpoint, body[:200])
        raise RpcError(INTERNAL_ERROR)
    if code != 0:
        message = reply.get("message")
        if not isinstance(message, str):
            log.error("auth endpoint %s: refusal without a message: %r", endpoint, body[:200])
            raise RpcError(INTERNAL_ERROR)
        raise RpcError(AUTH_REFUSED, message)
    data = reply.get("data")
    user_id = data.get("user_id") if isinstance(data, dict) else None
    if type(user_id) is not int or not 0 < user_id <= UINT32_MAX:
        log.error("auth endpoint %s: reply without a valid data.user_id: %r", endpoint, body[:200])
        raise RpcError(INTERNAL_ERROR)
    return user_id
