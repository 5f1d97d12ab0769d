"""SQL string literal escaping: the same text as pymysql's escape_string wherever escaping is needed; SQLite
literals that store exactly what binding the value stores."""

from __future__ import annotations

import math
import random
import sqlite3
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymysql.converters import escape_string

from common.sqltext import escape_text, sqlite_int, sqlite_real, sqlite_text

NEEDS_ESCAPE = set("\x00\n\r\\'\x1a")


@given(st.text(alphabet=st.sampled_from("ab \x00\n\r\\'\"\x1aé✓"), max_size=40) | st.text(max_size=40))
def test_escaping_matches_pymysql(text: str) -> None:
    if NEEDS_ESCAPE & set(text):
        assert escape_text(text) == escape_string(text)
    else:
        assert escape_text(text) is text  # a double quote alone is fine inside single quotes


# ---------------------------------------------------------------- SQLite literals

SQLITE_TEXTS = ["", "plain", "it's", "''", "back\\slash", "\\'", "new\nline", "cr\rlf", "ctrl\x1aZ", "nul\x00byte",
                "\x00", "\x00\x00'\x00", "'||char(0)||'", "ünïcødé ✓ 😀", "'; DROP TABLE t; --"]
SQLITE_INTS = [0, 1, -1, 7, 2**31, 2**53 + 1, 2**63 - 1, -(2**63), -(2**63) + 1, 10**18]


def _stored(conn: sqlite3.Connection, table: str) -> list[tuple[object, ...]]:
    """Every value with its storage class, exactly (floats by repr, text by its UTF-8 bytes)."""
    return [tuple(repr(v) for v in row) for row in conn.execute(
        f"SELECT typeof(r), r, typeof(t), hex(t), typeof(i), i FROM {table} ORDER BY rowid")]


def _literal_rows_store_what_binding_stores(rows: list[tuple[float, str, int]]) -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    for table in ("bound", "literal"):
        conn.execute(f"CREATE TABLE {table} (r REAL, t TEXT, i INTEGER)")
    conn.executemany("INSERT INTO bound VALUES (?, ?, ?)", rows)
    for start in range(0, len(rows), 500):
        conn.execute("INSERT INTO literal VALUES " + ",".join(
            f"({sqlite_real(r)},{sqlite_text(t)},{sqlite_int(i)})" for r, t, i in rows[start:start + 500]))
    assert _stored(conn, "literal") == _stored(conn, "bound")


def test_sqlite_literals_store_what_binding_stores() -> None:
    """Every float, text and 64-bit integer written as a literal is stored as the bound value is: the same
    storage class and the same bytes (SQLite itself reads about one decimal float text in 500 one ulp off)."""
    rnd = random.Random(5)
    floats = [0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, -5e-324, 2.2250738585072014e-308, 1e-310,
              1.7976931348623157e308, -1.7976931348623157e308, 2.0**53, 2.0**53 + 2, 2.0**63, -(2.0**63), 1e22, 123.0,
              0.1 + 0.2, 1796308334.3507645, 1796308334.0, -1796308334.25]
    floats += [rnd.uniform(1.7e9, 1.8e9) for _ in range(20000)]  # times
    floats += [struct.unpack("<d", rnd.getrandbits(64).to_bytes(8, "little"))[0] for _ in range(20000)]
    rows = [(f, SQLITE_TEXTS[n % len(SQLITE_TEXTS)], SQLITE_INTS[n % len(SQLITE_INTS)]) for n, f in enumerate(floats)]
    _literal_rows_store_what_binding_stores(rows)


@given(st.floats(allow_nan=False), st.text(alphabet=st.sampled_from("ab \x00\n\\'\"é✓"), max_size=20) | st.text(),
       st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_sqlite_literals_store_what_binding_stores_for_any_value(real: float, text: str, integer: int) -> None:
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate can be neither bound nor written
        return
    _literal_rows_store_what_binding_stores([(real, text, integer)])


def test_sqlite_integers_beyond_64_bits_are_refused_as_binding_refuses_them() -> None:
    conn = sqlite3.connect(":memory:")
    for value in (2**63, -(2**63) - 1, 10**30):
        with pytest.raises(OverflowError):
            conn.execute("SELECT ?", (value,))
        with pytest.raises(OverflowError):
            sqlite_int(value)


def test_sqlite_times_are_literals_computed_once_per_statement() -> None:
    """The quotient of two literals: no function call, no CAST."""
    assert sqlite_real(1796308334.3507645) == "7534263232000749.0/4194304"
    assert sqlite_real(1796308334.0) == "1796308334.0"
