"""crawler/dates.py: publication dates in every form the sites write them, as UTC ISO 8601."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.dates import day_first_for, parse_date

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-05-25T10:55:00.82Z", "2025-05-25T10:55:00Z"),
        ("2020-12-16T06:30:00.257Z", "2020-12-16T06:30:00Z"),
        ("2025-04-20T17:57:56.253917Z", "2025-04-20T17:57:56Z"),
        ("2025-04-20T17:38:23.4598287Z", "2025-04-20T17:38:23Z"),
    ],
)
def test_rferl_fractional_seconds_of_two_to_seven_digits_are_parsed(value, expected):
    assert parse_date(value, now=NOW) == expected


def test_a_date_in_another_scripts_digits_comes_out_in_ascii_digits():
    assert parse_date("٢٠٢٠-١٢-١٦T٠٦:٣٠:٠٠Z", now=NOW) == "2020-12-16T06:30:00Z"


def test_pangea_space_separated_utc_datetime_is_parsed():
    assert parse_date("2024-04-28 07:00:00Z", now=NOW) == "2024-04-28T07:00:00Z"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-11-22T07:22:44+01:00", "2024-11-22T06:22:44Z"),
        ("2023-09-15T08:20:00+00:00", "2023-09-15T08:20:00Z"),
        ("2023-01-01T01:30:00+02:00", "2022-12-31T23:30:00Z"),
    ],
)
def test_offsets_are_converted_to_utc(value, expected):
    assert parse_date(value, now=NOW) == expected


def test_rfc822_rss_date_is_converted_to_utc():
    assert parse_date("Tue, 30 Jan 2018 16:33:56 -0500", now=NOW) == "2018-01-30T21:33:56Z"


def test_zoneless_value_is_read_as_utc_by_default():
    assert parse_date("2023-09-14 10:32", now=NOW) == "2023-09-14T10:32:00Z"


def test_zoneless_value_is_read_in_default_tz():
    paris = ZoneInfo("Europe/Paris")  # UTC+2 in September
    assert parse_date("2023-09-14 10:32", default_tz=paris, now=NOW) == "2023-09-14T08:32:00Z"


def test_default_tz_does_not_override_an_explicit_zone():
    paris = ZoneInfo("Europe/Paris")
    assert parse_date("2023-09-14T10:32:00Z", default_tz=paris, now=NOW) == "2023-09-14T10:32:00Z"


def test_date_only_value_is_midnight_utc():
    assert parse_date("2020-01-19", now=NOW) == "2020-01-19T00:00:00Z"


@pytest.mark.parametrize(
    "value",
    [None, 0, 20240101, 1.5, b"2024-01-01", "", "   ", "not a date", "yesterday-ish", "x" * 100],
)
def test_garbage_is_none(value):
    assert parse_date(value, now=NOW) is None


def test_dates_before_1990_are_rejected():
    assert parse_date("1989-12-31T23:59:59Z", now=NOW) is None
    assert parse_date("1990-01-01T00:00:00Z", now=NOW) == "1990-01-01T00:00:00Z"


def test_dates_more_than_two_days_in_the_future_are_rejected():
    assert parse_date("2026-01-03T00:00:00Z", now=NOW) == "2026-01-03T00:00:00Z"
    assert parse_date("2026-01-03T00:00:01Z", now=NOW) is None
    assert parse_date("2027-01-01T00:00:00Z", now=NOW) is None


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_parse_date_never_raises_on_text(value):
    result = parse_date(value, now=NOW)
    assert result is None or ISO_Z.match(result)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), st.integers(), st.none(), st.floats()))
def test_parse_date_never_raises_on_mixed_values(value):
    result = parse_date(value)
    assert result is None or ISO_Z.match(result)


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2025, 12, 31)),
    st.sampled_from(["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%SZ", "%a, %d %b %Y %H:%M:%S +0000"]),
)
def test_known_formats_round_trip(moment, fmt):
    assert parse_date(moment.strftime(fmt), now=NOW) == moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("value", ["1", "00:00", "January 1"])
def test_values_without_a_full_date_are_not_dates(value):
    assert parse_date(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01 10:00 EDT", "2024-05-01T14:00:00Z"),
        ("May 1, 2024 4:05 p.m. (BST)", "2024-05-01T15:05:00Z"),
        ("Wed, 01 May 2024 16:05:00 CEST", "2024-05-01T14:05:00Z"),
        ("1 May 2024 10:00 GMT", "2024-05-01T10:00:00Z"),
        ("2024-05-01 18:00 EET", "2024-05-01T16:00:00Z"),
        ("2024-01-15 09:30 EST", "2024-01-15T14:30:00Z"),
        ("2024-05-01T10:00:00+03:00 (EEST)", "2024-05-01T07:00:00Z"),  # the offset says it
    ],
)
def test_time_zone_abbreviations_are_honoured(value, expected):
    assert parse_date(value, now=NOW) == expected


@pytest.mark.parametrize(
    "value", ["2024-05-01 10:00 IST", "2024-05-01 10:00 XYZ", "1 May 2024 10:00 AST"]
)
def test_unknown_or_ambiguous_zone_names_reject_the_date_instead_of_reading_utc(value):
    assert parse_date(value, now=NOW) is None


@pytest.mark.parametrize(
    ("value", "locale", "expected"),
    [
        ("01/02/2024", "en-US", "2024-01-02T00:00:00Z"),
        ("01/02/2024", "en-GB", "2024-02-01T00:00:00Z"),
        ("01.02.2024", "de", "2024-02-01T00:00:00Z"),
        ("01/02/2024", "fr_FR", "2024-02-01T00:00:00Z"),
        ("01/02/2024", "en", None),  # US and British sites both say just "en"
        ("01/02/2024", None, None),
        ("25/04/2023", "en", "2023-04-25T00:00:00Z"),  # only one way round is a date
        ("04/25/2023 10:00", None, "2023-04-25T10:00:00Z"),
    ],
)
def test_ambiguous_numeric_dates_follow_the_page_locale_or_are_rejected(value, locale, expected):
    assert parse_date(value, now=NOW, day_first=day_first_for(locale)) == expected
