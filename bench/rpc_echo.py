"""Requests/s of the RPC layer: an echo handler over one connection, 64 calls kept in flight.

The server runs in a child process (uvloop, like a backend), the client in
this one (uvloop, like a gateway).  Prints one JSON line: requests/s and the
CPU microseconds per request spent by each side.

    .venv/bin/python bench/rpc_echo.py [--seconds 5] [--inflight 64] [--body '[1, "BTC"]']
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import time
from multiprocessing.connection import Connection
from typing import Any

import uvloop

from common.config import ClientConfig, ServerConfig, parse_address
from common.rpc import RpcClient, RpcServer


def echo(params: list[Any]) -> Any:
    return params


def serve(pipe: Connection) -> None:
    async def main() -> None:
        config = ServerConfig(bind=[parse_address("tcp@127.0.0.1:0")], max_pkg_size=10240, buf_limit=100,
                              heartbeat_check=False)
        server = RpcServer(config, {101: echo})
        await server.start()
        pipe.send(server.bound_addresses[0].port)
        loop = asyncio.get_running_loop()
        while True:
            message = await loop.run_in_executor(None, pipe.recv)
            if message == "cpu":
                pipe.send(time.process_time())
            else:
                await server.close()
                return

    uvloop.run(main())


async def measure(port: int, seconds: float, inflight: int, body: bytes, pipe: Connection) -> dict[str, Any]:
    client = RpcClient(ClientConfig(name="bench", addr=[parse_address(f"tcp@127.0.0.1:{port}")],
                                    max_pkg_size=2_000_000))
    await client.start()
    assert await client.wait_connected(5)
    count = 0
    stop = False

    async def worker() -> None:
        nonlocal count
        call = client.call
        while not stop:
            await call(101, body, req_id=1, timeout=5)
            count += 1

    workers = [asyncio.ensure_future(worker()) for _ in range(inflight)]
    await asyncio.sleep(1.0)
    pipe.send("cpu")
    server_cpu = pipe.recv()
    client_cpu = time.process_time()
    start_count = count
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    done = count - start_count
    elapsed = time.perf_counter() - started
    client_cpu = time.process_time() - client_cpu
    pipe.send("cpu")
    server_cpu = pipe.recv() - server_cpu
    stop = True
    await asyncio.gather(*workers)
    await client.close()
    return {
        "bench": "rpc_echo",
        "inflight": inflight,
        "body_bytes": len(body),
        "requests": done,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(done / elapsed),
        "server_cpu_us_per_request": round(server_cpu / done * 1e6, 2),
        "client_cpu_us_per_request": round(client_cpu / done * 1e6, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--body", default='[1, "BTC"]')
    args = parser.parse_args()
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(target=serve, args=(child,), daemon=True)
    process.start()
    port = parent.recv()
    try:
        result = uvloop.run(measure(port, args.seconds, args.inflight, args.body.encode(), parent))
    finally:
        parent.send("stop")
        process.join(5)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
