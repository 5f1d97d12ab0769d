"""accesshttp as a real process in front of fake RPC backends: routing, bytes, 500, 504, frame limits.

The backends here are `FakeBackend`s (echo or silent), so each case the
gateway must handle can be produced on demand: a backend that never
answers, one that goes away and comes back, and replies whose bytes are
known in advance.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from accesshttp.methods import METHODS
from common.rpc import HEADER_SIZE
from tests.e2e.accesshttp_stack import FakeBackend, HttpClient, accesshttp_config, http_port, wait_backend
from tests.support import Daemon


class Gateway:
    """An accesshttp process whose three backends are fake ones."""

    def __init__(self, workdir: Path, modes: dict[str, str], **overrides: Any) -> None:
        self.backends = {name: FakeBackend(mode).start() for name, mode in modes.items()}
        config = accesshttp_config(workdir, engine=self.backends["matchengine"].port,
                                   marketprice=self.backends["marketprice"].port,
                                   readhistory=self.backends["readhistory"].port, **overrides)
        self.daemon = Daemon("accesshttp", config, workdir).start()
        self.port = http_port(config)

    def stop(self) -> None:
        self.daemon.stop()
        for backend in self.backends.values():
            backend.stop()


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = Gateway(tmp_path_factory.mktemp("echo"), {"matchengine": "echo", "marketprice": "echo", "readhistory": "echo"},
                      config_methods=True)
    wait_backend(gateway.port, "balance.history", [])
    wait_backend(gateway.port, "market.last", [])
    wait_backend(gateway.port, "asset.list", [])
    yield gateway
    gateway.stop()


def test_every_method_reaches_its_backend_with_its_command(echo: Gateway) -> None:
    client = HttpClient(echo.port)
    for number, (method, route) in enumerate(METHODS.items(), start=1):
        params = [number, method, {"nested": [1.5, None, True]}, "ünïcode"]
        before = {name: b.requests for name, b in echo.backends.items()}
        reply = client.call(method, params, call_id=number)
        # the backend's reply bytes are forwarded unchanged
        assert reply.status == 200
        assert reply.body == orjson.dumps({"error": None, "result": {"conn": 1, "command": route.command,
                                                                     "params": params}, "id": number})
        after = {name: b.requests for name, b in echo.backends.items()}
        assert {name for name in after if after[name] != before[name]} == {route.backend}, method
    client.close()


def test_ids_round_trip_through_the_frame(echo: Gateway) -> None:
    client = HttpClient(echo.port)
    for call_id in (0, -1, 2**63 - 1, -(2**63), 4294967296):
        reply = client.call("asset.list", [], call_id=call_id)
        assert (reply.status, reply.json()["id"]) == (200, call_id)


def test_params_too_large_for_the_backend_are_refused_without_sending(echo: Gateway) -> None:
    client = HttpClient(echo.port)
    engine = echo.backends["matchengine"]
    big = "x" * 20000  # fits the HTTP limit, not matchengine's 10240-byte frames
    sent = engine.requests
    reply = client.call("order.put_limit", [1, "BTCBCH", 1, "1", "1", "0", "0", big], call_id=77)
    size = len(orjson.dumps([1, "BTCBCH", 1, "1", "1", "0", "0", big]))
    reason = f"params: {size} bytes, more than the {10240 - HEADER_SIZE} the backend takes"
    assert (reply.status, reply.json()) == (200, {"error": {"code": 1, "message": "invalid argument", "data": reason},
                                                  "result": None, "id": 77})
    assert engine.requests == sent
    # readhistory accepts frames up to 1000000 bytes: the same params are forwarded
    reply = client.call("order.deals", [big])
    assert reply.json()["result"]["params"] == [big]
    # and the engine connection was never dropped
    assert client.call("asset.list", []).json()["result"]["conn"] == engine.connections == 1


def test_silent_backend_answers_504_after_the_timeout(tmp_path: Path) -> None:
    gateway = Gateway(tmp_path, {"matchengine": "silent", "marketprice": "silent", "readhistory": "echo"},
                      timeout=0.4)
    try:
        client = HttpClient(gateway.port)
        wait_backend(gateway.port, "order.deals", [])
        started = time.monotonic()
        reply = client.call("balance.query", [1], call_id=-42)
        elapsed = time.monotonic() - started
        assert reply.status == 504
        assert reply.json() == {"error": {"code": 5, "message": "service timeout"}, "result": None, "id": -42}
        assert 0.35 <= elapsed < 1.5
        assert not reply.closes
        # the connection stays usable and other backends are unaffected
        assert client.call("order.deals", [1]).status == 200
        assert client.call("market.status", ["BTCBCH", 60]).status == 504
        assert gateway.backends["matchengine"].requests == 1
    finally:
        gateway.stop()


def test_backend_down_answers_500_until_it_is_back(tmp_path: Path) -> None:
    gateway = Gateway(tmp_path, {"matchengine": "echo", "marketprice": "echo", "readhistory": "echo"})
    try:
        wait_backend(gateway.port, "asset.list", [])
        client = HttpClient(gateway.port)
        engine = gateway.backends["matchengine"]
        engine.stop()
        deadline = time.monotonic() + 5
        while (reply := client.call("asset.list", [])).status != 500:
            assert time.monotonic() < deadline, reply
            time.sleep(0.02)
        assert (reply.body, reply.closes) == (b"", False)
        assert client.call("market.last", ["BTCBCH"]).status == 200  # only that backend's methods fail
        gateway.backends["matchengine"] = FakeBackend("echo", port=engine.port).start()
        wait_backend(gateway.port, "asset.list", [], timeout=10)
        assert client.call("asset.list", []).json()["result"]["command"] == 104
    finally:
        gateway.stop()
