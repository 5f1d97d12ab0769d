"""accessws's auth client against endpoints that are down or never answer: bounded, with the spec's errors."""

from __future__ import annotations

import asyncio
import time

import pytest

from accessws.auth import Authenticator
from common.errors import RpcError
from tests.support import free_port


async def expect_error(call: object, code: int, within: float) -> None:
    started = time.monotonic()
    with pytest.raises(RpcError) as exc:
        await call  # type: ignore[misc]
    assert exc.value.code == code
    assert time.monotonic() - started < within


async def test_endpoint_down_is_internal_error_at_once() -> None:
    url = f"http://127.0.0.1:{free_port()}/auth"
    auth = Authenticator(url, url, timeout=2.0)
    await auth.start()
    try:
        await expect_error(auth.auth("token"), 2, within=1.0)
        await expect_error(auth.sign("id", "sig", 1), 2, within=1.0)
    finally:
        await auth.close()


async def test_endpoint_that_accepts_and_never_answers_is_a_timeout() -> None:
    connections: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        await reader.read(65536)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    auth = Authenticator(f"http://127.0.0.1:{port}/auth", f"http://127.0.0.1:{port}/sign", timeout=0.3)
    await auth.start()
    try:
        await expect_error(auth.auth("token"), 5, within=0.8)
        # more requests than the pool allows: the queued ones time out too, none hangs
        started = time.monotonic()
        results = await asyncio.gather(*(auth.auth(f"t{i}") for i in range(25)), return_exceptions=True)
        assert all(isinstance(r, RpcError) and r.code == 5 for r in results)
        assert time.monotonic() - started < 0.8
    finally:
        await auth.close()
        for writer in connections:
            writer.close()
        server.close()
