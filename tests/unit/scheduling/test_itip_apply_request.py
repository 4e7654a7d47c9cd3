"""A REQUEST filed into the recipient's calendar: the organizer's data, the
recipient's answer and alarms."""

from __future__ import annotations

import pytest
from itip_support import (
    answered,
    assert_wire_form,
    calendar,
    components,
    edit,
    fixture,
    master,
    override,
    partstat,
    recurrence_ids,
    sequence,
    status,
)

from kalend.scheduling.itip import SchedulingError, apply_request

B = "mailto:b@example.com"
REQUEST = "rfc5546-4.2.1-group-request.ics"
RECURRING = "rfc5546-4.3.1-recurring-request.ics"
ALARM = "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT30M\r\nDESCRIPTION:Mine\r\nEND:VALARM\r\n"


def personalised(text: str) -> str:
    """B's copy after B accepted and added an alarm and a client property."""
    text = answered(text, B, "ACCEPTED")
    return edit(text, ("END:VEVENT", ALARM + "X-CLIENT-COLOUR:teal\r\nEND:VEVENT"))


def test_first_request_creates_a_copy_without_method() -> None:
    copy = apply_request(None, fixture(REQUEST), "MAILTO:B@example.com")
    assert "METHOD" not in calendar(copy)
    assert_wire_form(copy)
    (event,) = components(copy)
    assert partstat(event, B) == "NEEDS-ACTION"
    assert partstat(event, "mailto:a@example.com") == "ACCEPTED"
    assert str(event["SUMMARY"]) == "Quarterly planning"


def test_first_request_keeps_the_answer_the_message_gives() -> None:
    message = answered(fixture(REQUEST), B, "TENTATIVE")
    assert partstat(master(apply_request(None, message, B)), B) == "TENTATIVE"


def test_update_keeps_the_recipients_answer_alarms_and_properties() -> None:
    mine = personalised(apply_request(None, fixture(REQUEST), B))
    update = edit(fixture(REQUEST), ("SUMMARY:", "DESCRIPTION:Agenda attached.\r\nSUMMARY:"))
    event = master(apply_request(mine, update, B))
    assert str(event["DESCRIPTION"]) == "Agenda attached."
    assert partstat(event, B) == "ACCEPTED"
    assert [str(a["DESCRIPTION"]) for a in event.walk("VALARM")] == ["Mine"]
    assert str(event["X-CLIENT-COLOUR"]) == "teal"


def test_rescheduling_request_asks_the_recipient_again() -> None:
    mine = personalised(apply_request(None, fixture(REQUEST), B))
    moved = edit(
        fixture(REQUEST),
        ("DTSTART:19970701T210000Z", "DTSTART:19970702T210000Z"),
        ("DTEND:19970701T230000Z", "DTEND:19970702T230000Z"),
        ("SEQUENCE:0", "SEQUENCE:1"),
    )
    event = master(apply_request(mine, moved, B))
    assert partstat(event, B) == "NEEDS-ACTION"
    assert sequence(event) == 1
    assert [str(a["DESCRIPTION"]) for a in event.walk("VALARM")] == ["Mine"]


def test_higher_sequence_without_a_new_time_keeps_the_answer() -> None:
    mine = personalised(apply_request(None, fixture(REQUEST), B))
    renamed = edit(
        fixture(REQUEST),
        ("SUMMARY:Quarterly planning", "SUMMARY:Q3 planning"),
        ("SEQUENCE:0", "SEQUENCE:1"),
    )
    event = master(apply_request(mine, renamed, B))
    assert partstat(event, B) == "ACCEPTED"
    assert str(event["SUMMARY"]) == "Q3 planning"


def test_out_of_date_request_changes_nothing() -> None:
    mine = edit(
        personalised(apply_request(None, fixture(REQUEST), B)), ("SEQUENCE:0", "SEQUENCE:2")
    )
    stale = edit(
        fixture(REQUEST),
        ("SEQUENCE:0", "SEQUENCE:1"),
        ("SUMMARY:Quarterly planning", "SUMMARY:Old"),
    )
    assert apply_request(mine, stale, B) == mine


def test_request_after_a_cancellation_is_a_fresh_start() -> None:
    mine = edit(
        apply_request(None, fixture(REQUEST), B),
        ("SEQUENCE:0", "SEQUENCE:3"),
        ("STATUS:CONFIRMED", "STATUS:CANCELLED"),
    )
    event = master(apply_request(mine, fixture(REQUEST), B))
    assert status(event) == "CONFIRMED" and sequence(event) == 0


def test_request_with_only_an_override_is_merged_into_the_series() -> None:
    mine = apply_request(None, fixture(RECURRING), B)
    moved = (
        "BEGIN:VEVENT\r\nUID:weekly-review-4.3.1@example.com\r\nDTSTAMP:20260108T100000Z\r\n"
        "RECURRENCE-ID;TZID=America/New_York:20260127T110000\r\n"
        "DTSTART;TZID=America/New_York:20260127T140000\r\nDTEND;TZID=America/New_York:20260127T150000\r\n"
        "SEQUENCE:1\r\nSUMMARY:Weekly design review (afternoon)\r\n"
        "ORGANIZER;CN=A:mailto:a@example.com\r\nATTENDEE;RSVP=TRUE;CN=B:mailto:b@example.com\r\nEND:VEVENT\r\n"
    )
    text = fixture(RECURRING)
    start = text.index("BEGIN:VEVENT")
    message = text[:start] + moved + "END:VCALENDAR\r\n"
    merged = apply_request(mine, message, B)
    assert recurrence_ids(merged) == ["20260127T160000Z"]
    assert "RRULE" in master(merged)
    assert (
        str(override(merged, "20260127T160000Z")["SUMMARY"]) == "Weekly design review (afternoon)"
    )
    assert "VTIMEZONE" in merged


def test_full_request_drops_overrides_the_organizer_no_longer_sends() -> None:
    apple = fixture("apple-weekly-standup-moved-instance-organizer-copy.ics").replace(
        "VERSION:2.0", "VERSION:2.0\r\nMETHOD:REQUEST"
    )
    mine = apply_request(None, apple, "mailto:bob@example.com")
    assert recurrence_ids(mine) == ["20261116T083000Z"]
    start = apple.index("BEGIN:VEVENT", apple.index("END:VEVENT"))
    without_override = (
        apple[:start] + apple[apple.index("END:VEVENT", start) + len("END:VEVENT\r\n") :]
    )
    assert recurrence_ids(apply_request(mine, without_override, "mailto:bob@example.com")) == []


def test_schedule_parameters_are_not_stored_in_the_recipients_copy() -> None:
    message = edit(
        fixture(REQUEST), ("CN=C:mailto", "CN=C;SCHEDULE-STATUS=1.2;SCHEDULE-AGENT=SERVER:mailto")
    )
    copy = apply_request(None, message, B)
    assert "SCHEDULE-STATUS" not in copy and "SCHEDULE-AGENT" not in copy


def test_request_for_another_object_is_refused() -> None:
    mine = apply_request(None, fixture(REQUEST), B)
    other = fixture(REQUEST).replace("group-meeting-4.2.1@example.com", "other@example.com")
    with pytest.raises(SchedulingError) as refused:
        apply_request(mine, other, B)
    assert refused.value.precondition == "CALDAV:valid-scheduling-message"


def test_message_of_another_method_is_refused() -> None:
    with pytest.raises(SchedulingError):
        apply_request(None, fixture("rfc5546-4.2.9-cancel-meeting.ics"), B)
