"""The matchengine's debug CLI commands (spec/matchengine.md §14), and `role` (docs/failover.md).

The commands read whatever state the process has now: the leader's, a
standby's replica, or nothing yet while it starts (`status` then says 0).
`role` says whether the engine leads or stands by, its lease term, and how
far it is behind the leader.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from common.decimals import ZERO

from .balance import AVAILABLE, FREEZE
from .engine import Engine
from .operlog import OperlogWriter
from .role import RoleStatus
from .server import PublisherState

COMMANDS = ("help", "status", "balance", "market", "makeslice", "role")


class EngineState(Protocol):
    """What the CLI reads (matchengine.node.EngineNode)."""

    @property
    def engine(self) -> Engine | None: ...

    @property
    def operlog(self) -> OperlogWriter | None: ...

    @property
    def publisher(self) -> PublisherState | None: ...

    @property
    def status(self) -> RoleStatus: ...

    async def request_slice(self) -> bool: ...


class EngineCli:
    def __init__(self, node: EngineState) -> None:
        self.node = node

    async def __call__(self, words: list[str]) -> str:
        command, args = words[0], words[1:]
        if command == "help":
            return "".join(f"{name}\n" for name in COMMANDS)
        if command not in COMMANDS:
            return "command not found\n"
        if command == "role":
            return self.node.status.lines()
        engine = self.node.engine
        if command == "status":
            return self.status(engine)
        if engine is None:
            return "starting\n"
        if command == "balance":
            return self.balance(engine, args)
        if command == "market":
            if args == ["summary"]:
                return self.market_summary(engine)
            return "usage market summary\n"
        if command == "makeslice":
            return "OK\n" if await self.node.request_slice() else "fail\n"
        return "command not found\n"

    def status(self, engine: Engine | None) -> str:
        operlog = self.node.operlog
        last = operlog.last_id if operlog is not None else self.node.status.applied_id
        pending = operlog.pending if operlog is not None else 0
        p = self.node.publisher
        known = p is not None and p.enabled and p.known
        history = max(0, last - p.history) if p is not None and known else 0
        messages = max(0, last - p.messages) if p is not None and known else 0
        if p is not None and p.enabled and not known:
            history = messages = last  # the publisher has not reported yet
        return (f"order last ID: {engine.order_id if engine is not None else 0}\n"
                f"deals last ID: {engine.deal_id if engine is not None else 0}\n"
                f"operlog last ID: {last}\n"
                f"operlog pending: {pending}\n"
                f"history pending {history}\n"
                f"message deals pending: {messages}\n"
                f"message orders pending: {messages}\n"
                f"message balances pending: {messages}\n")

    def balance(self, engine: Engine, args: list[str]) -> str:
        header = "%-10s %-16s %-10s %s\n" % ("user", "asset", "type", "amount")
        balances = engine.balances
        if args and args[0] == "list":
            asset_filter = args[1] if len(args) > 1 else None
            lines = [header]
            for user, kind, asset, value in balances.entries():
                if asset_filter is None or asset == asset_filter:
                    lines.append("%-10d %-16s %-10s %s\n" % (user, asset, _kind(kind), value))
            return "".join(lines)
        if args and args[0] == "get":
            if len(args) != 2:
                return "usage: balance get user_id\n"
            try:
                user = int(args[1], 0)
            except ValueError:
                return "usage: balance get user_id\n"
            lines = [header]
            for asset in engine.assets:
                for kind, table in ((1, balances.available), (2, balances.frozen), (3, balances.locked)):
                    amount = table.get(user, {}).get(asset)
                    if amount is not None:
                        lines.append("%-10d %-16s %-10s %s\n" % (user, asset, _kind(kind), amount))
            return "".join(lines)
        if args and args[0] == "summary":
            lines = ["%-16s %-30s %-10s %-30s %-10s %-30s\n" % (
                "asset", "total", "available", "available", "freeze", "freeze")]
            for item in engine.asset_summary(engine.assets):
                lines.append("%-16s %-30s %-10d %-30s %-10d %-30s\n" % (
                    item["name"], item["total_balance"], item["available_count"], item["available_balance"],
                    item["freeze_count"], item["freeze_balance"]))
            return "".join(lines)
        return "usage: balance list/get/summary\n"

    def market_summary(self, engine: Engine) -> str:
        lines = ["%-10s %-10s %-20s %-10s %-20s\n" % ("market", "ask count", "ask amount", "bid count", "bid amount")]
        for market in engine.markets.values():
            ask_amount = sum((o.left for o in market.asks), ZERO)
            bid_amount = sum((o.left for o in market.bids), ZERO)
            lines.append("%-10s %-10d %-20s %-10d %-20s\n" % (
                market.spec.name, market.asks.count, _text(ask_amount), market.bids.count, _text(bid_amount)))
        return "".join(lines)


def _kind(kind: int) -> str:
    if kind == AVAILABLE:
        return "available"
    return "freeze" if kind == FREEZE else "lock"


def _text(value: Decimal) -> str:
    return str(value)
