"""accesshttp's processes: `worker_num` workers serving one port, restarts, shutdown, the monitor port."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.accesshttp_stack import (
    FakeBackend,
    HttpClient,
    accesshttp_config,
    http_port,
    monitor_port,
    wait_backend,
)
from tests.support import Daemon


def worker_pids(supervisor: int) -> list[int]:
    with open(f"/proc/{supervisor}/task/{supervisor}/children") as f:
        return [int(pid) for pid in f.read().split()]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def served_by(port: int, requests: int) -> set[int]:
    """The backend connections (one per worker) that served `requests` calls, each on a new HTTP connection."""
    seen = set()
    for _ in range(requests):
        client = HttpClient(port)
        seen.add(client.call("asset.list", []).json()["result"]["conn"])
        client.close()
    return seen


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[Daemon, FakeBackend]]:
    backend = FakeBackend("echo").start()
    config = accesshttp_config(tmp_path, engine=backend.port, worker_num=2)
    daemon = Daemon("accesshttp", config, tmp_path).start()
    yield daemon, backend
    daemon.stop()
    backend.stop()


def test_two_workers_serve_one_port(two_workers: tuple[Daemon, FakeBackend]) -> None:
    daemon, backend = two_workers
    port = http_port(daemon.config)
    assert len(worker_pids(daemon.pid)) == 2
    wait_backend(port, "asset.list", [])
    # each worker has its own backend connection; new HTTP connections are spread over both
    assert served_by(port, 40) == {1, 2}
    assert backend.connections == 2


def test_a_killed_worker_is_restarted(two_workers: tuple[Daemon, FakeBackend]) -> None:
    daemon, backend = two_workers
    port = http_port(daemon.config)
    wait_backend(port, "asset.list", [])
    victim, survivor = worker_pids(daemon.pid)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while True:
        pids = worker_pids(daemon.pid)
        if len(pids) == 2 and victim not in pids:
            break
        assert time.monotonic() < deadline, pids
        time.sleep(0.05)
    assert survivor in pids and daemon.alive()
    # the new worker connects to the backend and serves its share of the port
    deadline = time.monotonic() + 15
    while backend.connections < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)
    assert len(served_by(port, 40)) == 2
    daemon.wait_log_line("exited with status -9; restarting")


def test_stop_ends_every_worker(two_workers: tuple[Daemon, FakeBackend]) -> None:
    daemon, _ = two_workers
    workers = worker_pids(daemon.pid)
    assert daemon.stop() == 0
    assert not any(alive(pid) for pid in workers)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", http_port(daemon.config)), timeout=2)


def test_monitor_port_serves_http_and_lets_a_bare_probe_go(two_workers: tuple[Daemon, FakeBackend]) -> None:
    daemon, _ = two_workers
    port = monitor_port(daemon.config)
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass  # a TCP probe that connects and closes, as the original's monitor port took
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b'{"healthy":true}\n')
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 404 ")
