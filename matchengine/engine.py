"""The whole exchange state: assets, balances, markets, id counters, update guard.

Operations take already-validated, typed arguments and the time they happen
at; they either apply completely or raise `RpcError` having changed nothing.
Parameter parsing lives in `commands.py`, shared by the RPC handlers and the
operation-log replay so that both apply exactly the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Final, TypedDict

from common.decimals import ZERO, fmt, install_context
from common.errors import RpcError

from .balance import Asset, Balances
from .events import TradeListener
from .market import Market, MarketSpec, Sequences

# A (user, asset, business, business_id) key is refused again for this long.
UPDATE_GUARD_SECONDS: Final = 86400.0

UpdateKey = tuple[int, str, str, int]


class AssetSummary(TypedDict):
    """One asset's totals, as asset.summary returns them."""

    name: str
    total_balance: str
    available_count: int
    available_balance: str
    freeze_count: int
    freeze_balance: str


class Engine:
    """In-memory exchange core.  Deterministic: same operations + times → same state."""

    def __init__(self, assets: Iterable[Asset], markets: Iterable[MarketSpec],
                 listener: TradeListener | None = None) -> None:
        install_context()
        self.assets: dict[str, Asset] = {a.name: a for a in assets}
        self.balances = Balances(self.assets)
        self.seq = Sequences()
        self.listener = listener
        self.markets: dict[str, Market] = {
            spec.name: Market(spec, self.balances, self.seq, listener) for spec in markets
        }
        self.updates: dict[UpdateKey, float] = {}

    @property
    def order_id(self) -> int:
        return self.seq.order_id

    @property
    def deal_id(self) -> int:
        return self.seq.deal_id

    def set_listener(self, listener: TradeListener | None) -> None:
        self.listener = listener
        for market in self.markets.values():
            market.listener = listener

    # ------------------------------------------------------------ balance.update

    def update_balance(self, time: float, user: int, asset: str, business: str, business_id: int,
                       change: Decimal, detail: dict[str, object]) -> None:
        """Deposit (change ≥ 0) or withdraw, at most once per (user, asset, business, business_id)."""
        key = (user, asset, business, business_id)
        applied_at = self.updates.get(key)
        if applied_at is not None and time - applied_at <= UPDATE_GUARD_SECONDS:
            raise RpcError(10, "repeat update")
        balances = self.balances
        if change >= ZERO:
            balances.add_available(user, asset, change)
        elif not balances.sub_available(user, asset, -change):
            raise RpcError(11, "balance not enough")
        self.updates[key] = time
        if self.listener is not None:
            self.listener.balance_updated(time, user, asset, business, change, balances.total(user, asset), detail)

    def expire_updates(self, now: float) -> int:
        """Forget guard entries too old to matter; returns how many were dropped."""
        stale = [key for key, at in self.updates.items() if now - at > UPDATE_GUARD_SECONDS]
        for key in stale:
            del self.updates[key]
        return len(stale)

    # ------------------------------------------------------------ queries

    def balance_query(self, user: int, assets: Iterable[str]) -> dict[str, dict[str, str]]:
        result: dict[str, dict[str, str]] = {}
        available = self.balances.available.get(user, {})
        frozen = self.balances.frozen.get(user, {})
        for name in assets:
            asset = self.assets[name]
            a = available.get(name)
            f = frozen.get(name)
            result[name] = {
                "available": "0" if a is None else fmt(asset.shown(a)),
                "freeze": "0" if f is None else fmt(asset.shown(f)),
            }
        return result

    def asset_list(self) -> list[dict[str, object]]:
        return [{"name": a.name, "prec": a.prec_show} for a in self.assets.values()]

    def asset_summary(self, names: Iterable[str]) -> list[AssetSummary]:
        names = list(names)
        wanted = set(names)
        sums: dict[str, list] = {name: [0, ZERO, 0, ZERO] for name in wanted}
        for entries, count_at in ((self.balances.available, 0), (self.balances.frozen, 2)):
            for user_entries in entries.values():
                for asset, value in user_entries.items():
                    acc = sums.get(asset)
                    if acc is not None:
                        acc[count_at] += 1
                        acc[count_at + 1] += value
        result: list[AssetSummary] = []
        for name in names:
            available_count, available, freeze_count, freeze = sums[name]
            result.append({
                "name": name,
                "total_balance": fmt(available + freeze),
                "available_count": available_count,
                "available_balance": fmt(available),
                "freeze_count": freeze_count,
                "freeze_balance": fmt(freeze),
            })
        return result

    def market_list(self) -> list[dict[str, object]]:
        return [
            {
                "name": m.spec.name,
                "stock": m.spec.stock,
                "money": m.spec.money,
                "fee_prec": m.spec.fee_prec,
                "stock_prec": m.spec.stock_prec,
                "money_prec": m.spec.money_prec,
                "min_amount": fmt(m.spec.min_amount),
            }
            for m in self.markets.values()
        ]
