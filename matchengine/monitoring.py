"""What the engine's monitor port shows: metrics read from the running node at scrape time, and readiness.

Nothing here runs per order: orders, deals and operations are the ids the
engine hands out anyway, and everything else is a position, a queue length
or a flag of the node's parts, read when Prometheus scrapes.

Readiness (``/readyz``): the engine leads and serves RPC, its operation log
commits (MySQL `trade_log`), its publisher writes history (MySQL
`trade_history`) and Kafka messages without failing, and both are less than
`READY_LAG_SECONDS` behind.  A standby is never ready: it serves no requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from common.metrics import metrics_for
from common.monitor import Readiness

from .history_writer import HISTORY_STRIPES
from .role import LEADER, STANDBY, STARTING, STEPPING_DOWN

if TYPE_CHECKING:
    from .node import EngineNode

READY_LAG_SECONDS = 10.0
ROLES = (STARTING, STANDBY, LEADER, STEPPING_DOWN)


def export_metrics(node: EngineNode) -> None:
    metrics = metrics_for("matchengine")

    def engine_value(read: str) -> float:
        engine = node.engine
        return float(getattr(engine, read)) if engine is not None else 0.0

    metrics.counter_from("orders", "Orders and stop orders accepted: the order ids handed out, since the "
                         "exchange's first order", lambda: engine_value("order_id"))
    metrics.counter_from("deals", "Deals made: the deal ids handed out, since the exchange's first deal",
                         lambda: engine_value("deal_id"))
    metrics.counter_from("operations", "Operations in the operation log (its last id): writes applied",
                         lambda: float(node.status.applied_id))
    metrics.gauge("operlog_pending_operations", "Operations appended but not yet committed",
                  lambda: float(node.operlog.pending) if node.operlog is not None else 0.0)
    metrics.gauge("publisher_lag_operations", "Committed operations whose history rows (stream=history) or Kafka "
                  "messages (stream=kafka) are not yet written", lambda: _publisher_lag(node, seconds=False),
                  ("stream",))
    metrics.gauge("publisher_lag_seconds", "Age of the oldest committed operation whose history rows or Kafka "
                  "messages are not yet written", lambda: _publisher_lag(node, seconds=True), ("stream",))
    metrics.gauge("history_stripe_lag_operations", "Committed operations not yet written by each history stripe",
                  lambda: _stripe_lag(node, seconds=False), ("server", "stripe"))
    metrics.gauge("history_stripe_lag_seconds", "Age of the oldest committed operation each history stripe has "
                  "not written", lambda: _stripe_lag(node, seconds=True), ("server", "stripe"))
    metrics.gauge("role", "1 for the role this engine has now (starting, standby, leader, stepping down)",
                  lambda: {(role,): float(node.status.role == role) for role in ROLES}, ("role",))
    metrics.gauge("lease_term", "The lease term: this engine's while it leads, else the leader's",
                  lambda: float(node.status.term))
    metrics.gauge("standby_lag_operations", "Operations the leader committed that this engine has not applied",
                  lambda: float(node.status.lag))
    metrics.gauge("standby_apply_delay_seconds", "Standby: age of the last operation applied when it was applied",
                  lambda: node.status.apply_delay)
    metrics.counter_from("takeovers", "Times this process took the lease", lambda: float(node.status.takeovers))


def _publisher_lag(node: EngineNode, *, seconds: bool) -> Mapping[tuple[object, ...], float]:
    leadership = node.leadership
    if leadership is None or not leadership.publisher.known:
        return {}
    state = leadership.publisher
    return {("history",): leadership.behind(state.history, seconds=seconds),
            ("kafka",): leadership.behind(state.messages, seconds=seconds)}


def _stripe_lag(node: EngineNode, *, seconds: bool) -> Mapping[tuple[object, ...], float]:
    leadership = node.leadership
    if leadership is None or not leadership.publisher.known:
        return {}
    return {(index // HISTORY_STRIPES, index % HISTORY_STRIPES): leadership.behind(position, seconds=seconds)
            for index, position in enumerate(leadership.publisher.stripes)}


def readiness(node: EngineNode) -> Readiness:
    ready = Readiness()
    ready.add("leader", lambda: node.status.role == LEADER and node.leadership is not None)
    ready.add("trade_log", lambda: node.operlog is not None and not node.operlog.failing)

    def publisher_ok(failing: str, position: str) -> bool:
        leadership = node.leadership
        if leadership is None or not leadership.config.publisher:
            return leadership is not None
        state = leadership.publisher
        return (state.known and not getattr(state, failing)
                and leadership.behind(getattr(state, position), seconds=True) < READY_LAG_SECONDS)

    ready.add("history", lambda: publisher_ok("history_failing", "history"))
    ready.add("kafka", lambda: publisher_ok("messages_failing", "messages"))
    return ready
