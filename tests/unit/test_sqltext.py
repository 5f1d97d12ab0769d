"""SQL string literal escaping: the same text as pymysql's escape_string wherever escaping is needed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from pymysql.converters import escape_string

from common.sqltext import escape_text

NEEDS_ESCAPE = set("\x00\n\r\\'\x1a")


@given(st.text(alphabet=st.sampled_from("ab \x00\n\r\\'\"\x1aé✓"), max_size=40) | st.text(max_size=40))
def test_escaping_matches_pymysql(text: str) -> None:
    if NEEDS_ESCAPE & set(text):
        assert escape_text(text) == escape_string(text)
    else:
        assert escape_text(text) is text  # a double quote alone is fine inside single quotes
