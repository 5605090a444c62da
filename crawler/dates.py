"""Publication dates from the many forms the three sites write them in, as UTC ISO 8601.

Seen in the real captures: ``2020-12-16T06:30:00.257Z`` and 2 to 7 fraction digits (RFE/RL
sitemaps), ``2024-04-28 07:00:00Z`` (Pangea JSON-LD), ``2023-09-14 10:32`` with no zone (AFP
Fact Check JSON-LD), RFC 822 in RSS, and ``2020-01-19`` date-only values.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from email.utils import parsedate_to_datetime

from dateutil import parser as dateutil_parser

# Dates before the web or far in the future are parse errors, not publication dates.
_EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
_FUTURE_SLACK = timedelta(days=2)
# UTC ISO 8601 with any number of fraction digits (dropped): "2012-04-24T19:45:47.267Z".
_ISO_UTC = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?Z$")


def parse_date(
    value: object, *, default_tz: tzinfo | None = None, now: datetime | None = None
) -> str | None:
    """``YYYY-MM-DDTHH:MM:SSZ`` in UTC, or None when the value is not a plausible date.

    A value without a zone is read in ``default_tz`` (UTC when not given). Never raises.
    """
    parsed = to_datetime(value, default_tz=default_tz)
    if parsed is None:
        return None
    now = now or datetime.now(UTC)
    if not _EARLIEST <= parsed <= now + _FUTURE_SLACK:
        return None
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")


def to_datetime(value: object, *, default_tz: tzinfo | None = None) -> datetime | None:
    """An aware UTC datetime, or None. Never raises."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    # Without a four-digit year dateutil would fill the gaps from today ("00:00" -> today).
    if not text or len(text) > 64 or not re.search(r"\d{4}", text):
        return None
    if match := _ISO_UTC.match(text):  # sitemaps: 20,000 of these a chunk, dateutil is slow
        try:
            year, month, day, hour, minute, second = map(int, match.groups())
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError:
            return None
    parsed: datetime | None = None
    if "," in text[:5] or text[:3].isalpha():  # RFC 822 (RSS): "Tue, 30 Jan 2018 16:33:56 -0500"
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            parsed = None
    if parsed is None:
        try:
            parsed = dateutil_parser.isoparse(text)
        except (ValueError, OverflowError):
            try:
                parsed = dateutil_parser.parse(text, fuzzy=False)
            except (ValueError, OverflowError, TypeError):
                return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=default_tz or UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def zone_of(value: object) -> tzinfo | None:
    """The UTC offset a timestamp is written in, if it states one."""
    if not isinstance(value, str) or not re.search(r"(?:[+-]\d\d:?\d\d|Z)$", value.strip()):
        return None
    try:
        return dateutil_parser.isoparse(value.strip()).tzinfo
    except (ValueError, OverflowError):
        return None


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
