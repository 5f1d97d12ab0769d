"""The order record and its JSON form (spec/matchengine.md §5.1, http-api.md §2.5), and the option bits
of orders and stops (spec/extensions.md §2, §6)."""

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

# `option` bits (extensions.md §2 and §6)
OPTION_UNLIMITED_MIN_AMOUNT: Final = 0x4
OPTION_IOC: Final = 0x8
OPTION_FOK: Final = 0x10
OPTION_HIDDEN: Final = 0x20
OPTION_STOP_ORDER: Final = 0x40
OPTION_MAKER_ONLY: Final = 0x80
STP_CANCEL_TAKER: Final = 0x100
STP_CANCEL_MAKER: Final = 0x200
STP_CANCEL_BOTH: Final = 0x300
STP_MASK: Final = 0x300
# what a caller may set on each kind of request; any other bit is invalid
LIMIT_OPTIONS: Final = (OPTION_UNLIMITED_MIN_AMOUNT | OPTION_IOC | OPTION_FOK | OPTION_HIDDEN | OPTION_MAKER_ONLY
                        | STP_MASK)
MARKET_OPTIONS: Final = LIMIT_OPTIONS & ~OPTION_MAKER_ONLY
STOP_OPTIONS: Final = OPTION_UNLIMITED_MIN_AMOUNT | OPTION_IOC | OPTION_HIDDEN | STP_MASK


class Order:
    """One order.  `left` and `amount` are stock, except for a market bid (money).

    `client_id` is None for an order placed with the original's parameters: its JSON is exactly the
    original's.  An order placed with `option` / `client_id` (or created by a stop) shows both.
    """

    __slots__ = (
        "amount",
        "available_entries",
        "client_id",
        "ctime",
        "deal_fee",
        "deal_money",
        "deal_stock",
        "freeze",
        "frozen_entries",
        "id",
        "left",
        "maker_fee",
        "market",
        "mtime",
        "option",
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
        option: int = 0,
        client_id: str | None = None,
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
        self.option = option
        self.client_id = client_id
        # the owner's balance entries (balance.Balances.hold), kept once the order has needed them
        self.available_entries: dict[str, Decimal] | None = None
        self.frozen_entries: dict[str, Decimal] | None = None

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
        if self.client_id is not None:
            info["option"] = self.option
            info["client_id"] = self.client_id
        return info

    def __repr__(self) -> str:
        return (
            f"Order(id={self.id}, user={self.user}, {self.market}, side={self.side}, type={self.type}, "
            f"price={self.price}, amount={self.amount}, left={self.left})"
        )
