"""User history rows (spec/matchengine.md §12), built as the core reports what happened.

`HistoryRows` is the history half of the publisher's listener: it turns each
event into row tuples for the sharded tables of `trade_history`, grouped by
table, ready for one multi-row INSERT per table.  Decimal values are written
as the exact text the MySQL DECIMAL column holds (rounded half away from zero
to the column's scale), so MySQL and SQLite store and return the same text.
Rows are kept as tuples, or as the text of their VALUES tuple in MySQL's or
SQLite's quoting (`HistoryRows.sql_text`, `HistoryRows.sqlite_sql`).
Strings longer than their VARCHAR column are cut to it (MySQL's non-strict
behaviour) rather than stalling the writer on a strict-mode error.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from typing import Final

import orjson

from common.decimals import column_text, fmt
from common.schema import HISTORY_SHARDS
from common.sqltext import escape_text as _esc
from common.sqltext import sqlite_int, sqlite_real, sqlite_text

from .order import ASK, BID, MAKER, TAKER, Order
from .stops import Stop
from .texts import FMT, DecimalTexts, FloatTexts, column_text_of, float_repr, sql_quoted, sqlite_quoted

BALANCE_COLUMNS = ("time", "user_id", "asset", "business", "change", "balance", "detail")
ORDER_COLUMNS = ("id", "create_time", "finish_time", "user_id", "market", "source", "t", "side", "price", "amount",
                 "taker_fee", "maker_fee", "deal_stock", "deal_money", "deal_fee")
DEAL_COLUMNS = ("time", "user_id", "deal_id", "order_id", "deal_order_id", "role", "price", "amount", "deal", "fee",
                "deal_fee")
USER_DEAL_COLUMNS = ("time", "user_id", "market", "deal_id", "order_id", "deal_order_id", "side", "role", "price",
                     "amount", "deal", "fee", "deal_fee")
STOP_COLUMNS = ("order_id", "create_time", "finish_time", "user_id", "market", "source", "client_id", "option", "t",
                "side", "stop_price", "price", "amount", "taker_fee", "maker_fee", "status")

VARCHAR: Final = 30

_BALANCE_TABLES: Final = [f"balance_history_{i}" for i in range(HISTORY_SHARDS)]
_ORDER_TABLES: Final = [f"order_history_{i}" for i in range(HISTORY_SHARDS)]
_DETAIL_TABLES: Final = [f"order_detail_{i}" for i in range(HISTORY_SHARDS)]
_DEAL_TABLES: Final = [f"deal_history_{i}" for i in range(HISTORY_SHARDS)]
_USER_DEAL_TABLES: Final = [f"user_deal_history_{i}" for i in range(HISTORY_SHARDS)]
_STOP_TABLES: Final = [f"stop_history_{i}" for i in range(HISTORY_SHARDS)]


BalanceRow = tuple[float, int, str, str, str, str, str]
OrderRow = tuple[int, float, float, int, str, str, int, int, str, str, str, str, str, str, str]
DealRow = tuple[float, int, int, int, int, int, str, str, str, str, str]
UserDealRow = tuple[float, int, str, int, int, int, int, int, str, str, str, str, str]
StopRow = tuple[int, float, float, int, str, str, str, int, int, int, str, str, str, str, str, int]


_TIME_TEXT: Final = FloatTexts(float_repr)
_REAL_TEXT: Final = FloatTexts(sqlite_real)
# an order's price and amount (scale 8) and fee rates (scale 4), a deal's price (its maker's)
_SCALE8: Final = DecimalTexts(8)
_SCALE4: Final = DecimalTexts(4)
_FEE_RATE: Final = DecimalTexts(FMT)


# The row renderers take typed values and no conversion inside the f-string: with `!r` there, or on
# items of an untyped tuple, mypyc's f-strings cost ten times as much.
def _balance_sql(r: BalanceRow) -> str:
    at, user, asset, business, change, balance, detail = r
    return f"({_TIME_TEXT.of(at)},{user},'{_esc(asset)}','{_esc(business)}',{change},{balance},'{_esc(detail)}')"


def _order_sql(r: OrderRow) -> str:
    order_id, ctime, ftime, user, market, source, kind, side, price, amount, taker, maker, stock, money, fee = r
    return (f"({order_id},{_TIME_TEXT.of(ctime)},{_TIME_TEXT.of(ftime)},{user},'{_esc(market)}','{_esc(source)}',{kind},{side},"
            f"{price},{amount},{taker},{maker},{stock},{money},{fee})")


def _deal_sql(r: DealRow) -> str:
    at, user, deal_id, order_id, deal_order_id, role, price, amount, deal, fee, deal_fee = r
    return (f"({_TIME_TEXT.of(at)},{user},{deal_id},{order_id},{deal_order_id},{role},{price},{amount},{deal},"
            f"{fee},{deal_fee})")


def _user_deal_sql(r: UserDealRow) -> str:
    at, user, market, deal_id, order_id, deal_order_id, side, role, price, amount, deal, fee, deal_fee = r
    return (f"({_TIME_TEXT.of(at)},{user},'{_esc(market)}',{deal_id},{order_id},{deal_order_id},{side},{role},"
            f"{price},{amount},{deal},{fee},{deal_fee})")


def _stop_sql(r: StopRow) -> str:
    stop_id, ctime, ftime, user, market, source, client_id, option, kind, side, stop_price, price, amount, taker, \
        maker, status = r
    created = repr(ctime)
    return (f"({stop_id},{created},{_TIME_TEXT.of(ftime)},{user},'{_esc(market)}','{_esc(source)}',"
            f"'{_esc(client_id)}',{option},{kind},{side},{stop_price},{price},{amount},{taker},{maker},{status})")


# The same rows in SQLite's quoting, stored as executemany stores the tuples: decimal column text and names
# as TEXT, times as the exact REAL (FloatTexts(sqlite_real)), integers checked to 64 bits.
def _balance_sqlite(r: BalanceRow) -> str:
    at, user, asset, business, change, balance, detail = r
    return (f"({_REAL_TEXT.of(at)},{sqlite_int(user)},{sqlite_quoted(asset)},{sqlite_text(business)},"
            f"{sqlite_text(change)},{sqlite_text(balance)},{sqlite_text(detail)})")


def _stop_sqlite(r: StopRow) -> str:
    stop_id, ctime, ftime, user, market, source, client_id, option, kind, side, stop_price, price, amount, taker, \
        maker, status = r
    return (f"({sqlite_int(stop_id)},{_REAL_TEXT.of(ctime)},{_REAL_TEXT.of(ftime)},{sqlite_int(user)},"
            f"{sqlite_quoted(market)},{sqlite_text(source)},{sqlite_text(client_id)},{sqlite_int(option)},"
            f"{sqlite_int(kind)},{sqlite_int(side)},'{stop_price}','{price}','{amount}','{taker}','{maker}',"
            f"{sqlite_int(status)})")


def columns_of(table: str) -> tuple[str, ...]:
    return shape_of(table)[0]


def shape_of(table: str) -> tuple[tuple[str, ...], Callable[[tuple], str]]:
    """The columns of a history table and the MySQL literal of one of its rows.

    Rows hold ints, floats, names (escaped here) and decimal column text
    (digits, sign and point only), which goes in as an exact numeric literal.
    """
    if table.startswith("balance_history_"):
        return BALANCE_COLUMNS, _balance_sql
    if table.startswith(("order_history_", "order_detail_")):
        return ORDER_COLUMNS, _order_sql
    if table.startswith("deal_history_"):
        return DEAL_COLUMNS, _deal_sql
    if table.startswith("stop_history_"):
        return STOP_COLUMNS, _stop_sql
    return USER_DEAL_COLUMNS, _user_deal_sql


def _detail_text(detail: dict[str, object]) -> str:
    """JSON text with the original's separators (`, ` and `: `), keys in insertion order."""
    return json.dumps(detail, ensure_ascii=False, separators=(", ", ": "))


class HistoryRows:
    """Collects history rows per table until the writer takes them.

    With `sql_text` (every history database is MySQL) each row is kept as the
    text of its VALUES tuple, rendered as it is made: one pass, the rows of an
    operation rendered together (they share its time), and no tuples left for
    the collector to track and free.  `sqlite_sql` (every history database is
    SQLite) does the same in SQLite's quoting, each value written as binding it
    would store it.  Otherwise rows are tuples, bound as parameters.
    """

    def __init__(self) -> None:
        self.tables: dict[str, list[object]] = defaultdict(list)
        self.sql_text = False
        self.sqlite_sql = False
        self.count = 0
        self._price: Decimal | None = None
        self._amount: Decimal | None = None
        self._market = ""
        self._detail_head = ""
        self._detail_tail = ""
        self._detail_plain = True

    def take(self) -> dict[str, list[object]]:
        tables, self.tables = self.tables, defaultdict(list)
        self.count = 0
        return tables

    def balance_updated(self, time: float, user: int, asset: str, business: str, change: Decimal,
                        balance: Decimal, detail: dict[str, object]) -> None:
        row: BalanceRow = (time, user, asset, business[:VARCHAR], column_text(change, 8), column_text(balance, 16),
                           _detail_text(detail))
        kept: object = _balance_sql(row) if self.sql_text else _balance_sqlite(row) if self.sqlite_sql else row
        self.tables[_BALANCE_TABLES[user % HISTORY_SHARDS]].append(kept)
        self.count += 1

    def trade_balance(self, time: float, user: int, asset: str, change: Decimal, balance: Decimal, market: str,
                      order_id: int, price: Decimal, amount: Decimal, fee_rate: Decimal | None) -> None:
        # the six rows of one deal share market, price and amount: format them once
        if price is not self._price or amount is not self._amount or market is not self._market:
            self._price, self._amount, self._market = price, amount, market
            self._detail_head = f'{{"a": "{fmt(amount)}", '
            self._detail_tail = f'"m": {orjson.dumps(market).decode()}, "p": "{fmt(price)}"}}'
            # the fee rate and order id between them hold nothing that escaping changes
            both = self._detail_head + self._detail_tail
            self._detail_plain = ("'" not in both and "\x00" not in both) if self.sqlite_sql else _esc(both) == both
        if fee_rate is None:
            detail = f'{self._detail_head}"i": {order_id}, {self._detail_tail}'
        else:
            detail = f'{self._detail_head}"f": "{_FEE_RATE.of(fee_rate)}", "i": {order_id}, {self._detail_tail}'
        table = self.tables[_BALANCE_TABLES[user % HISTORY_SHARDS]]
        if self.sql_text:  # as _balance_sql renders the row
            table.append(f"({_TIME_TEXT.of(time)},{user},{sql_quoted(asset)},'trade',{column_text_of(change, 8)},"
                         f"{column_text_of(balance, 16)},'{detail if self._detail_plain else _esc(detail)}')")
        elif self.sqlite_sql:  # as _balance_sqlite renders the row
            quoted = f"'{detail}'" if self._detail_plain else sqlite_text(detail)
            table.append(f"({_REAL_TEXT.of(time)},{sqlite_int(user)},{sqlite_quoted(asset)},'trade',"
                         f"'{column_text_of(change, 8)}','{column_text_of(balance, 16)}',{quoted})")
        else:
            row: BalanceRow = (time, user, asset, "trade", column_text(change, 8), column_text(balance, 16), detail)
            table.append(row)
        self.count += 1

    def deal(self, time: float, market: str, deal_id: int, ask: Order, bid: Order, taker_side: int,
             price: Decimal, amount: Decimal, deal: Decimal, ask_fee: Decimal, bid_fee: Decimal,
             stock: str, money: str) -> None:
        ask_role = TAKER if taker_side == ASK else MAKER
        bid_role = MAKER if taker_side == ASK else TAKER
        if self.sql_text or self.sqlite_sql:
            self._deal_text(self.sqlite_sql, time, market, deal_id, ask, bid, ask_role, bid_role, price, amount,
                            deal, ask_fee, bid_fee)
            return
        p, a, d = column_text(price, 8), column_text(amount, 8), column_text(deal, 16)
        af, bf = column_text(ask_fee, 16), column_text(bid_fee, 16)
        tables = self.tables
        ask_deal: DealRow = (time, ask.user, deal_id, ask.id, bid.id, ask_role, p, a, d, af, bf)
        bid_deal: DealRow = (time, bid.user, deal_id, bid.id, ask.id, bid_role, p, a, d, bf, af)
        ask_user: UserDealRow = (time, ask.user, market, deal_id, ask.id, bid.id, ASK, ask_role, p, a, d, af, bf)
        bid_user: UserDealRow = (time, bid.user, market, deal_id, bid.id, ask.id, BID, bid_role, p, a, d, bf, af)
        tables[_DEAL_TABLES[ask.id % HISTORY_SHARDS]].append(ask_deal)
        tables[_DEAL_TABLES[bid.id % HISTORY_SHARDS]].append(bid_deal)
        tables[_USER_DEAL_TABLES[ask.user % HISTORY_SHARDS]].append(ask_user)
        tables[_USER_DEAL_TABLES[bid.user % HISTORY_SHARDS]].append(bid_user)
        self.count += 4

    def _deal_text(self, sqlite: bool, time: float, market: str, deal_id: int, ask: Order, bid: Order,
                   ask_role: int, bid_role: int, price: Decimal, amount: Decimal, deal: Decimal, ask_fee: Decimal,
                   bid_fee: Decimal) -> None:
        """The four rows of `deal` as text, their shared parts once: MySQL's, as _deal_sql and _user_deal_sql
        render them, or with `sqlite` SQLite's, stored as the tuples of `deal` are (decimals quoted: TEXT)."""
        if sqlite:
            t, q, m = _REAL_TEXT.of(time), "'", sqlite_quoted(market)
            ask_user, bid_user = sqlite_int(ask.user), sqlite_int(bid.user)
            ask_id, bid_id, deal_text = sqlite_int(ask.id), sqlite_int(bid.id), sqlite_int(deal_id)
        else:
            t, q, m = _TIME_TEXT.of(time), "", sql_quoted(market)
            ask_user, bid_user = str(ask.user), str(bid.user)
            ask_id, bid_id, deal_text = str(ask.id), str(bid.id), str(deal_id)
        values = f"{q}{_SCALE8.of(price)}{q},{q}{column_text_of(amount, 8)}{q},{q}{column_text_of(deal, 16)}{q},"
        af, bf = f"{q}{column_text_of(ask_fee, 16)}{q}", f"{q}{column_text_of(bid_fee, 16)}{q}"
        ask_tail = f"{values}{af},{bf})"
        bid_tail = f"{values}{bf},{af})"
        tables = self.tables
        tables[_DEAL_TABLES[ask.id % HISTORY_SHARDS]].append(
            f"({t},{ask_user},{deal_text},{ask_id},{bid_id},{ask_role},{ask_tail}")
        tables[_DEAL_TABLES[bid.id % HISTORY_SHARDS]].append(
            f"({t},{bid_user},{deal_text},{bid_id},{ask_id},{bid_role},{bid_tail}")
        tables[_USER_DEAL_TABLES[ask.user % HISTORY_SHARDS]].append(
            f"({t},{ask_user},{m},{deal_text},{ask_id},{bid_id},{ASK},{ask_role},{ask_tail}")
        tables[_USER_DEAL_TABLES[bid.user % HISTORY_SHARDS]].append(
            f"({t},{bid_user},{m},{deal_text},{bid_id},{ask_id},{BID},{bid_role},{bid_tail}")
        self.count += 4

    def order_event(self, event: int, order: Order, stock: str, money: str) -> None:
        """Order messages are not history."""

    def order_finished(self, order: Order) -> None:
        if self.sql_text:  # as _order_sql renders the row
            kept: object = (
                f"({order.id},{_TIME_TEXT.of(order.ctime)},{_TIME_TEXT.of(order.mtime)},{order.user},"
                f"{sql_quoted(order.market)},{sql_quoted((order.source or '')[:VARCHAR])},{order.type},{order.side},"
                f"{_SCALE8.of(order.price)},{_SCALE8.of(order.amount)},{_SCALE4.of(order.taker_fee)},"
                f"{_SCALE4.of(order.maker_fee)},{column_text_of(order.deal_stock, 8)},"
                f"{column_text_of(order.deal_money, 16)},{column_text_of(order.deal_fee, 16)})")
        elif self.sqlite_sql:  # as _balance_sqlite and _stop_sqlite render theirs
            kept = (
                f"({sqlite_int(order.id)},{_REAL_TEXT.of(order.ctime)},{_REAL_TEXT.of(order.mtime)},"
                f"{sqlite_int(order.user)},{sqlite_quoted(order.market)},{sqlite_text((order.source or '')[:VARCHAR])},"
                f"{sqlite_int(order.type)},{sqlite_int(order.side)},'{_SCALE8.of(order.price)}',"
                f"'{_SCALE8.of(order.amount)}','{_SCALE4.of(order.taker_fee)}','{_SCALE4.of(order.maker_fee)}',"
                f"'{column_text_of(order.deal_stock, 8)}','{column_text_of(order.deal_money, 16)}',"
                f"'{column_text_of(order.deal_fee, 16)}')")
        else:
            kept = self._order_row(order)
        self.tables[_ORDER_TABLES[order.user % HISTORY_SHARDS]].append(kept)
        self.tables[_DETAIL_TABLES[order.id % HISTORY_SHARDS]].append(kept)
        self.count += 2

    @staticmethod
    def _order_row(order: Order) -> OrderRow:
        return (
            order.id, order.ctime, order.mtime, order.user, order.market, (order.source or "")[:VARCHAR], order.type,
            order.side, column_text(order.price, 8), column_text(order.amount, 8), column_text(order.taker_fee, 4),
            column_text(order.maker_fee, 4), column_text(order.deal_stock, 8), column_text(order.deal_money, 16),
            column_text(order.deal_fee, 16))

    def balance_locked(self, time: float, user: int, asset: str, business: str) -> None:
        """A lock leaves the total unchanged: no balance history."""

    def stop_event(self, event: int, stop: Stop, status: int, stock: str, money: str) -> None:
        """Stop messages are not history."""

    def stop_finished(self, stop: Stop, status: int) -> None:
        row: StopRow = (stop.id, stop.ctime, stop.mtime, stop.user, stop.market, stop.source[:VARCHAR],
                        stop.client_id, stop.option, stop.type, stop.side, column_text(stop.stop_price, 8),
                        column_text(stop.price, 8), column_text(stop.amount, 8), column_text(stop.taker_fee, 4),
                        column_text(stop.maker_fee, 4), status)
        kept: object = _stop_sql(row) if self.sql_text else _stop_sqlite(row) if self.sqlite_sql else row
        self.tables[_STOP_TABLES[stop.user % HISTORY_SHARDS]].append(kept)
        self.count += 1
