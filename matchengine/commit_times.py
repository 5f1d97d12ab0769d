"""When operations were committed, to say how many seconds a position (history, Kafka) is behind.

The lag of a position is the age of the oldest committed operation it does
not cover yet.  Commits are recorded at most every `RESOLUTION` seconds (a
group commit every 2 ms would otherwise fill memory in a long outage): a
record stretches over the commits that follow it within that time, so a lag
may read up to `RESOLUTION` too long; after `MAX_RECORDS` records the oldest are
forgotten and a lag that old reads as the age of the oldest record kept.
"""

from __future__ import annotations

import time
from collections import deque

RESOLUTION = 0.01
MAX_RECORDS = 200_000


class CommitTimes:
    def __init__(self) -> None:
        self._records: deque[tuple[int, float]] = deque(maxlen=MAX_RECORDS)  # (last id of a commit, monotonic)

    def committed(self, oper_id: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        records = self._records
        if records and now - records[-1][1] < RESOLUTION:
            records[-1] = (oper_id, records[-1][1])  # the last record stretches over this commit
            return
        records.append((oper_id, now))

    def forget_through(self, position: int) -> None:
        """Every position of interest covers `position`: older records are no longer needed."""
        records = self._records
        while len(records) > 1 and records[1][0] <= position:
            records.popleft()

    def lag_seconds(self, position: int, now: float | None = None) -> float:
        """How long ago the first operation after `position` was committed (0 when nothing is behind)."""
        now = time.monotonic() if now is None else now
        for oper_id, at in self._records:
            if oper_id > position:
                return max(0.0, now - at)
        return 0.0
