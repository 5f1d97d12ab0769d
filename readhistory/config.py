"""readhistory's config.json (spec/readhistory.md §5), read into a typed object.

`db_history` may be a list of MySQL servers with the shards each holds, as
matchengine's (common/history_shards.py): each query goes to the server
that holds its shard.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.config import (
    AlertConfig,
    LogConfig,
    ProcessConfig,
    Section,
    ServerConfig,
    alert_config,
    log_config,
    monitor_config,
    process_config,
    server_config,
)
from common.history_shards import HistoryServers, history_servers


@dataclass(slots=True)
class ReadHistoryConfig:
    debug: bool
    process: ProcessConfig
    log: LogConfig
    alert: AlertConfig
    svr: ServerConfig
    db_history: HistoryServers
    worker_num: int = 10
    monitor: ServerConfig | None = None


def load_config(sec: Section) -> ReadHistoryConfig:
    return ReadHistoryConfig(
        debug=sec.bool("debug", False),
        process=process_config(sec),
        log=log_config(sec),
        alert=alert_config(sec),
        svr=server_config(sec, "svr"),
        monitor=monitor_config(sec),
        db_history=history_servers(sec, "db_history"),
        worker_num=sec.int("worker_num", 10, min=1, max=1000),
    )
