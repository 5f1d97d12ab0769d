"""A real readhistory process over a history database filled by hand, on MySQL and on SQLite.

Rows are inserted directly into fresh history tables (created the way the
matchengine's publisher creates them); every command is then asked over RPC
and its result compared with the exact records, filters, ordering and paging
of spec/readhistory.md §3 and http-api.md §5.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from common.alert import ALERT_MAGIC
from common.config import ClientConfig, DatabaseConfig, parse_address
from common.errors import RpcError
from common.rpc import RpcClient
from common.storage import InsertRows, Statement, open_database
from matchengine.history_writer import ensure_history_tables
from readhistory.queries import MAX_BUSINESS_BRANCHES, balance_history_query
from tests.support import (
    Daemon,
    base_config,
    drop_databases,
    follow_lookups,
    free_port,
    mysql_connect,
    unique_name,
)

BALANCE_COLUMNS = ("time", "user_id", "asset", "business", "change", "balance", "detail")
ORDER_COLUMNS = ("id", "create_time", "finish_time", "user_id", "market", "source", "t", "side", "price", "amount",
                 "taker_fee", "maker_fee", "deal_stock", "deal_money", "deal_fee")
DEAL_COLUMNS = ("time", "user_id", "deal_id", "order_id", "deal_order_id", "role", "price", "amount", "deal", "fee",
                "deal_fee")
USER_DEAL_COLUMNS = ("time", "user_id", "market", "deal_id", "order_id", "deal_order_id", "side", "role", "price",
                     "amount", "deal", "fee", "deal_fee")

# Column texts as MySQL holds them (and as the matchengine writes them into SQLite).
BALANCE_ROWS = [  # all but the last go to balance_history_1, in this id order
    (1000.5, 1, "BTC", "deposit", "10.00000000", "10.0000000000000000", '{"id": 1}'),
    (1001.25, 1, "BCH", "deposit", "100.00000000", "100.0000000000000000", '{"id": 2, "note": "x"}'),
    (1001.0, 101, "BTC", "deposit", "5.00000000", "5.0000000000000000", "{}"),
    (1002.0, 1, "BTC", "trade", "-1.50000000", "8.5000000000000000",
     '{"m": "BTCBCH", "i": 7, "p": "8000", "a": "1.5"}'),
    (1003.0, 1, "BCH", "trade", "12000.00000000", "12100.0000000000000000", "not json"),
    (1004.0, 1, "BCH", "withdraw", "-0.00150000", "12099.9985000000000000", "[1, 2]"),
    (1005.0, 4294967295, "BTC", "deposit", "0.00000001", "0.0000000100000000", '{"id": 9}'),
]
# Records of user 1, newest first.
USER1_BALANCE = [
    {"time": 1004.0, "asset": "BCH", "business": "withdraw", "change": "-0.0015", "balance": "12099.9985",
     "detail": {}},
    {"time": 1003.0, "asset": "BCH", "business": "trade", "change": "12000", "balance": "12100", "detail": {}},
    {"time": 1002.0, "asset": "BTC", "business": "trade", "change": "-1.5", "balance": "8.5",
     "detail": {"m": "BTCBCH", "i": 7, "p": "8000", "a": "1.5"}},
    {"time": 1001.25, "asset": "BCH", "business": "deposit", "change": "100", "balance": "100",
     "detail": {"id": 2, "note": "x"}},
    {"time": 1000.5, "asset": "BTC", "business": "deposit", "change": "10", "balance": "10", "detail": {"id": 1}},
]

ORDER_ROWS = [
    (11, 1000.0, 1000.5, 1, "BTCBCH", "api.v1", 1, 2, "8000.00000000", "2.00000000", "0.0020", "0.0010",
     "2.00000000", "16000.0000000000000000", "0.0040000000000000"),
    (12, 1001.0, 1001.5, 1, "BTCBCH", "web", 1, 1, "8100.00000000", "0.50000000", "0.0020", "0.0010",
     "0.25000000", "2025.0000000000000000", "4.0500000000000000"),
    (13, 1002.0, 1002.0, 1, "BTCUSDT", "", 1, 2, "9000.00000000", "1.00000000", "0.0010", "0.0010",
     "1.00000000", "9000.0000000000000000", "0.0010000000000000"),
    (14, 1003.0, 1003.25, 1, "BTCBCH", "api.v1", 2, 1, "0.00000000", "1.00000000", "0.0020", "0.0000",
     "1.00000000", "8000.0000000000000000", "16.0000000000000000"),
    (15, 1001.5, 1001.5, 101, "BTCBCH", "x", 1, 2, "1.00000000", "1.00000000", "0.0000", "0.0000",
     "1.00000000", "1.0000000000000000", "0.0000000000000000"),
]
ORDERS = {
    11: {"id": 11, "ctime": 1000.0, "ftime": 1000.5, "user": 1, "market": "BTCBCH", "source": "api.v1", "type": 1,
         "side": 2, "price": "8000", "amount": "2", "taker_fee": "0.002", "maker_fee": "0.001", "deal_stock": "2",
         "deal_money": "16000", "deal_fee": "0.004"},
    12: {"id": 12, "ctime": 1001.0, "ftime": 1001.5, "user": 1, "market": "BTCBCH", "source": "web", "type": 1,
         "side": 1, "price": "8100", "amount": "0.5", "taker_fee": "0.002", "maker_fee": "0.001",
         "deal_stock": "0.25", "deal_money": "2025", "deal_fee": "4.05"},
    13: {"id": 13, "ctime": 1002.0, "ftime": 1002.0, "user": 1, "market": "BTCUSDT", "source": "", "type": 1,
         "side": 2, "price": "9000", "amount": "1", "taker_fee": "0.001", "maker_fee": "0.001", "deal_stock": "1",
         "deal_money": "9000", "deal_fee": "0.001"},
    14: {"id": 14, "ctime": 1003.0, "ftime": 1003.25, "user": 1, "market": "BTCBCH", "source": "api.v1", "type": 2,
         "side": 1, "price": "0", "amount": "1", "taker_fee": "0.002", "maker_fee": "0", "deal_stock": "1",
         "deal_money": "8000", "deal_fee": "16"},
    15: {"id": 15, "ctime": 1001.5, "ftime": 1001.5, "user": 101, "market": "BTCBCH", "source": "x", "type": 1,
         "side": 2, "price": "1", "amount": "1", "taker_fee": "0", "maker_fee": "0", "deal_stock": "1",
         "deal_money": "1", "deal_fee": "0"},
}

DEAL_ROWS = [  # all in deal_history_11 (orders 11 and 111)
    (1000.5, 1, 1, 11, 21, 1, "8000.00000000", "1.50000000", "12000.0000000000000000", "0.0015000000000000",
     "24.0000000000000000"),
    (1000.75, 2, 3, 111, 5, 2, "7000.00000000", "1.00000000", "7000.0000000000000000", "14.0000000000000000",
     "7.0000000000000000"),
    (1000.5, 1, 2, 11, 22, 2, "8000.00000000", "0.50000000", "4000.0000000000000000", "0.0010000000000000",
     "0.0000000000000000"),
]
ORDER_11_DEALS = [  # newest first
    {"time": 1000.5, "user": 1, "id": 2, "role": 2, "price": "8000", "amount": "0.5", "deal": "4000", "fee": "0.001",
     "deal_order_id": 22},
    {"time": 1000.5, "user": 1, "id": 1, "role": 1, "price": "8000", "amount": "1.5", "deal": "12000",
     "fee": "0.0015", "deal_order_id": 21},
]

USER_DEAL_ROWS = [  # all in user_deal_history_1
    (1000.5, 1, "BTCBCH", 1, 11, 21, 2, 1, "8000.00000000", "1.50000000", "12000.0000000000000000",
     "0.0015000000000000", "24.0000000000000000"),
    (1000.5, 1, "BTCBCH", 2, 11, 22, 2, 2, "8000.00000000", "0.50000000", "4000.0000000000000000",
     "0.0010000000000000", "0.0000000000000000"),
    (1001.5, 101, "BTCBCH", 5, 15, 31, 2, 1, "1.00000000", "1.00000000", "1.0000000000000000",
     "0.0000000000000000", "0.0000000000000000"),
    (1002.0, 1, "BTCUSDT", 4, 13, 30, 2, 2, "9000.00000000", "1.00000000", "9000.0000000000000000",
     "0.0010000000000000", "0.0000000000000000"),
    (1003.25, 1, "BTCBCH", 6, 14, 11, 1, 2, "8000.00000000", "1.00000000", "8000.0000000000000000",
     "16.0000000000000000", "0.0000000000000000"),
]
USER1_BTCBCH_DEALS = [  # newest first
    {"time": 1003.25, "user": 1, "id": 6, "side": 1, "role": 2, "price": "8000", "amount": "1", "deal": "8000",
     "fee": "16", "deal_order_id": 11, "market": "BTCBCH"},
    {"time": 1000.5, "user": 1, "id": 2, "side": 2, "role": 2, "price": "8000", "amount": "0.5", "deal": "4000",
     "fee": "0.001", "deal_order_id": 22, "market": "BTCBCH"},
    {"time": 1000.5, "user": 1, "id": 1, "side": 2, "role": 1, "price": "8000", "amount": "1.5", "deal": "12000",
     "fee": "0.0015", "deal_order_id": 21, "market": "BTCBCH"},
]

STOP_COLUMNS = ("order_id", "create_time", "finish_time", "user_id", "market", "source", "client_id", "option", "t",
                "side", "stop_price", "price", "amount", "taker_fee", "maker_fee", "status")
STOP_ROWS = [  # all in stop_history_1, in this id order
    (31, 1000.0, 1010.0, 1, "BTCBCH", "api", "c1", 0x64, 1, 1, "95.00000000", "89.00000000", "1.00000000",
     "0.0020", "0.0010", 1),
    (33, 1002.0, 1010.0, 1, "BTCUSDT", "web", "", 0x44, 2, 2, "9100.00000000", "0.00000000", "50.00000000",
     "0.0020", "0.0000", 2),
    (32, 1002.0, 1011.0, 1, "BTCBCH", "api", "", 0x4c, 1, 2, "120.00000000", "121.00000000", "0.50000000",
     "0.0020", "0.0010", 1),
    (34, 1001.0, 1012.0, 101, "BTCBCH", "x", "", 0x44, 2, 1, "90.00000000", "0.00000000", "2.00000000",
     "0.0010", "0.0000", 1),
]
STOPS = {
    31: {"id": 31, "ctime": 1000.0, "ftime": 1010.0, "user": 1, "option": 0x64, "market": "BTCBCH", "source": "api",
         "type": 1, "side": 1, "stop_price": "95", "price": "89", "amount": "1", "taker_fee": "0.002",
         "maker_fee": "0.001", "status": 1, "client_id": "c1"},
    32: {"id": 32, "ctime": 1002.0, "ftime": 1011.0, "user": 1, "option": 0x4c, "market": "BTCBCH", "source": "api",
         "type": 1, "side": 2, "stop_price": "120", "price": "121", "amount": "0.5", "taker_fee": "0.002",
         "maker_fee": "0.001", "status": 1, "client_id": ""},
    33: {"id": 33, "ctime": 1002.0, "ftime": 1010.0, "user": 1, "option": 0x44, "market": "BTCUSDT", "source": "web",
         "type": 2, "side": 2, "stop_price": "9100", "price": "0", "amount": "50", "taker_fee": "0.002",
         "maker_fee": "0", "status": 2, "client_id": ""},
    34: {"id": 34, "ctime": 1001.0, "ftime": 1012.0, "user": 101, "option": 0x44, "market": "BTCBCH", "source": "x",
         "type": 2, "side": 1, "stop_price": "90", "price": "0", "amount": "2", "taker_fee": "0.001",
         "maker_fee": "0", "status": 1, "client_id": ""},
}

BROKEN_SHARD = 77  # balance_history_77 is dropped: queries of user 77 fail in SQL


async def fill_history(config: DatabaseConfig) -> None:
    db = open_database(config)
    await db.start()
    try:
        await ensure_history_tables(db)
        await db.transact([
            InsertRows("balance_history_1", BALANCE_COLUMNS, BALANCE_ROWS[:6]),
            InsertRows("balance_history_95", BALANCE_COLUMNS, BALANCE_ROWS[6:]),
            InsertRows("order_history_1", ORDER_COLUMNS, ORDER_ROWS),
            *(InsertRows(f"order_detail_{row[0] % 100}", ORDER_COLUMNS, [row]) for row in ORDER_ROWS),
            *(InsertRows("deal_history_11", DEAL_COLUMNS, [row]) for row in DEAL_ROWS),
            *(InsertRows("user_deal_history_1", USER_DEAL_COLUMNS, [row]) for row in USER_DEAL_ROWS),
            *(InsertRows("stop_history_1", STOP_COLUMNS, [row]) for row in STOP_ROWS),
            Statement(f"DROP TABLE `balance_history_{BROKEN_SHARD}`"),
        ])
    finally:
        await db.close()


def readhistory_config(workdir: Path, db: dict[str, Any], alert_port: int, **overrides: Any) -> dict[str, Any]:
    port = free_port()
    config = base_config("readhistory", workdir)
    config["alert"]["addr"] = f"127.0.0.1:{alert_port}"
    config.update({
        "svr": {"bind": [f"tcp@127.0.0.1:{port}", f"udp@127.0.0.1:{port}"], "max_pkg_size": 1000000,
                "buf_limit": 100, "heartbeat_check": False},
        "db_history": db,
        "worker_num": 4,
    })
    config.update(overrides)
    return config


def port_of(config: dict[str, Any]) -> int:
    return int(config["svr"]["bind"][0].rsplit(":", 1)[1])


@dataclass
class History:
    backend: str
    db: dict[str, Any]
    daemon: Daemon
    port: int
    alerts: socket.socket


@pytest.fixture(scope="module", params=["mysql", "sqlite"])
def history(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    backend = request.param
    workdir = tmp_path_factory.mktemp(f"readhistory_{backend}")
    name = unique_name("t_rh")
    if backend == "mysql":
        db: dict[str, Any] = {"host": "127.0.0.1", "user": "root", "pass": "", "name": name}
        config = DatabaseConfig(host="127.0.0.1", user="root", password="", name=name)
    else:
        db = {"sqlite": str(workdir / f"{name}.db")}
        config = DatabaseConfig(sqlite_path=db["sqlite"])
    asyncio.run(fill_history(config))
    alerts = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    alerts.bind(("127.0.0.1", 0))
    daemon = Daemon("readhistory", readhistory_config(workdir, db, alerts.getsockname()[1]), workdir)
    try:
        daemon.start()
        yield History(backend, db, daemon, port_of(daemon.config), alerts)
    finally:
        daemon.stop()
        alerts.close()
        if backend == "mysql":
            drop_databases(name)


@contextlib.asynccontextmanager
async def connect(port: int, kind: str = "tcp") -> AsyncIterator[RpcClient]:
    client = RpcClient(ClientConfig(name="readhistory", addr=[parse_address(f"{kind}@127.0.0.1:{port}")],
                                    max_pkg_size=1_000_000))
    await client.start()
    assert await client.wait_connected(10)
    try:
        yield client
    finally:
        await client.close()


async def call(client: RpcClient, command: int, params: list[Any]) -> Any:
    return await client.call_json(command, params, timeout=5)


async def error_of(client: RpcClient, command: int, params: list[Any]) -> tuple[int, str]:
    with pytest.raises(RpcError) as exc:
        await call(client, command, params)
    return exc.value.code, exc.value.message


INVALID = (1, "invalid argument")


def page(offset: int, limit: int, records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"offset": offset, "limit": limit, "records": records}


async def test_an_invalid_argument_names_the_parameter_in_data(history: History) -> None:
    async with connect(history.port) as client:
        for command, params, reason in (
                (103, [1, "", "", 0, 0, 0], "params: expected 7, got 6"),
                (103, [1, "", "", "1002", 0, 0, 10], "start_time: must be an integer"),
                (103, [1, "", "", 0, 0, 0, 102], "limit: must be 1 to 101"),
                (208, [1, "BTCBCH", 0, 0, 0, 10, "2"], "side: must be an integer"),
                (209, [0, 0, 10], "order_id: must not be 0"),
                (306, [0, "BTCBCH", 0, 10], "user_id: must not be 0")):
            reply = orjson.loads(await client.call(command, orjson.dumps(params), timeout=5))
            assert reply["error"] == {"code": 1, "message": "invalid argument", "data": reason}, params
        reply = orjson.loads(await client.call(103, b'{"user_id": 1}', timeout=5))
        assert reply["error"] == {"code": 1, "message": "invalid argument", "data": "params: must be a JSON array"}


async def test_balance_history_records_filters_and_paging(history: History) -> None:
    async with connect(history.port) as client:
        assert await call(client, 103, [1, "", "", 0, 0, 0, 10]) == page(0, 10, USER1_BALANCE)
        btc = [r for r in USER1_BALANCE if r["asset"] == "BTC"]
        assert await call(client, 103, [1, "BTC", "", 0, 0, 0, 10]) == page(0, 10, btc)
        trades = [r for r in USER1_BALANCE if r["business"] == "trade"]
        assert await call(client, 103, [1, "", "trade", 0, 0, 0, 10]) == page(0, 10, trades)
        assert await call(client, 103, [1, "BCH", "trade", 0, 0, 0, 10]) == page(0, 10, trades[:1])
        assert await call(client, 103, [1, "ETH", "", 0, 0, 0, 10]) == page(0, 10, [])
        # start inclusive, end exclusive, on `time`
        assert await call(client, 103, [1, "", "", 1002, 0, 0, 10]) == page(0, 10, USER1_BALANCE[:3])
        assert await call(client, 103, [1, "", "", 0, 1003, 0, 10]) == page(0, 10, USER1_BALANCE[2:])
        assert await call(client, 103, [1, "", "", 1001, 1003, 0, 10]) == page(0, 10, USER1_BALANCE[2:4])
        assert await call(client, 103, [1, "", "", 1003, 1003, 0, 10]) == page(0, 10, [])
        assert await call(client, 103, [1, "", "", 2000, 0, 0, 10]) == page(0, 10, [])
        # a non-integer where an integer is due is refused (the original read it as 0)
        for params in ([1, "", "", "1002", 0, 0, 10], [1, "", "", 0, 1002.5, 0, 10], [1, "", "", 0, 0, "2", 10]):
            assert await error_of(client, 103, params) == INVALID, params
        # paging: LIMIT offset, limit over newest-first rows
        assert await call(client, 103, [1, "", "", 0, 0, 0, 2]) == page(0, 2, USER1_BALANCE[:2])
        assert await call(client, 103, [1, "", "", 0, 0, 2, 2]) == page(2, 2, USER1_BALANCE[2:4])
        assert await call(client, 103, [1, "", "", 0, 0, 4, 2]) == page(4, 2, USER1_BALANCE[4:])
        assert await call(client, 103, [1, "", "", 0, 0, 5, 2]) == page(5, 2, [])
        assert await call(client, 103, [1, "", "", 0, 0, -1, 2]) == page(-1, 2, [])
        assert await call(client, 103, [1, "", "", 0, 0, 0, 101]) == page(0, 101, USER1_BALANCE)
        # user ids: another user of the same shard, and u32 wrapping
        assert await call(client, 103, [101, "", "", 0, 0, 0, 10]) == page(0, 10, [
            {"time": 1001.0, "asset": "BTC", "business": "deposit", "change": "5", "balance": "5", "detail": {}}])
        assert await call(client, 103, [4294967297, "", "", 0, 0, 0, 10]) == page(0, 10, USER1_BALANCE)
        assert await call(client, 103, [-1, "", "", 0, 0, 0, 10]) == page(0, 10, [
            {"time": 1005.0, "asset": "BTC", "business": "deposit", "change": "0.00000001",
             "balance": "0.00000001", "detail": {"id": 9}}])
        assert await call(client, 103, [2, "", "", 0, 0, 0, 10]) == page(0, 10, [])


def database_config(history: History) -> DatabaseConfig:
    if history.backend == "mysql":
        return DatabaseConfig(host="127.0.0.1", user="root", password="", name=history.db["name"])
    return DatabaseConfig(sqlite_path=history.db["sqlite"])


async def test_one_assets_history_merges_its_businesses_newest_first(history: History) -> None:
    """One asset without a business is served by a lookup of its businesses and a merge of each one's
    newest rows (readhistory.queries.BalanceHistory): the same records, order and pages as the plain
    statement over every asset gives for that asset, whatever the businesses' case, trailing spaces
    (equal in MySQL's collation, not in SQLite's) or number (beyond MAX_BUSINESS_BRANCHES, the plain
    statement)."""
    varied = ["deposit", "trade", "trade", "withdraw", "Trade", "trade ", "fee", "trade", "a'b"]
    many = [f"b{n:02}" for n in range(MAX_BUSINESS_BRANCHES + 4)]
    rows = []
    for user, names in ((3, varied), (4, many)):
        for n in range(60):
            rows.append((3000.0 + n, user, "ETH" if n % 5 else "BTC", names[n * 7 % len(names)],
                         f"{n}.00000000", f"{n * 2}.0000000000000000", f'{{"n": {n}}}'))
    rows.append((3100.0, 103, "ETH", "trade", "1.00000000", "1.0000000000000000", "{}"))  # user 3's shard
    db = open_database(database_config(history))
    await db.start()
    try:
        await db.transact([InsertRows("balance_history_3", BALANCE_COLUMNS, [r for r in rows if r[1] != 4]),
                           InsertRows("balance_history_4", BALANCE_COLUMNS, [r for r in rows if r[1] == 4])])
    finally:
        await db.close()
    async with connect(history.port) as client:
        for user in (3, 4):
            every = (await call(client, 103, [user, "", "", 0, 0, 0, 101]))["records"]
            assert len(every) == 60
            eth = [r for r in every if r["asset"] == "ETH"]
            for start, end in ((0, 0), (3010, 0), (0, 3040), (3010, 3040), (3059, 3060)):
                expected = [r for r in eth if r["time"] >= start and (not end or r["time"] < end)]
                for offset, limit in ((0, 101), (0, 1), (0, 7), (7, 7), (40, 10), (47, 5), (48, 3), (-1, 5)):
                    got = await call(client, 103, [user, "ETH", "", start, end, offset, limit])
                    first = offset if offset >= 0 else len(expected)
                    assert got == page(offset, limit, expected[first:first + limit]), (user, start, end, offset)
            assert await call(client, 103, [user, "LTC", "", 0, 0, 0, 10]) == page(0, 10, [])


async def test_one_assets_branches_read_along_the_index(history: History) -> None:
    """Each step of one asset's history reads the index (user_id, asset, business): MySQL lists the
    businesses by a loose index scan, SQLite by MIN seeks, and both read each business's newest rows
    without a sort."""
    lookups, final = follow_lookups(balance_history_query([3, "ETH", "", 0, 0, 0, 10]), ["deposit", "trade"],
                                    history.backend)
    if history.backend == "mysql":
        [lookup_plan], plan = mysql_plans(history.db["name"], lookups), mysql_plans(history.db["name"], [final])[0]
        assert [(row[5], "Using index for group-by" in row[-1]) for row in lookup_plan] == [
            ("idx_user_asset_business", True)], lookup_plan
        reads = [row for row in plan if row[2] == "balance_history_3"]
        assert len(reads) == 2, plan
        assert all(row[5] == "idx_user_asset_business" and "filesort" not in row[-1] for row in reads), plan
        return
    *lookup_steps, steps = sqlite_plans(history.db["sqlite"], [*lookups, final])
    assert all(len(found) == 1 and "USING COVERING INDEX balance_history_3_idx_user_asset_business" in found[0]
               for found in lookup_steps), lookup_steps
    searches = [step for step in steps if "balance_history_3" in step]
    assert searches == ["SEARCH balance_history_3 USING INDEX balance_history_3_idx_user_asset_business "
                     "(user_id=? AND asset=? AND business=?)"] * 2, steps
    assert steps.count("USE TEMP B-TREE FOR ORDER BY") == 1  # the merge of the two branches' rows alone


def mysql_plans(database: str, queries: list[Any]) -> list[list[tuple[Any, ...]]]:
    conn = mysql_connect(database)
    try:
        with conn.cursor() as cur:
            plans = []
            for query in queries:
                cur.execute("EXPLAIN " + query.sql, query.params)
                plans.append(list(cur.fetchall()))
            return plans
    finally:
        conn.close()


def sqlite_plans(path: str, queries: list[Any]) -> list[list[str]]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [[row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + query.sql.replace("%s", "?"), query.params)]
                for query in queries]


async def test_balance_history_parameter_rules(history: History) -> None:
    async with connect(history.port) as client:
        good = [1, "", "", 0, 0, 0, 10]
        cases: list[list[Any]] = [
            good[:6], [*good, 0], [],
            [0, "", "", 0, 0, 0, 10], ["1", "", "", 0, 0, 0, 10], [1.0, "", "", 0, 0, 0, 10],
            [4294967296, "", "", 0, 0, 0, 10], [None, "", "", 0, 0, 0, 10],
            [1, 0, "", 0, 0, 0, 10], [1, None, "", 0, 0, 0, 10], [1, "", 5, 0, 0, 0, 10], [1, "", [], 0, 0, 0, 10],
            [1, "", "", 1003, 1002, 0, 10],
            [1, "", "", 0, 0, 0, 0], [1, "", "", 0, 0, 0, 102], [1, "", "", 0, 0, 0, -1],
            [1, "", "", 0, 0, 0, "10"], [1, "", "", 0, 0, 0, 10.0], [1, "", "", 0, 0, 0, None],
        ]
        for params in cases:
            assert await error_of(client, 103, params) == INVALID, params


async def test_order_finished_filters_side_and_paging(history: History) -> None:
    o = ORDERS
    async with connect(history.port) as client:
        assert await call(client, 208, [1, "BTCBCH", 0, 0, 0, 10]) == page(0, 10, [o[14], o[12], o[11]])
        assert await call(client, 208, [1, "BTCUSDT", 0, 0, 0, 10]) == page(0, 10, [o[13]])
        assert await call(client, 208, [1, "NOSUCH", 0, 0, 0, 10]) == page(0, 10, [])
        assert await call(client, 208, [101, "BTCBCH", 0, 0, 0, 10]) == page(0, 10, [o[15]])
        # side: 0 both, 1 ask, 2 bid; a non-integer is refused; elements after the 7th ignored
        assert await call(client, 208, [1, "BTCBCH", 0, 0, 0, 10, 0]) == page(0, 10, [o[14], o[12], o[11]])
        assert await call(client, 208, [1, "BTCBCH", 0, 0, 0, 10, 1]) == page(0, 10, [o[14], o[12]])
        assert await call(client, 208, [1, "BTCBCH", 0, 0, 0, 10, 2]) == page(0, 10, [o[11]])
        assert await error_of(client, 208, [1, "BTCBCH", 0, 0, 0, 10, "2"]) == INVALID
        assert await call(client, 208, [1, "BTCBCH", 0, 0, 0, 10, 2, "x", {}]) == page(0, 10, [o[11]])
        # time bounds on create_time (not finish_time)
        assert await call(client, 208, [1, "BTCBCH", 1001, 0, 0, 10]) == page(0, 10, [o[14], o[12]])
        assert await call(client, 208, [1, "BTCBCH", 0, 1001, 0, 10]) == page(0, 10, [o[11]])
        assert await call(client, 208, [1, "BTCBCH", 1000, 1003, 0, 10, 1]) == page(0, 10, [o[12]])
        # paging
        assert await call(client, 208, [1, "BTCBCH", 0, 0, 1, 1]) == page(1, 1, [o[12]])
        assert await call(client, 208, [1, "BTCBCH", 0, 0, 2, 5]) == page(2, 5, [o[11]])
        assert await call(client, 208, [1, "BTCBCH", 0, 0, -5, 5]) == page(-5, 5, [])
        cases: list[list[Any]] = [
            [1, "BTCBCH", 0, 0, 0], [0, "BTCBCH", 0, 0, 0, 10], [1, None, 0, 0, 0, 10], [1, 7, 0, 0, 0, 10],
            [1, "BTCBCH", 5, 4, 0, 10], [1, "BTCBCH", 0, 0, 0, 0], [1, "BTCBCH", 0, 0, 0, 102],
            [1, "BTCBCH", 0, 0, 0, -1], [1, "BTCBCH", 0, 0, 0, 10, 3], [1, "BTCBCH", 0, 0, 0, 10, -1],
        ]
        for params in cases:
            assert await error_of(client, 208, params) == INVALID, params


async def test_finished_stops_filters_order_and_paging(history: History) -> None:
    s = STOPS
    async with connect(history.port) as client:
        # newest created first; two of one create time: the later row first
        assert await call(client, 215, [1, "", 0, 0, 0, 0, 10]) == page(0, 10, [s[32], s[33], s[31]])
        assert await call(client, 215, [1, "BTCBCH", 0, 0, 0, 0, 10]) == page(0, 10, [s[32], s[31]])
        assert await call(client, 215, [1, "", 2, 0, 0, 0, 10]) == page(0, 10, [s[32], s[33]])
        assert await call(client, 215, [1, "BTCBCH", 1, 0, 0, 0, 10]) == page(0, 10, [s[31]])
        assert await call(client, 215, [101, "", 0, 0, 0, 0, 1001]) == page(0, 1001, [s[34]])
        assert await call(client, 215, [1, "NOSUCH", 0, 0, 0, 0, 10]) == page(0, 10, [])
        # time bounds on create_time, start inclusive, end exclusive
        assert await call(client, 215, [1, "", 0, 1001, 0, 0, 10]) == page(0, 10, [s[32], s[33]])
        assert await call(client, 215, [1, "", 0, 0, 1002, 0, 10]) == page(0, 10, [s[31]])
        # paging
        assert await call(client, 215, [1, "", 0, 0, 0, 1, 1]) == page(1, 1, [s[33]])
        assert await call(client, 215, [1, "", 0, 0, 0, 3, 1]) == page(3, 1, [])
        cases: list[list[Any]] = [
            [1, "", 0, 0, 0, 0], [1, "", 0, 0, 0, 0, 10, 0], [0, "", 0, 0, 0, 0, 10], [1, None, 0, 0, 0, 0, 10],
            [1, "", 3, 0, 0, 0, 10], [1, "", "1", 0, 0, 0, 10], [1, "", 0, 5, 4, 0, 10], [1, "", 0, 0, 0, 0, 0],
            [1, "", 0, 0, 0, 0, 1002], [1, "", 0, 0, 0, 0, 1e3], [1, "", 0, 0, 0, None, 10],
        ]
        for params in cases:
            assert await error_of(client, 215, params) == INVALID, params


async def test_finished_order_detail(history: History) -> None:
    async with connect(history.port) as client:
        for order_id, record in ORDERS.items():
            assert await call(client, 210, [order_id]) == record
        assert await call(client, 210, [16]) is None
        assert await call(client, 210, [111]) is None
        assert await call(client, 210, [-1]) is None  # u64 18446744073709551615
        cases: list[list[Any]] = [[], [0], ["11"], [11.0], [None], [11, 1]]
        for params in cases:
            assert await error_of(client, 210, params) == INVALID, params


async def test_order_deals(history: History) -> None:
    async with connect(history.port) as client:
        assert await call(client, 209, [11, 0, 10]) == page(0, 10, ORDER_11_DEALS)
        assert await call(client, 209, [11, 0, 1]) == page(0, 1, ORDER_11_DEALS[:1])
        assert await call(client, 209, [11, 1, 1]) == page(1, 1, ORDER_11_DEALS[1:])
        assert await call(client, 209, [11, 2, 1]) == page(2, 1, [])
        assert await error_of(client, 209, [11, "1", 1]) == INVALID
        assert await call(client, 209, [111, 0, 10]) == page(0, 10, [
            {"time": 1000.75, "user": 2, "id": 3, "role": 2, "price": "7000", "amount": "1", "deal": "7000",
             "fee": "14", "deal_order_id": 5}])
        assert await call(client, 209, [12, 0, 10]) == page(0, 10, [])
        assert await call(client, 209, [-1, 0, 10]) == page(0, 10, [])
        cases: list[list[Any]] = [[11, 0], [11, 0, 10, 1], [0, 0, 10], ["11", 0, 10], [11, 0, 0], [11, 0, 102], [11, 0, -1]]
        for params in cases:
            assert await error_of(client, 209, params) == INVALID, params


async def test_market_user_deals(history: History) -> None:
    async with connect(history.port) as client:
        assert await call(client, 306, [1, "BTCBCH", 0, 10]) == page(0, 10, USER1_BTCBCH_DEALS)
        assert await call(client, 306, [1, "BTCBCH", 1, 2]) == page(1, 2, USER1_BTCBCH_DEALS[1:])
        assert await call(client, 306, [1, "BTCUSDT", 0, 10]) == page(0, 10, [
            {"time": 1002.0, "user": 1, "id": 4, "side": 2, "role": 2, "price": "9000", "amount": "1",
             "deal": "9000", "fee": "0.001", "deal_order_id": 30, "market": "BTCUSDT"}])
        assert await call(client, 306, [101, "BTCBCH", 0, 10]) == page(0, 10, [
            {"time": 1001.5, "user": 101, "id": 5, "side": 2, "role": 1, "price": "1", "amount": "1", "deal": "1",
             "fee": "0", "deal_order_id": 31, "market": "BTCBCH"}])
        assert await call(client, 306, [1, "NOSUCH", 0, 10]) == page(0, 10, [])
        cases: list[list[Any]] = [[1, "BTCBCH", 0], [1, "BTCBCH", 0, 10, 0], [0, "BTCBCH", 0, 10], [1, 5, 0, 10],
                                  [1, "BTCBCH", 0, 0], [1, "BTCBCH", 0, 102], [1, "BTCBCH", 0, -1]]
        for params in cases:
            assert await error_of(client, 306, params) == INVALID, params


async def test_sql_failure_is_an_internal_error_and_a_fatal_alert(history: History) -> None:
    history.alerts.settimeout(5)
    async with connect(history.port) as client:
        assert await error_of(client, 103, [BROKEN_SHARD, "", "", 0, 0, 0, 10]) == (2, "internal error")
        assert await call(client, 103, [1, "", "", 0, 0, 0, 1]) == page(0, 1, USER1_BALANCE[:1])
    alert = history.alerts.recv(65536)
    assert alert.startswith(ALERT_MAGIC + b"readhistory: [fatal]")
    assert f"balance_history_{BROKEN_SHARD}".encode() in alert
    deadline = time.monotonic() + 5
    while "[fatal]server.py" not in log_file_text(history.daemon) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert f"FROM `balance_history_{BROKEN_SHARD}` WHERE" in log_file_text(history.daemon)


def log_file_text(daemon: Daemon) -> str:
    log_dir = Path(daemon.config["log"]["path"]).parent
    return "".join(p.read_text(errors="replace") for p in log_dir.glob("readhistory*.log*"))


async def test_protocol_level_answers_and_udp(history: History) -> None:
    async with connect(history.port) as client:
        assert await error_of(client, 999, []) == (4, "method not found")
        reply = await client.call(103, b'{"not": "an array"}', timeout=5)
        assert b'"code":1' in reply.replace(b" ", b"")
        assert await call(client, 210, [11]) == ORDERS[11]
    async with connect(history.port, "udp") as client:
        assert await call(client, 209, [11, 0, 10]) == page(0, 10, ORDER_11_DEALS)


async def test_a_second_instance_and_the_pending_limit(history: History, tmp_path: Path) -> None:
    """Another instance on the same database answers alike; with worker_num 1 the 11th pending job gets error 3."""
    second = Daemon("readhistory", readhistory_config(tmp_path, history.db, free_port(), worker_num=1), tmp_path)
    second.start()
    try:
        async with connect(port_of(second.config)) as client:
            assert await call(client, 208, [1, "BTCBCH", 0, 0, 0, 10]) == page(0, 10, [
                ORDERS[14], ORDERS[12], ORDERS[11]])
            burst = [client.call_json(103, [1, "", "", 0, 0, 0, 10], timeout=10) for _ in range(60)]
            results = await asyncio.gather(*burst, return_exceptions=True)
        answered = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, RpcError) and r.code == 3]
        assert len(answered) + len(refused) == len(results)
        assert len(answered) >= 10 and refused
        assert all(r == page(0, 10, USER1_BALANCE) for r in answered)
        assert all(r.message == "service unavailable" for r in refused)
    finally:
        second.stop()
