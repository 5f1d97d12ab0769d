"""A slice written and loaded back on MariaDB and SQLite gives the same engine, field for field.

MySQL sends slice orders as one JSON text per page; sources with quotes,
backslashes, control characters and non-ASCII text, missing sources, whole-number
times and full-precision decimals must all come back exactly, and so must a page
the JSON packing cannot carry (read the other way).  Beyond the original: orders
with options and client ids, stops, locked funds, the guard of locks, last
prices and an asset and a market added live come back too; a slice written
before them still loads; a config file that contradicts a slice stops the load.
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
from matchengine.slice import (
    SliceMismatch,
    ensure_log_tables,
    load_slice,
    newest_slice,
    restore_snapshot,
    take_snapshot,
    write_slice,
)
from tests.support import scratch_database

SOURCES = ["plain", "it's", 'say "hi"', "back\\slash", "tab\there", "new\nline", "ünïcødé ✓", "", None]


def new_engine(stp: int = 0) -> Engine:
    return Engine([Asset("BTC", 12, 8), Asset("USDT", 12, 8)],
                  [MarketSpec("BTCUSDT", "BTC", "USDT", 8, 8, 4, Decimal("0.001"), stp)])


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


def extended_engine() -> Engine:
    """filled_engine plus what the extensions keep: options, client ids, stops, locks, an added market."""
    engine = filled_engine()
    c = Commands(engine)
    now = 1_700_000_200.25
    c.put_limit([1, "BTCUSDT", 1, "0.5", "20000", "0.001", "0.001", "hidden", 0x20 | 0x200, "cid-" + "x" * 28], now)
    c.put_limit([2, "BTCUSDT", 2, "0.5", "100", "0.001", "0.001", "", None, 5], now)
    for i, source in enumerate(SOURCES[:-1]):  # stops need a source
        c.put_stop_limit([1 + i % 5, "BTCUSDT", 1 + i % 2, "0.01", f"{9500 + i:.2f}" if i % 2 else f"{8000 - i}",
                          "8500.123", "0.001", "0.002", source, 0x8 if i % 3 else None, f"s{i}"], now + i)
        c.put_stop_market([1 + i % 5, "BTCUSDT", 1 + i % 2, "50" if i % 2 else "0.02", f"{8500 + i * 200}", "0.001",
                           source], now + i)
    c.asset_lock([1, "USDT", "withdraw", 1, "12.345678"], now)
    c.asset_lock([1, "BTC", "withdraw", 1, "0.5"], now)
    c.asset_unlock([1, "BTC", "withdraw", 1, "0.25"], now)
    c.update_asset([{"name": "ETH", "prec_save": 18, "prec_show": 8}], now)
    c.update_market([{"name": "ETHUSDT", "stock": {"name": "ETH", "prec": 6}, "money": {"name": "USDT", "prec": 4},
                      "min_amount": "0.01", "stp": "cancel_both"}], now)
    c.balance_update([3, "ETH", "deposit", 1, "5", {}], now)
    c.put_limit([3, "ETHUSDT", 1, "1", "2000", "0", "0", ""], now)
    c.put_limit([2, "ETHUSDT", 2, "0.5", "2000.5", "0", "0", ""], now)
    c.put_stop_market([3, "ETHUSDT", 1, "1", "1500", "0", ""], now)
    assert engine.markets["ETHUSDT"].last == Decimal("2000")
    assert len(engine.markets["BTCUSDT"].stops.stops) == 16
    return engine


def state(engine: Engine) -> tuple[object, ...]:
    orders = [(o.id, o.type, o.side, repr(o.ctime), repr(o.mtime), o.user, o.market, o.source, str(o.price),
               str(o.amount), str(o.taker_fee), str(o.maker_fee), str(o.left), str(o.freeze), str(o.deal_stock),
               str(o.deal_money), str(o.deal_fee), o.option, o.client_id)
              for m in engine.markets.values() for side in (m.asks, m.bids) for o in side]
    stops = [(s.id, s.type, s.side, repr(s.ctime), repr(s.mtime), s.user, s.market, s.source, s.option, s.client_id,
              s.state, str(s.stop_price), str(s.price), str(s.amount), str(s.taker_fee), str(s.maker_fee),
              str(s.freeze))
             for m in engine.markets.values() for trigger in (m.stops.low, m.stops.high) for s in trigger]
    markets = [(m.spec, str(m.last), str(m.checked_last)) for m in engine.markets.values()]
    balances = sorted((u, k, a, str(v)) for u, k, a, v in engine.balances.entries())
    return (orders, stops, markets, list(engine.assets.values()), balances, dict(engine.updates), engine.order_id,
            engine.deal_id)


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
    engine = extended_engine()
    if db.dialect == "mysql":
        await db.execute("SET SESSION group_concat_max_len = 1024")  # the pool's one connection
    assert state(await round_trip(db, engine)) == state(engine)


async def test_stops_locks_last_prices_and_added_markets_load_back_exactly(db: Database) -> None:
    engine = extended_engine()
    loaded = await round_trip(db, engine)
    assert state(loaded) == state(engine)
    assert list(loaded.markets) == ["BTCUSDT", "ETHUSDT"]
    # the same through the in-memory path the property tests use
    memory = new_engine()
    restore_snapshot(memory, take_snapshot(engine, 7))
    assert state(memory) == state(engine)
    # and the loaded engine goes on exactly as the original: a deal fires the same stops
    for target in (engine, loaded):
        Commands(target).put_limit([5, "BTCUSDT", 1, "3", "8000", "0", "0", ""], 1_700_000_300.0)
        target.markets["BTCUSDT"].fire_stops(1_700_000_300.0)
    assert state(loaded) == state(engine)


async def test_a_slice_from_before_the_extensions_still_loads(db: Database) -> None:
    engine = filled_engine()
    stamp = int(time.time())
    await write_slice(db, take_snapshot(engine, 7), stamp, 86400, 7)
    for table in ("stop", "market", "asset"):
        await db.execute(f"DROP TABLE `slice_{table}_{stamp}`")
    for table, column in (("order", "option"), ("order", "client_id"), ("update", "kind")):
        await db.execute(f"ALTER TABLE `slice_{table}_{stamp}` DROP COLUMN `{column}`")
    info = await newest_slice(db)
    assert info is not None
    loaded = new_engine()
    await load_slice(db, loaded, info)
    # such a slice has no last price: it starts at 0, as for a new market, until the next deal
    market = engine.markets["BTCUSDT"]
    market.last = market.checked_last = Decimal(0)
    assert state(loaded) == state(engine)


async def test_a_config_file_that_contradicts_the_slice_stops_the_load(db: Database) -> None:
    engine = extended_engine()
    await write_slice(db, take_snapshot(engine, 7), int(time.time()), 86400, 7)
    info = await newest_slice(db)
    assert info is not None
    with pytest.raises(SliceMismatch, match="the config file and the slice disagree: market BTCUSDT exists with stp cancel_taker, not none"):
        await load_slice(db, new_engine(stp=0x100), info)
    other = Engine([Asset("BTC", 12, 8), Asset("USDT", 12, 8), Asset("ETH", 18, 6)],
                   [MarketSpec("BTCUSDT", "BTC", "USDT", 8, 8, 4, Decimal("0.001"))])
    with pytest.raises(SliceMismatch, match="asset ETH exists with prec_save 18 and prec_show 6, not 18 and 8"):
        await load_slice(db, other, info)
