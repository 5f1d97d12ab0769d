"""accessws at its edges: bad input, handshake rules, limits, unix sockets, idle and non-reading clients.

The accessws here runs with strict settings: an origin to match, small
frames (`max_pkg_size` 4096), a small output limit (`buf_limit` 2 blocks,
`write_mem` 4096), `keep_alive` 2 s, and a unix socket beside the TCP port.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import connect, unix_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin, Subprotocol

from tests.e2e.accessws_env import Exchange, WsClient, free_port, wait_backend
from tests.e2e.monitor_client import readyz, scrape, value

pytestmark = pytest.mark.timeout(60)

ORIGIN = Origin("https://www.example.com")
MAX_PKG_SIZE = 4096
KEEP_ALIVE = 2


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    workdir = Path(tmp_path_factory.mktemp("accessws_input"))
    env = Exchange(workdir, svr={
        "bind": [f"tcp@127.0.0.1:{free_port()}", f"stream@{workdir / 'accessws.sock'}"],
        "max_pkg_size": MAX_PKG_SIZE, "buf_limit": 2, "write_mem": 4096, "keep_alive": KEEP_ALIVE,
        "origin": "example.com", "protocol": "chat"}).start()
    yield env
    env.stop()


@pytest.fixture
async def ws(exchange: Exchange) -> AsyncIterator[WsClient]:
    client = await WsClient.open(exchange.url, origin=ORIGIN)
    await wait_backend(client)
    yield client
    await client.close()


def unix_path(exchange: Exchange) -> str:
    assert exchange.accessws is not None
    return next(b for b in exchange.accessws.config["svr"]["bind"] if b.startswith("stream@"))[len("stream@"):]


async def test_malformed_requests_are_answered_and_the_connection_stays(ws: WsClient) -> None:
    not_an_id = "request: id is not a 64-bit integer"
    cases = [("garbage", None, "request: not JSON"), ("[1, 2]", None, "request: not a JSON object"),
             ('{"id": "7", "method": "server.ping", "params": []}', None, not_an_id),
             ('{"id": 7.5, "method": "server.ping", "params": []}', None, not_an_id),
             ('{"id": 7, "method": 1, "params": []}', 7, "request: method is not a string"),
             ('{"id": 8, "method": "server.ping"}', 8, "request: params is not an array"),
             ('{"id": 9, "method": "server.ping", "params": {"a": 1}}', 9, "request: params is not an array")]
    for text, request_id, reason in cases:
        reply = await ws.call_raw(text, request_id)
        assert reply == {"error": {"code": 1, "message": "invalid argument", "data": reason}, "result": None,
                         "id": request_id}, text
    assert await ws.result("server.ping", []) == "pong"


async def test_unknown_method_and_ids(ws: WsClient) -> None:
    assert await ws.call("order.put_limit", [1], request_id=12) == {
        "error": {"code": 4, "message": "method not found"}, "result": None, "id": 12}
    for request_id in (-1, 0, 2 ** 63 - 1, -(2 ** 63)):
        assert (await ws.call("server.ping", [], request_id=request_id))["id"] == request_id
        reply = await ws.call("depth.query", ["BTCUSDT", 5, "0"], request_id=request_id)
        assert reply == {"error": None, "result": {"asks": [], "bids": []}, "id": request_id}


async def test_binary_frames_and_pings(ws: WsClient) -> None:
    reply = await ws.call_raw(b'{"id": 31, "method": "server.ping", "params": []}', 31)
    assert reply["result"] == "pong"
    latency = await asyncio.wait_for(await ws.connection.ping(b"hello"), 5)
    assert latency >= 0


async def test_a_message_larger_than_max_pkg_size_closes_the_connection(ws: WsClient) -> None:
    big = orjson.dumps({"id": 1, "method": "server.ping", "params": ["x" * MAX_PKG_SIZE]}).decode()
    await ws.send_raw(big)
    await asyncio.wait_for(ws.closed.wait(), 5)
    assert ws.connection.close_code == 1009


async def test_handshake_rules(exchange: Exchange) -> None:
    for origin in (None, Origin("https://evilexample.com"), Origin("https://example.com.evil.org")):
        with pytest.raises(InvalidStatus) as exc:
            await connect(exchange.url, origin=origin)
        assert exc.value.response.status_code == 403, origin
    chat, other = Subprotocol("chat"), Subprotocol("other")
    async with connect(exchange.url, origin=Origin("https://example.com"), subprotocols=[chat]) as conn:
        assert conn.subprotocol == "chat"
    async with connect(exchange.url, origin=ORIGIN, subprotocols=[other, chat]) as conn:
        assert conn.subprotocol == "chat"
    with pytest.raises(InvalidStatus) as exc:
        await connect(exchange.url, origin=ORIGIN, subprotocols=[other])
    assert exc.value.response.status_code == 400
    async with connect(exchange.url, origin=ORIGIN) as conn:
        assert conn.subprotocol is None
        assert conn.response is not None
        assert "Sec-WebSocket-Extensions" not in conn.response.headers  # never compressed

    key = base64.b64encode(os.urandom(16)).decode()
    port = int(exchange.url.rsplit(":", 1)[1].strip("/"))
    for request in (f"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                    f"Sec-WebSocket-Version: 13\r\nOrigin: {ORIGIN}\r\n\r\n",
                    f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 8\r\nOrigin: {ORIGIN}\r\n\r\n",
                    f"POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {ORIGIN}\r\n\r\n"):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request.encode())
        status = await asyncio.wait_for(reader.readline(), 5)
        assert status.startswith(b"HTTP/1.1 4"), (request, status)
        writer.close()


async def test_unix_socket_and_monitor_port(exchange: Exchange) -> None:
    async with unix_connect(unix_path(exchange), uri="ws://localhost/", origin=ORIGIN) as conn:
        await conn.send('{"id": 5, "method": "server.ping", "params": []}')
        assert orjson.loads(await asyncio.wait_for(conn.recv(), 5)) == {"error": None, "result": "pong", "id": 5}
    assert exchange.accessws is not None
    monitor = int(exchange.accessws.config["monitor"]["bind"].rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", monitor)
    writer.write(b"GET /healthz HTTP/1.0\r\n\r\n")
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)  # answered, then closed
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b'{"healthy":true}\n')
    writer.close()


async def test_idle_connections_are_closed(exchange: Exchange) -> None:
    idle = await WsClient.open(exchange.url, origin=ORIGIN)
    active = await WsClient.open(exchange.url, origin=ORIGIN)
    try:
        started = time.monotonic()
        while not idle.closed.is_set() and time.monotonic() - started < 3 * KEEP_ALIVE + 1:
            assert await active.result("server.ping", []) == "pong"
            await asyncio.sleep(0.4)
        assert idle.closed.is_set()
        assert KEEP_ALIVE <= time.monotonic() - started <= 2 * KEEP_ALIVE + 1
        assert not active.closed.is_set()
        assert await active.result("server.ping", []) == "pong"
    finally:
        await idle.close()
        await active.close()


async def test_a_client_that_never_reads_is_dropped(exchange: Exchange, ws: WsClient) -> None:
    assert exchange.accessws is not None
    monitor = int(exchange.accessws.config["monitor"]["bind"].rsplit(":", 1)[1])
    dropped_before = value(await asyncio.to_thread(scrape, monitor), "viabtc_accessws_slow_readers_dropped_total")
    port = int(exchange.url.rsplit(":", 1)[1].strip("/"))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    stalled = await connect(exchange.url, sock=sock, origin=ORIGIN, max_queue=1)
    request = orjson.dumps({"id": 1, "method": "depth.query", "params": ["BTCUSDT", 50, "0"]}).decode()
    try:
        with pytest.raises(ConnectionClosed):
            for _ in range(3000):
                await stalled.send(request)
            await asyncio.sleep(0.5)
            while True:
                await asyncio.wait_for(stalled.recv(), 5)
    finally:
        await stalled.close()
    assert exchange.accessws is not None
    exchange.accessws.wait_log_line("does not read")
    assert await ws.result("server.ping", []) == "pong"  # the server carries on
    dropped = value(await asyncio.to_thread(scrape, monitor), "viabtc_accessws_slow_readers_dropped_total")
    assert dropped == dropped_before + 1


async def test_the_monitor_counts_requests_connections_and_subscriptions(exchange: Exchange, ws: WsClient) -> None:
    assert exchange.accessws is not None
    monitor = int(exchange.accessws.config["monitor"]["bind"].rsplit(":", 1)[1])
    before = await asyncio.to_thread(scrape, monitor)
    other = await WsClient.open(exchange.url, origin=ORIGIN)
    try:
        for _ in range(3):
            assert await ws.result("server.ping", []) == "pong"
        assert (await ws.error("no.such_method", []))[0] == 4
        await ws.result("price.subscribe", ["BTCUSDT"])
        after = await asyncio.to_thread(scrape, monitor)
    finally:
        await other.close()

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("viabtc_accessws_ws_requests_total", method="server.ping") == 3
    assert grew("viabtc_accessws_ws_errors_total", method="server.ping") == 0
    assert grew("viabtc_accessws_ws_errors_total", method="(unknown)", code="4") == 1
    assert value(after, "viabtc_accessws_connections") >= 2
    assert value(after, "viabtc_accessws_subscriptions", family="price") >= 1
    assert grew("viabtc_accessws_frames_sent_total") >= 5
    status, body = await asyncio.to_thread(readyz, monitor)
    # this exchange runs no marketprice and no readhistory: /readyz names them, and only them
    assert (status, body) == (503, {"ready": False, "not_ready": ["marketprice", "readhistory"]})
