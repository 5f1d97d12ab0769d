"""The SQL text of history rows: times printed as repr() prints them, however the rows of a batch interleave."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from typing import Any, cast

import pytest

from common.errors import RpcError
from common.schema import HISTORY_TEMPLATES, create_table_sql
from matchengine import history, texts
from matchengine.balance import Asset
from matchengine.commands import Commands
from matchengine.engine import Engine
from matchengine.history import HistoryRows, shape_of
from matchengine.market import MarketSpec
from matchengine.order import ASK, BID

from .core_helpers import T0, deposit, limit, spec_engine


def balance_row(at: float, user: int = 7) -> tuple[float, int, str, str, str, str, str]:
    return (at, user, "BTC", "trade", "-1.5", "2.5000000000000000", '{"a": "1", "m": "BTCUSDT"}')


def test_times_render_as_repr_whatever_the_order_of_the_rows() -> None:
    _, render = shape_of("balance_history_7")
    times = [1796308334.3507645, 0.1 + 0.2, 1e22, 5e-324, 1796308334.0, 0.0, -0.0, 0.0, 1796308334.3507645]
    for at in times:
        assert render(balance_row(at)).startswith(f"({at!r},7,'BTC','trade',-1.5,2.5000000000000000,")
    assert render(balance_row(-0.0)).startswith("(-0.0,") and render(balance_row(0.0)).startswith("(0.0,")
    rnd = random.Random(11)  # the plain range, made by orjson: still repr()'s text
    for at in [rnd.uniform(1e9, 2e9) for _ in range(20000)] + [rnd.uniform(1e-3, 1e16) for _ in range(20000)]:
        assert render(balance_row(at)).startswith(f"({at!r},7,"), at


def test_the_time_texts_kept_are_bounded() -> None:
    _, render = shape_of("deal_history_3")
    kept = texts.FLOATS_KEPT
    for i in range(kept + 10):
        at = 1.5 + i / 1024
        row = (at, 3, 11, 12, 13, 1, "1", "2", "2", "0", "0")
        assert render(row) == f"({at!r},3,11,12,13,1,1,2,2,0,0)"
    assert len(history._TIME_TEXT.texts) <= kept


def spec_history(rows: HistoryRows) -> dict[str, list[object]]:
    """The rows of a session of the spec's markets that makes every kind of history row."""
    _, c = spec_engine(rows)
    for user in (1, 2, 3):
        deposit(c, user, "BTC", "10")
        deposit(c, user, "BCH", "10000")
    c.balance_update([1, "BCH", "it's\\ a \"bonus\"", 99, "1.5", {"note": "ünï\ncode"}], T0 + 1)
    limit(c, 1, ASK, "1", "100")
    limit(c, 2, BID, "0.4", "101", time=T0 + 2)
    limit(c, 3, BID, "1", "100", time=T0 + 3)
    c.put_stop_limit([3, "BTCBCH", ASK, "1", "95", "89", "0.002", "0.001", "src", 0, ""], T0 + 4)
    limit(c, 2, BID, "1", "92", time=T0 + 4.5)
    limit(c, 1, ASK, "2", "90", time=T0 + 5)  # down to 92: fires the stop
    return rows.take()


def as_tuples_and_as_text(session: Callable[[HistoryRows], dict[str, list[object]]], text: str,
                          ) -> tuple[dict[str, list[object]], dict[str, list[object]]]:
    """The rows of `session` kept as tuples, and kept as text (HistoryRows' flag `text` set)."""
    histories = []
    for as_text in (False, True):
        rows = HistoryRows()
        setattr(rows, text, as_text)
        histories.append(session(rows))
    return histories[0], histories[1]


def assert_rendered(tuples: dict[str, list[object]], texts: dict[str, list[object]]) -> None:
    """`texts` holds, table by table and in order, what the MySQL renderer makes of `tuples`."""
    assert set(tuples) == set(texts)
    for table, kept in tuples.items():
        render = shape_of(table)[1]
        assert texts[table] == [render(cast(tuple[Any, ...], row)) for row in kept], table


def test_rows_kept_as_text_are_the_rows_rendered() -> None:
    """With `sql_text` (every history database is MySQL) rows are rendered as they come: the same text the
    tuples kept for SQLite give, table by table, in order."""
    tuples, texts = as_tuples_and_as_text(spec_history, "sql_text")
    assert {t.rsplit("_", 1)[0] for t in texts} == {
        "balance_history", "deal_history", "user_deal_history", "order_history", "order_detail", "stop_history"}
    assert_rendered(tuples, texts)


def quoted_names_history(rows: HistoryRows) -> dict[str, list[object]]:
    """The rows of a session of a market and an asset whose names need quoting, orders from random sources."""
    engine = Engine([Asset("BTC", 12, 8), Asset("U'SD", 12, 2)],
                    [MarketSpec("BTC'U\\", "BTC", "U'SD", 4, 2, 3, Decimal("0.01"))], rows)
    c = Commands(engine)
    rnd = random.Random(3)
    for user in (1, 2, 3):
        c.balance_update([user, "BTC", "deposit", user, "1000", {}], T0)
        c.balance_update([user, "U'SD", "it's", 10 + user, "100000", {"k": "a'\"b"}], T0)
    for step in range(400):
        params = [rnd.randint(1, 3), "BTC'U\\", rnd.choice([ASK, BID]), rnd.choice(["0.01", "0.5", "1.25"]),
                  f"{rnd.uniform(95, 105):.{rnd.choice([0, 1, 2])}f}", rnd.choice(["0", "0.002", "0.0025"]),
                  "0.001", rnd.choice(["", "it's", "a\\b", "x" * 40, "ü\n", "n\x00l"])]
        try:
            c.put_limit(params, T0 + step * 0.25)
        except RpcError:
            pass
    return rows.take()


def test_rows_of_names_that_need_escaping_are_the_rows_rendered() -> None:
    """A market, asset or source with a quote in it: the row text written directly is the renderer's, byte for
    byte (the detail of a trade's balance rows is escaped as a whole, as _balance_sql escapes it)."""
    assert_rendered(*as_tuples_and_as_text(quoted_names_history, "sql_text"))


def _sqlite_store(tables: dict[str, list[object]], as_text: bool) -> list[tuple[str, list[tuple[str, ...]]]]:
    """The rows stored in SQLite history tables, each value with its storage class (by repr, so exactly)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    stored = []
    for table, kept in sorted(tables.items()):
        template = next(t for t in HISTORY_TEMPLATES if table.startswith(t.name.removesuffix("example")))
        for sql in create_table_sql(template, "sqlite", table):
            conn.execute(sql)
        columns = shape_of(table)[0]
        names = ", ".join(f"`{c}`" for c in columns)
        if as_text:
            conn.execute(f"INSERT INTO `{table}` ({names}) VALUES " + ",".join(cast(list[str], kept)))
        else:
            conn.executemany(f"INSERT INTO `{table}` ({names}) VALUES ({', '.join('?' * len(columns))})",
                             cast(list[tuple[Any, ...]], kept))
        typed = ", ".join(f"typeof(`{c}`), `{c}`" for c in columns)
        stored.append((table, [tuple(repr(v) for v in row)
                               for row in conn.execute(f"SELECT {typed} FROM `{table}` ORDER BY rowid")]))
    return stored


@pytest.mark.parametrize("session", [spec_history, quoted_names_history])
def test_rows_kept_as_sqlite_text_store_what_the_tuples_store(
        session: Callable[[HistoryRows], dict[str, list[object]]]) -> None:
    """With `sqlite_sql` (every history database is SQLite) rows are SQLite VALUES text as they come: stored,
    they are the tuples executemany binds, value for value and type for type, table by table, in order."""
    tuples, texts = as_tuples_and_as_text(session, "sqlite_sql")
    assert set(tuples) == set(texts) and all(isinstance(row, str) for kept in texts.values() for row in kept)
    assert _sqlite_store(texts, True) == _sqlite_store(tuples, False)


def test_sqlite_text_of_nasty_text_stores_what_binding_stores() -> None:
    """Text with a NUL (SQL text cannot hold one), quotes and backslashes, in the rows of the renderers (the
    rows written inline meet such text in the sessions above)."""
    nasty = "it's \\ a\x00b ''"
    balance = (T0 + 0.1, 7, nasty, nasty[:30], "-1.5", "2.5", '{"k": "' + nasty + '"}')
    stop = (6, T0, T0 + 0.5, 7, nasty, nasty[:30], nasty, 0, 1, 2, "9", "1.5", "2", "0.002", "0.001", 3)
    for table, row in (("balance_history_7", balance), ("stop_history_7", stop)):
        text = shape_sqlite(table)(row)
        assert "\x00" not in text
        assert _sqlite_store({table: [text]}, True) == _sqlite_store({table: [row]}, False), table


def shape_sqlite(table: str) -> Callable[[Any], str]:
    kind = table.rsplit("_", 1)[0]
    renderers: dict[str, Callable[[Any], str]] = {"balance_history": history._balance_sqlite,
                                                  "stop_history": history._stop_sqlite}
    return renderers[kind]
