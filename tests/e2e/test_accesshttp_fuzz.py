"""Random JSON-RPC bodies against a real stack (matchengine, MariaDB, broker, accesshttp with 2 workers).

Every routed method is drawn, the extensions' (options, stops, locks, mass cancel, config methods) too.
Whatever is posted, the answer is one of the spec's: 200 with a JSON reply
carrying the request's id, 400 with error 1 and its reason (id null), 404 with error 4, 500
with an empty body only for a backend that is not running (marketprice and
readhistory are not started here), or 504 with error 5.  No daemon dies.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accesshttp.envelope import INT64_MAX, INT64_MIN, holds_nul
from accesshttp.methods import METHODS
from tests.e2e.accesshttp_stack import HttpClient, Reply, Stack

RUNNING = {"matchengine"}
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

plausible = {
    "u": st.integers(0, 12) | st.sampled_from([-1, 4294967297, 2**63 - 1]),
    "m": st.sampled_from(["BTCBCH", "BTCUSDT", "btcbch", "", "NOPE"]),
    "a": st.sampled_from(["BTC", "BCH", "USDT", "", "btc"]),
    "s": st.integers(0, 3),
    "d": st.sampled_from(["1", "0.5", "0.001", "100", "8000", "0", "-1", "0e-8", "1e-8", "1e400", "NaN", "-Infinity",
                          "sNaN", "1.123456789123", " 1", "1_0", "", "0x10", "99999999999999999999"]),
    "i": st.integers(-2, 200) | st.integers(INT64_MIN, 2**64 - 1),
    "t": st.text(max_size=40) | st.sampled_from(["deposit", "withdraw", "api.v1", "x" * 31]),
    "o": st.dictionaries(st.text(max_size=5), st.integers(INT64_MIN, INT64_MAX) | st.text(max_size=5), max_size=3),
    "x": st.sampled_from([None, 0, 0x4, 0x8, 0x10, 0x20, 0x40, 0x80, 0x100, 0x200, 0x300, 0x400, -1, 2**64 - 1, "8"])
    | st.integers(0, 0x3FF),
    "c": st.sampled_from(["", "c-1", "x" * 32, "x" * 33, "bad id", None, 5]),
    "n": st.none() | st.sampled_from(["BTCBCH", "BTCUSDT", "NOPE", ""]),
    "l": st.lists(st.integers(-1, 60) | st.sampled_from([2**64 - 1, "1", None]), max_size=4),
    "A": st.fixed_dictionaries({"name": st.sampled_from(["BTC", "BCH", "FZA", "FZB", "", "X" * 16]),
                                "prec_save": st.integers(-1, 40) | st.sampled_from(["8", None])},
                               optional={"prec_show": st.integers(-1, 40)}),
    "M": st.fixed_dictionaries({"name": st.sampled_from(["BTCBCH", "FZABCH", "FZBBTC", "", "M" * 31]),
                                "stock": st.fixed_dictionaries({"name": st.sampled_from(["BTC", "FZA", "FZB", "NO"]),
                                                                "prec": st.integers(-1, 12)}),
                                "money": st.fixed_dictionaries({"name": st.sampled_from(["BCH", "BTC", "USDT"]),
                                                                "prec": st.integers(-1, 12)})},
                               optional={"fee_prec": st.integers(-1, 8), "min_amount": st.sampled_from(
                                   ["0.001", "0", "-1", "NaN", "1e400", 1]),
                                   "stp": st.sampled_from(["none", "cancel_taker", "cancel_both", "nope"])}),
}
TEMPLATES: dict[str, tuple[str, ...]] = {
    "balance.update": ("uatido",), "balance.query": ("ua",), "asset.summary": ("a",), "market.summary": ("m",),
    "order.put_limit": ("umsddddt", "umsddddtx", "umsddddtxc"), "order.put_market": ("umsddt", "umsddtxc"),
    "order.cancel": ("umi",), "order.book": ("msii",), "order.depth": ("mid",), "order.pending": ("umii",),
    "order.pending_detail": ("mi",), "asset.list": ("",), "market.list": ("",),
    "asset.lock": ("uatid",), "asset.unlock": ("uatid",), "asset.query_lock": ("u", "ua"),
    "order.put_stop_limit": ("umsdddddt", "umsdddddtxc"), "order.put_stop_market": ("umsdddt", "umsdddtxc"),
    "order.cancel_stop": ("umi",), "order.cancel_stop_all": ("um", "ums"), "order.pending_stop": ("unsii",),
    "order.stop_book": ("msii",), "order.cancel_all": ("un", "uns"), "order.cancel_batch": ("uml",),
    "config.update_asset": ("A",), "config.update_market": ("M",),
}

scalars = (st.none() | st.booleans() | st.integers(INT64_MIN, 2**64 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30))
any_json = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=10)


@st.composite
def params_for(draw: st.DrawFn, method: str) -> list[Any]:
    templates = TEMPLATES.get(method)
    if templates is None or draw(st.integers(0, 9)) == 0:
        return draw(st.lists(any_json, max_size=9))
    template = draw(st.sampled_from(templates))
    params: list[Any] = [draw(plausible[kind]) if draw(st.integers(0, 7)) else draw(any_json) for kind in template]
    if draw(st.integers(0, 9)) == 0:
        drop_last = bool(params) and draw(st.booleans())
        params = params[:-1] if drop_last else [*params, draw(any_json)]
    return params


@st.composite
def calls(draw: st.DrawFn) -> tuple[int, str, list[Any]]:
    method = draw(st.sampled_from(sorted(METHODS))) if draw(st.integers(0, 9)) else draw(st.text(max_size=20))
    return draw(st.integers(INT64_MIN, INT64_MAX)), method, draw(params_for(method))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("accesshttp_fuzz")).start(worker_num=2, config_methods=True)
    client = stack.client()
    for user in range(1, 6):  # some funds, so that some random orders trade
        for asset in ("BTC", "BCH", "USDT"):
            client.result("balance.update", [user, asset, "deposit", user, "1000000", {}])
    client.close()
    yield stack
    assert stack.engine is not None and stack.gateway is not None
    assert stack.engine.alive() and stack.gateway.alive()
    stack.stop()


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[HttpClient]:
    client = stack.client()
    yield client
    client.close()


def assert_not_a_call(reply: Reply) -> None:
    """HTTP 400 with error 1, the reason in `data`, id null; the connection closed (docs/deviations.md #67)."""
    assert (reply.status, reply.closes) == (400, True), reply
    answer = reply.json()
    assert answer["error"]["code"] == 1 and answer["error"]["message"] == "invalid argument", answer
    assert type(answer["error"]["data"]) is str and (answer["result"], answer["id"]) == (None, None), answer


def check_answer(reply: Reply, call_id: int, method: str, params: list[Any]) -> None:
    if holds_nul([method, params]):
        assert_not_a_call(reply)
        return
    route = METHODS.get(method)
    if route is None:
        assert reply.status == 404
        assert reply.json() == {"error": {"code": 4, "message": "method not found"}, "result": None, "id": call_id}
        return
    if route.backend not in RUNNING:
        assert (reply.status, reply.body) == (500, b"")
        return
    assert reply.status in (200, 504), reply
    answer = reply.json()
    assert list(answer) == ["error", "result", "id"] and answer["id"] == call_id
    if reply.status == 504:
        assert answer["error"] == {"code": 5, "message": "service timeout"}
    elif answer["error"] is not None:
        assert answer["result"] is None and answer["error"]["code"] in (1, 2, 3, 10, 11, 12, 13), answer


@FUZZ
@given(calls())
def test_random_calls_get_the_specs_answers(client: HttpClient, call: tuple[int, str, list[Any]]) -> None:
    call_id, method, params = call
    reply = client.post({"id": call_id, "method": method, "params": params})
    check_answer(reply, call_id, method, params)


@FUZZ
@given(st.binary(max_size=120) | st.builds(orjson.dumps, any_json))
def test_random_bodies_never_get_a_bare_5xx(client: HttpClient, body: bytes) -> None:
    reply = client.request(body)
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        assert_not_a_call(reply)
        return
    is_call = (type(decoded) is dict and type(decoded.get("id")) is int and INT64_MIN <= decoded["id"] <= INT64_MAX
               and type(decoded.get("method")) is str and type(decoded.get("params")) is list)
    if not is_call:
        assert_not_a_call(reply)
        return
    check_answer(reply, decoded["id"], decoded["method"], decoded["params"])


def test_daemons_survived(stack: Stack, client: HttpClient) -> None:
    assert stack.engine is not None and stack.gateway is not None
    assert stack.engine.alive() and stack.gateway.alive()
    assert client.result("balance.query", [1, "USDT"])["USDT"]["available"]
