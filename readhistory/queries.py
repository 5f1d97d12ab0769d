"""The history queries: parameter checks, one parameterised SQL statement each, result shape.

Each `*_query(params)` validates a request exactly as spec/readhistory.md §3
(and, for `order.finished_stop`, spec/extensions.md §1.6) describes (raising `RpcError` "invalid argument") and returns a `Query`: the
SQL text with ``%s`` placeholders, its parameters, and the function that turns
the fetched rows into the result.  The statements are the original's, with
every value passed as a parameter instead of pasted into the text; only the
shard number (an integer computed here) is part of the text.  One asset's
balance history without a business is the exception: a lookup of the asset's
businesses, then the newest rows of each, merged (`BalanceHistory`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from common.errors import invalid_argument
from common.schema import HISTORY_SHARDS

from .params import (
    I64_MAX,
    STOP_QUERY_LIMIT,
    Page,
    read_int32,
    read_order_id,
    read_string,
    read_time_range,
    read_user_id,
    require_count,
)
from .records import Row, balance_record, order_deal_record, order_record, stop_record, user_deal_record

CMD_BALANCE_HISTORY = 103
CMD_ORDER_HISTORY = 208
CMD_ORDER_DEALS = 209
CMD_ORDER_DETAIL_FINISHED = 210
CMD_MARKET_USER_DEALS = 306
CMD_ORDER_FINISHED_STOP = 215

SIDE_ASK = 1
SIDE_BID = 2
SIDE_PROBLEM = "side: must be 0 (both), 1 (ask) or 2 (bid)"

BALANCE_COLUMNS = "`time`, `asset`, `business`, `change`, `balance`, `detail`"
MAX_BUSINESS_BRANCHES = 16
STOP_COLUMNS = ("SELECT `order_id`, `create_time`, `finish_time`, `user_id`, `option`, `market`, `source`, `t`, "
                "`side`, `stop_price`, `price`, `amount`, `taker_fee`, `maker_fee`, `status`, `client_id`")
ORDER_COLUMNS = ("SELECT `id`, `create_time`, `finish_time`, `user_id`, `market`, `source`, `t`, `side`, "
                 "`price`, `amount`, `taker_fee`, `maker_fee`, `deal_stock`, `deal_money`, `deal_fee`")


@dataclass(frozen=True, slots=True)
class Query:
    """One statement to run on the server that holds shard `shard`, and how to shape its rows into the
    reply's result, or, for a lookup, into the `Query` to run next; `sqlite`: the query SQLite runs
    instead, where the two differ."""

    sql: str
    params: tuple[Any, ...]
    shape: Callable[[Sequence[Row]], Any]
    shard: int
    sqlite: Query | None = None


def _shard(key: int) -> int:
    return key % HISTORY_SHARDS


def balance_history_query(params: list[Any]) -> Query:
    """103: `[user_id, asset, business, start_time, end_time, offset, limit]`.  With an asset and no
    business, a lookup of the asset's businesses first (`BalanceHistory`)."""
    require_count(params, 7)
    user_id = read_user_id(params[0])
    asset = read_string(params[1], "asset")
    business = read_string(params[2], "business")
    start, end = read_time_range(params[3], params[4])
    page = Page.read(params[5], params[6])
    request = BalanceHistory(_shard(user_id), user_id, asset, start, end, page)
    if asset and not business:
        return request.lookup()
    return request.plain(business)


@dataclass(frozen=True, slots=True)
class BalanceHistory:
    """A page of one user's balance history: `plain` is the original's statement; for one asset without a
    business, `lookup` lists the asset's businesses, then `merged` reads the newest rows of each.

    balance_history has one secondary index, (user_id, asset, business), where the original also has
    (user_id, asset): a row written then costs one index entry less, and the ~2,000 hot pages fewer an
    exchange's shards keep in MySQL's buffer pool cut the history's MySQL CPU (docs/deviations.md).
    That index alone gives the rows of one asset newest first only per business: a plain ORDER BY over
    the asset would sort all of its rows."""

    shard: int
    user_id: int
    asset: str
    start: int
    end: int
    page: Page

    @property
    def table(self) -> str:
        return f"`balance_history_{self.shard}`"

    def plain(self, business: str) -> Query:
        """The original's statement: every row that matches, sorted newest first."""
        where, args = self._where(business)
        tail, tail_args = self.page.sql()
        return Query(f"SELECT {BALANCE_COLUMNS} FROM {self.table} WHERE {where}{tail}", (*args, *tail_args),
                     self._shape, self.shard)

    def lookup(self) -> Query:
        """The asset's businesses (up to one more than MAX_BUSINESS_BRANCHES); its shape is the page itself
        (`merged`).  MariaDB lists them with a loose index scan, one seek per business; it plans one only
        for ranges, not for `=` (which reads every index entry of the asset), hence `BETWEEN x AND x`.
        SQLite has no loose scan: it seeks them one MIN at a time (`seek`).  Groups and `=` compare by the
        column's collation, so the businesses found split the rows exactly."""
        sql = (f"SELECT `business` FROM {self.table} WHERE `user_id` BETWEEN %s AND %s "
               "AND `asset` BETWEEN %s AND %s GROUP BY `user_id`, `asset`, `business` LIMIT %s")
        return Query(sql, (self.user_id, self.user_id, self.asset, self.asset, MAX_BUSINESS_BRANCHES + 1),
                     lambda rows: self.merged([row[0] for row in rows]), self.shard, sqlite=self.seek(()))

    def seek(self, found: tuple[str, ...]) -> Query:
        """The next business of the asset after those `found` (one index seek); its shape is the next seek,
        or, once there is no other business (or more than MAX_BUSINESS_BRANCHES), the page itself."""
        sql = f"SELECT MIN(`business`) FROM {self.table} WHERE `user_id` = %s AND `asset` = %s"
        params: tuple[Any, ...] = (self.user_id, self.asset)
        if found:
            sql += " AND `business` > %s"
            params += (found[-1],)

        def next_query(rows: Sequence[Row]) -> Query:
            business = rows[0][0] if rows else None
            if business is None:
                return self.merged(found)
            if len(found) == MAX_BUSINESS_BRANCHES:
                return self.merged((*found, business))
            return self.seek((*found, str(business)))

        return Query(sql, params, next_query, self.shard)

    def merged(self, businesses: Sequence[str]) -> Query:
        """The page over the given businesses: each business's newest `offset + limit` rows read along the
        index, then merged newest first.  Beyond MAX_BUSINESS_BRANCHES businesses (or none), the plain
        statement.  A business first written between the lookup and this statement shows from the next
        query on."""
        if len(businesses) > MAX_BUSINESS_BRANCHES or not businesses:
            return self.plain("")
        branch_limit = min(self.page.offset + self.page.limit, I64_MAX)
        branches: list[str] = []
        params: list[Any] = []
        for number, business in enumerate(businesses):
            where, args = self._where(business)
            branches.append(f"SELECT * FROM (SELECT `id`, {BALANCE_COLUMNS} FROM {self.table} WHERE {where} "
                            f"ORDER BY `id` DESC LIMIT %s) AS `b{number}`")
            params.extend((*args, branch_limit))
        tail, tail_args = self.page.sql()
        sql = f"SELECT {BALANCE_COLUMNS} FROM (" + " UNION ALL ".join(branches) + f") AS `u`{tail}"
        return Query(sql, (*params, *tail_args), self._shape, self.shard)

    def _where(self, business: str) -> tuple[str, list[Any]]:
        """The filters, in the original's order."""
        where = "`user_id` = %s"
        args: list[Any] = [self.user_id]
        if self.asset:
            where += " AND `asset` = %s"
            args.append(self.asset)
        if business:
            where += " AND `business` = %s"
            args.append(business)
        if self.start:
            where += " AND `time` >= %s"
            args.append(self.start)
        if self.end:
            where += " AND `time` < %s"
            args.append(self.end)
        return where, args

    def _shape(self, rows: Sequence[Row]) -> Any:
        return self.page.wrap([balance_record(r) for r in rows])


def order_history_query(params: list[Any]) -> Query:
    """208: `[user_id, market, start_time, end_time, offset, limit, side?]`; later elements are ignored."""
    require_count(params, 6, at_least=True)
    user_id = read_user_id(params[0])
    market = read_string(params[1], "market")
    start, end = read_time_range(params[2], params[3])
    page = Page.read(params[4], params[5])
    side = read_int32(params[6], "side") if len(params) >= 7 else 0
    if side not in (0, SIDE_ASK, SIDE_BID):
        raise invalid_argument(SIDE_PROBLEM)
    shard = _shard(user_id)
    sql = f"{ORDER_COLUMNS} FROM `order_history_{shard}` WHERE `user_id` = %s AND `market` = %s"
    args: list[Any] = [user_id, market]
    if side:
        sql += " AND `side` = %s"
        args.append(side)
    if start:
        sql += " AND `create_time` >= %s"
        args.append(start)
    if end:
        sql += " AND `create_time` < %s"
        args.append(end)
    tail, tail_args = page.sql()
    return Query(sql + tail, (*args, *tail_args), lambda rows: page.wrap([order_record(r) for r in rows]), shard)


def order_deals_query(params: list[Any]) -> Query:
    """209: `[order_id, offset, limit]`."""
    require_count(params, 3)
    order_id = read_order_id(params[0])
    page = Page.read(params[1], params[2])
    tail, tail_args = page.sql()
    shard = _shard(order_id)
    sql = ("SELECT `time`, `user_id`, `deal_id`, `role`, `price`, `amount`, `deal`, `fee`, `deal_order_id` "
           f"FROM `deal_history_{shard}` WHERE `order_id` = %s{tail}")
    return Query(sql, (order_id, *tail_args), lambda rows: page.wrap([order_deal_record(r) for r in rows]), shard)


def finished_order_query(params: list[Any]) -> Query:
    """210: `[order_id]`; the order's record, or null when there is none."""
    require_count(params, 1)
    order_id = read_order_id(params[0])
    shard = _shard(order_id)
    sql = f"{ORDER_COLUMNS} FROM `order_detail_{shard}` WHERE `id` = %s"
    return Query(sql, (order_id,), lambda rows: order_record(rows[0], order_id) if rows else None, shard)


def market_user_deals_query(params: list[Any]) -> Query:
    """306: `[user_id, market, offset, limit]`; no time filter."""
    require_count(params, 4)
    user_id = read_user_id(params[0])
    market = read_string(params[1], "market")
    page = Page.read(params[2], params[3])
    tail, tail_args = page.sql()
    shard = _shard(user_id)
    sql = ("SELECT `time`, `user_id`, `deal_id`, `side`, `role`, `price`, `amount`, `deal`, `fee`, "
           f"`deal_order_id`, `market` FROM `user_deal_history_{shard}` "
           f"WHERE `user_id` = %s AND `market` = %s{tail}")
    return Query(sql, (user_id, market, *tail_args),
                 lambda rows: page.wrap([user_deal_record(r) for r in rows]), shard)


def finished_stop_query(params: list[Any]) -> Query:
    """215: `[user_id, market ("" = all), side (0 both), start_time, end_time, offset, limit (1..1001)]`: the
    user's fired stops, newest created first (spec/extensions.md §1.6, without the fork's account)."""
    require_count(params, 7)
    user_id = read_user_id(params[0])
    market = read_string(params[1], "market")
    side = read_int32(params[2], "side")
    if side not in (0, SIDE_ASK, SIDE_BID):
        raise invalid_argument(SIDE_PROBLEM)
    start, end = read_time_range(params[3], params[4])
    page = Page.read(params[5], params[6], STOP_QUERY_LIMIT)
    shard = _shard(user_id)
    sql = f"{STOP_COLUMNS} FROM `stop_history_{shard}` WHERE `user_id` = %s"
    args: list[Any] = [user_id]
    if market:
        sql += " AND `market` = %s"
        args.append(market)
    if side:
        sql += " AND `side` = %s"
        args.append(side)
    if start:
        sql += " AND `create_time` >= %s"
        args.append(start)
    if end:
        sql += " AND `create_time` < %s"
        args.append(end)
    tail, tail_args = page.sql("`create_time` DESC, `id` DESC")
    return Query(sql + tail, (*args, *tail_args), lambda rows: page.wrap([stop_record(r) for r in rows]), shard)


QUERIES: dict[int, Callable[[list[Any]], Query]] = {
    CMD_BALANCE_HISTORY: balance_history_query,
    CMD_ORDER_HISTORY: order_history_query,
    CMD_ORDER_DEALS: order_deals_query,
    CMD_ORDER_DETAIL_FINISHED: finished_order_query,
    CMD_MARKET_USER_DEALS: market_user_deals_query,
    CMD_ORDER_FINISHED_STOP: finished_stop_query,
}
