"""RpcServer and RpcClient over real sockets on 127.0.0.1 and unix paths, under asyncio and uvloop.

Every test runs once per event loop: the stdlib loop and uvloop (production).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
import uvloop

from common.config import Address, ClientConfig, ServerConfig, parse_address
from common.errors import RpcError, invalid_argument
from common.rpc import (
    HEADER,
    MAGIC,
    PKG_REPLY,
    Frame,
    FrameDecoder,
    Handler,
    RpcClient,
    RpcServer,
    RpcTimeout,
    RpcUnavailable,
    decode_packet,
    encode_frame,
    encode_heartbeat_reply,
    encode_heartbeat_request,
    heartbeat_body,
)

T = TypeVar("T")
Runner = Callable[[Coroutine[Any, Any, T]], T]

LOOP_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}

HEARTBEAT_REPLY_BYTES = bytes.fromhex(
    "62656570 00000000 0100 00000000 c03c3287 00000000 0000000000000000 00000000 0000")


@pytest.fixture(params=sorted(LOOP_FACTORIES))
def run(request: pytest.FixtureRequest) -> Iterator[Runner[Any]]:
    factory = LOOP_FACTORIES[request.param]

    def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(asyncio.wait_for(coro, 60))

    yield run_coroutine


def echo(params: list[Any]) -> Any:
    return params


@contextlib.asynccontextmanager
async def rpc_server(handlers: dict[int, Handler], *, bind: Iterable[str] = ("tcp@127.0.0.1:0",),
                     max_pkg_size: int = 10240, heartbeat_check: bool = False, buf_limit: int = 0,
                     debug: bool = False) -> AsyncIterator[RpcServer]:
    config = ServerConfig(bind=[parse_address(a) for a in bind], max_pkg_size=max_pkg_size,
                          buf_limit=buf_limit, heartbeat_check=heartbeat_check)
    server = RpcServer(config, handlers, debug=debug, name="test-rpc")
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def client_config(addresses: Iterable[Address], *, reconnect_timeout: float = 0.2,
                  heartbeat_timeout: float = 3.0, max_pkg_size: int = 2_000_000) -> ClientConfig:
    return ClientConfig(name="test", addr=list(addresses), max_pkg_size=max_pkg_size,
                        reconnect_timeout=reconnect_timeout, heartbeat_timeout=heartbeat_timeout)


@contextlib.asynccontextmanager
async def rpc_client(addresses: Iterable[Address], *, connect: bool = True, **options: Any) -> AsyncIterator[RpcClient]:
    client = RpcClient(client_config(addresses, **options))
    await client.start()
    try:
        if connect:
            assert await client.wait_connected(5)
        yield client
    finally:
        await client.close()


def tcp(server: RpcServer) -> Address:
    return next(a for a in server.bound_addresses if a.kind == "tcp")


async def open_raw(address: Address) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(address.host, address.port)


async def read_frames(reader: asyncio.StreamReader, count: int, timeout: float = 5.0) -> list[Frame]:
    decoder = FrameDecoder(10_000_000)
    frames: list[Frame] = []
    async with asyncio.timeout(timeout):
        while len(frames) < count:
            data = await reader.read(65536)
            assert data, "connection closed early"
            frames.extend(decoder.feed(data))
    return frames


async def closed_by_peer(reader: asyncio.StreamReader, timeout: float) -> bool:
    """True when the peer closed the connection within `timeout` seconds (data before EOF is skipped)."""
    try:
        async with asyncio.timeout(timeout):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return True


async def eventually(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return predicate()


def reply_json(frame: Frame) -> dict[str, Any]:
    value = orjson.loads(frame.body)
    assert isinstance(value, dict)
    return value


def free_tcp_address() -> Address:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return Address("tcp", host="127.0.0.1", port=sock.getsockname()[1])


class RawBackend:
    """A hand-written frame server that records what the client sends and answers as told."""

    def __init__(self, *, answer_heartbeats: bool = True, hold: Iterable[int] = ()) -> None:
        self.answer_heartbeats = answer_heartbeats
        self.hold = set(hold)
        self.frames: list[Frame] = []
        self.held: list[tuple[asyncio.StreamWriter, Frame]] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.address = Address("tcp")

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.address = Address("tcp", host="127.0.0.1", port=self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()

    @staticmethod
    def answer(writer: asyncio.StreamWriter, frame: Frame, result: Any) -> None:
        body = orjson.dumps({"error": None, "result": result, "id": frame.signed_req_id})
        writer.write(encode_frame(frame.command + 1000, PKG_REPLY, frame.sequence, frame.req_id, body))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        decoder = FrameDecoder(1 << 20)
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                for frame in decoder.feed(data):
                    self.frames.append(frame)
                    if frame.command == 0:
                        if self.answer_heartbeats:
                            writer.write(encode_heartbeat_reply(frame))
                    elif frame.command in self.hold:
                        self.held.append((writer, frame))
                    else:
                        self.answer(writer, frame, frame.sequence)


# ------------------------------------------------------------------ calls and replies

def test_many_concurrent_calls_on_one_connection(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with rpc_server({101: lambda p: {"n": p[0], "s": p[1]}}) as server, \
                rpc_client([tcp(server)]) as client:
            results = await asyncio.gather(*(client.call_json(101, [i, "x" * (i % 50)], req_id=i, timeout=10)
                                             for i in range(3000)))
            assert results == [{"n": i, "s": "x" * (i % 50)} for i in range(3000)]
            assert server.connection_count == 1
            assert client.pending_count == 0
    run(scenario())


def test_reply_body_and_signed_id(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with rpc_server({101: echo}) as server, rpc_client([tcp(server)]) as client:
            assert await client.call(101, b'[1, "BTC"]', req_id=1234, timeout=5) == \
                b'{"error":null,"result":[1,"BTC"],"id":1234}'
            assert orjson.loads(await client.call(101, b"[]", req_id=-7, timeout=5))["id"] == -7
            assert orjson.loads(await client.call(101, b"[]", req_id=-(2**63), timeout=5))["id"] == -(2**63)
    run(scenario())


def test_raw_request_gets_reply_with_copied_header(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with rpc_server({101: echo}) as server:
            reader, writer = await open_raw(tcp(server))
            request = encode_frame(101, 1, 77, 2**64 - 2, b"[1]", b"EXT", result=9)
            writer.write(request)
            (reply,) = await read_frames(reader, 1)
            assert reply == Frame(101, PKG_REPLY, 9, 77, 2**64 - 2, b"EXT", reply.body)
            assert reply_json(reply) == {"error": None, "result": [1], "id": -2}
            writer.close()
    run(scenario())


def test_awaitable_replies_out_of_order(run: Runner[None]) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any]] = []

        def deferred(params: list[Any]) -> asyncio.Future[Any]:
            future = loop.create_future()
            futures.append(future)
            return future

        async def sleeper(params: list[Any]) -> Any:
            await asyncio.sleep(params[0])
            return params[0]

        async with rpc_server({101: deferred, 102: sleeper, 103: echo}) as server:
            reader, writer = await open_raw(tcp(server))
            writer.write(b"".join(encode_frame(101, 0, seq, seq, orjson.dumps([seq])) for seq in (1, 2, 3)))
            writer.write(encode_frame(103, 0, 4, 4, b"[4]"))
            (sync_reply,) = await read_frames(reader, 1)
            assert sync_reply.sequence == 4
            assert len(futures) == 3
            for value, future in zip((30, 20, 10), reversed(futures), strict=True):
                future.set_result(value)
            replies = await read_frames(reader, 3)
            assert [(f.sequence, reply_json(f)["result"]) for f in replies] == [(3, 30), (2, 20), (1, 10)]
            writer.close()

            async with rpc_client([tcp(server)]) as client:
                order: list[float] = []

                async def timed(delay: float) -> None:
                    order.append(await client.call_json(102, [delay], timeout=5))

                await asyncio.gather(*(timed(d) for d in (0.3, 0.2, 0.1, 0.0)))
                assert order == [0.0, 0.1, 0.2, 0.3]
    run(scenario())


def test_rpc_errors(run: Runner[None], caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        def refuse(params: list[Any]) -> Any:
            raise RpcError(10, "balance not enough")

        async def refuse_later(params: list[Any]) -> Any:
            await asyncio.sleep(0)
            raise RpcError(3)

        def crash(params: list[Any]) -> Any:
            raise ZeroDivisionError("boom")

        async def crash_later(params: list[Any]) -> Any:
            await asyncio.sleep(0)
            raise KeyError("later boom")

        handlers: dict[int, Handler] = {101: refuse, 102: refuse_later, 103: crash, 104: crash_later,
                                        105: echo, 106: lambda p: object()}
        async with rpc_server(handlers) as server, rpc_client([tcp(server)]) as client:
            assert orjson.loads(await client.call(101, b"[]", req_id=5, timeout=5)) == \
                {"error": {"code": 10, "message": "balance not enough"}, "result": None, "id": 5}
            for command, code, message in [(101, 10, "balance not enough"), (102, 3, "service unavailable"),
                                           (103, 2, "internal error"), (104, 2, "internal error"),
                                           (106, 2, "internal error")]:
                with pytest.raises(RpcError) as info:
                    await client.call_json(command, [], timeout=5)
                assert (info.value.code, info.value.message) == (code, message)
            assert await client.call_json(105, ["still", "served"], timeout=5) == ["still", "served"]
            assert server.connection_count == 1
    with caplog.at_level(logging.ERROR, logger="test-rpc"):
        run(scenario())
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "ZeroDivisionError" in logged and "later boom" in logged


def test_error_reason_travels_as_data(run: Runner[None]) -> None:
    """An error's reason is the error object's `data`, beside the code and message clients match on."""
    async def scenario() -> None:
        def refuse(params: list[Any]) -> Any:
            raise invalid_argument("amount: must be a positive decimal")

        async def refuse_later(params: list[Any]) -> Any:
            await asyncio.sleep(0)
            raise invalid_argument("market: unknown market 'NOPE'")

        async with rpc_server({101: refuse, 102: refuse_later}) as server, rpc_client([tcp(server)]) as client:
            assert orjson.loads(await client.call(101, b"[]", req_id=7, timeout=5)) == {
                "error": {"code": 1, "message": "invalid argument", "data": "amount: must be a positive decimal"},
                "result": None, "id": 7}
            with pytest.raises(RpcError) as info:
                await client.call_json(102, [], timeout=5)
            assert info.value.to_json() == {"code": 1, "message": "invalid argument",
                                            "data": "market: unknown market 'NOPE'"}
    run(scenario())


def test_unknown_command_is_method_not_found(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with rpc_server({101: echo}) as server, rpc_client([tcp(server)]) as client:
            assert orjson.loads(await client.call(999, b"[]", req_id=3, timeout=5)) == \
                {"error": {"code": 4, "message": "method not found"}, "result": None, "id": 3}
            assert await client.call_json(101, [1], timeout=5) == [1]
            assert server.connection_count == 1
    run(scenario())


@pytest.mark.parametrize("body", [b'{"a": 1}', b"1", b'"text"', b"null", b"[1,", b"", b"\xff\xfe", b"[1] x"])
def test_bad_body_is_invalid_argument(run: Runner[None], body: bytes) -> None:
    async def scenario() -> None:
        called: list[Any] = []

        def handler(params: list[Any]) -> Any:
            called.append(params)
            return "ok"

        async with rpc_server({101: handler}) as server, rpc_client([tcp(server)]) as client:
            reply = orjson.loads(await client.call(101, body, req_id=8, timeout=5))
            assert reply == {"error": {"code": 1, "message": "invalid argument", "data": "params: must be a JSON array"},
                             "result": None, "id": 8}
            assert called == []
            assert await client.call_json(101, [], timeout=5) == "ok"
            assert server.connection_count == 1
    run(scenario())


def test_debug_replies_are_indented(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with rpc_server({101: echo, 102: lambda p: 1 / 0}, debug=True) as server, \
                rpc_client([tcp(server)]) as client:
            body = await client.call(101, '[1, "é"]'.encode(), req_id=7, timeout=5)
            assert body == '{\n    "error": null,\n    "result": [\n        1,\n        "é"\n    ],\n    "id": 7\n}'.encode()
            assert body == json.dumps({"error": None, "result": [1, "é"], "id": 7}, indent=4,
                                      ensure_ascii=False).encode()
            error_body = await client.call(102, b"[]", req_id=-1, timeout=5)
            assert error_body == json.dumps({"error": {"code": 2, "message": "internal error"}, "result": None,
                                             "id": -1}, indent=4).encode()
    run(scenario())


# ------------------------------------------------------------------ broken frames and limits

def test_bad_crc_closes_only_that_connection(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with rpc_server({101: echo}) as server, rpc_client([tcp(server)]) as client:
            reader, writer = await open_raw(tcp(server))
            good = encode_frame(101, 0, 1, 1, b"[1]")
            writer.write(good)
            assert (await read_frames(reader, 1))[0].sequence == 1
            bad = bytearray(encode_frame(101, 0, 2, 2, b"[2]"))
            bad[-2] ^= 0xFF
            writer.write(bytes(bad))
            assert await closed_by_peer(reader, 5)
            assert await eventually(lambda: server.connection_count == 1, 5)
            assert await client.call_json(101, ["alive"], timeout=5) == ["alive"]
            reader2, writer2 = await open_raw(tcp(server))
            writer2.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b" " * 20)
            assert await closed_by_peer(reader2, 5)
            assert await client.call_json(101, ["still"], timeout=5) == ["still"]
    run(scenario())


def test_frames_before_a_broken_one_are_answered(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with rpc_server({101: echo}) as server:
            reader, writer = await open_raw(tcp(server))
            writer.write(encode_frame(101, 0, 1, 1, b"[1]") + encode_frame(101, 0, 2, 2, b"[2]") + b"NOPE" * 9)
            (first, second) = await read_frames(reader, 2)
            assert (first.sequence, second.sequence) == (1, 2)
            assert await closed_by_peer(reader, 5)
    run(scenario())


def test_oversized_frame_closes_the_connection(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with rpc_server({101: echo}, max_pkg_size=1024) as server:
            reader, writer = await open_raw(tcp(server))
            body = orjson.dumps(["x" * (1024 - 36 - 4)])
            assert len(body) == 1024 - 36
            writer.write(encode_frame(101, 0, 1, 1, body))
            (reply,) = await read_frames(reader, 1)
            assert reply_json(reply)["result"] == ["x" * 984]
            writer.write(HEADER.pack(MAGIC, 101, 0, 0, 0, 2, 2, 1024 - 35, 0))
            assert await closed_by_peer(reader, 5)
            assert await eventually(lambda: server.connection_count == 0, 5)
    run(scenario())


def test_write_backlog_limit_closes_a_reader_that_does_not_read(run: Runner[None]) -> None:
    async def scenario() -> None:
        big = "y" * 200_000
        async with rpc_server({101: lambda p: big}, max_pkg_size=1024, buf_limit=2) as server:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect((tcp(server).host, tcp(server).port))
            sock.setblocking(False)
            assert await eventually(lambda: server.connection_count == 1, 5)
            loop = asyncio.get_running_loop()
            await loop.sock_sendall(sock, b"".join(encode_frame(101, 0, i, i, b"[]") for i in range(1, 200)))
            assert await eventually(lambda: server.connection_count == 0, 10)
            sock.close()
    run(scenario())


# ------------------------------------------------------------------ heartbeats

def test_heartbeat_reply_bytes(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with rpc_server({}) as server:
            reader, writer = await open_raw(tcp(server))
            writer.write(encode_heartbeat_request(3.0))
            async with asyncio.timeout(5):
                assert await reader.readexactly(36) == HEARTBEAT_REPLY_BYTES
            writer.write(encode_frame(0, 1, 5, 6, b"", b"xt"))
            (reply,) = await read_frames(reader, 1)
            assert reply == Frame(0, PKG_REPLY, 0, 5, 6, b"xt", b"")
            writer.close()
    run(scenario())


@pytest.mark.parametrize("body", [heartbeat_body(3.0) + b"\x09\x00\x00\x00", b"\x01\x00\x02\x00\xb8\x0b",
                                  b"\x01\x00"])
def test_bad_heartbeat_body_closes_the_connection(run: Runner[None], body: bytes) -> None:
    async def scenario() -> None:
        async with rpc_server({}) as server:
            reader, writer = await open_raw(tcp(server))
            writer.write(encode_frame(0, 0, 0, 0, body))
            async with asyncio.timeout(5):
                assert await reader.read(100) == b""
    run(scenario())


def test_heartbeat_check_drops_silent_clients(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with rpc_server({101: echo}, heartbeat_check=True) as server, \
                rpc_client([tcp(server)]) as client:
            short_reader, short_writer = await open_raw(tcp(server))
            short_writer.write(encode_heartbeat_request(2.0))
            long_reader, long_writer = await open_raw(tcp(server))
            long_writer.write(encode_heartbeat_request(600.0))
            silent_reader, _ = await open_raw(tcp(server))
            started = time.monotonic()
            assert len(await read_frames(short_reader, 1)) == 1
            assert await closed_by_peer(short_reader, 5)
            assert 1.9 < time.monotonic() - started < 3.6
            assert await closed_by_peer(silent_reader, 3)
            assert 2.9 < time.monotonic() - started < 4.6
            assert len(await read_frames(long_reader, 1)) == 1
            assert not await closed_by_peer(long_reader, 0.2)
            assert client.connected
            assert await client.call_json(101, ["alive"], timeout=5) == ["alive"]
            assert server.connection_count == 2
    run(scenario())


def test_no_heartbeat_check_keeps_silent_clients(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with rpc_server({}, heartbeat_check=False) as server:
            reader, _ = await open_raw(tcp(server))
            assert not await closed_by_peer(reader, 3.6)
            assert server.connection_count == 1
    run(scenario())


def test_client_sends_heartbeats_and_reconnects_when_unanswered(run: Runner[None]) -> None:
    async def scenario() -> None:
        backend = RawBackend(answer_heartbeats=False)
        await backend.start()
        try:
            async with rpc_client([backend.address], heartbeat_timeout=2.0, reconnect_timeout=10) as client:
                assert await eventually(lambda: backend.connections == 2, 6)
                heartbeats = [f for f in backend.frames if f.command == 0]
                assert len(heartbeats) >= 1
                assert all(f.body == heartbeat_body(2.0) and f.sequence == 0 and f.req_id == 0
                           for f in heartbeats)
                assert await client.wait_connected(2)
        finally:
            await backend.close()
    run(scenario())


def test_client_stays_connected_while_heartbeats_are_answered(run: Runner[None]) -> None:
    async def scenario() -> None:
        backend = RawBackend()
        await backend.start()
        try:
            async with rpc_client([backend.address], heartbeat_timeout=2.0) as client:
                await asyncio.sleep(3.5)
                assert backend.connections == 1
                assert client.connected
                assert sum(f.command == 0 for f in backend.frames) >= 3
        finally:
            await backend.close()
    run(scenario())


# ------------------------------------------------------------------ client behaviour

def test_replies_matched_by_sequence_only_and_strays_dropped(run: Runner[None]) -> None:
    async def scenario() -> None:
        backend = RawBackend(hold={7})
        await backend.start()
        try:
            async with rpc_client([backend.address]) as client:
                first = await client.call_json(101, [], timeout=5)
                assert first == 1
                held = asyncio.ensure_future(client.call_json(7, ["held"], timeout=5))
                assert await eventually(lambda: len(backend.held) == 1, 5)
                writer, frame = backend.held[0]
                assert frame.sequence == 2
                backend.answer(writer, frame, "matched")
                stray = Frame(frame.command, 0, 0, 999, 0, b"", b"")
                backend.answer(writer, stray, "stray")
                assert await client.call_json(101, [], timeout=5) == 3
                assert await held == "matched"
                assert client.pending_count == 0
        finally:
            await backend.close()
    run(scenario())


def test_sequence_wraps_skipping_zero_and_ids_in_use(run: Runner[None]) -> None:
    async def scenario() -> None:
        backend = RawBackend(hold={7})
        await backend.start()
        try:
            async with rpc_client([backend.address]) as client:
                client._sequence = 0xFFFFFFFD
                held_a = asyncio.ensure_future(client.call(7, b"[]", timeout=5))
                held_b = asyncio.ensure_future(client.call(7, b"[]", timeout=5))
                assert await eventually(lambda: len(backend.held) == 2, 5)
                assert [f.sequence for _, f in backend.held] == [0xFFFFFFFE, 0xFFFFFFFF]
                client._sequence = 0xFFFFFFFD
                assert await client.call_json(101, [], timeout=5) == 1
                client._sequence = 0xFFFFFFFD
                assert await client.call_json(101, [], timeout=5) == 1
                for writer, frame in backend.held:
                    backend.answer(writer, frame, "done")
                assert orjson.loads(await held_a)["result"] == "done"
                assert orjson.loads(await held_b)["result"] == "done"
        finally:
            await backend.close()
    run(scenario())


def test_call_timeout_and_late_reply(run: Runner[None]) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any]] = []

        def deferred(params: list[Any]) -> asyncio.Future[Any]:
            futures.append(loop.create_future())
            return futures[-1]

        async with rpc_server({101: deferred, 102: echo}) as server, rpc_client([tcp(server)]) as client:
            started = time.monotonic()
            with pytest.raises(RpcTimeout):
                await client.call(101, b"[]", timeout=0.2)
            assert 0.19 < time.monotonic() - started < 1.0
            assert client.pending_count == 0
            futures[0].set_result("late")
            assert await client.call_json(102, ["next"], timeout=5) == ["next"]
            assert client.connected
    run(scenario())


def test_shorter_timeout_after_longer_one_fires_first(run: Runner[None]) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        async with rpc_server({101: lambda p: loop.create_future(), 102: echo}) as server, \
                rpc_client([tcp(server)]) as client:
            slow = asyncio.ensure_future(client.call(101, b"[]", timeout=1.5))
            await asyncio.sleep(0.05)
            started = time.monotonic()
            with pytest.raises(RpcTimeout):
                await client.call(101, b"[]", timeout=0.1)
            assert time.monotonic() - started < 0.5
            assert not slow.done()
            assert await client.call_json(102, [1], timeout=0.3) == [1]
            await asyncio.sleep(0.4)
            assert not slow.done()
            with pytest.raises(RpcTimeout):
                await slow
            assert 1.3 < time.monotonic() - started < 2.0
            assert client.pending_count == 0
    run(scenario())


def test_cancelled_call_forgets_its_sequence(run: Runner[None]) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        async with rpc_server({101: lambda p: loop.create_future()}) as server, \
                rpc_client([tcp(server)]) as client:
            task = asyncio.ensure_future(client.call(101, b"[]", timeout=10))
            await asyncio.sleep(0.05)
            assert client.pending_count == 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert client.pending_count == 0
    run(scenario())


def test_unavailable_when_backend_is_down(run: Runner[None]) -> None:
    async def scenario() -> None:
        address = free_tcp_address()
        async with rpc_client([address], connect=False) as client:
            assert not client.connected
            assert not await client.wait_connected(0.3)
            with pytest.raises(RpcUnavailable):
                await client.call(101, b"[]", timeout=1)
            with pytest.raises(RpcUnavailable):
                await client.call_json(101, [], timeout=1)
            async with rpc_server({101: echo}, bind=[str(address)]):
                assert await client.wait_connected(3)
                assert await client.call_json(101, ["up"], timeout=5) == ["up"]
    run(scenario())


def test_calls_in_flight_fail_fast_when_the_connection_closes(run: Runner[None]) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        async with rpc_server({101: lambda p: loop.create_future()}) as server, \
                rpc_client([tcp(server)], reconnect_timeout=5) as client:
            calls = [asyncio.ensure_future(client.call(101, b"[]", timeout=30)) for _ in range(5)]
            assert await eventually(lambda: client.pending_count == 5, 5)
            started = time.monotonic()
            await server.close()
            results = await asyncio.gather(*calls, return_exceptions=True)
            assert all(isinstance(r, RpcUnavailable) for r in results)
            assert time.monotonic() - started < 2
            assert not client.connected
    run(scenario())


def test_request_answers_through_its_callback(run: Runner[None], caplog: pytest.LogCaptureFixture) -> None:
    """`request`: the reply body, a time-out or a closed connection reach the callback once, in the call
    that delivers them; a callback that raises is logged and the connection goes on."""
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        answers: list[tuple[bytes | None, BaseException | None]] = []

        def on_reply(body: bytes | None, error: BaseException | None) -> None:
            answers.append((body, error))

        def failing(body: bytes | None, error: BaseException | None) -> None:
            raise ValueError("callback bug")

        async with rpc_server({101: echo, 102: lambda p: loop.create_future()}) as server, \
                rpc_client([tcp(server)], reconnect_timeout=5) as client:
            client.request(101, b'["a"]', on_reply, req_id=-7, timeout=5)
            assert await eventually(lambda: len(answers) == 1, 5)
            assert answers[0][1] is None and orjson.loads(answers[0][0] or b"") == \
                {"error": None, "result": ["a"], "id": -7}
            client.request(102, b"[]", on_reply, timeout=0.1)
            assert await eventually(lambda: len(answers) == 2, 5)
            assert answers[1][0] is None and isinstance(answers[1][1], RpcTimeout)
            client.request(101, b"[]", failing, timeout=5)
            assert await eventually(lambda: client.pending_count == 0, 5)
            assert "reply callback failed" in caplog.text and client.connected
            assert await client.call_json(101, ["still"], timeout=5) == ["still"]
            client.request(102, b"[]", on_reply, timeout=30)
            await server.close()
            assert await eventually(lambda: len(answers) == 3, 5)
            assert isinstance(answers[2][1], RpcUnavailable)
            with pytest.raises(RpcUnavailable):
                client.request(101, b"[]", on_reply, timeout=5)
            await asyncio.sleep(0.05)
            assert len(answers) == 3  # each call answered once
    run(scenario())


def test_reconnect_after_server_restart_on_same_port(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with rpc_server({101: lambda p: "first"}) as first:
            address = tcp(first)
            client = RpcClient(client_config([address], reconnect_timeout=0.2))
            await client.start()
            try:
                assert await client.wait_connected(5)
                assert await client.call_json(101, [], timeout=5) == "first"
                await first.close()
                assert await eventually(lambda: not client.connected, 5)
                with pytest.raises(RpcUnavailable):
                    await client.call_json(101, [], timeout=5)
                async with rpc_server({101: lambda p: "second"}, bind=[str(address)]) as second:
                    assert tcp(second).port == address.port
                    assert await client.wait_connected(5)
                    assert await client.call_json(101, [], timeout=5) == "second"
            finally:
                await client.close()
    run(scenario())


def test_fail_over_across_two_addresses(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with rpc_server({101: lambda p: "a"}) as server_a, rpc_server({101: lambda p: "b"}) as server_b:
            async with rpc_client([tcp(server_a), tcp(server_b)], reconnect_timeout=30) as client:
                assert client.address == tcp(server_a)
                assert await client.call_json(101, [], timeout=5) == "a"
                started = time.monotonic()
                await server_a.close()
                assert await eventually(lambda: client.address == tcp(server_b), 5)
                assert time.monotonic() - started < 2
                assert await client.call_json(101, [], timeout=5) == "b"

            dead = free_tcp_address()
            started = time.monotonic()
            async with rpc_client([dead, tcp(server_b)], reconnect_timeout=30) as client:
                assert time.monotonic() - started < 2
                assert await client.call_json(101, [], timeout=5) == "b"
    run(scenario())


def test_wrapping_round_the_addresses_waits_reconnect_timeout(run: Runner[None]) -> None:
    async def scenario() -> None:
        dead = [free_tcp_address(), free_tcp_address()]
        client = RpcClient(client_config(dead, reconnect_timeout=1.5))
        await client.start()
        try:
            started = time.monotonic()
            await asyncio.sleep(0.3)
            assert not client.connected
            async with rpc_server({101: echo}, bind=[str(dead[0])]):
                assert await client.wait_connected(5)
                assert time.monotonic() - started > 1.2
        finally:
            await client.close()
    run(scenario())


def test_client_refuses_oversized_reply(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with rpc_server({101: lambda p: "z" * 5000, 102: echo}) as server, \
                rpc_client([tcp(server)], max_pkg_size=4096) as client:
            with pytest.raises(RpcUnavailable):
                await client.call(101, b"[]", timeout=5)
            assert await client.wait_connected(5)
            assert await client.call_json(102, [1], timeout=5) == [1]
    run(scenario())


# ------------------------------------------------------------------ other transports

def test_udp_request_reply(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with rpc_server({101: echo}, bind=["udp@127.0.0.1:0"]) as server:
            (address,) = server.bound_addresses
            assert address.kind == "udp" and address.port > 0
            loop = asyncio.get_running_loop()
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.connect((address.host, address.port))
            try:
                await loop.sock_sendall(sock, b"garbage that is no frame at all, not even close....")
                await loop.sock_sendall(sock, encode_frame(101, 0, 5, -3, b'["udp"]'))
                async with asyncio.timeout(5):
                    reply = decode_packet(await loop.sock_recv(sock, 65536), 65536)
                assert (reply.command, reply.pkg_type, reply.sequence, reply.signed_req_id) == (101, 1, 5, -3)
                assert reply_json(reply) == {"error": None, "result": ["udp"], "id": -3}
                await loop.sock_sendall(sock, encode_heartbeat_request())
                async with asyncio.timeout(5):
                    assert await loop.sock_recv(sock, 65536) == HEARTBEAT_REPLY_BYTES
            finally:
                sock.close()
            async with rpc_client([address]) as client:
                results = await asyncio.gather(*(client.call_json(101, [i], timeout=5) for i in range(50)))
                assert results == [[i] for i in range(50)]
    run(scenario())


def test_unix_stream_and_dgram(run: Runner[None], tmp_path: Path) -> None:
    async def scenario() -> None:
        stream_path, dgram_path = tmp_path / "stream.sock", tmp_path / "dgram.sock"
        stream_path.write_text("stale file from an earlier run")
        bind = [f"stream@{stream_path}", f"dgram@{dgram_path}"]
        async with rpc_server({101: echo}, bind=bind) as server:
            assert stream_path.stat().st_mode & 0o777 == 0o777
            assert dgram_path.stat().st_mode & 0o777 == 0o777
            for address in server.bound_addresses:
                async with rpc_client([address]) as client:
                    assert await client.call_json(101, [address.kind], timeout=5) == [address.kind]
        assert not stream_path.exists()
    run(scenario())


def test_unix_seqpacket(run: Runner[None], tmp_path: Path) -> None:
    async def scenario() -> None:
        path = str(tmp_path / "seq.sock")
        async with rpc_server({101: echo}, bind=[f"seqpacket@{path}"], max_pkg_size=1024) as server:
            loop = asyncio.get_running_loop()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            sock.connect(path)
            sock.setblocking(False)
            try:
                await loop.sock_sendall(sock, encode_frame(101, 0, 1, 1, b"[1]"))
                await loop.sock_sendall(sock, encode_heartbeat_request())
                async with asyncio.timeout(5):
                    first = await loop.sock_recv(sock, 65536)
                    second = await loop.sock_recv(sock, 65536)
                assert reply_json(decode_packet(first, 65536))["result"] == [1]
                assert second == HEARTBEAT_REPLY_BYTES
                assert server.connection_count == 1
                await loop.sock_sendall(sock, encode_frame(101, 0, 2, 2, b"[" + b"1," * 600 + b"1]"))
                async with asyncio.timeout(5):
                    assert await loop.sock_recv(sock, 65536) == b""
                assert await eventually(lambda: server.connection_count == 0, 5)
            finally:
                sock.close()
    run(scenario())


def test_bind_failure_releases_everything(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with rpc_server({}) as first:
            taken = tcp(first)
            server = RpcServer(ServerConfig(bind=[parse_address("tcp@127.0.0.1:0"), taken], max_pkg_size=1024),
                               {})
            with pytest.raises(OSError):
                await server.start()
            assert server.bound_addresses == []
    run(scenario())


def test_heartbeat_body_layout() -> None:
    assert struct.unpack("<HHI", heartbeat_body(2.5)) == (1, 4, 2500)
