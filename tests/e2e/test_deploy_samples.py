"""Every production sample config under deploy/*/conf starts on this machine, as a real process, and serves.

The samples are used as they are, except for what cannot be the same here: every host:port is moved to a
free loopback port (the same original port to the same free port in every file, so that the daemons find
each other: accesshttp the engine, marketprice accesshttp, everyone alertcenter), the Kafka broker and the
Redis Sentinels to the test's own, the MySQL user, password and database names to the test's (created by
`python -m deploy.initdb` from the rewritten engine config, as an operator would), the log files and the
accessws socket to the test's directory.  Everything else stays, notably `process.file_limit` (1,000,000)
and `core_limit`: on a host whose hard limit is lower, each daemon starts with one warning line saying it
used the host's limit (it used to refuse to start).

`matchengine/conf/standby.json` is the sample of a failover pair: it runs alone on databases of its own
(a "sole" and a "standby" engine cannot share a log) and, the first of its pair to start, leads and serves.
"""

from __future__ import annotations

import asyncio
import json
import re
import resource
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from websockets.asyncio.client import unix_connect
from websockets.typing import Subprotocol

from common.alert import build_alert
from common.config import ClientConfig, parse_address
from common.rpc import RpcClient
from tests.e2e.deploy_support import DEPLOY
from tests.integration.test_alertcenter_redis import RedisProcess, send_datagram
from tests.support import ROOT, Broker, Daemon, drop_databases, free_port, unique_name

START_ORDER = ("alertcenter", "matchengine", "readhistory", "accesshttp", "marketprice", "accessws")
SENTINEL_PORTS = (26381, 26382, 26383)
KAFKA_PORT = 9092
ADDRESS = re.compile(r"(0\.0\.0\.0|127\.0\.0\.1|localhost):(\d+)")
MARKET_LIST = 307
ASSET_LIST = 104


def sample_files() -> list[Path]:
    return sorted(DEPLOY.glob("*/conf/*.json"))


class Rewriter:
    """Rewrites sample configs for this machine: ports, the broker and Sentinels, databases, paths."""

    def __init__(self, workdir: Path, broker_port: int, sentinel_port: int) -> None:
        self.workdir = workdir
        self.ports: dict[int, int] = {KAFKA_PORT: broker_port, **dict.fromkeys(SENTINEL_PORTS, sentinel_port)}
        self.databases: dict[str, str] = {}

    def port(self, original: int) -> int:
        if original not in self.ports:
            self.ports[original] = free_port()
        return self.ports[original]

    def database(self, name: str) -> str:
        if name not in self.databases:
            self.databases[name] = unique_name(name)
        return self.databases[name]

    def text(self, value: str) -> str:
        value = ADDRESS.sub(lambda m: f"127.0.0.1:{self.port(int(m.group(2)))}", value)
        if value.startswith("stream@/tmp/"):
            return f"stream@{self.workdir / value.removeprefix('stream@/tmp/')}"
        if value.startswith("/var/log/"):
            return str(self.workdir / "log" / Path(value).name)
        return value

    def rewrite(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            if {"host", "user", "pass", "name"} <= value.keys():  # a MySQL database
                return {**value, "host": "127.0.0.1", "user": "root", "pass": "", "name": self.database(value["name"])}
            return {k: self.rewrite(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.rewrite(item, key) for item in value]
        if isinstance(value, str):
            return self.text(value)
        return value


def limit_warning(config: dict[str, Any]) -> str | None:
    """The warning a daemon of `config` must print here, if its file limit is above this host's hard one."""
    wanted = config.get("process", {}).get("file_limit", 0)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or wanted <= hard:
        return None
    return f"warning: process.file_limit {wanted} is above this host's hard limit {hard}, which only root may raise"


def initdb(config_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "deploy.initdb", str(config_path)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def http_call(port: int, method: str, params: list[Any], timeout: float = 20.0) -> Any:
    """The result of a call through accesshttp, once the backend that serves it is connected (500 until then)
    and answers within the sample's 1 s timeout (504 meanwhile: a first query opens its database connection)."""
    body = json.dumps({"id": 1, "method": method, "params": params}).encode()
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", body, timeout=10) as reply:
                answer = json.loads(reply.read())
            break
        except urllib.error.HTTPError as exc:
            assert exc.code in (500, 504) and time.monotonic() < deadline, (method, exc)
            time.sleep(0.1)
    assert answer["error"] is None, (method, answer)
    return answer["result"]


async def rpc_call(port: int, command: int, params: list[Any]) -> Any:
    client = RpcClient(ClientConfig(name="probe", addr=[parse_address(f"tcp@127.0.0.1:{port}")],
                                    max_pkg_size=100000))
    await client.start()
    try:
        assert await client.wait_connected(10)
        return await client.call_json(command, params, timeout=10)
    finally:
        await client.close()


async def ws_ping(socket_path: str) -> Any:
    async with unix_connect(socket_path, uri="ws://localhost/", subprotocols=[Subprotocol("chat")]) as ws:
        await ws.send(json.dumps({"id": 5, "method": "server.ping", "params": []}))
        return json.loads(await asyncio.wait_for(ws.recv(), 10))


def bind_port(config: dict[str, Any]) -> int:
    return int(next(b for b in config["svr"]["bind"] if b.startswith("tcp@")).rsplit(":", 1)[1])


@dataclass
class Machine:
    """This test's broker, Redis master (behind a Sentinel named as in the samples) and rewriter."""

    rewriter: Rewriter
    redis_master: RedisProcess


@pytest.fixture
def machine(tmp_path: Path) -> Iterator[Machine]:
    broker = Broker().start()
    master = RedisProcess(tmp_path).start()
    sentinel = RedisProcess(tmp_path).start_sentinel("mymaster", master.port)
    rewriter = Rewriter(tmp_path, broker.port, sentinel.port)
    try:
        yield Machine(rewriter, master)
    finally:
        drop_databases(*rewriter.databases.values())
        sentinel.stop()
        master.stop()
        broker.stop()


def wait_alert(master: redis.Redis, key: str, text: bytes, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in item for item in master.lrange(key, 0, -1)):
        assert time.monotonic() < deadline, f"no alert {text!r} in Redis list {key!r}"
        time.sleep(0.05)


def test_every_sample_config_is_one_of_these() -> None:
    names = {str(path.relative_to(DEPLOY)) for path in sample_files()}
    assert names == {f"{name}/conf/config.json" for name in START_ORDER} | {"matchengine/conf/standby.json"}


def test_the_production_samples_start_and_serve(machine: Machine, tmp_path: Path) -> None:
    rewriter = machine.rewriter
    configs = {name: rewriter.rewrite(json.loads((DEPLOY / name / "conf" / "config.json").read_text()))
               for name in START_ORDER}
    engine_config = tmp_path / "engine-for-initdb.json"
    engine_config.write_text(json.dumps(configs["matchengine"]))
    initdb(engine_config)
    daemons = [Daemon(name, configs[name], tmp_path) for name in START_ORDER]
    try:
        for daemon in daemons:
            daemon.start(timeout=120)
        for daemon in daemons:
            warning = limit_warning(daemon.config)
            if warning is not None:
                lines = [line for line in daemon.log_text().splitlines() if line.startswith("warning: process.")]
                assert len(lines) == 1 and lines[0].startswith(warning), (daemon.name, daemon.log_text()[-2000:])

        http = bind_port(configs["accesshttp"])
        markets = [market["name"] for market in configs["matchengine"]["markets"]]
        assert [m["name"] for m in http_call(http, "market.list", [])] == markets  # matchengine
        assert http_call(http, "market.last", [markets[0]]) == "0"  # marketprice
        assert http_call(http, "order.finished", [1, markets[0], 0, 0, 0, 10, 0])["records"] == []  # readhistory
        accessws_socket = configs["accessws"]["svr"]["bind"][0].removeprefix("stream@")
        assert asyncio.run(ws_ping(accessws_socket))["result"] == "pong"
        # alertcenter: an alert reaches the Redis master through the Sentinel
        send_datagram(bind_port(configs["alertcenter"]), build_alert("samples", "hello from the samples test"))
        with machine.redis_master.client() as master:
            wait_alert(master, configs["alertcenter"].get("redis_key", "alert:message"), b"hello from the samples test")
        assert all(daemon.alive() for daemon in daemons)
    finally:
        for daemon in reversed(daemons):
            daemon.stop()


def test_the_standby_sample_starts_and_leads(machine: Machine, tmp_path: Path) -> None:
    config = machine.rewriter.rewrite(json.loads((DEPLOY / "matchengine" / "conf" / "standby.json").read_text()))
    config_path = tmp_path / "standby-for-initdb.json"
    config_path.write_text(json.dumps(config))
    initdb(config_path)
    engine = Daemon("matchengine", config, tmp_path, name="standby")
    try:
        engine.start(timeout=120)
        warning = limit_warning(config)
        if warning is not None:
            assert warning in engine.log_text()
        assets = asyncio.run(rpc_call(bind_port(config), ASSET_LIST, []))
        assert [asset["name"] for asset in assets] == [asset["name"] for asset in config["assets"]]
    finally:
        engine.stop()
