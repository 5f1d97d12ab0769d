"""common.metrics (cheap counters exported by prometheus_client), common.monitor (the HTTP endpoints),
matchengine.commit_times (lag in seconds), common.worker_metrics (one answer for many processes) and
accesshttp.metering (labels of the gateway's calls)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from accesshttp.config import load_config
from accesshttp.gateway import Gateway
from accesshttp.http_server import Request
from accesshttp.metering import REQUESTS, reply_code
from accesshttp.responses import RawResponse, respond, respond_and_close
from common.config import Address, Section, ServerConfig, parse_address
from common.metrics import DaemonMetrics, Histogram, json_rpc_error_code
from common.monitor import CHECK_TIMEOUT, MonitorServer, Readiness
from common.rpc.client import _StreamConnection
from common.rpc.codec import FrameDecoder, encode_reply
from common.worker_metrics import labelled, merged
from matchengine.commit_times import RESOLUTION, CommitTimes
from tests.support import RecordingTransport, free_port


def samples(metrics: DaemonMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in metrics.collect() for s in family.samples}


def test_counters_histograms_and_callbacks_export_under_the_daemon_prefix() -> None:
    metrics = DaemonMetrics("demo")
    refused = metrics.counter("refused", "refusals", ("cause",))
    refused.inc(("lag",))
    refused.inc(("lag",), 2)
    latency = metrics.histogram("commit_seconds", "commits", bounds=(0.01, 0.1))
    for seconds in (0.005, 0.05, 0.5):
        latency.observe(seconds)
    metrics.gauge("queue", "queued", lambda: 7.0)
    metrics.counter_from("orders", "orders", lambda: {("BTCUSDT",): 3.0}, ("market",))
    assert metrics.counter("refused", "") is refused  # get-or-create
    got = samples(metrics)
    assert got[("viabtc_demo_refused_total", (("cause", "lag"),))] == 3
    assert got[("viabtc_demo_commit_seconds_bucket", (("le", "0.01"),))] == 1
    assert got[("viabtc_demo_commit_seconds_bucket", (("le", "0.1"),))] == 2
    assert got[("viabtc_demo_commit_seconds_bucket", (("le", "+Inf"),))] == 3
    assert got[("viabtc_demo_commit_seconds_count", ())] == 3
    assert got[("viabtc_demo_commit_seconds_sum", ())] == pytest.approx(0.555)
    assert got[("viabtc_demo_queue", ())] == 7
    assert got[("viabtc_demo_orders_total", (("market", "BTCUSDT"),))] == 3


def test_requests_errors_and_sampled_latency() -> None:
    metrics = DaemonMetrics("demo")
    requests = metrics.requests("rpc", "RPC requests", label="command", sample_every=16)
    requests.received.update([201, 201, 201, 0])
    requests.hidden.add(0)
    requests.failed(201, 10)
    requests.timed(201, 0.002)
    got = samples(metrics)
    assert got[("viabtc_demo_rpc_requests_total", (("command", "201"),))] == 3
    assert ("viabtc_demo_rpc_requests_total", (("command", "0"),)) not in got  # heartbeats are not shown
    assert got[("viabtc_demo_rpc_errors_total", (("code", "10"), ("command", "201")))] == 1
    assert got[("viabtc_demo_rpc_request_seconds_count", (("command", "201"),))] == 1
    family = next(f for f in metrics.collect() if f.name == "viabtc_demo_rpc_request_seconds")
    assert "one request in 16 is timed" in family.documentation


def test_histogram_bucket_bounds_are_inclusive() -> None:
    histogram = Histogram((1.0, 2.0))
    for value in (1.0, 2.0, 3.0):
        histogram.observe(value)
    assert histogram.cumulative() == [("1.0", 1), ("2.0", 2), ("+Inf", 3)]


@pytest.mark.parametrize(("body", "code"), [
    (b'{"error":null,"result":{"code":5},"id":1}', 0),
    (b'{"error": {"code": 10, "message": "balance not enough"}, "result": null, "id": 1}', 10),
    (b'{"error":{"message":"x","code":-32600},"result":null,"id":1}', -32600),
    (b"", None), (b"not json", None)])
def test_json_rpc_error_code(body: bytes, code: int | None) -> None:
    assert json_rpc_error_code(body) == code


def test_commit_times_say_how_old_the_first_unwritten_operation_is() -> None:
    times = CommitTimes()
    times.committed(10, now=100.0)
    times.committed(20, now=100.0 + RESOLUTION / 2)  # within the resolution: stretches the record before
    times.committed(30, now=105.0)
    assert times.lag_seconds(30, now=110.0) == 0.0
    assert times.lag_seconds(25, now=110.0) == pytest.approx(5.0)
    assert times.lag_seconds(15, now=110.0) == pytest.approx(10.0)
    assert times.lag_seconds(0, now=110.0) == pytest.approx(10.0)
    times.forget_through(25)
    assert times.lag_seconds(25, now=110.0) == pytest.approx(5.0)


def test_worker_families_are_labelled_and_merged_into_one_per_name() -> None:
    text = ("# HELP viabtc_x_total x\n# TYPE viabtc_x_total counter\nviabtc_x_total 3.0\n")
    families = [*labelled(text_string_to_metric_families(text), "0"),
                *labelled(text_string_to_metric_families(text), "1")]
    [family] = merged(families)
    assert [(s.labels, s.value) for s in family.samples] == [({"worker": "0"}, 3.0), ({"worker": "1"}, 3.0)]


@pytest.fixture
async def monitor() -> AsyncIterator[tuple[int, Readiness]]:
    readiness = Readiness()
    port = free_port()
    server = MonitorServer(ServerConfig(bind=[parse_address(f"tcp@127.0.0.1:{port}")], max_pkg_size=1024),
                           readiness)
    await server.start()
    yield port, readiness
    await server.close()


async def request(port: int, head: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


async def test_the_endpoints_and_their_statuses(monitor: tuple[int, Readiness]) -> None:
    port, readiness = monitor
    metrics = await request(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert metrics.startswith(b"HTTP/1.1 200 OK\r\n") and b"process_resident_memory_bytes" in metrics
    assert (await request(port, b"GET /healthz?probe=1 HTTP/1.1\r\n\r\n")).endswith(b'{"healthy":true}\n')
    head = await request(port, b"HEAD /healthz HTTP/1.1\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")
    assert (await request(port, b"GET /nope HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 404 ")
    assert (await request(port, b"POST /metrics HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 405 ")
    assert (await request(port, b"nonsense\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
    assert (await request(port, b"GET /readyz HTTP/1.1\r\n\r\n")).endswith(b'{"ready":true}\n')

    async def slow() -> bool:
        await asyncio.sleep(CHECK_TIMEOUT * 2)
        return True

    def broken() -> bool:
        raise ConnectionError("away")

    readiness.add("mysql", lambda: True)
    readiness.add("redis", broken)
    readiness.add("kafka", slow)
    answer = await request(port, b"GET /readyz HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert answer.endswith(b'{"ready":false,"not_ready":["redis","kafka"]}\n')


async def test_a_bare_probe_and_a_silent_peer_are_let_go(monitor: tuple[int, Readiness]) -> None:
    port, _ = monitor
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.close()  # connects and closes: nothing to answer
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\n")  # half a request, then the peer goes
    writer.close()
    assert (await request(port, b"GET /healthz HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 200 ")


def test_accesshttp_labels_known_unknown_and_invalid_calls() -> None:
    """The gateway counts each answer under the method it parsed, with the error code of the answer it sent
    (`reply_code`), as the pattern-reading wrapper before it did."""
    config = load_config(Section({
        "svr": {"bind": ["tcp@127.0.0.1:1"], "max_pkg_size": 102400},
        "monitor": {"bind": ["tcp@127.0.0.1:2"], "max_pkg_size": 1024},
        **{name: {"name": name, "addr": [f"tcp@127.0.0.1:{3 + i}"], "max_pkg_size": 2000000}
           for i, name in enumerate(("matchengine", "marketprice", "readhistory"))},
        "log": {"path": "/tmp/metrics_labels", "flag": "fatal"}, "alert": {"host": "t", "addr": "127.0.0.1:9"},
    }))

    async def scenario() -> list[tuple[str, int | str]]:
        gateway = Gateway(config)
        client = gateway.clients["matchengine"]
        client._loop = asyncio.get_running_loop()
        engine = _StreamConnection(client, Address("tcp", "127.0.0.1", 3))
        engine_out = RecordingTransport()
        engine.connection_made(engine_out)  # type: ignore[arg-type]
        client._connection = engine
        seen: list[tuple[str, int | str]] = []

        async def call(body: bytes | None, reply: bytes = b"", method: str = "POST", path: bytes = b"/") -> None:
            answered: list[RawResponse] = []
            before = dict(REQUESTS.received), dict(REQUESTS.errors)
            gateway.handle(Request(method, path, (1, 1), True, [], body or b""), answered.append)
            await asyncio.sleep(0)
            for frame in FrameDecoder(10_000_000).feed(b"".join(engine_out.written)):
                engine.data_received(encode_reply(frame, reply))
            engine_out.written.clear()
            grown = [label for label, count in REQUESTS.received.items() if count != before[0].get(label, 0)]
            errors = [key for key, count in REQUESTS.errors.items() if count != before[1].get(key, 0)]
            assert len(answered) == 1 and len(grown) == 1
            code = errors[0][1] if errors else 0
            assert not errors or errors[0][0] == grown[0]
            assert code == reply_code(answered[0])
            seen.append((str(grown[0]), code))

        put = b'{"id": 1, "method": "order.put_limit", "params": [1, "BTCUSDT"]}'
        await call(put, b'{"error":null,"result":1,"id":1}')
        await call(put, b'{"error": {"code": 10, "message": "balance not enough"}, "result": null, "id": 1}')
        await call(put, b"")
        await call(b'{"id": 1, "method": "made.up", "params": []}')
        await call(b"not json")
        await call(b'{"method": "order.put_limit", "id": "not an integer"}')
        await call(b'{"id": 2, "params": [{"method": "asset.list"}], "method": "order.put_limit"}', b'{"error": null}')
        await call(None, method="GET", path=b"/openrpc.json")
        await call(None, method="HEAD")
        client._connection = None
        await call(put)
        return seen

    assert asyncio.run(scenario()) == [
        ("order.put_limit", 0), ("order.put_limit", 10), ("order.put_limit", 0), ("(unknown)", 4),
        ("(invalid)", 1), ("(invalid)", 1), ("order.put_limit", 0), ("GET", "http_200"), ("(invalid)", "http_400"),
        ("order.put_limit", "http_500")]
    assert reply_code(respond(Request("POST", b"/", (1, 1), True, [], b""), 200,
                              b'{"error": null, "result": 1, "id": 1}')) == 0
    assert reply_code(respond_and_close(500)) == "http_500"

