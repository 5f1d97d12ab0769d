"""The metrics of a daemon that runs worker processes (accesshttp, accessws with `worker_num` > 1).

Each worker serves its own metrics (its counters and its process's CPU and
memory) on a private listening socket the supervisor hands it
(`WorkerLaunch.monitor_fd`, an abstract unix address: nothing on disk).  When
Prometheus scrapes the supervisor's monitor port, the supervisor reads every
worker's ``/metrics``, adds the label ``worker="<index>"`` to each sample,
adds its own with ``worker="supervisor"``, and answers the union: one scrape
target per daemon, one series per worker, summed in queries with
``sum without (worker)``.  A worker that does not answer (restarting) is left
out of that scrape; counters of a restarted worker start again at zero,
which Prometheus's `rate` takes as a counter reset.

Chosen over prometheus_client's multiprocess mode, which keeps values in
memory-mapped files per process: that mode only works with the library's own
(locked) metric objects, not with the cheap plain-int counters read by a
collector at scrape time that the rest of the daemons use, and it cannot
report each worker's CPU and memory.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterable, Iterator, Sequence
from functools import partial

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families

from common.metrics import process_registry
from common.monitor import Readiness

log = logging.getLogger(__name__)

SCRAPE_TIMEOUT = 3.0
WORKER_LABEL = "worker"


async def scrape_unix(address: str, path: str = "/metrics") -> bytes:
    """The body of ``GET <path>`` from a monitor on a unix address."""
    async with asyncio.timeout(SCRAPE_TIMEOUT):
        # connected here, not by open_unix_connection(path): uvloop does not take abstract addresses
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, address)
        except BaseException:
            sock.close()
            raise
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: worker\r\n\r\n".encode())
            answer = await reader.read()
        finally:
            writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200 "):
        status = head.split(b"\r\n", 1)[0]
        raise ConnectionError(f"{path}: {status!r}")
    return body


def labelled(families: Iterable[Metric], worker: str) -> Iterator[Metric]:
    for family in families:
        for sample in family.samples:
            sample.labels[WORKER_LABEL] = worker
        yield family


def merged(families: Iterable[Metric]) -> list[Metric]:
    """Families of the same name (one per process) joined into one, in first-seen order."""
    by_name: dict[str, Metric] = {}
    for family in families:
        known = by_name.get(family.name)
        if known is None:
            by_name[family.name] = family
        else:
            known.samples.extend(family.samples)
    return list(by_name.values())


class _Families:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


async def supervisor_exposition(workers: Sequence[tuple[int, str]]) -> bytes:
    """This process's metrics and every answering worker's, each sample labelled with its process."""
    texts = await asyncio.gather(*(scrape_unix(address) for _, address in workers), return_exceptions=True)
    families: list[Metric] = list(labelled(process_registry().collect(), "supervisor"))
    for (index, _), text in zip(workers, texts, strict=True):
        if isinstance(text, BaseException):
            log.warning("worker %d did not give its metrics: %s", index, text)
            continue
        families.extend(labelled(text_string_to_metric_families(text.decode()), str(index)))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(merged(families)))
    return generate_latest(registry)


async def worker_ready(address: str) -> bool:
    """Whether the worker's ``/readyz`` answers 200."""
    try:
        await scrape_unix(address, "/readyz")
    except (OSError, TimeoutError):
        return False
    return True


def workers_readiness(workers: Sequence[tuple[int, str]]) -> Readiness:
    """A check per worker (``worker<index>``): its own readiness (its backends)."""
    ready = Readiness()
    for index, address in workers:
        ready.add(f"worker{index}", partial(worker_ready, address))
    return ready
