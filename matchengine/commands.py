"""The matchengine's RPC commands: parameter rules of http-api.md §4, then the core.

`Commands` turns a decoded JSON params list into a call on the `Engine` and
the JSON result.  Write commands also return the operation-log entry
(method name and params) that makes them replayable; `replay` runs such an
entry through the very same code.  Every malformed parameter is error 1.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

import orjson

from common.decimals import ONE, ZERO, parse_decimal
from common.errors import RpcError

from .engine import Engine
from .market import Market
from .order import ASK, BID, Order

U32: Final = 0xFFFF_FFFF
U64: Final = 0xFFFF_FFFF_FFFF_FFFF
QUERY_LIMIT: Final = 101
SOURCE_MAX_BYTES: Final = 30

CMD_BALANCE_QUERY = 101
CMD_BALANCE_UPDATE = 102
CMD_ASSET_LIST = 104
CMD_ASSET_SUMMARY = 105
CMD_ORDER_PUT_LIMIT = 201
CMD_ORDER_PUT_MARKET = 202
CMD_ORDER_QUERY = 203
CMD_ORDER_CANCEL = 204
CMD_ORDER_BOOK = 205
CMD_ORDER_BOOK_DEPTH = 206
CMD_ORDER_DETAIL = 207
CMD_MARKET_LIST = 307
CMD_MARKET_SUMMARY = 308

WRITE_COMMANDS = frozenset({CMD_BALANCE_UPDATE, CMD_ORDER_PUT_LIMIT, CMD_ORDER_PUT_MARKET, CMD_ORDER_CANCEL})

# operation-log method names (spec/matchengine.md §8.1)
OP_UPDATE_BALANCE: Final = "update_balance"
OP_LIMIT_ORDER: Final = "limit_order"
OP_MARKET_ORDER: Final = "market_order"
OP_CANCEL_ORDER: Final = "cancel_order"

LogEntry = tuple[str, list[Any]]


class ReplayError(Exception):
    """An operation-log entry that cannot be applied again."""


def cannot_replay(oper_id: int, text: str, reason: object) -> ReplayError:
    """The error that stops a start at operation `oper_id` (its detail `text`, shortened)."""
    return ReplayError(f"cannot replay operation {oper_id} ({text[:200]!r}): {reason}")


def _invalid() -> RpcError:
    return RpcError(1)


def _int(value: object) -> int:
    if type(value) is not int:
        raise _invalid()
    return value


def _str(value: object) -> str:
    if type(value) is not str:
        raise _invalid()
    return value


def _decimal(value: object, prec: int) -> Decimal:
    parsed = parse_decimal(value, prec)
    if parsed is None:
        raise _invalid()
    return parsed


def _side(value: object) -> int:
    side = _int(value)
    if side != ASK and side != BID:
        raise _invalid()
    return side


def _fee(value: object, prec: int) -> Decimal:
    fee = _decimal(value, prec)
    if fee < ZERO or fee >= ONE:
        raise _invalid()
    return fee


def _source(value: object) -> str:
    source = _str(value)
    if len(source) > SOURCE_MAX_BYTES or len(source.encode()) > SOURCE_MAX_BYTES:
        raise _invalid()
    return source


def _limit(value: object) -> int:
    limit = _int(value) & U64
    if limit > QUERY_LIMIT:
        raise _invalid()
    return limit


class Commands:
    """Parameter checking and dispatch for every matchengine command."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.reads: dict[int, Callable[[list[Any]], Any]] = {
            CMD_BALANCE_QUERY: self.balance_query,
            CMD_ASSET_LIST: self.asset_list,
            CMD_ASSET_SUMMARY: self.asset_summary,
            CMD_ORDER_QUERY: self.order_pending,
            CMD_ORDER_BOOK: self.order_book,
            CMD_ORDER_BOOK_DEPTH: self.order_depth,
            CMD_ORDER_DETAIL: self.order_pending_detail,
            CMD_MARKET_LIST: self.market_list,
            CMD_MARKET_SUMMARY: self.market_summary,
        }
        self.writes: dict[int, Callable[[list[Any], float], tuple[Any, LogEntry]]] = {
            CMD_BALANCE_UPDATE: self.balance_update,
            CMD_ORDER_PUT_LIMIT: self.put_limit,
            CMD_ORDER_PUT_MARKET: self.put_market,
            CMD_ORDER_CANCEL: self.cancel,
        }

    def _market(self, value: object) -> Market:
        market = self.engine.markets.get(value) if type(value) is str else None
        if market is None:
            raise _invalid()
        return market

    def _asset(self, value: object) -> str:
        if type(value) is not str or value not in self.engine.assets:
            raise _invalid()
        return value

    # ------------------------------------------------------------ writes

    def balance_update(self, params: list[Any], time: float) -> tuple[Any, LogEntry]:
        if len(params) != 6:
            raise _invalid()
        user = _int(params[0]) & U32
        asset = self._asset(params[1])
        business = _str(params[2])
        business_id = _int(params[3]) & U64
        change = _decimal(params[4], self.engine.assets[asset].prec_show)
        detail = params[5]
        if type(detail) is not dict:
            raise _invalid()
        detail = dict(detail)
        detail["id"] = business_id - (1 << 64) if business_id >> 63 else business_id
        self.engine.update_balance(time, user, asset, business, business_id, change, detail)
        logged = [params[0], params[1], params[2], params[3], params[4], detail]
        return {"status": "success"}, (OP_UPDATE_BALANCE, logged)

    def put_limit(self, params: list[Any], time: float) -> tuple[Any, LogEntry]:
        return self._put_limit(params, time).to_json(), (OP_LIMIT_ORDER, params)

    def put_market(self, params: list[Any], time: float) -> tuple[Any, LogEntry]:
        return self._put_market(params, time).to_json(), (OP_MARKET_ORDER, params)

    def cancel(self, params: list[Any], time: float) -> tuple[Any, LogEntry]:
        if len(params) != 3:
            raise _invalid()
        user = _int(params[0]) & U32
        market = self._market(params[1])
        order_id = _int(params[2]) & U64
        return market.cancel(user, order_id).to_json(), (OP_CANCEL_ORDER, params)

    def _order_head(self, params: list[Any], count: int) -> tuple[int, Market, int, Decimal]:
        """user, market, side and amount: the first four parameters of both order commands."""
        if len(params) != count:
            raise _invalid()
        user = _int(params[0]) & U32
        market = self._market(params[1])
        side = _side(params[2])
        amount = _decimal(params[3], market.spec.stock_prec)
        if amount <= ZERO:
            raise _invalid()
        return user, market, side, amount

    def _put_limit(self, params: list[Any], time: float) -> Order:
        user, market, side, amount = self._order_head(params, 8)
        spec = market.spec
        price = _decimal(params[4], spec.money_prec)
        if price <= ZERO:
            raise _invalid()
        taker_fee = _fee(params[5], spec.fee_prec)
        maker_fee = _fee(params[6], spec.fee_prec)
        source = _source(params[7])
        return market.put_limit(time, user, side, amount, price, taker_fee, maker_fee, source)

    def _put_market(self, params: list[Any], time: float) -> Order:
        user, market, side, amount = self._order_head(params, 6)
        taker_fee = _fee(params[4], market.spec.fee_prec)
        source = _source(params[5])
        return market.put_market(time, user, side, amount, taker_fee, source)

    def replay_all(self, operations: list[tuple[int, float, Any]]) -> None:
        """Apply decoded operation-log entries (id, time, {"method", "params"}) in order;
        ReplayError naming the first one that does not apply as it did."""
        for oper_id, at, entry in operations:
            try:
                self.replay(entry["method"], entry["params"], at)
            except Exception as exc:
                raise cannot_replay(oper_id, orjson.dumps(entry).decode(), exc) from None

    def replay(self, method: str, params: object, time: float) -> None:
        """Apply one operation-log entry again; ReplayError if it does not apply as it did."""
        if type(params) is not list:
            raise ReplayError(f"params of {method!r} are not a list")
        try:
            if method == OP_LIMIT_ORDER:
                self._put_limit(params, time)
            elif method == OP_UPDATE_BALANCE:
                self.balance_update(params, time)
            elif method == OP_CANCEL_ORDER:
                if len(params) != 3:
                    raise _invalid()
                self._market(params[1]).cancel_unchecked(_int(params[2]) & U64)
            elif method == OP_MARKET_ORDER:
                self._put_market(params, time)
            else:
                raise ReplayError(f"unknown method {method!r}")
        except RpcError as exc:
            raise ReplayError(f"{method} failed with error {exc.code} ({exc.message})") from None

    # ------------------------------------------------------------ reads

    def balance_query(self, params: list[Any]) -> Any:
        if not params:
            raise _invalid()
        user = _int(params[0]) & U32
        if user == 0:
            raise _invalid()
        if len(params) == 1:
            return self.engine.balance_query(user, self.engine.assets)
        return self.engine.balance_query(user, [self._asset(p) for p in params[1:]])

    def asset_list(self, params: list[Any]) -> Any:
        return self.engine.asset_list()

    def asset_summary(self, params: list[Any]) -> Any:
        names = [self._asset(p) for p in params] if params else list(self.engine.assets)
        return self.engine.asset_summary(names)

    def order_pending(self, params: list[Any]) -> Any:
        if len(params) != 4:
            raise _invalid()
        user = _int(params[0]) & U32
        market = self._market(params[1])
        offset = _int(params[2]) & U64
        limit = _limit(params[3])
        return market.pending(user, offset, limit)

    def order_book(self, params: list[Any]) -> Any:
        if len(params) != 4:
            raise _invalid()
        market = self._market(params[0])
        side = _side(params[1])
        offset = _int(params[2]) & U64
        limit = _limit(params[3])
        return market.book(side, offset, limit)

    def depth_args(self, params: list[Any]) -> tuple[Market, int, Decimal]:
        if len(params) != 3:
            raise _invalid()
        market = self._market(params[0])
        limit = _limit(params[1])
        interval = _decimal(params[2], market.spec.money_prec)
        if interval < ZERO:
            raise _invalid()
        return market, limit, interval

    def order_depth(self, params: list[Any]) -> Any:
        market, limit, interval = self.depth_args(params)
        return market.depth(limit, interval)

    def order_pending_detail(self, params: list[Any]) -> Any:
        if len(params) != 2:
            raise _invalid()
        market = self._market(params[0])
        order = market.orders.get(_int(params[1]) & U64)
        return None if order is None else order.to_json()

    def market_list(self, params: list[Any]) -> Any:
        return self.engine.market_list()

    def market_summary(self, params: list[Any]) -> Any:
        markets = [self._market(p) for p in params] if params else list(self.engine.markets.values())
        return [m.summary() for m in markets]
