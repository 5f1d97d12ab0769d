"""One market: its order book and the matching of limit and market orders.

Book layout: each side keeps its price levels in a dict keyed by a sort key
(−price for asks, +price for bids) and a sorted list of those keys, so the
best level is always the last key.  A level is a FIFO deque of orders in time
priority; a cancelled order is flagged and skipped (removed lazily when it
reaches the front), so cancels are O(1) apart from removing an emptied level.
Matching follows spec/matchengine.md §5.5–§5.9 step by step: the operation
order decides the exponents of the results, and with them the output text.
Order options (spec/extensions.md §2: IOC, FOK, post-only, hidden, no minimum
amount) are checked before an id is taken; self-trade prevention (§6) acts
inside the matching loops, before a deal between two orders of one user.
Stop orders (§1) rest in the market's StopBook (stops.py) with their funds
frozen; `fire_stops`, called once a request's result is taken, fires those
the latest deals reached, cascades included.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from common.decimals import ZERO, fmt, quantum
from common.errors import RpcError

from .balance import EXACT_PREC_MAX, Balances, add_entry, entry_value, take_entry
from .events import TradeListener
from .order import (
    ASK,
    BID,
    LIMIT,
    MARKET,
    OPTION_FOK,
    OPTION_HIDDEN,
    OPTION_IOC,
    OPTION_MAKER_ONLY,
    OPTION_STOP_ORDER,
    OPTION_UNLIMITED_MIN_AMOUNT,
    ORDER_FINISH,
    ORDER_PUT,
    ORDER_UPDATE,
    STP_CANCEL_MAKER,
    STP_CANCEL_TAKER,
    STP_MASK,
    Order,
)
from .stops import (
    STOP_EVENT_ACTIVE,
    STOP_EVENT_CANCEL,
    STOP_EVENT_PUT,
    STOP_HIGH,
    STOP_LOW,
    STOP_STATUS_ACTIVE,
    STOP_STATUS_FAIL,
    STOP_STATUS_NONE,
    Stop,
    StopBook,
)


def balance_not_enough() -> RpcError:
    return RpcError(10, "balance not enough")


def amount_too_small() -> RpcError:
    return RpcError(11, "amount too small")


def no_enough_trader() -> RpcError:
    return RpcError(12, "no enough trader")


def order_not_found() -> RpcError:
    return RpcError(10, "order not found")


def user_not_match() -> RpcError:
    return RpcError(11, "user not match")


def limit_not_fillable() -> RpcError:
    return RpcError(12, "can't be completely executed, kill the order")


def market_not_fillable() -> RpcError:
    return RpcError(13, "can't be completely executed, kill the order")


def maker_only_would_take() -> RpcError:
    return RpcError(13, "the order may be executed, kill the order")


def invalid_stop_price() -> RpcError:
    return RpcError(11, "invalid stop price")


def stop_amount_too_small() -> RpcError:
    return RpcError(12, "amount too small")


@dataclass(slots=True, frozen=True)
class MarketSpec:
    name: str
    stock: str
    money: str
    stock_prec: int
    money_prec: int
    fee_prec: int
    min_amount: Decimal
    stp: int = 0  # the self-trade prevention bits of an order that sets none (0: trades with itself)


class Sequences:
    """The global id counters (orders and deals are numbered across all markets)."""

    __slots__ = ("deal_id", "order_id")

    def __init__(self) -> None:
        self.order_id = 0
        self.deal_id = 0


class Level:
    __slots__ = ("count", "orders", "price")

    def __init__(self, price: Decimal) -> None:
        self.price = price
        self.orders: deque[Order] = deque()
        self.count = 0


ASK_KEYS_KEPT = 1 << 16


class BookSide:
    """Resting orders of one side, best price last in `keys`."""

    __slots__ = ("ask_keys", "count", "is_ask", "keys", "levels")

    def __init__(self, is_ask: bool) -> None:
        self.is_ask = is_ask
        self.keys: list[Decimal] = []
        self.levels: dict[Decimal, Level] = {}
        self.count = 0
        # price -> the ask side's key (-price), one object per price: a Decimal computes its hash once, and
        # a new -price every time would cost a hash on every lookup of `levels`
        self.ask_keys: dict[Decimal, Decimal] = {}

    def key(self, price: Decimal) -> Decimal:
        """The key of `price` in `levels` and `keys`."""
        if not self.is_ask:
            return price
        key = self.ask_keys.get(price)
        if key is None:
            if len(self.ask_keys) >= ASK_KEYS_KEPT:
                self.ask_keys.clear()
            key = self.ask_keys[price] = -price
        return key

    def insert(self, order: Order, *, sorted_later: bool = False) -> None:
        """Rest an order at the back of its price level.  With `sorted_later` a new level's key is
        only appended (a bulk load calls `sort_keys` at the end instead of an insort per level)."""
        key = self.key(order.price)
        level = self.levels.get(key)
        if level is None:
            level = self.levels[key] = Level(order.price)
            keys = self.keys
            if sorted_later or not keys or key > keys[-1]:
                keys.append(key)
            else:
                insort(keys, key)
        level.orders.append(order)
        level.count += 1
        self.count += 1

    def sort_keys(self) -> None:
        self.keys.sort()

    def remove(self, order: Order) -> None:
        """Take a resting order out; it stays flagged in its deque until it reaches the front."""
        key = self.key(order.price)
        level = self.levels[key]
        level.count -= 1
        self.count -= 1
        if level.count == 0:
            del self.levels[key]
            keys = self.keys
            if keys[-1] == key:
                keys.pop()
            else:
                del keys[bisect_left(keys, key)]
        elif level.orders[0] is order:
            level.orders.popleft()
        elif len(level.orders) > 2 * level.count + 32:
            level.orders = deque(o for o in level.orders if o.resting and o is not order)

    def best(self) -> Order | None:
        if not self.keys:
            return None
        orders = self.levels[self.keys[-1]].orders
        while not orders[0].resting:
            orders.popleft()
        return orders[0]

    def __iter__(self) -> Iterator[Order]:
        """Resting orders in matching order."""
        levels = self.levels
        for key in reversed(self.keys):
            for order in levels[key].orders:
                if order.resting:
                    yield order

    def iter_levels(self) -> Iterator[Level]:
        levels = self.levels
        for key in reversed(self.keys):
            yield levels[key]


class Market:
    """The book of one market and the operations on it.  No I/O, no clock."""

    __slots__ = (
        "asks",
        "balances",
        "bids",
        "checked_last",
        "exact_deal",
        "exact_money_fee",
        "exact_stock",
        "last",
        "listener",
        "money",
        "money_save",
        "orders",
        "seq",
        "spec",
        "stock",
        "stock_quantum",
        "stock_save",
        "stops",
        "stp",
        "users",
    )

    def __init__(self, spec: MarketSpec, balances: Balances, seq: Sequences,
                 listener: TradeListener | None = None) -> None:
        self.spec = spec
        self.stock = spec.stock
        self.money = spec.money
        self.stock_quantum = quantum(spec.stock_prec)
        self.stock_save = balances.save_quantum(spec.stock)
        self.money_save = balances.save_quantum(spec.money)
        self.exact_stock, self.exact_deal, self.exact_money_fee = exact_changes(
            spec, balances.assets[spec.stock].prec_save, balances.assets[spec.money].prec_save)
        self.stp = spec.stp
        self.balances = balances
        self.seq = seq
        self.listener = listener
        self.asks = BookSide(is_ask=True)
        self.bids = BookSide(is_ask=False)
        self.orders: dict[int, Order] = {}
        self.users: dict[int, dict[int, Order]] = {}
        self.last = ZERO  # the price of the market's latest deal
        self.checked_last = ZERO  # `last` when stops were last fired: always `last` between requests
        self.stops = StopBook()

    # ------------------------------------------------------------ orders

    def put_limit(self, time: float, user: int, side: int, amount: Decimal, price: Decimal,
                  taker_fee: Decimal, maker_fee: Decimal, source: str | None, option: int = 0,
                  client_id: str | None = None) -> Order:
        """Check (balance 10, minimum 11, FOK 12, post-only 13), match, then rest, or finish: filled,
        IOC, or stopped by self-trade prevention."""
        available = self.balances.available.get(user)  # the order keeps them: its deals and freeze need them
        if side == ASK:
            if entry_value(available, self.stock) < amount:
                raise balance_not_enough()
        elif entry_value(available, self.money) < amount * price:
            raise balance_not_enough()
        stp = (option & STP_MASK) or self.stp
        if option:
            if amount < self.spec.min_amount and not option & OPTION_UNLIMITED_MIN_AMOUNT:
                raise amount_too_small()
            if option & OPTION_FOK and not self._fillable(side, user, amount, price, stp, True, False):
                raise limit_not_fillable()
            if option & OPTION_MAKER_ONLY and self._would_take(side, price):
                raise maker_only_would_take()
        elif amount < self.spec.min_amount:
            raise amount_too_small()

        self.seq.order_id += 1
        order = Order(self.seq.order_id, LIMIT, side, time, user, self.spec.name, source, price, amount,
                      taker_fee, maker_fee, ZERO, option, client_id)
        order.available_entries = available
        if side == ASK:
            stopped = self._execute_ask(time, order, True, stp)
        else:
            stopped = self._execute_bid(time, order, stp)

        listener = self.listener
        if not order.left:
            if listener is not None:
                listener.order_finished(order)
                listener.order_event(ORDER_FINISH, order, self.stock, self.money)
            return order
        if stopped or option & OPTION_IOC:
            # never rests: finished as a cancel is (history only if it traded); nothing was frozen
            if listener is not None:
                if order.deal_stock > ZERO:
                    listener.order_finished(order)
                listener.order_event(ORDER_FINISH, order, self.stock, self.money)
            return order
        if listener is not None:
            listener.order_event(ORDER_PUT, order, self.stock, self.money)
        self._rest(order)
        return order

    def put_market(self, time: float, user: int, side: int, amount: Decimal, taker_fee: Decimal,
                   source: str | None, option: int = 0, client_id: str | None = None) -> Order:
        """Check (balance 10, no trader 12, minimum 11, FOK 13), sweep the book, finish."""
        balances = self.balances
        check_minimum = not option & OPTION_UNLIMITED_MIN_AMOUNT
        if side == ASK:
            if balances.get_available(user, self.stock) < amount:
                raise balance_not_enough()
            if not self.bids.count:
                raise no_enough_trader()
            if check_minimum and amount < self.spec.min_amount:
                raise amount_too_small()
        else:
            if balances.get_available(user, self.money) < amount:
                raise balance_not_enough()
            best = self.asks.best()
            if best is None:
                raise no_enough_trader()
            if check_minimum and amount < best.price * self.spec.min_amount:
                raise amount_too_small()
        stp = (option & STP_MASK) or self.stp
        if option & OPTION_FOK and not self._fillable(side, user, amount, ZERO, stp, False, side == BID):
            raise market_not_fillable()

        self.seq.order_id += 1
        order = Order(self.seq.order_id, MARKET, side, time, user, self.spec.name, source, ZERO, amount,
                      taker_fee, ZERO, ZERO, option, client_id)
        if side == ASK:
            self._execute_ask(time, order, False, stp)
        else:
            self._execute_market_bid(time, order, stp)
        listener = self.listener
        if listener is not None:
            listener.order_finished(order)
            listener.order_event(ORDER_FINISH, order, self.stock, self.money)
        return order

    def cancel(self, user: int, order_id: int) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise order_not_found()
        if order.user != user:
            raise user_not_match()
        self._cancel_resting(order)
        return order

    def cancel_all(self, user: int, side: int) -> list[Order]:
        """Cancel the user's resting orders (of one side, or both with side 0), newest first."""
        user_orders = self.users.get(user)
        if not user_orders:
            return []
        chosen = [o for o in reversed(user_orders.values()) if not side or o.side == side]
        for order in chosen:
            self._cancel_resting(order)
        return chosen

    def _cancel_resting(self, order: Order) -> None:
        if self.listener is not None:
            self.listener.order_event(ORDER_FINISH, order, self.stock, self.money)
        self._finish(order)

    # ------------------------------------------------------------ stops

    def put_stop(self, time: float, type: int, user: int, side: int, amount: Decimal, stop_price: Decimal,
                 price: Decimal, taker_fee: Decimal, maker_fee: Decimal, source: str, option: int,
                 client_id: str) -> Stop:
        """Check (stop price 11, balance 10, minimum 12), freeze the funds, rest in LOW or HIGH."""
        last = self.last
        if not last or stop_price == last:
            raise invalid_stop_price()
        value = self.stop_funds(type, side, amount, price)
        asset = self.stock if side == ASK else self.money
        if self.balances.get_available(user, asset) < value:
            raise balance_not_enough()
        if not option & OPTION_UNLIMITED_MIN_AMOUNT:
            minimum = self.spec.min_amount
            if type == MARKET and side == BID:
                minimum = stop_price * minimum  # a market bid's amount is money
            if amount < minimum:
                raise stop_amount_too_small()
        self.seq.order_id += 1
        stop = Stop(self.seq.order_id, type, side, time, user, self.spec.name, source,
                    option | OPTION_STOP_ORDER | OPTION_UNLIMITED_MIN_AMOUNT, client_id, stop_price, price, amount,
                    taker_fee, maker_fee, STOP_HIGH if stop_price > last else STOP_LOW, value)
        self.balances.freeze(user, asset, value)
        self.stops.add(stop)
        if self.listener is not None:
            self.listener.stop_event(STOP_EVENT_PUT, stop, STOP_STATUS_NONE, self.stock, self.money)
        return stop

    @staticmethod
    def stop_funds(type: int, side: int, amount: Decimal, price: Decimal) -> Decimal:
        """What a stop holds frozen: stock for an ask, money for a bid."""
        if side == ASK or type != LIMIT:
            return amount
        return amount * price

    def cancel_stop(self, time: float, user: int, stop_id: int) -> Stop:
        stop = self.stops.stops.get(stop_id)
        if stop is None:
            raise order_not_found()
        if stop.user != user:
            raise user_not_match()
        self._cancel_stop(time, stop)
        return stop

    def cancel_stops(self, time: float, user: int, side: int) -> list[Stop]:
        """Cancel the user's stops (of one side, or both with side 0), newest first."""
        chosen = self.stops.of_user(user, side)
        for stop in chosen:
            self._cancel_stop(time, stop)
        return chosen

    def _cancel_stop(self, time: float, stop: Stop) -> None:
        self.stops.remove(stop)
        self.balances.unfreeze(stop.user, self.stock if stop.side == ASK else self.money, stop.freeze)
        stop.mtime = time
        if self.listener is not None:
            self.listener.stop_event(STOP_EVENT_CANCEL, stop, STOP_STATUS_NONE, self.stock, self.money)

    def insert_stop(self, stop: Stop, *, sorted_later: bool = False) -> None:
        """Rest a stop without touching balances (snapshot loading; `sorted_later` as `insert`)."""
        self.stops.add(stop, sorted_later=sorted_later)

    def fire_stops(self, time: float) -> None:
        """Fire the stops that the deals since the last call reached (§1.4), after the request's result
        was taken.  The price moved down: LOW stops from the head while their stop price is ≥ last; up:
        HIGH while ≤ last.  The order a stop places may move the price again and fire more stops, depth
        first, and each walk starts at its list's head again after every firing.  The walks are kept on
        an explicit stack rather than by recursion, so that a long cascade cannot exhaust the C stack."""
        last = self.last
        before = self.checked_last
        if last is before:
            return
        self.checked_last = last
        stops = self.stops
        if not stops.stops or last == before:
            return
        walks = [STOP_LOW if last < before else STOP_HIGH]
        while walks:
            stop = stops.next_to_fire(walks[-1], self.last)
            if stop is None:
                walks.pop()
                continue
            before = self.last
            self._fire(time, stop)
            after = self.last
            if after < before:
                walks.append(STOP_LOW)
            elif after > before:
                walks.append(STOP_HIGH)
        self.checked_last = self.last

    def _fire(self, time: float, stop: Stop) -> None:
        """Hand a stop's funds to the order it places (no minimum amount; its option and client id)."""
        self.stops.remove(stop)
        self.balances.unfreeze(stop.user, self.stock if stop.side == ASK else self.money, stop.freeze)
        status = STOP_STATUS_ACTIVE
        try:
            if stop.type == LIMIT:
                self.put_limit(time, stop.user, stop.side, stop.amount, stop.price, stop.taker_fee, stop.maker_fee,
                               stop.source, stop.option, stop.client_id)
            else:
                self.put_market(time, stop.user, stop.side, stop.amount, stop.taker_fee, stop.source, stop.option,
                                stop.client_id)
        except RpcError:
            status = STOP_STATUS_FAIL  # a stop-market with nobody to trade with; its funds are free again
        stop.mtime = time
        listener = self.listener
        if listener is not None:
            listener.stop_event(STOP_EVENT_ACTIVE, stop, status, self.stock, self.money)
            listener.stop_finished(stop, status)

    def cancel_unchecked(self, order_id: int) -> Order:
        """Cancel without the owner check (operation-log replay does not repeat it)."""
        order = self.orders.get(order_id)
        if order is None:
            raise order_not_found()
        return self.cancel(order.user, order_id)

    # ------------------------------------------------------------ option checks

    def _fillable(self, side: int, user: int, amount: Decimal, price: Decimal, stp: int, limited: bool,
                  money: bool) -> bool:
        """Whether the opposite side holds `amount` the taker could take (FOK): at acceptable prices
        when `limited`, counted in money for a market bid, and without the user's own orders that
        self-trade prevention would cancel (cancel-maker) or stop at (cancel-taker, cancel-both)."""
        total = ZERO
        for maker in (self.bids if side == ASK else self.asks):
            if limited and (price > maker.price if side == ASK else price < maker.price):
                return False
            if stp and maker.user == user:
                if stp & STP_CANCEL_TAKER:
                    return False
                continue
            total += maker.price * maker.left if money else maker.left
            if total >= amount:
                return True
        return False

    def _would_take(self, side: int, price: Decimal) -> bool:
        """Whether a limit order at `price` would match at once (post-only refuses it)."""
        if side == ASK:
            best = self.bids.best()
            return best is not None and best.price >= price
        best = self.asks.best()
        return best is not None and best.price <= price

    # ------------------------------------------------------------ matching
    # Each loop returns True when self-trade prevention stopped the taker (its remainder is cancelled).

    def _execute_ask(self, time: float, taker: Order, limited: bool, stp: int) -> bool:
        """A taker sells stock into the bids (§5.5); a market ask ignores the price stop."""
        bids = self.bids
        listener = self.listener
        stock, money = self.stock, self.money
        stock_save, money_save = self.stock_save, self.money_save
        exact_stock, exact_deal, exact_money_fee = self.exact_stock, self.exact_deal, self.exact_money_fee
        seq = self.seq
        taker_user = taker.user
        taker_price = taker.price
        taker_rate = taker.taker_fee
        while taker.left and bids.keys:
            level = bids.levels[bids.keys[-1]]
            price = level.price
            if limited and taker_price > price:
                break
            orders = level.orders
            while orders:
                maker = orders[0]
                if not maker.resting:
                    orders.popleft()
                    continue
                if stp and maker.user == taker_user:
                    if stp & STP_CANCEL_MAKER:
                        self._cancel_resting(maker)
                    if stp & STP_CANCEL_TAKER:
                        return True
                    continue
                maker_left = maker.left
                amount = taker.left if taker.left < maker_left else maker_left
                deal = price * amount
                ask_fee = deal * taker_rate
                bid_fee = amount * maker.maker_fee
                taker.mtime = maker.mtime = time
                seq.deal_id += 1
                self.last = price
                if listener is not None:
                    listener.deal(time, self.spec.name, seq.deal_id, taker, maker, ASK, price, amount, deal,
                                  ask_fee, bid_fee, stock, money)

                taker.left -= amount
                taker.deal_stock += amount
                taker.deal_money += deal
                taker.deal_fee += ask_fee
                taker_available = self._available(taker)
                take_entry(taker_available, stock, amount, stock_save, exact_stock)
                if listener is not None:
                    self._trade_row(time, taker_user, stock, -amount, taker.id, price, amount, None)
                add_entry(taker_available, money, deal, money_save, exact_deal)
                if listener is not None:
                    self._trade_row(time, taker_user, money, deal, taker.id, price, amount, None)
                if ask_fee:  # a fee is a value times a rate of at least 0: not zero is above zero
                    take_entry(taker_available, money, ask_fee, money_save, exact_money_fee)
                    if listener is not None:
                        self._trade_row(time, taker_user, money, -ask_fee, taker.id, price, amount, taker_rate)

                maker_user = maker.user
                maker.left = maker_left - amount
                maker.freeze -= deal
                maker.deal_stock += amount
                maker.deal_money += deal
                maker.deal_fee += bid_fee
                take_entry(self._frozen(maker), money, deal, money_save, exact_deal)
                if listener is not None:
                    self._trade_row(time, maker_user, money, -deal, maker.id, price, amount, None)
                maker_available = self._available(maker)
                add_entry(maker_available, stock, amount, stock_save, exact_stock)
                if listener is not None:
                    self._trade_row(time, maker_user, stock, amount, maker.id, price, amount, None)
                if bid_fee:
                    take_entry(maker_available, stock, bid_fee, stock_save, exact_stock)
                    if listener is not None:
                        self._trade_row(time, maker_user, stock, -bid_fee, maker.id, price, amount,
                                        maker.maker_fee)

                if maker.left:
                    if listener is not None:
                        listener.order_event(ORDER_UPDATE, maker, stock, money)
                else:
                    if listener is not None:
                        listener.order_event(ORDER_FINISH, maker, stock, money)
                    self._finish(maker)
                if not taker.left:
                    break
        return False

    def _execute_bid(self, time: float, taker: Order, stp: int) -> bool:
        """A limit taker buys stock from the asks (§5.6)."""
        asks = self.asks
        listener = self.listener
        stock, money = self.stock, self.money
        seq = self.seq
        taker_user = taker.user
        taker_price = taker.price
        taker_rate = taker.taker_fee
        while taker.left and asks.keys:
            level = asks.levels[asks.keys[-1]]
            price = level.price
            if taker_price < price:
                break
            orders = level.orders
            while orders:
                maker = orders[0]
                if not maker.resting:
                    orders.popleft()
                    continue
                if stp and maker.user == taker_user:
                    if stp & STP_CANCEL_MAKER:
                        self._cancel_resting(maker)
                    if stp & STP_CANCEL_TAKER:
                        return True
                    continue
                maker_left = maker.left
                amount = taker.left if taker.left < maker_left else maker_left
                deal = price * amount
                ask_fee = deal * maker.maker_fee
                bid_fee = amount * taker_rate
                taker.mtime = maker.mtime = time
                seq.deal_id += 1
                self.last = price
                if listener is not None:
                    listener.deal(time, self.spec.name, seq.deal_id, maker, taker, BID, price, amount, deal,
                                  ask_fee, bid_fee, stock, money)
                taker.left -= amount
                taker.deal_stock += amount
                taker.deal_money += deal
                taker.deal_fee += bid_fee
                self._settle_bid_taker(time, taker, maker, price, amount, deal, ask_fee, bid_fee)
                if not taker.left:
                    break
        return False

    def _execute_market_bid(self, time: float, taker: Order, stp: int) -> bool:
        """A market taker spends money on the asks at any price (§5.7); `left` is money."""
        asks = self.asks
        listener = self.listener
        stock, money = self.stock, self.money
        seq = self.seq
        unit = self.stock_quantum
        taker_user = taker.user
        taker_rate = taker.taker_fee
        while taker.left and asks.keys:
            level = asks.levels[asks.keys[-1]]
            price = level.price
            orders = level.orders
            while orders:
                maker = orders[0]
                if not maker.resting:
                    orders.popleft()
                    continue
                if stp and maker.user == taker_user:
                    if stp & STP_CANCEL_MAKER:
                        self._cancel_resting(maker)
                    if stp & STP_CANCEL_TAKER:
                        return True
                    continue
                amount = (taker.left / price).quantize(unit, ROUND_DOWN)
                while amount * price > taker.left:
                    amount -= unit
                if amount > maker.left:
                    amount = maker.left
                if not amount:
                    return False
                deal = price * amount
                ask_fee = deal * maker.maker_fee
                bid_fee = amount * taker_rate
                taker.mtime = maker.mtime = time
                seq.deal_id += 1
                self.last = price
                if listener is not None:
                    listener.deal(time, self.spec.name, seq.deal_id, maker, taker, BID, price, amount, deal,
                                  ask_fee, bid_fee, stock, money)
                taker.left -= deal
                taker.deal_stock += amount
                taker.deal_money += deal
                taker.deal_fee += bid_fee
                self._settle_bid_taker(time, taker, maker, price, amount, deal, ask_fee, bid_fee)
                if not taker.left:
                    return False
        return False

    def _settle_bid_taker(self, time: float, taker: Order, maker: Order, price: Decimal, amount: Decimal,
                          deal: Decimal, ask_fee: Decimal, bid_fee: Decimal) -> None:
        """Balance movements of one deal where the taker buys (§5.6), then the maker's fate."""
        listener = self.listener
        stock, money = self.stock, self.money
        stock_save, money_save = self.stock_save, self.money_save
        exact_stock, exact_deal = self.exact_stock, self.exact_deal
        taker_user = taker.user
        taker_available = self._available(taker)
        take_entry(taker_available, money, deal, money_save, exact_deal)
        if listener is not None:
            self._trade_row(time, taker_user, money, -deal, taker.id, price, amount, None)
        add_entry(taker_available, stock, amount, stock_save, exact_stock)
        if listener is not None:
            self._trade_row(time, taker_user, stock, amount, taker.id, price, amount, None)
        if bid_fee:
            take_entry(taker_available, stock, bid_fee, stock_save, exact_stock)
            if listener is not None:
                self._trade_row(time, taker_user, stock, -bid_fee, taker.id, price, amount, taker.taker_fee)

        maker_user = maker.user
        maker.left -= amount
        maker.freeze -= amount
        maker.deal_stock += amount
        maker.deal_money += deal
        maker.deal_fee += ask_fee
        take_entry(self._frozen(maker), stock, amount, stock_save, exact_stock)
        if listener is not None:
            self._trade_row(time, maker_user, stock, -amount, maker.id, price, amount, None)
        maker_available = self._available(maker)
        add_entry(maker_available, money, deal, money_save, exact_deal)
        if listener is not None:
            self._trade_row(time, maker_user, money, deal, maker.id, price, amount, None)
        if ask_fee:
            take_entry(maker_available, money, ask_fee, money_save, self.exact_money_fee)
            if listener is not None:
                self._trade_row(time, maker_user, money, -ask_fee, maker.id, price, amount, maker.maker_fee)

        if maker.left:
            if listener is not None:
                listener.order_event(ORDER_UPDATE, maker, stock, money)
        else:
            if listener is not None:
                listener.order_event(ORDER_FINISH, maker, stock, money)
            self._finish(maker)

    def _trade_row(self, time: float, user: int, asset: str, change: Decimal, order_id: int,
                   price: Decimal, amount: Decimal, fee_rate: Decimal | None) -> None:
        assert self.listener is not None
        self.listener.trade_balance(time, user, asset, change, self.balances.total(user, asset), self.spec.name,
                                    order_id, price, amount, fee_rate)

    # ------------------------------------------------------------ book maintenance

    def _rest(self, order: Order) -> None:
        """Put a limit order on the book and freeze what it still needs (§5.3 step 5)."""
        self.insert(order)
        if order.side == ASK:
            order.freeze = order.left
            held = self.balances.hold(order.user, self.stock, order.left, order.available_entries, self.exact_stock)
        else:
            order.freeze = order.price * order.left
            held = self.balances.hold(order.user, self.money, order.freeze, order.available_entries, self.exact_deal)
        if held is not None:
            order.available_entries, order.frozen_entries = held

    def _available(self, order: Order) -> dict[str, Decimal]:
        """The order's owner's available entries (made if there are none: a deal adds to them at once)."""
        entries = order.available_entries
        if entries is None:
            entries = order.available_entries = self.balances.available_of(order.user)
        return entries

    def _frozen(self, order: Order) -> dict[str, Decimal] | None:
        """The order's owner's frozen entries; None if there are none."""
        entries = order.frozen_entries
        if entries is None:
            entries = order.frozen_entries = self.balances.frozen.get(order.user)
        return entries

    def insert(self, order: Order, *, sorted_later: bool = False) -> None:
        """Add a resting order to the book without touching balances; snapshot loading passes
        `sorted_later` and calls `sort_book` once it has inserted every order."""
        order.resting = True
        (self.asks if order.side == ASK else self.bids).insert(order, sorted_later=sorted_later)
        self.orders[order.id] = order
        user_orders = self.users.get(order.user)
        if user_orders is None:
            user_orders = self.users[order.user] = {}
        user_orders[order.id] = order

    def sort_book(self) -> None:
        self.asks.sort_keys()
        self.bids.sort_keys()
        self.stops.sort()

    def _finish(self, order: Order) -> None:
        """Take an order off the book, release its freeze, record it if it traded (§5.9)."""
        (self.asks if order.side == ASK else self.bids).remove(order)
        order.resting = False
        freeze = order.freeze
        if freeze > ZERO:
            if order.side == ASK:
                asset, quant, exact = self.stock, self.stock_save, self.exact_stock
            else:
                asset, quant, exact = self.money, self.money_save, self.exact_deal
            if take_entry(self._frozen(order), asset, freeze, quant, exact):  # Balances.unfreeze, on the held entries
                add_entry(self._available(order), asset, freeze, quant, exact)
        del self.orders[order.id]
        del self.users[order.user][order.id]
        if self.listener is not None and order.deal_stock > ZERO:
            self.listener.order_finished(order)

    # ------------------------------------------------------------ queries

    def book(self, side: int, offset: int, limit: int) -> dict[str, object]:
        book_side = self.asks if side == ASK else self.bids
        orders = []
        if limit and offset < book_side.count:
            for i, order in enumerate(book_side):
                if i < offset:
                    continue
                orders.append(order.to_json())
                if len(orders) >= limit:
                    break
        return {"offset": offset, "limit": limit, "total": book_side.count, "orders": orders}

    def depth(self, limit: int, interval: Decimal) -> dict[str, object]:
        return {
            "asks": _depth_side(self.asks, limit, interval, round_up=True),
            "bids": _depth_side(self.bids, limit, interval, round_up=False),
        }

    def pending(self, user: int, offset: int, limit: int) -> dict[str, object]:
        user_orders = self.users.get(user)
        records = []
        total = 0
        if user_orders:
            total = len(user_orders)
            if limit and offset < total:
                for i, order in enumerate(reversed(user_orders.values())):
                    if i < offset:
                        continue
                    records.append(order.to_json())
                    if len(records) >= limit:
                        break
        return {"limit": limit, "offset": offset, "total": total, "records": records}

    def stop_book(self, state: int, offset: int, limit: int) -> dict[str, object]:
        trigger = self.stops.low if state == STOP_LOW else self.stops.high
        stops = []
        if limit and offset < trigger.count:
            for i, stop in enumerate(trigger):
                if i < offset:
                    continue
                stops.append(stop.to_json())
                if len(stops) >= limit:
                    break
        return {"offset": offset, "limit": limit, "total": trigger.count, "orders": stops}

    def summary(self) -> dict[str, object]:
        return {
            "name": self.spec.name,
            "ask_count": self.asks.count,
            "ask_amount": fmt(_sum_left(self.asks)),
            "bid_count": self.bids.count,
            "bid_amount": fmt(_sum_left(self.bids)),
        }


def exact_changes(spec: MarketSpec, stock_save: int, money_save: int) -> tuple[bool, bool, bool]:
    """Which balance changes of the market's deals need no cut (balance.add_entry's `exact`): (stock amounts
    and stock fees, deal values and money frozen for bids, money fees).

    Amounts, prices and fee rates are parsed to exactly their precision's decimals (where it is above 0;
    at 0 they keep the decimals they were given), so a product has at most the sum of its factors'
    precisions, and a sum or difference at most its terms' most: amounts and `left` at most stock_prec,
    stock fees (amount x rate) stock_prec + fee_prec, deal values and a bid's freeze (price x amount)
    stock_prec + money_prec, money fees (deal x rate) all three.  A change is exact where that is at most
    the asset's prec_save (and prec_save at most EXACT_PREC_MAX)."""
    if not (spec.stock_prec > 0 and spec.money_prec > 0 and spec.fee_prec > 0):
        return False, False, False
    stock_ok = stock_save <= EXACT_PREC_MAX
    money_ok = money_save <= EXACT_PREC_MAX
    return (stock_ok and spec.stock_prec + spec.fee_prec <= stock_save,
            money_ok and spec.stock_prec + spec.money_prec <= money_save,
            money_ok and spec.stock_prec + spec.money_prec + spec.fee_prec <= money_save)


def _sum_left(side: BookSide) -> Decimal:
    total = ZERO
    for order in side:
        total += order.left
    return total


def _depth_side(side: BookSide, limit: int, interval: Decimal, round_up: bool) -> list[list[str]]:
    result: list[list[str]] = []
    if not limit:
        return result
    if not interval:
        for level in side.iter_levels():
            amount: Decimal | None = None
            for order in level.orders:
                if order.resting and not order.option & OPTION_HIDDEN:
                    amount = order.left if amount is None else amount + order.left
            if amount is None:
                continue  # only hidden orders at this price
            result.append([fmt(level.price), fmt(amount)])
            if len(result) >= limit:
                break
        return result

    level_price: Decimal | None = None
    amount = ZERO
    for order in side:
        if order.option & OPTION_HIDDEN:
            continue
        price = order.price
        if level_price is not None and (price <= level_price if round_up else price >= level_price):
            amount += order.left
            continue
        if level_price is not None:
            result.append([fmt(level_price), fmt(amount)])
            if len(result) >= limit:
                return result
        level_price = (price // interval) * interval
        if round_up and price % interval:
            level_price += interval
        amount = order.left
    if level_price is not None:
        result.append([fmt(level_price), fmt(amount)])
    return result
