"""accessws input rules: request envelopes, Kafka messages, auth endpoint replies, origins, frames, config."""

from __future__ import annotations

import struct
from decimal import Decimal
from typing import Any

import orjson
import pytest

from accessws.auth import AUTH_REFUSED, user_id_of
from accessws.config import load_config
from accessws.envelope import BadRequest, parse_request, push_frame, text_frame
from accessws.kafka_input import parse_balance_message, parse_order_message, parse_stop_message
from accessws.server import origin_allowed
from common.config import ConfigError, Section
from common.errors import RpcError


def test_request_envelope() -> None:
    request = parse_request(b'{"id": -7, "method": "server.ping", "params": []}')
    assert (request.id, request.method, request.params) == (-7, "server.ping", [])
    assert parse_request('{"params": [1], "method": "m", "id": 9223372036854775807}').id == 2 ** 63 - 1


@pytest.mark.parametrize(("data", "request_id"), [
    (b"garbage", None),
    (b"[1, 2]", None),
    (b'{"id": "1", "method": "server.ping", "params": []}', None),
    (b'{"id": 1.0, "method": "server.ping", "params": []}', None),
    (b'{"id": true, "method": "server.ping", "params": []}', None),
    (b'{"id": 9223372036854775808, "method": "server.ping", "params": []}', None),
    (b'{"id": 3, "method": 1, "params": []}', 3),
    (b'{"id": 3, "params": []}', 3),
    (b'{"id": 3, "method": "server.ping", "params": {}}', 3),
    (b'{"id": 3, "method": "server.ping"}', 3),
    (b"\xff\xfe", None),
])
def test_malformed_envelopes(data: bytes, request_id: int | None) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_request(data)
    assert exc.value.request_id == request_id


def test_text_frames_use_the_minimal_length_encoding() -> None:
    assert text_frame(b"x" * 125)[:2] == b"\x81\x7d"
    assert text_frame(b"x" * 126)[:4] == b"\x81\x7e" + struct.pack("!H", 126)
    assert text_frame(b"x" * 65536)[:10] == b"\x81\x7f" + struct.pack("!Q", 65536)
    frame = push_frame("price.update", ["BTCUSDT", "9000.00"])
    assert orjson.loads(frame[2:]) == {"method": "price.update", "params": ["BTCUSDT", "9000.00"], "id": None}


def test_order_messages() -> None:
    order = {"id": 1, "market": "BTCBCH", "user": 3, "price": "8000"}
    good = orjson.dumps({"event": 2, "order": order, "stock": "BTC", "money": "BCH"})
    message = parse_order_message(good)
    assert message is not None
    assert (message.event, message.user, message.stock, message.money) == (2, 3, "BTC", "BCH")
    assert list(message.order) == ["id", "market", "user", "price"]
    for bad in ({"event": 0, "order": order, "stock": "BTC", "money": "BCH"},
                {"order": order, "stock": "BTC", "money": "BCH"},
                {"event": 1, "stock": "BTC", "money": "BCH"},
                {"event": 1, "order": {**order, "user": 0}, "stock": "BTC", "money": "BCH"},
                {"event": 1, "order": order, "stock": 1, "money": "BCH"},
                {"event": 1, "order": order, "stock": "BTC"},
                [1, 2]):
        assert parse_order_message(orjson.dumps(bad)) is None, bad
    assert parse_order_message(b"{") is None


def test_stop_messages() -> None:
    stop = {"id": 9, "type": 1, "side": 1, "user": 3, "market": "BTCBCH", "stop_price": "95", "status": 0}
    message = parse_stop_message(orjson.dumps({"event": 1, "order": stop, "stock": "BTC", "money": "BCH"}))
    assert message is not None
    assert (message.event, message.user, message.market, message.stock, message.money) == (1, 3, "BTCBCH", "BTC",
                                                                                          "BCH")
    assert message.stop == stop
    fork_shaped = parse_stop_message(orjson.dumps({"event": 2, "order": stop}))  # no stock/money: still pushed
    assert fork_shaped is not None and (fork_shaped.stock, fork_shaped.money) == (None, None)
    for bad in ({"event": 0, "order": stop}, {"order": stop}, {"event": "1", "order": stop}, {"event": 1},
                {"event": 1, "order": {**stop, "user": 0}}, {"event": 1, "order": {**stop, "market": None}},
                {"event": 1, "order": [stop]}, [1, stop]):
        assert parse_stop_message(orjson.dumps(bad)) is None, bad
    assert parse_stop_message(b"{") is None


def test_balance_messages() -> None:
    assert parse_balance_message(b'[1510000000.000123, 1, "BCH", "deposit", "20000.00000000"]') == (1, "BCH")
    for bad in (b'[1.0, 0, "BCH", "deposit", "1"]', b'[1.0, 1, 2, "deposit", "1"]', b'[1.0, 1]', b'{}', b"x"):
        assert parse_balance_message(bad) is None, bad


def test_auth_endpoint_replies() -> None:
    assert user_id_of(b'{"code": 0, "message": null, "data": {"user_id": 1}}', "e") == 1
    with pytest.raises(RpcError) as exc:
        user_id_of(b'{"code": 401, "message": "token expired"}', "e")
    assert (exc.value.code, exc.value.message) == (AUTH_REFUSED, "token expired")
    for body in (b"<html>", b"[]", b'{"message": "x"}', b'{"code": 1}', b'{"code": "1", "message": "x", '
                 b'"data": {"user_id": 5}}', b'{"code": 0, "data": {}}', b'{"code": 0, "data": {"user_id": 0}}',
                 b'{"code": 0, "data": {"user_id": 4294967296}}', b'{"code": 0, "data": {"user_id": "1"}}'):
        with pytest.raises(RpcError) as exc:
            user_id_of(body, "e")
        assert exc.value.code == 2, body


def test_origin_must_match_at_a_boundary() -> None:
    assert origin_allowed(None, "")
    assert origin_allowed("https://www.example.com", "example.com")
    assert origin_allowed("https://example.com", "example.com")
    assert origin_allowed("example.com", "example.com")
    assert not origin_allowed("https://evilexample.com", "example.com")
    assert not origin_allowed(None, "example.com")
    assert not origin_allowed("https://example.com.evil.org", "example.com")


def base(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "log": {"path": "/tmp/x", "flag": "fatal"},
        "alert": {"host": "h", "addr": "127.0.0.1:4444"},
        "svr": {"bind": ["stream@/tmp/accessws.sock", "tcp@0.0.0.0:8090"], "max_pkg_size": 102400},
        "monitor": {"bind": "tcp@0.0.0.0:8091", "max_pkg_size": 1024},
        "matchengine": {"name": "me", "addr": "tcp@127.0.0.1:7316", "max_pkg_size": 2000000},
        "marketprice": {"name": "mp", "addr": "tcp@127.0.0.1:7416", "max_pkg_size": 2000000},
        "readhistory": {"name": "rh", "addr": "tcp@127.0.0.1:7424", "max_pkg_size": 2000000},
        "orders": {"brokers": "127.0.0.1:9092", "topic": "orders"},
        "balances": {"brokers": "127.0.0.1:9092", "topic": "balances"},
        "auth_url": "http://127.0.0.1/auth", "sign_url": "http://127.0.0.1/sign",
        "depth_limit": [1, 5, 10], "depth_merge": ["0", "0.00000001", "0.1"],
        "debug": True, "timeout": 1.0, "deals": {"brokers": "x", "topic": "deals"},
    }
    config.update(overrides)
    return config


def test_config_defaults() -> None:
    config = load_config(Section(base()))
    assert config.svr.protocol == "chat" and config.svr.origin == "" and config.svr.server.keep_alive == 3600
    assert [a.kind for a in config.svr.server.bind] == ["stream", "tcp"]
    assert (config.backend_timeout, config.cache_timeout, config.worker_num) == (1.0, 0.5, 1)
    assert config.intervals.depth == config.intervals.deals == 0.5
    assert config.depth_merge == [Decimal(0), Decimal("1e-8"), Decimal("0.1")]
    assert config.orders.partition == 0 and config.orders.limit == 1000
    assert (config.matchengine.request_limit, config.marketprice.request_limit) == (10240, 1000000)
    assert (config.stops.brokers, config.stops.topic, config.stops.partition) == ("127.0.0.1:9092", "stops", 0)
    own = load_config(Section(base(stops={"brokers": "10.0.0.1:9092", "topic": "stop_events", "partition": 1})))
    assert (own.stops.brokers, own.stops.topic, own.stops.partition) == ("10.0.0.1:9092", "stop_events", 1)


@pytest.mark.parametrize(("overrides", "field"), [
    ({"auth_url": None}, "auth_url"),
    ({"depth_limit": [1, 0]}, "depth_limit[1]"),
    ({"depth_limit": [1.0]}, "depth_limit[0]"),
    ({"depth_merge": ["x"]}, "depth_merge[0]"),
    ({"depth_merge": []}, "depth_merge"),
    ({"worker_num": 2.0}, "worker_num"),
    ({"depth_interval": 0}, "depth_interval"),
    ({"svr": {"bind": "udp@0.0.0.0:1", "max_pkg_size": 1}}, "svr.bind"),
    ({"monitor": {"bind": "tcp@0.0.0.0:1"}}, "monitor.max_pkg_size"),
    ({"stops": {"brokers": "127.0.0.1:9092"}}, "stops.topic"),
    ({"matchengine": {"name": "me", "addr": "tcp@127.0.0.1:1", "max_pkg_size": 1, "request_limit": 1.5}},
     "matchengine.request_limit"),
])
def test_config_errors_name_the_field(overrides: dict[str, Any], field: str) -> None:
    config = base(**overrides)
    if overrides.get("auth_url", "") is None:
        del config["auth_url"]
    with pytest.raises(ConfigError) as exc:
        load_config(Section(config))
    assert f"'{field}'" in str(exc.value)
