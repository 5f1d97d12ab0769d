"""accesshttp's HTTP layer at its edges (fake backends): malformed HTTP, pipelining around an early answer,
a silent backend behind pipelined requests, idle keep-alive connections, a peer that reads nothing."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.harness import process_tree
from tests.e2e.accesshttp_stack import raw_exchange, wait_backend
from tests.e2e.test_accesshttp_backends import Gateway

CALL = b'{"id": %d, "method": "asset.list", "params": []}'


def post(body: bytes, extra: bytes = b"") -> bytes:
    return b"POST / HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n%s" % (extra, len(body), body)


def answers(data: bytes) -> list[tuple[bytes, bytes]]:
    """(status code, body) of each response in `data`."""
    found = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(head.lower().partition(b"content-length: ")[2].split(b"\r\n")[0])
        found.append((head[9:12], rest[:length]))
        data = rest[length:]
    return found


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = Gateway(tmp_path_factory.mktemp("edges"), {"matchengine": "echo", "marketprice": "silent",
                                                         "readhistory": "echo"},
                      timeout=0.5, svr={"bind": [f"tcp@127.0.0.1:{_free_port()}"], "max_pkg_size": 1000,
                                        "keep_alive": 1})
    wait_backend(gateway.port, "asset.list", [])
    yield gateway
    gateway.stop()


def _free_port() -> int:
    from tests.support import free_port

    return free_port()


@pytest.mark.parametrize("garbage", [b"GARBAGE\r\n\r\n", b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
                                     b"POST / HTTP/9.9\r\n\r\n", b"POST / HTTP/1.1\r\nHost: a\r\n\x00\r\n\r\n"])
def test_malformed_http_gets_400_and_a_close(gateway: Gateway, garbage: bytes) -> None:
    data = raw_exchange(gateway.port, garbage)
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n"), data
    assert data.endswith(b"\r\n\r\n")


def test_malformed_http_behind_a_call_still_answers_the_call(gateway: Gateway) -> None:
    data = raw_exchange(gateway.port, post(CALL % 1) + b"GARBAGE\r\n\r\n")
    assert [status for status, _ in answers(data)] == [b"200", b"400"]


def test_pipelined_calls_around_a_body_over_the_limit(gateway: Gateway) -> None:
    # answered in order: the call before, then 413 and a close; the call after it is never answered
    data = raw_exchange(gateway.port, post(CALL % 1) + post(b" " * 1001) + post(CALL % 3))
    assert [status for status, _ in answers(data)] == [b"200", b"413"]
    assert b"Connection: close" in data.split(b"HTTP/1.1 413")[1]


def test_a_slow_answer_holds_the_pipelined_ones_behind_it(gateway: Gateway) -> None:
    # marketprice is silent: 504 after the timeout, then the engine's answer, in the order asked
    slow = b'{"id": 5, "method": "market.last", "params": ["BTCBCH"]}'
    data = raw_exchange(gateway.port, post(slow) + post(CALL % 6) + post(CALL % 7, b"Connection: close\r\n"))
    got = answers(data)
    assert [status for status, _ in got] == [b"504", b"200", b"200"]
    assert [body.rpartition(b'"id":')[2].strip(b" }") for _, body in got] == [b"5", b"6", b"7"]


def test_an_idle_connection_is_closed_after_keep_alive(gateway: Gateway) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        sock.sendall(post(CALL % 1))
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
        time.sleep(0.5)  # activity resets the timer
        sock.sendall(post(CALL % 2))
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
        started = time.monotonic()
        assert sock.recv(65536) == b""  # closed by the server, without a word
        assert 0.8 <= time.monotonic() - started < 3


def test_a_peer_that_reads_nothing_is_not_read_either(gateway: Gateway) -> None:
    """Answers pile up unread (each GET of the OpenRPC document is 40 bytes asked, 85 kB answered): the
    worker stops reading the connection instead of holding gigabytes of answers."""
    worker = process_tree(gateway.daemon.pid)[1]
    before = rss_kb(worker)
    request = b"GET /openrpc.json HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            for _ in range(20_000):  # 1.7 GB of answers
                sock.send(request)
        time.sleep(1.0)
        assert rss_kb(worker) - before < 50_000
    wait_backend(gateway.port, "asset.list", [])  # the worker is fine


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise LookupError(pid)
