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
  `ui`: what the market page at ``GET /ui/`` is told (accesshttp/page.py):
      `ws_url` ("": no live data) the public websocket URL of accessws, a
      ``ws://`` or ``wss://`` URL or a path on the page's own host
      (``/ws/``, behind a proxy); `demo` (false) the demo order panel, which
      places and cancels orders for any user id — only for an exchange whose
      HTTP API is open anyway, such as ./run.sh's; `depth_limit` (50) and
      `depth_merge` (the original's sample list) must be among accessws's
      own `depth_limit` / `depth_merge`: the book subscribes with them.
  `config_methods` (false): route `config.update_asset` and
      `config.update_market`, which add assets and markets for good (an
      operator's methods; without it they are unknown methods, 404).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
from common.decimals import parse_decimal

from .methods import BACKENDS

DEFAULT_REQUEST_LIMITS = {"matchengine": 10240, "marketprice": 1_000_000, "readhistory": 1_000_000}
HTTP_BIND_KINDS = ("tcp", "stream")
# the original's sample depth_merge of accessws: what the page offers unless told otherwise
DEFAULT_DEPTH_MERGE = ("0", "0.00000001", "0.0000001", "0.000001", "0.00001", "0.0001", "0.001", "0.01", "0.1")
DEFAULT_DEPTH_LIMIT = 50
MAX_DEPTH_LIMIT = 101  # order.depth's own limit
WS_URL_FORMS = ("ws://", "wss://", "/")


@dataclass(slots=True)
class BackendConfig:
    """One backend: its RPC client settings and the largest request frame it accepts."""

    client: ClientConfig
    request_limit: int


@dataclass(slots=True)
class UiConfig:
    """`ui`: the market page's websocket URL, its demo panel switch and its depth choices."""

    ws_url: str = ""
    demo: bool = False
    depth_limit: int = DEFAULT_DEPTH_LIMIT
    depth_merge: list[str] = field(default_factory=lambda: list(DEFAULT_DEPTH_MERGE))


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
    ui: UiConfig = field(default_factory=UiConfig)
    config_methods: bool = False


def backend_config(sec: Section, key: str) -> BackendConfig:
    client = client_config(sec, key)
    limit = sec.section(key).int("request_limit", DEFAULT_REQUEST_LIMITS[key], min=64)
    return BackendConfig(client=client, request_limit=limit)


def ui_config(sec: Section) -> UiConfig:
    if not sec.has("ui"):
        return UiConfig()
    ui = sec.section("ui")
    ws_url = ui.str("ws_url", "")
    if ws_url and (not ws_url.startswith(WS_URL_FORMS) or ws_url.startswith("//")):
        raise ui.error("ws_url", f"'{ws_url}': a ws:// or wss:// URL, or a path starting with /")
    merges: list[str] = ui.str_list("depth_merge", list(DEFAULT_DEPTH_MERGE), non_empty=True)
    for i, text in enumerate(merges):
        value = parse_decimal(text, 0)
        if value is None or value < 0:
            raise ui.error(f"depth_merge[{i}]", f"'{text}' is not a non-negative decimal")
    return UiConfig(ws_url=ws_url, demo=ui.bool("demo", False),
                    depth_limit=ui.int("depth_limit", DEFAULT_DEPTH_LIMIT, min=1, max=MAX_DEPTH_LIMIT),
                    depth_merge=merges)


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
        ui=ui_config(sec),
        config_methods=sec.bool("config_methods", False),
    )
