"""Database rows of the history tables turned into the JSON records readhistory answers.

Conversions (spec/readhistory.md §2): DOUBLE columns become JSON reals,
integer columns JSON integers, DECIMAL columns the column text with trailing
zeros and a trailing dot stripped (`dbfmt`), and the balance `detail` TEXT
column the JSON object it holds, or ``{}`` when it holds anything else.
MySQL returns DECIMAL columns as `Decimal` values built from the column text,
SQLite (which stores them as TEXT) the text itself; both give the same string.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson

from common.decimals import strip_column_text

Row = Sequence[Any]


def decimal_text(value: Any) -> str:
    """`dbfmt` of a DECIMAL column value."""
    if isinstance(value, Decimal):
        return strip_column_text(format(value, "f"))
    if value is None:
        return "0"
    return strip_column_text(str(value))


def detail_object(value: Any) -> dict[str, Any]:
    """The `detail` column parsed as JSON if it is an object, else an empty object."""
    if value is None:
        return {}
    try:
        detail = orjson.loads(value)
    except orjson.JSONDecodeError:
        return {}
    return detail if isinstance(detail, dict) else {}


def text(value: Any) -> str:
    return "" if value is None else str(value)


def balance_record(row: Row) -> dict[str, Any]:
    """`time, asset, business, change, balance, detail`."""
    return {
        "time": float(row[0]),
        "asset": text(row[1]),
        "business": text(row[2]),
        "change": decimal_text(row[3]),
        "balance": decimal_text(row[4]),
        "detail": detail_object(row[5]),
    }


def order_record(row: Row, order_id: int | None = None) -> dict[str, Any]:
    """`id, create_time, finish_time, user_id, market, source, t, side, price, amount, taker_fee,
    maker_fee, deal_stock, deal_money, deal_fee`; `order_id` replaces the id column when given."""
    return {
        "id": int(row[0]) if order_id is None else order_id,
        "ctime": float(row[1]),
        "ftime": float(row[2]),
        "user": int(row[3]),
        "market": text(row[4]),
        "source": text(row[5]),
        "type": int(row[6]),
        "side": int(row[7]),
        "price": decimal_text(row[8]),
        "amount": decimal_text(row[9]),
        "taker_fee": decimal_text(row[10]),
        "maker_fee": decimal_text(row[11]),
        "deal_stock": decimal_text(row[12]),
        "deal_money": decimal_text(row[13]),
        "deal_fee": decimal_text(row[14]),
    }


def order_deal_record(row: Row) -> dict[str, Any]:
    """`time, user_id, deal_id, role, price, amount, deal, fee, deal_order_id`."""
    return {
        "time": float(row[0]),
        "user": int(row[1]),
        "id": int(row[2]),
        "role": int(row[3]),
        "price": decimal_text(row[4]),
        "amount": decimal_text(row[5]),
        "deal": decimal_text(row[6]),
        "fee": decimal_text(row[7]),
        "deal_order_id": int(row[8]),
    }


def user_deal_record(row: Row) -> dict[str, Any]:
    """`time, user_id, deal_id, side, role, price, amount, deal, fee, deal_order_id, market`."""
    return {
        "time": float(row[0]),
        "user": int(row[1]),
        "id": int(row[2]),
        "side": int(row[3]),
        "role": int(row[4]),
        "price": decimal_text(row[5]),
        "amount": decimal_text(row[6]),
        "deal": decimal_text(row[7]),
        "fee": decimal_text(row[8]),
        "deal_order_id": int(row[9]),
        "market": text(row[10]),
    }


def stop_record(row: Row) -> dict[str, Any]:
    """`order_id, create_time, finish_time, user_id, option, market, source, t, side, stop_price, price, amount,
    taker_fee, maker_fee, status, client_id`: the fork's record less its account and fee-asset keys."""
    return {
        "id": int(row[0]),
        "ctime": float(row[1]),
        "ftime": float(row[2]),
        "user": int(row[3]),
        "option": int(row[4]),
        "market": text(row[5]),
        "source": text(row[6]),
        "type": int(row[7]),
        "side": int(row[8]),
        "stop_price": decimal_text(row[9]),
        "price": decimal_text(row[10]),
        "amount": decimal_text(row[11]),
        "taker_fee": decimal_text(row[12]),
        "maker_fee": decimal_text(row[13]),
        "status": int(row[14]),
        "client_id": text(row[15]),
    }
