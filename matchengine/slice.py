"""Snapshots ("slices") of the whole engine state, and loading the right one back.

A slice holds every resting order (all fields, exact decimal text, source
included), every balance entry, the balance.update guard and the three
counters as of one operation id.  `take_snapshot` copies references to the
state in one go (Decimal values are immutable, order fields are copied), so
the caller's state may move on while `write_slice` writes the copy in
batches; the slice is registered in `slice_history` only after every row is
written, and old slices beyond `slice_keeptime` are dropped then.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

from common.schema import (
    SLICE_BALANCE,
    SLICE_HISTORY,
    SLICE_ORDER,
    SLICE_UPDATE,
    TRADE_LOG_TABLES,
    create_table_sql,
)
from common.service import collector_paused
from common.storage import Database, InsertRows, Statement, fetch_json_rows, read_ahead, read_page, read_pages

from .engine import Engine
from .slice_orders import SliceOrders

log = logging.getLogger(__name__)

BATCH_ROWS = 1000
PAGE_ROWS = 20000


@dataclass(slots=True)
class SliceInfo:
    time: int
    end_oper_id: int
    end_order_id: int
    end_deals_id: int


@dataclass(slots=True)
class Snapshot:
    oper_id: int
    order_id: int
    deal_id: int
    orders: list[tuple[Any, ...]] = field(default_factory=list)
    balances: list[tuple[int, int, str, Decimal]] = field(default_factory=list)
    updates: list[tuple[int, str, str, int, float]] = field(default_factory=list)


async def ensure_log_tables(db: Database) -> None:
    for table in TRADE_LOG_TABLES:
        for sql in create_table_sql(table, db.dialect):
            await db.execute(sql)


def take_snapshot(engine: Engine, oper_id: int) -> Snapshot:
    """A consistent copy of the state after operation `oper_id`."""
    snap = Snapshot(oper_id, engine.order_id, engine.deal_id)
    orders = snap.orders
    for market in engine.markets.values():
        for side in (market.asks, market.bids):
            for o in side:
                orders.append((o.id, o.type, o.side, o.ctime, o.mtime, o.user, o.market, o.source, o.price,
                               o.amount, o.taker_fee, o.maker_fee, o.left, o.freeze, o.deal_stock, o.deal_money,
                               o.deal_fee))
    snap.balances = [(user, kind, asset, value) for user, kind, asset, value in engine.balances.entries()]
    snap.updates = [(u, a, b, bid, at) for (u, a, b, bid), at in engine.updates.items()]
    return snap


async def write_slice(db: Database, snap: Snapshot, stamp: int, keeptime: int, protect_oper_id: int) -> SliceInfo:
    """Write `snap` as slice `stamp` (unix time), register it, drop expired slices.

    The newest slice at or before `protect_oper_id` (where the publisher would
    restart from) is never dropped.
    """
    names = {t: t.name.replace("_example", f"_{stamp}") for t in (SLICE_ORDER, SLICE_BALANCE, SLICE_UPDATE)}
    for table, name in names.items():
        await db.execute(f"DROP TABLE IF EXISTS `{name}`")
        for sql in create_table_sql(table, db.dialect, name):
            await db.execute(sql)

    order_columns = SLICE_ORDER.column_names
    for start in range(0, len(snap.orders), BATCH_ROWS * 10):
        chunk = snap.orders[start:start + BATCH_ROWS * 10]
        await db.transact([
            InsertRows(names[SLICE_ORDER], order_columns,
                       [(*o[:8], *(str(v) for v in o[8:])) for o in chunk[i:i + BATCH_ROWS]])
            for i in range(0, len(chunk), BATCH_ROWS)])
        await asyncio.sleep(0)
    for start in range(0, len(snap.balances), BATCH_ROWS):
        rows = [(u, a, k, str(v)) for u, k, a, v in snap.balances[start:start + BATCH_ROWS]]
        await db.transact([InsertRows(names[SLICE_BALANCE], ("user_id", "asset", "t", "balance"), rows)])
        await asyncio.sleep(0)
    for start in range(0, len(snap.updates), BATCH_ROWS):
        await db.transact([InsertRows(names[SLICE_UPDATE], ("user_id", "asset", "business", "business_id", "time"),
                                      snap.updates[start:start + BATCH_ROWS])])
        await asyncio.sleep(0)

    await db.execute(
        "INSERT INTO `slice_history` (`time`, `end_oper_id`, `end_order_id`, `end_deals_id`) VALUES (%s, %s, %s, %s)",
        (stamp, snap.oper_id, snap.order_id, snap.deal_id))
    info = SliceInfo(stamp, snap.oper_id, snap.order_id, snap.deal_id)
    log.info("slice %d written: %d orders, %d balances, %d guard entries, oper id %d",
             stamp, len(snap.orders), len(snap.balances), len(snap.updates), snap.oper_id)
    await drop_expired_slices(db, stamp, keeptime, protect_oper_id)
    return info


async def drop_expired_slices(db: Database, now: int, keeptime: int, protect_oper_id: int) -> None:
    """Drop slices older than keeptime, always keeping at least one within it (as the original)."""
    recent = await db.fetchall("SELECT COUNT(*) FROM `slice_history` WHERE `time` >= %s", (now - keeptime,))
    if not recent or not recent[0][0]:
        return
    protected = await newest_slice(db, protect_oper_id)
    rows = await db.fetchall("SELECT `id`, `time` FROM `slice_history` WHERE `time` < %s ORDER BY `id`",
                             (now - keeptime,))
    for slice_id, stamp in rows:
        if protected is not None and stamp == protected.time:
            continue
        for table in (SLICE_ORDER, SLICE_BALANCE, SLICE_UPDATE):
            await db.execute(f"DROP TABLE IF EXISTS `{table.name.replace('_example', f'_{stamp}')}`")
        await db.transact([Statement("DELETE FROM `slice_history` WHERE `id` = %s", (slice_id,))])
        log.info("slice %d dropped", stamp)


async def newest_slice(db: Database, max_oper_id: int | None = None) -> SliceInfo | None:
    sql = "SELECT `time`, `end_oper_id`, `end_order_id`, `end_deals_id` FROM `slice_history`"
    params: tuple[Any, ...] = ()
    if max_oper_id is not None:
        sql += " WHERE `end_oper_id` <= %s"
        params = (max_oper_id,)
    rows = await db.fetchall(sql + " ORDER BY `id` DESC LIMIT 1", params)
    if not rows:
        return None
    return SliceInfo(*(int(v) for v in rows[0]))


async def load_slice(db: Database, engine: Engine, info: SliceInfo) -> None:
    """Restore the engine from slice `info` (the engine must be empty)."""
    with collector_paused():  # a million new orders make no reference cycles: scanning them would be waste
        await _load_slice(db, engine, info)


async def _load_slice(db: Database, engine: Engine, info: SliceInfo) -> None:
    stamp = info.time
    markets = engine.markets
    table = f"slice_order_{stamp}"
    builder = SliceOrders(markets, stamp)
    # closed on the way out: a bad row stops the load and no page read ahead is left running
    async with aclosing(read_ahead(partial(_read_orders, db, table), 0, PAGE_ROWS)) as pages:
        async for rows in pages:
            builder.insert(rows)
    for market in markets.values():
        market.sort_book()

    balances = engine.balances
    entries = read_pages(db, f"slice_balance_{stamp}", ("id", "user_id", "asset", "t", "balance"), _typed_balance,
                         page=PAGE_ROWS)
    async with aclosing(entries):
        async for rows in entries:
            for _, user, asset, kind, value in rows:
                if asset not in engine.assets:
                    raise ValueError(f"slice {stamp}: balance of user {user} in unknown asset {asset!r}")
                balances.restore(user, kind, asset, Decimal(value))

    guard = read_pages(db, f"slice_update_{stamp}", ("id", "user_id", "asset", "business", "business_id", "time"),
                       _typed_update, page=PAGE_ROWS)
    async with aclosing(guard):
        async for rows in guard:
            for _, user, asset, business, business_id, at in rows:
                engine.updates[(user, asset, business, int(business_id))] = at

    engine.seq.order_id = info.end_order_id
    engine.seq.deal_id = info.end_deals_id


_ORDER_JSON = tuple(f"`{c}`" if c in ("id", "t", "side", "create_time", "update_time", "user_id")
                    else f"IFNULL(JSON_QUOTE(`{c}`), 'null')" for c in SLICE_ORDER.column_names)


async def _read_orders(db: Database, table: str, after_id: int) -> list[Any]:
    """A page of slice orders: one JSON text where MySQL can send it so, else as read_pages reads it."""
    rows = await fetch_json_rows(db, table, _ORDER_JSON, after_id, PAGE_ROWS)
    if rows is None:
        rows = await read_page(db, table, SLICE_ORDER.column_names, _typed_order, after_id, PAGE_ROWS, ("source",))
    return rows


# a page's text as the driver would type it (see common.storage.read_pages)

def _typed_order(r: list[Any]) -> tuple[Any, ...]:
    return (int(r[0]), int(r[1]), int(r[2]), float(r[3]), float(r[4]), int(r[5]), *r[6:])


def _typed_balance(r: list[Any]) -> tuple[Any, ...]:
    return int(r[0]), int(r[1]), r[2], int(r[3]), r[4]


def _typed_update(r: list[Any]) -> tuple[Any, ...]:
    return int(r[0]), int(r[1]), r[2], r[3], int(r[4]), float(r[5])


__all__ = ["SLICE_HISTORY", "SliceInfo", "Snapshot", "ensure_log_tables", "load_slice", "newest_slice",
           "take_snapshot", "write_slice"]
