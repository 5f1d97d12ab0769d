"""`db_history` as one database or as servers with shard ranges: the mapping and its one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from common.config import ConfigError, Section
from common.history_shards import history_servers, parse_shards, shard_ranges
from matchengine.config import load_config
from readhistory.config import load_config as load_readhistory_config
from tests.support import base_config, engine_config


def mysql(host: str, **extra: Any) -> dict[str, Any]:
    return {"host": host, "user": "u", "pass": "p", "name": "trade_history", **extra}


def servers_of(value: Any) -> Any:
    return history_servers(Section({"db_history": value}))


def error_of(value: Any) -> str:
    with pytest.raises(ConfigError) as exc:
        servers_of(value)
    return str(exc.value)


def test_one_object_holds_every_shard_as_in_the_original() -> None:
    servers = servers_of(mysql("db1"))
    assert [d.host for d in servers.databases] == ["db1"]
    assert servers.server_of == (0,) * 100
    assert servers.shards_of(0) == list(range(100))
    assert servers_of({"sqlite": "/tmp/h.db"}).databases[0].is_sqlite


def test_a_list_maps_each_shard_to_its_server() -> None:
    servers = servers_of([mysql("db1", shards="0-24,50-74"), mysql("db2", port=3307, shards="25-49,75-99")])
    assert [(d.host, d.port) for d in servers.databases] == [("db1", 3306), ("db2", 3307)]
    assert servers.shards_of(0) == [*range(0, 25), *range(50, 75)]
    assert servers.server_of[24] == 0 and servers.server_of[25] == 1 and servers.server_of[99] == 1
    assert servers.describe() == ("mysql://u@db1:3306/trade_history (shards 0-24,50-74), "
                                  "mysql://u@db2:3307/trade_history (shards 25-49,75-99)")
    # a lone entry needs no shards; the same database name on two hosts is two servers
    assert servers_of([mysql("db1")]).server_of == (0,) * 100
    assert len(servers_of([mysql("db1", shards="0-49"), mysql("db2", shards="50-99")]).databases) == 2


def test_shard_text() -> None:
    assert parse_shards("7") == [7]
    assert parse_shards(" 0-2, 7 ,9-10") == [0, 1, 2, 7, 9, 10]
    assert shard_ranges([0, 1, 2, 7, 9, 10]) == "0-2,7,9-10"
    assert shard_ranges(list(range(100))) == "0-99"


@pytest.mark.parametrize(("value", "message"), [
    ([], "field 'db_history': must not be empty"),
    ([mysql("db1", shards="0-49"), 5], "field 'db_history[1]': must be an object"),
    ([mysql("db1", shards="0-49"), mysql("db2")], "field 'db_history[1].shards': required field is missing"),
    ([mysql("db1", shards="0-49"), mysql("db2", shards="a-b")],
     "field 'db_history[1].shards': 'a-b' is not a list of shard numbers and ranges such as 0-49 or 0-24,50-74"),
    ([mysql("db1", shards="0-49"), mysql("db2", shards="50-100")],
     "field 'db_history[1].shards': shards are numbered 0-99, not 50-100"),
    ([mysql("db1", shards="0-49"), mysql("db2", shards="60-50")], "field 'db_history[1].shards': range 60-50 is empty"),
    ([mysql("db1", shards="0-50"), mysql("db2", shards="50-99")],
     "field 'db_history[1].shards': shard 50 is also in db_history[0]"),
    ([mysql("db1", shards="0-49"), mysql("db2", shards="50-59")],
     "field 'db_history': shards 60-99 are on no server: every shard 0-99 must be on one"),
    (mysql("db1", shards="0-49"), "field 'db_history': shards 50-99 are on no server"),
    ([mysql("db1", shards="0-49"), mysql("db1", shards="50-99")],
     "field 'db_history[1].name': the same database as db_history[0]"),
    ([mysql("db1", shards="0-49"), {"shards": "50-99", "user": "u", "pass": "p", "name": "x"}],
     "field 'db_history[1].host': required field is missing"),
])
def test_mistakes_stop_the_start_with_one_line(value: Any, message: str) -> None:
    text = error_of(value)
    assert text.startswith(f"config error: {message}"), text
    assert "\n" not in text


def test_both_daemons_read_the_same_mapping(tmp_path: Path) -> None:
    db_history = [mysql("db1", shards="0-49"), mysql("db2", shards="50-99")]
    engine = load_config(Section(engine_config(tmp_path, log_db="l", history_db="h", brokers="127.0.0.1:9",
                                               db_history=db_history)))
    readhistory = load_readhistory_config(Section({
        **base_config("readhistory", tmp_path), "svr": {"bind": ["tcp@127.0.0.1:3"], "max_pkg_size": 10240},
        "db_history": db_history}))
    assert engine.db_history == readhistory.db_history
    assert engine.db_history.server_of[49] == 0 and engine.db_history.server_of[50] == 1
