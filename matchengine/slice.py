"""Snapshots ("slices") of the whole engine state, and loading the right one back.

A slice holds every resting order (all fields, exact decimal text, source,
option and client id included), every balance entry (available, frozen,
locked), the balance.update / lock / unlock guard, every resting stop, the
assets and markets with their definitions and last prices, and the three
counters as of one operation id.  `take_snapshot` copies references to the
state in one go (Decimal values are immutable, order and stop fields are
copied), so the caller's state may move on while `write_slice` writes the copy
in batches; the slice is registered in `slice_history` only after every row is
written, and old slices beyond `slice_keeptime` are dropped then.

Loading applies the slice to an engine built from the config file: an asset
or market only the slice has (added live) is added, one the config file
defines with another precision stops the start (a precision in use never
changes).  A slice from before stops and options (no `slice_market_<ts>`)
loads as it was written.  `restore_snapshot` applies a Snapshot held in memory
through the same row functions (the property tests use it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

import orjson

from common.errors import RpcError
from common.schema import (
    SLICE_ASSET,
    SLICE_BALANCE,
    SLICE_HISTORY,
    SLICE_MARKET,
    SLICE_ORDER,
    SLICE_STOP,
    SLICE_TABLES,
    SLICE_UPDATE,
    TRADE_LOG_TABLES,
    Table,
    create_table_sql,
)
from common.service import collector_paused
from common.storage import Database, InsertRows, Statement, fetch_json_rows, read_ahead, read_page, read_pages

from .balance import Asset
from .definitions import DefinitionError, market_definition, parse_market
from .engine import GUARD_UPDATE, Engine
from .market import MarketSpec
from .slice_orders import SliceOrders

log = logging.getLogger(__name__)

BATCH_ROWS = 1000
PAGE_ROWS = 20000

OrderRow = tuple[Any, ...]
StopRow = tuple[Any, ...]
GuardRow = tuple[int, str, str, int, float, int]


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
    orders: list[OrderRow] = field(default_factory=list)
    balances: list[tuple[int, int, str, Decimal]] = field(default_factory=list)
    updates: list[GuardRow] = field(default_factory=list)
    stops: list[StopRow] = field(default_factory=list)
    assets: list[Asset] = field(default_factory=list)
    markets: list[tuple[MarketSpec, Decimal]] = field(default_factory=list)


class SliceMismatch(Exception):
    """The config file defines an asset or market otherwise than the slice being loaded."""


async def ensure_log_tables(db: Database) -> None:
    for table in TRADE_LOG_TABLES:
        for sql in create_table_sql(table, db.dialect):
            await db.execute(sql)


def slice_table(table: Table, stamp: int) -> str:
    return table.name.replace("_example", f"_{stamp}")


def take_snapshot(engine: Engine, oper_id: int) -> Snapshot:
    """A consistent copy of the state after operation `oper_id`."""
    snap = Snapshot(oper_id, engine.order_id, engine.deal_id)
    orders = snap.orders
    stops = snap.stops
    for market in engine.markets.values():
        for side in (market.asks, market.bids):
            for o in side:
                orders.append((o.id, o.type, o.side, o.ctime, o.mtime, o.user, o.market, o.source, o.price,
                               o.amount, o.taker_fee, o.maker_fee, o.left, o.freeze, o.deal_stock, o.deal_money,
                               o.deal_fee, o.option, o.client_id))
        for s in market.stops.stops.values():
            stops.append((s.id, s.type, s.side, s.ctime, s.mtime, s.user, s.market, s.source, s.option, s.client_id,
                          s.state, s.stop_price, s.price, s.amount, s.taker_fee, s.maker_fee))
        snap.markets.append((market.spec, market.last))
    snap.balances = [(user, kind, asset, value) for user, kind, asset, value in engine.balances.entries()]
    snap.updates = [(u, a, b, bid, at, kind) for (u, a, b, bid, kind), at in engine.updates.items()]
    snap.assets = list(engine.assets.values())
    return snap


def _order_row(o: OrderRow) -> tuple[Any, ...]:
    return (*o[:8], *(str(v) for v in o[8:17]), o[17], o[18])


def _stop_row(s: StopRow) -> tuple[Any, ...]:
    return (*s[:11], *(str(v) for v in s[11:]))


def _market_rows(snap: Snapshot) -> list[tuple[Any, ...]]:
    return [(i, spec.name, orjson.dumps(market_definition(spec)).decode(), str(last))
            for i, (spec, last) in enumerate(snap.markets, 1)]


def _asset_rows(snap: Snapshot) -> list[tuple[Any, ...]]:
    return [(i, a.name, a.prec_save, a.prec_show) for i, a in enumerate(snap.assets, 1)]


async def write_slice(db: Database, snap: Snapshot, stamp: int, keeptime: int, protect_oper_id: int,
                      interval: int = 0) -> SliceInfo:
    """Write `snap` as slice `stamp` (unix time), register it, drop the slices no longer kept
    (`slices_to_drop`; the newest slice at or before `protect_oper_id`, where the publisher would restart
    from, is always kept)."""
    names = {t: slice_table(t, stamp) for t in SLICE_TABLES}
    for table, name in names.items():
        await db.execute(f"DROP TABLE IF EXISTS `{name}`")
        for sql in create_table_sql(table, db.dialect, name):
            await db.execute(sql)

    await _write_rows(db, names[SLICE_ORDER], SLICE_ORDER.column_names, snap.orders, _order_row)
    await _write_rows(db, names[SLICE_STOP], SLICE_STOP.column_names, snap.stops, _stop_row)
    await _write_rows(db, names[SLICE_BALANCE], ("user_id", "t", "asset", "balance"), snap.balances,
                      lambda b: (b[0], b[1], b[2], str(b[3])))
    await _write_rows(db, names[SLICE_UPDATE], ("user_id", "asset", "business", "business_id", "time", "kind"),
                      snap.updates, None)
    await _write_rows(db, names[SLICE_ASSET], SLICE_ASSET.column_names, _asset_rows(snap), None)
    await _write_rows(db, names[SLICE_MARKET], SLICE_MARKET.column_names, _market_rows(snap), None)

    await db.execute(
        "INSERT INTO `slice_history` (`time`, `end_oper_id`, `end_order_id`, `end_deals_id`) VALUES (%s, %s, %s, %s)",
        (stamp, snap.oper_id, snap.order_id, snap.deal_id))
    info = SliceInfo(stamp, snap.oper_id, snap.order_id, snap.deal_id)
    log.info("slice %d written: %d orders, %d stops, %d balances, %d guard entries, oper id %d",
             stamp, len(snap.orders), len(snap.stops), len(snap.balances), len(snap.updates), snap.oper_id)
    await drop_old_slices(db, stamp, keeptime, interval, protect_oper_id)
    return info


async def _write_rows(db: Database, table: str, columns: Sequence[str], items: Sequence[Any],
                      render: Callable[[Any], tuple[Any, ...]] | None) -> None:
    """Rows in transactions of ten INSERTs of BATCH_ROWS each; `render` turns an item into its row."""
    step = BATCH_ROWS * 10
    for start in range(0, len(items), step):
        chunk = items[start:start + step]
        rows = chunk if render is None else [render(item) for item in chunk]
        await db.transact([InsertRows(table, columns, rows[i:i + BATCH_ROWS]) for i in range(0, len(rows), BATCH_ROWS)])
        await asyncio.sleep(0)


def slices_to_drop(slices: list[tuple[int, int, int]], now: int, keeptime: int, interval: int,
                   protected: int | None) -> list[tuple[int, int]]:
    """(id, time) of the slices to drop, of `slices` = (id, time, end_oper_id) in id order.

    As the original: slices older than `keeptime` go, unless none is younger (then all stay).  Within
    `keeptime`, of the slices an `interval` bucket (time // interval) holds, the first stays and those
    made besides it (slices taken because the log grew long) go.  The newest slice and the `protected`
    one (its time) always stay.
    """
    if not slices:
        return []
    newest = slices[-1][1]
    recent = [s for s in slices if s[1] >= now - keeptime]
    drop: list[tuple[int, int]] = []
    buckets: set[int] = set()
    for slice_id, stamp, _ in slices:
        if stamp in (newest, protected):
            continue
        if stamp < now - keeptime:
            if recent:
                drop.append((slice_id, stamp))
            continue
        bucket = stamp // interval if interval > 0 else stamp
        if bucket in buckets:
            drop.append((slice_id, stamp))
        buckets.add(bucket)
    return drop


async def drop_old_slices(db: Database, now: int, keeptime: int, interval: int, protect_oper_id: int) -> None:
    protected = await newest_slice(db, protect_oper_id)
    rows = await db.fetchall("SELECT `id`, `time`, `end_oper_id` FROM `slice_history` ORDER BY `id`")
    slices = [(int(i), int(t), int(o)) for i, t, o in rows]
    for slice_id, stamp in slices_to_drop(slices, now, keeptime, interval,
                                          protected.time if protected is not None else None):
        for table in SLICE_TABLES:
            await db.execute(f"DROP TABLE IF EXISTS `{slice_table(table, stamp)}`")
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


# ---------------------------------------------------------------- restoring rows (from the database or memory)

def restore_assets(engine: Engine, rows: Sequence[Sequence[Any]], stamp: int) -> None:
    """(id, name, prec_save, prec_show) rows: assets only the slice has are added."""
    for _, name, prec_save, prec_show in rows:
        try:
            engine.add_asset(Asset(name, int(prec_save), int(prec_show)))
        except RpcError as exc:
            raise SliceMismatch(f"slice {stamp}: the config file and the slice disagree: {exc.data}") from None


def restore_markets(engine: Engine, rows: Sequence[Sequence[Any]], stamp: int) -> None:
    """(id, name, definition JSON, last) rows: markets only the slice has are added (in its order), and each
    market gets its last price back."""
    for _, name, definition, last in rows:
        try:
            spec = parse_market(orjson.loads(definition), engine.assets, check_precisions=False)
            engine.add_market(spec, strict=False)
        except DefinitionError as exc:
            raise SliceMismatch(f"slice {stamp}: market {name!r}: {exc}") from None
        except RpcError as exc:
            raise SliceMismatch(f"slice {stamp}: the config file and the slice disagree: {exc.data}") from None
        market = engine.markets[name]
        market.last = market.checked_last = Decimal(last)


def restore_balances(engine: Engine, rows: Sequence[Sequence[Any]], stamp: int) -> None:
    """(user, kind, asset, value text) rows."""
    balances = engine.balances
    for user, kind, asset, value in rows:
        if asset not in engine.assets:
            raise ValueError(f"slice {stamp}: balance of user {user} in unknown asset {asset!r}")
        balances.restore(user, kind, asset, Decimal(value))


def restore_guard(engine: Engine, rows: Sequence[Sequence[Any]]) -> None:
    """(user, asset, business, business_id, time, kind) rows."""
    updates = engine.updates
    for user, asset, business, business_id, at, kind in rows:
        updates[(user, asset, business, int(business_id), int(kind))] = at


def restore_snapshot(engine: Engine, snap: Snapshot, stamp: int = 0) -> None:
    """Apply an in-memory snapshot to an empty engine, through the same functions a slice load uses."""
    restore_assets(engine, _asset_rows(snap), stamp)
    restore_markets(engine, _market_rows(snap), stamp)
    builder = SliceOrders(engine.markets, stamp)
    # in id order, as a slice table is read
    builder.insert([_order_row(o) for o in sorted(snap.orders, key=_first)])
    builder.insert_stops([_stop_row(s) for s in sorted(snap.stops, key=_first)])
    for market in engine.markets.values():
        market.sort_book()
    restore_balances(engine, [(u, k, a, str(v)) for u, k, a, v in snap.balances], stamp)
    restore_guard(engine, snap.updates)
    engine.seq.order_id = snap.order_id
    engine.seq.deal_id = snap.deal_id


def _first(row: tuple[Any, ...]) -> Any:
    return row[0]


# ---------------------------------------------------------------- loading a slice

async def load_slice(db: Database, engine: Engine, info: SliceInfo) -> None:
    """Restore the engine from slice `info` (the engine must be empty)."""
    with collector_paused():  # a million new orders make no reference cycles: scanning them would be waste
        await _load_slice(db, engine, info)


async def _load_slice(db: Database, engine: Engine, info: SliceInfo) -> None:
    stamp = info.time
    # slices from before stops and options have no market table, and their orders and guard fewer columns
    current = await db.table_exists(slice_table(SLICE_MARKET, stamp))
    if current:
        restore_assets(engine, await db.fetchall(
            f"SELECT `id`, `name`, `prec_save`, `prec_show` FROM `{slice_table(SLICE_ASSET, stamp)}` ORDER BY `id`"),
            stamp)
        restore_markets(engine, await db.fetchall(
            f"SELECT `id`, `name`, `definition`, `last` FROM `{slice_table(SLICE_MARKET, stamp)}` ORDER BY `id`"),
            stamp)

    builder = SliceOrders(engine.markets, stamp)
    order_columns = SLICE_ORDER.column_names if current else SLICE_ORDER.column_names[:-2]
    read = partial(_read_json_page, db, slice_table(SLICE_ORDER, stamp), order_columns, _typed_order,
                   ("source", "client_id"))
    # closed on the way out: a bad row stops the load and no page read ahead is left running
    async with aclosing(read_ahead(read, 0, PAGE_ROWS)) as pages:
        async for rows in pages:
            builder.insert(rows)
    if current:
        read = partial(_read_json_page, db, slice_table(SLICE_STOP, stamp), SLICE_STOP.column_names, _typed_stop, ())
        async with aclosing(read_ahead(read, 0, PAGE_ROWS)) as pages:
            async for rows in pages:
                builder.insert_stops(rows)
    for market in engine.markets.values():
        market.sort_book()

    entries = read_pages(db, slice_table(SLICE_BALANCE, stamp), ("id", "user_id", "t", "asset", "balance"),
                         _typed_balance, page=PAGE_ROWS)
    async with aclosing(entries):
        async for rows in entries:
            restore_balances(engine, [row[1:] for row in rows], stamp)

    guard_columns = ("id", "user_id", "asset", "business", "business_id", "time") + (("kind",) if current else ())
    guard = read_pages(db, slice_table(SLICE_UPDATE, stamp), guard_columns, _typed_update, page=PAGE_ROWS)
    async with aclosing(guard):
        async for rows in guard:
            restore_guard(engine, [(*row[1:6], row[6] if current else GUARD_UPDATE) for row in rows])

    engine.seq.order_id = info.end_order_id
    engine.seq.deal_id = info.end_deals_id


_PLAIN_JSON = {"id", "t", "side", "create_time", "update_time", "user_id", "option", "state"}


async def _read_json_page(db: Database, table: str, columns: Sequence[str], typed: Any, nullable: Sequence[str],
                          after_id: int) -> list[Any]:
    """A page of rows: one JSON text where MySQL can send it so, else as read_pages reads it."""
    expressions = [f"`{c}`" if c in _PLAIN_JSON else f"IFNULL(JSON_QUOTE(`{c}`), 'null')" for c in columns]
    rows = await fetch_json_rows(db, table, expressions, after_id, PAGE_ROWS)
    if rows is None:
        rows = await read_page(db, table, columns, typed, after_id, PAGE_ROWS, nullable)
    return rows


# a page's text as the driver would type it (see common.storage.read_pages)

def _typed_order(r: list[Any]) -> tuple[Any, ...]:
    head = (int(r[0]), int(r[1]), int(r[2]), float(r[3]), float(r[4]), int(r[5]), *r[6:17])
    return head if len(r) == 17 else (*head, int(r[17]), r[18])


def _typed_stop(r: list[Any]) -> tuple[Any, ...]:
    return (int(r[0]), int(r[1]), int(r[2]), float(r[3]), float(r[4]), int(r[5]), r[6], r[7], int(r[8]), r[9],
            int(r[10]), *r[11:])


def _typed_balance(r: list[Any]) -> tuple[Any, ...]:
    return int(r[0]), int(r[1]), int(r[2]), r[3], r[4]


def _typed_update(r: list[Any]) -> tuple[Any, ...]:
    head = (int(r[0]), int(r[1]), r[2], r[3], int(r[4]), float(r[5]))
    return head if len(r) == 6 else (*head, int(r[6]))


__all__ = ["SLICE_HISTORY", "SliceInfo", "SliceMismatch", "Snapshot", "ensure_log_tables",
           "load_slice", "newest_slice", "restore_snapshot", "take_snapshot", "write_slice"]
