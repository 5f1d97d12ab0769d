"""Asset and market definitions: the objects of the config file's `assets` / `markets`, checked and typed.

The same rules hold for the config file (matchengine/config.py), for
`config.update_asset` / `config.update_market` and for the definitions the
operation log and slices hold (spec/matchengine.md §2, extensions.md §5).
A bad definition raises DefinitionError naming the field by its path inside
the object (`stock.prec`), which the config loader turns into a config error
and the commands into error 1 with the reason.  No dependency on the config
loader: the compiled core imports this.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from common.decimals import fmt, parse_decimal

from .balance import Asset
from .market import MarketSpec

ASSET_NAME_MAX: Final = 15
MARKET_NAME_MAX: Final = 30
PREC_MAX: Final = 30
STP_MODES: Final = {"none": 0, "cancel_taker": 0x100, "cancel_maker": 0x200, "cancel_both": 0x300}
STP_NAMES: Final = {bits: name for name, bits in STP_MODES.items()}
_MISSING: Final = object()


class DefinitionError(Exception):
    """`field` (a path inside the definition, e.g. "stock.prec") is wrong: `problem`."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"field '{field}': {problem}")
        self.field = field
        self.problem = problem


def _value(obj: Mapping[str, Any], key: str, path: str, default: object) -> Any:
    value = obj.get(key, _MISSING)
    if value is _MISSING:
        if default is _MISSING:
            raise DefinitionError(path + key, "required field is missing")
        return default
    return value


def _text(obj: Mapping[str, Any], key: str, path: str = "", default: object = _MISSING, max_len: int = 0) -> str:
    value = _value(obj, key, path, default)
    if type(value) is not str:
        raise DefinitionError(path + key, "must be a string")
    if max_len:
        if not value:
            raise DefinitionError(path + key, "must not be empty")
        if len(value.encode()) > max_len:
            raise DefinitionError(path + key, f"must be at most {max_len} bytes")
    return value


def _prec(obj: Mapping[str, Any], key: str, path: str = "", default: object = _MISSING) -> int:
    value = _value(obj, key, path, default)
    if type(value) is not int:
        raise DefinitionError(path + key, "must be an integer")
    if value < 0:
        raise DefinitionError(path + key, "must be >= 0")
    if value > PREC_MAX:
        raise DefinitionError(path + key, f"must be <= {PREC_MAX}")
    return value


def _object(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = _value(obj, key, "", _MISSING)
    if not isinstance(value, dict):
        raise DefinitionError(key, "must be an object")
    return value


def parse_asset(obj: Mapping[str, Any]) -> Asset:
    """{"name", "prec_save", "prec_show" (default prec_save)}"""
    name = _text(obj, "name", max_len=ASSET_NAME_MAX)
    prec_save = _prec(obj, "prec_save")
    return Asset(name, prec_save, _prec(obj, "prec_show", default=prec_save))


def parse_market(obj: Mapping[str, Any], assets: Mapping[str, Asset], check_precisions: bool = True) -> MarketSpec:
    """{"name", "stock": {"name", "prec"}, "money": {"name", "prec"}, "fee_prec" (4), "min_amount" ("0.01"),
    "stp" ("none")}, its assets known and (unless the engine itself wrote the definition: a slice) its
    precisions within the original's start-up rules."""
    name = _text(obj, "name", max_len=MARKET_NAME_MAX)
    stock_obj, money_obj = _object(obj, "stock"), _object(obj, "money")
    stock = _text(stock_obj, "name", "stock.")
    money = _text(money_obj, "name", "money.")
    if stock not in assets:
        raise DefinitionError("stock.name", f"unknown asset '{stock}'")
    if money not in assets:
        raise DefinitionError("money.name", f"unknown asset '{money}'")
    stock_prec = _prec(stock_obj, "prec", "stock.")
    money_prec = _prec(money_obj, "prec", "money.")
    fee_prec = _prec(obj, "fee_prec", default=4)
    min_text = _text(obj, "min_amount", default="0.01")
    min_amount = parse_decimal(min_text, 0)
    if min_amount is None or min_amount < Decimal(0):
        raise DefinitionError("min_amount", f"'{min_text}' is not a non-negative decimal")
    save_stock, save_money = assets[stock].prec_save, assets[money].prec_save
    if check_precisions and stock_prec + money_prec > save_money:
        raise DefinitionError("stock.prec", f"stock.prec + money.prec must be <= prec_save of {money} ({save_money})")
    if stock_prec + fee_prec > save_stock:
        raise DefinitionError("fee_prec", f"stock.prec + fee_prec must be <= prec_save of {stock} ({save_stock})")
    if money_prec + fee_prec > save_money:
        raise DefinitionError("fee_prec", f"money.prec + fee_prec must be <= prec_save of {money} ({save_money})")
    stp = _text(obj, "stp", default="none")
    if stp not in STP_MODES:
        raise DefinitionError("stp", f"must be one of {', '.join(STP_MODES)}")
    return MarketSpec(name, stock, money, stock_prec, money_prec, fee_prec, min_amount, STP_MODES[stp])


def asset_definition(asset: Asset) -> dict[str, Any]:
    """The asset as a config object: what the operation log, slices and write-backs hold."""
    return {"name": asset.name, "prec_save": asset.prec_save, "prec_show": asset.prec_show}


def market_definition(spec: MarketSpec) -> dict[str, Any]:
    """The market as a config object with every field given: what the operation log, slices and
    write-backs hold."""
    return {"name": spec.name, "stock": {"name": spec.stock, "prec": spec.stock_prec},
            "money": {"name": spec.money, "prec": spec.money_prec}, "fee_prec": spec.fee_prec,
            "min_amount": fmt(spec.min_amount), "stp": STP_NAMES[spec.stp]}
