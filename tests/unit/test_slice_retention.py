"""Which slices are dropped (matchengine.slice.slices_to_drop): the original's keeptime rule, and the slices
made because the log grew long, dropped once a newer one exists."""

from __future__ import annotations

import pytest

from matchengine import slicer
from matchengine.replica import Replica
from matchengine.slice import slices_to_drop
from matchengine.slicer import Slicer
from tests.unit.core_helpers import deposit, limit, spec_engine

HOUR = 3600
DAY = 86400



def test_slices_beyond_keeptime_go_unless_none_is_recent() -> None:
    slices = [(1, 1000, 10), (2, 1000 + HOUR, 20), (3, 1000 + 2 * HOUR, 30)]
    now = 1000 + 2 * HOUR
    assert slices_to_drop(slices, now, keeptime=HOUR + 1, interval=HOUR, protected=None) == [(1, 1000)]
    # nothing within keeptime (a long stop): every slice stays
    assert slices_to_drop(slices, now + 10 * DAY, keeptime=HOUR, interval=HOUR, protected=None) == []


def test_the_newest_and_the_protected_slice_always_stay() -> None:
    slices = [(1, 1000, 10), (2, 1000 + HOUR, 20), (3, 1000 + 2 * HOUR, 30)]
    now = 1000 + 2 * HOUR + 10
    assert slices_to_drop(slices, now, keeptime=HOUR, interval=HOUR, protected=1000) == [(2, 1000 + HOUR)]
    assert slices_to_drop(slices, now + 10 * DAY, keeptime=HOUR, interval=HOUR, protected=None) == []


def test_slices_made_for_a_long_log_go_once_a_newer_one_exists() -> None:
    base = 100 * HOUR
    scheduled = (1, base + 3, 100)
    extras = [(2, base + 600, 200_000), (3, base + 1200, 400_000), (4, base + HOUR + 2, 600_000),
              (5, base + HOUR + 900, 800_000)]
    slices = [scheduled, *extras]
    now = base + HOUR + 900
    assert slices_to_drop(slices, now, keeptime=3 * DAY, interval=HOUR, protected=None) == [
        (2, base + 600), (3, base + 1200)]
    # the publisher's restart point is kept even if it was such a slice
    assert slices_to_drop(slices, now, keeptime=3 * DAY, interval=HOUR, protected=base + 600) == [
        (3, base + 1200)]


def test_a_slice_is_due_when_the_log_since_the_last_one_outgrows_the_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slicer, "SLICE_MIN_OPERATIONS", 10)
    engine, commands = spec_engine()
    for user in range(1, 6):
        deposit(commands, user, "BTC", "10")
        deposit(commands, user, "BCH", "100000")
    for user in range(1, 6):
        limit(commands, user, 1, "1", str(9000 + user))  # five resting asks: 5 orders, 10 + 5 balance entries
    replica = Replica(engine)
    making = Slicer(None, replica, interval=3600, keeptime=DAY, protect=lambda: 0)  # type: ignore[arg-type]
    making.last_slice_oper_id = 100
    state = 5 + sum(len(entries) for entries in engine.balances.available.values())
    for applied, due in ((105, False), (100 + state - 1, False), (100 + state, True)):
        replica.applied_id = applied
        assert making.log_is_long() is due, applied
