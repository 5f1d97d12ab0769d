"""The matchengine's debug CLI commands (spec/matchengine.md §14)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

from common.decimals import ZERO

from .balance import AVAILABLE, FREEZE
from .engine import Engine
from .operlog import OperlogWriter
from .server import PublisherState

COMMANDS = ("help", "status", "balance", "market", "makeslice")


class EngineCli:
    def __init__(self, engine: Engine, operlog: OperlogWriter, publisher: PublisherState,
                 make_slice: Callable[[], Awaitable[bool]]) -> None:
        self.engine = engine
        self.operlog = operlog
        self.publisher = publisher
        self.make_slice = make_slice

    async def __call__(self, words: list[str]) -> str:
        command, args = words[0], words[1:]
        if command == "help":
            return "".join(f"{name}\n" for name in COMMANDS)
        if command == "status":
            return self.status()
        if command == "balance":
            return self.balance(args)
        if command == "market":
            if args == ["summary"]:
                return self.market_summary()
            return "usage market summary\n"
        if command == "makeslice":
            return "OK\n" if await self.make_slice() else "fail\n"
        return "command not found\n"

    def status(self) -> str:
        last = self.operlog.last_id
        p = self.publisher
        history = max(0, last - p.history) if p.enabled else 0
        messages = max(0, last - p.messages) if p.enabled else 0
        return (f"order last ID: {self.engine.order_id}\n"
                f"deals last ID: {self.engine.deal_id}\n"
                f"operlog last ID: {last}\n"
                f"operlog pending: {self.operlog.pending}\n"
                f"history pending {history}\n"
                f"message deals pending: {messages}\n"
                f"message orders pending: {messages}\n"
                f"message balances pending: {messages}\n")

    def balance(self, args: list[str]) -> str:
        header = "%-10s %-16s %-10s %s\n" % ("user", "asset", "type", "amount")
        balances = self.engine.balances
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
            for asset in self.engine.assets:
                for kind, table in ((1, balances.available), (2, balances.frozen), (3, balances.locked)):
                    amount = table.get(user, {}).get(asset)
                    if amount is not None:
                        lines.append("%-10d %-16s %-10s %s\n" % (user, asset, _kind(kind), amount))
            return "".join(lines)
        if args and args[0] == "summary":
            lines = ["%-16s %-30s %-10s %-30s %-10s %-30s\n" % (
                "asset", "total", "available", "available", "freeze", "freeze")]
            for item in self.engine.asset_summary(self.engine.assets):
                lines.append("%-16s %-30s %-10d %-30s %-10d %-30s\n" % (
                    item["name"], item["total_balance"], item["available_count"], item["available_balance"],
                    item["freeze_count"], item["freeze_balance"]))
            return "".join(lines)
        return "usage: balance list/get/summary\n"

    def market_summary(self) -> str:
        lines = ["%-10s %-10s %-20s %-10s %-20s\n" % ("market", "ask count", "ask amount", "bid count", "bid amount")]
        for market in self.engine.markets.values():
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
