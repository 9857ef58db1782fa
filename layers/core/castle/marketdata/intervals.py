"""Binance's kline intervals and how each one cuts time into candles.

Open times are in UTC milliseconds, as Binance aligns them: fixed-length
intervals (1s ... 3d) from the Unix epoch, `1w` from Monday 00:00, `1M` on
calendar months. A `timeZone` shifts the cut (Binance: "kline intervals are
interpreted in that timezone"); startTime/endTime stay UTC. Calendar math is
integer-only (Hinnant's days-from-civil), so the domain needs no `datetime`.
"""

from __future__ import annotations

import re

from castle import errors

SECOND = 1_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY
MONDAY_OFFSET = 4 * DAY  # 1970-01-01 was a Thursday; 1970-01-05 a Monday

# Interval name -> length in ms (None: a calendar month). Order: shortest first.
INTERVALS: dict[str, int | None] = {
    "1s": SECOND,
    "1m": MINUTE,
    "3m": 3 * MINUTE,
    "5m": 5 * MINUTE,
    "15m": 15 * MINUTE,
    "30m": 30 * MINUTE,
    "1h": HOUR,
    "2h": 2 * HOUR,
    "4h": 4 * HOUR,
    "6h": 6 * HOUR,
    "8h": 8 * HOUR,
    "12h": 12 * HOUR,
    "1d": DAY,
    "3d": 3 * DAY,
    "1w": WEEK,
    "1M": None,
}

TIME_ZONE = re.compile(r"([+-])?([0-9]{1,2})(?::([0-9]{2}))?")


def check_interval(name: str | None) -> str:
    if not name:
        raise errors.mandatory_param("interval")
    if name not in INTERVALS:
        raise errors.invalid_interval()
    return name


def parse_time_zone(text: str | None) -> int:
    """Binance's `timeZone` ("8", "-1:00", "05:45"; within [-12:00, +14:00]) as an offset in ms."""
    if text is None or text == "":
        return 0
    match = TIME_ZONE.fullmatch(text)
    if match is None:
        raise errors.invalid_parameter("timeZone")
    sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3) or 0)
    if minutes >= 60:
        raise errors.invalid_parameter("timeZone")
    offset = (hours * 60 + minutes) * MINUTE * (-1 if sign == "-" else 1)
    if not -12 * HOUR <= offset <= 14 * HOUR:
        raise errors.invalid_parameter("timeZone")
    return offset


def open_time(interval: str, ts: int, offset: int = 0) -> int:
    """The open time (UTC ms) of the candle that holds `ts`."""
    local = ts + offset
    length = INTERVALS[interval]
    if length is None:
        year, month, _ = civil_from_days(local // DAY)
        return days_from_civil(year, month, 1) * DAY - offset
    if length == WEEK:
        return (local - MONDAY_OFFSET) // WEEK * WEEK + MONDAY_OFFSET - offset
    return local // length * length - offset


def next_open(interval: str, opened: int, offset: int = 0) -> int:
    """The open time of the candle after the one opened at `opened`."""
    length = INTERVALS[interval]
    if length is not None:
        return opened + length
    year, month, _ = civil_from_days((opened + offset) // DAY)
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return days_from_civil(year, month, 1) * DAY - offset


def previous_open(interval: str, opened: int, offset: int = 0) -> int:
    length = INTERVALS[interval]
    if length is not None:
        return opened - length
    return open_time(interval, opened - 1, offset)


def close_time(interval: str, opened: int, offset: int = 0) -> int:
    """Binance's kline close time: the last millisecond of the candle."""
    return next_open(interval, opened, offset) - 1


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(days: int) -> tuple[int, int, int]:
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (month <= 2), month, day
