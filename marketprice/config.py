"""marketprice's config.json (spec/marketprice.md §6, spec/operations.md §9.2), read into typed objects.

The original's fields: `debug`, `process`, `log`, `alert`, `svr` (RPC server),
`deals` (Kafka consumer), `redis` (Sentinel, or a plain server), `sec_max`,
`min_max`, `hour_max`, `cache_timeout`, `accesshttp` (URL of the market list).

Fields of the port, all optional:
  `matchengine` (RPC client object): when present, the market list is asked
      of the matchengine (command 307, `market.list`) instead of accesshttp,
      and `accesshttp` may be left out.
  `key_prefix` (""): put in front of every Redis key (tests share one Redis).
  `kline_open` ("previous_last"): what a new bucket opens at — the HEAD rule,
      the price before its first deal; "first_trade" is the pre-HEAD rule.
  `flush_interval` (10.0 s): how often changed data is written to Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.config import (
    REQUIRED,
    AlertConfig,
    ClientConfig,
    KafkaConsumerConfig,
    LogConfig,
    ProcessConfig,
    RedisConfig,
    Section,
    ServerConfig,
    alert_config,
    client_config,
    kafka_consumer_config,
    log_config,
    monitor_config,
    process_config,
    redis_config,
    server_config,
)

from .kline import OpenRule
from .state import Retention


@dataclass(slots=True)
class MarketpriceConfig:
    debug: bool
    process: ProcessConfig
    log: LogConfig
    alert: AlertConfig
    svr: ServerConfig
    deals: KafkaConsumerConfig
    redis: RedisConfig
    retention: Retention
    cache_timeout: float
    accesshttp: str
    matchengine: ClientConfig | None
    key_prefix: str = ""
    kline_open: OpenRule = OpenRule.PREVIOUS_LAST
    flush_interval: float = 10.0
    monitor: ServerConfig | None = None


def load_config(sec: Section) -> MarketpriceConfig:
    matchengine = client_config(sec, "matchengine") if sec.has("matchengine") else None
    accesshttp = sec.str("accesshttp", "" if matchengine is not None else REQUIRED, non_empty=matchengine is None)
    rule_text = sec.str("kline_open", OpenRule.PREVIOUS_LAST.value)
    try:
        rule = OpenRule(rule_text)
    except ValueError:
        choices = ", ".join(f"'{r.value}'" for r in OpenRule)
        raise sec.error("kline_open", f"must be one of {choices}") from None
    flush_interval = sec.real("flush_interval", 10.0, positive=True)
    return MarketpriceConfig(
        debug=sec.bool("debug", False),
        process=process_config(sec),
        log=log_config(sec),
        alert=alert_config(sec),
        svr=server_config(sec, "svr"),
        monitor=monitor_config(sec),
        deals=kafka_consumer_config(sec, "deals"),
        redis=redis_config(sec, "redis"),
        retention=Retention(
            sec_max=sec.int("sec_max", 604_800, min=1),
            min_max=sec.int("min_max", 525_600, min=1),
            hour_max=sec.int("hour_max", 87_600, min=1),
        ),
        cache_timeout=sec.real("cache_timeout", 0.45, min=0),
        accesshttp=accesshttp,
        matchengine=matchengine,
        key_prefix=sec.str("key_prefix", ""),
        kline_open=rule,
        flush_interval=flush_interval,
    )
