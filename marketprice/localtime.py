"""Local-time arithmetic of marketprice: day and month starts, and the k-line `tz` offset.

The original computes day buckets with ``mktime`` of the local date at
00:00:00 with ``isdst = 0`` (so in a zone with daylight saving a "midnight"
can be an hour off; run marketprice in a fixed-offset zone), and the day/week
k-line alignment with an offset derived from the hour of ``localtime(0)``
only (spec/marketprice.md §3, §4.2).  All of it follows the process's time
zone (``TZ``); `reset_cache` must be called after changing it at run time.
"""

from __future__ import annotations

import time

# Day starts are constant within a quarter of an hour: every modern zone
# offset and every daylight-saving switch falls on a quarter-hour boundary.
_QUARTER = 900
_DAY_CACHE_LIMIT = 200_000
_day_cache: dict[int, int] = {}


def reset_cache() -> None:
    """Forget memoised day starts (after a change of the process time zone)."""
    _day_cache.clear()


def local_midnight(year: int, month: int, day: int) -> int:
    """``mktime`` of year-month-day 00:00:00 local time with isdst = 0."""
    return int(time.mktime((year, month, day, 0, 0, 0, 0, 0, 0)))


def day_start(timestamp: int) -> int:
    """The local midnight of the day holding `timestamp` (the original's `get_day_start`)."""
    quarter = timestamp // _QUARTER
    start = _day_cache.get(quarter)
    if start is None:
        tm = time.localtime(timestamp)
        start = local_midnight(tm.tm_year, tm.tm_mon, tm.tm_mday)
        if len(_day_cache) >= _DAY_CACHE_LIMIT:
            _day_cache.clear()
        _day_cache[quarter] = start
    return start


def month_of(timestamp: int) -> tuple[int, int]:
    """(year, month) of `timestamp` in local time."""
    tm = time.localtime(timestamp)
    return tm.tm_year, tm.tm_mon


def month_start(year: int, month: int) -> int:
    """Local midnight of the first day of `month` (1..12) of `year`, isdst = 0."""
    return local_midnight(year, month, 1)


def next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def kline_tz() -> int:
    """The original's `get_timezone_offset`: local midnights are ``k * 86400 + tz``.

    Computed from the hour of ``localtime(0)`` alone (minutes and daylight
    saving ignored): UTC+8 gives -28800, UTC-5 gives 18000.
    """
    tm = time.localtime(0)
    if tm.tm_mday == 1:
        return -tm.tm_hour * 3600
    return (24 - tm.tm_hour) * 3600


def c_div(numerator: int, denominator: int) -> int:
    """C integer division (truncation toward zero), as the original's ``time_t`` arithmetic."""
    quotient = abs(numerator) // abs(denominator)
    return quotient if (numerator >= 0) == (denominator > 0) else -quotient
