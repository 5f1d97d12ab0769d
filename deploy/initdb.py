"""Create the two databases and every table: `python -m deploy.initdb`.

    python -m deploy.initdb matchengine/conf/config.json      # the db_log / db_history of a config
    python -m deploy.initdb --host 10.0.0.5 --user trade --password secret
    python -m deploy.initdb --print trade_history             # = deploy/sql/create_trade_history.sql

`trade_log` gets the operation-log, slice and position tables; `trade_history`
the five history templates, their 100 shards each and the position table.
When a config spreads the history shards over several servers (`db_history`
as a list, common/history_shards.py), each server gets the templates, the
position table and the shards it holds.
The SQL is `common.schema.render_mysql_file`, the same text as the files in
deploy/sql/; every statement is `IF NOT EXISTS`, so running it again is
harmless.  A config whose database is `{"sqlite": path}` (the embedded
default) gets the SQLite rendering of the same tables.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from common.config import ConfigError, DatabaseConfig, Section, database_config, load_config_file
from common.history_shards import history_servers
from common.schema import (
    HISTORY_SHARDS,
    HISTORY_TEMPLATES,
    TRADE_HISTORY_TABLES,
    TRADE_LOG_TABLES,
    Table,
    create_table_sql,
    render_mysql_file,
    shard_name,
)

TRADE_LOG = "trade_log"
TRADE_HISTORY = "trade_history"
KINDS = (TRADE_LOG, TRADE_HISTORY)
CONFIG_KEYS = {TRADE_LOG: "db_log", TRADE_HISTORY: "db_history"}


@dataclass(frozen=True, slots=True)
class Target:
    """One database to create: which kind of tables, where, and (history) which shards."""

    kind: str
    database: DatabaseConfig
    shards: tuple[int, ...] = tuple(range(HISTORY_SHARDS))


def tables_of(kind: str) -> tuple[Table, ...]:
    return TRADE_LOG_TABLES if kind == TRADE_LOG else TRADE_HISTORY_TABLES


def mysql_script(kind: str, name: str | None = None, shards: Iterable[int] = range(HISTORY_SHARDS)) -> str:
    """The MySQL script that creates database `name` (default: the kind's own name) with its tables."""
    return render_mysql_file(name or kind, tables_of(kind), shards=kind == TRADE_HISTORY, shard_numbers=shards)


def split_statements(script: str) -> list[str]:
    """The statements of a rendered script (no comments, no empty statements)."""
    text = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("--"))
    statements = (s.strip().removesuffix(";").strip() for s in text.split(";\n"))
    return [s for s in statements if s]


def sqlite_statements(kind: str, shards: Iterable[int] = range(HISTORY_SHARDS)) -> list[str]:
    statements: list[str] = []
    for table in tables_of(kind):
        statements.extend(create_table_sql(table, "sqlite"))
    if kind == TRADE_HISTORY:
        for template in HISTORY_TEMPLATES:
            for shard in shards:
                statements.extend(create_table_sql(template, "sqlite", shard_name(template, shard)))
    return statements


def create_sqlite(kind: str, path: str, shards: Iterable[int] = range(HISTORY_SHARDS)) -> int:
    """Create the tables of `kind` in the SQLite file `path`; the number of statements run."""
    statements = sqlite_statements(kind, shards)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("BEGIN")
        for sql in statements:
            conn.execute(sql)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return len(statements)


def create_mysql(kind: str, db: DatabaseConfig, shards: Iterable[int] = range(HISTORY_SHARDS)) -> int:
    """Create database `db.name` and the tables of `kind` on a MySQL server; the number of statements run."""
    import pymysql

    statements = split_statements(mysql_script(kind, db.name, shards))
    charset = "utf8mb4" if db.charset.lower() in ("utf8", "utf8mb3", "utf8mb4") else db.charset
    conn = pymysql.connect(host=db.host, port=db.port, user=db.user, password=db.password, charset=charset,
                           autocommit=True)
    try:
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
    finally:
        conn.close()
    return len(statements)


def create(target: Target) -> int:
    if target.database.is_sqlite:
        return create_sqlite(target.kind, target.database.sqlite_path, target.shards)
    return create_mysql(target.kind, target.database, target.shards)


def targets_from_config(path: str) -> list[Target]:
    """The databases named by a daemon's config: `db_log` and/or `db_history` (every history server)."""
    sec = load_config_file(path)
    found = []
    if sec.has(CONFIG_KEYS[TRADE_LOG]):
        found.append(Target(TRADE_LOG, database_config(sec, CONFIG_KEYS[TRADE_LOG])))
    if sec.has(CONFIG_KEYS[TRADE_HISTORY]):
        servers = history_servers(sec, CONFIG_KEYS[TRADE_HISTORY])
        found.extend(Target(TRADE_HISTORY, database, tuple(servers.shards_of(index)))
                     for index, database in enumerate(servers.databases))
    if not found:
        raise ConfigError(f"config error: '{path}' has neither 'db_log' nor 'db_history'")
    return found


def targets_from_options(args: argparse.Namespace) -> list[Target]:
    names = {TRADE_LOG: args.log_db, TRADE_HISTORY: args.history_db}
    kinds = args.only or list(KINDS)
    found = []
    for kind in kinds:
        section = Section({"db": {"host": args.host, "port": args.port, "user": args.user, "pass": args.password,
                                  "name": names[kind]}})
        found.append(Target(kind, database_config(section, "db")))
    return found


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deploy.initdb",
                                     description="Create the trade_log and trade_history databases and tables.")
    parser.add_argument("config", nargs="?", help="a daemon's config.json: its db_log / db_history are created")
    parser.add_argument("--print", dest="print_kinds", nargs="*", choices=KINDS, metavar="DATABASE",
                        help="print the SQL (trade_log, trade_history; default both) instead of running it")
    parser.add_argument("--only", nargs="+", choices=KINDS, help="create only these databases")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3306)
    parser.add_argument("--user", default="root")
    parser.add_argument("--password", default="")
    parser.add_argument("--log-db", default=TRADE_LOG, help="name of the trade_log database")
    parser.add_argument("--history-db", default=TRADE_HISTORY, help="name of the trade_history database")
    return parser.parse_args(argv)


def print_sql(targets: Iterable[Target]) -> None:
    for target in targets:
        if target.database.is_sqlite:
            sys.stdout.write(";\n".join(sqlite_statements(target.kind, target.shards)) + ";\n")
        else:
            sys.stdout.write(mysql_script(target.kind, target.database.name, target.shards))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        targets = targets_from_config(args.config) if args.config else targets_from_options(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.only:
        targets = [t for t in targets if t.kind in args.only]
    if args.print_kinds is not None:
        wanted = args.print_kinds or list(KINDS)
        print_sql(t for t in targets if t.kind in wanted)
        return 0
    for target in targets:
        try:
            count = create(target)
        except Exception as exc:
            print(f"initdb: {target.kind} on {target.database.describe()}: {exc}", file=sys.stderr)
            return 1
        print(f"initdb: {target.kind} on {target.database.describe()}: {count} statements done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
