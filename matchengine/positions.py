"""Position rows: the id of the last operation whose output a writer has committed.

`history_position` (in trade_history, one row per history stripe) and
`message_position` (in trade_log) say where the publisher stands, so that
after any crash it goes on with exactly the operations after them.
"""

from __future__ import annotations

import time

from common.storage import Database


async def read_position(db: Database, table: str, row: int = 1, initial: int = 0) -> int:
    """The position recorded in row `row` of a position table; created holding `initial` if missing."""
    rows = await db.fetchall(f"SELECT `oper_id` FROM `{table}` WHERE `id` = %s", (row,))
    if rows:
        return int(rows[0][0])
    await db.execute(f"INSERT INTO `{table}` (`id`, `oper_id`, `time`) VALUES (%s, %s, %s)",
                     (row, initial, time.time()))
    return initial
