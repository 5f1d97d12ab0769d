"""matchengine's config.json (spec/matchengine.md §2), read into typed objects.

Fields beyond the original's, all optional:
  `durable_reply` (true): answer a write only once its operation-log row is
      committed.  false is the original's answer-first mode, which can lose
      the last acknowledged operations on a crash.
  `commit_interval` (0.002 s): the longest a group commit waits to gather rows.
  `max_publish_lag` (200000): operations the history/message publisher may be
      behind before writes are refused with "service unavailable".
  `publisher` (true): run the history/message publisher as a child process.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    log_config,
    process_config,
    server_config,
)
from common.decimals import parse_decimal

from .balance import Asset
from .market import MarketSpec

ASSET_NAME_MAX = 15
MARKET_NAME_MAX = 30
PREC_MAX = 30


@dataclass(slots=True)
class EngineConfig:
    debug: bool
    process: ProcessConfig
    log: LogConfig
    alert: AlertConfig
    svr: ServerConfig
    cli: Address
    db_log: DatabaseConfig
    db_history: DatabaseConfig
    assets: list[Asset]
    markets: list[MarketSpec]
    brokers: str
    slice_interval: int = 86400
    slice_keeptime: int = 259200
    history_thread: int = 10
    cache_timeout: float = 0.45
    durable_reply: bool = True
    commit_interval: float = 0.002
    max_publish_lag: int = 200_000
    publisher: bool = True


def load_assets(sec: Section) -> list[Asset]:
    assets: list[Asset] = []
    seen: set[str] = set()
    for item in sec.sections("assets", non_empty=True):
        name = item.str("name", max_len=ASSET_NAME_MAX, non_empty=True)
        if name in seen:
            raise item.error("name", f"asset '{name}' is listed twice")
        seen.add(name)
        prec_save = item.int("prec_save", min=0, max=PREC_MAX)
        prec_show = item.int("prec_show", prec_save, min=0, max=PREC_MAX)
        assets.append(Asset(name, prec_save, prec_show))
    return assets


def load_markets(sec: Section, assets: list[Asset]) -> list[MarketSpec]:
    by_name = {a.name: a for a in assets}
    markets: list[MarketSpec] = []
    seen: set[str] = set()
    for item in sec.sections("markets", non_empty=True):
        name = item.str("name", max_len=MARKET_NAME_MAX, non_empty=True)
        if name in seen:
            raise item.error("name", f"market '{name}' is listed twice")
        seen.add(name)
        stock_sec, money_sec = item.section("stock"), item.section("money")
        stock = stock_sec.str("name")
        money = money_sec.str("name")
        if stock not in by_name:
            raise stock_sec.error("name", f"unknown asset '{stock}'")
        if money not in by_name:
            raise money_sec.error("name", f"unknown asset '{money}'")
        stock_prec = stock_sec.int("prec", min=0, max=PREC_MAX)
        money_prec = money_sec.int("prec", min=0, max=PREC_MAX)
        fee_prec = item.int("fee_prec", 4, min=0, max=PREC_MAX)
        min_text = item.str("min_amount", "0.01")
        min_amount = parse_decimal(min_text, 0)
        if min_amount is None or min_amount < 0:
            raise item.error("min_amount", f"'{min_text}' is not a non-negative decimal")
        save_stock, save_money = by_name[stock].prec_save, by_name[money].prec_save
        if stock_prec + money_prec > save_money:
            raise item.error("stock.prec", f"stock.prec + money.prec must be <= prec_save of {money} ({save_money})")
        if stock_prec + fee_prec > save_stock:
            raise item.error("fee_prec", f"stock.prec + fee_prec must be <= prec_save of {stock} ({save_stock})")
        if money_prec + fee_prec > save_money:
            raise item.error("fee_prec", f"money.prec + fee_prec must be <= prec_save of {money} ({save_money})")
        markets.append(MarketSpec(name, stock, money, stock_prec, money_prec, fee_prec, min_amount))
    return markets


def load_config(sec: Section) -> EngineConfig:
    assets = load_assets(sec)
    cli = address_list(sec, "cli")
    if len(cli) != 1 or cli[0].kind not in ("tcp", "stream"):
        raise sec.error("cli", "must be one tcp@ or stream@ address")
    return EngineConfig(
        debug=sec.bool("debug", False),
        process=process_config(sec),
        log=log_config(sec),
        alert=alert_config(sec),
        svr=server_config(sec, "svr"),
        cli=cli[0],
        db_log=database_config(sec, "db_log"),
        db_history=database_config(sec, "db_history"),
        assets=assets,
        markets=load_markets(sec, assets),
        brokers=sec.str("brokers", non_empty=True),
        slice_interval=sec.int("slice_interval", 86400, min=1),
        slice_keeptime=sec.int("slice_keeptime", 259200, min=1),
        history_thread=sec.int("history_thread", 10, min=1),
        cache_timeout=sec.real("cache_timeout", 0.45, min=0),
        durable_reply=sec.bool("durable_reply", True),
        commit_interval=sec.real("commit_interval", 0.002, min=0),
        max_publish_lag=sec.int("max_publish_lag", 200_000, min=1000),
        publisher=sec.bool("publisher", True),
    )


__all__ = ["ConfigError", "EngineConfig", "load_config"]
