"""Error 1 of the engine's commands keeps its code and message and says, in `data`, which parameter is wrong
and why: one case per kind of bad parameter (count, type, negative, zero, NaN, too precise to read, unknown
market or asset, out of range)."""

from __future__ import annotations

from typing import Any

import pytest

from common.errors import RpcError
from matchengine.order import BID

from .core_helpers import T0, deposit, limit, spec_engine

LIMIT_OK = [1, "BTCBCH", BID, "1", "100", "0.002", "0.001", "web"]


def with_param(params: list[Any], index: int, value: Any) -> list[Any]:
    changed = list(params)
    changed[index] = value
    return changed


WRITES: list[tuple[str, list[Any], str]] = [
    ("put_limit", LIMIT_OK[:4], "params: expected 8 to 10, got 4"),
    ("put_limit", [*LIMIT_OK, 0, "", 1], "params: expected 8 to 10, got 11"),
    ("put_limit", with_param(LIMIT_OK, 0, "1"), "user_id: must be an integer"),
    ("put_limit", with_param(LIMIT_OK, 1, "NOPE"), "market: unknown market 'NOPE'"),
    ("put_limit", with_param(LIMIT_OK, 1, 7), "market: must be a string"),
    ("put_limit", with_param(LIMIT_OK, 2, 3), "side: must be 1 (ask) or 2 (bid)"),
    ("put_limit", with_param(LIMIT_OK, 2, True), "side: must be an integer"),
    ("put_limit", with_param(LIMIT_OK, 3, "-1"), "amount: must be a positive decimal"),
    ("put_limit", with_param(LIMIT_OK, 3, "0"), "amount: must be a positive decimal"),
    ("put_limit", with_param(LIMIT_OK, 3, "NaN"), "amount: must be a decimal number, not 'NaN'"),
    ("put_limit", with_param(LIMIT_OK, 3, 1), "amount: must be a decimal number in a string"),
    ("put_limit", with_param(LIMIT_OK, 3, "1e20"), "amount: must be below 10^14 in magnitude"),
    ("put_limit", with_param(LIMIT_OK, 3, "1" * 101), "amount: must be a decimal number of at most 100 characters"),
    ("put_limit", with_param(LIMIT_OK, 4, "-100"), "price: must be a positive decimal"),
    ("put_limit", with_param(LIMIT_OK, 5, "1"), "taker_fee: must be at least 0 and below 1"),
    ("put_limit", with_param(LIMIT_OK, 6, "-0.1"), "maker_fee: must be at least 0 and below 1"),
    ("put_limit", with_param(LIMIT_OK, 7, "x" * 31), "source: at most 30 bytes"),
    ("put_limit", with_param(LIMIT_OK, 7, "é" * 16), "source: at most 30 bytes"),  # 16 characters, 32 bytes
    ("put_limit", [*LIMIT_OK, "8"], "option: null, or an integer of the bits 0x3bc"),
    ("put_market", [1, "BTCBCH", BID, "1", "0.002"], "params: expected 6 to 8, got 5"),
    ("put_market", [1, "BTCBCH", BID, "1", "x", "web"], "taker_fee: must be a decimal number, not 'x'"),
    ("balance_update", [1, "NOPE", "deposit", 1, "1", {}], "asset: unknown asset 'NOPE'"),
    ("balance_update", [1, "BTC", "deposit", 1, "1", []], "detail: must be an object"),
    ("balance_update", [1, "BTC", 5, 1, "1", {}], "business: must be a string"),
    ("balance_update", [1, "BTC", "deposit", "1", "1", {}], "business_id: must be an integer"),
    ("balance_update", [1, "BTC", "deposit", 1, "Infinity", {}], "change: must be a decimal number, not 'Infinity'"),
    ("cancel", [1, "BTCBCH", 1.5], "order_id: must be an integer"),
    ("cancel", [1, "BTCBCH"], "params: expected 3, got 2"),
    ("cancel_all", [1, "BTCBCH", 4], "side: must be 0 (both), 1 (ask) or 2 (bid)"),
    ("cancel_batch", [1, "BTCBCH", []], "order ids: a list of 1 to 101"),
    ("asset_lock", [1, "BTC", "lock", 1, "-1"], "amount: must not be negative"),
    ("put_stop_limit", [1, "BTCBCH", BID, "1", "0", "100", "0", "0", "web"], "stop_price: must be a positive decimal"),
    ("cancel_stop", [1, "BTCBCH", "3"], "stop_id: must be an integer"),
    ("update_asset", [], "params: expected 1, got 0"),
]

READS: list[tuple[str, list[Any], str]] = [
    ("balance_query", [], "params: expected a user_id, then asset names"),
    ("balance_query", [0], "user_id: must not be 0"),
    ("balance_query", [1, "NOPE"], "asset: unknown asset 'NOPE'"),
    ("order_pending", [1, "BTCBCH", 0, 102], "limit: at most 101"),
    ("order_pending", [1, "BTCBCH", "0", 10], "offset: must be an integer"),
    ("order_book", ["BTCBCH", 1, 0], "params: expected 4, got 3"),
    ("order_depth", ["BTCBCH", 10, "-1"], "interval: must not be negative"),
    ("order_pending_detail", ["BTCBCH", None], "order_id: must be an integer"),
    ("market_summary", ["BTCBCH", "N" * 60], "market: unknown market '" + "N" * 40 + "'"),
    ("order_stop_book", ["BTCBCH", 3, 0, 10], "state: must be 1 (low) or 2 (high)"),
]


@pytest.mark.parametrize(("command", "params", "reason"), WRITES)
def test_a_write_with_a_bad_parameter_names_it(command: str, params: list[Any], reason: str) -> None:
    engine, commands = spec_engine()
    deposit(commands, 1, "BCH", "1000")
    with pytest.raises(RpcError) as error:
        getattr(commands, command)(params, T0)
    assert (error.value.code, error.value.message, error.value.data) == (1, "invalid argument", reason)
    assert error.value.to_json() == {"code": 1, "message": "invalid argument", "data": reason}
    assert engine.order_id == 0


@pytest.mark.parametrize(("command", "params", "reason"), READS)
def test_a_query_with_a_bad_parameter_names_it(command: str, params: list[Any], reason: str) -> None:
    _, commands = spec_engine()
    with pytest.raises(RpcError) as error:
        getattr(commands, command)(params)
    assert (error.value.code, error.value.message, error.value.data) == (1, "invalid argument", reason)


def test_other_errors_keep_their_exact_form() -> None:
    _, commands = spec_engine()
    with pytest.raises(RpcError) as error:
        limit(commands, 1, BID, "1", "100")
    assert error.value.to_json() == {"code": 10, "message": "balance not enough"}


def test_checked_decimals_are_remembered_per_precision_and_rule() -> None:
    """An amount, price or fee rate met again is the value its first check gave; a text that failed fails
    again with the same reason; a text is checked anew at another precision or under the other rule."""
    from matchengine.commands import _fee, _positive

    first = _positive("1.123456789", 8, "amount")
    assert str(first) == "1.12345678"
    assert _positive("1.123456789", 8, "price") is first
    assert str(_positive("1.123456789", 4, "amount")) == "1.1234"
    assert str(_fee("0.123456789", 4, "taker_fee")) == "0.1234"
    for _ in range(2):
        with pytest.raises(RpcError) as error:
            _positive("0.000000001", 8, "amount")
        assert error.value.data == "amount: must be a positive decimal"
    with pytest.raises(RpcError) as error:
        _fee("1.123456789", 8, "maker_fee")  # a positive amount already, but no fee rate
    assert error.value.data == "maker_fee: must be at least 0 and below 1"
    assert str(_fee("0", 4, "taker_fee")) == "0.0000"
    with pytest.raises(RpcError) as error:
        _positive("0", 4, "amount")
    assert error.value.data == "amount: must be a positive decimal"
