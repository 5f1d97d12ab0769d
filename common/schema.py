"""The tables of the two databases, defined once and rendered for MySQL or SQLite.

`trade_log` holds the matchengine's operation log (`operlog_YYYYMMDD`), its
snapshots (`slice_*_<ts>` registered in `slice_history`) and the publisher's
Kafka position; `trade_history` holds the 100-way sharded user history and
the history writer's position.  Template tables end in `_example`, as in the
original; runtime tables are created from them.  `deploy/sql/*.sql` is the
MySQL rendering of these definitions (a test keeps them equal).

Deviations from the original's schema, each for a reason:
  * slice tables store decimals as exact text and keep `source`, and a
    `slice_update_<ts>` table keeps the balance.update guard, so that a
    restart restores exactly the acknowledged state;
  * `history_position` / `message_position` record what the publisher has
    written, so history rows and Kafka events survive a crash exactly once
    (history) / at least once (Kafka);
  * beyond the original (spec/extensions.md): slices also keep each order's
    `option` and `client_id`, the guard entry's `kind` (balance.update, lock,
    unlock), stops (`slice_stop_<ts>`), the markets with their definitions and
    last prices (`slice_market_<ts>`) and the assets (`slice_asset_<ts>`); a
    slice without `slice_market_<ts>` is one from before them.  Fired stops
    go to `stop_history_<user_id % 100>`;
  * `leader_lease` holds the matchengine lease and fences every
    operation-log commit (docs/failover.md);
  * balance_history has one secondary index, (user_id, asset, business):
    the original's (user_id, asset) beside it costs MySQL an index entry
    per row and a share of its buffer pool, and readhistory serves one
    asset's rows newest first from the longer index (readhistory.queries).
In SQLite every DECIMAL column is TEXT holding the MySQL column text, so both
back ends return the same strings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

HISTORY_SHARDS = 100


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # MySQL type, e.g. "BIGINT UNSIGNED", "DECIMAL(30,8)", "VARCHAR(30)"
    null: bool = False
    auto: bool = False


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary: str
    indexes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    checks: tuple[tuple[str, str], ...] = ()  # (constraint name, SQL condition)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _cols(*specs: tuple) -> tuple[Column, ...]:
    return tuple(Column(*spec) for spec in specs)


# ---------------------------------------------------------------- trade_log

OPERLOG = Table("operlog_example", _cols(
    ("id", "BIGINT UNSIGNED"), ("time", "DOUBLE"), ("detail", "TEXT", True),
), primary="id")

SLICE_HISTORY = Table("slice_history", _cols(
    ("id", "INT UNSIGNED", False, True), ("time", "BIGINT"), ("end_oper_id", "BIGINT UNSIGNED"),
    ("end_order_id", "BIGINT UNSIGNED"), ("end_deals_id", "BIGINT UNSIGNED"),
), primary="id")

SLICE_ORDER = Table("slice_order_example", _cols(
    ("id", "BIGINT UNSIGNED"), ("t", "TINYINT UNSIGNED"), ("side", "TINYINT UNSIGNED"),
    ("create_time", "DOUBLE"), ("update_time", "DOUBLE"), ("user_id", "INT UNSIGNED"),
    ("market", "VARCHAR(30)"), ("source", "VARCHAR(30)", True), ("price", "VARCHAR(80)"),
    ("amount", "VARCHAR(80)"), ("taker_fee", "VARCHAR(80)"), ("maker_fee", "VARCHAR(80)"),
    ("left", "VARCHAR(80)"), ("freeze", "VARCHAR(80)"), ("deal_stock", "VARCHAR(80)"),
    ("deal_money", "VARCHAR(80)"), ("deal_fee", "VARCHAR(80)"), ("option", "INT UNSIGNED"),
    ("client_id", "VARCHAR(32)", True),
), primary="id")

SLICE_BALANCE = Table("slice_balance_example", _cols(
    ("id", "INT UNSIGNED", False, True), ("user_id", "INT UNSIGNED"), ("asset", "VARCHAR(30)"),
    ("t", "TINYINT UNSIGNED"), ("balance", "VARCHAR(80)"),
), primary="id")

SLICE_UPDATE = Table("slice_update_example", _cols(
    ("id", "INT UNSIGNED", False, True), ("user_id", "INT UNSIGNED"), ("asset", "VARCHAR(30)"),
    ("business", "TEXT"), ("business_id", "BIGINT UNSIGNED"), ("time", "DOUBLE"), ("kind", "TINYINT UNSIGNED"),
), primary="id")

SLICE_STOP = Table("slice_stop_example", _cols(
    ("id", "BIGINT UNSIGNED"), ("t", "TINYINT UNSIGNED"), ("side", "TINYINT UNSIGNED"),
    ("create_time", "DOUBLE"), ("update_time", "DOUBLE"), ("user_id", "INT UNSIGNED"),
    ("market", "VARCHAR(30)"), ("source", "VARCHAR(30)"), ("option", "INT UNSIGNED"), ("client_id", "VARCHAR(32)"),
    ("state", "TINYINT UNSIGNED"), ("stop_price", "VARCHAR(80)"), ("price", "VARCHAR(80)"),
    ("amount", "VARCHAR(80)"), ("taker_fee", "VARCHAR(80)"), ("maker_fee", "VARCHAR(80)"),
), primary="id")

SLICE_MARKET = Table("slice_market_example", _cols(
    ("id", "INT UNSIGNED"), ("name", "VARCHAR(30)"), ("definition", "TEXT"), ("last", "VARCHAR(80)"),
), primary="id")

SLICE_ASSET = Table("slice_asset_example", _cols(
    ("id", "INT UNSIGNED"), ("name", "VARCHAR(30)"), ("prec_save", "INT UNSIGNED"), ("prec_show", "INT UNSIGNED"),
), primary="id")

SLICE_TABLES = (SLICE_ORDER, SLICE_BALANCE, SLICE_UPDATE, SLICE_STOP, SLICE_MARKET, SLICE_ASSET)

MESSAGE_POSITION = Table("message_position", _cols(
    ("id", "INT UNSIGNED"), ("oper_id", "BIGINT UNSIGNED"), ("time", "DOUBLE"),
), primary="id")

# One row (id 1): who leads the exchange (term), and the fence of every operation-log commit, which
# sets writer_term to its own term in the commit's transaction: refused once the term has moved on.
# `beat` counts the leader's commits and renewals; `oper_id` is the last operation it committed.
LEADER_LEASE = Table("leader_lease", _cols(
    ("id", "INT UNSIGNED"), ("exchange", "VARCHAR(64)"), ("term", "BIGINT UNSIGNED"),
    ("writer_term", "BIGINT UNSIGNED"), ("holder", "VARCHAR(255)"), ("role", "VARCHAR(16)"),
    ("oper_id", "BIGINT UNSIGNED"), ("beat", "BIGINT UNSIGNED"), ("since", "DOUBLE"),
), primary="id", checks=(("fence", "`writer_term` = `term`"),))

TRADE_LOG_TABLES = (OPERLOG, SLICE_HISTORY, *SLICE_TABLES, MESSAGE_POSITION, LEADER_LEASE)

# ---------------------------------------------------------------- trade_history

BALANCE_HISTORY = Table("balance_history_example", _cols(
    ("id", "BIGINT UNSIGNED", False, True), ("time", "DOUBLE"), ("user_id", "INT UNSIGNED"),
    ("asset", "VARCHAR(30)"), ("business", "VARCHAR(30)"), ("change", "DECIMAL(30,8)"),
    ("balance", "DECIMAL(30,16)"), ("detail", "TEXT"),
), primary="id", indexes=(("idx_user_asset_business", ("user_id", "asset", "business")),))

_ORDER_COLUMNS = _cols(
    ("id", "BIGINT UNSIGNED"), ("create_time", "DOUBLE"), ("finish_time", "DOUBLE"),
    ("user_id", "INT UNSIGNED"), ("market", "VARCHAR(30)"), ("source", "VARCHAR(30)"),
    ("t", "TINYINT UNSIGNED"), ("side", "TINYINT UNSIGNED"), ("price", "DECIMAL(30,8)"),
    ("amount", "DECIMAL(30,8)"), ("taker_fee", "DECIMAL(30,4)"), ("maker_fee", "DECIMAL(30,4)"),
    ("deal_stock", "DECIMAL(30,8)"), ("deal_money", "DECIMAL(30,16)"), ("deal_fee", "DECIMAL(30,16)"),
)
ORDER_HISTORY = Table("order_history_example", _ORDER_COLUMNS, primary="id",
                      indexes=(("idx_user_market", ("user_id", "market")),))
ORDER_DETAIL = Table("order_detail_example", _ORDER_COLUMNS, primary="id",
                     indexes=(("idx_user_market", ("user_id", "market")),))

DEAL_HISTORY = Table("deal_history_example", _cols(
    ("id", "BIGINT UNSIGNED", False, True), ("time", "DOUBLE"), ("user_id", "INT UNSIGNED"),
    ("deal_id", "BIGINT UNSIGNED"), ("order_id", "BIGINT UNSIGNED"), ("deal_order_id", "BIGINT UNSIGNED"),
    ("role", "TINYINT UNSIGNED"), ("price", "DECIMAL(30,8)"), ("amount", "DECIMAL(30,8)"),
    ("deal", "DECIMAL(30,16)"), ("fee", "DECIMAL(30,16)"), ("deal_fee", "DECIMAL(30,16)"),
), primary="id", indexes=(("idx_order_id", ("order_id",)),))

USER_DEAL_HISTORY = Table("user_deal_history_example", _cols(
    ("id", "BIGINT UNSIGNED", False, True), ("time", "DOUBLE"), ("user_id", "INT UNSIGNED"),
    ("market", "VARCHAR(30)"), ("deal_id", "BIGINT UNSIGNED"), ("order_id", "BIGINT UNSIGNED"),
    ("deal_order_id", "BIGINT UNSIGNED"), ("side", "TINYINT UNSIGNED"), ("role", "TINYINT UNSIGNED"),
    ("price", "DECIMAL(30,8)"), ("amount", "DECIMAL(30,8)"), ("deal", "DECIMAL(30,16)"),
    ("fee", "DECIMAL(30,16)"), ("deal_fee", "DECIMAL(30,16)"),
), primary="id", indexes=(("idx_user_market", ("user_id", "market")),))

STOP_HISTORY = Table("stop_history_example", _cols(
    ("id", "BIGINT UNSIGNED", False, True), ("order_id", "BIGINT UNSIGNED"), ("create_time", "DOUBLE"),
    ("finish_time", "DOUBLE"), ("user_id", "INT UNSIGNED"), ("market", "VARCHAR(30)"), ("source", "VARCHAR(30)"),
    ("client_id", "VARCHAR(32)"), ("option", "INT UNSIGNED"), ("t", "TINYINT UNSIGNED"), ("side", "TINYINT UNSIGNED"),
    ("stop_price", "DECIMAL(30,8)"), ("price", "DECIMAL(30,8)"), ("amount", "DECIMAL(30,8)"),
    ("taker_fee", "DECIMAL(30,4)"), ("maker_fee", "DECIMAL(30,4)"), ("status", "TINYINT UNSIGNED"),
), primary="id", indexes=(("idx_user_market", ("user_id", "market")),))

HISTORY_POSITION = Table("history_position", _cols(
    ("id", "INT UNSIGNED"), ("oper_id", "BIGINT UNSIGNED"), ("time", "DOUBLE"),
), primary="id")

HISTORY_TEMPLATES = (BALANCE_HISTORY, ORDER_HISTORY, ORDER_DETAIL, DEAL_HISTORY, USER_DEAL_HISTORY, STOP_HISTORY)
TRADE_HISTORY_TABLES = (*HISTORY_TEMPLATES, HISTORY_POSITION)


def shard_name(template: Table, shard: int) -> str:
    return template.name.removesuffix("_example") + f"_{shard}"


# ---------------------------------------------------------------- rendering

def _sqlite_type(column: Column) -> str:
    mysql = column.type.upper()
    if "INT" in mysql:
        return "INTEGER"
    if mysql == "DOUBLE":
        return "REAL"
    return "TEXT"


def create_table_sql(table: Table, dialect: str, name: str | None = None, *, if_not_exists: bool = True) -> list[str]:
    """CREATE TABLE (and, for SQLite, CREATE INDEX) statements for `table` named `name`."""
    name = name or table.name
    exists = "IF NOT EXISTS " if if_not_exists else ""
    lines = []
    if dialect == "mysql":
        for c in table.columns:
            line = f"  `{c.name}` {c.type}" + (" NULL" if c.null else " NOT NULL")
            if c.name == table.primary:
                line += " PRIMARY KEY" + (" AUTO_INCREMENT" if c.auto else "")
            lines.append(line)
        for index, cols in table.indexes:
            lines.append(f"  INDEX `{index}` (" + ", ".join(f"`{c}`" for c in cols) + ")")
        for check, condition in table.checks:
            lines.append(f"  CONSTRAINT `{check}` CHECK ({condition})")
        body = ",\n".join(lines)
        return [f"CREATE TABLE {exists}`{name}` (\n{body}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"]
    for c in table.columns:
        if c.name == table.primary:
            lines.append(f"  `{c.name}` INTEGER PRIMARY KEY" + (" AUTOINCREMENT" if c.auto else ""))
        else:
            lines.append(f"  `{c.name}` {_sqlite_type(c)}" + ("" if c.null else " NOT NULL"))
    for check, condition in table.checks:
        lines.append(f"  CONSTRAINT `{check}` CHECK ({condition})")
    statements = [f"CREATE TABLE {exists}`{name}` (\n" + ",\n".join(lines) + "\n)"]
    for index, cols in table.indexes:
        statements.append(f"CREATE INDEX {exists}`{name}_{index}` ON `{name}` (" +
                          ", ".join(f"`{c}`" for c in cols) + ")")
    return statements


def render_mysql_file(database: str, tables: tuple[Table, ...], shards: bool,
                      shard_numbers: Iterable[int] = range(HISTORY_SHARDS)) -> str:
    """The deploy/sql/create_<database>.sql text: the database, templates and (history) shards
    (`shard_numbers` of them: those one server holds when the shards are spread over several)."""
    out = [f"-- generated from common/schema.py: python -m deploy.initdb --print {database}",
           f"CREATE DATABASE IF NOT EXISTS `{database}`;", f"USE `{database}`;", ""]
    for table in tables:
        out.extend(s + ";" for s in create_table_sql(table, "mysql"))
        out.append("")
    if shards:
        for table in HISTORY_TEMPLATES:
            for i in shard_numbers:
                out.append(f"CREATE TABLE IF NOT EXISTS `{shard_name(table, i)}` LIKE `{table.name}`;")
            out.append("")
    return "\n".join(out)
