"""The extensions over RPC to a real matchengine process: stops, options, mass cancel, locks, live markets.

Every new method gets error 1 for wrong counts, types, NaN/Infinity, huge numbers and unknown markets
or assets, the right code for other users' ids, and the engine keeps answering; assets and markets
added live are written back to the config source, survive restarts, and a config file that contradicts
them stops the start with one line.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pymysql
import pytest

from common.errors import RpcError
from tests.conftest import start_engine
from tests.e2e.test_matchengine_rpc import call, client_for, error_of
from tests.support import Daemon, mysql_query

ETH = {"name": "ETH", "prec_save": 18, "prec_show": 8}
ETHBCH = {"name": "ETHBCH", "stock": {"name": "ETH", "prec": 6}, "money": {"name": "BCH", "prec": 8},
          "fee_prec": 4, "min_amount": "0.01", "stp": "cancel_maker"}


def stop_history(engine: Daemon, shard: int) -> list[tuple[Any, ...]]:
    """The rows of stop_history_<shard>, from MariaDB or the SQLite file (none while the publisher has not
    created the tables yet)."""
    history = engine.config["db_history"]
    sql = f"SELECT order_id, user_id, market, client_id, `option`, t, side, stop_price, status FROM stop_history_{shard}"
    try:
        if "sqlite" in history:
            with sqlite3.connect(history["sqlite"]) as conn:
                return conn.execute(sql).fetchall()
        return mysql_query(history["name"], sql)
    except (sqlite3.Error, pymysql.Error):
        return []


@pytest.mark.parametrize("storage", ["mysql", "sqlite"])
async def test_the_new_methods_over_rpc(engine_factory: Callable[..., Daemon], storage: str) -> None:
    engine = engine_factory(sqlite=storage == "sqlite")
    client = await client_for(engine)
    try:
        for user in (1, 2, 3):
            await call(client, 102, [user, "BTC", "deposit", user, "10", {}])
            await call(client, 102, [user, "BCH", "deposit", user, "10000", {}])
        # locks
        assert await call(client, 106, [1, "BCH", "withdraw", 1, "100"]) == {"status": "success"}
        assert await error_of(client, 106, [1, "BCH", "withdraw", 1, "100"]) == (10, "repeat update")
        assert await call(client, 108, [1]) == {"BCH": "100"}
        assert (await call(client, 101, [1, "BCH"]))["BCH"] == {"available": "9900", "freeze": "100"}
        assert await call(client, 107, [1, "BCH", "withdraw", 1, "40"]) == {"status": "success"}
        assert await error_of(client, 107, [1, "BCH", "withdraw", 2, "61"]) == (11, "balance not enough")
        # a deal sets the last price; options travel with an order
        await call(client, 201, [1, "BTCBCH", 1, "1", "100", "0", "0", ""])
        bid = await call(client, 201, [2, "BTCBCH", 2, "1", "100", "0", "0", "", 0x8, "c-1"])
        assert (bid["deal_stock"], bid["option"], bid["client_id"]) == ("1", 8, "c-1")
        # stops: placed with frozen funds, fired by a deal
        stop = await call(client, 211, [3, "BTCBCH", 1, "1", "95", "90", "0", "0", "sl", None, "stop-1"])
        assert (stop["state"], stop["option"], stop["client_id"]) == (1, 0x44, "stop-1")
        assert (await call(client, 101, [3, "BTC"]))["BTC"] == {"available": "9", "freeze": "1"}
        assert (await call(client, 214, [3, None, 0, 0, 10]))["records"] == [stop]
        assert (await call(client, 216, ["BTCBCH", 1, 0, 10]))["orders"] == [stop]
        assert await error_of(client, 213, [2, "BTCBCH", stop["id"]]) == (11, "user not match")
        await call(client, 201, [2, "BTCBCH", 2, "1", "95", "0", "0", ""])
        await call(client, 201, [1, "BTCBCH", 1, "0.5", "95", "0", "0", ""])  # a deal at 95 fires it
        assert (await call(client, 214, [3, None, 0, 0, 10]))["total"] == 0
        fired = (await call(client, 203, [3, "BTCBCH", 0, 10]))["records"][0]
        assert (fired["price"], fired["left"], fired["client_id"]) == ("90", "0.5", "stop-1")
        # the publisher writes the fired stop's history row
        deadline = time.monotonic() + 30
        while not stop_history(engine, 3):
            assert time.monotonic() < deadline, "no stop_history row"
            await asyncio.sleep(0.1)
        assert [tuple(map(str, row)) for row in stop_history(engine, 3)] == [
            (str(stop["id"]), "3", "BTCBCH", "stop-1", "68", "1", "1", "95.00000000", "1")]
        # mass cancel
        mine = [(await call(client, 201, [1, "BTCBCH", 1, "0.1", f"{200 + i}", "0", "0", ""]))["id"]
                for i in range(3)]
        result = await call(client, 222, [1, "BTCBCH", [mine[0], 999, fired["id"]]])
        assert [r["code"] for r in result] == [0, 10, 11] and result[0]["order"]["id"] == mine[0]
        assert await call(client, 218, [1, None]) == {"status": "success"}
        assert (await call(client, 203, [1, "BTCBCH", 0, 10]))["total"] == 0
        # a market added live trades at once, at the end of the list
        assert await call(client, 401, [ETH]) == {"status": "success"}
        assert await call(client, 402, [ETHBCH]) == {"status": "success"}
        assert [m["name"] for m in await call(client, 307, [])] == ["BTCBCH", "BTCUSDT", "ETHBCH"]
        await call(client, 102, [1, "ETH", "deposit", 9, "5", {}])
        await call(client, 201, [1, "ETHBCH", 1, "1", "0.05", "0", "0", ""])
        assert (await call(client, 201, [2, "ETHBCH", 2, "1", "0.05", "0", "0", ""]))["deal_stock"] == "1"
    finally:
        await client.close()


def invalid_calls() -> list[tuple[int, list[Any]]]:
    stop_limit = [1, "BTCBCH", 1, "1", "95", "90", "0", "0", "s"]
    stop_market = [1, "BTCBCH", 1, "1", "95", "0", "s"]
    lock = [1, "BTC", "w", 1, "1"]
    calls: list[tuple[int, list[Any]]] = []
    for command in (106, 107):
        calls += [(command, lock[:4]), (command, [*lock, 1]), (command, [])]
        for index, value in [(0, "1"), (0, None), (1, "XXX"), (1, 5), (2, 5), (3, "1"), (3, 1.5), (4, "NaN"),
                             (4, "Infinity"), (4, "1e20"), (4, "-1"), (4, 1), (4, "1" * 200)]:
            calls.append((command, [*lock[:index], value, *lock[index + 1:]]))
    calls += [(108, []), (108, ["1"]), (108, [1, "XXX"]), (108, [0])]
    for command, good in ((211, stop_limit), (212, stop_market)):
        calls += [(command, good[:-1]), (command, [*good, 0, "", 1])]
        bad: list[tuple[int, Any]] = [(0, "1"), (1, "XXX"), (2, 3), (3, "0"), (3, "NaN"), (3, "1e20"),
                                      (4, "Infinity"), (4, "-95"), (5, 90) if command == 211 else (5, "2"),
                                      (len(good) - 1, 7)]
        for index, value in bad:
            calls.append((command, [*good[:index], value, *good[index + 1:]]))
        calls += [(command, [*good, "8"]), (command, [*good, 0x10]), (command, [*good, 0x80]),
                  (command, [*good, 0x40]), (command, [*good, 0, "bad id"])]
    calls += [(213, [1, "BTCBCH"]), (213, [1, "BTCBCH", "1"]), (213, [1, "XXX", 1]),
              (214, [1, None, 0, 0]), (214, [1, "XXX", 0, 0, 10]), (214, [1, None, 5, 0, 10]),
              (214, [1, None, 0, 0, 1000]), (214, [1, None, 0, "0", 10]),
              (216, ["BTCBCH", 0, 0, 10]), (216, ["XXX", 1, 0, 10]), (216, ["BTCBCH", 1, 0, 1000]), (216, []),
              (218, [1]), (218, [1, "XXX"]), (218, [1, "BTCBCH", 7]), (218, [1, 5]), (218, [1, None, 0, 1]),
              (219, [1, None]), (219, [1, "XXX"]), (219, [1, "BTCBCH", 9]),
              (222, [1, "BTCBCH", []]), (222, [1, "BTCBCH", list(range(102))]), (222, [1, "XXX", [1]]),
              (222, [1, "BTCBCH", "1"]), (222, [1, "BTCBCH"]),
              (401, []), (401, [{"name": "X"}]), (401, [{"name": "X", "prec_save": "8"}]), (401, ["X"]),
              (401, [{"name": "BTC", "prec_save": 12, "prec_show": 2}]), (401, [ETH, ETH]),
              (402, []), (402, [{"name": "ETHX"}]), (402, [{**ETHBCH, "stock": {"name": "DOGE", "prec": 2}}]),
              (402, [{**ETHBCH, "name": "BTCBCH"}]), (402, [{**ETHBCH, "stp": "maybe"}]), (402, ["x"]),
              (201, [1, "BTCBCH", 1, "1", "100", "0", "0", "", "8"]),
              (201, [1, "BTCBCH", 1, "1", "100", "0", "0", "", 0x40]),
              (201, [1, "BTCBCH", 1, "1", "100", "0", "0", "", 0, "x" * 33]),
              (201, [1, "BTCBCH", 1, "1", "100", "0", "0", "", 0, "", 1]),
              (202, [1, "BTCBCH", 1, "1", "0", "", 0x80]), (202, [1, "BTCBCH", 1, "1", "0", "", 0, "", 0])]
    return calls


async def test_bad_input_to_the_new_methods_is_invalid_and_the_engine_keeps_answering(
        engine_factory: Callable[..., Daemon]) -> None:
    engine = engine_factory()
    client = await client_for(engine)
    try:
        await call(client, 102, [1, "BTC", "deposit", 1, "10", {}])
        await call(client, 102, [2, "BCH", "deposit", 1, "1000", {}])
        await call(client, 201, [1, "BTCBCH", 1, "1", "100", "0", "0", ""])
        await call(client, 201, [2, "BTCBCH", 2, "0.5", "100", "0", "0", ""])
        for command, params in invalid_calls():
            assert await error_of(client, command, params) == (1, "invalid argument"), (command, params)
        # the reason travels in the error's data
        with pytest.raises(RpcError) as exc:
            await call(client, 402, [{**ETHBCH, "stock": {"name": "DOGE", "prec": 2}}])
        assert exc.value.data == "field 'market.stock.name': unknown asset 'DOGE'"
        # other users' ids
        stop = await call(client, 212, [1, "BTCBCH", 1, "0.1", "90", "0", ""])
        assert await error_of(client, 213, [2, "BTCBCH", stop["id"]]) == (11, "user not match")
        assert (await call(client, 222, [2, "BTCBCH", [1]]))[0]["code"] == 11
        assert await call(client, 219, [2, "BTCBCH"]) == {"status": "success"}
        assert (await call(client, 214, [1, "BTCBCH", 0, 0, 10]))["total"] == 1
        assert (await call(client, 101, [1, "BTC"]))["BTC"] == {"available": "8.9", "freeze": "0.6"}
        assert engine.alive()
    finally:
        await client.close()


def config_file(engine: Daemon) -> dict[str, Any]:
    return json.loads(engine.config_path.read_text())


@pytest.mark.parametrize("source", ["config", "exchange_file"])
async def test_a_live_market_is_written_back_kept_across_restarts_and_never_redefined(
        engine_factory: Callable[..., Daemon], tmp_path: Path, source: str) -> None:
    exchange = tmp_path / "exchange.json"
    if source == "exchange_file":
        engine = engine_factory(start=False)
        exchange.write_text(json.dumps({"assets": engine.config.pop("assets"),
                                        "markets": engine.config.pop("markets"), "note": "kept"}))
        engine.config["exchange_file"] = str(exchange)
        start_engine(engine)
    else:
        engine = engine_factory()
    client = await client_for(engine)
    await call(client, 401, [ETH])
    await call(client, 402, [{k: v for k, v in ETHBCH.items() if k != "fee_prec"}])
    await call(client, 102, [1, "ETH", "deposit", 1, "5", {}])
    await call(client, 201, [1, "ETHBCH", 1, "1", "0.05", "0", "0", ""])
    await client.close()
    written = json.loads(exchange.read_text()) if source == "exchange_file" else config_file(engine)
    assert written["assets"][-1] == ETH and written["markets"][-1] == ETHBCH
    if source == "exchange_file":
        assert written["note"] == "kept"

    # a restart with the original config (the test rewrites it): the log brings the market back, and the
    # start writes it back again
    engine.stop()
    start_engine(engine)
    client = await client_for(engine)
    assert [m["name"] for m in await call(client, 307, [])][-1] == "ETHBCH"
    assert (await call(client, 203, [1, "ETHBCH", 0, 10]))["total"] == 1
    assert (await call(client, 101, [1, "ETH"]))["ETH"] == {"available": "4", "freeze": "1"}
    await client.close()
    written = json.loads(exchange.read_text()) if source == "exchange_file" else config_file(engine)
    assert written["markets"][-1] == ETHBCH

    # a config file that defines the asset otherwise: the start stops, naming it
    engine.stop()
    if source == "exchange_file":
        exchange.write_text(json.dumps({**written, "assets": [*written["assets"][:-1], {**ETH, "prec_show": 6}]}))
    else:
        engine.config["assets"] = [*engine.config["assets"], {**ETH, "prec_show": 6}]
    with pytest.raises(RuntimeError):
        start_engine(engine, timeout=30)
    assert engine.proc is not None and engine.proc.returncode == 1
    fatal = [line for line in Path(engine.config["log"]["path"] + ".log").read_text().splitlines()
             if "[fatal]" in line]
    assert ("the config file and the operation log disagree: asset ETH exists with prec_save 18 and prec_show 6, "
            "not 18 and 8") in fatal[-1]

