"""`python -m deploy.launcher`: the whole exchange from one command, on a fresh data directory.

One launcher run on ports moved by a free `--port-offset` (so a developer's
exchange on the original ports is left alone): it answers HTTP and websocket
within 30 s, the demo runs against it, a trade is made; Ctrl-C (SIGINT)
stops everything; a second run on the same data directory keeps balances,
orders, history and market data, and marketprice follows the new (empty)
broker; a daemon killed by a signal is started again; SIGTERM stops it too and
nothing is left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect

from deploy.launcher.layout import Ports, busy_ports
from tests.e2e.deploy_support import is_running, wait_for
from tests.support import ROOT

START_BUDGET = 30.0
MARKET = "ETHUSDT"
SELLER, BUYER = 21, 22


def free_port_offset() -> int:
    for _ in range(100):
        offset = random.randrange(20000, 50000)
        if not busy_ports(Ports(offset)):
            return offset
    pytest.skip("no free set of ports for the launcher")


class Launcher:
    """`python -m deploy.launcher run --data DIR --port-offset N` as a real process."""

    def __init__(self, data: Path, offset: int) -> None:
        self.data = data
        self.offset = offset
        self.output = data.parent / "launcher.out"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "deploy.launcher", *args, "--data", str(self.data),
                "--port-offset", str(self.offset)]

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ, PYTHONPATH=str(ROOT))

    def text(self) -> str:
        return self.output.read_text(errors="replace") if self.output.exists() else ""

    def start(self) -> float:
        """Start it and wait for the URLs; the seconds that took."""
        runs = self.text().count("WebSocket      ws://")
        started = time.monotonic()
        with open(self.output, "ab") as out:
            self.proc = subprocess.Popen(self.command("run"), stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                         start_new_session=True)
        while self.text().count("WebSocket      ws://") == runs:
            assert self.proc.poll() is None, self.text()
            assert time.monotonic() - started < START_BUDGET, f"not up after {START_BUDGET} s:\n{self.text()}"
            time.sleep(0.1)
        return time.monotonic() - started

    def state(self) -> dict[str, Any]:
        return orjson.loads((self.data / "run" / "launcher.json").read_bytes())

    def stop(self, signo: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(signo)
        return self.proc.wait(120)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class Http:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/"

    def call(self, method: str, params: list[Any]) -> Any:
        body = orjson.dumps({"id": 1, "method": method, "params": params})
        with urllib.request.urlopen(urllib.request.Request(self.url, data=body), timeout=10) as response:
            answer = orjson.loads(response.read())
        assert answer["error"] is None, (method, params, answer)
        return answer["result"]

    def until(self, method: str, params: list[Any], check: Any, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            try:
                result = self.call(method, params)
            except urllib.error.HTTPError as exc:  # 500 while the gateway reconnects to a restarted backend
                result = exc
            if not isinstance(result, Exception) and check(result):
                return result
            assert time.monotonic() < deadline, (method, params, result)
            time.sleep(0.1)


async def ws_exchange(port: int) -> tuple[Any, Any]:
    async with connect(f"ws://127.0.0.1:{port}/") as ws:
        await ws.send(orjson.dumps({"id": 1, "method": "server.ping", "params": []}).decode())
        pong = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        await ws.send(orjson.dumps({"id": 2, "method": "price.query", "params": [MARKET]}).decode())
        price = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
    return pong, price


def trade(http: Http, price: str, business_id: int) -> dict[str, Any]:
    """Both users are funded, the seller asks 0.4 ETH at `price` and the buyer takes it; the buyer's order."""
    http.call("balance.update", [SELLER, "ETH", "deposit", business_id, "1", {}])
    http.call("balance.update", [BUYER, "USDT", "deposit", business_id, "10000", {}])
    http.call("order.put_limit", [SELLER, MARKET, 1, "0.4", price, "0.002", "0.001", "test"])
    return http.call("order.put_limit", [BUYER, MARKET, 2, "0.4", price, "0.002", "0.001", "test"])


def snapshot(http: Http, bid_id: int) -> dict[str, Any]:
    """What a restart must keep."""
    return {
        "balances": [http.call("balance.query", [user]) for user in (SELLER, BUYER)],
        "pending": http.call("order.pending", [SELLER, MARKET, 0, 10]),
        "finished": http.call("order.finished", [BUYER, MARKET, 0, 0, 0, 10]),
        "deals": http.call("order.deals", [bid_id, 0, 10]),
        "history": http.call("balance.history", [SELLER, "", "", 0, 0, 0, 20]),
        "last": http.call("market.last", [MARKET]),
        "market_deals": http.call("market.deals", [MARKET, 10, 0]),
    }


def assert_all_gone(pids: dict[str, int]) -> None:
    wait_for(lambda: not any(is_running(pid) for pid in pids.values()), 10,
             f"children left running: {[n for n, p in pids.items() if is_running(p)]}")


def test_the_launcher_runs_resumes_and_stops(tmp_path: Path) -> None:
    offset = free_port_offset()
    ports = Ports(offset)
    launcher = Launcher(tmp_path / "data", offset)
    try:
        took = launcher.start()
        print(f"launcher up in {took:.1f} s")
        assert f"HTTP JSON-RPC  http://127.0.0.1:{ports['http']}/" in launcher.text()
        http = Http(ports["http"])
        assert [m["name"] for m in http.call("market.list", [])] == ["BTCUSDT", "ETHUSDT", "ETHBTC"]
        pong, price = asyncio.run(ws_exchange(ports["ws"]))
        assert pong["result"] == "pong" and price["result"] == "0"

        other = subprocess.run(launcher.command("run"), capture_output=True, text=True, env=launcher.env, timeout=60)
        assert other.returncode == 1 and "another launcher is running on" in other.stdout
        elsewhere = subprocess.run([*launcher.command("run")[:-4], "--data", str(tmp_path / "other"),
                                    "--port-offset", str(offset)], capture_output=True, text=True,
                                   env=launcher.env, timeout=60)
        assert elsewhere.returncode == 1 and f"port {ports['http']} (accesshttp HTTP) is in use" in elsewhere.stdout

        demo = subprocess.run(launcher.command("demo"), capture_output=True, text=True, env=launcher.env, timeout=60)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "deals.update" in demo.stdout and "depth.update" in demo.stdout and demo.stdout.endswith("done.\n")
        assert '"status":1,"client_id":"demo-stop-loss"' in demo.stdout  # the stop-loss fired, read from history

        bid = trade(http, "2000", 1)
        http.call("order.put_limit", [SELLER, MARKET, 1, "0.5", "5000", "0.002", "0.001", "resting"])
        http.until("order.deals", [bid["id"], 0, 10], lambda page: len(page["records"]) == 1)
        http.until("market.last", [MARKET], lambda last: last == "2000.00")
        # history is written in stripes that commit on their own: wait for each shard the snapshot reads
        http.until("order.finished", [BUYER, MARKET, 0, 0, 0, 10], lambda page: len(page["records"]) == 1)
        http.until("balance.history", [SELLER, "", "", 0, 0, 0, 20],
                   lambda page: any(r["business"] == "trade" for r in page["records"]))
        before = snapshot(http, bid["id"])
        assert before["balances"][0]["ETH"] == {"available": "0.1", "freeze": "0.5"}
        assert before["pending"]["total"] == 1

        pids = launcher.state()["children"]
        assert launcher.stop(signal.SIGINT) == 0
        assert_all_gone(pids)
        assert "stopping matchengine" in launcher.text()
        assert not (tmp_path / "data" / "run" / "launcher.json").exists()

        took = launcher.start()
        print(f"launcher up again in {took:.1f} s")
        for method, params in (("balance.query", [SELLER]), ("order.deals", [bid["id"], 0, 10]),
                               ("market.last", [MARKET])):  # every gateway worker reaches every backend
            http.until(method, params, lambda _: True)
        assert snapshot(http, bid["id"]) == before

        second = trade(http, "2100", 2)  # the broker started empty: marketprice must follow it
        http.until("market.last", [MARKET], lambda last: last == "2100.00")
        deals = http.until("market.deals", [MARKET, 10, 0], lambda deals: len(deals) == 2)
        assert [d["price"] for d in deals] == ["2100", "2000"]
        http.until("order.deals", [second["id"], 0, 10], lambda page: len(page["records"]) == 1)
        kline = http.call("market.kline", [MARKET, int(time.time()) - 600, int(time.time()), 60])
        assert sum(float(candle[5]) for candle in kline) == pytest.approx(0.8)

        killed = launcher.state()["children"]["readhistory"]
        os.kill(killed, signal.SIGKILL)  # the launcher starts a daemon killed by a signal again
        wait_for(lambda: launcher.state()["children"]["readhistory"] != killed, 10, "readhistory not restarted")
        http.until("order.finished", [BUYER, MARKET, 0, 0, 0, 10], lambda page: len(page["records"]) == 2)
        assert "readhistory was killed by SIGKILL: starting it again in 1 s" in launcher.text()

        pids = launcher.state()["children"]
        assert launcher.stop(signal.SIGTERM) == 0
        assert_all_gone(pids)
    finally:
        launcher.kill()
