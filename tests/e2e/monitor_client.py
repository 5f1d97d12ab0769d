"""Reading a daemon's monitor port in tests: GET a path, scrape /metrics into {(name, labels): value}."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families

from tests.support import free_port

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def with_monitor(config: dict[str, Any]) -> int:
    """Give a daemon's config a monitor port; returns it."""
    port = free_port()
    config["monitor"] = {"bind": f"tcp@127.0.0.1:{port}"}
    return port


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def scrape(port: int) -> Samples:
    status, body = http_get(port, "/metrics")
    assert status == 200, body
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(body.decode()) for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 when there is none)."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


def readyz(port: int) -> tuple[int, dict[str, Any]]:
    status, body = http_get(port, "/readyz")
    return status, orjson.loads(body)


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def wait_ready(port: int, ready: bool, timeout: float = 30.0) -> dict[str, Any]:
    """Wait until /readyz says `ready`; returns its body."""
    seen: list[dict[str, Any]] = [{}]

    def check() -> bool:
        status, body = readyz(port)
        seen[0] = body
        return (status == 200) == ready

    try:
        wait_until(check, timeout, f"/readyz ready={ready}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; it said {seen[0]}") from None
    return seen[0]

