"""matchengine's config.json (spec/matchengine.md §2), read into typed objects.

Fields beyond the original's, all optional:
  `durable_reply` (true): answer a write only once its operation-log row is
      committed.  false is the original's answer-first mode, which can lose
      the last acknowledged operations on a crash.
  `commit_interval` (0.002 s): the longest a group commit waits to gather rows.
  `max_publish_lag` (200000): operations the history/message publisher may be
      behind before writes are refused with "service unavailable".
  `history_interval` (0.5 s): while operations keep coming, the longest their
      history rows gather before they are written (longer: fewer, larger
      statements); when operations pause for 0.1 s, what gathered is written.
  `publisher` (true): run the history/message publisher as a child process.
  `exchange_file` (none): a JSON file holding `assets` and `markets` instead of
      this file (which then has neither); assets and markets added live are
      written back to it, or to this file when it is not set.
  `markets[].stp` ("none"): the self-trade prevention of an order that asks for
      none: "none" (a user's orders trade with each other, as in the original),
      "cancel_taker", "cancel_maker" or "cancel_both" (spec/extensions.md §6).
  `role` ("sole"): "sole" for an exchange's only engine; "standby" for each of
      the two engines of a failover pair (docs/failover.md).
  `exchange` (""; required with role "standby"): the exchange's name, stored
      with its operation log; an engine configured for another one refuses
      to start.
  `lease_timeout` (3.0 s): a leader that has not renewed its lease for this
      long is replaced by the standby.
`db_history` may also be a list of MySQL servers, each with the history
shards it holds (common/history_shards.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from common.config import (
    Address,
    AlertConfig,
    ConfigError,
    DatabaseConfig,
    LogConfig,
    ProcessConfig,
    Section,
    ServerConfig,
    address_list,
    alert_config,
    database_config,
    load_config_file,
    log_config,
    monitor_config,
    process_config,
    server_config,
)
from common.history_shards import HistoryServers, history_servers

from . import definitions
from .balance import Asset
from .definitions import DefinitionError
from .lease import ROLE_SOLE, ROLE_STANDBY, ROLES
from .market import MarketSpec

log = logging.getLogger(__name__)

EXCHANGE_NAME_MAX = 64


@dataclass(slots=True)
class EngineConfig:
    debug: bool
    process: ProcessConfig
    log: LogConfig
    alert: AlertConfig
    svr: ServerConfig
    cli: Address
    db_log: DatabaseConfig
    db_history: HistoryServers
    assets: list[Asset]
    markets: list[MarketSpec]
    brokers: str
    slice_interval: int = 86400
    slice_keeptime: int = 259200
    history_thread: int = 10
    history_interval: float = 0.5
    cache_timeout: float = 0.45
    durable_reply: bool = True
    commit_interval: float = 0.002
    max_publish_lag: int = 200_000
    publisher: bool = True
    exchange_file: str = ""
    role: str = ROLE_SOLE
    exchange: str = ""
    lease_timeout: float = 3.0
    monitor: ServerConfig | None = None


def parse_asset(item: Section) -> Asset:
    """One asset object of the config, by the rules of matchengine/definitions.py."""
    try:
        return definitions.parse_asset(item.data)
    except DefinitionError as exc:
        raise item.error(exc.field, exc.problem) from None


def parse_market(item: Section, by_name: Mapping[str, Asset]) -> MarketSpec:
    """One market object of the config, by the rules of matchengine/definitions.py."""
    try:
        return definitions.parse_market(item.data, by_name)
    except DefinitionError as exc:
        raise item.error(exc.field, exc.problem) from None


def load_assets(sec: Section) -> list[Asset]:
    assets: list[Asset] = []
    seen: set[str] = set()
    for item in sec.sections("assets", non_empty=True):
        asset = parse_asset(item)
        if asset.name in seen:
            raise item.error("name", f"asset '{asset.name}' is listed twice")
        seen.add(asset.name)
        assets.append(asset)
    return assets


def load_markets(sec: Section, assets: list[Asset]) -> list[MarketSpec]:
    by_name = {a.name: a for a in assets}
    markets: list[MarketSpec] = []
    seen: set[str] = set()
    for item in sec.sections("markets", non_empty=True):
        spec = parse_market(item, by_name)
        if spec.name in seen:
            raise item.error("name", f"market '{spec.name}' is listed twice")
        seen.add(spec.name)
        markets.append(spec)
    return markets


def exchange_section(sec: Section) -> tuple[Section, str]:
    """Where assets and markets are defined: this config, or the file named by `exchange_file`."""
    path = sec.str("exchange_file", "")
    if not path:
        return sec, ""
    for key in ("assets", "markets"):
        if sec.has(key):
            raise sec.error(key, "must not be given with 'exchange_file' (it holds the assets and markets)")
    try:
        return load_config_file(path), os.path.abspath(path)
    except ConfigError as exc:
        raise sec.error("exchange_file", str(exc).removeprefix("config error: ")) from None


class ConfigSource:
    """The file the engine's assets and markets come from (`exchange_file`, else the config file itself).

    Assets and markets added live are appended to it — written to a temporary
    file, synced, renamed over it — so that a start without the operation log
    agrees with the engine.  The operation log stays the record: a failed write
    is logged, the next start finds the definition in the slice or the log, and
    writes it back then.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def write_back(self, assets: list[Asset], markets: list[MarketSpec]) -> int:
        """Append the assets and markets the file does not name; how many it wrote."""
        try:
            with open(self.path, "rb") as f:
                data = orjson.loads(f.read())
            if not isinstance(data, dict):
                raise ValueError("it does not hold a JSON object")
            written = 0
            for key, added in (("assets", [definitions.asset_definition(a) for a in assets]),
                               ("markets", [definitions.market_definition(m) for m in markets])):
                items = data.setdefault(key, [])
                if not isinstance(items, list):
                    raise ValueError(f"{key!r} is not an array")
                names = {item.get("name") for item in items if isinstance(item, dict)}
                for definition in added:
                    if definition["name"] not in names:
                        items.append(definition)
                        written += 1
            if written:
                self._replace(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
            return written
        except (OSError, ValueError) as exc:
            log.critical("cannot write the assets and markets added live back to %s: %s", self.path, exc)
            return 0

    def _replace(self, content: bytes) -> None:
        tmp = f"{self.path}.tmp"
        with open(tmp, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        directory = os.open(os.path.dirname(os.path.abspath(self.path)), os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def load_config(sec: Section) -> EngineConfig:
    exchange, exchange_file = exchange_section(sec)
    assets = load_assets(exchange)
    cli = address_list(sec, "cli")
    if len(cli) != 1 or cli[0].kind not in ("tcp", "stream"):
        raise sec.error("cli", "must be one tcp@ or stream@ address")
    role = sec.str("role", ROLE_SOLE)
    if role not in ROLES:
        raise sec.error("role", f"must be one of {', '.join(repr(r) for r in ROLES)}")
    exchange_name = sec.str("exchange", "", max_len=EXCHANGE_NAME_MAX)
    durable_reply = sec.bool("durable_reply", True)
    if role == ROLE_STANDBY:
        if not exchange_name:
            raise sec.error("exchange", "required with role 'standby': the name of the exchange whose log it follows")
        if not durable_reply:
            raise sec.error("durable_reply", "must be true with role 'standby': a takeover keeps only what was "
                                             "committed")
    return EngineConfig(
        debug=sec.bool("debug", False),
        process=process_config(sec),
        log=log_config(sec),
        alert=alert_config(sec),
        svr=server_config(sec, "svr"),
        cli=cli[0],
        db_log=database_config(sec, "db_log"),
        db_history=history_servers(sec, "db_history"),
        assets=assets,
        markets=load_markets(exchange, assets),
        brokers=sec.str("brokers", non_empty=True),
        slice_interval=sec.int("slice_interval", 86400, min=1),
        slice_keeptime=sec.int("slice_keeptime", 259200, min=1),
        history_thread=sec.int("history_thread", 10, min=1),
        history_interval=sec.real("history_interval", 0.5, min=0.01),
        cache_timeout=sec.real("cache_timeout", 0.45, min=0),
        durable_reply=durable_reply,
        commit_interval=sec.real("commit_interval", 0.002, min=0),
        max_publish_lag=sec.int("max_publish_lag", 200_000, min=1000),
        publisher=sec.bool("publisher", True),
        exchange_file=exchange_file,
        role=role,
        exchange=exchange_name,
        lease_timeout=sec.real("lease_timeout", 3.0, min=0.5),
        monitor=monitor_config(sec),
    )


__all__ = ["ConfigError", "ConfigSource", "EngineConfig", "load_config"]
