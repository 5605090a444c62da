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

# Time-zone abbreviations news sites write after a time, as UTC offsets in hours. Ambiguous
# ones (IST: India, Ireland or Israel; AST: Arabia or Atlantic) and unknown ones make the
# date rejected rather than silently read as UTC; CST is US Central, as in RFC 822.
ZONE_OFFSETS: dict[str, float] = {
    "UT": 0, "UTC": 0, "GMT": 0, "WET": 0, "WEST": 1, "BST": 1, "CET": 1, "CEST": 2,
    "MET": 1, "MEST": 2, "EET": 2, "EEST": 3, "MSK": 3, "TRT": 3, "PKT": 5, "HKT": 8,
    "SGT": 8, "JST": 9, "KST": 9, "AEST": 10, "AEDT": 11, "EST": -5, "EDT": -4, "CST": -6,
    "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7, "AKST": -9, "AKDT": -8,
    "HST": -10,
}  # fmt: skip
# "... 10:30 EDT", "... 4:05 p.m. (CEST)", "... 16:33:56 GMT": a zone name after a time.
_ZONE_AFTER_TIME = re.compile(
    r"(\d{1,2}:\d\d(?::\d\d(?:\.\d+)?)?\s*(?:[ap]\.?m\.?)?)\s*\(?([A-Za-z]{1,5})\)?$",
    re.IGNORECASE,
)
_NUMERIC_OFFSET = re.compile(r"[+-]\d\d:?\d\d\b")
# 01/02/2024, 1.2.2024, 01-02-2024: day and month in an order only the locale tells.
_NUMERIC_DATE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\b")
_MONTH_FIRST_LOCALES = {"en-us", "en-ph", "en-as", "en-gu", "en-mh", "en-fm", "en-pw", "en-um"}
_UNKNOWN_ORDER_LOCALES = {"en", "en-ca"}


def day_first_for(locale: str | None) -> bool | None:
    """Whether a locale writes numeric dates day first (True), month first (False), or may
    do either (None: bare ``en`` is used by US and British sites alike)."""
    if not locale:
        return None
    tag = locale.strip().lower().replace("_", "-")
    if tag in _MONTH_FIRST_LOCALES:
        return False
    if tag in _UNKNOWN_ORDER_LOCALES or not re.match(r"^[a-z]{2,3}\b", tag):
        return None
    return True


def _with_numeric_zone(text: str) -> str | None:
    """``text`` with a trailing zone name replaced by its UTC offset; None when the name
    is not a known zone (so the date is rejected, never read as UTC)."""
    match = _ZONE_AFTER_TIME.search(text)
    if not match or match.group(2).lower() in ("am", "pm", "a", "p", "m", "z"):
        return text
    name = match.group(2).upper()
    before = text[: match.start(2)].rstrip(" (")
    if _NUMERIC_OFFSET.search(before[-8:]):
        return before  # "+0300 (EEST)": the offset says it already
    if name not in ZONE_OFFSETS:
        return None
    minutes = round(ZONE_OFFSETS[name] * 60)
    sign = "-" if minutes < 0 else "+"
    return f"{before} {sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def _numeric_order(text: str, day_first: bool | None) -> bool | str | None:
    """dayfirst for dateutil on a numeric d/m/y date; "reject" when it cannot be known."""
    match = _NUMERIC_DATE.match(text)
    if not match:
        return None
    first, second = int(match.group(1)), int(match.group(2))
    if first > 12:
        return True
    if second > 12:
        return False
    if first == second:
        return True
    return "reject" if day_first is None else day_first


def parse_date(
    value: object,
    *,
    default_tz: tzinfo | None = None,
    now: datetime | None = None,
    day_first: bool | None = None,
) -> str | None:
    """``YYYY-MM-DDTHH:MM:SSZ`` in UTC, or None when the value is not a plausible date.

    A value without a zone is read in ``default_tz`` (UTC when not given). A zone name is
    honoured, or the date rejected when the name is unknown. A numeric date whose day and
    month could be either way round follows ``day_first`` (see ``day_first_for``), or is
    rejected when that is None. Never raises.
    """
    parsed = to_datetime(value, default_tz=default_tz, day_first=day_first)
    if parsed is None:
        return None
    now = now or datetime.now(UTC)
    if not _EARLIEST <= parsed <= now + _FUTURE_SLACK:
        return None
    if isinstance(value, str) and (stamp := value.strip()).isascii() and _ISO_UTC.match(stamp):
        return stamp[:19] + "Z"  # already in this form (sitemaps): strftime is most of the cost
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")


def to_datetime(
    value: object, *, default_tz: tzinfo | None = None, day_first: bool | None = None
) -> datetime | None:
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
    text = re.sub(r"\b([ap])\.m\.", r"\1m", text, flags=re.IGNORECASE)  # "4:05 p.m."
    zoned = _with_numeric_zone(text)
    order = _numeric_order(text, day_first)
    if zoned is None or order == "reject":
        return None
    text = zoned
    parsed: datetime | None = None
    # RFC 822 (RSS): "Tue, 30 Jan 2018 16:33:56 -0500"; it has no AM/PM, which it would drop.
    if ("," in text[:5] or text[:3].isalpha()) and not re.search(r"\d\s*[ap]m\b", text, re.I):
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            parsed = None
    if parsed is None:
        try:
            parsed = dateutil_parser.isoparse(text)
        except (ValueError, OverflowError):
            try:
                parsed = dateutil_parser.parse(text, fuzzy=False, dayfirst=order is True)
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
