"""readhistory over the history the real matchengine writes: the scenario of http-api.md §2.6.

User 1 deposits 20000 BCH, user 2 deposits 3 BTC; user 1 bids 2 BTC @ 8000
(order 1); user 2 sells 1.5 BTC @ 7990 (order 2, filled at 8000); user 1
cancels the rest of order 1.  The publisher writes the history rows
asynchronously; once they are there, every readhistory command must give the
records of http-api.md §5.1–§5.5.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from common.config import ClientConfig, parse_address
from common.rpc import RpcClient
from tests.support import (
    Broker,
    Daemon,
    base_config,
    cli_port,
    drop_databases,
    engine_config,
    engine_port,
    free_port,
    mysql_query,
    unique_name,
)

SETTLE_TIMEOUT = 30.0


@contextlib.asynccontextmanager
async def rpc_client(port: int) -> AsyncIterator[RpcClient]:
    client = RpcClient(ClientConfig(name="test", addr=[parse_address(f"tcp@127.0.0.1:{port}")],
                                    max_pkg_size=1_000_000))
    await client.start()
    assert await client.wait_connected(10)
    try:
        yield client
    finally:
        await client.close()


async def eventually(probe: Callable[[], Awaitable[Any]], timeout: float = SETTLE_TIMEOUT) -> Any:
    """Poll `probe` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value or time.monotonic() > deadline:
            assert value, "history rows did not appear in time"
            return value
        await asyncio.sleep(0.05)


def wait_history_tables(database: str, timeout: float = 60.0) -> None:
    sql = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s AND table_name LIKE %s"
    deadline = time.monotonic() + timeout
    while mysql_query("information_schema", sql, (database, "user\\_deal\\_history\\_%"))[0][0] < 100:
        assert time.monotonic() < deadline, "the publisher did not create the history tables"
        time.sleep(0.1)


def readhistory_config(workdir: Path, database: str) -> dict[str, Any]:
    port = free_port()
    config = base_config("readhistory", workdir)
    config.update({
        "svr": {"bind": [f"tcp@127.0.0.1:{port}"], "max_pkg_size": 1000000, "heartbeat_check": False},
        "db_history": {"host": "127.0.0.1", "user": "root", "pass": "", "name": database},
        "worker_num": 2,
    })
    return config


async def test_history_of_the_spec_scenario(tmp_path: Path) -> None:
    log_db, history_db = unique_name("t_rhe_log"), unique_name("t_rhe_history")
    broker = Broker().start()
    engine = Daemon("matchengine", engine_config(tmp_path, log_db=log_db, history_db=history_db,
                                                 brokers=broker.address), tmp_path)
    reader = Daemon("readhistory", readhistory_config(tmp_path, history_db), tmp_path)
    try:
        engine.start(wait=False)
        engine.wait_ready(120, port=cli_port(engine.config))
        wait_history_tables(history_db)
        reader.start()
        async with rpc_client(engine_port(engine.config)) as me, \
                rpc_client(int(reader.config["svr"]["bind"][0].rsplit(":", 1)[1])) as rh:
            await run_scenario(me, rh)
    finally:
        reader.stop()
        engine.stop()
        broker.stop()
        drop_databases(log_db, history_db)


async def run_scenario(me: RpcClient, rh: RpcClient) -> None:
    async def engine(command: int, params: list[Any]) -> Any:
        return await me.call_json(command, params, timeout=10)

    async def history(command: int, params: list[Any]) -> Any:
        return await rh.call_json(command, params, timeout=10)

    started = time.time()
    assert await engine(102, [1, "BCH", "deposit", 1, "20000", {}]) == {"status": "success"}
    assert await engine(102, [2, "BTC", "deposit", 2, "3", {"note": "cold wallet"}]) == {"status": "success"}
    bid = await engine(201, [1, "BTCBCH", 2, "2", "8000", "0.002", "0.001", "api.v1"])
    ask = await engine(201, [2, "BTCBCH", 1, "1.5", "7990", "0.002", "0.001", "api.v1"])
    assert (bid["id"], ask["id"], ask["left"]) == (1, 2, "0e-8")
    cancelled = await engine(204, [1, "BTCBCH", 1])
    assert (cancelled["left"], cancelled["mtime"]) == ("0.5", ask["mtime"])
    # an order cancelled without a fill never reaches the history
    unfilled = await engine(201, [1, "BTCBCH", 2, "1", "100", "0.002", "0.001", "web"])
    await engine(204, [1, "BTCBCH", unfilled["id"]])
    assert await engine(102, [1, "BCH", "withdraw", 3, "-1", {}]) == {"status": "success"}

    deal_time = ask["mtime"]
    await eventually(lambda: history(210, [1]))
    withdraw = await eventually(lambda: history(103, [1, "BCH", "withdraw", 0, 0, 0, 10]))
    assert await history(210, [unfilled["id"]]) is None

    # §5.1 balance.history: user 2's trade rows (taker ask), newest first, then the deposit (user 2's shards
    # are another history stripe than user 1's, committed on its own: wait for all four rows)
    async def user2_rows() -> Any:
        page = await history(103, [2, "", "", 0, 0, 0, 10])
        return page if len(page["records"]) == 4 else None

    user2 = await eventually(user2_rows)
    assert (user2["offset"], user2["limit"]) == (0, 10)
    trade_detail = {"a": "1.5", "i": 2, "m": "BTCBCH", "p": "8000"}
    assert user2["records"][:3] == [
        {"time": deal_time, "asset": "BCH", "business": "trade", "change": "-24", "balance": "11976",
         "detail": {**trade_detail, "f": "0.002"}},
        {"time": deal_time, "asset": "BCH", "business": "trade", "change": "12000", "balance": "12000",
         "detail": trade_detail},
        {"time": deal_time, "asset": "BTC", "business": "trade", "change": "-1.5", "balance": "1.5",
         "detail": trade_detail},
    ]
    deposit = user2["records"][3]
    assert len(user2["records"]) == 4
    assert (deposit["asset"], deposit["business"], deposit["change"], deposit["balance"]) == (
        "BTC", "deposit", "3", "3")
    assert deposit["detail"] == {"note": "cold wallet", "id": 2}
    assert started - 1 <= deposit["time"] <= deal_time
    assert await history(103, [2, "", "", 0, 0, 0, 3]) == {"offset": 0, "limit": 3, "records": user2["records"][:3]}
    assert await history(103, [2, "BCH", "trade", 0, 0, 1, 5]) == {
        "offset": 1, "limit": 5, "records": user2["records"][1:2]}
    second = int(deposit["time"])  # every row of user 2 is at or after it
    assert await history(103, [2, "", "", second, 0, 0, 10]) == user2
    assert await history(103, [2, "", "", 0, second, 0, 10]) == {"offset": 0, "limit": 10, "records": []}

    # user 1 (maker bid): money out of the freeze, stock in, stock fee; the withdrawal last
    user1 = await history(103, [1, "", "", 0, 0, 0, 10])
    maker_detail = {"a": "1.5", "i": 1, "m": "BTCBCH", "p": "8000"}
    assert [(r["asset"], r["business"], r["change"], r["balance"], r["detail"]) for r in user1["records"]] == [
        ("BCH", "withdraw", "-1", "7999", {"id": 3}),
        ("BTC", "trade", "-0.0015", "1.4985", {**maker_detail, "f": "0.001"}),
        ("BTC", "trade", "1.5", "1.5", maker_detail),
        ("BCH", "trade", "-12000", "8000", maker_detail),
        ("BCH", "deposit", "20000", "20000", {"id": 1}),
    ]
    assert withdraw["records"] == user1["records"][:1]
    assert [r["time"] for r in user1["records"][1:4]] == [deal_time] * 3

    # §5.2 order.finished and §5.3 order.finished_detail
    order2 = {"id": 2, "ctime": ask["ctime"], "ftime": deal_time, "user": 2, "market": "BTCBCH", "source": "api.v1",
              "type": 1, "side": 1, "price": "7990", "amount": "1.5", "taker_fee": "0.002", "maker_fee": "0.001",
              "deal_stock": "1.5", "deal_money": "12000", "deal_fee": "24"}
    order1 = {"id": 1, "ctime": bid["ctime"], "ftime": deal_time, "user": 1, "market": "BTCBCH", "source": "api.v1",
              "type": 1, "side": 2, "price": "8000", "amount": "2", "taker_fee": "0.002", "maker_fee": "0.001",
              "deal_stock": "1.5", "deal_money": "12000", "deal_fee": "0.0015"}
    assert await history(208, [2, "BTCBCH", 0, 0, 0, 10]) == {"offset": 0, "limit": 10, "records": [order2]}
    assert await history(208, [1, "BTCBCH", 0, 0, 0, 10]) == {"offset": 0, "limit": 10, "records": [order1]}
    assert await history(208, [1, "BTCBCH", 0, 0, 0, 10, 1]) == {"offset": 0, "limit": 10, "records": []}
    assert await history(208, [1, "BTCUSDT", 0, 0, 0, 10]) == {"offset": 0, "limit": 10, "records": []}
    assert await history(210, [2]) == order2
    assert await history(210, [1]) == order1

    # §5.4 order.deals: each side's own fee, the counterparty's order id
    assert await history(209, [1, 0, 10]) == {"offset": 0, "limit": 10, "records": [
        {"time": deal_time, "user": 1, "id": 1, "role": 1, "price": "8000", "amount": "1.5", "deal": "12000",
         "fee": "0.0015", "deal_order_id": 2}]}
    assert await history(209, [2, 0, 10]) == {"offset": 0, "limit": 10, "records": [
        {"time": deal_time, "user": 2, "id": 1, "role": 2, "price": "8000", "amount": "1.5", "deal": "12000",
         "fee": "24", "deal_order_id": 1}]}

    # §5.5 market.user_deals: the user's side and role
    assert await history(306, [1, "BTCBCH", 0, 10]) == {"offset": 0, "limit": 10, "records": [
        {"time": deal_time, "user": 1, "id": 1, "side": 2, "role": 1, "price": "8000", "amount": "1.5",
         "deal": "12000", "fee": "0.0015", "deal_order_id": 2, "market": "BTCBCH"}]}
    assert await history(306, [2, "BTCBCH", 0, 10]) == {"offset": 0, "limit": 10, "records": [
        {"time": deal_time, "user": 2, "id": 1, "side": 1, "role": 2, "price": "8000", "amount": "1.5",
         "deal": "12000", "fee": "24", "deal_order_id": 1, "market": "BTCBCH"}]}
