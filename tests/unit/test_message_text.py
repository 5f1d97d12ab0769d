"""Kafka payloads written out as text (matchengine/message.py) are the bytes orjson makes of the same objects."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import orjson

from common.decimals import sci
from common.errors import RpcError
from matchengine.message import Messages, order_message
from matchengine.order import ASK, BID, Order

from .core_helpers import T0, deposit, spec_engine

NAMES = ["", "api.v1", "it's", 'a "q"', "back\\slash", "ünï\ncode", "\x00z\x1a", "tab\there", "x" * 40, "\u2028",
         "\x7f", "/", "😀"]


class Checker:
    """A listener that renders every order and deal message both ways and compares them."""

    def __init__(self) -> None:
        self.messages = Messages()
        self.orders = 0
        self.deals = 0

    def order_event(self, event: int, order: Order, stock: str, money: str) -> None:
        expected = orjson.dumps({"event": event, "order": order.to_json(), "stock": stock, "money": money})
        assert order_message(event, order, stock, money) == expected
        self.orders += 1

    def deal(self, time: float, market: str, deal_id: int, ask: Order, bid: Order, taker_side: int,
             price: Decimal, amount: Decimal, deal: Decimal, ask_fee: Decimal, bid_fee: Decimal,
             stock: str, money: str) -> None:
        self.messages.deal(time, market, deal_id, ask, bid, taker_side, price, amount, deal, ask_fee, bid_fee, stock,
                           money)
        expected = orjson.dumps([time, market, ask.id, bid.id, ask.user, bid.user, sci(price), sci(amount),
                                 sci(ask_fee), sci(bid_fee), taker_side, deal_id, stock, money])
        assert self.messages.take()["deals"] == [(0, expected)]
        self.deals += 1

    def __getattr__(self, name: str) -> Any:
        return lambda *args: None


def test_order_and_deal_messages_are_orjsons_bytes() -> None:
    checker = Checker()
    _, c = spec_engine(checker)
    rnd = random.Random(5)
    for user in range(1, 6):
        deposit(c, user, "BTC", "1000")
        deposit(c, user, "BCH", "100000")
    at = T0
    for _ in range(3000):
        at += rnd.choice([0.0, 0.1, 1e-7, 1.0])
        side = rnd.choice([ASK, BID])
        amount = rnd.choice(["0.001", "0.1", "1", "2.5", "0.12345678", "1e-2"])
        price = f"{rnd.uniform(95, 105):.{rnd.choice([0, 1, 2, 5, 8])}f}"
        fee = rnd.choice(["0", "0.001", "0.0025", "0.1"])
        source = rnd.choice(NAMES)
        try:
            if rnd.random() < 0.3:
                c.put_limit([rnd.randint(1, 5), "BTCBCH", side, amount, price, fee, "0.001", source,
                             rnd.choice([0, 0x4, 0x8, 0x20]), rnd.choice(NAMES)], at)
            elif rnd.random() < 0.2:
                c.put_market([rnd.randint(1, 5), "BTCBCH", side, amount, fee, source], at)
            else:
                c.put_limit([rnd.randint(1, 5), "BTCBCH", side, amount, price, fee, "0.001", source], at)
        except RpcError:
            pass
    assert checker.orders > 3000 and checker.deals > 1000


def test_the_odd_times_and_names_render_as_orjson_renders_them() -> None:
    for at in (0.0, -0.0, 1e22, 5e-324, 1e-7, 1510000000.5, float("nan")):
        for source in (None, *NAMES):
            order = Order(1, 1, ASK, at, 2, "BTC'U\\", source, Decimal("1.50"), Decimal("2E+1"), Decimal("0.001"),
                          Decimal("0"), Decimal(0))
            expected = orjson.dumps({"event": 3, "order": order.to_json(), "stock": "B\"", "money": "ü"})
            assert order_message(3, order, 'B"', "ü") == expected
            order.client_id, order.option = source, 4
            if source is not None:
                expected = orjson.dumps({"event": 2, "order": order.to_json(), "stock": "x", "money": "y"})
                assert order_message(2, order, "x", "y") == expected
