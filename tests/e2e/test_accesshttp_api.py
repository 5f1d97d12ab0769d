"""accesshttp in front of a real matchengine (MariaDB, broker): the public API as http-api.md describes it.

One stack serves the module.  The spec scenario (http-api.md §2.6) runs
first and alone on the market BTCBCH and on users 1 and 2; every other test
keeps off them, so the scenario's exact values hold whatever runs after it.
marketprice and readhistory are not started: their methods answer HTTP 500.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from accesshttp.methods import routed_methods
from accesshttp.openrpc import openrpc_document
from common.rpc import HEADER_SIZE
from tests.e2e.accesshttp_stack import HttpClient, Reply, Stack, raw_exchange, wait_backend
from tests.support import cli_port

BODY_LIMIT = 102400
MISSING = object()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("accesshttp_api")).start()
    yield stack
    stack.stop()


@pytest.fixture
def client(stack: Stack) -> Iterator[HttpClient]:
    client = stack.client()
    yield client
    client.close()


def without_times(order: dict[str, Any]) -> dict[str, Any]:
    """The order minus ctime/mtime, which must be floats (their values depend on the clock)."""
    assert isinstance(order["ctime"], float) and isinstance(order["mtime"], float), order
    return {k: v for k, v in order.items() if k not in ("ctime", "mtime")}


def error_of(reply: Reply) -> Any:
    assert reply.status == 200, reply
    return reply.json()["error"]


def test_spec_scenario_through_http(client: HttpClient) -> None:
    success = {"status": "success"}
    assert client.result("balance.update", [1, "BCH", "deposit", 1, "20000", {}]) == success
    assert client.result("balance.update", [2, "BTC", "deposit", 2, "3", {}]) == success
    assert error_of(client.call("balance.update", [2, "BTC", "deposit", 2, "3", {}])) == {
        "code": 10, "message": "repeat update"}

    bid = client.result("order.put_limit", [1, "BTCBCH", 2, "2", "8000", "0.002", "0.001", "api.v1"])
    assert bid["ctime"] == bid["mtime"]
    assert without_times(bid) == {
        "id": 1, "market": "BTCBCH", "source": "api.v1", "type": 1, "side": 2, "user": 1, "price": "8000",
        "amount": "2", "taker_fee": "0.002", "maker_fee": "0.001", "left": "2", "deal_stock": "0",
        "deal_money": "0", "deal_fee": "0"}
    ask = client.result("order.put_limit", [2, "BTCBCH", 1, "1.5", "7990", "0.002", "0.001", "api.v1"])
    assert without_times(ask) == {
        "id": 2, "market": "BTCBCH", "source": "api.v1", "type": 1, "side": 1, "user": 2, "price": "7990",
        "amount": "1.5", "taker_fee": "0.002", "maker_fee": "0.001", "left": "0e-8", "deal_stock": "1.5",
        "deal_money": "12000", "deal_fee": "24"}

    assert client.result("asset.summary", ["BTC"]) == [
        {"name": "BTC", "total_balance": "2.9985", "available_count": 2, "available_balance": "2.9985",
         "freeze_count": 0, "freeze_balance": "0"}]
    assert client.result("balance.query", [1]) == {
        "BTC": {"available": "1.4985", "freeze": "0"}, "BCH": {"available": "4000", "freeze": "4000"},
        "USDT": {"available": "0", "freeze": "0"}}
    assert client.result("balance.query", [2, "BTC", "BTC"]) == {"BTC": {"available": "1.5", "freeze": "0"}}
    assert client.result("order.depth", ["BTCBCH", 10, "0"]) == {"asks": [], "bids": [["8000", "0.5"]]}
    book = client.result("order.book", ["BTCBCH", 2, 0, 10])
    assert (book["offset"], book["limit"], book["total"]) == (0, 10, 1)
    resting = {**without_times(bid), "left": "0.5", "deal_stock": "1.5", "deal_money": "12000",
               "deal_fee": "0.0015"}
    assert [without_times(o) for o in book["orders"]] == [resting]
    assert book["orders"][0]["mtime"] == ask["mtime"]
    pending = client.result("order.pending", [1, "BTCBCH", 0, 10])
    assert (pending["total"], [without_times(o) for o in pending["records"]]) == (1, [resting])
    assert client.result("order.pending_detail", ["BTCBCH", 2]) is None
    assert client.result("market.list", [])[0] == {
        "name": "BTCBCH", "stock": "BTC", "money": "BCH", "fee_prec": 4, "stock_prec": 8, "money_prec": 8,
        "min_amount": "0.001"}
    assert client.result("market.summary", ["BTCBCH"]) == [
        {"name": "BTCBCH", "ask_count": 0, "ask_amount": "0", "bid_count": 1, "bid_amount": "0.5"}]

    # §4.6: user 2 also asks 1 BTC @ 8100; user 1 spends 810 BCH at market
    client.result("order.put_limit", [2, "BTCBCH", 1, "1", "8100", "0.002", "0.001", "api.v1"])
    market_buy = client.result("order.put_market", [1, "BTCBCH", 2, "810", "0.002", ""])
    assert without_times(market_buy) == {
        "id": 4, "market": "BTCBCH", "source": "", "type": 2, "side": 2, "user": 1, "price": "0", "amount": "810",
        "taker_fee": "0.002", "maker_fee": "0", "left": "0e-16", "deal_stock": "0.1", "deal_money": "810",
        "deal_fee": "0.0002"}

    # §4.7: the order as it stood; a second cancel finds nothing; another user's order is not yours
    cancelled = client.result("order.cancel", [1, "BTCBCH", 1])
    assert (without_times(cancelled), cancelled["mtime"]) == (resting, ask["mtime"])
    assert error_of(client.call("order.cancel", [1, "BTCBCH", 1])) == {"code": 10, "message": "order not found"}
    assert error_of(client.call("order.cancel", [1, "BTCBCH", 3])) == {"code": 11, "message": "user not match"}
    assert error_of(client.call("order.put_limit", [1, "BTCBCH", 2, "100", "8000", "0.002", "0.001", ""])) == {
        "code": 10, "message": "balance not enough"}
    assert error_of(client.call("order.put_limit", [2, "BTCBCH", 1, "0.0001", "8000", "0.002", "0.001", ""])) == {
        "code": 11, "message": "amount too small"}


@pytest.mark.parametrize("body", [
    b"",
    b"not json",
    b"[]",
    b'{"id": 1, "method": "asset.list"}',
    b'{"id": 1, "method": "asset.list", "params": {}}',
    b'{"id": "1", "method": "asset.list", "params": []}',
    b'{"id": 1.0, "method": "asset.list", "params": []}',
    b'{"id": 9223372036854775808, "method": "asset.list", "params": []}',
    b'{"id": 1, "method": ["asset.list"], "params": []}',
    b'{"id": 1, "method": "asset.list", "params": [NaN]}',
    b'{"id": 1, "method": "balance.query", "params": [Infinity]}',
    b'{"id": 1, "method": "asset.list", "params": ["\\u0000"]}',
    b'{"id": 1, "method": "asset.list", "params": ["\xc3\x28"]}',
    b'{"id": 1, "method": "asset.list", "params": []',
])
def test_malformed_requests_get_400_and_the_connection_closes(stack: Stack, body: bytes) -> None:
    request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    # a second request behind it must not be answered: the server closes after the 400
    data = raw_exchange(stack.port, request + b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n[]")
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n"), data
    assert b"\r\nContent-Length: %d\r\n" % len(rest) in head and b"\r\nConnection: close" in head
    # the body says why, as an error object (docs/deviations.md #67); nothing of the second request follows
    reply = orjson.loads(rest)
    assert reply["error"]["code"] == 1 and reply["error"]["message"] == "invalid argument", reply
    assert reply["error"]["data"].split(":")[0] in ("body", "id", "method", "params"), reply
    assert (reply["result"], reply["id"]) == (None, None)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
def test_only_post_is_served(client: HttpClient, method: str) -> None:
    reply = client.request(b'{"id": 1, "method": "asset.list", "params": []}' if method != "HEAD" else None,
                           method=method, path="/x?y=1")
    assert (reply.status, reply.closes) == (400, True)
    if method == "HEAD":
        assert reply.body == b""
    else:
        assert reply.json() == {"error": invalid(f"request: a JSON-RPC call is a POST, not {method}"), "result": None,
                                "id": None}


def test_get_openrpc_document(client: HttpClient) -> None:
    for path in ("/openrpc.json", "/openrpc.json?fresh=1"):
        reply = client.request(None, method="GET", path=path)
        assert (reply.status, reply.headers["content-type"]) == (200, "application/json")
        # without "config_methods" the document lists every routed method, and only those
        assert reply.body == openrpc_document(routed_methods(False))
        names = {method["name"] for method in orjson.loads(reply.body)["methods"]}
        assert len(names) == 35 and "order.put_stop_limit" in names and "config.update_market" not in names
    assert client.request(None, method="GET", path="/openrpc").status == 400
    # a POST to that path is an ordinary call: the path is ignored
    reply = client.request(b'{"id": 3, "method": "asset.list", "params": []}', path="/openrpc.json")
    assert (reply.status, reply.json()["id"]) == (200, 3)


@pytest.mark.parametrize("method", ["nope", "ORDER.PUT_LIMIT", "order.put_limit ", "", "order.put_limit\u00e9"])
def test_unknown_methods_get_404_and_error_4(client: HttpClient, method: str) -> None:
    reply = client.call(method, [1], call_id=-7)
    assert (reply.status, reply.closes) == (404, False)
    assert reply.json() == {"error": {"code": 4, "message": "method not found"}, "result": None, "id": -7}
    assert client.call("asset.list", []).status == 200  # same connection


@pytest.mark.parametrize("method", ["market.last", "market.kline", "balance.history", "order.finished_detail"])
def test_methods_of_a_missing_backend_get_500(client: HttpClient, method: str) -> None:
    reply = client.call(method, ["BTCBCH"])
    assert (reply.status, reply.body, reply.closes) == (500, b"", False)
    assert client.call("asset.list", []).status == 200


INVALID = {"code": 1, "message": "invalid argument"}
LONG = "x" * 5000  # reaches the engine, which refuses it
LONGER = "x" * 20000  # beyond the engine's 10240-byte frames: refused by the gateway itself
ENGINE_LIMIT = 10240 - HEADER_SIZE


def invalid(reason: str) -> dict[str, Any]:
    """Error 1 as the original sends it, with the reason in JSON-RPC's `data`."""
    return {**INVALID, "data": reason}


def too_large(params: list[Any]) -> dict[str, Any]:
    return invalid(f"params: {len(orjson.dumps(params))} bytes, more than the {ENGINE_LIMIT} the backend takes")


def positive(name: str) -> dict[str, Any]:
    return invalid(f"{name}: must be a positive decimal")


LIMIT_LONGER = [5, "BTCUSDT", 2, "1", "100", "0.001", "0.001", LONGER]


@pytest.mark.parametrize(("method", "params", "expected"), [
    ("order.put_limit", [5, "BTCUSDT", 2, "1", "100", "0.001", "0.001"], invalid("params: expected 8 to 10, got 7")),
    # a ninth param is `option` (docs/extensions.md): a string is not one
    ("order.put_limit", [5, "BTCUSDT", 2, "1", "100", "0.001", "0.001", "", ""],
     invalid("option: null, or an integer of the bits 0x3bc")),
    ("order.put_limit", ["5", "BTCUSDT", 2, "1", "100", "0.001", "0.001", ""], invalid("user_id: must be an integer")),
    ("order.put_limit", [5.0, "BTCUSDT", 2, "1", "100", "0.001", "0.001", ""], invalid("user_id: must be an integer")),
    ("order.put_limit", [5, "BTCUSDT", 3, "1", "100", "0.001", "0.001", ""], invalid("side: must be 1 (ask) or 2 (bid)")),
    ("order.put_limit", [5, "BTCUSDT", 2, 1, "100", "0.001", "0.001", ""],
     invalid("amount: must be a decimal number in a string")),
    ("order.put_limit", [5, "BTCUSDT", 2, "NaN", "100", "0.001", "0.001", ""],
     invalid("amount: must be a decimal number, not 'NaN'")),
    ("order.put_limit", [5, "BTCUSDT", 2, "Infinity", "100", "0.001", "0.001", ""],
     invalid("amount: must be a decimal number, not 'Infinity'")),
    ("order.put_limit", [5, "BTCUSDT", 2, "-1", "100", "0.001", "0.001", ""], positive("amount")),
    ("order.put_limit", [5, "BTCUSDT", 2, "0.000000001", "100", "0.001", "0.001", ""], positive("amount")),
    ("order.put_limit", [5, "BTCUSDT", 2, "1", "0.001", "0.001", "0.001", ""], positive("price")),
    ("order.put_limit", [5, "BTCUSDT", 2, "1", " 100", "0.001", "0.001", ""],
     invalid("price: must be a decimal number, not ' 100'")),
    ("order.put_limit", [5, "BTCUSDT", 2, "1", "100", "1", "0.001", ""],
     invalid("taker_fee: must be at least 0 and below 1")),
    ("order.put_limit", [5, "BTCUSDT", 2, "1", "100", "0.001", "0.001", "x" * 31], invalid("source: at most 30 bytes")),
    ("order.put_limit", [5, "BTCUSDT", 2, "1", "100", "0.001", "0.001", LONG], invalid("source: at most 30 bytes")),
    ("order.put_limit", LIMIT_LONGER, too_large(LIMIT_LONGER)),
    ("order.put_limit", [5, LONG, 2, "1", "100", "0.001", "0.001", ""],
     invalid(f"market: unknown market {LONG[:40]!r}")),
    ("order.put_limit", [5, "BTCUSDT", 2, "1e30", "100", "0.001", "0.001", ""],
     invalid("amount: must be below 10^14 in magnitude")),
    ("order.put_limit", [5, "BTCUSDT", 2, "1e6", "100", "0.001", "0.001", ""],
     {"code": 10, "message": "balance not enough"}),
    ("balance.update", [5, "USDT", "deposit", 1, "1e400", {}], invalid("change: must be below 10^14 in magnitude")),
    ("balance.update", [5, "USDT", "deposit", 1, "1e30", {}], invalid("change: must be below 10^14 in magnitude")),
    ("balance.update", [5, "USDT", "deposit", 1, "sNaN", {}], invalid("change: must be a decimal number, not 'sNaN'")),
    ("balance.update", [5, "USDT", "deposit", "1", "1", {}], invalid("business_id: must be an integer")),
    ("balance.update", [5, "USDT", "deposit", 1, "1", []], invalid("detail: must be an object")),
    ("balance.update", [5, "USDT", "withdraw", 1, "-5", {}], {"code": 11, "message": "balance not enough"}),
    ("balance.query", [], invalid("params: expected a user_id, then asset names")),
    ("balance.query", [0], invalid("user_id: must not be 0")),
    ("balance.query", [5, "XYZ"], invalid("asset: unknown asset 'XYZ'")),
    ("balance.query", [5, LONGER], too_large([5, LONGER])),
    ("order.book", ["BTCUSDT", 2, 0, 102], invalid("limit: at most 101")),
    ("order.depth", ["BTCUSDT", 10, "NaN"], invalid("interval: must be a decimal number, not 'NaN'")),
    ("order.depth", ["BTCUSDT", 10, "-1"], invalid("interval: must not be negative")),
    ("order.cancel", [5, "BTCUSDT", 18446744073709551615], {"code": 10, "message": "order not found"}),
    ("asset.summary", [1], invalid("asset: must be a string")),
    ("market.summary", ["NOPE"], invalid("market: unknown market 'NOPE'")),
])
def test_bad_params_get_the_backends_error(client: HttpClient, method: str, params: list[Any],
                                           expected: dict[str, Any]) -> None:
    reply = client.call(method, params, call_id=11)
    assert (reply.status, reply.json()) == (200, {"error": expected, "result": None, "id": 11})


@pytest.mark.parametrize("body", [
    b'{"id": 1, "method": "balance.query", "params": [18446744073709551616]}',
    b'{"id": 1, "method": "balance.query", "params": [-9223372036854775809]}',
    b'{"id": 1, "method": "balance.query", "params": [1e300]}',
    b'{"id": 1, "method": "balance.query", "params": [1.0]}',
])
def test_huge_and_fractional_json_numbers_are_invalid_arguments(client: HttpClient, body: bytes) -> None:
    reply = client.request(body)
    assert (reply.status, reply.json()["error"]) == (200, invalid("user_id: must be an integer"))


def test_deeply_nested_params(client: HttpClient) -> None:
    def nested(depth: int) -> bytes:
        return b'{"id": 4, "method": "balance.query", "params": [' + b"[" * depth + b"]" * depth + b"]}"

    assert client.request(nested(100)).json()["error"] == invalid("user_id: must be an integer")  # the engine's
    # too deep to re-encode: the gateway's answer
    assert client.request(nested(400)).json()["error"] == invalid("params: nested deeper than 255 levels")
    reply = client.request(nested(1100))  # too deep to parse: not a call
    assert (reply.status, reply.closes) == (400, True)
    error = reply.json()["error"]
    assert (error["code"], error["message"], reply.json()["id"]) == (1, "invalid argument", None)
    assert error["data"].startswith("body: not JSON (") and "limit" in error["data"]


def test_expect_100_continue(stack: Stack) -> None:
    body = b'{"id": 8, "method": "asset.list", "params": []}'
    with socket.create_connection(("127.0.0.1", stack.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        assert sock.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")


def test_over_precise_and_wrapped_numbers_follow_the_spec(client: HttpClient) -> None:
    assert client.result("balance.update", [6, "USDT", "deposit", 1, "100000.123456789", {}]) == {"status": "success"}
    assert client.result("balance.query", [6, "USDT"]) == {"USDT": {"available": "100000.12345678", "freeze": "0"}}
    order = client.result("order.put_limit", [6, "BTCUSDT", 2, "0.123456789", "100.129", "0.001", "0.001", ""])
    assert (order["amount"], order["price"]) == ("0.12345678", "100.12")
    # user ids are reduced modulo 2^32: 4294967302 is user 6
    assert client.result("order.pending", [4294967302, "BTCUSDT", 0, 10])["total"] == 1
    assert client.result("balance.query", [-1]) == client.result("balance.query", [4294967295])


def test_body_size_limit(stack: Stack, client: HttpClient) -> None:
    call = b'{"id": 1, "method": "asset.list", "params": []}'
    at_limit = call + b" " * (BODY_LIMIT - len(call))
    assert client.request(at_limit).status == 200
    reply = client.request(at_limit + b" ")
    assert (reply.status, reply.body, reply.closes) == (413, b"", True)
    # a declared length over the limit is refused before the body is sent
    with socket.create_connection(("127.0.0.1", stack.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
        head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 413 "), head
    # a chunked body is counted as it arrives
    chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
    data = raw_exchange(stack.port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 2
                        + b"0\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 413 "), data[:100]
    small = b"%x\r\n%s\r\n0\r\n\r\n" % (len(call), call)
    data = raw_exchange(stack.port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                    b"Connection: close\r\n\r\n" + small)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n"), data[:100]
    # a body that arrived complete but in several chunks is joined
    pieces = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (call[:10], call[10:20], call[20:])) + b"0\r\n\r\n"
    data = raw_exchange(stack.port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                    b"Connection: close\r\n\r\n" + pieces)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b'"id":1}'), data


def test_pipelined_requests_are_answered_in_order(stack: Stack) -> None:
    requests = b"".join(
        b"POST /%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (i, len(body), body)
        for i, body in enumerate([b'{"id": %d, "method": "asset.list", "params": []}' % n for n in (1, 2, 3)]))
    data = raw_exchange(stack.port, requests + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    answers = data.split(b"HTTP/1.1 ")[1:]
    assert [a[:3] for a in answers] == [b"200", b"200", b"200", b"400"]
    assert [orjson.loads(a.partition(b"\r\n\r\n")[2])["id"] for a in answers[:3]] == [1, 2, 3]


def test_http_1_0_clients(stack: Stack) -> None:
    body = b'{"id": 1, "method": "asset.list", "params": []}'
    data = raw_exchange(stack.port, b"POST / HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nConnection: close\r\n" in data
    with socket.create_connection(("127.0.0.1", stack.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        head = sock.recv(65536)
        assert b"\r\nConnection: keep-alive\r\n" in head
        sock.sendall(b"POST / HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")


def test_response_headers(client: HttpClient) -> None:
    reply = client.call("asset.list", [])
    assert reply.headers["content-type"] == "application/json"
    assert int(reply.headers["content-length"]) == len(reply.body)
    assert reply.headers["date"].endswith(" GMT")
    assert "server" not in reply.headers and "connection" not in reply.headers


def test_frozen_engine_gives_504_then_recovers(stack: Stack, client: HttpClient) -> None:
    assert stack.engine is not None
    stack.engine.signal(19)  # SIGSTOP: the engine keeps its connection but answers nothing
    try:
        started = time.monotonic()
        reply = client.call("asset.list", [], call_id=99)
        assert (reply.status, reply.json()) == (504, {"error": {"code": 5, "message": "service timeout"},
                                                      "result": None, "id": 99})
        assert 0.9 <= time.monotonic() - started < 2.5
    finally:
        stack.engine.signal(18)  # SIGCONT
    wait_backend(stack.port, "asset.list", [])


def test_engine_killed_gives_500_and_the_gateway_reconnects_after_restart(stack: Stack,
                                                                          client: HttpClient) -> None:
    assert stack.engine is not None
    client.result("balance.update", [7, "USDT", "deposit", 1, "55", {}])
    stack.engine.kill9()
    deadline = time.monotonic() + 5
    while (reply := client.call("asset.list", [])).status != 500:
        assert time.monotonic() < deadline, reply
        time.sleep(0.02)
    assert (reply.body, reply.closes) == (b"", False)
    stack.engine.start(wait=False)
    stack.engine.wait_ready(120, port=cli_port(stack.engine.config))
    wait_backend(stack.port, "asset.list", [])
    assert client.result("balance.query", [7, "USDT"]) == {"USDT": {"available": "55", "freeze": "0"}}
    assert stack.gateway is not None and stack.gateway.alive()
