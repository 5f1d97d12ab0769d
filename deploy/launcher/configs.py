"""The six daemon configs of the local exchange, built from the embedded defaults.

Values are the original's sample configs (spec/operations.md §9) except
where a single machine without system services needs otherwise: every
server listens on the loopback address only (no authentication anywhere
behind the gateways), the databases are SQLite files, Redis and Kafka are
the launcher's own children on free ports, logs go to the data directory.
Assets and markets come from `exchange.json` in the data directory, which
starts as `SAMPLE_EXCHANGE` (BTC, ETH, USDT; BTCUSDT, ETHUSDT, ETHBTC); the
engine reads it itself (`exchange_file`) and writes the assets and markets
added live back to it.

For the market page (accesshttp's `ui`, at /ui/): it is told accessws's URL,
and its demo order panel is on when accessws's `auth_url` is the launcher's
own demo endpoint (demo_auth.py).  Depth can also be merged at 1, 10 and
100 (beside the original's sample intervals, which stop at 0.1: too fine to
group a book priced in tens of thousands).  marketprice opens a new candle
at its first trade (`kline_open: "first_trade"`), not at the previous price,
which is 0 for a market that never traded: on a fresh exchange the first
candles and the 24 h change would otherwise start from 0.  marketprice and
matchengine keep a cached answer 0.1 s (`cache_timeout`; the samples' 0.45 s
lets many accessws workers share one answer per poll, but with one worker
polling every 0.5 s a poll that comes a little early gets the previous poll's
answer: what the page shows would then lag trades by up to a second), and
accessws polls them every 0.25 s instead of 0.5: a trade reaches marketprice
about 50 ms after its order is answered, then waits for the next poll, and one
missed poll at 0.5 s already makes a second.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from common.config import ConfigError, Section

from .layout import LOOPBACK, DataDir, Ports

JsonObject = dict[str, Any]

SAMPLE_EXCHANGE: JsonObject = {
    "assets": [
        {"name": "BTC", "prec_save": 20, "prec_show": 8},
        {"name": "ETH", "prec_save": 20, "prec_show": 8},
        {"name": "USDT", "prec_save": 20, "prec_show": 8},
    ],
    "markets": [
        {"name": "BTCUSDT", "stock": {"name": "BTC", "prec": 8}, "money": {"name": "USDT", "prec": 2},
         "min_amount": "0.001"},
        {"name": "ETHUSDT", "stock": {"name": "ETH", "prec": 8}, "money": {"name": "USDT", "prec": 2},
         "min_amount": "0.001"},
        {"name": "ETHBTC", "stock": {"name": "ETH", "prec": 8}, "money": {"name": "BTC", "prec": 8},
         "min_amount": "0.001"},
    ],
}

DEFAULT_AUTH_URL = "http://127.0.0.1:8000/internal/exchange/user/auth"
DEFAULT_SIGN_URL = "http://127.0.0.1:8000/internal/exchange/user/sign"
DEPTH_LIMIT = [1, 5, 10, 20, 30, 50, 100]
DEPTH_MERGE = ["0", "0.00000001", "0.0000001", "0.000001", "0.00001", "0.0001", "0.001", "0.01", "0.1",
               "1", "10", "100"]
UI_DEPTH_LIMIT = 50
POLL_INTERVAL = 0.25  # accessws's polls of marketprice and matchengine (the sample: 0.5)
BACKEND_PACKAGE_SIZE = 2_000_000


@dataclass(frozen=True, slots=True)
class Infrastructure:
    """Where the launcher's broker and Redis server listen this time."""

    broker_port: int
    redis_port: int
    auth_url: str = DEFAULT_AUTH_URL
    sign_url: str = DEFAULT_SIGN_URL
    demo: bool = False  # auth_url is the launcher's demo endpoint: the market page's demo panel is on

    @property
    def brokers(self) -> str:
        return f"{LOOPBACK}:{self.broker_port}"


def load_exchange(data: DataDir) -> JsonObject:
    """Assets and markets: `exchange.json`, created with the samples when missing."""
    path = data.exchange_file
    if not path.exists():
        path.write_bytes(orjson.dumps(SAMPLE_EXCHANGE, option=orjson.OPT_INDENT_2) + b"\n")
    try:
        exchange = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"config error: '{path}' is not valid JSON: {exc}") from None
    if not isinstance(exchange, dict):
        raise ConfigError(f"config error: '{path}' must hold a JSON object")
    section = Section(exchange)
    return {"assets": section.list("assets", non_empty=True), "markets": section.list("markets", non_empty=True)}


def _tcp(port: int) -> str:
    return f"tcp@{LOOPBACK}:{port}"


def _common(name: str, data: DataDir, ports: Ports) -> JsonObject:
    return {
        "log": {"path": str(data.log / name), "flag": "fatal,error,warn,info", "num": 10},
        "alert": {"host": name, "addr": f"{LOOPBACK}:{ports['alertcenter']}"},
    }


def _monitor(port: int) -> JsonObject:
    return {"bind": _tcp(port), "max_pkg_size": 1024}


def _rpc_server(port: int, max_pkg_size: int) -> JsonObject:
    return {"bind": [_tcp(port)], "buf_limit": 100, "max_pkg_size": max_pkg_size, "heartbeat_check": False}


def _client(name: str, port: int) -> JsonObject:
    return {"name": name, "addr": [_tcp(port)], "max_pkg_size": BACKEND_PACKAGE_SIZE}


def _engine_client(ports: Ports) -> JsonObject:
    """The gateways' matchengine client: with `--standby` both engines, the list tried again every 0.1 s."""
    client = _client("matchengine", ports["matchengine"])
    if ports.standby:
        client["addr"].append(_tcp(ports["matchengine_standby"]))
        client["reconnect_timeout"] = 0.1
    return client


def matchengine_config(data: DataDir, ports: Ports, infra: Infrastructure, exchange: JsonObject,
                       name: str = "matchengine") -> JsonObject:
    config = {
        **_common(name, data, ports),
        "debug": False,
        "svr": _rpc_server(ports[name], 10240),
        "cli": _tcp(ports[f"{name}_cli"]),
        "monitor": _monitor(ports[f"{name}_monitor"]),
        "db_log": {"sqlite": str(data.trade_log_db)},
        "db_history": {"sqlite": str(data.trade_history_db)},
        "exchange_file": str(data.exchange_file),
        "brokers": infra.brokers,
        "slice_interval": 3600,
        "slice_keeptime": 259200,
        "cache_timeout": 0.1,
    }
    if ports.standby:
        config.update(role="standby", exchange=STANDBY_EXCHANGE)
    return config


def standby_matchengine_config(data: DataDir, ports: Ports, infra: Infrastructure,
                               exchange: JsonObject) -> JsonObject:
    return matchengine_config(data, ports, infra, exchange, STANDBY_ENGINE)


def readhistory_config(data: DataDir, ports: Ports, infra: Infrastructure, exchange: JsonObject) -> JsonObject:
    return {
        **_common("readhistory", data, ports),
        "debug": False,
        "svr": _rpc_server(ports["readhistory"], 1_000_000),
        "monitor": _monitor(ports["readhistory_monitor"]),
        "db_history": {"sqlite": str(data.trade_history_db)},
        "worker_num": 2,
    }


def accesshttp_config(data: DataDir, ports: Ports, infra: Infrastructure, exchange: JsonObject) -> JsonObject:
    return {
        **_common("accesshttp", data, ports),
        "svr": {"bind": [_tcp(ports["http"])], "max_pkg_size": 102400},
        "monitor": _monitor(ports["http_monitor"]),
        "worker_num": 1,
        "timeout": 1.0,
        "config_methods": True,  # the local exchange's operator is its user: config.update_* over HTTP
        "matchengine": _engine_client(ports),
        "marketprice": _client("marketprice", ports["marketprice"]),
        "readhistory": _client("readhistory", ports["readhistory"]),
        "ui": {"ws_url": ports.ws_url, "demo": infra.demo, "depth_limit": UI_DEPTH_LIMIT, "depth_merge": DEPTH_MERGE},
    }


def marketprice_config(data: DataDir, ports: Ports, infra: Infrastructure, exchange: JsonObject) -> JsonObject:
    return {
        **_common("marketprice", data, ports),
        "debug": False,
        "svr": _rpc_server(ports["marketprice"], 1_000_000),
        "monitor": _monitor(ports["marketprice_monitor"]),
        "deals": {"brokers": infra.brokers, "topic": "deals", "partition": 0},
        "redis": {"host": LOOPBACK, "port": infra.redis_port},
        "accesshttp": ports.http_url,
        "kline_open": "first_trade",
        "cache_timeout": 0.1,
    }


def accessws_config(data: DataDir, ports: Ports, infra: Infrastructure, exchange: JsonObject) -> JsonObject:
    return {
        **_common("accessws", data, ports),
        "svr": {"bind": [_tcp(ports["ws"])], "max_pkg_size": 102400, "protocol": "chat"},
        "monitor": _monitor(ports["ws_monitor"]),
        "worker_num": 1,
        "matchengine": _engine_client(ports),
        "marketprice": _client("marketprice", ports["marketprice"]),
        "readhistory": _client("readhistory", ports["readhistory"]),
        "orders": {"brokers": infra.brokers, "topic": "orders", "partition": 0},
        "balances": {"brokers": infra.brokers, "topic": "balances", "partition": 0},
        "stops": {"brokers": infra.brokers, "topic": "stops", "partition": 0},
        "backend_timeout": 1.0,
        "cache_timeout": 0.5,
        "auth_url": infra.auth_url,
        "sign_url": infra.sign_url,
        "depth_limit": DEPTH_LIMIT,
        "depth_merge": DEPTH_MERGE,
        **{f"{family}_interval": POLL_INTERVAL for family in ("deals", "price", "state", "today", "kline", "depth")},
    }


def alertcenter_config(data: DataDir, ports: Ports, infra: Infrastructure, exchange: JsonObject) -> JsonObject:
    port = ports["alertcenter"]
    return {
        "log": {"path": str(data.log / "alertcenter"), "flag": "fatal,error,warn,info"},
        "svr": {"bind": [_tcp(port), f"udp@{LOOPBACK}:{port}"], "max_pkg_size": 10240},
        "monitor": _monitor(ports["alertcenter_monitor"]),
        "redis": {"host": LOOPBACK, "port": infra.redis_port},
    }


Builder = Callable[[DataDir, Ports, Infrastructure, JsonObject], JsonObject]

# Start-up order: each daemon's dependencies come before it (spec/operations.md §1).
BUILDERS: dict[str, Builder] = {
    "alertcenter": alertcenter_config,
    "matchengine": matchengine_config,
    "readhistory": readhistory_config,
    "accesshttp": accesshttp_config,
    "marketprice": marketprice_config,
    "accessws": accessws_config,
}
DAEMONS = tuple(BUILDERS)

# `--standby`: a second matchengine, the standby of a failover pair with the first (docs/failover.md)
STANDBY_ENGINE = "matchengine_standby"
STANDBY_EXCHANGE = "local"
PACKAGE = {STANDBY_ENGINE: "matchengine"}

# The port that shows a daemon is serving, once it has printed "server start".
READY_PORT = {
    "alertcenter": "alertcenter",
    "matchengine": "matchengine_cli",
    "readhistory": "readhistory",
    "accesshttp": "http",
    "marketprice": "marketprice",
    "accessws": "ws",
}


def daemons(ports: Ports) -> tuple[str, ...]:
    """The daemons to run, in start-up order."""
    if not ports.standby:
        return DAEMONS
    index = DAEMONS.index("matchengine") + 1
    return (*DAEMONS[:index], STANDBY_ENGINE, *DAEMONS[index:])


def ready_port(name: str, ports: Ports) -> int:
    if ports.standby and name == "matchengine":
        return ports["matchengine"]  # a pair's first engine prints "server start" as a standby: wait until it leads
    if name == STANDBY_ENGINE:
        return ports["matchengine_standby_cli"]
    return ports[READY_PORT[name]]


def build_configs(data: DataDir, ports: Ports, infra: Infrastructure) -> dict[str, JsonObject]:
    exchange = load_exchange(data)
    configs = {name: build(data, ports, infra, exchange) for name, build in BUILDERS.items()}
    if ports.standby:
        configs[STANDBY_ENGINE] = standby_matchengine_config(data, ports, infra, exchange)
    return configs


def validate(name: str, config: JsonObject) -> None:
    """Read `config` with the daemon's own loader; ConfigError naming the field if it is wrong."""
    import importlib

    loader = importlib.import_module(f"{PACKAGE.get(name, name)}.config")
    loader.load_config(Section(copy.deepcopy(config)))


def write_configs(data: DataDir, configs: dict[str, JsonObject]) -> None:
    for name, config in configs.items():
        path = data.config_file(name)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(config, option=orjson.OPT_INDENT_2) + b"\n")
        tmp.replace(path)
