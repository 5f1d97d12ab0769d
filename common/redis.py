"""Redis connections for marketprice and alertcenter: a plain server or a Sentinel-managed master.

With Sentinel (the original's only mode, spec/operations.md §10) the client
asks the sentinels for the master of `name` and re-resolves it after a
fail-over; `redis.asyncio` does that, including the ROLE check.
"""

from __future__ import annotations

from typing import Any

from .config import RedisConfig


def connect_redis(config: RedisConfig, **options: Any) -> Any:
    """A `redis.asyncio.Redis` client for `config` (connections are made lazily)."""
    import redis.asyncio as aioredis
    from redis.asyncio.sentinel import Sentinel

    options.setdefault("socket_timeout", 3.0)
    options.setdefault("socket_connect_timeout", 3.0)
    if config.is_sentinel:
        sentinel = Sentinel(config.sentinels, socket_timeout=3.0, socket_connect_timeout=3.0)
        return sentinel.master_for(config.sentinel_name, db=config.db, **options)
    return aioredis.Redis.from_url(config.url, db=config.db, **options)
