"""When the history writer cuts a batch: while operations keep coming, rows gather for the interval (fewer,
larger statements); once operations pause for HISTORY_IDLE, what gathered is written at once.  (The first
operation after a quiet spell, longer than the interval, is written at once: the tests start after it.)"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from common.config import ConfigError, Section
from common.storage import InsertRows, Statement
from matchengine import history_writer
from matchengine.config import load_config
from matchengine.history_writer import HistoryWriter
from tests.support import engine_config


class Server:
    dialect = "sqlite"

    def __init__(self) -> None:
        self.commits: list[tuple[float, int, int]] = []  # (when, position written, rows)

    async def transact(self, operations: Sequence[Any]) -> list[int]:
        rows = sum(len(op.rows) for op in operations if isinstance(op, InsertRows))
        position = next(op for op in operations if isinstance(op, Statement))  # after the rows on SQLite
        self.commits.append((time.monotonic(), position.params[0], rows))
        return [len(op.rows) if isinstance(op, InsertRows) else 1 for op in operations]


def apply(writer: HistoryWriter, oper_id: int) -> None:
    """One operation that made a balance_history row (user 0: stripe 0)."""
    writer.rows.balance_updated(1.0, 0, "BTC", "deposit", Decimal(1), Decimal(oper_id), {})
    writer.operation_applied(oper_id)
    writer.kick()


async def test_rows_gather_for_the_interval_while_operations_keep_coming(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history_writer, "HISTORY_IDLE", 0.4)  # a pause a loaded machine's loop does not make
    server = Server()
    writer = HistoryWriter([server], on_progress=lambda: None, interval=0.8)  # type: ignore[list-item]
    started = time.monotonic()
    oper_id = 0
    while time.monotonic() - started < 2.0:  # an operation every 20 ms: never idle
        oper_id += 1
        apply(writer, oper_id)
        await asyncio.sleep(0.02)
    written = [c for c in server.commits if c[2]][1:]
    assert 2 <= len(written) <= 3  # one batch per interval, not one per idle period
    assert all(rows >= 20 for _, _, rows in written)
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(written)]
    assert all(gap >= 0.7 for gap in gaps)


async def test_what_gathered_is_written_once_operations_pause() -> None:
    server = Server()
    writer = HistoryWriter([server], on_progress=lambda: None, interval=30.0)  # type: ignore[list-item]
    apply(writer, 1)
    await asyncio.sleep(0.3)
    assert writer.stripes[0].position == 1
    apply(writer, 2)
    apply(writer, 3)
    applied = time.monotonic()
    for _ in range(100):
        if writer.stripes[0].position == 3:
            break
        await asyncio.sleep(0.02)
    assert writer.stripes[0].position == 3
    when, upto, rows = [c for c in server.commits if c[2]][1]
    assert (upto, rows) == (3, 2)
    assert history_writer.HISTORY_IDLE <= when - applied < history_writer.HISTORY_IDLE + 0.5


def test_the_interval_is_configured(tmp_path: Path) -> None:
    def engine(**extra: Any) -> Any:
        return load_config(Section(engine_config(tmp_path, log_db="l", history_db="h", brokers="127.0.0.1:9", **extra)))

    assert engine().history_interval == history_writer.HISTORY_INTERVAL == 0.5
    assert engine(history_interval=2).history_interval == 2.0
    with pytest.raises(ConfigError, match="history_interval"):
        engine(history_interval=0)
    with pytest.raises(ConfigError, match="history_interval"):
        engine(history_interval="fast")
