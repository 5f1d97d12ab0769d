"""Where each history shard lives: `db_history` as one database, or a list of servers with shard ranges.

The history tables are sharded 100 ways (`balance_history_<user_id % 100>`,
…).  An exchange that outgrows one database host spreads the shards over
several: `db_history` is then a list of databases, each with the shards it
holds, and every shard number is on exactly one of them (all five tables of
a shard together).  One object, as in the original's config, holds them all:

    "db_history": {"host": "10.0.0.5", "user": "trade", "pass": "…", "name": "trade_history"}

    "db_history": [
        {"host": "10.0.0.5", "user": "trade", "pass": "…", "name": "trade_history", "shards": "0-49"},
        {"host": "10.0.0.6", "user": "trade", "pass": "…", "name": "trade_history", "shards": "50-99"}
    ]

`shards` is a list of ranges and numbers ("0-24,50-74", "7"); a lone entry
may leave it out (all shards).  The matchengine's publisher, readhistory and
`deploy.initdb` read the same key, so give them the same mapping; shards
must not move between servers while their tables hold history (the docs say
how to move them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .config import DatabaseConfig, Section, database_of
from .schema import HISTORY_SHARDS

SHARDS_KEY = "shards"


@dataclass(frozen=True, slots=True)
class HistoryServers:
    """The history databases and, for every shard number, the index of the one that holds it."""

    databases: tuple[DatabaseConfig, ...]
    server_of: tuple[int, ...]

    @classmethod
    def single(cls, database: DatabaseConfig) -> HistoryServers:
        return cls((database,), (0,) * HISTORY_SHARDS)

    def shards_of(self, server: int) -> list[int]:
        """The shard numbers server `server` holds, in order."""
        return [shard for shard, holder in enumerate(self.server_of) if holder == server]

    def describe(self) -> str:
        if len(self.databases) == 1:
            return self.databases[0].describe()
        return ", ".join(f"{db.describe()} (shards {shard_ranges(self.shards_of(i))})"
                         for i, db in enumerate(self.databases))


def parse_shards(text: str) -> list[int]:
    """Shard numbers of "0-49", "7" or "0-24,50-74"; ValueError with the reason."""
    shards: list[int] = []
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        try:
            low = int(first)
            high = int(last) if dash else low
        except ValueError:
            raise ValueError(f"'{text}' is not a list of shard numbers and ranges such as 0-49 or 0-24,50-74") \
                from None
        if low > high:
            raise ValueError(f"range {low}-{high} is empty")
        if low < 0 or high >= HISTORY_SHARDS:
            raise ValueError(f"shards are numbered 0-{HISTORY_SHARDS - 1}, not {part.strip()}")
        shards.extend(range(low, high + 1))
    return shards


def shard_ranges(shards: Sequence[int]) -> str:
    """The inverse of `parse_shards`: [0, 1, 2, 7] → "0-2,7"."""
    parts: list[str] = []
    index = 0
    while index < len(shards):
        end = index
        while end + 1 < len(shards) and shards[end + 1] == shards[end] + 1:
            end += 1
        parts.append(str(shards[index]) if end == index else f"{shards[index]}-{shards[end]}")
        index = end + 1
    return ",".join(parts)


def _same_database(a: DatabaseConfig, b: DatabaseConfig) -> bool:
    if a.is_sqlite or b.is_sqlite:
        return a.sqlite_path == b.sqlite_path
    return (a.host, a.port, a.name) == (b.host, b.port, b.name)


def history_servers(sec: Section, key: str = "db_history") -> HistoryServers:
    """Read `key`: one database object (every shard), or a non-empty list of them with their `shards`."""
    if not isinstance(sec.raw(key), list):
        entry = sec.section(key)
        if not entry.has(SHARDS_KEY):
            return HistoryServers.single(database_of(entry))
        entries = [entry]
    else:
        entries = sec.sections(key, non_empty=True)
    databases: list[DatabaseConfig] = []
    server_of: list[int | None] = [None] * HISTORY_SHARDS
    for index, entry in enumerate(entries):
        database = database_of(entry)
        for other, known in enumerate(databases):
            if _same_database(database, known):
                raise entry.error("name", f"the same database as {_entry_name(key, other, len(entries))}: "
                                          "each server keeps the positions of its own shards")
        if len(entries) == 1 and not entry.has(SHARDS_KEY):
            shards = list(range(HISTORY_SHARDS))
        else:
            text = entry.str(SHARDS_KEY, non_empty=True)
            try:
                shards = parse_shards(text)
            except ValueError as exc:
                raise entry.error(SHARDS_KEY, str(exc)) from None
        for shard in shards:
            holder = server_of[shard]
            if holder is not None:
                raise entry.error(SHARDS_KEY, f"shard {shard} is also in {_entry_name(key, holder, len(entries))}")
            server_of[shard] = index
        databases.append(database)
    missing = [shard for shard, holder in enumerate(server_of) if holder is None]
    if missing:
        raise sec.error(key, f"shards {shard_ranges(missing)} are on no server: every shard 0-{HISTORY_SHARDS - 1} "
                             "must be on one")
    return HistoryServers(tuple(databases), tuple(holder for holder in server_of if holder is not None))


def _entry_name(key: str, index: int, count: int) -> str:
    return f"{key}[{index}]" if count > 1 else key
