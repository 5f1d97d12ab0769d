"""The matchengine's RPC commands: parameter rules of http-api.md §4, then the core.

`Commands` turns a decoded JSON params list into a call on the `Engine` and
the JSON result.  Write commands also return the operation-log entries
(method name and params) that make them replayable — usually one, none when
nothing changed, several for `order.cancel_batch` — and `replay` runs such an
entry through the very same code.  Every malformed parameter is error 1, with the reason in its
`data`, naming the parameter ("amount: must be a positive decimal").

After an order is placed its result is taken, and only then do the stops its
deals triggered fire (spec/extensions.md §1.4): replay fires them the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

import orjson

from common.decimals import ONE, ZERO, decimal_problem, parse_decimal
from common.errors import RpcError, invalid_argument, quoted

from .balance import Asset
from .definitions import DefinitionError, asset_definition, market_definition, parse_asset, parse_market
from .engine import Engine
from .market import Market, MarketSpec
from .order import ASK, BID, LIMIT, LIMIT_OPTIONS, MARKET, MARKET_OPTIONS, STOP_OPTIONS, Order
from .stops import STOP_HIGH, STOP_LOW

U32: Final = 0xFFFF_FFFF
U64: Final = 0xFFFF_FFFF_FFFF_FFFF
QUERY_LIMIT: Final = 101
SOURCE_MAX_BYTES: Final = 30
CLIENT_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,32}\Z")

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
# beyond the original, with the CoinEx fork's numbers (spec/extensions.md §0.1)
CMD_ASSET_LOCK = 106
CMD_ASSET_UNLOCK = 107
CMD_ASSET_QUERY_LOCK = 108
CMD_ORDER_PUT_STOP_LIMIT = 211
CMD_ORDER_PUT_STOP_MARKET = 212
CMD_ORDER_CANCEL_STOP = 213
CMD_ORDER_PENDING_STOP = 214
CMD_ORDER_STOP_BOOK = 216
CMD_ORDER_CANCEL_ALL = 218
CMD_ORDER_CANCEL_STOP_ALL = 219
CMD_ORDER_CANCEL_BATCH = 222
CMD_CONFIG_UPDATE_ASSET = 401
CMD_CONFIG_UPDATE_MARKET = 402

WRITE_COMMANDS = frozenset({
    CMD_BALANCE_UPDATE, CMD_ORDER_PUT_LIMIT, CMD_ORDER_PUT_MARKET, CMD_ORDER_CANCEL, CMD_ASSET_LOCK,
    CMD_ASSET_UNLOCK, CMD_ORDER_PUT_STOP_LIMIT, CMD_ORDER_PUT_STOP_MARKET, CMD_ORDER_CANCEL_STOP,
    CMD_ORDER_CANCEL_ALL, CMD_ORDER_CANCEL_STOP_ALL, CMD_ORDER_CANCEL_BATCH, CMD_CONFIG_UPDATE_ASSET,
    CMD_CONFIG_UPDATE_MARKET,
})

# operation-log method names (spec/matchengine.md §8.1, extensions.md "What the port serves")
OP_UPDATE_BALANCE: Final = "update_balance"
OP_LIMIT_ORDER: Final = "limit_order"
OP_MARKET_ORDER: Final = "market_order"
OP_CANCEL_ORDER: Final = "cancel_order"
OP_STOP_LIMIT: Final = "stop_limit"
OP_STOP_MARKET: Final = "stop_market"
OP_CANCEL_STOP: Final = "cancel_stop"
OP_CANCEL_STOP_ALL: Final = "cancel_stop_all"
OP_CANCEL_ORDER_ALL: Final = "cancel_order_all"
OP_ASSET_LOCK: Final = "asset_lock"
OP_ASSET_UNLOCK: Final = "asset_unlock"
OP_UPDATE_ASSET_CONFIG: Final = "update_asset_config"
OP_UPDATE_MARKET_CONFIG: Final = "update_market_config"
BATCH_MAX: Final = 101
SUCCESS: Final = {"status": "success"}

LogEntry = tuple[str, list[Any]]
WriteResult = tuple[Any, list[LogEntry]]


class ReplayError(Exception):
    """An operation-log entry that cannot be applied again."""


def cannot_replay(oper_id: int, text: str, reason: object) -> ReplayError:
    """The error that stops a start at operation `oper_id` (its detail `text`, shortened)."""
    return ReplayError(f"cannot replay operation {oper_id} ({text[:200]!r}): {reason}")


def _count(params: list[Any], low: int, high: int = -1) -> None:
    """Error 1 unless the call has `low` (to `high`) parameters."""
    given = len(params)
    if high < 0:
        high = low
    if given < low or given > high:
        expected = str(low) if low == high else f"{low} to {high}"
        raise invalid_argument(f"params: expected {expected}, got {given}")


def _int(value: object, name: str) -> int:
    if type(value) is not int:
        raise invalid_argument(f"{name}: must be an integer")
    return value


def _str(value: object, name: str) -> str:
    if type(value) is not str:
        raise invalid_argument(f"{name}: must be a string")
    return value


def _decimal(value: object, prec: int, name: str) -> Decimal:
    parsed = parse_decimal(value, prec)
    if parsed is None:
        raise invalid_argument(f"{name}: {decimal_problem(value)}")
    return parsed


# Texts of amounts, prices and fee rates that passed their checks, by precision (below CHECKED_PRECISIONS):
# an order stream repeats them, and a hit costs one lookup where parsing and checking again costs three or
# four Decimal operations.
CHECKED_PRECISIONS: Final = 64
CHECKED_CACHE_LIMIT: Final = 65536
_positives: Final[list[dict[str, Decimal]]] = [{} for _ in range(CHECKED_PRECISIONS)]
_fees: Final[list[dict[str, Decimal]]] = [{} for _ in range(CHECKED_PRECISIONS)]


def _remember(cache: dict[str, Decimal], text: str, value: Decimal) -> Decimal:
    if len(cache) >= CHECKED_CACHE_LIMIT:
        cache.clear()
    cache[text] = value
    return value


def _checked(value: object, prec: int, name: str, fee: bool) -> Decimal:
    """`_check_fee` (fee) or `_check_positive` of `value`, remembered by its text per precision."""
    if type(value) is str and 0 <= prec < CHECKED_PRECISIONS:
        cache = (_fees if fee else _positives)[prec]
        hit = cache.get(value)
        if hit is not None:
            return hit
        return _remember(cache, value, _check_fee(value, prec, name) if fee else _check_positive(value, prec, name))
    return _check_fee(value, prec, name) if fee else _check_positive(value, prec, name)


def _positive(value: object, prec: int, name: str) -> Decimal:
    return _checked(value, prec, name, False)


def _check_positive(value: object, prec: int, name: str) -> Decimal:
    parsed = _decimal(value, prec, name)
    if parsed <= ZERO:
        raise invalid_argument(f"{name}: must be a positive decimal")
    return parsed


def _side(value: object) -> int:
    side = _int(value, "side")
    if side != ASK and side != BID:
        raise invalid_argument("side: must be 1 (ask) or 2 (bid)")
    return side


def _fee(value: object, prec: int, name: str) -> Decimal:
    return _checked(value, prec, name, True)


def _check_fee(value: object, prec: int, name: str) -> Decimal:
    fee = _decimal(value, prec, name)
    if fee < ZERO or fee >= ONE:
        raise invalid_argument(f"{name}: must be at least 0 and below 1")
    return fee


def _source(value: object) -> str:
    source = _str(value, "source")
    length = len(source)  # characters: a UTF-8 character takes at most 4 bytes, so a short source needs no encoding
    if length > SOURCE_MAX_BYTES or (length * 4 > SOURCE_MAX_BYTES and len(source.encode()) > SOURCE_MAX_BYTES):
        raise invalid_argument(f"source: at most {SOURCE_MAX_BYTES} bytes")
    return source


def _side_or_all(value: object) -> int:
    """0 (both sides), 1 ask or 2 bid."""
    side = _int(value, "side")
    if side != 0 and side != ASK and side != BID:
        raise invalid_argument("side: must be 0 (both), 1 (ask) or 2 (bid)")
    return side


def _user(value: object) -> int:
    return _int(value, "user_id") & U32


def _known_user(value: object) -> int:
    """A user id of a query, where 0 names nobody."""
    user = _user(value)
    if user == 0:
        raise invalid_argument("user_id: must not be 0")
    return user


def _u64(value: object, name: str) -> int:
    return _int(value, name) & U64


def _definition(value: object, what: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise invalid_argument(f"{what}: must be an object")
    return value


def _parse_asset(value: object) -> Asset:
    try:
        return parse_asset(_definition(value, "asset"))
    except DefinitionError as exc:
        raise invalid_argument(f"field 'asset.{exc.field}': {exc.problem}") from None


def _parse_market(value: object, assets: dict[str, Asset]) -> MarketSpec:
    try:
        return parse_market(_definition(value, "market"), assets)
    except DefinitionError as exc:
        raise invalid_argument(f"field 'market.{exc.field}': {exc.problem}") from None


def _limit(value: object) -> int:
    limit = _u64(value, "limit")
    if limit > QUERY_LIMIT:
        raise invalid_argument(f"limit: at most {QUERY_LIMIT}")
    return limit


def _options(params: list[Any], count: int, allowed: int) -> tuple[int, str | None]:
    """`option` and `client_id` after the `count` parameters of the original call: (0, None) without
    them, else (option, client_id or "").  option: an integer of `allowed` bits, null = 0; client_id:
    up to 32 of [A-Za-z0-9_-], and anything that is not a non-empty string is none (the fork's rule)."""
    given = len(params) - count
    if not given:
        return 0, None
    if given < 0 or given > 2:
        _count(params, count, count + 2)
    option = params[count]
    if option is None:
        option = 0
    elif type(option) is not int or option < 0 or option & ~allowed:
        raise invalid_argument(f"option: null, or an integer of the bits {allowed:#x}")
    client_id = ""
    if given == 2:
        value = params[count + 1]
        if type(value) is str and value:
            if not CLIENT_ID_RE.match(value):
                raise invalid_argument("client_id: at most 32 of A-Z a-z 0-9 _ -")
            client_id = value
    return option, client_id


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
            CMD_ASSET_QUERY_LOCK: self.asset_query_lock,
            CMD_ORDER_PENDING_STOP: self.order_pending_stop,
            CMD_ORDER_STOP_BOOK: self.order_stop_book,
        }
        self.writes: dict[int, Callable[[list[Any], float], WriteResult]] = {
            CMD_BALANCE_UPDATE: self.balance_update,
            CMD_ORDER_PUT_LIMIT: self.put_limit,
            CMD_ORDER_PUT_MARKET: self.put_market,
            CMD_ORDER_CANCEL: self.cancel,
            CMD_ASSET_LOCK: self.asset_lock,
            CMD_ASSET_UNLOCK: self.asset_unlock,
            CMD_ORDER_PUT_STOP_LIMIT: self.put_stop_limit,
            CMD_ORDER_PUT_STOP_MARKET: self.put_stop_market,
            CMD_ORDER_CANCEL_STOP: self.cancel_stop,
            CMD_ORDER_CANCEL_ALL: self.cancel_all,
            CMD_ORDER_CANCEL_STOP_ALL: self.cancel_stop_all,
            CMD_ORDER_CANCEL_BATCH: self.cancel_batch,
            CMD_CONFIG_UPDATE_ASSET: self.update_asset,
            CMD_CONFIG_UPDATE_MARKET: self.update_market,
        }

    def _market(self, value: object) -> Market:
        name = _str(value, "market")
        market = self.engine.markets.get(name)
        if market is None:
            raise invalid_argument(f"market: unknown market {quoted(name)}")
        return market

    def _asset(self, value: object) -> str:
        name = _str(value, "asset")
        if name not in self.engine.assets:
            raise invalid_argument(f"asset: unknown asset {quoted(name)}")
        return name

    # ------------------------------------------------------------ writes

    def balance_update(self, params: list[Any], time: float) -> WriteResult:
        _count(params, 6)
        user = _user(params[0])
        asset = self._asset(params[1])
        business = _str(params[2], "business")
        business_id = _u64(params[3], "business_id")
        change = _decimal(params[4], self.engine.assets[asset].prec_show, "change")
        detail = params[5]
        if type(detail) is not dict:
            raise invalid_argument("detail: must be an object")
        detail = dict(detail)
        detail["id"] = business_id - (1 << 64) if business_id >> 63 else business_id
        self.engine.update_balance(time, user, asset, business, business_id, change, detail)
        logged = [params[0], params[1], params[2], params[3], params[4], detail]
        return {"status": "success"}, [(OP_UPDATE_BALANCE, logged)]

    def put_limit(self, params: list[Any], time: float) -> WriteResult:
        market, order = self._put_limit(params, time)
        result = order.to_json()
        if market.last is not market.checked_last:
            market.fire_stops(time)
        return result, [(OP_LIMIT_ORDER, params)]

    def put_market(self, params: list[Any], time: float) -> WriteResult:
        market, order = self._put_market(params, time)
        result = order.to_json()
        if market.last is not market.checked_last:
            market.fire_stops(time)
        return result, [(OP_MARKET_ORDER, params)]

    def cancel(self, params: list[Any], time: float) -> WriteResult:
        _count(params, 3)
        user = _user(params[0])
        market = self._market(params[1])
        order_id = _u64(params[2], "order_id")
        return market.cancel(user, order_id).to_json(), [(OP_CANCEL_ORDER, params)]

    def cancel_all(self, params: list[Any], time: float) -> WriteResult:
        """[user_id, market or null (every market, in list order), side?]"""
        _count(params, 2, 3)
        user = _user(params[0])
        markets = list(self.engine.markets.values()) if params[1] is None else [self._market(params[1])]
        side = _side_or_all(params[2]) if len(params) == 3 else 0
        for market in markets:
            market.cancel_all(user, side)
        return SUCCESS, [(OP_CANCEL_ORDER_ALL, params)]

    def cancel_batch(self, params: list[Any], time: float) -> WriteResult:
        """[user_id, market, [order_id, ...]]: one result per id; each cancel is its own log entry."""
        _count(params, 3)
        user = _user(params[0])
        market = self._market(params[1])
        ids = params[2]
        if type(ids) is not list or not 1 <= len(ids) <= BATCH_MAX:
            raise invalid_argument(f"order ids: a list of 1 to {BATCH_MAX}")
        results: list[dict[str, Any]] = []
        entries: list[LogEntry] = []
        for order_id in ids:
            try:
                if type(order_id) is not int:
                    raise RpcError(10, "order not found")
                order = market.cancel(user, order_id & U64)
            except RpcError as exc:
                results.append({"code": exc.code, "message": exc.message, "order": None})
                continue
            results.append({"code": 0, "message": "", "order": order.to_json()})
            entries.append((OP_CANCEL_ORDER, [params[0], params[1], order_id]))
        return results, entries

    def put_stop_limit(self, params: list[Any], time: float) -> WriteResult:
        """[user_id, market, side, amount, stop_price, price, taker_fee, maker_fee, source, option?, client_id?]"""
        user, market, side, amount = self._order_head(params, 9)
        spec = market.spec
        stop_price = _positive(params[4], spec.money_prec, "stop_price")
        price = _positive(params[5], spec.money_prec, "price")
        taker_fee = _fee(params[6], spec.fee_prec, "taker_fee")
        maker_fee = _fee(params[7], spec.fee_prec, "maker_fee")
        source = _source(params[8])
        option, client_id = _options(params, 9, STOP_OPTIONS)
        stop = market.put_stop(time, LIMIT, user, side, amount, stop_price, price, taker_fee, maker_fee, source,
                               option, client_id or "")
        return stop.to_json(), [(OP_STOP_LIMIT, params)]

    def put_stop_market(self, params: list[Any], time: float) -> WriteResult:
        """[user_id, market, side, amount, stop_price, taker_fee, source, option?, client_id?]"""
        user, market, side, amount = self._order_head(params, 7)
        stop_price = _positive(params[4], market.spec.money_prec, "stop_price")
        taker_fee = _fee(params[5], market.spec.fee_prec, "taker_fee")
        source = _source(params[6])
        option, client_id = _options(params, 7, STOP_OPTIONS)
        stop = market.put_stop(time, MARKET, user, side, amount, stop_price, ZERO, taker_fee, ZERO, source, option,
                               client_id or "")
        return stop.to_json(), [(OP_STOP_MARKET, params)]

    def cancel_stop(self, params: list[Any], time: float) -> WriteResult:
        """[user_id, market, stop_id]"""
        _count(params, 3)
        user = _user(params[0])
        market = self._market(params[1])
        stop_id = _u64(params[2], "stop_id")
        return market.cancel_stop(time, user, stop_id).to_json(), [(OP_CANCEL_STOP, params)]

    def cancel_stop_all(self, params: list[Any], time: float) -> WriteResult:
        """[user_id, market, side?]"""
        _count(params, 2, 3)
        user = _user(params[0])
        market = self._market(params[1])
        side = _side_or_all(params[2]) if len(params) == 3 else 0
        market.cancel_stops(time, user, side)
        return SUCCESS, [(OP_CANCEL_STOP_ALL, params)]

    def asset_lock(self, params: list[Any], time: float) -> WriteResult:
        """[user_id, asset, business, business_id, amount]"""
        self._lock(params, time, False)
        return SUCCESS, [(OP_ASSET_LOCK, params)]

    def asset_unlock(self, params: list[Any], time: float) -> WriteResult:
        """[user_id, asset, business, business_id, amount]"""
        self._lock(params, time, True)
        return SUCCESS, [(OP_ASSET_UNLOCK, params)]

    def _lock(self, params: list[Any], time: float, unlock: bool) -> None:
        _count(params, 5)
        user = _user(params[0])
        asset = self._asset(params[1])
        business = _str(params[2], "business")
        business_id = _u64(params[3], "business_id")
        amount = _decimal(params[4], self.engine.assets[asset].prec_show, "amount")
        if amount < ZERO:
            raise invalid_argument("amount: must not be negative")
        self.engine.lock(time, user, asset, business, business_id, amount, unlock)

    def update_asset(self, params: list[Any], time: float) -> WriteResult:
        """[{"name", "prec_save", "prec_show"}]: add an asset; the same one again changes nothing."""
        _count(params, 1)
        asset = _parse_asset(params[0])
        if not self.engine.add_asset(asset):
            return SUCCESS, []
        return SUCCESS, [(OP_UPDATE_ASSET_CONFIG, [asset_definition(asset)])]

    def update_market(self, params: list[Any], time: float) -> WriteResult:
        """[<market object as in the config file>]: add a market at the end of the list; the same one
        again changes nothing."""
        _count(params, 1)
        spec = _parse_market(params[0], self.engine.assets)
        if not self.engine.add_market(spec):
            return SUCCESS, []
        return SUCCESS, [(OP_UPDATE_MARKET_CONFIG, [market_definition(spec)])]

    def _replay_definition(self, method: str, params: list[Any]) -> None:
        """An asset or market definition from the log: added if new; one the config file defines
        otherwise stops the start (a precision in use never changes)."""
        _count(params, 1)
        try:
            if method == OP_UPDATE_ASSET_CONFIG:
                self.engine.add_asset(_parse_asset(params[0]))
            else:
                self.engine.add_market(_parse_market(params[0], self.engine.assets), strict=False)
        except RpcError as exc:
            raise ReplayError(f"the config file and the operation log disagree: {exc.data}") from None

    def _order_head(self, params: list[Any], count: int) -> tuple[int, Market, int, Decimal]:
        """user, market, side and amount: the first four parameters of both order commands, which
        take `count` parameters, or two more (option, client_id)."""
        _count(params, count, count + 2)
        user = _user(params[0])
        market = self._market(params[1])
        side = _side(params[2])
        amount = _positive(params[3], market.spec.stock_prec, "amount")
        return user, market, side, amount

    def _put_limit(self, params: list[Any], time: float) -> tuple[Market, Order]:
        """Place a limit order; its stops are not fired yet."""
        user, market, side, amount = self._order_head(params, 8)
        spec = market.spec
        price = _positive(params[4], spec.money_prec, "price")
        taker_fee = _fee(params[5], spec.fee_prec, "taker_fee")
        maker_fee = _fee(params[6], spec.fee_prec, "maker_fee")
        source = _source(params[7])
        if len(params) == 8:
            return market, market.put_limit(time, user, side, amount, price, taker_fee, maker_fee, source)
        option, client_id = _options(params, 8, LIMIT_OPTIONS)
        return market, market.put_limit(time, user, side, amount, price, taker_fee, maker_fee, source, option,
                                        client_id)

    def _put_market(self, params: list[Any], time: float) -> tuple[Market, Order]:
        """Place a market order; its stops are not fired yet."""
        user, market, side, amount = self._order_head(params, 6)
        taker_fee = _fee(params[4], market.spec.fee_prec, "taker_fee")
        source = _source(params[5])
        if len(params) == 6:
            return market, market.put_market(time, user, side, amount, taker_fee, source)
        option, client_id = _options(params, 6, MARKET_OPTIONS)
        return market, market.put_market(time, user, side, amount, taker_fee, source, option, client_id)

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
                self._put_limit(params, time)[0].fire_stops(time)
            elif method == OP_UPDATE_BALANCE:
                self.balance_update(params, time)
            elif method == OP_CANCEL_ORDER:
                _count(params, 3)
                self._market(params[1]).cancel_unchecked(_u64(params[2], "order_id"))
            elif method == OP_MARKET_ORDER:
                self._put_market(params, time)[0].fire_stops(time)
            elif method == OP_STOP_LIMIT:
                self.put_stop_limit(params, time)
            elif method == OP_STOP_MARKET:
                self.put_stop_market(params, time)
            elif method == OP_CANCEL_STOP:
                self.cancel_stop(params, time)
            elif method == OP_CANCEL_ORDER_ALL:
                self.cancel_all(params, time)
            elif method == OP_CANCEL_STOP_ALL:
                self.cancel_stop_all(params, time)
            elif method == OP_ASSET_LOCK:
                self._lock(params, time, False)
            elif method == OP_ASSET_UNLOCK:
                self._lock(params, time, True)
            elif method in (OP_UPDATE_ASSET_CONFIG, OP_UPDATE_MARKET_CONFIG):
                self._replay_definition(method, params)
            else:
                raise ReplayError(f"unknown method {method!r}")
        except RpcError as exc:
            reason = f": {exc.data}" if exc.data else ""
            raise ReplayError(f"{method} failed with error {exc.code} ({exc.message}){reason}") from None

    # ------------------------------------------------------------ reads

    def balance_query(self, params: list[Any]) -> Any:
        if not params:
            raise invalid_argument("params: expected a user_id, then asset names")
        user = _known_user(params[0])
        if len(params) == 1:
            return self.engine.balance_query(user, self.engine.assets)
        return self.engine.balance_query(user, [self._asset(p) for p in params[1:]])

    def asset_list(self, params: list[Any]) -> Any:
        return self.engine.asset_list()

    def asset_summary(self, params: list[Any]) -> Any:
        names = [self._asset(p) for p in params] if params else list(self.engine.assets)
        return self.engine.asset_summary(names)

    def order_pending(self, params: list[Any]) -> Any:
        _count(params, 4)
        user = _user(params[0])
        market = self._market(params[1])
        offset = _u64(params[2], "offset")
        limit = _limit(params[3])
        return market.pending(user, offset, limit)

    def order_book(self, params: list[Any]) -> Any:
        _count(params, 4)
        market = self._market(params[0])
        side = _side(params[1])
        offset = _u64(params[2], "offset")
        limit = _limit(params[3])
        return market.book(side, offset, limit)

    def depth_args(self, params: list[Any]) -> tuple[Market, int, Decimal]:
        _count(params, 3)
        market = self._market(params[0])
        limit = _limit(params[1])
        interval = _decimal(params[2], market.spec.money_prec, "interval")
        if interval < ZERO:
            raise invalid_argument("interval: must not be negative")
        return market, limit, interval

    def order_depth(self, params: list[Any]) -> Any:
        market, limit, interval = self.depth_args(params)
        return market.depth(limit, interval)

    def order_pending_detail(self, params: list[Any]) -> Any:
        _count(params, 2)
        market = self._market(params[0])
        order = market.orders.get(_u64(params[1], "order_id"))
        return None if order is None else order.to_json()

    def market_list(self, params: list[Any]) -> Any:
        return self.engine.market_list()

    def market_summary(self, params: list[Any]) -> Any:
        markets = [self._market(p) for p in params] if params else list(self.engine.markets.values())
        return [m.summary() for m in markets]

    def asset_query_lock(self, params: list[Any]) -> Any:
        """[user_id, asset...]: {asset: locked} for the assets (default all) the user has locked funds in."""
        if not params:
            raise invalid_argument("params: expected a user_id, then asset names")
        user = _known_user(params[0])
        names = [self._asset(p) for p in params[1:]] if len(params) > 1 else list(self.engine.assets)
        return self.engine.query_lock(user, names)

    def order_pending_stop(self, params: list[Any]) -> Any:
        """[user_id, market or null (all), side (0 both), offset, limit]"""
        _count(params, 5)
        user = _user(params[0])
        market = None if params[1] is None else self._market(params[1])
        side = _side_or_all(params[2])
        offset = _u64(params[3], "offset")
        limit = _limit(params[4])
        return self.engine.pending_stops(user, market, side, offset, limit)

    def order_stop_book(self, params: list[Any]) -> Any:
        """[market, state (1 LOW, 2 HIGH), offset, limit]: the stops in firing order."""
        _count(params, 4)
        market = self._market(params[0])
        state = _int(params[1], "state")
        if state != STOP_LOW and state != STOP_HIGH:
            raise invalid_argument("state: must be 1 (low) or 2 (high)")
        offset = _u64(params[2], "offset")
        limit = _limit(params[3])
        return market.stop_book(state, offset, limit)
