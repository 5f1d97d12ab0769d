"""The SQL text of history rows: times printed as repr() prints them, however the rows of a batch interleave."""

from __future__ import annotations

from matchengine import history
from matchengine.history import shape_of


def balance_row(at: float, user: int = 7) -> tuple[float, int, str, str, str, str, str]:
    return (at, user, "BTC", "trade", "-1.5", "2.5000000000000000", '{"a": "1", "m": "BTCUSDT"}')


def test_times_render_as_repr_whatever_the_order_of_the_rows() -> None:
    _, render = shape_of("balance_history_7")
    times = [1796308334.3507645, 0.1 + 0.2, 1e22, 5e-324, 1796308334.0, 0.0, -0.0, 0.0, 1796308334.3507645]
    for at in times:
        assert render(balance_row(at)).startswith(f"({at!r},7,'BTC','trade',-1.5,2.5000000000000000,")
    assert render(balance_row(-0.0)).startswith("(-0.0,") and render(balance_row(0.0)).startswith("(0.0,")


def test_the_time_texts_kept_are_bounded() -> None:
    _, render = shape_of("deal_history_3")
    kept = history._FLOAT_TEXTS_KEPT
    for i in range(kept + 10):
        at = 1.5 + i / 1024
        row = (at, 3, 11, 12, 13, 1, "1", "2", "2", "0", "0")
        assert render(row) == f"({at!r},3,11,12,13,1,1,2,2,0,0)"
    assert len(history._TIME_TEXT.texts) <= kept
