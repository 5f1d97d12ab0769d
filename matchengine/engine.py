"""The whole exchange state: assets, balances (locks included), markets, id counters, update guard.

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
from common.errors import RpcError, invalid_argument

from .balance import Asset, Balances
from .definitions import STP_NAMES
from .events import TradeListener
from .market import Market, MarketSpec, Sequences
from .stops import Stop

# A (user, asset, business, business_id, kind) key is refused again for this long.
UPDATE_GUARD_SECONDS: Final = 86400.0

# what a guard key protects: balance.update, asset.lock, asset.unlock (one key space each)
GUARD_UPDATE: Final = 0
GUARD_LOCK: Final = 1
GUARD_UNLOCK: Final = 2

UpdateKey = tuple[int, str, str, int, int]


def repeat_update() -> RpcError:
    return RpcError(10, "repeat update")


def balance_not_enough() -> RpcError:
    return RpcError(11, "balance not enough")


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

    # ------------------------------------------------------------ assets and markets added live

    def add_asset(self, asset: Asset) -> bool:
        """Add an asset; False if it exists with the same definition.  A different definition of an
        existing asset is error 1 and changes nothing: a precision in use never changes."""
        existing = self.assets.get(asset.name)
        if existing is None:
            self.assets[asset.name] = asset
            self.balances.add_asset(asset)
            return True
        if existing != asset:
            raise invalid_argument(f"asset {asset.name} exists with prec_save {existing.prec_save} and prec_show "
                                   f"{existing.prec_show}, not {asset.prec_save} and {asset.prec_show}")
        return False

    def add_market(self, spec: MarketSpec, *, strict: bool = True) -> bool:
        """Add a market (its assets exist and its precisions passed the config rules) at the end of the
        market list; False if it exists with the same definition.  A different definition is error 1
        and changes nothing — except that without `strict` (a definition from a slice or the operation
        log, met by the config file's) `min_amount` may differ: the config file's is kept."""
        existing = self.markets.get(spec.name)
        if existing is None:
            self.markets[spec.name] = Market(spec, self.balances, self.seq, self.listener)
            return True
        old = existing.spec
        fields: list[tuple[str, object, object]] = [
            ("stock.name", old.stock, spec.stock), ("money.name", old.money, spec.money),
            ("stock.prec", old.stock_prec, spec.stock_prec), ("money.prec", old.money_prec, spec.money_prec),
            ("fee_prec", old.fee_prec, spec.fee_prec), ("stp", STP_NAMES[old.stp], STP_NAMES[spec.stp])]
        if strict:
            fields.append(("min_amount", fmt(old.min_amount), fmt(spec.min_amount)))
        differs = [f"{name} {a}, not {b}" for name, a, b in fields if a != b]
        if differs:
            raise invalid_argument(f"market {spec.name} exists with {'; '.join(differs)}")
        return False

    # ------------------------------------------------------------ balance.update

    def update_balance(self, time: float, user: int, asset: str, business: str, business_id: int,
                       change: Decimal, detail: dict[str, object]) -> None:
        """Deposit (change ≥ 0) or withdraw, at most once per (user, asset, business, business_id)."""
        key = (user, asset, business, business_id, GUARD_UPDATE)
        applied_at = self.updates.get(key)
        if applied_at is not None and time - applied_at <= UPDATE_GUARD_SECONDS:
            raise repeat_update()
        balances = self.balances
        if change >= ZERO:
            balances.add_available(user, asset, change)
        elif not balances.sub_available(user, asset, -change):
            raise balance_not_enough()
        self.updates[key] = time
        if self.listener is not None:
            self.listener.balance_updated(time, user, asset, business, change, balances.total(user, asset), detail)

    # ------------------------------------------------------------ asset.lock / asset.unlock

    def lock(self, time: float, user: int, asset: str, business: str, business_id: int, amount: Decimal,
             unlock: bool) -> None:
        """Move `amount` between available and locked, at most once per (user, asset, business,
        business_id) and direction; 10 for a repeat, 11 when the source entry holds less."""
        key = (user, asset, business, business_id, GUARD_UNLOCK if unlock else GUARD_LOCK)
        applied_at = self.updates.get(key)
        if applied_at is not None and time - applied_at <= UPDATE_GUARD_SECONDS:
            raise repeat_update()
        balances = self.balances
        if not (balances.unlock(user, asset, amount) if unlock else balances.lock(user, asset, amount)):
            raise balance_not_enough()
        self.updates[key] = time
        if self.listener is not None:
            self.listener.balance_locked(time, user, asset, business)

    def expire_updates(self, now: float) -> int:
        """Forget guard entries too old to matter; returns how many were dropped."""
        stale = [key for key, at in self.updates.items() if now - at > UPDATE_GUARD_SECONDS]
        for key in stale:
            del self.updates[key]
        return len(stale)

    # ------------------------------------------------------------ queries

    def balance_query(self, user: int, assets: Iterable[str]) -> dict[str, dict[str, str]]:
        """`freeze` is what orders and stops hold plus what is locked (extensions.md §4.2)."""
        result: dict[str, dict[str, str]] = {}
        available = self.balances.available.get(user, {})
        frozen = self.balances.frozen.get(user, {})
        locked = self.balances.locked.get(user, {})
        for name in assets:
            asset = self.assets[name]
            a = available.get(name)
            f = frozen.get(name)
            lock = locked.get(name)
            if lock is not None:
                f = lock if f is None else f + lock
            result[name] = {
                "available": "0" if a is None else fmt(asset.shown(a)),
                "freeze": "0" if f is None else fmt(asset.shown(f)),
            }
        return result

    def asset_list(self) -> list[dict[str, object]]:
        return [{"name": a.name, "prec": a.prec_show} for a in self.assets.values()]

    def asset_summary(self, names: Iterable[str]) -> list[AssetSummary]:
        """Locked funds count as frozen: in the totals, and a user holding some in `freeze_count`."""
        names = list(names)
        wanted = set(names)
        sums: dict[str, list] = {name: [0, ZERO, 0, ZERO] for name in wanted}
        balances = self.balances
        for entries, count_at in ((balances.available, 0), (balances.frozen, 2)):
            for user_entries in entries.values():
                for asset, value in user_entries.items():
                    acc = sums.get(asset)
                    if acc is not None:
                        acc[count_at] += 1
                        acc[count_at + 1] += value
        for user, user_entries in balances.locked.items():
            frozen = balances.frozen.get(user, {})
            for asset, value in user_entries.items():
                acc = sums.get(asset)
                if acc is not None:
                    if asset not in frozen:
                        acc[2] += 1
                    acc[3] += value
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

    def pending_stops(self, user: int, market: Market | None, side: int, offset: int,
                      limit: int) -> dict[str, object]:
        """The user's stops in one market or all, newest first."""
        if market is not None:
            stops = market.stops.of_user(user, side)
        else:
            stops = [s for m in self.markets.values() for s in m.stops.of_user(user, side)]
            stops.sort(key=_stop_id, reverse=True)
        records = [s.to_json() for s in stops[offset:offset + limit]] if limit else []
        return {"limit": limit, "offset": offset, "total": len(stops), "records": records}

    def query_lock(self, user: int, assets: Iterable[str]) -> dict[str, str]:
        """Locked amounts of the user's assets that have any (at prec_show)."""
        locked = self.balances.locked.get(user, {})
        result: dict[str, str] = {}
        for name in assets:
            value = locked.get(name)
            if value is not None and value > ZERO:
                result[name] = fmt(self.assets[name].shown(value))
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


def _stop_id(stop: Stop) -> int:
    return stop.id
