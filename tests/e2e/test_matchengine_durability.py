"""Nothing acknowledged is lost: restarts, kill -9, slices, history rows and Kafka events, outages.

Real processes (matchengine and its publisher), real MariaDB and the real broker.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from common.errors import RpcError
from common.rpc import RpcTimeout, RpcUnavailable
from tests.conftest import start_engine
from tests.e2e.engine_driver import RandomTrader, call_until_up, connect, dump_state, status_of
from tests.support import Broker, Daemon, cli_command, mysql_query

USERS = 20


def wait_published(engine: Daemon, timeout: float = 60.0) -> dict[str, int]:
    """Wait until history and Kafka have caught up with the operation log."""
    deadline = time.monotonic() + timeout
    while True:
        status = status_of(engine)
        if status["history pending"] == 0 and status["message deals pending"] == 0:
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"publisher did not catch up: {status}")
        time.sleep(0.1)


async def read_topic(address: str, topic: str) -> list[Any]:
    """Every message of a topic, in order, as (value json, headers)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=address, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        messages: list[Any] = []
        idle = 0
        while idle < 3:
            batch = (await consumer.getmany(tp, timeout_ms=500, max_records=10000)).get(tp, [])
            if not batch:
                idle += 1
                continue
            idle = 0
            messages.extend(json.loads(m.value) for m in batch)
        return messages
    finally:
        await consumer.stop()


def publisher_kafka_lines(engine: Daemon) -> str:
    """What the engine's publishers logged about Kafka (connections, the tags they read, failed sends and the
    Kafka client's own warnings): the story of a topic that holds a message twice or not at all."""
    log_dir = Path(engine.config["log"]["path"]).parent
    lines = [line for path in sorted(log_dir.glob("*publisher*.log*"))
             for line in path.read_text(errors="replace").splitlines()
             if "kafka" in line or "sender.py" in line or "publisher exited" in line]
    return "\n".join(lines[-60:])


def history_rows(db: str | dict[str, Any], family: str, where: str = "", params: Any = None) -> list[tuple[Any, ...]]:
    """Rows of every shard of `family`: `db` a MySQL database name, or an engine config's `db_history`."""
    rows: list[tuple[Any, ...]] = []
    if isinstance(db, dict) and "sqlite" in db:
        with closing(sqlite3.connect(db["sqlite"])) as conn:
            for shard in range(100):
                rows.extend(conn.execute(f"SELECT * FROM `{family}_{shard}` {where}".replace("%s", "?"), params or ()))
        return rows
    name = db["name"] if isinstance(db, dict) else db
    for shard in range(100):
        rows.extend(mysql_query(name, f"SELECT * FROM `{family}_{shard}` {where}", params))
    return rows


async def test_replay_equivalence_after_stop_and_kill(engine_factory: Callable[..., Daemon]) -> None:
    engine = engine_factory()
    client = await connect(engine)
    trader = RandomTrader(client, seed=1, users=USERS)
    await trader.fund()
    await trader.run(2500)
    before = await dump_state(client, USERS)
    status = status_of(engine)
    assert status["order last ID"] > 1000 and status["deals last ID"] > 300
    await client.close()

    engine.stop()
    start_engine(engine)
    client = await connect(engine)
    assert await dump_state(client, USERS) == before
    assert {k: v for k, v in status_of(engine).items() if "last ID" in k} == \
        {k: v for k, v in status.items() if "last ID" in k}

    # across a slice, then a crash
    assert await asyncio.to_thread(cli_command, engine.config, "makeslice") == "OK\n"
    trader.client = client
    await trader.run(800)
    before = await dump_state(client, USERS)
    await client.close()
    engine.kill9()
    start_engine(engine)
    client = await connect(engine)
    assert await dump_state(client, USERS) == before
    # ids go on where they were
    order = await client.call_json(201, [1, "BTCBCH", 1, "0.01", "1000", "0", "0", ""], timeout=5)
    assert order["id"] == status_of(engine)["order last ID"]
    await client.close()


async def test_history_rows_and_kafka_messages_match_the_operations(engine_factory: Callable[..., Daemon],
                                                                     broker: Broker) -> None:
    engine = engine_factory()
    history_db = engine.config["db_history"]["name"]
    client = await connect(engine)
    await client.call_json(102, [1, "BCH", "deposit", 11, "20000", {"tx": "a1"}], timeout=5)
    await client.call_json(102, [2, "BTC", "deposit", 12, "3", {}], timeout=5)
    bid = await client.call_json(201, [1, "BTCBCH", 2, "2", "8000", "0.002", "0.001", "api.v1"], timeout=5)
    ask = await client.call_json(201, [2, "BTCBCH", 1, "1.5", "7990", "0.002", "0.001", "api.v1"], timeout=5)
    cancelled = await client.call_json(204, [1, "BTCBCH", 1], timeout=5)
    await client.close()
    wait_published(engine)
    t_deal = ask["mtime"]

    balance_rows = [r[1:] for r in mysql_query(history_db, "SELECT * FROM balance_history_1 ORDER BY id")]
    assert [(r[2], r[3], str(r[4]), str(r[5]), r[6]) for r in balance_rows] == [
        ("BCH", "deposit", "20000.00000000", "20000.0000000000000000", '{"tx": "a1", "id": 11}'),
        ("BCH", "trade", "-12000.00000000", "8000.0000000000000000", '{"a": "1.5", "i": 1, "m": "BTCBCH", "p": "8000"}'),
        ("BTC", "trade", "1.50000000", "1.5000000000000000", '{"a": "1.5", "i": 1, "m": "BTCBCH", "p": "8000"}'),
        ("BTC", "trade", "-0.00150000", "1.4985000000000000",
         '{"a": "1.5", "f": "0.001", "i": 1, "m": "BTCBCH", "p": "8000"}'),
    ]
    assert [(r[2], r[3], str(r[4]), str(r[5])) for r in
            (x[1:] for x in mysql_query(history_db, "SELECT * FROM balance_history_2 ORDER BY id"))] == [
        ("BTC", "deposit", "3.00000000", "3.0000000000000000"),
        ("BTC", "trade", "-1.50000000", "1.5000000000000000"),
        ("BCH", "trade", "12000.00000000", "12000.0000000000000000"),
        ("BCH", "trade", "-24.00000000", "11976.0000000000000000"),
    ]
    assert balance_rows[1][0] == t_deal
    # order 2 (the taker) finished: order_history of user 2, order_detail shard 2
    expected_order = (2, ask["ctime"], t_deal, 2, "BTCBCH", "api.v1", 1, 1, Decimal("7990"), Decimal("1.5"),
                      Decimal("0.002"), Decimal("0.001"), Decimal("1.5"), Decimal("12000"), Decimal("24"))
    assert mysql_query(history_db, "SELECT * FROM order_history_2") == [expected_order]
    assert mysql_query(history_db, "SELECT * FROM order_detail_2") == [expected_order]
    # order 1 was cancelled after a partial fill: recorded with finish_time = its last fill
    assert mysql_query(history_db, "SELECT id, finish_time, deal_stock FROM order_history_1") == [
        (1, t_deal, Decimal("1.5"))]
    deal_rows = mysql_query(history_db, "SELECT time, user_id, deal_id, order_id, deal_order_id, role, price, "
                                        "amount, deal, fee, deal_fee FROM deal_history_2")
    assert deal_rows == [(t_deal, 2, 1, 2, 1, 2, Decimal("8000"), Decimal("1.5"), Decimal("12000"), Decimal("24"),
                          Decimal("0.0015"))]
    assert mysql_query(history_db, "SELECT user_id, deal_id, order_id, deal_order_id, role, fee FROM deal_history_1"
                       ) == [(1, 1, 1, 2, 1, Decimal("0.0015"))]
    assert mysql_query(history_db, "SELECT user_id, market, deal_id, order_id, deal_order_id, side, role, fee, "
                                   "deal_fee FROM user_deal_history_1") == [
        (1, "BTCBCH", 1, 1, 2, 2, 1, Decimal("0.0015"), Decimal("24"))]
    assert mysql_query(history_db, "SELECT user_id, side, role FROM user_deal_history_2") == [(2, 1, 2)]

    balances = await read_topic(broker.address, "balances")
    assert [m[1:] for m in balances] == [[1, "BCH", "deposit", "20000.00000000"], [2, "BTC", "deposit", "3.00000000"]]
    deals = await read_topic(broker.address, "deals")
    assert deals == [[t_deal, "BTCBCH", 2, 1, 2, 1, "8000.00000000", "1.50000000", "24.00000000000000000000",
                      "0.001500000000", 1, 1, "BTC", "BCH"]]
    orders = await read_topic(broker.address, "orders")
    assert [(m["event"], m["order"]["id"], m["order"]["left"]) for m in orders] == [
        (1, 1, "2"), (2, 1, "0.5"), (3, 2, "0e-8"), (3, 1, "0.5")]
    assert orders[0] == {"event": 1, "order": bid, "stock": "BTC", "money": "BCH"}
    assert orders[2]["order"] == ask and orders[3]["order"] == cancelled


async def test_slices_on_schedule_guard_survives_and_old_ones_are_dropped(
        engine_factory: Callable[..., Daemon]) -> None:
    engine = engine_factory(slice_interval=2, slice_keeptime=3)
    log_db = engine.config["db_log"]["name"]
    client = await connect(engine)
    trader = RandomTrader(client, seed=3, users=USERS)
    await trader.fund()
    await trader.run(600)
    await client.call_json(102, [5, "BTC", "deposit", 777, "1", {}], timeout=5)
    deposit_id = status_of(engine)["operlog last ID"]
    deadline = time.monotonic() + 60
    while not mysql_query(log_db, "SELECT 1 FROM slice_history WHERE end_oper_id >= %s", (deposit_id,)):
        assert time.monotonic() < deadline, "no slice was taken"
        await asyncio.sleep(0.2)
    await trader.run(300)
    before = await dump_state(client, USERS)
    await client.close()
    engine.kill9()
    start_engine(engine)
    client = await connect(engine)
    assert await dump_state(client, USERS) == before
    with pytest.raises(RpcError) as exc:
        await client.call_json(102, [5, "BTC", "deposit", 777, "1", {}], timeout=5)
    assert exc.value.code == 10
    await client.close()
    # expired slices are dropped, except one kept as the publisher's restart point if it needs it
    deadline = time.monotonic() + 60
    while True:
        now = int(time.time())
        slices = mysql_query(log_db, "SELECT time FROM slice_history ORDER BY id")
        expired = [t for (t,) in slices if now - t > 3 + 2 + 2]
        if slices and len(expired) <= 1 and now - slices[-1][0] <= 4:
            break
        assert time.monotonic() < deadline, slices
        await asyncio.sleep(0.5)
    tables = {r[0] for r in mysql_query(log_db, "SHOW TABLES LIKE 'slice_order_%%'")}
    assert tables == {"slice_order_example"} | {f"slice_order_{t}" for (t,) in slices}


@pytest.mark.parametrize("storage", ["mysql", "sqlite"])
async def test_kill9_repeatedly_under_load_loses_nothing_and_doubles_nothing(
        engine_factory: Callable[..., Daemon], broker: Broker, storage: str) -> None:
    engine = engine_factory(sqlite=storage == "sqlite")
    history_db = engine.config["db_history"]
    client = await connect(engine)
    rnd = random.Random(8)
    sent: dict[int, tuple[int, str, str]] = {}     # business id -> (user, asset, amount)
    acked_deposits: set[int] = set()
    acked_orders: set[int] = set()
    stop = asyncio.Event()
    next_business = [1000]

    async def depositor() -> None:
        while not stop.is_set():
            next_business[0] += 1
            bid = next_business[0]
            user, asset = rnd.randint(1, 30), rnd.choice(["BTC", "BCH"])
            amount = f"{rnd.randint(1, 1000)}"
            sent[bid] = (user, asset, amount)
            try:
                await client.call_json(102, [user, asset, "deposit", bid, amount, {}], timeout=10)
                acked_deposits.add(bid)
            except (RpcUnavailable, RpcTimeout):
                await asyncio.sleep(0.05)

    async def orderer() -> None:
        while not stop.is_set():
            user, side = rnd.randint(1, 30), rnd.choice((1, 2))
            price = f"{rnd.randint(95, 105)}"
            try:
                order = await client.call_json(201, [user, "BTCBCH", side, "0.5", price, "0", "0", ""], timeout=10)
                acked_orders.add(order["id"])
            except RpcError:
                pass
            except (RpcUnavailable, RpcTimeout):
                await asyncio.sleep(0.05)

    workers = [asyncio.create_task(depositor()) for _ in range(6)] + \
        [asyncio.create_task(orderer()) for _ in range(6)]
    try:
        # kills at random moments, two of them within the first second after a start
        for pause in (1.5, 0.3, 4.0, 0.6, rnd.uniform(1.0, 3.0), rnd.uniform(0.2, 2.0)):
            await asyncio.sleep(pause)
            engine.kill9()
            await asyncio.sleep(rnd.uniform(0, 0.3))
            await asyncio.to_thread(start_engine, engine)
        await asyncio.sleep(1.0)
    finally:
        stop.set()
        await asyncio.gather(*workers)
    assert len(acked_deposits) > 200 and len(acked_orders) > 200

    # every acknowledged deposit is there: re-sending it is refused; the rest apply now, once
    async def resend(bid: int, user: int, asset: str, amount: str) -> None:
        try:
            await call_until_up(client, 102, [user, asset, "deposit", bid, amount, {}])
            assert bid not in acked_deposits, f"acknowledged deposit {bid} was lost"
        except RpcError as exc:
            assert exc.code == 10, exc
        with pytest.raises(RpcError):
            await call_until_up(client, 102, [user, asset, "deposit", bid, amount, {}])

    items = list(sent.items())
    for start in range(0, len(items), 200):
        await asyncio.gather(*(resend(bid, *rest) for bid, rest in items[start:start + 200]))
    # funds conserved (fees are zero): balances hold exactly the deposits
    totals = dict.fromkeys(("BTC", "BCH"), Decimal(0))
    for user in range(1, 31):
        for asset, value in (await call_until_up(client, 101, [user, "BTC", "BCH"])).items():
            totals[asset] += Decimal(value["available"]) + Decimal(value["freeze"])
    deposited = dict.fromkeys(("BTC", "BCH"), Decimal(0))
    for _user, asset, amount in sent.values():
        deposited[asset] += Decimal(amount)
    assert totals == deposited
    # every acknowledged order exists: resting, or finished in history
    status = wait_published(engine)
    finished = {row[0] for row in history_rows(history_db, "order_detail")}
    for order_id in acked_orders:
        if order_id not in finished:
            assert await call_until_up(client, 207, ["BTCBCH", order_id]) is not None, order_id
    await client.close()

    # history holds each operation once
    deposits = history_rows(history_db, "balance_history", "WHERE business = 'deposit'")
    ids = Counter(json.loads(row[7])["id"] for row in deposits)
    assert set(ids) == set(sent) and set(ids.values()) == {1}
    deals = status["deals last ID"]
    assert Counter(r[3] for r in history_rows(history_db, "deal_history")) == {d: 2 for d in range(1, deals + 1)}
    assert Counter(r[4] for r in history_rows(history_db, "user_deal_history")) == {d: 2 for d in range(1, deals + 1)}
    assert max(Counter(r[0] for r in history_rows(history_db, "order_detail")).values()) == 1
    # the deals topic holds every deal once, in order; balances one message per deposit
    assert [m[11] for m in await read_topic(broker.address, "deals")] == list(range(1, deals + 1))
    assert len(await read_topic(broker.address, "balances")) == len(sent)


@pytest.mark.parametrize("damage", ["garbage", "unknown method", "gap"])
async def test_a_corrupt_log_row_stops_the_start_naming_it(engine_factory: Callable[..., Daemon], damage: str) -> None:
    engine = engine_factory(publisher=False)
    client = await connect(engine)
    await client.call_json(102, [1, "BTC", "deposit", 1, "5", {}], timeout=5)
    await client.call_json(102, [1, "BTC", "deposit", 2, "5", {}], timeout=5)
    await client.close()
    engine.stop()
    log_db = engine.config["db_log"]["name"]
    table = mysql_query(log_db, "SHOW TABLES LIKE 'operlog_2%%'")[-1][0]
    if damage == "garbage":
        mysql_query(log_db, f"INSERT INTO `{table}` (id, time, detail) VALUES (3, 1, 'not json{{')")
    elif damage == "unknown method":
        mysql_query(log_db, f"INSERT INTO `{table}` (id, time, detail) VALUES (3, 1, "
                            "'{\"method\": \"steal_money\", \"params\": []}')")
    else:
        mysql_query(log_db, f"INSERT INTO `{table}` (id, time, detail) VALUES (5, 1, "
                            "'{\"method\": \"update_balance\", \"params\": [1, \"BTC\", \"deposit\", 3, \"1\", {}]}')")
    with pytest.raises(RuntimeError):
        start_engine(engine, timeout=30)
    assert engine.proc is not None and engine.proc.returncode == 1
    text = Path(engine.config["log"]["path"] + ".log").read_text()
    fatal = [line for line in text.splitlines() if "[fatal]" in line]
    assert fatal, text[-2000:]
    if damage == "gap":
        assert f"operation log {table}: expected id 3, found id 5" in fatal[-1]
    else:
        assert "cannot replay operation 3" in fatal[-1]


async def test_kill9_with_locks_stops_and_a_live_market_loses_nothing_and_doubles_nothing(
        engine_factory: Callable[..., Daemon], broker: Broker) -> None:
    """Locks, unlocks, stops and orders in a market added live, under kill -9 (one after a slice)."""
    engine = engine_factory()
    history_db = engine.config["db_history"]["name"]
    client = await connect(engine)
    await client.call_json(401, [{"name": "ETH", "prec_save": 18, "prec_show": 8}], timeout=5)
    await client.call_json(402, [{"name": "ETHBCH", "stock": {"name": "ETH", "prec": 4},
                                  "money": {"name": "BCH", "prec": 4}, "min_amount": "0.01"}], timeout=5)
    deposited = dict.fromkeys(("BTC", "BCH", "ETH"), Decimal(0))
    for user in range(1, 11):
        for asset in ("BTC", "BCH", "ETH"):
            await client.call_json(102, [user, asset, "deposit", user, "100000", {}], timeout=5)
            deposited[asset] += 100000
    rnd = random.Random(13)
    locks: dict[tuple[int, int], tuple[int, str, int, int]] = {}   # (kind, business id) -> (user, asset, amount)
    acked_locks: set[tuple[int, int]] = set()
    acked_stops: set[int] = set()
    stop = asyncio.Event()
    next_id = [0]

    async def locker() -> None:
        while not stop.is_set():
            next_id[0] += 1
            business_id = next_id[0]
            user, asset, amount = rnd.randint(1, 10), rnd.choice(["BTC", "BCH"]), rnd.randint(2, 20)
            for kind, command, value in ((1, 106, amount), (2, 107, amount // 2)):
                locks[(kind, business_id)] = (user, asset, business_id, value)
                try:
                    await client.call_json(command, [user, asset, "withdraw", business_id, str(value)], timeout=10)
                    acked_locks.add((kind, business_id))
                except RpcError:
                    pass
                except (RpcUnavailable, RpcTimeout):
                    await asyncio.sleep(0.05)

    async def stopper() -> None:
        while not stop.is_set():
            user, market = rnd.randint(1, 10), rnd.choice(["BTCBCH", "ETHBCH"])
            side, stop_price = rnd.choice((1, 2)), f"{rnd.randint(95, 105)}.5"
            params = ([user, market, side, "0.5", stop_price, stop_price, "0", "0", "s"] if rnd.random() < 0.5 else
                      [user, market, side, "0.5" if side == 1 else "60", stop_price, "0", "s"])
            try:
                placed = await client.call_json(211 if len(params) == 9 else 212, params, timeout=10)
                acked_stops.add(placed["id"])
            except RpcError:
                pass
            except (RpcUnavailable, RpcTimeout):
                await asyncio.sleep(0.05)

    async def trader() -> None:
        while not stop.is_set():
            user, market = rnd.randint(1, 10), rnd.choice(["BTCBCH", "ETHBCH"])
            try:
                await client.call_json(201, [user, market, rnd.choice((1, 2)), "0.5", f"{rnd.randint(95, 105)}",
                                             "0", "0", ""], timeout=10)
            except RpcError:
                pass
            except (RpcUnavailable, RpcTimeout):
                await asyncio.sleep(0.05)

    workers = [asyncio.create_task(w()) for w in (locker, locker, stopper, stopper, trader, trader, trader)]
    try:
        for pause in (1.5, 0.4, 2.0, rnd.uniform(0.3, 1.5)):
            await asyncio.sleep(pause)
            if pause == 2.0:
                assert await asyncio.to_thread(cli_command, engine.config, "makeslice") == "OK\n"
                await asyncio.sleep(0.3)
            engine.kill9()
            await asyncio.sleep(rnd.uniform(0, 0.3))
            await asyncio.to_thread(start_engine, engine)
        await asyncio.sleep(1.0)
    finally:
        stop.set()
        await asyncio.gather(*workers)
    assert len(acked_locks) > 50 and len(acked_stops) > 50

    # every lock and unlock that was acknowledged is there: sent again, it is refused as a repeat; the
    # others apply now (unless the funds are missing), once
    applied: set[tuple[int, int]] = set()

    async def send_again(kind: int, business_id: int, user: int, asset: str, value: int) -> None:
        params = [user, asset, "withdraw", business_id, str(value)]
        try:
            await call_until_up(client, 106 if kind == 1 else 107, params)
            assert (kind, business_id) not in acked_locks, f"acknowledged lock {kind}/{business_id} was lost"
            applied.add((kind, business_id))
        except RpcError as exc:
            assert exc.code in (10, 11), exc
            if exc.code == 10:
                applied.add((kind, business_id))
            else:
                assert (kind, business_id) not in acked_locks

    for step in (1, 2):  # the locks, then the unlocks that need them
        items = [(kind, bid, user, asset, value) for (kind, bid), (user, asset, _, value) in locks.items()
                 if kind == step]
        for start in range(0, len(items), 200):
            await asyncio.gather(*(send_again(*item) for item in items[start:start + 200]))
    assert acked_locks <= applied
    expected: Counter[tuple[int, str]] = Counter()
    for (kind, _), (user, asset, _, value) in locks.items():
        if (kind, _) in applied:
            expected[(user, asset)] += value if kind == 1 else -value
    for user in range(1, 11):
        shown = await call_until_up(client, 108, [user])
        assert {a: Decimal(v) for a, v in shown.items()} == {
            a: Decimal(v) for (u, a), v in expected.items() if u == user and v}, user
    # funds conserved (fees are zero): every balance entry — available, frozen, locked — at full precision
    # (the CLI's listing; balance.query cuts to prec_show) adds up to the deposits
    totals = dict.fromkeys(("BTC", "BCH", "ETH"), Decimal(0))
    kinds: Counter[str] = Counter()
    for line in (await asyncio.to_thread(cli_command, engine.config, "balance list")).splitlines()[1:]:
        _user, entry_asset, entry_kind, entry_value = line.split()
        totals[entry_asset] += Decimal(entry_value)
        kinds[entry_kind] += 1
    assert totals == deposited
    assert kinds["lock"] and kinds["freeze"] and kinds["available"]
    # the live market is still there, last in the list
    assert [m["name"] for m in await call_until_up(client, 307, [])][-1] == "ETHBCH"
    # every acknowledged stop rests, or fired and is in history exactly once
    status = wait_published(engine)
    pending = set()
    for user in range(1, 11):
        offset = total = 0
        while offset <= total:
            page = await call_until_up(client, 214, [user, None, 0, offset, 100])
            pending |= {s["id"] for s in page["records"]}
            offset, total = offset + 100, page["total"]
    fired = Counter(row[1] for row in history_rows(history_db, "stop_history"))
    assert fired and set(fired.values()) == {1}
    assert acked_stops <= pending | set(fired), acked_stops - pending - set(fired)
    assert not pending & set(fired)
    await client.close()
    # the stops topic holds each firing once
    activations = [m["order"]["id"] for m in await read_topic(broker.address, "stops") if m["event"] == 2]
    assert Counter(activations) == fired, publisher_kafka_lines(engine)
    assert status["operlog last ID"] > 0
