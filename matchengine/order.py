"""The order record and its JSON form (spec/matchengine.md §5.1, http-api.md §2.5)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from common.decimals import ZERO, fmt

LIMIT: Final = 1
MARKET: Final = 2
ASK: Final = 1
BID: Final = 2
MAKER: Final = 1
TAKER: Final = 2

# `orders` message events
ORDER_PUT: Final = 1
ORDER_UPDATE: Final = 2
ORDER_FINISH: Final = 3


class Order:
    """One order.  `left` and `amount` are stock, except for a market bid (money)."""

    __slots__ = (
        "amount",
        "ctime",
        "deal_fee",
        "deal_money",
        "deal_stock",
        "freeze",
        "id",
        "left",
        "maker_fee",
        "market",
        "mtime",
        "price",
        "resting",
        "side",
        "source",
        "taker_fee",
        "type",
        "user",
    )

    def __init__(
        self,
        id: int,
        type: int,
        side: int,
        time: float,
        user: int,
        market: str,
        source: str | None,
        price: Decimal,
        amount: Decimal,
        taker_fee: Decimal,
        maker_fee: Decimal,
        zero: Decimal,
    ) -> None:
        self.id = id
        self.type = type
        self.side = side
        self.ctime = time
        self.mtime = time
        self.user = user
        self.market = market
        self.source = source
        self.price = price
        self.amount = amount
        self.taker_fee = taker_fee
        self.maker_fee = maker_fee
        self.left = amount
        self.freeze = zero
        self.deal_stock = zero
        self.deal_money = zero
        self.deal_fee = zero
        self.resting = False

    def to_json(self) -> dict[str, Any]:
        """The order object of RPC results and `orders` messages (`freeze` is never shown)."""
        info: dict[str, Any] = {"id": self.id, "market": self.market}
        if self.source is not None:
            info["source"] = self.source
        info["type"] = self.type
        info["side"] = self.side
        info["user"] = self.user
        info["ctime"] = self.ctime
        info["mtime"] = self.mtime
        info["price"] = fmt(self.price)
        info["amount"] = fmt(self.amount)
        info["taker_fee"] = fmt(self.taker_fee)
        info["maker_fee"] = fmt(self.maker_fee)
        info["left"] = fmt(self.left)
        zero = ZERO
        info["deal_stock"] = "0" if self.deal_stock is zero else fmt(self.deal_stock)
        info["deal_money"] = "0" if self.deal_money is zero else fmt(self.deal_money)
        info["deal_fee"] = "0" if self.deal_fee is zero else fmt(self.deal_fee)
        return info

    def __repr__(self) -> str:
        return (
            f"Order(id={self.id}, user={self.user}, {self.market}, side={self.side}, type={self.type}, "
            f"price={self.price}, amount={self.amount}, left={self.left})"
        )
