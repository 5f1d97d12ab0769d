"""Metrics of one daemon process, exported in the Prometheus text format by `prometheus_client`.

Counting on a hot path must stay cheap (the engine's budget is < 2 % of its
CPU per order), so the counters here are plain ints in dicts and the
histograms plain lists of bucket counts: no lock, no object per label set.
`prometheus_client` turns them into metric families only when scraped, through
one custom collector per daemon (`DaemonMetrics`).  Values that the code keeps
anyway (an order id, a queue length, a position) are not counted twice: they
are read at scrape time by a callback (`counter_from`, `gauge`).

Every name is ``viabtc_<daemon>_<name>``; counters get ``_total`` and
durations are in seconds, as Prometheus conventions ask.  The process's CPU and
memory come from prometheus_client's process collector, in the same registry.

    METRICS = metrics_for("matchengine")
    REFUSED = METRICS.counter("writes_refused", "Writes refused, by cause", ("cause",))
    REFUSED.inc(("publish_lag",))
"""

from __future__ import annotations

import collections
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["LATENCY_BUCKETS", "SIZE_BUCKETS", "Counter", "DaemonMetrics", "Histogram", "LabelledHistogram",
           "RequestMetrics", "exposition", "json_rpc_error_code", "metrics_for", "process_registry"]

LATENCY_BUCKETS: tuple[float, ...] = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                      0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SIZE_BUCKETS: tuple[float, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)

Key = tuple[object, ...]  # label values, turned into text at scrape time
Read = Callable[[], float | Mapping[Key, float]]


class Counter:
    """A counter per label set, kept in a plain dict (``values[key] += n`` is all `inc` does)."""

    __slots__ = ("doc", "labels", "name", "values")

    def __init__(self, name: str, doc: str, labels: Sequence[str]) -> None:
        self.name = name
        self.doc = doc
        self.labels = tuple(labels)
        self.values: dict[Key, float] = {}

    def inc(self, key: Key = (), amount: float = 1) -> None:
        values = self.values
        values[key] = values.get(key, 0) + amount

    def value(self, key: Key = ()) -> float:
        return self.values.get(key, 0)

    def families(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.doc, labels=self.labels)
        for key, value in list(self.values.items()):
            family.add_metric([str(part) for part in key], value)
        yield family


class Histogram:
    """Observations counted in fixed buckets (upper bounds, as Prometheus's ``le``)."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = list(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip([*map(_float_text, self.bounds), "+Inf"], self.counts, strict=True):
            running += count
            buckets.append((bound, running))
        return buckets


class LabelledHistogram:
    """A `Histogram` per label set."""

    __slots__ = ("bounds", "doc", "labels", "name", "series")

    def __init__(self, name: str, doc: str, labels: Sequence[str], bounds: Sequence[float]) -> None:
        self.name = name
        self.doc = doc
        self.labels = tuple(labels)
        self.bounds = tuple(bounds)
        self.series: dict[Key, Histogram] = {}

    def observe(self, value: float, key: Key = ()) -> None:
        histogram = self.series.get(key)
        if histogram is None:
            histogram = self.series[key] = Histogram(self.bounds)
        histogram.observe(value)

    def count(self, key: Key = ()) -> int:
        histogram = self.series.get(key)
        return sum(histogram.counts) if histogram is not None else 0

    def families(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.doc, labels=self.labels)
        for key, histogram in list(self.series.items()):
            family.add_metric([str(part) for part in key], histogram.cumulative(), histogram.total)
        yield family


class RequestMetrics:
    """A server's requests by method (``<name>_requests_total``), the error replies among them by method and
    error code (``<name>_errors_total``), and their latency by method (``<name>_request_seconds``).

    Built for hot paths: `received` is a `collections.Counter`, so a server counts a whole batch of
    requests with one ``received.update(methods)`` in C; errors are counted where they are made (rare);
    and a server may time only a sample of its requests (`sample_every` says how many requests a timed
    one stands for: the histogram's ``_count`` then counts the timed requests only).
    """

    __slots__ = ("bounds", "doc", "errors", "hidden", "label", "latency", "name", "received", "sample_every")

    def __init__(self, name: str, doc: str, label: str, bounds: Sequence[float], sample_every: int = 1) -> None:
        self.name = name
        self.doc = doc
        self.label = label
        self.bounds = tuple(bounds)
        self.sample_every = sample_every
        self.received: collections.Counter[object] = collections.Counter()
        self.errors: dict[tuple[object, object], int] = {}
        self.latency: dict[object, Histogram] = {}
        self.hidden: set[object] = set()  # methods counted but not exported (an RPC server's heartbeats)

    def failed(self, method: object, code: object) -> None:
        key = (method, code)
        self.errors[key] = self.errors.get(key, 0) + 1

    def timed(self, method: object, seconds: float) -> None:
        histogram = self.latency.get(method)
        if histogram is None:
            histogram = self.latency[method] = Histogram(self.bounds)
        histogram.observe(seconds)

    def observe(self, method: object, code: object, seconds: float) -> None:
        """Count one answered request (code 0: success) and time it."""
        self.received[method] += 1
        if code != 0:
            self.failed(method, code)
        self.timed(method, seconds)

    def families(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(f"{self.name}_requests", f"{self.doc}, by {self.label}",
                                       labels=(self.label,))
        errors = CounterMetricFamily(f"{self.name}_errors", f"{self.doc} answered with an error, by {self.label} "
                                     "and error code", labels=(self.label, "code"))
        sampled = f" (one request in {self.sample_every} is timed)" if self.sample_every > 1 else ""
        latency = HistogramMetricFamily(f"{self.name}_request_seconds", f"{self.doc}: time to the reply, by "
                                        f"{self.label}{sampled}", labels=(self.label,))
        for method, count in list(self.received.items()):
            if method not in self.hidden:
                requests.add_metric([str(method)], count)
        for (method, code), count in list(self.errors.items()):
            errors.add_metric([str(method), str(code)], count)
        for method, histogram in list(self.latency.items()):
            latency.add_metric([str(method)], histogram.cumulative(), histogram.total)
        yield requests
        yield errors
        yield latency


class _Callback:
    """A value the code keeps anyway, read at scrape time (a number, or a number per label set)."""

    __slots__ = ("doc", "kind", "labels", "name", "read")

    def __init__(self, kind: type[CounterMetricFamily] | type[GaugeMetricFamily], name: str, doc: str,
                 read: Read, labels: Sequence[str]) -> None:
        self.kind = kind
        self.name = name
        self.doc = doc
        self.read = read
        self.labels = tuple(labels)

    def families(self) -> Iterator[Metric]:
        family = self.kind(self.name, self.doc, labels=self.labels)
        value = self.read()
        if isinstance(value, Mapping):
            for key, number in value.items():
                family.add_metric([str(part) for part in key], number)
        else:
            family.add_metric([], value)
        yield family


class DaemonMetrics(Collector):
    """The metrics of one daemon, named ``viabtc_<daemon>_…``; a collector of the process registry.

    `counter`, `histogram`, `counter_from` and `gauge` create a metric or return the one of that name
    (modules and restarted parts of a daemon share them); a callback given again replaces the old one,
    so a part rebuilt after a failover exports its own values.
    """

    def __init__(self, daemon: str) -> None:
        self.daemon = daemon
        self.prefix = f"viabtc_{daemon}_"
        self._metrics: dict[str, Counter | LabelledHistogram | RequestMetrics | _Callback] = {}

    def counter(self, name: str, doc: str, labels: Sequence[str] = ()) -> Counter:
        metric = self._metrics.get(name)
        if not isinstance(metric, Counter):
            metric = self._metrics[name] = Counter(self.prefix + name, doc, labels)
        return metric

    def histogram(self, name: str, doc: str, labels: Sequence[str] = (),
                  bounds: Sequence[float] = LATENCY_BUCKETS) -> LabelledHistogram:
        metric = self._metrics.get(name)
        if not isinstance(metric, LabelledHistogram):
            metric = self._metrics[name] = LabelledHistogram(self.prefix + name, doc, labels, bounds)
        return metric

    def requests(self, name: str, doc: str, label: str = "method", bounds: Sequence[float] = LATENCY_BUCKETS,
                 sample_every: int = 1) -> RequestMetrics:
        """``<name>_requests_total{<label>}``, ``<name>_errors_total{<label>, code}``,
        ``<name>_request_seconds{<label>}``."""
        metric = self._metrics.get(name)
        if not isinstance(metric, RequestMetrics):
            metric = self._metrics[name] = RequestMetrics(self.prefix + name, doc, label, bounds, sample_every)
        return metric

    def counter_from(self, name: str, doc: str, read: Read, labels: Sequence[str] = ()) -> None:
        """A counter whose value the code keeps (e.g. ids handed out since start)."""
        self._metrics[name] = _Callback(CounterMetricFamily, self.prefix + name, doc, read, labels)

    def gauge(self, name: str, doc: str, read: Read, labels: Sequence[str] = ()) -> None:
        self._metrics[name] = _Callback(GaugeMetricFamily, self.prefix + name, doc, read, labels)

    def collect(self) -> Iterator[Metric]:
        for metric in list(self._metrics.values()):
            yield from metric.families()

    def describe(self) -> Iterable[Metric]:
        return ()  # collected on demand: names may be added after registration


_REGISTRY: CollectorRegistry | None = None
_DAEMONS: dict[str, DaemonMetrics] = {}


def process_registry() -> CollectorRegistry:
    """The registry of this process: its daemons' metrics and the process collector (CPU, memory, fds)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=_REGISTRY)
    return _REGISTRY


def metrics_for(daemon: str) -> DaemonMetrics:
    """The metrics named ``viabtc_<daemon>_…`` of this process, registered on first use."""
    daemon = daemon.replace("-", "_")
    metrics = _DAEMONS.get(daemon)
    if metrics is None:
        metrics = _DAEMONS[daemon] = DaemonMetrics(daemon)
        process_registry().register(metrics)
    return metrics


_ERROR_CODE = re.compile(rb'"error":\s*\{[^{}]*?"code":\s*(-?\d+)')
_NO_ERROR = re.compile(rb'"error":\s*null')
_RESULT_HEADS = (b'{"error":null,', b'{"error": null,')  # how the result replies of the RPC servers begin


def json_rpc_error_code(body: bytes) -> int | None:
    """The ``error.code`` of a JSON-RPC reply body, 0 for a result, None when the body has neither (read with a
    pattern, not a JSON parse: a gateway counts every reply)."""
    if body.startswith(_RESULT_HEADS) or _NO_ERROR.search(body):
        return 0
    found = _ERROR_CODE.search(body)
    return int(found.group(1)) if found else None


def exposition() -> bytes:
    """What ``GET /metrics`` answers: the process registry in the Prometheus text format."""
    return generate_latest(process_registry())


def _float_text(value: float) -> str:
    return repr(float(value))
