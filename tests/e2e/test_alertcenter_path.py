"""The whole alert path: a daemon's FATAL log line → UDP → alertcenter → the Redis list."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from common.alert import ALERT_MAX_SIZE, AlertSender
from tests.support import Daemon, base_config, free_port, redis_bytes, unique_name

SHARED_REDIS: dict[str, Any] = {"host": "127.0.0.1", "port": 6379}


def wait_items(client: redis.Redis, key: str, count: int, timeout: float = 10.0) -> list[bytes]:
    deadline = time.monotonic() + timeout
    while client.llen(key) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return [redis_bytes(item) for item in client.lrange(key, 0, -1)]


@pytest.fixture
def alert_path(tmp_path: Path) -> Iterator[tuple[Daemon, redis.Redis, str]]:
    key = unique_name("test:alert")
    port = free_port()
    config: dict[str, Any] = {
        "log": {"path": str(tmp_path / "log" / "alertcenter"), "flag": "fatal,error,warn,info"},
        "svr": {"bind": [f"udp@127.0.0.1:{port}", f"tcp@127.0.0.1:{port}"], "max_pkg_size": 10240},
        "redis": SHARED_REDIS,
        "redis_key": key,
    }
    center = Daemon("alertcenter", config, tmp_path).start()
    client = redis.Redis(**SHARED_REDIS)
    try:
        yield center, client, key
    finally:
        center.stop()
        client.delete(key)
        client.close()


def alert_port(center: Daemon) -> int:
    return int(center.config["svr"]["bind"][0].rsplit(":", 1)[1])


def test_a_daemon_fatal_log_reaches_redis(alert_path: tuple[Daemon, redis.Redis, str], tmp_path: Path) -> None:
    """readhistory cannot open its database: its FATAL start-up failure becomes an alert in Redis."""
    center, client, key = alert_path
    workdir = tmp_path / "readhistory"
    workdir.mkdir()
    config = base_config("readhistory", workdir)
    config["alert"]["addr"] = f"127.0.0.1:{alert_port(center)}"
    config.update({
        "svr": {"bind": [f"tcp@127.0.0.1:{free_port()}"], "max_pkg_size": 10240},
        "db_history": {"host": "127.0.0.1", "user": "root", "pass": "", "name": unique_name("t_missing")},
    })
    daemon = Daemon("readhistory", config, workdir).start(wait=False)
    try:
        assert daemon.proc is not None
        assert daemon.proc.wait(30) == 1
    finally:
        daemon.stop()
    items = wait_items(client, key, 1)
    assert len(items) == 1
    assert items[0].startswith(b"readhistory: [fatal]service.py:")
    assert b"readhistory failed" in items[0] and b"t_missing" in items[0]


def test_alert_sender_messages_in_order_and_a_truncated_one(alert_path: tuple[Daemon, redis.Redis, str]) -> None:
    center, client, key = alert_path
    sender = AlertSender("marketprice", ("127.0.0.1", alert_port(center)))
    try:
        for i in range(20):
            assert sender.send(f"[fatal]mp_message.c:792(on_market_timer): flush_market fail: -{i}")
            time.sleep(0.002)
        assert sender.send("y" * 20000)
    finally:
        sender.close()
    items = wait_items(client, key, 21)
    assert items[:20] == [b"marketprice: [fatal]mp_message.c:792(on_market_timer): flush_market fail: -%d" % i
                          for i in range(20)]
    assert items[20] == b"marketprice: " + b"y" * (ALERT_MAX_SIZE - 20 - len(b"marketprice: "))
    assert len(items) == 21
