"""The examples of accesshttp/openrpc.json, replayed in document order against running daemons.

The document's examples are one story on a fresh exchange configured as in
http-api.md §2.6.  A fresh stack runs matchengine behind accesshttp, plus
readhistory and marketprice when those daemons exist in the repository;
each example is posted through HTTP and its result must equal the
documented one.  Times (time, ctime, mtime, ftime, and the first column of
a k-line) only have to be numbers.  History rows and the deals feed arrive
asynchronously, so readhistory and marketprice examples are retried for a
while.  For a backend missing from the repository its examples are only
checked statically (tests/unit/test_accesshttp_openrpc.py) and here must
get HTTP 500, the gateway's answer for a backend that is not connected.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from accesshttp.gateway import OPENRPC_FILE
from accesshttp.methods import METHODS
from tests.e2e.accesshttp_stack import HttpClient, Stack, backend_present

DOC = orjson.loads(OPENRPC_FILE.read_bytes())
TIME_KEYS = {"time", "ctime", "mtime", "ftime"}
SPEC_ASSETS = [{"name": "BTC", "prec_save": 12, "prec_show": 8}, {"name": "BCH", "prec_save": 20, "prec_show": 8}]
SPEC_MARKETS = [{"name": "BTCBCH", "stock": {"name": "BTC", "prec": 8}, "money": {"name": "BCH", "prec": 8},
                 "fee_prec": 4, "min_amount": "0.001"}]
ASYNC_BACKENDS = {"readhistory", "marketprice"}
SETTLE = 15.0
PRESENT = {name: backend_present(name) for name in ASYNC_BACKENDS}


def same(documented: Any, actual: Any, key: str | None = None) -> bool:
    """Equal, except that times only have to be numbers."""
    if key in TIME_KEYS:
        return type(actual) in (int, float) and type(documented) in (int, float)
    if isinstance(documented, dict):
        return (isinstance(actual, dict) and documented.keys() == actual.keys()
                and all(same(documented[k], actual[k], k) for k in documented))
    if isinstance(documented, list):
        return (isinstance(actual, list) and len(documented) == len(actual)
                and all(same(d, a) for d, a in zip(documented, actual, strict=True)))
    return type(documented) is type(actual) and documented == actual


def same_klines(documented: Any, actual: Any) -> bool:
    """k-line rows: the bucket start (column 0) is a time."""
    return (isinstance(actual, list) and len(actual) == len(documented)
            and all(type(a[0]) is int and same(d[1:], a[1:]) for d, a in zip(documented, actual, strict=True)))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("accesshttp_openrpc")).start(
        readhistory=PRESENT["readhistory"], marketprice=PRESENT["marketprice"],
        engine_overrides={"assets": SPEC_ASSETS, "markets": SPEC_MARKETS}, config_methods=True)
    yield stack
    stack.stop()


def test_same_can_fail() -> None:
    assert same({"time": 1.5, "a": "1"}, {"time": 2.5, "a": "1"})
    assert not same({"time": 1.5, "a": "1"}, {"time": "x", "a": "1"})
    assert not same({"a": "1"}, {"a": "1", "b": 2})
    assert not same([1], [1.0])
    assert same_klines([[1, "0", "M"]], [[7, "0", "M"]]) and not same_klines([[1, "0", "M"]], [[7, "1", "M"]])


def test_examples_are_answered_as_documented(stack: Stack) -> None:
    client = HttpClient(stack.port)
    live = static = 0
    for method in DOC["methods"]:
        name = method["name"]
        backend = METHODS[name].backend
        compare = same_klines if name == "market.kline" else same
        for example in method["examples"]:
            params = [pair["value"] for pair in example["params"]]
            expected = example["result"]["value"]
            if backend in ASYNC_BACKENDS and not PRESENT[backend]:
                reply = client.call(name, params)
                assert (reply.status, reply.body) == (500, b""), (name, example["name"])
                static += 1
                continue
            deadline = time.monotonic() + (SETTLE if backend in ASYNC_BACKENDS else 0)
            while True:
                reply = client.call(name, params)
                answer = reply.json()
                ok = reply.status == 200 and answer["error"] is None and compare(expected, answer["result"])
                if ok or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert ok, (name, example["name"], expected, reply.status, answer)
            live += 1
    client.close()
    examples = sum(len(m["examples"]) for m in DOC["methods"])
    assert live + static == examples
    assert static == 0 or not all(PRESENT.values())
