"""The public method table: method name → owning backend and RPC command.

The original's 23 methods (spec/http-api.md §3), then the methods beyond the
original (spec/extensions.md, "What the port serves"; the fork's command
numbers, none of which the original uses).  `config.update_asset` and
`config.update_market` add assets and markets for good: they are routed only
when the gateway's config says `"config_methods": true` (docs/accesshttp.md).
"""

from __future__ import annotations

from dataclasses import dataclass

MATCHENGINE = "matchengine"
MARKETPRICE = "marketprice"
READHISTORY = "readhistory"
BACKENDS = (MATCHENGINE, MARKETPRICE, READHISTORY)


@dataclass(frozen=True, slots=True)
class Route:
    backend: str
    command: int


ORIGINAL_METHODS: dict[str, Route] = {
    "asset.list": Route(MATCHENGINE, 104),
    "asset.summary": Route(MATCHENGINE, 105),
    "balance.query": Route(MATCHENGINE, 101),
    "balance.update": Route(MATCHENGINE, 102),
    "balance.history": Route(READHISTORY, 103),
    "order.put_limit": Route(MATCHENGINE, 201),
    "order.put_market": Route(MATCHENGINE, 202),
    "order.cancel": Route(MATCHENGINE, 204),
    "order.book": Route(MATCHENGINE, 205),
    "order.depth": Route(MATCHENGINE, 206),
    "order.pending": Route(MATCHENGINE, 203),
    "order.pending_detail": Route(MATCHENGINE, 207),
    "order.deals": Route(READHISTORY, 209),
    "order.finished": Route(READHISTORY, 208),
    "order.finished_detail": Route(READHISTORY, 210),
    "market.last": Route(MARKETPRICE, 304),
    "market.deals": Route(MARKETPRICE, 303),
    "market.kline": Route(MARKETPRICE, 302),
    "market.status": Route(MARKETPRICE, 301),
    "market.status_today": Route(MARKETPRICE, 305),
    "market.user_deals": Route(READHISTORY, 306),
    "market.list": Route(MATCHENGINE, 307),
    "market.summary": Route(MATCHENGINE, 308),
}

EXTENSION_METHODS: dict[str, Route] = {
    "asset.lock": Route(MATCHENGINE, 106),
    "asset.unlock": Route(MATCHENGINE, 107),
    "asset.query_lock": Route(MATCHENGINE, 108),
    "order.put_stop_limit": Route(MATCHENGINE, 211),
    "order.put_stop_market": Route(MATCHENGINE, 212),
    "order.cancel_stop": Route(MATCHENGINE, 213),
    "order.pending_stop": Route(MATCHENGINE, 214),
    "order.finished_stop": Route(READHISTORY, 215),
    "order.stop_book": Route(MATCHENGINE, 216),
    "order.cancel_all": Route(MATCHENGINE, 218),
    "order.cancel_stop_all": Route(MATCHENGINE, 219),
    "order.cancel_batch": Route(MATCHENGINE, 222),
    "config.update_asset": Route(MATCHENGINE, 401),
    "config.update_market": Route(MATCHENGINE, 402),
}

CONFIG_METHODS = frozenset({"config.update_asset", "config.update_market"})

METHODS: dict[str, Route] = {**ORIGINAL_METHODS, **EXTENSION_METHODS}

assert len(ORIGINAL_METHODS) == 23 and len(EXTENSION_METHODS) == 14 and len(METHODS) == 37


def routed_methods(config_methods: bool) -> dict[str, Route]:
    """The methods a gateway serves: all of them, or all but `config.update_*`."""
    if config_methods:
        return dict(METHODS)
    return {name: route for name, route in METHODS.items() if name not in CONFIG_METHODS}
