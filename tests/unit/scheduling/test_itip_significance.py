"""What counts as a change to a meeting, as opposed to a client rewriting its copy."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from itip_support import answered, edit, fixture

from kalend.scheduling.instances import derive_instance, instance_key
from kalend.scheduling.itip import scheduling_significant
from kalend.scheduling.objects import parse_object

GROUP = "rfc5546-4.2.1-group-meeting-organizer-copy.ics"
RECURRING = "rfc5546-4.3.1-recurring-meeting-organizer-copy.ics"


def test_creation_and_deletion_are_significant() -> None:
    assert scheduling_significant(None, fixture(GROUP))
    assert scheduling_significant(fixture(GROUP), None)
    assert not scheduling_significant(None, None)


def test_personal_data_is_not_significant() -> None:
    old = fixture(GROUP)
    new = edit(
        old,
        ("DTSTAMP:19970611T190000Z", "DTSTAMP:20000101T000000Z\r\nLAST-MODIFIED:20000101T000000Z"),
        ("STATUS:CONFIRMED", "STATUS:CONFIRMED\r\nTRANSP:TRANSPARENT\r\nX-MOZ-GENERATION:3"),
        ("END:VEVENT", "BEGIN:VALARM\r\nACTION:AUDIO\r\nTRIGGER:-PT1H\r\nEND:VALARM\r\nEND:VEVENT"),
    )
    assert not scheduling_significant(old, new)


def test_answers_are_not_significant() -> None:
    old = fixture(GROUP)
    new = edit(
        answered(old, "mailto:b@example.com", "DECLINED"), ("CN=C;", "CN=C;SCHEDULE-STATUS=1.2;")
    )
    assert not scheduling_significant(old, new)


def test_description_change_is_significant() -> None:
    old = fixture(GROUP)
    assert scheduling_significant(
        old, edit(old, ("SUMMARY:", "DESCRIPTION:New agenda\r\nSUMMARY:"))
    )


def test_new_attendee_is_significant() -> None:
    old = fixture(GROUP)
    assert scheduling_significant(
        old,
        edit(old, ("ATTENDEE;RSVP=FALSE", "ATTENDEE:mailto:e@x.example\r\nATTENDEE;RSVP=FALSE")),
    )


def test_same_instant_in_another_zone_and_duration_for_end_are_no_change() -> None:
    old = fixture(GROUP)
    new = edit(
        old,
        ("DTSTART:19970701T210000Z", "DTSTART;TZID=Europe/Berlin:19970701T230000"),
        ("DTEND:19970701T230000Z", "DURATION:PT2H"),
    )
    assert not scheduling_significant(old, new)


def test_reordered_and_refolded_text_is_no_change() -> None:
    old = fixture(GROUP)
    lines = old.split("\r\n")
    start, end = lines.index("BEGIN:VEVENT") + 1, lines.index("END:VEVENT")
    body = list(reversed(lines[start:end]))
    folded = [line[:40] + "\r\n " + line[40:] if len(line) > 40 else line for line in body]
    new = "\r\n".join(lines[:start] + folded + lines[end:])
    assert not scheduling_significant(old, new)


def test_added_override_that_only_declines_is_not_significant() -> None:
    old = fixture(RECURRING)
    obj = parse_object(old)
    instance = derive_instance(obj.master, "20260120T160000Z")
    for line in instance["ATTENDEE"]:
        if str(line) == "mailto:b@example.com":
            line.params["PARTSTAT"] = "DECLINED"
    new = old.replace("END:VCALENDAR", instance.to_ical().decode() + "END:VCALENDAR")
    assert not scheduling_significant(old, new)


def test_added_exdate_is_significant() -> None:
    old = fixture(RECURRING)
    new = edit(
        old,
        ("RRULE:FREQ=WEEKLY", "EXDATE;TZID=America/New_York:20260113T110000\r\nRRULE:FREQ=WEEKLY"),
    )
    assert scheduling_significant(old, new)


def test_instances_are_named_in_utc_dates_or_floating_time() -> None:
    new_york = zoneinfo.ZoneInfo("America/New_York")
    assert instance_key(dt.datetime(2026, 1, 13, 11, tzinfo=new_york)) == "20260113T160000Z"
    assert instance_key(dt.date(2026, 1, 13)) == "20260113"
    assert instance_key(dt.datetime(2026, 1, 13, 11)) == "20260113T110000"
