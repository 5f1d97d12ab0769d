"""The texts the publisher writes over and over, each made once: decimals, names and times.

The publisher renders every history row and Kafka message as text as the
core reports it, and most of what goes into them repeats.  An order's price,
amount and fee rates are the Decimal objects the parser keeps per text
(`common.decimals.parse_decimal`), the same object order after order; names
(assets, markets, sources, businesses) are few; the rows and messages of an
operation share its time.  The caches here hold those texts:

* `DecimalTexts` knows a Decimal by its identity, not its value: equal
  Decimals may print differently (1.0 and 1.00), and a cached entry keeps
  its object alive, so that an identity seen again is the same value;
* `NameTexts` maps a name to its quoted literal (`sql_quoted`, `sqlite_quoted`,
  `json_quoted`);
* `FloatTexts` keeps the text of the times of the latest rows or messages:
  repr() (`float_repr`), JSON (`float_json`) or SQLite expressions
  (`common.sqltext.sqlite_real`).

Every cache is bounded: it starts again when full.  Values seen once (a
deal's amount, a balance) are rendered without any cache: `column_text_of`
is `common.decimals.column_text` with its common case made cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Final

import orjson

from common.decimals import column_text, fmt, sci
from common.sqltext import escape_text, sqlite_text

KEPT: Final = 4096
FLOATS_KEPT: Final = 100_000
NAMES_KEPT: Final = 10_000
FMT: Final = -1  # DecimalTexts(FMT): the text of `fmt`, not of a column
SCI: Final = -2  # DecimalTexts(SCI): the text of `sci`


class DecimalTexts:
    """The column text (`column_text(value, scale)`), or with scale FMT / SCI the `fmt` / `sci` text, of the
    Decimal objects seen lately, by identity."""

    def __init__(self, scale: int) -> None:
        self.scale = scale
        self.kept: dict[Decimal, tuple[Decimal, str]] = {}

    def of(self, value: Decimal) -> str:
        hit = self.kept.get(value)  # a Decimal keeps its hash: a lookup of a known object is cheap
        if hit is not None and hit[0] is value:
            return hit[1]
        scale = self.scale
        text = fmt(value) if scale == FMT else sci(value) if scale == SCI else column_text_of(value, scale)
        if len(self.kept) >= KEPT:
            self.kept.clear()
        self.kept[value] = (value, text)
        return text


def column_text_of(value: Decimal, scale: int) -> str:
    """`column_text(value, scale)`; more decimals than `scale` that are all zeros are cut without rounding
    (a deal's money has price + amount decimals, mostly zeros at the end)."""
    text = str(value)
    if "e" not in text and "E" not in text:
        dot = text.find(".")
        if dot < 0:
            return text
        cut = dot + 1 + scale
        if len(text) <= cut:
            return text
        if scale > 0 and not text[cut:].strip("0"):
            return text[:cut]
    return column_text(value, scale)


class NameTexts:
    """The literal (`render(name)`) of the names seen lately."""

    def __init__(self, render: Callable[[str], str]) -> None:
        self.render = render
        self.kept: dict[str, str] = {}

    def of(self, name: str) -> str:
        text = self.kept.get(name)
        if text is None:
            if len(self.kept) >= NAMES_KEPT:
                self.kept.clear()
            text = self.kept[name] = self.render(name)
        return text


def _sql_literal(name: str) -> str:
    return "'" + escape_text(name) + "'"


_SQL_NAMES: Final = NameTexts(_sql_literal)
_SQLITE_NAMES: Final = NameTexts(sqlite_text)


def sql_quoted(name: str) -> str:
    """A single-quoted MySQL string literal of `name`."""
    return _SQL_NAMES.of(name)


def sqlite_quoted(name: str) -> str:
    """A SQLite string literal of `name` (common.sqltext.sqlite_text)."""
    return _SQLITE_NAMES.of(name)


def json_quoted(name: str) -> str:
    """The JSON string of `name` as orjson writes it (non-ASCII as it is, in the UTF-8 of the message)."""
    return _JSON_NAMES.of(name)


def json_string(text: str) -> str:
    """The JSON string of `text`, as orjson writes it; printable ASCII without quote or backslash is
    written as it is, anything else by orjson itself."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return '"' + text + '"'
    return orjson.dumps(text).decode()


_JSON_NAMES: Final = NameTexts(json_string)


class FloatTexts:
    """The text (`render(value)`) of the floats (times) of the latest rows or messages.

    The rows and messages of an operation come one after another and share its time: that one is
    compared before any lookup."""

    def __init__(self, render: Callable[[float], str]) -> None:
        self.render = render
        self.texts: dict[float, str] = {}
        self.last = 0.0
        self.last_text = ""

    def of(self, value: float) -> str:
        if value == self.last and value != 0.0:  # equal floats print alike, but for 0.0 and -0.0
            return self.last_text
        text = self.texts.get(value)
        if text is None or value == 0.0:
            if len(self.texts) >= FLOATS_KEPT:
                self.texts.clear()
            text = self.texts[value] = self.render(value)
        self.last, self.last_text = value, text
        return text


def float_repr(value: float) -> str:
    """repr(value), made by orjson where both write plain decimals (1e-3 <= |value| < 1e16: both the
    shortest text that reads back as the value, found equal on 3 million values, timestamps and random
    doubles), at a tenth of repr()'s cost; both read back as the same double in any case."""
    return orjson.dumps(value).decode() if 1e-3 <= abs(value) < 1e16 else repr(value)


def float_json(value: float) -> str:
    """The JSON text of `value`, as orjson writes it."""
    return orjson.dumps(value).decode()
