"""The `deals` Kafka message (spec/matchengine.md §11.4) as marketprice reads it.

A message is a JSON array; marketprice uses [0] time (a JSON real), [1]
market, [6] price, [7] amount, [10] taker side (1 ask, 2 bid) and [11] the
deal id (spec/marketprice.md §2).  Anything else is invalid and skipped.
Beyond the original's checks (rule 2 of spec/README.md), a non-positive or
out-of-range time, an empty market name, a price or amount that is not a
positive finite decimal and a non-positive deal id are refused too: each of
them would corrupt the candles or crash the local-time arithmetic.
"""

from __future__ import annotations

from decimal import Decimal

import orjson

# 9999-12-31 23:59:59 UTC: beyond it the local-time functions cannot convert a deal time.
MAX_DEAL_TIME = 253402300799.0
MAX_DECIMAL_TEXT = 100
MIN_FIELDS = 12

ParsedDeal = tuple[float, str, Decimal, Decimal, int, int]


def deal_decimal(text: object) -> Decimal | None:
    """A positive finite decimal from a message field; None when it is anything else."""
    if type(text) is not str or len(text) > MAX_DECIMAL_TEXT:
        return None
    try:
        value = Decimal(text)  # the exchange context does not trap: bad syntax gives NaN
    except (ArithmeticError, ValueError):
        return None
    if not value.is_finite() or value <= 0:
        return None
    return value


def deal_id_of(value: bytes) -> int | None:
    """The deal id of a raw message (for the offset continuity check), None if it has none."""
    try:
        message = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if type(message) is not list or len(message) < MIN_FIELDS or type(message[11]) is not int:
        return None
    return message[11]


def parse_deal(value: bytes, applied_up_to: int = 0) -> ParsedDeal | int | None:
    """``(time, market, price, amount, side, deal_id)`` of a valid message; None for an invalid one.

    The deal id is checked first: a message whose id is at most `applied_up_to`
    (a deal applied already) gives just that id, without the cost of the rest.
    """
    try:
        message = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if type(message) is not list or len(message) < MIN_FIELDS:
        return None
    deal_id = message[11]
    if type(deal_id) is not int or deal_id <= 0:
        return None
    if deal_id <= applied_up_to:
        return deal_id
    at = message[0]
    if type(at) is not float or not 0.0 < at < MAX_DEAL_TIME:
        return None
    market = message[1]
    if type(market) is not str or not market:
        return None
    side = message[10]
    if type(side) is not int or (side != 1 and side != 2):
        return None
    price = deal_decimal(message[6])
    if price is None:
        return None
    amount = deal_decimal(message[7])
    if amount is None:
        return None
    return at, market, price, amount, side, deal_id
