"""A slice written and loaded back on MariaDB and SQLite gives the same engine, field for field.

MySQL sends slice orders as one JSON text per page; sources with quotes,
backslashes, control characters and non-ASCII text, missing sources, whole-number
times and full-precision decimals must all come back exactly, and so must a page
the JSON packing cannot carry (read the other way).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from common.storage import Database
from matchengine.balance import Asset
from matchengine.commands import Commands
from matchengine.engine import Engine
from matchengine.market import MarketSpec
from matchengine.slice import ensure_log_tables, load_slice, newest_slice, take_snapshot, write_slice
from tests.support import scratch_database

SOURCES = ["plain", "it's", 'say "hi"', "back\\slash", "tab\there", "new\nline", "ünïcødé ✓", "", None]


def new_engine() -> Engine:
    return Engine([Asset("BTC", 12, 8), Asset("USDT", 12, 8)],
                  [MarketSpec("BTCUSDT", "BTC", "USDT", 8, 8, 4, Decimal("0.001"))])


def filled_engine() -> Engine:
    engine = new_engine()
    commands = Commands(engine)
    now = 1_700_000_000.0  # a whole-number time: MySQL prints it without a decimal point
    for user in range(1, 6):
        commands.balance_update([user, "BTC", "deposit", user, "100.123456789", {}], now)
        commands.balance_update([user, "USDT", "deposit", user, "1000000.5", {"note": "x"}], now)
    for i, source in enumerate(SOURCES * 3):
        side = 1 + i % 2
        price = f"{10000 + (i % 7) * 0.37 if side == 1 else 9000 - (i % 5) * 1.13:.8f}"
        market = engine.markets["BTCUSDT"]
        market.put_limit(now + i / 3, 1 + i % 5, side, Decimal("0.12345678"), Decimal(price), Decimal("0.0011"),
                         Decimal("0.002"), source)
    # partly filled makers: deal fields with many decimals
    commands.put_limit([3, "BTCUSDT", 1, "0.2", "9000", "0.001", "0.001", "taker"], now + 100)
    commands.put_limit([4, "BTCUSDT", 2, "0.3", "10001", "0.001", "0.001", "taker"], now + 101)
    return engine


def state(engine: Engine) -> tuple[object, ...]:
    orders = [(o.id, o.type, o.side, repr(o.ctime), repr(o.mtime), o.user, o.market, o.source, str(o.price),
               str(o.amount), str(o.taker_fee), str(o.maker_fee), str(o.left), str(o.freeze), str(o.deal_stock),
               str(o.deal_money), str(o.deal_fee))
              for m in engine.markets.values() for side in (m.asks, m.bids) for o in side]
    balances = sorted((u, k, a, str(v)) for u, k, a, v in engine.balances.entries())
    return orders, balances, dict(engine.updates), engine.order_id, engine.deal_id


@pytest.fixture(params=["mysql", "sqlite"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with scratch_database(request.param, tmp_path, "t_slice") as database:
        await ensure_log_tables(database)
        yield database


async def round_trip(db: Database, engine: Engine) -> Engine:
    await write_slice(db, take_snapshot(engine, 7), int(time.time()), 86400, 7)
    info = await newest_slice(db)
    assert info is not None and info.end_oper_id == 7
    loaded = new_engine()
    await load_slice(db, loaded, info)
    return loaded


async def test_a_slice_loads_back_exactly(db: Database) -> None:
    engine = filled_engine()
    assert {o.source for m in engine.markets.values() for side in (m.asks, m.bids) for o in side} >= set(SOURCES)
    assert any(o.deal_stock for m in engine.markets.values() for side in (m.asks, m.bids) for o in side)
    assert state(await round_trip(db, engine)) == state(engine)


@pytest.mark.filterwarnings("ignore:Row .* was cut by GROUP_CONCAT")
async def test_pages_the_json_packing_cannot_carry_load_exactly(db: Database) -> None:
    engine = filled_engine()
    if db.dialect == "mysql":
        await db.execute("SET SESSION group_concat_max_len = 1024")  # the pool's one connection
    assert state(await round_trip(db, engine)) == state(engine)
