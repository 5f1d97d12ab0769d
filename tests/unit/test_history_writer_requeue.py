"""A stripe's batch whose write ends otherwise than by the writer's own retries (a cancel from inside the
driver, an error nobody expects) goes back first in the stripe's queue: the next writer writes it before
anything after it, so its rows are never passed by a later position."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from common.storage import InsertRows, Statement
from matchengine.history_writer import HistoryWriter


class Server:
    """Commits transactions in memory; the first `troubles` of them end by the given exception."""

    dialect = "sqlite"

    def __init__(self, troubles: list[BaseException]) -> None:
        self.troubles = troubles
        self.committed: list[tuple[int, list[str]]] = []  # (position written, tables)

    async def transact(self, operations: Sequence[Any]) -> list[int]:
        if self.troubles:
            raise self.troubles.pop(0)
        # the position statement: first on MySQL, after the rows on SQLite
        upto = next(op for op in operations if isinstance(op, Statement)).params[0]
        self.committed.append((upto, [op.table for op in operations if isinstance(op, InsertRows)]))
        return [len(op.rows) if isinstance(op, InsertRows) else 1 for op in operations]


@pytest.mark.parametrize("trouble", [asyncio.CancelledError(), RuntimeError("unexpected")])
async def test_a_batch_that_was_not_written_is_written_first_next_time(trouble: BaseException) -> None:
    server = Server([trouble])
    writer = HistoryWriter([server], on_progress=lambda: None)  # type: ignore[list-item]
    stripe = writer.stripes[writer.stripe_of("order_history_0")]
    stripe.batches.append((10, {"order_history_0": [(1,)]}, 1))
    stripe.batches.append((20, {"order_history_0": [(2,)]}, 1))
    writer._queued_batches = 2
    stripe.idle.clear()
    with pytest.raises(type(trouble)):
        await writer._write(stripe)
    assert [b[0] for b in stripe.batches] == [10, 20] and writer._queued_batches == 2
    assert stripe.position == 0 and stripe.idle.is_set()
    stripe.idle.clear()
    await asyncio.wait_for(writer._write(stripe), 5)
    assert [upto for upto, _ in server.committed] == [10, 20]
    assert stripe.position == 20 and writer._queued_batches == 0
