"""deploy/sql/*.sql and `python -m deploy.initdb`: the files are the schema's rendering, and initdb
creates both databases with every table on a fresh MariaDB (and on SQLite for the embedded default)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson

from common.schema import (
    HISTORY_SHARDS,
    HISTORY_TEMPLATES,
    TRADE_HISTORY_TABLES,
    TRADE_LOG_TABLES,
    render_mysql_file,
    shard_name,
)
from tests.e2e.deploy_support import DEPLOY
from tests.support import ROOT, PrivateMariadb, mysql_query, unique_name

LOG_TABLES = {t.name for t in TRADE_LOG_TABLES}
HISTORY_TABLES = {t.name for t in TRADE_HISTORY_TABLES} | {
    shard_name(t, i) for t in HISTORY_TEMPLATES for i in range(HISTORY_SHARDS)}


def initdb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "deploy.initdb", *args], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)


def mysql_tables(database: str) -> set[str]:
    rows = mysql_query("information_schema", "SELECT table_name FROM information_schema.tables "
                       "WHERE table_schema = %s", (database,))
    return {r[0] for r in rows}


def test_the_sql_files_are_the_schema_rendering() -> None:
    assert (DEPLOY / "sql" / "create_trade_log.sql").read_text() == render_mysql_file(
        "trade_log", TRADE_LOG_TABLES, shards=False)
    assert (DEPLOY / "sql" / "create_trade_history.sql").read_text() == render_mysql_file(
        "trade_history", TRADE_HISTORY_TABLES, shards=True)


def test_print_gives_the_files() -> None:
    for name in ("trade_log", "trade_history"):
        printed = initdb("--print", name)
        assert printed.returncode == 0, printed.stderr
        assert printed.stdout == (DEPLOY / "sql" / f"create_{name}.sql").read_text()
    both = initdb("--print")
    assert both.stdout == "".join((DEPLOY / "sql" / f"create_{n}.sql").read_text()
                                  for n in ("trade_log", "trade_history"))


def test_initdb_creates_every_table_on_mariadb(tmp_path: Path, mysql_names: Callable[[str], str]) -> None:
    log_db, history_db = mysql_names("initlog"), mysql_names("inithist")
    config = {"db_log": {"host": "127.0.0.1", "user": "root", "pass": "", "name": log_db},
              "db_history": {"host": "127.0.0.1", "port": 3306, "user": "root", "pass": "", "name": history_db}}
    config_path = tmp_path / "matchengine.json"
    config_path.write_bytes(orjson.dumps(config))

    done = initdb(str(config_path))
    assert done.returncode == 0, done.stderr
    assert mysql_tables(log_db) == LOG_TABLES
    assert mysql_tables(history_db) == HISTORY_TABLES
    template = mysql_query(history_db, "SHOW CREATE TABLE `user_deal_history_example`")[0][1]
    shard = mysql_query(history_db, "SHOW CREATE TABLE `user_deal_history_99`")[0][1]
    assert shard == template.replace("user_deal_history_example", "user_deal_history_99")

    mysql_query(history_db, "INSERT INTO `balance_history_7` (`time`, `user_id`, `asset`, `business`, `change`, "
                "`balance`, `detail`) VALUES (1, 7, 'BTC', 'deposit', '1.5', '1.5', '{}')")
    again = initdb(str(config_path))  # idempotent, keeps the data
    assert again.returncode == 0, again.stderr
    assert mysql_query(history_db, "SELECT COUNT(*) FROM `balance_history_7`") == [(1,)]


def test_initdb_from_options_creates_one_database(mysql_names: Callable[[str], str]) -> None:
    log_db = mysql_names("initopt")
    done = initdb("--host", "127.0.0.1", "--port", "3306", "--user", "root", "--password", "",
                  "--log-db", log_db, "--only", "trade_log")
    assert done.returncode == 0, done.stderr
    assert f"trade_log on mysql://root@127.0.0.1:3306/{log_db}" in done.stdout
    assert mysql_tables(log_db) == LOG_TABLES


def test_initdb_on_sqlite_and_its_errors(tmp_path: Path) -> None:
    config = {"db_log": {"sqlite": str(tmp_path / "log.db")}, "db_history": {"sqlite": str(tmp_path / "h.db")}}
    config_path = tmp_path / "config.json"
    config_path.write_bytes(orjson.dumps(config))
    assert initdb(str(config_path)).returncode == 0
    for path, expected in ((tmp_path / "log.db", LOG_TABLES), (tmp_path / "h.db", HISTORY_TABLES)):
        with sqlite3.connect(path) as conn:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert names - {"sqlite_sequence"} == expected

    config_path.write_text('{"db_history": {"sqlite": 5}}')
    bad = initdb(str(config_path))
    assert bad.returncode == 1
    assert bad.stderr.strip() == "config error: field 'db_history.sqlite': must be a string"
    unreachable = initdb("--port", "1", "--only", "trade_log")
    assert unreachable.returncode == 1
    assert unreachable.stderr.startswith("initdb: trade_log on mysql://root@127.0.0.1:1/trade_log: ")


def test_initdb_creates_each_servers_shards(tmp_path: Path, mysql_names: Callable[[str], str],
                                            second_mariadb: PrivateMariadb) -> None:
    first, second = mysql_names("inithist_a"), unique_name("t_inithist_b")
    config = {"db_history": [{"host": "127.0.0.1", "user": "root", "pass": "", "name": first, "shards": "0-49"},
                             {**second_mariadb.database(second), "shards": "50-99"}]}
    config_path = tmp_path / "readhistory.json"
    config_path.write_bytes(orjson.dumps(config))
    try:
        done = initdb(str(config_path))
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("initdb: trade_history on ") == 2
        base = {t.name for t in TRADE_HISTORY_TABLES}
        assert mysql_tables(first) == base | {shard_name(t, i) for t in HISTORY_TEMPLATES for i in range(50)}
        on_second = {r[0] for r in second_mariadb.query(second, "SHOW TABLES")}
        assert on_second == base | {shard_name(t, i) for t in HISTORY_TEMPLATES for i in range(50, 100)}
    finally:
        second_mariadb.query(None, f"DROP DATABASE IF EXISTS `{second}`")
