"""Post timestamps in the shapes real exports use -> naive UTC ``datetime``.

The store keeps ``created_at`` as a plain TIMESTAMP holding UTC, so that
``date_trunc('day', ...)`` buckets never depend on the DuckDB session's time zone.
Times without an offset are taken as UTC (exports from Twitter, CrowdFlower and most
APIs are UTC; a local-time export must be converted by the caller).

>>> parse_timestamp("Mon Dec 01 19:30:03 +0000 2014")
datetime.datetime(2014, 12, 1, 19, 30, 3)
>>> parse_timestamp("2014-12-01T21:30:03+02:00")
datetime.datetime(2014, 12, 1, 19, 30, 3)
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from email.utils import parsedate_to_datetime

# Tried after ISO 8601 (datetime.fromisoformat). Day-first and month-first slash dates
# are ambiguous; month-first wins because it is what US-centric social tools export.
FORMATS: tuple[str, ...] = (
    "%a %b %d %H:%M:%S %z %Y",  # Twitter API v1.1: Mon Dec 01 19:30:03 +0000 2014
    "%a %b %d %H:%M:%S %Y",
    "%Y-%m-%d %H:%M:%S %z",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%d %b %Y %H:%M:%S",
    "%d %b %Y",
    "%b %d, %Y %H:%M:%S",
    "%b %d, %Y",
)
_EPOCH = re.compile(r"^\d{9,13}(\.\d+)?$")
_EPOCH_RANGE = (10**8, 10**13)
# Unix seconds above this are milliseconds (10**11 s is the year 5138).
_MILLIS_FROM = 10**11


def to_utc_naive(value: datetime) -> datetime:
    """Aware -> the same instant in UTC without tzinfo; naive is taken as UTC already."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


class TimestampParser:
    """Parse strings, numbers and datetimes; remembers the last format that worked.

    Files use one format throughout, so trying the previous winner first makes the
    common case one ``strptime`` call. Unparseable values return None (counted in
    ``failures``) rather than raising: a post without a usable time is still scored,
    it just stays out of the trends.
    """

    def __init__(self) -> None:
        self._last: str | None = None
        self.failures = 0

    def __call__(self, value) -> datetime | None:
        result = self._parse(value)
        if result is None and value is not None and value != "":
            self.failures += 1
        return result

    def _parse(self, value) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return to_utc_naive(value)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            # The range of the 9-13 digit strings read as epochs below (1973-2286, s or ms):
            # a 5 or a 2014 in a time column is a mistake, not a moment in January 1970.
            return _from_epoch(float(value)) if _EPOCH_RANGE[0] <= value < _EPOCH_RANGE[1] else None
        if not isinstance(value, str):
            return None
        text = value.strip()
        if not text:
            return None
        if self._last is not None:
            parsed = _strptime(text, self._last)
            if parsed is not None:
                return parsed
        if _EPOCH.match(text):
            return _from_epoch(float(text))
        try:  # ISO 8601; Python 3.10's fromisoformat does not read a "Z" suffix itself
            return to_utc_naive(datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "Zz" else text))
        except ValueError:
            pass
        for fmt in FORMATS:
            parsed = _strptime(text, fmt)
            if parsed is not None:
                self._last = fmt
                return parsed
        try:  # RFC 2822 (RSS, e-mail): "Mon, 01 Dec 2014 19:30:03 +0000"
            return to_utc_naive(parsedate_to_datetime(text))
        except (TypeError, ValueError, IndexError):
            return None


def parse_timestamp(value) -> datetime | None:
    """One value -> naive UTC datetime, or None when it is empty or unrecognised."""
    return TimestampParser()(value)


def _strptime(text: str, fmt: str) -> datetime | None:
    try:
        return to_utc_naive(datetime.strptime(text, fmt))
    except ValueError:
        return None


def _from_epoch(seconds: float) -> datetime | None:
    if seconds >= _MILLIS_FROM:
        seconds /= 1000.0
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc).replace(tzinfo=None)
    except (OverflowError, OSError, ValueError):
        return None
