"""accessws's config.json (spec/websocket-api.md §8, spec/operations.md §9.5), read into typed objects.

The WebSocket server (`svr`) is a plain server object plus `keep_alive`,
`protocol` and `origin`; `monitor` is a plain server; the three backends are
RPC clients; `orders` and `balances` are Kafka consumers.  Keys the original
does not read (`debug`, `timeout`, `deals`) are ignored, as are unknown keys.

`worker_num` worker processes serve the clients (see `accessws/worker.py`);
each is complete — its own subscriptions, polls and Kafka readers — as the
original's workers share nothing.

Fields beyond the original's, optional:
  `<backend>.request_limit` (the same as accesshttp's): the largest request
      frame that backend accepts (its own `svr.max_pkg_size`: 10240 for
      matchengine, 1000000 for the others, as shipped).  A backend drops the
      whole connection on a larger frame, failing every call in flight on
      it, so accessws answers such a request itself with error 1 (invalid
      argument) instead of sending it.
  `stops` (a Kafka consumer, default: topic "stops", partition 0 on the
      `orders` brokers): the stop-order events pushed as `order.update_stop`
      (spec/extensions.md §1.8).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from common.config import (
    AlertConfig,
    ClientConfig,
    KafkaConsumerConfig,
    LogConfig,
    ProcessConfig,
    Section,
    ServerConfig,
    alert_config,
    client_config,
    kafka_consumer_config,
    log_config,
    process_config,
    server_config,
)
from common.decimals import parse_decimal

ORIGINAL_DEFAULT_PROTOCOL = "chat"
DEFAULT_REQUEST_LIMITS = {"matchengine": 10240, "marketprice": 1000000, "readhistory": 1000000}
DEFAULT_INTERVAL = 0.5
STOPS_TOPIC = "stops"


@dataclass(slots=True)
class WsServerConfig:
    """`svr`: where to listen and the per-connection limits."""

    server: ServerConfig
    protocol: str = ORIGINAL_DEFAULT_PROTOCOL
    origin: str = ""


@dataclass(slots=True)
class Intervals:
    """Seconds between two polls of each polled family."""

    deals: float = DEFAULT_INTERVAL
    price: float = DEFAULT_INTERVAL
    state: float = DEFAULT_INTERVAL
    today: float = DEFAULT_INTERVAL
    kline: float = DEFAULT_INTERVAL
    depth: float = DEFAULT_INTERVAL


@dataclass(slots=True)
class BackendConfig:
    client: ClientConfig
    request_limit: int


def backend_config(sec: Section, key: str) -> BackendConfig:
    client = client_config(sec, key)
    limit = sec.section(key).int("request_limit", DEFAULT_REQUEST_LIMITS[key], min=64)
    return BackendConfig(client=client, request_limit=limit)


@dataclass(slots=True)
class AccessWsConfig:
    process: ProcessConfig
    log: LogConfig
    alert: AlertConfig
    svr: WsServerConfig
    monitor: ServerConfig
    matchengine: BackendConfig
    marketprice: BackendConfig
    readhistory: BackendConfig
    orders: KafkaConsumerConfig
    balances: KafkaConsumerConfig
    stops: KafkaConsumerConfig
    auth_url: str
    sign_url: str
    depth_limit: list[int]
    depth_merge: list[Decimal]
    intervals: Intervals
    worker_num: int = 1
    backend_timeout: float = 1.0
    cache_timeout: float = 0.5


def stream_server_config(sec: Section, key: str) -> ServerConfig:
    """A server config whose bind addresses are all `tcp@` or `stream@` (unix)."""
    config = server_config(sec, key)
    for address in config.bind:
        if address.kind not in ("tcp", "stream"):
            raise sec.section(key).error("bind", f"'{address}': accessws listens on tcp@ or stream@ addresses only")
    return config


def ws_server_config(sec: Section) -> WsServerConfig:
    svr = sec.section("svr")
    return WsServerConfig(
        server=stream_server_config(sec, "svr"),
        protocol=svr.str("protocol", ORIGINAL_DEFAULT_PROTOCOL),
        origin=svr.str("origin", ""),
    )


def depth_limits(sec: Section) -> list[int]:
    values = sec.list("depth_limit", non_empty=True)
    for i, value in enumerate(values):
        if type(value) is not int or value <= 0:
            raise sec.error(f"depth_limit[{i}]", "must be a positive integer")
    return list(values)


def depth_merges(sec: Section) -> list[Decimal]:
    merges: list[Decimal] = []
    for i, text in enumerate(sec.str_list("depth_merge", non_empty=True)):
        value = parse_decimal(text, 0)
        if value is None or value < 0:
            raise sec.error(f"depth_merge[{i}]", f"'{text}' is not a non-negative decimal")
        merges.append(value)
    return merges


def stops_config(sec: Section, orders: KafkaConsumerConfig) -> KafkaConsumerConfig:
    """`stops`, or topic "stops" partition 0 on the brokers of `orders` when the config has none."""
    if sec.has("stops"):
        return kafka_consumer_config(sec, "stops")
    return KafkaConsumerConfig(brokers=orders.brokers, topic=STOPS_TOPIC, partition=0, limit=orders.limit)


def load_config(sec: Section) -> AccessWsConfig:
    backend_timeout = sec.real("backend_timeout", 1.0, positive=True)
    orders = kafka_consumer_config(sec, "orders")
    return AccessWsConfig(
        process=process_config(sec),
        log=log_config(sec),
        alert=alert_config(sec),
        svr=ws_server_config(sec),
        monitor=stream_server_config(sec, "monitor"),
        matchengine=backend_config(sec, "matchengine"),
        marketprice=backend_config(sec, "marketprice"),
        readhistory=backend_config(sec, "readhistory"),
        orders=orders,
        balances=kafka_consumer_config(sec, "balances"),
        stops=stops_config(sec, orders),
        worker_num=sec.int("worker_num", 1, min=1),
        auth_url=sec.str("auth_url", non_empty=True),
        sign_url=sec.str("sign_url", non_empty=True),
        backend_timeout=backend_timeout,
        cache_timeout=sec.real("cache_timeout", 0.5, min=0),
        intervals=Intervals(**{name: sec.real(f"{name}_interval", DEFAULT_INTERVAL, positive=True)
                               for name in ("deals", "price", "state", "today", "kline", "depth")}),
        depth_limit=depth_limits(sec),
        depth_merge=depth_merges(sec),
    )
