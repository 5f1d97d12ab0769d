"""The matchengine as a real process, driven over TCP: commands, bad frames, bad input, the CLI."""

from __future__ import annotations

import asyncio
import socket
import struct
import zlib
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from common.config import ClientConfig, parse_address
from common.errors import RpcError
from common.rpc import RpcClient
from common.rpc.codec import HEADER, encode_frame, encode_heartbeat_request
from tests.conftest import start_engine
from tests.support import Daemon, cli_command, engine_port


async def client_for(daemon: Daemon) -> RpcClient:
    client = RpcClient(ClientConfig(name="test", addr=[parse_address(f"tcp@127.0.0.1:{engine_port(daemon.config)}")],
                                    max_pkg_size=2_000_000))
    await client.start()
    assert await client.wait_connected(10)
    return client


async def call(client: RpcClient, command: int, params: list[Any]) -> Any:
    return await client.call_json(command, params, timeout=5)


async def error_of(client: RpcClient, command: int, params: list[Any]) -> tuple[int, str]:
    with pytest.raises(RpcError) as exc:
        await call(client, command, params)
    return exc.value.code, exc.value.message


def raw_exchange(port: int, data: bytes, expect_reply: bool = True, timeout: float = 5.0) -> bytes:
    """Send raw bytes; return what comes back until the server closes or one frame arrives."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        received = b""
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                return received
            if not chunk:
                return received
            received += chunk
            if expect_reply and len(received) >= 36:
                size = 36 + struct.unpack_from("<I", received, 30)[0] + struct.unpack_from("<H", received, 34)[0]
                if len(received) >= size:
                    return received


def is_closed(port: int, data: bytes) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        try:
            return s.recv(65536) == b""
        except ConnectionResetError:
            return True


async def test_commands_over_rpc_with_exact_results(engine_factory: Callable[..., Daemon]) -> None:
    engine = engine_factory()
    client = await client_for(engine)
    try:
        assert await call(client, 102, [1, "BCH", "deposit", 1, "20000", {}]) == {"status": "success"}
        assert await call(client, 102, [2, "BTC", "deposit", 2, "3", {}]) == {"status": "success"}
        bid = await call(client, 201, [1, "BTCBCH", 2, "2", "8000", "0.002", "0.001", "api.v1"])
        assert (bid["id"], bid["left"], bid["deal_stock"]) == (1, "2", "0")
        ask = await call(client, 201, [2, "BTCBCH", 1, "1.5", "7990", "0.002", "0.001", "api.v1"])
        assert (ask["left"], ask["deal_stock"], ask["deal_money"], ask["deal_fee"]) == ("0e-8", "1.5", "12000", "24")
        assert await call(client, 101, [1]) == {
            "BTC": {"available": "1.4985", "freeze": "0"}, "BCH": {"available": "4000", "freeze": "4000"},
            "USDT": {"available": "0", "freeze": "0"}}
        assert await call(client, 206, ["BTCBCH", 10, "0"]) == {"asks": [], "bids": [["8000", "0.5"]]}
        assert (await call(client, 203, [1, "BTCBCH", 0, 10]))["total"] == 1
        assert (await call(client, 205, ["BTCBCH", 2, 0, 10]))["orders"][0]["left"] == "0.5"
        assert (await call(client, 207, ["BTCBCH", 1]))["deal_money"] == "12000"
        assert await call(client, 207, ["BTCBCH", 2]) is None
        assert [m["name"] for m in await call(client, 307, [])] == ["BTCBCH", "BTCUSDT"]
        assert await call(client, 308, ["BTCBCH"]) == [
            {"name": "BTCBCH", "ask_count": 0, "ask_amount": "0", "bid_count": 1, "bid_amount": "0.5"}]
        assert (await call(client, 104, []))[0] == {"name": "BTC", "prec": 8}
        assert (await call(client, 105, ["BTC"]))[0]["total_balance"] == "2.9985"
        cancelled = await call(client, 204, [1, "BTCBCH", 1])
        assert cancelled["left"] == "0.5"
        assert await error_of(client, 204, [1, "BTCBCH", 1]) == (10, "order not found")
        assert await error_of(client, 102, [1, "BCH", "deposit", 1, "20000", {}]) == (10, "repeat update")
    finally:
        await client.close()


async def test_bad_input_gets_protocol_errors_and_the_daemon_keeps_serving(
        engine_factory: Callable[..., Daemon]) -> None:
    engine = engine_factory()
    port = engine_port(engine.config)
    client = await client_for(engine)
    try:
        await call(client, 102, [1, "BTC", "deposit", 1, "10", {}])
        # wrong params and wrong types: invalid argument, the reason naming the parameter in `data`
        for command, params, reason in [
            (201, [1, "BTCBCH", 1, "1", "100", "0.1", "0.1"], "params: expected 8 to 10, got 7"),
            (201, [1, "BTCBCH", 1, 1.5, "100", "0.1", "0.1", ""], "amount: must be a decimal number in a string"),
            (201, [1, "BTCBCH", 1, "NaN", "100", "0.1", "0.1", ""], "amount: must be a decimal number, not 'NaN'"),
            (201, [1, "BTCBCH", 1, "1e30", "100", "0.1", "0.1", ""], "amount: must be below 10^14 in magnitude"),
            (201, [1, "BTCBCH", 1, "-1", "100", "0.1", "0.1", ""], "amount: must be a positive decimal"),
            (201, [1, "NOPE", 1, "1", "100", "0.1", "0.1", ""], "market: unknown market 'NOPE'"),
            (201, ["1", "BTCBCH", 1, "1", "100", "0.1", "0.1", ""], "user_id: must be an integer"),
            (201, [1, "BTCBCH", 1, "1", "100", "0.1", "0.1", "x" * 100], "source: at most 30 bytes"),
            (102, [1, "BTC", "deposit", "7", "1", {}], "business_id: must be an integer"),
            (101, [], "params: expected a user_id, then asset names"),
            (206, ["BTCBCH", 1000, "0"], "limit: at most 101"),
            (203, [1, "BTCBCH", 0], "params: expected 4, got 3"),
        ]:
            reply = orjson.loads(await client.call(command, orjson.dumps(params), timeout=5))
            assert reply["error"] == {"code": 1, "message": "invalid argument", "data": reason}, (command, params)
        # unknown command: method not found, in the original's exact form; the connection stays usable
        assert orjson.loads(await client.call(999, b"[]", timeout=5))["error"] == {"code": 4,
                                                                                 "message": "method not found"}
        # a body that is not JSON, or not an array: invalid argument, connection kept
        for body in (b"not json", b'{"a": 1}', b"12", b"[1, 2"):
            reply = orjson.loads(await client.call(101, body, timeout=5))
            assert reply["error"] == {"code": 1, "message": "invalid argument", "data": "params: must be a JSON array"}
        assert (await call(client, 101, [1, "BTC"]))["BTC"]["available"] == "10"

        # broken frames close that connection only
        good = encode_frame(101, 0, 7, 42, b"[1]")
        bad_crc = bytearray(good)
        bad_crc[14] ^= 0xFF
        assert is_closed(port, bytes(bad_crc))
        bad_magic = b"XXXX" + good[4:]
        assert is_closed(port, bad_magic)
        oversized = HEADER.pack(0x70656562, 101, 0, 0, 0, 1, 1, 20000, 0)
        assert is_closed(port, oversized + b"x" * 100)
        # a frame split across writes is reassembled; its reply carries our sequence and id
        reply = raw_exchange(port, good)
        magic, command, pkg_type, _, crc, seq, req_id, size, _ = HEADER.unpack_from(reply)
        assert (magic, command, pkg_type, seq, req_id) == (0x70656562, 101, 1, 7, 42)
        body = reply[36:36 + size]
        assert zlib.crc32(reply[:14] + b"\0\0\0\0" + reply[18:36] + body) == crc
        assert orjson.loads(body)["result"]["BTC"]["available"] == "10"
        # heartbeat: an empty-bodied reply
        reply = raw_exchange(port, encode_heartbeat_request(3.0))
        assert HEADER.unpack_from(reply)[1] == 0 and len(reply) == 36
        # after all that, the first client is still served
        assert (await call(client, 101, [1, "BTC"]))["BTC"]["available"] == "10"
        assert engine.alive()
    finally:
        await client.close()


async def test_many_requests_in_flight_on_one_connection(engine_factory: Callable[..., Daemon]) -> None:
    engine = engine_factory()
    client = await client_for(engine)
    try:
        results = await asyncio.gather(*(
            call(client, 102, [user, "USDT", "deposit", user, "100", {}]) for user in range(1, 501)))
        assert all(r == {"status": "success"} for r in results)
        summary = await call(client, 105, ["USDT"])
        assert summary == [{"name": "USDT", "total_balance": "50000", "available_count": 500,
                            "available_balance": "50000", "freeze_count": 0, "freeze_balance": "0"}]
    finally:
        await client.close()


async def test_debug_cli(engine_factory: Callable[..., Daemon]) -> None:
    engine = engine_factory()
    client = await client_for(engine)
    try:
        await call(client, 102, [7, "BTC", "deposit", 1, "2.5", {}])
        await call(client, 201, [7, "BTCBCH", 1, "1", "100", "0", "0", ""])
    finally:
        await client.close()
    config = engine.config
    assert set(cli_command(config, "help").split()) == {"help", "status", "balance", "market", "makeslice", "role"}
    role = cli_command(config, "role")
    assert role.startswith("role: leader\nconfigured role: sole\nterm: 1\n"), role
    assert "applied ID: 2\n" in role and "lag: 0\n" in role
    status = cli_command(config, "status")
    assert "order last ID: 1\n" in status and "operlog last ID: 2\n" in status
    listing = cli_command(config, "balance list")
    assert listing.startswith("user       asset            type       amount\n")
    assert "7          BTC              available  1.500000000000\n" in listing
    assert "7          BTC              freeze     1.000000000000\n" in listing
    assert cli_command(config, "balance get") == "usage: balance get user_id\n"
    assert "BTC" in cli_command(config, "balance summary")
    assert "BTCBCH     1          1.00000000" in cli_command(config, "market summary")
    assert cli_command(config, "market") == "usage market summary\n"
    assert cli_command(config, "nonsense") == "command not found\n"
    assert cli_command(config, "makeslice") == "OK\n"


async def test_bad_config_exits_with_one_line(engine_factory: Callable[..., Daemon]) -> None:
    engine = engine_factory(start=False)
    engine.config["markets"][0]["stock"]["prec"] = 30
    with pytest.raises(RuntimeError) as exc:
        start_engine(engine, timeout=20)
    assert "config error: field 'markets[0].stock.prec'" in str(exc.value)
    assert engine.proc is not None and engine.proc.returncode == 1
