"""Kafka messages of the `balances`, `orders`, `deals` (spec/matchengine.md §11) and `stops` topics.

`stops` (spec/extensions.md §1.8, without the fork's account fields) carries
{"event": 1 PUT | 2 ACTIVE | 3 CANCEL, "order": <stop object + "status">,
"stock": <stock asset>, "money": <money asset>} (stock and money as in `orders`, so that
accessws knows which balances a stop's frozen funds moved; beyond the fork's shape);
a lock or unlock sends a `balances` message with change "0" (§4.1).

`Messages` is the message half of the publisher's listener: each event becomes
the exact JSON payload of its topic, encoded once, queued per topic in the
order the core reported it.  Decimal text follows the spec: `sci` in
`balances` and `deals`, `fmt` (the order object) in `orders`.

Each message also carries a Kafka header `op` = "<operation id>.<n>" (the n-th
message of that operation in its topic).  Consumers of the original format
never look at headers; the publisher reads the header of the last message of
each topic when it (re)starts and skips what the broker already has, so a
crash does not put a message into a topic twice.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

import orjson

from common.decimals import fmt, sci

from .order import ZERO, Order
from .stops import Stop
from .texts import FMT, NAMES_KEPT, SCI, DecimalTexts, FloatTexts, float_json, json_quoted, json_string

TOPIC_BALANCES = "balances"
TOPIC_ORDERS = "orders"
TOPIC_DEALS = "deals"
TOPIC_STOPS = "stops"
TOPICS = (TOPIC_BALANCES, TOPIC_ORDERS, TOPIC_DEALS, TOPIC_STOPS)
HEADER_KEY = "op"


_FMT: Final = DecimalTexts(FMT)      # an order's price, amount and fee rates
_SCI: Final = DecimalTexts(SCI)  # a deal's price (its maker's): sci(), unstripped
_TIMES: Final = FloatTexts(float_json)
_SOURCE_PARTS: Final[dict[str, str]] = {}


def tag_messages(messages: list[tuple[int, bytes]]) -> list[tuple[tuple[int, int], bytes]]:
    """Number each operation's messages: ((oper_id, n), payload)."""
    tagged = []
    previous, n = -1, 0
    for oper_id, payload in messages:
        n = n + 1 if oper_id == previous else 0
        previous = oper_id
        tagged.append(((oper_id, n), payload))
    return tagged


def message_numbers(messages: list[tuple[int, bytes]]) -> list[int]:
    """n of each message's tag (oper_id, n), without a tuple per message (tag_messages, for the publisher)."""
    numbers = []
    previous, n = -1, 0
    for oper_id, _ in messages:
        n = n + 1 if oper_id == previous else 0
        previous = oper_id
        numbers.append(n)
    return numbers


def header_value(tag: tuple[int, int]) -> bytes:
    return b"%d.%d" % tag


def parse_header(headers: object) -> tuple[int, int] | None:
    for key, value in headers or ():  # type: ignore[attr-defined]
        if key == HEADER_KEY:
            oper, _, n = value.decode().partition(".")
            return int(oper), int(n)
    return None


def order_message(event: int, order: Order, stock: str, money: str) -> bytes:
    """orjson.dumps({"event": event, "order": order.to_json(), "stock": stock, "money": money}), written out:
    a third of the cost, most of it in texts known already (the order's price, amount, fees and names)."""
    source = order.source
    client_id = order.client_id
    zero = ZERO
    left = order.left
    return (f'{{"event":{event},"order":{{"id":{order.id},"market":{json_quoted(order.market)},'
            f'{"" if source is None else _source_part(source)}"type":{order.type},"side":{order.side},'
            f'"user":{order.user},"ctime":{_TIMES.of(order.ctime)},"mtime":{_TIMES.of(order.mtime)},'
            f'"price":"{_FMT.of(order.price)}","amount":"{_FMT.of(order.amount)}",'
            f'"taker_fee":"{_FMT.of(order.taker_fee)}","maker_fee":"{_FMT.of(order.maker_fee)}",'
            f'"left":"{_FMT.of(left) if left is order.amount else fmt(left)}",'
            f'"deal_stock":"{"0" if order.deal_stock is zero else fmt(order.deal_stock)}",'
            f'"deal_money":"{"0" if order.deal_money is zero else fmt(order.deal_money)}",'
            f'"deal_fee":"{"0" if order.deal_fee is zero else fmt(order.deal_fee)}"'
            f'{"" if client_id is None else _client_part(order.option, client_id)}}},'
            f'"stock":{json_quoted(stock)},"money":{json_quoted(money)}}}').encode()


def _source_part(source: str) -> str:
    part = _SOURCE_PARTS.get(source)
    if part is None:
        if len(_SOURCE_PARTS) >= NAMES_KEPT:
            _SOURCE_PARTS.clear()
        part = _SOURCE_PARTS[source] = f'"source":{json_string(source)},'
    return part


def _client_part(option: int, client_id: str) -> str:
    return f',"option":{option},"client_id":{json_string(client_id)}'


class Messages:
    """Payloads per topic, each with the id of the operation that made it, until the producer takes them."""

    def __init__(self) -> None:
        self.oper_id = 0
        self.balances: list[tuple[int, bytes]] = []
        self.orders: list[tuple[int, bytes]] = []
        self.deals: list[tuple[int, bytes]] = []
        self.stops: list[tuple[int, bytes]] = []

    @property
    def count(self) -> int:
        return len(self.balances) + len(self.orders) + len(self.deals) + len(self.stops)

    def take(self) -> dict[str, list[tuple[int, bytes]]]:
        taken = {TOPIC_BALANCES: self.balances, TOPIC_ORDERS: self.orders, TOPIC_DEALS: self.deals,
                 TOPIC_STOPS: self.stops}
        self.balances, self.orders, self.deals, self.stops = [], [], [], []
        return taken

    def put_back(self, taken: dict[str, list[tuple[int, bytes]]]) -> None:
        """Return what `take` gave to the front of the queue, before what was queued since."""
        self.balances = taken[TOPIC_BALANCES] + self.balances
        self.orders = taken[TOPIC_ORDERS] + self.orders
        self.deals = taken[TOPIC_DEALS] + self.deals
        self.stops = taken[TOPIC_STOPS] + self.stops

    def balance_updated(self, time: float, user: int, asset: str, business: str, change: Decimal,
                        balance: Decimal, detail: dict[str, object]) -> None:
        self.balances.append((self.oper_id, orjson.dumps([time, user, asset, business, sci(change)])))

    def trade_balance(self, time: float, user: int, asset: str, change: Decimal, balance: Decimal, market: str,
                      order_id: int, price: Decimal, amount: Decimal, fee_rate: Decimal | None) -> None:
        """Trades send no `balances` messages (as the original)."""

    def deal(self, time: float, market: str, deal_id: int, ask: Order, bid: Order, taker_side: int,
             price: Decimal, amount: Decimal, deal: Decimal, ask_fee: Decimal, bid_fee: Decimal,
             stock: str, money: str) -> None:
        # orjson.dumps([time, market, ask.id, bid.id, ask.user, bid.user, sci(price), sci(amount), sci(ask_fee),
        #               sci(bid_fee), taker_side, deal_id, stock, money]), written out
        self.deals.append((self.oper_id, (
            f"[{_TIMES.of(time)},{json_quoted(market)},{ask.id},{bid.id},{ask.user},{bid.user},"
            f'"{_SCI.of(price)}","{sci(amount)}","{sci(ask_fee)}","{sci(bid_fee)}",{taker_side},{deal_id},'
            f"{json_quoted(stock)},{json_quoted(money)}]").encode()))

    def order_event(self, event: int, order: Order, stock: str, money: str) -> None:
        self.orders.append((self.oper_id, order_message(event, order, stock, money)))

    def order_finished(self, order: Order) -> None:
        """Finished orders are history, not messages."""

    def balance_locked(self, time: float, user: int, asset: str, business: str) -> None:
        self.balances.append((self.oper_id, orjson.dumps([time, user, asset, business, "0"])))

    def stop_event(self, event: int, stop: Stop, status: int, stock: str, money: str) -> None:
        info = stop.to_json()
        info["status"] = status
        self.stops.append((self.oper_id, orjson.dumps({"event": event, "order": info, "stock": stock,
                                                       "money": money})))

    def stop_finished(self, stop: Stop, status: int) -> None:
        """Fired stops are history, not messages."""
