"""The public method table (spec/http-api.md §3): method name → owning backend and RPC command."""

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


METHODS: dict[str, Route] = {
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

assert len(METHODS) == 23
