"""The line-level expansion of single events agrees with the full expansion."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import icalendar
import pytest

from kalend.server.calendar_data import expand
from kalend.server.expand_single import DECLINED, expand_single

WEEK = (int(dt.datetime(2026, 3, 2, tzinfo=dt.UTC).timestamp()),
        int(dt.datetime(2026, 3, 9, tzinfo=dt.UTC).timestamp()))

BERLIN_VTIMEZONE = (
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n"
    "END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
    "END:DAYLIGHT\r\nEND:VTIMEZONE\r\n")


def calendar(*event_lines: str, timezone: str = "") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//kalend tests//EN\r\n" + timezone
            + "BEGIN:VEVENT\r\nUID:u1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Review\r\n"
            + "".join(line + "\r\n" for line in event_lines)
            + "END:VEVENT\r\nEND:VCALENDAR\r\n")


SINGLE_EVENTS = {
    "berlin": calendar("DTSTART;TZID=Europe/Berlin:20260303T100000",
                       "DTEND;TZID=Europe/Berlin:20260303T110000", timezone=BERLIN_VTIMEZONE),
    "utc": calendar("DTSTART:20260304T090000Z", "DTEND:20260304T093000Z"),
    "new-york-duration": calendar("DTSTART;TZID=America/New_York:20260305T080000",
                                  "DURATION:PT45M"),
    "floating": calendar("DTSTART:20260306T120000", "DTEND:20260306T130000"),
    "all-day": calendar("DTSTART;VALUE=DATE:20260307", "DTEND;VALUE=DATE:20260308"),
    "with-alarm": calendar("DTSTART:20260304T150000Z", "DTEND:20260304T160000Z",
                           "BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT15M",
                           "DESCRIPTION:Soon", "END:VALARM"),
    "outside-range": calendar("DTSTART:20260401T090000Z", "DTEND:20260401T100000Z"),
}


def instants(text: str) -> list[tuple]:
    parsed = icalendar.Calendar.from_ical(text)
    assert not list(parsed.walk("VTIMEZONE"))
    return sorted((str(e["UID"]), e["DTSTART"].dt, e.get("DTEND") and e["DTEND"].dt,
                   str(e["SUMMARY"]), len(e.subcomponents)) for e in parsed.walk("VEVENT"))


@pytest.mark.parametrize("zone", [None, zoneinfo.ZoneInfo("Asia/Tokyo")])
@pytest.mark.parametrize("name", sorted(SINGLE_EVENTS))
def test_single_event_expansion_matches_the_library_expansion(name, zone):
    text = SINGLE_EVENTS[name]

    fast = expand_single(text, *WEEK, zone)
    slow, _ = expand(text, *WEEK, zone, limit=100)

    assert fast is not DECLINED
    if slow is None:
        assert fast is None
    else:
        fast_instants = instants(fast)
        slow_instants = instants(slow)
        # The slow path may write DTEND where the object has DURATION.
        assert [i[0:2] + i[3:] for i in fast_instants] == [i[0:2] + i[3:] for i in slow_instants]
        for (_, start, end, *_rest) in fast_instants:
            assert not isinstance(start, dt.datetime) or start.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("lines", [
    ("DTSTART:20260303T100000Z", "RRULE:FREQ=DAILY;COUNT=3"),
    ("DTSTART;TZID=Custom Zone:20260303T100000", "DTEND;TZID=Custom Zone:20260303T110000"),
    ("DTSTART;TZID=Europe/Berlin:2026030", " 3T100000"),
])
def test_recurring_custom_zone_or_folded_objects_are_left_to_the_library(lines):
    assert expand_single(calendar(*lines), *WEEK, None) is DECLINED


def test_todo_is_left_to_the_library():
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTODO\r\nUID:t\r\n"
            "DUE:20260303T100000Z\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
    assert expand_single(text, *WEEK, None) is DECLINED
