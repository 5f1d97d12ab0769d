"""What an engine waiting for the lease decides (matchengine.lease.judge), and the role settings of the config."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from common.config import ConfigError, Section
from matchengine.config import load_config
from matchengine.lease import LeaseRow, Verdict, judge
from tests.support import engine_config

TIMEOUT = 3.0


def row(*, term: int = 4, role: str = "standby", exchange: str = "x") -> LeaseRow:
    return LeaseRow(exchange=exchange, term=term, holder="host pid 1", role=role, oper_id=10, beat=7)


def decide(lease: LeaseRow, *, role: str = "standby", exchange: str = "x", lock_free: bool = False,
           still_for: float = 0.0, waited: float = 0.0) -> Verdict:
    return judge(lease, role=role, exchange=exchange, lock_free=lock_free, still_for=still_for, timeout=TIMEOUT,
                 waited=waited)


def test_a_lease_nobody_held_or_whose_holder_is_gone_is_taken_at_once() -> None:
    assert decide(row(term=0)).take and not decide(row(term=0)).expired
    gone = decide(row(), lock_free=True)
    assert gone.take and not gone.expired


def test_a_lease_not_renewed_for_the_timeout_is_taken_as_expired() -> None:
    assert not decide(row(), still_for=TIMEOUT - 0.1).take
    expired = decide(row(), still_for=TIMEOUT)
    assert expired.take and expired.expired


def test_a_standby_waits_behind_a_live_standby_leader_for_ever() -> None:
    verdict = decide(row(), waited=3600)
    assert not verdict.take and not verdict.refusal


def test_a_sole_engine_refuses_to_start_beside_any_live_leader() -> None:
    for holder_role in ("sole", "standby"):
        assert not decide(row(role=holder_role), role="sole", waited=TIMEOUT - 0.1).refusal
        refusal = decide(row(role=holder_role), role="sole", waited=TIMEOUT).refusal
        assert refusal.startswith("config error: field 'role': host pid 1") and "role 'standby'" in refusal
        assert "\n" not in refusal
    assert decide(row(role="sole"), role="sole", lock_free=True, waited=10).take  # a sole engine restarting


def test_a_standby_refuses_a_log_led_by_a_sole_engine() -> None:
    assert "as its sole engine" in decide(row(role="sole"), waited=TIMEOUT).refusal


def test_another_exchanges_log_is_refused_whatever_the_lease_says() -> None:
    for lease in (row(term=0, exchange="other"), row(exchange="other")):
        refusal = decide(lease, lock_free=True).refusal
        assert refusal == ("config error: field 'exchange': the operation log in db_log belongs to exchange "
                           "'other', this config names 'x'")


@pytest.mark.parametrize(("changes", "field"), [
    ({"role": "leader"}, "role"),
    ({"role": "standby"}, "exchange"),
    ({"role": "standby", "exchange": "x", "durable_reply": False}, "durable_reply"),
    ({"exchange": "x" * 65}, "exchange"),
    ({"lease_timeout": 0.1}, "lease_timeout"),
])
def test_role_settings_are_checked(tmp_path: Path, changes: dict[str, object], field: str) -> None:
    raw = engine_config(tmp_path, log_db="l", history_db="h", brokers="127.0.0.1:9")
    raw.update(copy.deepcopy(changes))
    with pytest.raises(ConfigError) as exc:
        load_config(Section(raw))
    assert str(exc.value).startswith(f"config error: field '{field}'")


def test_the_default_is_the_sole_engine(tmp_path: Path) -> None:
    config = load_config(Section(engine_config(tmp_path, log_db="l", history_db="h", brokers="127.0.0.1:9")))
    assert (config.role, config.exchange, config.lease_timeout) == ("sole", "", 3.0)
