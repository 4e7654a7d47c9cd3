"""Expansion from occurrence rows agrees with the library's full expansion."""

from __future__ import annotations

import datetime as dt
import pathlib

import icalendar
import pytest

from kalend.server import expand_indexed
from kalend.server.calendar_data import expand
from kalend.server.expand_indexed import DECLINED, expand_from_rows
from kalend.storage_plugin import occurrences as occ

FIXTURES = pathlib.Path(__file__).parents[2] / "fixtures" / "calendars"
RANGE = (int(dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp()),
         int(dt.datetime(2028, 1, 1, tzinfo=dt.UTC).timestamp()))


def recurring_event_fixtures() -> list[str]:
    names = []
    for path in sorted(FIXTURES.glob("*.ics")):
        calendar = occ.parse(path.read_text())
        if occ.is_recurring(calendar) and list(calendar.walk("VEVENT")):
            names.append(path.name)
    return names


def instances(text: str) -> list[tuple]:
    """(RECURRENCE-ID, start, end, summary) with DURATION turned into an end."""
    found = []
    for event in icalendar.Calendar.from_ical(text).walk("VEVENT"):
        start = event["DTSTART"].dt
        if "DTEND" in event:
            end = event["DTEND"].dt
        elif "DURATION" in event:
            end = start + event["DURATION"].dt
        else:
            end = start
        found.append((event["RECURRENCE-ID"].dt, start, end, str(event.get("SUMMARY"))))
    return sorted(found)


@pytest.mark.parametrize("zone", [None, dt.timezone(dt.timedelta(hours=-5))])
@pytest.mark.parametrize("name", recurring_event_fixtures())
def test_rows_expansion_matches_the_full_expansion(name, zone):
    text = (FIXTURES / name).read_text()
    calendar = occ.parse(text)
    rows = [(o.start, o.end, o.floating, o.recurrence_id)
            for o in occ.occurrences_between(calendar, *RANGE)
            if o.component == "VEVENT" and occ.overlaps(o, *RANGE, zone)]

    fast = expand_from_rows(text, rows, zone)
    slow, count = expand(text, *RANGE, zone, limit=100000)

    if fast is DECLINED:
        # Only what the rewrite cannot be sure of is declined.
        assert "THISANDFUTURE" in text or "W. Europe Standard Time" in text
        return
    assert instances(fast) == instances(slow)
    assert fast.count("BEGIN:VEVENT") == count
    assert "BEGIN:VTIMEZONE" not in fast and "RRULE" not in fast and "EXDATE" not in fast


@pytest.mark.parametrize("name", recurring_event_fixtures())
def test_a_parsed_object_reused_for_other_ranges_and_zones_answers_as_afresh(name):
    """The parsed object is kept between requests (``_parsed``); expanding it
    again, for another range and zone, must not see anything the first
    expansion left behind."""
    text = (FIXTURES / name).read_text()
    calendar = occ.parse(text)
    ranges = [RANGE, (RANGE[0] + 30 * 86400, RANGE[1])]
    zones = [None, dt.timezone(dt.timedelta(hours=9))]

    def rows(span, zone):
        return [(o.start, o.end, o.floating, o.recurrence_id)
                for o in occ.occurrences_between(calendar, *span)
                if o.component == "VEVENT" and occ.overlaps(o, *span, zone)]

    expand_indexed._parsed.cache_clear()
    afresh = []
    for span, zone in zip(ranges, zones, strict=True):
        afresh.append(expand_from_rows(text, rows(span, zone), zone))
        expand_indexed._parsed.cache_clear()
    reused = [expand_from_rows(text, rows(span, zone), zone)
              for span, zone in zip(ranges, zones, strict=True)]

    assert reused == afresh
    parsed_twice = sum(1 for span, zone in zip(ranges, zones, strict=True)
                       if rows(span, zone) and all(r[3] for r in rows(span, zone)))
    assert expand_indexed._parsed.cache_info().hits == max(parsed_twice - 1, 0)
