"""alertcenter's config.json (spec/alertcenter.md §2.6), read into a typed object.

As in the original only `log.path` and `log.flag` are honoured: the other
`log` keys are type-checked and ignored, and the log rotates daily (100 MiB
per file, 10 files, 7 days kept).  No `alert` section is read: alertcenter
does not send alerts to itself.

Fields beyond the original's, both optional:
  `redis_key` ("alert:message"): the Redis list the messages are appended to;
  `queue_limit` (10000): messages kept in memory while Redis is unreachable.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.config import (
    LogConfig,
    ProcessConfig,
    RedisConfig,
    Section,
    ServerConfig,
    log_config,
    monitor_config,
    process_config,
    redis_config,
    server_config,
)

ALERT_LIST_KEY = "alert:message"
LOG_SHIFT = "day"
LOG_MAX_SIZE = 100 * 1024 * 1024
LOG_FILE_NUM = 10
LOG_KEEP_DAYS = 7


@dataclass(slots=True)
class AlertCenterConfig:
    process: ProcessConfig
    log: LogConfig
    svr: ServerConfig
    redis: RedisConfig
    redis_key: str = ALERT_LIST_KEY
    queue_limit: int = 10000
    alert: None = None
    monitor: ServerConfig | None = None


def fixed_log_config(sec: Section) -> LogConfig:
    """`log.path` and `log.flag` with the original alertcenter's fixed rotation."""
    configured = log_config(sec)
    return LogConfig(path=configured.path, flag=configured.flag, shift=LOG_SHIFT, max=LOG_MAX_SIZE,
                     num=LOG_FILE_NUM, keep=LOG_KEEP_DAYS)


def load_config(sec: Section) -> AlertCenterConfig:
    svr = server_config(sec, "svr", heartbeat_default=False)
    for address in svr.bind:
        if address.kind not in ("udp", "tcp", "dgram", "stream"):
            raise sec.error("svr.bind", f"alertcenter cannot listen on '{address}'")
    return AlertCenterConfig(
        process=process_config(sec),
        log=fixed_log_config(sec),
        svr=svr,
        monitor=monitor_config(sec),
        redis=redis_config(sec, "redis"),
        redis_key=sec.str("redis_key", ALERT_LIST_KEY, non_empty=True),
        queue_limit=sec.int("queue_limit", 10000, min=1),
    )
