"""accesshttp's CPU per request alone: wrk with orders.lua against accesshttp, and a stand-in engine.

The stand-in answers every RPC request at once with the same order.put_limit
reply (its `id` the request's), so the gateway is the only thing that works
per request beside wrk, and nothing else on the machine depends on it: no
MariaDB, no broker, no history.  With several `--root` source trees (a
checkout before and after a change) each gets its own stand-in and
accesshttp, all started once, and the rounds alternate between them
(A, B, A, B, …), so that a machine shared with other work loads both alike.

Prints one JSON object: per tree, every round's requests, requests/s and the
CPU µs per request of accesshttp (supervisor and workers; utime + stime from
/proc) and of wrk, then the mean and spread.

    .venv/bin/python bench/gateway_cpu.py --root /tmp/before --root . --rounds 6 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import CpuSpan, process_tree, spread
from bench.http_orders import MARKET, find_file, wait_forwarding
from tests.support import base_config, free_port, wait_port

REPLY = (b'{"error": null, "result": {"id": 1234567, "market": "BTCUSDT", "source": "bench", "type": 1, '
         b'"side": 2, "user": 517, "ctime": 1764883712.123456, "mtime": 1764883712.123456, '
         b'"price": "10000.21", "amount": "0.05", "taker_fee": "0.001", "maker_fee": "0.001", "left": "0.05", '
         b'"deal_stock": "0", "deal_money": "0", "deal_fee": "0"}, "id": %d}')


# ---------------------------------------------------------------- the stand-in engine

def serve_engine(port: int, delay: float) -> None:
    """Answer every request frame on `port` with REPLY (heartbeats with an empty reply), until killed; the
    answers go out `delay` seconds after the first one waiting, together, as the engine answers a group commit."""
    import uvloop

    from common.rpc.codec import FrameDecoder, encode_heartbeat_reply, encode_reply

    class Engine(asyncio.Protocol):
        def __init__(self) -> None:
            self.decoder = FrameDecoder(10_000_000)
            self.transport: Any = None

        def connection_made(self, transport: Any) -> None:
            self.transport = transport

            self.out: list[bytes] = []

        def data_received(self, data: bytes) -> None:
            out = self.out
            if not out and delay > 0:
                asyncio.get_running_loop().call_later(delay, self.flush)
            out.extend(encode_heartbeat_reply(frame) if frame.command == 0
                       else encode_reply(frame, REPLY % frame.signed_req_id) for frame in self.decoder.feed(data))
            if delay <= 0:
                self.flush()

        def flush(self) -> None:
            out, self.out = self.out, []
            if self.transport is not None and not self.transport.is_closing():
                self.transport.writelines(out)

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Engine, "127.0.0.1", port)
        await server.serve_forever()

    uvloop.run(main())


# ---------------------------------------------------------------- one tree's stand-in and gateway

class Gateway:
    """The stand-in engine and an accesshttp of the source tree `root`."""

    def __init__(self, root: Path, workers: int, workdir: Path, delay: float) -> None:
        self.root = root.resolve()
        self.delay = delay
        self.workers = workers
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.http_port = 0
        self.gateway: subprocess.Popen[bytes] | None = None

    def _spawn(self, args: list[str]) -> subprocess.Popen[bytes]:
        env = dict(os.environ, PYTHONPATH=str(self.root), VIABTC_LOCK_DIR=str(self.dir))
        out = open(self.dir / f"{len(self.procs)}.out", "ab")  # noqa: SIM115 - owned by the process
        proc = subprocess.Popen([sys.executable, *args], cwd=self.dir, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        self.procs.append(proc)
        return proc

    def start(self) -> Gateway:
        engine_port, self.http_port = free_port(), free_port()
        self._spawn([str(Path(__file__).resolve()), "--serve-engine", str(engine_port), "--delay", str(self.delay)])
        wait_port(engine_port, 30)

        def client(name: str, port: int) -> dict[str, Any]:
            return {"name": name, "addr": [f"tcp@127.0.0.1:{port}"], "max_pkg_size": 2000000}

        unused = free_port()  # marketprice and readhistory are not needed: their methods are not called
        config = base_config("accesshttp", self.dir)
        config["log"]["flag"] = "fatal,error,warn"
        config.update({
            "svr": {"bind": [f"tcp@127.0.0.1:{self.http_port}"], "max_pkg_size": 102400},
            "monitor": {"bind": [f"tcp@127.0.0.1:{free_port()}"], "max_pkg_size": 1024},
            "matchengine": client("matchengine", engine_port),
            "marketprice": client("marketprice", unused),
            "readhistory": client("readhistory", unused),
            "timeout": 1.0, "worker_num": self.workers, "connect_wait": 0.5,
        })
        path = self.dir / "accesshttp.json"
        path.write_text(json.dumps(config))
        self.gateway = self._spawn(["-m", "accesshttp", str(path)])
        wait_forwarding(self.url, 60)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/"

    def pids(self) -> list[int]:
        assert self.gateway is not None
        return process_tree(self.gateway.pid)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def wrk_round(wrk: str, lua: Path, gateway: Gateway, concurrency: int, seconds: int) -> dict[str, Any]:
    env = dict(os.environ, MARKET=MARKET, USERS="1000", STOCK_PREC="8", MONEY_PREC="2")
    meter = CpuSpan({"accesshttp": gateway.pids()}, machine=None).start()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([wrk, "-t2", f"-c{concurrency}", f"-d{seconds}s", "-s", str(lua), gateway.url],
                          capture_output=True, text=True, env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    usage = meter.stop()
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    requests = summary["accepted"] + summary["rejected"]
    wrk_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"requests": requests, "rejected": summary["rejected"], "socket_errors": summary["socket_errors"],
            "requests_per_s": round(requests / summary["seconds"], 1),
            "accesshttp_us": round(usage.seconds["accesshttp"] / requests * 1e6, 2),
            "wrk_us": round(wrk_cpu / requests * 1e6, 2),
            "loadavg": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", action="append", default=[], help="source tree of an accesshttp (repeatable)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--lua", default=None)
    parser.add_argument("--delay", type=float, default=0.01,
                        help="seconds the stand-in engine holds its answers (a group commit; 0: answer at once)")
    parser.add_argument("--serve-engine", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_engine is not None:
        serve_engine(args.serve_engine, args.delay)
        return
    wrk = shutil.which("wrk")
    if wrk is None:
        print(json.dumps({"bench": "gateway_cpu", "error": "wrk is not installed (Debian: apt-get install wrk)"}))
        sys.exit(2)
    lua = find_file(args.lua, "ORDERS_LUA", "orders.lua")
    roots = [Path(root) for root in args.root] or [Path(__file__).resolve().parent.parent]
    workdir = Path(tempfile.mkdtemp(prefix="gateway_cpu_"))
    gateways = []
    try:
        for index, root in enumerate(roots):
            gateways.append(Gateway(root, args.workers, workdir / str(index), args.delay).start())
        for gateway in gateways:  # warm up: connections made, code paths run once
            wrk_round(wrk, lua, gateway, args.concurrency, 2)
        runs: list[list[dict[str, Any]]] = [[] for _ in gateways]
        for round_ in range(args.rounds):
            order = range(len(gateways)) if round_ % 2 == 0 else reversed(range(len(gateways)))
            for index in order:
                runs[index].append(wrk_round(wrk, lua, gateways[index], args.concurrency, args.seconds))
                print(json.dumps({"round": round_, "root": str(roots[index]), **runs[index][-1]}), file=sys.stderr)
                time.sleep(0.5)
        print(json.dumps({
            "bench": "gateway_cpu", "concurrency": args.concurrency, "workers": args.workers,
            "seconds_per_round": args.seconds, "delay_s": args.delay,
            "trees": [{"root": str(root), "runs": tree_runs,
                       "accesshttp_us_per_request": spread([run["accesshttp_us"] for run in tree_runs]),
                       "wrk_us_per_request": spread([run["wrk_us"] for run in tree_runs])}
                      for root, tree_runs in zip(roots, runs, strict=True)],
        }, indent=1))
    finally:
        for gateway in gateways:
            gateway.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
