"""accessws with `worker_num` 2: clients spread over two worker processes, each a full worker; a dead one
is restarted; stopping accessws stops them all."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from websockets.asyncio.client import unix_connect

from common.rpc import RpcClient
from tests.e2e.accessws_env import Exchange, WsClient, free_port, wait_backend

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    workdir = Path(tmp_path_factory.mktemp("accessws_workers"))
    env = Exchange(workdir, worker_num=2, svr={
        "bind": [f"tcp@127.0.0.1:{free_port()}", f"stream@{workdir / 'aw.sock'}"], "max_pkg_size": 10240}).start()
    yield env
    env.stop()


def workers(exchange: Exchange) -> list[psutil.Process]:
    assert exchange.accessws is not None
    return psutil.Process(exchange.accessws.pid).children()  # the supervisor starts nothing else


def worker_log(exchange: Exchange, index: int) -> str:
    assert exchange.accessws is not None
    path = Path(f"{exchange.accessws.config['log']['path']}_worker{index}.log")
    return path.read_text() if path.exists() else ""


async def test_clients_are_spread_and_every_worker_pushes(exchange: Exchange) -> None:
    assert len(workers(exchange)) == 2
    clients = [await WsClient.open(exchange.url) for _ in range(16)]
    engine: RpcClient = await exchange.engine_client()
    try:
        await wait_backend(clients[0])
        for index in (0, 1):
            assert worker_log(exchange, index).count("connection open") > 0, index
        for n, client in enumerate(clients):
            assert await client.result("server.auth", [f"user:{100 + n}", "web"]) == {"status": "success"}
            assert await client.result("asset.subscribe", ["BTC"]) == {"status": "success"}
            assert await client.result("depth.subscribe", ["BTCBCH", 5, "0"]) == {"status": "success"}
        for client in clients:
            await client.push("depth.update")  # the first snapshot, from each worker's own poll
        for n in range(len(clients)):
            await engine.call_json(102, [100 + n, "BTC", "deposit", n + 1, str(n + 1), {}], timeout=5)
        for n, client in enumerate(clients):
            update = (await client.push("asset.update"))["params"][0]
            assert update == {"BTC": {"available": str(n + 1), "freeze": "0"}}
        await engine.call_json(201, [100, "BTCBCH", 1, "1", "3", "0", "0", "t"], timeout=5)
        for client in clients:
            assert (await client.push("depth.update"))["params"] == [False, {"asks": [["3", "1"]]}, "BTCBCH"]
    finally:
        await engine.close()
        for client in clients:
            await client.close()


async def test_a_dead_worker_is_restarted(exchange: Exchange) -> None:
    victim = workers(exchange)[0]
    os.kill(victim.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        alive = workers(exchange)
        if len(alive) == 2 and victim.pid not in [p.pid for p in alive]:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the killed worker was not restarted")
    assert exchange.accessws is not None
    exchange.accessws.wait_log_line("exited with status -9; restarting")
    # every connection is served again, by whichever worker gets it (unix socket too)
    for _ in range(8):
        client = await WsClient.open(exchange.url)
        await wait_backend(client)
        await client.close()
    path = next(b for b in exchange.accessws.config["svr"]["bind"] if b.startswith("stream@"))[len("stream@"):]
    async with unix_connect(path, uri="ws://localhost/") as conn:
        await conn.send('{"id": 1, "method": "server.ping", "params": []}')
        assert "pong" in await asyncio.wait_for(conn.recv(), 5)


def test_stopping_accessws_stops_its_workers(exchange: Exchange) -> None:
    pids = [p.pid for p in workers(exchange)]
    assert exchange.accessws is not None
    assert exchange.accessws.stop() == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(psutil.pid_exists(pid) and psutil.Process(pid).status() !=
                                              psutil.STATUS_ZOMBIE for pid in pids):
        time.sleep(0.1)
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)
