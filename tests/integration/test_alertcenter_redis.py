"""A real alertcenter process appending to real Redis: framing over UDP and TCP, outages, Sentinel.

The shared Redis on 6379 is used with a unique list key per test; outage and
Sentinel tests run their own redis-server (and sentinel) on free ports.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from common.alert import ALERT_MAGIC
from tests.support import Daemon, free_port, redis_bytes, unique_name, wait_port

M = ALERT_MAGIC
REDIS_SERVER = shutil.which("redis-server") or "redis-server"
SHARED_REDIS: dict[str, Any] = {"host": "127.0.0.1", "port": 6379}


class RedisProcess:
    """A throw-away redis-server (optionally a sentinel) without persistence."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisProcess:
        self.proc = subprocess.Popen([REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.workdir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_port(self.port, 10)
        return self

    def start_sentinel(self, master: str, master_port: int) -> RedisProcess:
        conf = self.workdir / f"sentinel-{self.port}.conf"
        conf.write_text(f"port {self.port}\nbind 127.0.0.1\ndir {self.workdir}\n"
                        f"sentinel monitor {master} 127.0.0.1 {master_port} 1\n"
                        f"sentinel down-after-milliseconds {master} 60000\n")
        self.proc = subprocess.Popen([REDIS_SERVER, str(conf), "--sentinel"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        wait_port(self.port, 10)
        return self

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def alertcenter_config(workdir: Path, redis_section: dict[str, Any], key: str, **extra: Any) -> dict[str, Any]:
    port = free_port()
    config: dict[str, Any] = {
        "log": {"path": str(workdir / "log" / "alertcenter"), "flag": "fatal,error,warn,info",
                "shift": "size", "max": 1},
        "svr": {"bind": [f"udp@127.0.0.1:{port}", f"tcp@127.0.0.1:{port}"], "max_pkg_size": 10240},
        "redis": redis_section,
        "redis_key": key,
    }
    config.update(extra)
    return config


def port_of(daemon: Daemon) -> int:
    return int(daemon.config["svr"]["bind"][0].rsplit(":", 1)[1])


def send_datagram(port: int, data: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(data, ("127.0.0.1", port))


def wait_list(client: redis.Redis, key: str, count: int, timeout: float = 10.0) -> list[bytes]:
    """The list once it holds `count` items (and a moment later, to catch extra ones)."""
    deadline = time.monotonic() + timeout
    while client.llen(key) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    return [redis_bytes(item) for item in client.lrange(key, 0, -1)]


@pytest.fixture
def shared_redis() -> Iterator[redis.Redis]:
    client = redis.Redis(**SHARED_REDIS)
    yield client
    client.close()


@pytest.fixture
def alertcenter(tmp_path: Path, shared_redis: redis.Redis) -> Iterator[Daemon]:
    key = unique_name("test:alert")
    daemon = Daemon("alertcenter", alertcenter_config(tmp_path, SHARED_REDIS, key), tmp_path)
    daemon.start()
    yield daemon
    daemon.stop()
    shared_redis.delete(key)


def key_of(daemon: Daemon) -> str:
    return daemon.config["redis_key"]


def test_datagrams_are_validated_split_and_appended_in_order(alertcenter: Daemon, shared_redis: redis.Redis) -> None:
    port, key = port_of(alertcenter), key_of(alertcenter)
    send_datagram(port, M + b"matchengine: [fatal]a.py:1(f): first\n")
    send_datagram(port, b"no magic here at all, just text\n")
    send_datagram(port, b"short\n")
    send_datagram(port, M[:10] + b"\n")
    send_datagram(port, M + b"two lines: one\r\n" + M + b"two lines: two\n")
    send_datagram(port, M + b"kept\nnot an alert\n" + M + b"also kept, no newline")
    send_datagram(port, M + b"binary \x00\xff\r\n")
    send_datagram(port, M + b"x" * 20000 + b"\n")  # cut to max_pkg_size
    expected = [b"matchengine: [fatal]a.py:1(f): first", b"two lines: one", b"two lines: two", b"kept",
                b"also kept, no newline", b"binary \x00\xff", b"x" * (10240 - len(M))]
    assert wait_list(shared_redis, key, len(expected)) == expected
    log = log_text(alertcenter)
    assert "alert message: matchengine: [fatal]a.py:1(f): first" in log
    assert "invalid line" in log
    assert alertcenter.alive()


def test_tcp_lines_on_a_persistent_connection(alertcenter: Daemon, shared_redis: redis.Redis) -> None:
    port, key = port_of(alertcenter), key_of(alertcenter)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(M + b"tcp one\r\n" + M + b"tcp ")
        time.sleep(0.05)
        s.sendall(b"two\n" + M + b"tcp three")
        assert wait_list(shared_redis, key, 2) == [b"tcp one", b"tcp two"]
        s.shutdown(socket.SHUT_WR)  # the unterminated last line still counts
        assert s.recv(100) == b""
    assert wait_list(shared_redis, key, 3) == [b"tcp one", b"tcp two", b"tcp three"]
    shared_redis.delete(key)

    # an invalid line closes the connection; the lines before it are kept
    assert closes_after(port, M + b"before\nshort\n" + M + b"after\n")
    # a full read buffer without a newline closes it too
    assert closes_after(port, M + b"z" * 10240)
    assert wait_list(shared_redis, key, 1) == [b"before"]
    assert alertcenter.alive()


def closes_after(port: int, data: bytes) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        try:
            return s.recv(100) == b""
        except ConnectionResetError:
            return True


def log_text(daemon: Daemon) -> str:
    log_dir = Path(daemon.config["log"]["path"]).parent
    deadline = time.monotonic() + 2
    while True:
        text = "".join(p.read_text(errors="replace") for p in sorted(log_dir.glob("alertcenter*")))
        if "alert message" in text or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def test_log_rotation_is_fixed_to_daily(alertcenter: Daemon) -> None:
    send_datagram(port_of(alertcenter), M + b"rotation check\n")
    log_dir = Path(alertcenter.config["log"]["path"]).parent
    assert "rotation check" in log_text(alertcenter)
    names = [p.name for p in log_dir.iterdir()]
    day = time.strftime("%Y%m%d")
    # shift "size" with max 1 byte is configured, but only path and flag are honoured
    assert names == [f"alertcenter.{day}.log"]


def test_redis_outage_keeps_messages_until_it_is_back(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path)
    key = "alert:message"
    daemon = Daemon("alertcenter", alertcenter_config(tmp_path, {"host": "127.0.0.1", "port": server.port},
                                                      key), tmp_path)
    client = server.client()
    try:
        daemon.start()  # Redis is not there yet
        port = port_of(daemon)
        send_datagram(port, M + b"before redis started\n")
        time.sleep(0.3)
        server.start()
        assert wait_list(client, key, 1, timeout=15) == [b"before redis started"]
        client.delete(key)
        send_datagram(port, M + b"before the outage\n")
        assert wait_list(client, key, 1) == [b"before the outage"]
        server.stop()
        for i in range(5):
            send_datagram(port, M + b"during the outage %d\n" % i)
        time.sleep(0.5)
        assert daemon.alive()
        server.start()
        client = server.client()
        expected = [b"during the outage %d" % i for i in range(5)]
        assert wait_list(client, key, 5, timeout=15) == expected
        send_datagram(port, M + b"after\n")
        assert wait_list(client, key, 6) == [*expected, b"after"]
        text = log_text(daemon)
        assert "redis rpush alert:message failed" in text
        assert "redis is back" in text
    finally:
        daemon.stop()
        client.close()
        server.stop()


def test_sentinel_resolves_the_master(tmp_path: Path) -> None:
    master = RedisProcess(tmp_path).start()
    sentinel = RedisProcess(tmp_path)
    name = unique_name("master")
    sentinel.start_sentinel(name, master.port)
    daemon = Daemon("alertcenter", alertcenter_config(
        tmp_path, {"name": name, "addr": [f"127.0.0.1:{sentinel.port}"]}, "alert:message"), tmp_path)
    client = master.client()
    try:
        with contextlib.closing(sentinel.client()) as s:
            deadline = time.monotonic() + 10
            while s.execute_command("SENTINEL", "get-master-addr-by-name", name) is None:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        daemon.start()
        send_datagram(port_of(daemon), M + b"readhistory: [fatal]via sentinel\n")
        assert wait_list(client, "alert:message", 1) == [b"readhistory: [fatal]via sentinel"]
    finally:
        daemon.stop()
        client.close()
        sentinel.stop()
        master.stop()
