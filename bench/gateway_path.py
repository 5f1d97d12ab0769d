"""The Python work of one accesshttp request, in-process: HTTP bytes in, RPC frame out, reply in, HTTP bytes out.

A worker's HTTP connections (`HttpConnection`, with the gateway's metered
handler) and its matchengine client (`RpcClient`) run on a real event loop,
but their sockets are stand-ins: requests are fed to `data_received` in
rounds of `--connections` (one request per connection, as wrk does), the
frames the client writes are answered by feeding the reply frames to the
client's connection, and the answers are collected from the stand-in
transports.  No kernel, no uvloop I/O: what is left is the gateway's own
code, measured as CPU ns per request (process time), several runs.

    .venv/bin/python bench/gateway_path.py [--requests 200000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from accesshttp.config import load_config
from accesshttp.gateway import Gateway
from accesshttp.http_server import HttpServer
from bench.gateway_cpu import REPLY
from bench.harness import spread
from common.config import Address, Section
from common.rpc.client import _StreamConnection
from common.rpc.codec import FrameDecoder, encode_reply
from tests.support import RecordingTransport

_DATE = re.compile(rb"\r\nDate: [^\r]*")


def http_request(seq: int, rnd: random.Random) -> bytes:
    side = rnd.randint(1, 2)
    price = 10000 + (0.25 if side == 2 else -0.25) if rnd.random() < 0.5 else 10000 + rnd.randint(1, 20) * 0.01
    body = (b'{"id":%d,"method":"order.put_limit","params":[%d,"BTCUSDT",%d,"%.8f","%.2f","0.001","0.001","bench"]}'
            % (seq, rnd.randint(1, 1000), side, rnd.choice((0.01, 0.02, 0.05, 0.1, 0.2, 0.5)), price))
    return (b"POST / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body


async def run(requests: int, connections: int, digest: Any = None) -> float:
    config = load_config(Section({
        "svr": {"bind": ["tcp@127.0.0.1:1"], "max_pkg_size": 102400},
        "monitor": {"bind": ["tcp@127.0.0.1:2"], "max_pkg_size": 1024},
        "matchengine": {"name": "matchengine", "addr": ["tcp@127.0.0.1:3"], "max_pkg_size": 2000000},
        "marketprice": {"name": "marketprice", "addr": ["tcp@127.0.0.1:4"], "max_pkg_size": 2000000},
        "readhistory": {"name": "readhistory", "addr": ["tcp@127.0.0.1:5"], "max_pkg_size": 2000000},
        "timeout": 1.0, "log": {"path": "/tmp/gateway_path", "flag": "fatal,error"},
        "alert": {"host": "gateway_path", "addr": "127.0.0.1:6"},
    }))
    gateway = Gateway(config)
    client = gateway.clients["matchengine"]
    client._loop = asyncio.get_running_loop()
    engine = _StreamConnection(client, Address("tcp", "127.0.0.1", 3, ""))
    engine_out = RecordingTransport()
    engine.connection_made(engine_out)  # type: ignore[arg-type]
    client._connection = engine
    server = HttpServer(gateway.handle, body_limit=102400, keep_alive=60.0, linger=2.0)
    conns = []
    for _ in range(connections):
        conn = server()
        transport = RecordingTransport()
        conn.connection_made(transport)  # type: ignore[arg-type]
        conns.append((conn, transport))
    rnd = random.Random(1)
    bodies = [http_request(i + 1, rnd) for i in range(requests)]
    decoder = FrameDecoder(10_000_000)
    started = time.process_time()
    answered = 0
    for start in range(0, requests, connections):
        for (conn, _), data in zip(conns, bodies[start:start + connections], strict=False):
            conn.data_received(data)
        await asyncio.sleep(0)  # the client's write of the round
        frames = decoder.feed(b"".join(engine_out.written))
        engine_out.written.clear()
        engine.data_received(b"".join(encode_reply(f, REPLY % f.signed_req_id) for f in frames))
        await asyncio.sleep(0)  # callbacks of the replies
        for _, transport in conns:
            answered += len(transport.written)
            if digest is not None:  # the answers, their Date header left out
                for answer in transport.written:
                    digest.update(_DATE.sub(b"", answer))
            transport.written.clear()
    elapsed = time.process_time() - started
    assert answered == requests, (answered, requests)
    client._connection = None
    return elapsed / requests * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--digest", action="store_true", help="print the sha256 of every answer (Date left out)")
    args = parser.parse_args()
    import uvloop

    if args.digest:
        digest = hashlib.sha256()
        uvloop.run(run(args.requests, args.connections, digest))
        print(json.dumps({"bench": "gateway_path", "requests": args.requests, "answers_sha256": digest.hexdigest()}))
        return

    results = [uvloop.run(run(args.requests, args.connections)) for _ in range(args.runs)]
    print(json.dumps({"bench": "gateway_path", "requests": args.requests, "connections": args.connections,
                      "ns_per_request": spread([round(r) for r in results])}))


if __name__ == "__main__":
    main()
