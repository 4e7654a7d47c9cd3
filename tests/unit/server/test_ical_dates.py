"""The slicing date helpers of the expand fast paths agree with datetime's
own parsing and formatting, and refuse what RFC 5545 §3.3.4-5 does not allow
(the fast paths then decline and the library answers)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kalend.server.ical_dates import date_value, parse_date, parse_local, utc_value
from kalend.storage_plugin.occurrences import TIME_MAX, TIME_MIN


@given(st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59)))
def test_values_read_back_as_datetime_writes_them(moment: dt.datetime) -> None:
    moment = moment.replace(microsecond=0)
    assert parse_local(moment.strftime("%Y%m%dT%H%M%S").zfill(15)) == moment
    assert parse_date(f"{moment.year:04d}{moment:%m%d}") == moment.date()


@given(st.integers(min_value=TIME_MIN, max_value=TIME_MAX))
def test_written_values_match_datetime(seconds: int) -> None:
    moment = dt.datetime(1, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds - TIME_MIN)
    assert utc_value(seconds) == f"{moment.year:04d}{moment:%m%dT%H%M%S}Z"
    assert date_value(seconds) == f"{moment.year:04d}{moment:%m%d}"


def test_out_of_range_seconds_are_clamped_to_the_calendar() -> None:
    assert utc_value(TIME_MAX + 10**9) == "99991231T235959Z"
    assert utc_value(TIME_MIN - 10**9) == "00010101T000000Z"


@pytest.mark.parametrize("value", [
    "2026030", "202603021", "2026-03-02", "20261301", "20260230", "2026030a",
    "２０２６０３０２", "+2026030", " 2026030",
])
def test_malformed_dates_are_refused(value: str) -> None:
    assert parse_date(value) is None


@pytest.mark.parametrize("value", [
    "20260302T0900", "20260302 090000", "20260302T250000", "20260302T096000",
    "20260302T09000Z", "20260302T0900+1", "2026030２T090000", "20260302T-90000",
])
def test_malformed_date_times_are_refused(value: str) -> None:
    assert parse_local(value) is None


def test_lower_case_t_and_a_leap_second_are_read() -> None:
    assert parse_local("20260302t090000") == dt.datetime(2026, 3, 2, 9, 0)
    assert parse_local("20261231T235960") == dt.datetime(2026, 12, 31, 23, 59, 59)
