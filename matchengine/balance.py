"""User balances: available, frozen and locked amounts per (user, asset), kept exact.

Frozen funds back resting orders and stops; locked funds are held outside
any order by asset.lock (spec/extensions.md §4), e.g. for a pending
withdrawal.  The total of a user's asset is the sum of the three.

A missing entry means zero and an operation that leaves exactly zero deletes
the entry (spec/matchengine.md §3); as in the original, a non-zero result that
the rescale then cuts to zero stays stored (it prints as e.g. "0e-8").  Every stored value is rescaled toward
zero to the asset's `prec_save` after each change.  The primitives return
False instead of raising when they cannot apply, and then change nothing.

A user's entries of one kind are one dict (`available[user]`), made at the
first entry and kept for good, never replaced or dropped: an order holds its
owner's available and frozen dicts (`hold`) and the matching loops change them
through `add_entry` / `sub_entry` (`take_entry`) with no lookup of the user, the same
arithmetic as `add_available` / `sub_available` and the rest.

Every stored entry holds exactly `prec_save` decimals: each change cuts it so,
and a slice's entries are cut as they load (`restore`).  A change by a value
with no more decimals than that therefore needs no cut (`exact`, which the
matching loops pass where their market's precisions guarantee it, see
`Market.exact_*`): the sum or difference already has exactly `prec_save`
decimals, and the cut, a quantize to the value's own exponent, would change
nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from common.decimals import ZERO, cut, quantum, rescale

EXACT_PREC_MAX: Final = 14
"""The largest prec_save at which entries are changed without a cut (`exact`): an entry below 10^20 then has
at most 34 digits, the context's precision, so its sums and differences are never rounded."""

AVAILABLE: Final = 1
FREEZE: Final = 2
LOCK: Final = 3


@dataclass(slots=True, frozen=True)
class Asset:
    name: str
    prec_save: int
    prec_show: int

    @property
    def save_quantum(self) -> Decimal:
        return quantum(self.prec_save)

    def shown(self, value: Decimal) -> Decimal:
        """The value as balance.query shows it (cut to prec_show when it differs)."""
        if self.prec_show != self.prec_save:
            return rescale(value, self.prec_show)
        return value


class Balances:
    """All balances of all users.  `available[user][asset]`, `frozen[user][asset]`, `locked[user][asset]`."""

    __slots__ = ("_quanta", "assets", "available", "frozen", "locked")

    def __init__(self, assets: dict[str, Asset]) -> None:
        self.assets = assets
        self.available: dict[int, dict[str, Decimal]] = {}
        self.frozen: dict[int, dict[str, Decimal]] = {}
        self.locked: dict[int, dict[str, Decimal]] = {}
        self._quanta = {name: a.save_quantum for name, a in assets.items()}

    def save_quantum(self, asset: str) -> Decimal:
        """10^-prec_save of a usable asset: what its entries are rescaled to."""
        return self._quanta[asset]

    def available_of(self, user: int) -> dict[str, Decimal]:
        """The user's available entries, made empty if there are none yet (as `add_available` makes them)."""
        entries = self.available.get(user)
        if entries is None:
            entries = self.available[user] = {}
        return entries

    def add_asset(self, asset: Asset) -> None:
        """Make a new asset usable (`assets` is the engine's table, already holding it)."""
        self._quanta[asset.name] = asset.save_quantum

    # ------------------------------------------------------------ reads

    def get_available(self, user: int, asset: str) -> Decimal:
        return entry_value(self.available.get(user), asset)

    def get_frozen(self, user: int, asset: str) -> Decimal:
        entries = self.frozen.get(user)
        if entries is None:
            return ZERO
        return entries.get(asset, ZERO)

    def get_locked(self, user: int, asset: str) -> Decimal:
        entries = self.locked.get(user)
        if entries is None:
            return ZERO
        return entries.get(asset, ZERO)

    def total(self, user: int, asset: str) -> Decimal:
        """available + frozen + locked, as balance history rows record it."""
        avail = self.available.get(user)
        frozen = self.frozen.get(user)
        a = avail.get(asset) if avail is not None else None
        f = frozen.get(asset) if frozen is not None else None
        if a is None:
            total = f if f is not None else ZERO
        elif f is None:
            total = a
        else:
            total = a + f
        if self.locked:
            locked = self.locked.get(user)
            if locked is not None:
                lock = locked.get(asset)
                if lock is not None:
                    return lock if total is ZERO else total + lock
        return total

    def _table(self, kind: int) -> dict[int, dict[str, Decimal]]:
        if kind == AVAILABLE:
            return self.available
        return self.frozen if kind == FREEZE else self.locked

    # ------------------------------------------------------------ primitives

    def set(self, user: int, kind: int, asset: str, value: Decimal) -> bool:
        """Store a value verbatim (rescaled); used when loading a snapshot."""
        quant = self._quanta.get(asset)
        if quant is None or value < ZERO:
            return False
        table = self._table(kind)
        entries = table.get(user)
        if entries is None:
            entries = table[user] = {}
        if value:
            entries[asset] = cut(value, quant)
        else:
            entries.pop(asset, None)
        return True

    def restore(self, user: int, kind: int, asset: str, value: Decimal) -> None:
        """Store an entry as a snapshot recorded it (zero-valued entries included), cut to the asset's
        prec_save: a no-op for what this engine wrote, and what keeps every stored entry at exactly
        prec_save decimals, which the matching loops rely on (`exact`)."""
        table = self._table(kind)
        entries = table.get(user)
        if entries is None:
            entries = table[user] = {}
        entries[asset] = cut(value, self._quanta[asset])

    def add_available(self, user: int, asset: str, value: Decimal) -> None:
        _add(self.available, user, asset, value, self._quanta[asset])

    def sub_available(self, user: int, asset: str, value: Decimal) -> bool:
        return _sub(self.available, user, asset, value, self._quanta[asset])

    def sub_frozen(self, user: int, asset: str, value: Decimal) -> bool:
        return _sub(self.frozen, user, asset, value, self._quanta[asset])

    def freeze(self, user: int, asset: str, value: Decimal) -> bool:
        """Move `value` from available to frozen."""
        return not value < ZERO and self.hold(user, asset, value) is not None

    def hold(self, user: int, asset: str, value: Decimal, available: dict[str, Decimal] | None = None,
             exact: bool = False) -> tuple[dict[str, Decimal], dict[str, Decimal]] | None:
        """`freeze` of a `value` that is not negative, and the user's available and frozen entries for the
        order that holds the funds to keep; None if it cannot apply.  `available`: the user's available
        entries, where the caller has them; `exact` as `take_entry` takes it."""
        quant = self._quanta[asset]
        if available is None:
            available = self.available.get(user)
        if available is None or not take_entry(available, asset, value, quant, exact):
            return None
        frozen = self.frozen.get(user)
        if frozen is None:
            frozen = self.frozen[user] = {}
        add_entry(frozen, asset, value, quant, exact)
        return available, frozen

    def unfreeze(self, user: int, asset: str, value: Decimal) -> bool:
        """Move `value` from frozen back to available."""
        quant = self._quanta[asset]
        if not _sub(self.frozen, user, asset, value, quant):
            return False
        _add(self.available, user, asset, value, quant)
        return True

    def lock(self, user: int, asset: str, value: Decimal) -> bool:
        """Move `value` from available to locked (an available entry of at least `value` is needed)."""
        quant = self._quanta[asset]
        if not _sub(self.available, user, asset, value, quant):
            return False
        _add(self.locked, user, asset, value, quant)
        return True

    def unlock(self, user: int, asset: str, value: Decimal) -> bool:
        """Move `value` from locked back to available."""
        quant = self._quanta[asset]
        if not _sub(self.locked, user, asset, value, quant):
            return False
        _add(self.available, user, asset, value, quant)
        return True

    # ------------------------------------------------------------ iteration

    def entries(self) -> Iterator[tuple[int, int, str, Decimal]]:
        """Every stored entry as (user, kind, asset, value)."""
        for user, entries in self.available.items():
            for asset, value in entries.items():
                yield user, AVAILABLE, asset, value
        for user, entries in self.frozen.items():
            for asset, value in entries.items():
                yield user, FREEZE, asset, value
        for user, entries in self.locked.items():
            for asset, value in entries.items():
                yield user, LOCK, asset, value


def _add(table: dict[int, dict[str, Decimal]], user: int, asset: str, value: Decimal, quant: Decimal) -> None:
    entries = table.get(user)
    if entries is None:
        entries = table[user] = {}
    add_entry(entries, asset, value, quant)


def _sub(table: dict[int, dict[str, Decimal]], user: int, asset: str, value: Decimal, quant: Decimal) -> bool:
    return sub_entry(table.get(user), asset, value, quant)


def entry_value(entries: dict[str, Decimal] | None, asset: str) -> Decimal:
    """The value of `asset` in one user's entries of a kind (None: the user has none): zero if missing."""
    if entries is None:
        return ZERO
    return entries.get(asset, ZERO)


def add_entry(entries: dict[str, Decimal], asset: str, value: Decimal, quant: Decimal, exact: bool = False) -> None:
    """Add `value` to one user's entry of `asset` (`quant`: the asset's save quantum).  `exact`: `value` has
    at most prec_save decimals and prec_save is at most EXACT_PREC_MAX, so a sum with the entry needs no cut."""
    current = entries.get(asset)
    if current is not None:
        entries[asset] = current + value if exact else cut(current + value, quant)
    elif value:
        entries[asset] = cut(value, quant)


def sub_entry(entries: dict[str, Decimal] | None, asset: str, value: Decimal, quant: Decimal) -> bool:
    """Take `value` from one user's entry of `asset` (None: the user has no entries of that kind); False,
    changing nothing, if the entry holds less or `value` is negative."""
    if value < ZERO:
        return False
    return take_entry(entries, asset, value, quant)


def take_entry(entries: dict[str, Decimal] | None, asset: str, value: Decimal, quant: Decimal,
               exact: bool = False) -> bool:
    """`sub_entry` of a `value` the caller knows is not negative (the matching loops' amounts, deals and
    fees), without comparing it to zero again; `exact` as `add_entry` takes it."""
    if entries is None:
        return False
    current = entries.get(asset)
    if current is None or current < value:
        return False
    result = current - value
    if result:
        entries[asset] = result if exact else cut(result, quant)
    else:
        del entries[asset]
    return True
