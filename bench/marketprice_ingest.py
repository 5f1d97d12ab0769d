"""Deals/s that a real marketprice process ingests from a real broker, and its CPU µs per deal.

Starts the Kafka-compatible broker (Tansu), a stand-in for accesshttp that
answers `market.list`, and `python -m marketprice` against the local Redis
(keys under a unique prefix, deleted afterwards).  Once marketprice has
applied a first deal, N more deals shaped like the matchengine's (`deals`
topic, spec/matchengine.md §11.4) are published in batches, and the script
polls `market.deals` over RPC until the last one is visible.  Prints one JSON
object: deals/s over that span and the CPU microseconds per deal of the
marketprice process (utime + stime from /proc/<pid>/stat), flushes to Redis
included (every `--flush-interval` s).

    .venv/bin/python bench/marketprice_ingest.py [--deals 200000] [--markets 2] [--per-second 10000]

`--per-second` sets how many deals share one second of deal time: a busy
market puts many deals in each second; `--per-second 1` is the worst case
where every deal opens new buckets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import redis
from aiokafka import AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.config import ClientConfig, parse_address
from common.rpc import RpcClient
from tests.support import Broker, Daemon, base_config, free_port, unique_name

TOPIC = "deals"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve_market_list(names: list[str]) -> ThreadingHTTPServer:
    body = orjson.dumps({"error": None, "result": [{"name": n} for n in names], "id": 1})

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def market_of(deal_id: int, markets: list[str]) -> str:
    return markets[(deal_id - 1) % len(markets)]


def deal_messages(first_id: int, count: int, markets: list[str], per_second: int, start: float) -> list[bytes]:
    rnd = random.Random(7)
    messages = []
    for i in range(count):
        deal_id = first_id + i
        price = "%d.%02d000000" % (9000 + rnd.randint(0, 200), rnd.randint(0, 99))
        amount = "%d.%08d" % (rnd.randint(0, 2), rnd.randint(1, 99_999_999))
        side = rnd.choice((1, 2))
        messages.append(orjson.dumps([start + deal_id / per_second, market_of(deal_id, markets), 2 * deal_id,
                                      2 * deal_id + 1, 11, 12, price, amount, "0.00000000", "0.00000000", side,
                                      deal_id, "BTC", "USDT"]))
    return messages


async def publish(address: str, messages: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=address, linger_ms=5, max_batch_size=1 << 20,
                                enable_idempotence=False)
    await producer.start()
    try:
        await producer.partitions_for(TOPIC)
        pending = []
        for i in range(0, len(messages), 2000):
            batch = producer.create_batch()
            for value in messages[i:i + 2000]:
                if not batch.append(key=None, value=value, timestamp=None):
                    raise RuntimeError("batch too small")
            batch.close()
            pending.append(await producer.send_batch(batch, TOPIC, partition=0))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def newest_deal(client: RpcClient, market: str) -> int:
    deals = await client.call_json(303, [market, 1, 0], timeout=5.0)
    return deals[0]["id"] if deals else 0


async def wait_for_deals(client: RpcClient, last_ids: dict[str, int], timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = [await newest_deal(client, m) >= last_id for m, last_id in last_ids.items()]
        if all(seen):
            return time.monotonic()
        await asyncio.sleep(0.02)
    raise TimeoutError(f"marketprice did not apply the deals within {timeout} s")


async def measure(args: argparse.Namespace, broker: Broker, daemon: Daemon, port: int,
                  markets: list[str]) -> dict[str, Any]:
    start = time.time() - args.deals / args.per_second - 60
    await publish(broker.address, deal_messages(1, 1, markets, args.per_second, start))
    messages = deal_messages(2, args.deals, markets, args.per_second, start)
    last_ids = {market_of(deal_id, markets): deal_id for deal_id in range(2, args.deals + 2)}
    client = RpcClient(ClientConfig(name="bench", addr=[parse_address(f"tcp@127.0.0.1:{port}")],
                                    max_pkg_size=1 << 20))
    await client.start()
    try:
        await client.wait_connected(10)
        await wait_for_deals(client, {markets[0]: 1}, 60)
        cpu_before = cpu_seconds(daemon.pid)
        began = time.monotonic()
        await publish(broker.address, messages)
        published = time.monotonic()
        done = await wait_for_deals(client, last_ids, 300)
        cpu = cpu_seconds(daemon.pid) - cpu_before
    finally:
        await client.close()
    return {
        "deals": args.deals,
        "markets": len(markets),
        "deals_per_second_of_deal_time": args.per_second,
        "seconds": round(done - began, 3),
        "publish_seconds": round(published - began, 3),
        "deals_per_s": round(args.deals / (done - began)),
        "marketprice_cpu_us_per_deal": round(cpu * 1e6 / args.deals, 2),
        "marketprice_cpu_deals_per_s": round(args.deals / cpu) if cpu else None,
        "flush_interval": args.flush_interval,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deals", type=int, default=200_000)
    parser.add_argument("--markets", type=int, default=2)
    parser.add_argument("--per-second", type=int, default=10_000)
    parser.add_argument("--flush-interval", type=float, default=1.0)
    args = parser.parse_args()
    # stopped from outside (e.g. `timeout`): still stop the broker and the daemon in `finally`
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    markets = [f"M{i}USDT" for i in range(args.markets)]
    prefix = unique_name("bench_mp") + ":"
    workdir = Path(tempfile.mkdtemp(prefix="mp_bench_"))
    broker = Broker().start()
    http = serve_market_list(markets)
    port = free_port()
    config = base_config("marketprice", workdir)
    config.update({
        "svr": {"bind": [f"tcp@127.0.0.1:{port}"], "max_pkg_size": 1 << 20, "heartbeat_check": False},
        "deals": {"brokers": broker.address, "topic": TOPIC},
        "redis": {"host": "127.0.0.1", "port": 6379},
        "accesshttp": f"http://127.0.0.1:{http.server_address[1]}/",
        "key_prefix": prefix,
        "flush_interval": args.flush_interval,
    })
    daemon = Daemon("marketprice", config, workdir)
    try:
        daemon.start()
        result = asyncio.run(measure(args, broker, daemon, port, markets))
    finally:
        daemon.stop()
        broker.stop()
        http.shutdown()
        client = redis.Redis()
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
