"""Exact decimal arithmetic as the original does it (libmpdec, 34 digits, toward zero).

Parsing is strict: the libmpdec grammar without NaN/Infinity, no whitespace, no
underscores, and a magnitude bound that keeps every value storable in the SQL
columns of the history and slice tables.  Formatting reproduces the original's
`fmt` (to-scientific-string, then trailing zeros stripped when there is no
exponent) and `sci` (to-scientific-string, unstripped).
"""

from __future__ import annotations

import decimal
import re
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Final

EXCHANGE_CONTEXT = decimal.Context(
    prec=34, rounding=ROUND_DOWN, Emin=-6143, Emax=6144, capitals=0, clamp=1, traps=[]
)

ZERO: Final = Decimal(0)
ONE: Final = Decimal(1)

# A value whose integer part has more digits than this cannot be stored in a
# DECIMAL(30,16) column (balances, deal values): inputs are bounded below it.
MAX_INTEGER_DIGITS: Final = 14
MAX_MAGNITUDE: Final = Decimal(10) ** MAX_INTEGER_DIGITS
MAX_TEXT_LENGTH: Final = 100

_DECIMAL_RE: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_QUANTS: Final = [Decimal(1).scaleb(-p) for p in range(64)]


_CUT: Final = EXCHANGE_CONTEXT.quantize


def cut(value: Decimal, quant: Decimal) -> Decimal:
    """`value.quantize(quant, ROUND_DOWN)` in the exchange context (whose rounding is ROUND_DOWN): the
    context's bound method takes two positional arguments, where Decimal.quantize parses keywords and
    looks the current context up, which made it the dearest step of a balance change."""
    return _CUT(value, quant)


def install_context() -> None:
    """Make the exchange context the current thread's decimal context."""
    decimal.setcontext(EXCHANGE_CONTEXT)


def quantum(prec: int) -> Decimal:
    """10^-prec, the unit of the last kept decimal."""
    return _QUANTS[prec] if 0 <= prec < len(_QUANTS) else Decimal(1).scaleb(-prec)


_PARSE_CACHE_LIMIT: Final = 65536
_parse_caches: dict[int, dict[str, Decimal | None]] = {}


def parse_decimal(text: object, prec: int) -> Decimal | None:
    """Parse a decimal parameter; None when it is not acceptable.

    Over-precise input is cut (toward zero) to `prec` decimals; `prec == 0`
    keeps the value as parsed, as the original does.  NaN, infinities,
    non-strings and values of 10^14 or more in magnitude are refused.
    Results are memoised per precision: order streams repeat their prices,
    amounts and fee rates, and Decimal values are immutable.
    """
    cache = _parse_caches.get(prec)
    if cache is None:
        cache = _parse_caches[prec] = {}
    elif type(text) is str:
        hit = cache.get(text, cache)
        if hit is not cache:
            return hit  # type: ignore[return-value]
    if type(text) is not str or len(text) > MAX_TEXT_LENGTH or not _DECIMAL_RE.match(text):
        return None
    value = Decimal(text)
    if prec:
        value = value.quantize(quantum(prec), ROUND_DOWN)
    if not value.is_finite() or abs(value) >= MAX_MAGNITUDE:
        value = None  # type: ignore[assignment]
    if len(cache) >= _PARSE_CACHE_LIMIT:
        cache.clear()
    cache[text] = value
    return value


def decimal_problem(text: object) -> str:
    """Why `parse_decimal` refuses `text`, for an error's reason ("amount: " + this)."""
    if type(text) is not str:
        return "must be a decimal number in a string"
    if len(text) > MAX_TEXT_LENGTH:
        return f"must be a decimal number of at most {MAX_TEXT_LENGTH} characters"
    if not _DECIMAL_RE.match(text):
        shown = text if len(text) <= 40 else text[:40] + "..."
        return f"must be a decimal number, not {shown!r}"
    return f"must be below 10^{MAX_INTEGER_DIGITS} in magnitude"


def rescale(value: Decimal, prec: int) -> Decimal:
    """Quantize to 10^-prec toward zero (a direct rescale: prec 0 means integers)."""
    return value.quantize(quantum(prec), ROUND_DOWN)


def fmt(value: Decimal) -> str:
    """The original's result formatting: sci string, zeros stripped when no exponent.

    Relies on the exchange context (capitals=0) for the lowercase exponent.
    """
    text = str(value)
    if "." in text and "e" not in text:
        return text.rstrip("0").rstrip(".")
    return text


def sci(value: Decimal) -> str:
    """To-scientific-string with a lowercase exponent (exchange context), unstripped."""
    return str(value)


def column_text(value: Decimal, scale: int) -> str:
    """Text a MySQL DECIMAL(_, scale) column takes for `value` and returns (after trailing zeros) unchanged.

    Fixed-point text with at most `scale` decimals is used as it is (the
    column pads zeros, which readers strip again); more decimals are rounded
    half away from zero, as MySQL does on insert.
    """
    text = str(value)
    if "e" not in text and "E" not in text:
        dot = text.find(".")
        if dot < 0 or len(text) - dot - 1 <= scale:
            return text
    return format(value.quantize(quantum(scale), ROUND_HALF_UP), "f")


def strip_column_text(text: str) -> str:
    """readhistory's `dbfmt`: column text with trailing zeros and dot removed."""
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        return "0"
    return text
