"""The answers of the five RPC commands, computed from one market's base buckets.

Pure functions of a `Market`, the request values and `now` (spec/marketprice.md
§4, spec/http-api.md §6): rolling status, today's status, k-lines of every
interval class, the recent deals and the last price.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.decimals import ZERO, fmt, sci

from .kline import Candle
from .localtime import c_div, day_start, kline_tz, month_of, month_start, next_month
from .market import Market, deal_object
from .state import Retention

DAY = 86_400
WEEK = 7 * DAY
MONTH = 30 * DAY
KBEFORE_DAYS = 30


@dataclass(slots=True)
class Window:
    """A merge of the base buckets at ``start, start + step, ...`` below `stop`."""

    buckets: dict[int, Candle]
    start: int
    stop: int
    step: int


def merge_windows(windows: tuple[Window, ...]) -> Candle | None:
    """Merge the existing buckets of the windows, in order; None when there are none."""
    merged: Candle | None = None
    for window in windows:
        get = window.buckets.get
        for key in range(window.start, window.stop, window.step):
            candle = get(key)
            if candle is None:
                continue
            if merged is None:
                merged = Candle.flat(candle.open)
            merged.merge(candle)
    return merged


def latest_before(buckets: dict[int, Candle], first: int, last: int, step: int) -> Candle | None:
    """The original's `get_last_kline`: probe `first`, `first - step`, ... down to `last` inclusive."""
    if first < last:
        return None
    probes = (first - last) // step + 1
    if probes > len(buckets):
        # fewer buckets than probes (the 1 s search spans up to sec_max keys): look at each bucket once
        found = [key for key in buckets if last <= key <= first and (first - key) % step == 0]
        return buckets[max(found)] if found else None
    get = buckets.get
    for key in range(first, last - 1, -step):
        candle = get(key)
        if candle is not None:
            return candle
    return None


def rolling_window(market: Market, start: int, now: int) -> tuple[Window, Window]:
    """The 1 s buckets from `start` to the next minute, then the 1 min buckets up to `now`."""
    start_min = c_div(start, 60) * 60 + 60
    return Window(market.sec, start, start_min, 1), Window(market.min, start_min, now, 60)


def market_status(market: Market, period: int, now: int) -> dict[str, object]:
    """`market.status`: the merge of the last `period` seconds (to the end of the current minute)."""
    merged = merge_windows(rolling_window(market, now - period, now)) or Candle.flat(ZERO)
    return {"period": period, "last": fmt(market.last), "open": fmt(merged.open), "close": fmt(merged.close),
            "high": fmt(merged.high), "low": fmt(merged.low), "volume": fmt(merged.volume),
            "deal": fmt(merged.deal)}


def status_today(market: Market, now: int) -> dict[str, object]:
    """`market.status_today`: prices of the local day, volume and deal value of the rolling 24 h."""
    today = day_start(now)
    candle = market.day.get(today)
    if candle is not None:
        open_, last, high, low = fmt(candle.open), fmt(candle.close), fmt(candle.high), fmt(candle.low)
    else:
        before = latest_before(market.day, today - DAY, today - DAY * KBEFORE_DAYS, DAY)
        close = fmt(before.close) if before is not None else "0"
        open_ = last = high = low = close
    volume = deal = ZERO
    for window in rolling_window(market, now - DAY, now):
        get = window.buckets.get
        for key in range(window.start, window.stop, window.step):
            bucket = get(key)
            if bucket is not None:
                volume += bucket.volume
                deal += bucket.deal
    return {"open": open_, "last": last, "high": high, "low": low, "volume": fmt(volume), "deal": fmt(deal)}


def last_price(market: Market) -> str:
    """`market.last`: the unstripped scientific string of the last price."""
    return sci(market.last)


def recent_deals(market: Market, limit: int, last_id: int) -> list[dict[str, object]]:
    """`market.deals`: up to `limit` deals newer than `last_id`, newest first."""
    result = []
    for record in market.deals:
        if record[0] <= last_id:
            break
        result.append(deal_object(record))
        if len(result) >= limit:
            break
    return result


def candles(market: Market, buckets: dict[int, Candle], first: int, end: int, interval: int, unit: int,
            before: Candle | None) -> list[list[object]]:
    """Rows for buckets ``first, first + interval, ... <= end``, each merging `interval // unit` base buckets.

    An empty bucket repeats the previous candle's close with nothing traded
    (the previous candle being the last row emitted, at first `before`), or
    is left out while there is no previous candle.
    """
    rows: list[list[object]] = []
    previous = before
    get = buckets.get
    start = first
    while start <= end:
        merged: Candle | None = None
        for key in range(start, start + interval, unit):
            candle = get(key)
            if candle is None:
                continue
            if merged is None:
                merged = Candle.flat(candle.open)
            merged.merge(candle)
        if merged is None and previous is not None:
            merged = Candle.flat(previous.close)
        if merged is not None:
            rows.append(merged.row(start, market.name))
            previous = merged
        start += interval
    return rows


def month_candles(market: Market, start: int, end: int) -> list[list[object]]:
    """Rows of calendar months (local time) from the month holding `start`, merging day buckets."""
    year, month = month_of(start)
    first = month_start(year, month)
    previous = latest_before(market.day, first - DAY, start - DAY * KBEFORE_DAYS, DAY)
    get = market.day.get
    rows: list[list[object]] = []
    while first <= end:
        year, month = next_month(year, month)
        following = month_start(year, month)
        merged: Candle | None = None
        key = first
        while key < following and key <= end:
            candle = get(key)
            if candle is not None:
                if merged is None:
                    merged = Candle.flat(candle.open)
                merged.merge(candle)
            key += DAY
        if merged is None and previous is not None:
            merged = Candle.flat(previous.close)
        if merged is not None:
            rows.append(merged.row(first, market.name))
            previous = merged
        first = following
    return rows


def interval_supported(interval: int) -> bool:
    """Whether `interval` (> 0) belongs to one of the k-line interval classes."""
    if interval < 60:
        return 60 % interval == 0
    if interval < 3600:
        return interval % 60 == 0 and 3600 % interval == 0
    if interval < DAY:
        return interval % 3600 == 0 and DAY % interval == 0
    if interval < WEEK:
        return interval % DAY == 0
    return interval in (WEEK, MONTH)


def kline(market: Market, start: int, end: int, interval: int, now: int, retention: Retention) -> list[list[object]]:
    """`market.kline` rows for an interval that `interval_supported` accepts."""
    sec_lower, min_lower, hour_lower = retention.cutoffs(now)
    if interval < 60:
        first = max(start, sec_lower) // interval * interval
        before = latest_before(market.sec, first - 1, sec_lower, 1)
        return candles(market, market.sec, first, end, interval, 1, before)
    if interval < 3600:
        first = max(start, min_lower) // interval * interval
        before = latest_before(market.min, first - 60, min_lower, 60)
        return candles(market, market.min, first, end, interval, 60, before)
    if interval < DAY:
        clamped = max(start, hour_lower)
        first = day_start(clamped)
        while first + interval <= clamped:
            first += interval
        before = latest_before(market.hour, first - 3600, hour_lower, 3600)
        return candles(market, market.hour, first, end, interval, 3600, before)
    if interval == MONTH:
        return month_candles(market, start, end)
    tz = kline_tz()
    if interval < WEEK:
        first = c_div(start - tz, interval) * interval + tz
    else:
        first = c_div(start - tz, interval) * interval - 3 * DAY + tz
        while first + interval <= start:
            first += interval
    before = latest_before(market.day, first - DAY, first - DAY * KBEFORE_DAYS, DAY)
    return candles(market, market.day, first, end, interval, DAY, before)

