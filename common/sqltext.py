"""Text for single-quoted MySQL string literals (the escaping of pymysql's `escape_string`).

Kept apart from storage.py so that it can be compiled (setup.py) and used by
compiled modules (history rows) without importing the database drivers.
"""

from __future__ import annotations

from typing import Final

_ESCAPES: Final = {0: "\\0", ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r", 0x1A: "\\Z",
                   ord('"'): '\\"', ord("'"): "\\'"}


def escape_text(text: str) -> str:
    """Text escaped for a single-quoted MySQL string literal (most text needs nothing)."""
    if ("'" in text or "\\" in text or "\n" in text or "\r" in text or "\x00" in text
            or "\x1a" in text):  # a few scans of a short string cost less than a regex search
        return text.translate(_ESCAPES)
    return text


# ---------------------------------------------------------------- SQLite literals
#
# These render values as SQLite stores them when bound as parameters, so that a multi-row INSERT
# written as text stores exactly what `executemany` stores.

INT64_MIN: Final = -9223372036854775808
INT64_MAX: Final = 9223372036854775807
_POWER_STEP: Final = 62  # 2**62 is an INTEGER literal, and a double exactly


def sqlite_text(text: str) -> str:
    """A SQLite string literal of `text`: quotes doubled, backslashes as they are; a NUL, which SQL text cannot
    hold, as char(0) joined in."""
    if "'" in text:
        text = text.replace("'", "''")
    if "\x00" in text:
        return "('" + text.replace("\x00", "'||char(0)||'") + "')"
    return "'" + text + "'"


def sqlite_int(value: int) -> str:
    """A SQLite literal of an INTEGER; OverflowError beyond 64 bits, as binding one raises."""
    if INT64_MIN < value <= INT64_MAX:
        return str(value)
    if value == INT64_MIN:
        return "(-9223372036854775807-1)"  # the literal 9223372036854775808 would be a REAL
    raise OverflowError("Python int too large to convert to SQLite INTEGER")


def sqlite_real(value: float) -> str:
    """A SQLite expression of exactly the double `value`.

    SQLite (3.40) reads about one decimal text in 500 one unit in the last
    place off, so a non-zero finite value is written as its exact fraction
    n.0 / 2**k: an integer below 2**53 written with `.0` reads back exactly
    (no scaling by a power of ten), and dividing by a power of two is exact.
    Both sides are literals, so SQLite computes the quotient once per
    statement.  A bound NaN is stored as NULL, infinities as themselves.
    """
    if value != value:
        return "NULL"
    if value == 0.0:
        return "-0.0" if str(value)[0] == "-" else "0.0"
    if value in (_INF, -_INF):
        return "9e999" if value > 0 else "-9e999"
    numerator, denominator = value.as_integer_ratio()
    if denominator == 1:
        # numerator = m * 2**k with m < 2**53: multiply in steps that are exact integers
        shift = (numerator & -numerator).bit_length() - 1 if abs(numerator) > 1 << 53 else 0
        text = f"{numerator >> shift}.0"
        while shift > 0:
            step = min(shift, _POWER_STEP)
            text += f"*{1 << step}"
            shift -= step
        return text
    text = f"{numerator}.0"
    shift = denominator.bit_length() - 1
    while shift > 0:
        step = min(shift, _POWER_STEP)
        text += f"/{1 << step}"
        shift -= step
    return text


_INF: Final = float("inf")
