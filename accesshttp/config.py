"""accesshttp's config.json (spec/operations.md §9.4), read into typed objects.

The original's fields: `process`, `log`, `alert`, `svr` (the HTTP server;
its `max_pkg_size` is the request body limit, `keep_alive` the idle timeout),
`monitor` (a plain TCP port that accepts and ignores input), `matchengine`,
`marketprice`, `readhistory` (RPC clients), `timeout` (1.0 s, the backend
timeout) and `worker_num` (1).

Fields beyond the original's, all optional:
  `<backend>.request_limit`: the largest request frame that backend accepts
      (its own `svr.max_pkg_size`: 10240 for matchengine, 1000000 for the
      others, as shipped).  A backend drops the whole connection on a larger
      frame, failing every call in flight on it, so the gateway answers such
      a request itself with error 1 (invalid argument) instead of sending it.
  `connect_wait` (1.0 s): how long a starting worker waits for its backends
      to connect before it starts serving (requests for a backend still not
      connected then get HTTP 500, as in the original).
"""

from __future__ import annotations

from dataclasses import dataclass

from common.config import (
    AlertConfig,
    ClientConfig,
    LogConfig,
    ProcessConfig,
    Section,
    ServerConfig,
    alert_config,
    client_config,
    log_config,
    process_config,
    server_config,
)

from .methods import BACKENDS

DEFAULT_REQUEST_LIMITS = {"matchengine": 10240, "marketprice": 1_000_000, "readhistory": 1_000_000}
HTTP_BIND_KINDS = ("tcp", "stream")


@dataclass(slots=True)
class BackendConfig:
    """One backend: its RPC client settings and the largest request frame it accepts."""

    client: ClientConfig
    request_limit: int


@dataclass(slots=True)
class AccessHttpConfig:
    process: ProcessConfig
    log: LogConfig
    alert: AlertConfig
    svr: ServerConfig
    monitor: ServerConfig
    backends: dict[str, BackendConfig]
    timeout: float = 1.0
    worker_num: int = 1
    connect_wait: float = 1.0


def backend_config(sec: Section, key: str) -> BackendConfig:
    client = client_config(sec, key)
    limit = sec.section(key).int("request_limit", DEFAULT_REQUEST_LIMITS[key], min=64)
    return BackendConfig(client=client, request_limit=limit)


def load_config(sec: Section) -> AccessHttpConfig:
    svr = server_config(sec, "svr")
    for address in svr.bind:
        if address.kind not in HTTP_BIND_KINDS:
            raise sec.section("svr").error("bind", f"'{address}': the HTTP server listens on tcp@ or stream@ only")
    monitor = server_config(sec, "monitor")
    for address in monitor.bind:
        if address.kind not in HTTP_BIND_KINDS:
            raise sec.section("monitor").error("bind", f"'{address}': the monitor listens on tcp@ or stream@ only")
    timeout = sec.real("timeout", 1.0, positive=True)
    return AccessHttpConfig(
        process=process_config(sec),
        log=log_config(sec),
        alert=alert_config(sec),
        svr=svr,
        monitor=monitor,
        backends={key: backend_config(sec, key) for key in BACKENDS},
        timeout=timeout,
        worker_num=sec.int("worker_num", 1, min=1, max=256),
        connect_wait=sec.real("connect_wait", 1.0, min=0),
    )
