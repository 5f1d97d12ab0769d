"""accesshttp without processes: the request envelope rules (http-api.md §1.3), the error bodies and the config."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accesshttp.config import load_config
from accesshttp.envelope import (
    INT64_MAX,
    INT64_MIN,
    holds_nul,
    invalid_argument,
    method_not_found,
    not_a_call,
    parse_call,
    service_timeout,
)
from accesshttp.methods import BACKENDS, EXTENSION_METHODS, METHODS, ORIGINAL_METHODS, routed_methods
from accesshttp.openrpc import OPENRPC_FILE, openrpc_document
from common.config import ConfigError, Section


@pytest.mark.parametrize("body", [
    b'{"id": 1, "method": "market.list", "params": []}',
    b'{"id": -1, "method": "x", "params": [1, "a", null, {"k": [1.5]}]}',
    b'{"jsonrpc": "2.0", "id": 0, "method": "", "params": []}',
    b'{"id": 9223372036854775807, "method": "m", "params": []}',
    b'{"id": -9223372036854775808, "method": "m", "params": []}',
    b' \r\n\t{"id": 1, "method": "m", "params": []}\n',
    b'{"id": "x", "id": 5, "method": "m", "params": []}',
    b'{"id": 1, "method": "m", "params": ["\\\\u0000"]}',
])
def test_well_formed_envelopes(body: bytes) -> None:
    call = parse_call(body)
    assert call is not None
    decoded = orjson.loads(body)
    assert call == (decoded["id"], decoded["method"], decoded["params"])


@pytest.mark.parametrize("body", [
    b"",
    b" ",
    b"null",
    b"[]",
    b'"text"',
    b"{}",
    b"not json",
    b'{"id": 1, "method": "m", "params": []} trailing',
    b'{"id": 1, "method": "m", "params": [NaN]}',
    b'{"id": 1, "method": "m", "params": [Infinity]}',
    b'{"id": 1, "method": "m", "params": [-Infinity]}',
    b'{"id": 1, "method": "m", "params": [1e400]}',
    b'{"id": 1, "method": "m", "params": ["\xff"]}',
    b'{"id": 1, "method": "m", "params": ["\\ud800"]}',
    b'{"id": 1, "method": "m", "params": ["a\\u0000b"]}',
    b'{"id": 1, "method": "m\\u0000", "params": []}',
    b'{"id": 1, "method": "m", "params": [{"k\\u0000": 1}]}',
    b'{"id": 1, "method": "m", "params": [], "x": "\\u0000"}',
    b'{"method": "m", "params": []}',
    b'{"id": null, "method": "m", "params": []}',
    b'{"id": "1", "method": "m", "params": []}',
    b'{"id": 1.0, "method": "m", "params": []}',
    b'{"id": 1e2, "method": "m", "params": []}',
    b'{"id": true, "method": "m", "params": []}',
    b'{"id": [1], "method": "m", "params": []}',
    b'{"id": 9223372036854775808, "method": "m", "params": []}',
    b'{"id": -9223372036854775809, "method": "m", "params": []}',
    b'{"id": 18446744073709551615, "method": "m", "params": []}',
    b'{"id": 1, "params": []}',
    b'{"id": 1, "method": 5, "params": []}',
    b'{"id": 1, "method": null, "params": []}',
    b'{"id": 1, "method": "m"}',
    b'{"id": 1, "method": "m", "params": {}}',
    b'{"id": 1, "method": "m", "params": "[]"}',
    b'{"id": 1, "method": "m", "params": null}',
    b'\xef\xbb\xbf{"id": 1, "method": "m", "params": []}',
])
def test_malformed_envelopes(body: bytes) -> None:
    assert isinstance(parse_call(body), str)


@pytest.mark.parametrize(("body", "reason"), [
    (b"", "body: empty (a JSON-RPC call is POSTed)"),
    (b"[1]", 'body: must be a JSON object {"id", "method", "params"}'),
    (b'{"method": "m", "params": []}', "id: missing"),
    (b'{"id": 1, "params": []}', "method: missing"),
    (b'{"id": 1, "method": "m"}', "params: missing"),
    (b'{"id": "1", "method": "m", "params": []}', "id: must be a 64-bit integer"),
    (b'{"id": 9223372036854775808, "method": "m", "params": []}', "id: must be a 64-bit integer"),
    (b'{"id": 1, "method": 5, "params": []}', "method: must be a string"),
    (b'{"id": 1, "method": "m", "params": {}}', "params: must be an array"),
    (b'{"id": 1, "method": "m", "params": ["\\u0000"]}', "body: a string holds U+0000"),
])
def test_what_is_wrong_with_an_envelope_is_named(body: bytes, reason: str) -> None:
    assert parse_call(body) == reason
    assert orjson.loads(not_a_call(reason)) == {"error": {"code": 1, "message": "invalid argument", "data": reason},
                                                "result": None, "id": None}


def test_a_body_that_is_not_json_gets_the_parsers_reason() -> None:
    reason = parse_call(b"hello")
    assert isinstance(reason, str) and reason.startswith("body: not JSON (") and "line 1 column 1" in reason


@given(st.integers())
def test_id_range_is_signed_64_bit(call_id: int) -> None:
    body = b'{"id": %d, "method": "m", "params": []}' % call_id
    call = parse_call(body)
    if INT64_MIN <= call_id <= INT64_MAX:
        assert call == (call_id, "m", [])
    else:
        assert call == "id: must be a 64-bit integer"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(INT64_MIN, INT64_MAX) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20)


@given(json_values)
def test_nul_detection_matches_a_scan_of_the_text(value: Any) -> None:
    # a decoded value holds NUL exactly when its encoding has a \u0000 escape (orjson escapes NUL so)
    assert holds_nul(value) == (b"\\u0000" in orjson.dumps(value))


def test_error_bodies_are_the_originals() -> None:
    assert orjson.loads(method_not_found(-5)) == {"error": {"code": 4, "message": "method not found"},
                                                  "result": None, "id": -5}
    assert orjson.loads(service_timeout(INT64_MAX)) == {"error": {"code": 5, "message": "service timeout"},
                                                        "result": None, "id": INT64_MAX}
    reason = "params: nested deeper than 255 levels"
    assert orjson.loads(invalid_argument(0, reason)) == {
        "error": {"code": 1, "message": "invalid argument", "data": reason}, "result": None, "id": 0}
    assert list(orjson.loads(method_not_found(1))) == ["error", "result", "id"]


def test_method_table_is_the_specs() -> None:
    assert len(ORIGINAL_METHODS) == 23 and len(METHODS) == 37
    by_backend = {b: sorted(m for m, r in ORIGINAL_METHODS.items() if r.backend == b) for b in BACKENDS}
    assert by_backend["readhistory"] == ["balance.history", "market.user_deals", "order.deals", "order.finished",
                                         "order.finished_detail"]
    assert by_backend["marketprice"] == ["market.deals", "market.kline", "market.last", "market.status",
                                         "market.status_today"]
    assert METHODS["order.pending"].command == 203 and METHODS["order.pending_detail"].command == 207
    assert METHODS["order.finished"].command == 208 and METHODS["order.deals"].command == 209
    assert len({r.command for r in METHODS.values()}) == 37


def test_extension_methods_have_the_forks_numbers() -> None:
    commands = {name: (route.backend, route.command) for name, route in EXTENSION_METHODS.items()}
    assert commands == {
        "asset.lock": ("matchengine", 106), "asset.unlock": ("matchengine", 107),
        "asset.query_lock": ("matchengine", 108), "order.put_stop_limit": ("matchengine", 211),
        "order.put_stop_market": ("matchengine", 212), "order.cancel_stop": ("matchengine", 213),
        "order.pending_stop": ("matchengine", 214), "order.finished_stop": ("readhistory", 215),
        "order.stop_book": ("matchengine", 216), "order.cancel_all": ("matchengine", 218),
        "order.cancel_stop_all": ("matchengine", 219), "order.cancel_batch": ("matchengine", 222),
        "config.update_asset": ("matchengine", 401), "config.update_market": ("matchengine", 402)}
    assert sorted(routed_methods(True)) == sorted(METHODS)
    assert sorted(routed_methods(False)) == sorted(set(METHODS) - {"config.update_asset", "config.update_market"})


def test_the_served_document_lists_the_routed_methods() -> None:
    every = orjson.loads(openrpc_document(routed_methods(True)))
    assert sorted(m["name"] for m in every["methods"]) == sorted(METHODS)
    assert openrpc_document(routed_methods(True)) == OPENRPC_FILE.read_bytes()
    public = orjson.loads(openrpc_document(routed_methods(False)))
    assert sorted(m["name"] for m in public["methods"]) == sorted(routed_methods(False))
    assert public["components"] == every["components"]


def sample_config(**overrides: Any) -> dict[str, Any]:
    def client(name: str, port: int) -> dict[str, Any]:
        return {"name": name, "addr": [f"tcp@127.0.0.1:{port}"], "max_pkg_size": 2000000}

    config: dict[str, Any] = {
        "log": {"path": "/tmp/accesshttp", "flag": "fatal,error"},
        "alert": {"host": "accesshttp", "addr": "127.0.0.1:4444"},
        "svr": {"bind": ["tcp@0.0.0.0:8080"], "max_pkg_size": 102400},
        "monitor": {"bind": "tcp@0.0.0.0:8081", "max_pkg_size": 1024},
        "matchengine": client("matchengine", 7316),
        "marketprice": client("marketprice", 7416),
        "readhistory": client("readhistory", 7424),
        "timeout": 1.0,
        "worker_num": 4,
        "debug": True,
    }
    config.update(overrides)
    return config


def test_shipped_config_loads() -> None:
    config = load_config(Section(sample_config()))
    assert (config.timeout, config.worker_num, config.svr.max_pkg_size, config.svr.keep_alive) == (1.0, 4, 102400, 3600)
    assert config.backends["matchengine"].request_limit == 10240
    assert config.backends["readhistory"].request_limit == 1_000_000
    assert str(config.svr.bind[0]) == "tcp@0.0.0.0:8080"


def test_defaults() -> None:
    raw = sample_config()
    del raw["timeout"], raw["worker_num"]
    raw["matchengine"]["request_limit"] = 65536
    config = load_config(Section(raw))
    assert (config.timeout, config.worker_num, config.connect_wait, config.config_methods) == (1.0, 1, 1.0, False)
    assert load_config(Section(sample_config(config_methods=True))).config_methods
    assert config.backends["matchengine"].request_limit == 65536


@pytest.mark.parametrize(("change", "field"), [
    ({"timeout": 0}, "'timeout'"),
    ({"timeout": "1"}, "'timeout'"),
    ({"worker_num": 0}, "'worker_num'"),
    ({"svr": {"bind": "udp@0.0.0.0:8080", "max_pkg_size": 1}}, "'svr.bind'"),
    ({"svr": {"bind": "tcp@0.0.0.0:8080"}}, "'svr.max_pkg_size'"),
    ({"monitor": None}, "'monitor'"),
    ({"readhistory": {"name": "rh", "addr": "tcp@1.2.3.4:1"}}, "'readhistory.max_pkg_size'"),
    ({"marketprice": None}, "'marketprice'"),
    ({"config_methods": 1}, "'config_methods'"),
])
def test_config_errors_name_the_field(change: dict[str, Any], field: str) -> None:
    raw = sample_config(**change)
    raw = {k: v for k, v in raw.items() if v is not None}
    with pytest.raises(ConfigError, match=field):
        load_config(Section(raw))
