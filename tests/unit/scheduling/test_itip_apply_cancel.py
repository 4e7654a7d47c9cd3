"""A CANCEL filed into the recipient's calendar: the meeting or one instance marked cancelled."""

from __future__ import annotations

from itip_support import (
    assert_wire_form,
    components,
    edit,
    fixture,
    master,
    override,
    recurrence_ids,
    sequence,
    status,
)

from kalend.scheduling.itip import apply_cancel, apply_request

B = "mailto:b@example.com"
CANCELLED_INSTANCE = "20260113T160000Z"


def copy_of_b(request: str) -> str:
    return apply_request(None, fixture(request), B)


def test_cancel_of_the_whole_meeting_marks_it_cancelled() -> None:
    mine = copy_of_b("rfc5546-4.2.1-group-request.ics")
    cancelled = apply_cancel(mine, fixture("rfc5546-4.2.9-cancel-meeting.ics"))
    assert cancelled is not None
    assert_wire_form(cancelled)
    (event,) = components(cancelled)
    assert status(event) == "CANCELLED"
    assert sequence(event) == 1
    assert str(event["SUMMARY"]) == "Quarterly planning"


def test_cancel_of_a_series_marks_every_component() -> None:
    apple = fixture("apple-weekly-standup-moved-instance-organizer-copy.ics").replace(
        "VERSION:2.0", "VERSION:2.0\r\nMETHOD:REQUEST"
    )
    mine = apply_request(None, apple, "mailto:bob@example.com")
    cancel = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//EN\r\nMETHOD:CANCEL\r\nBEGIN:VEVENT\r\n"
        "UID:5C1E2B7A-3D4F-4A1B-9C8D-7E6F5A4B3C2D\r\nDTSTAMP:20261101T000000Z\r\nSEQUENCE:2\r\n"
        "ORGANIZER:mailto:alice@example.com\r\nATTENDEE:mailto:bob@example.com\r\nSTATUS:CANCELLED\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    cancelled = apply_cancel(mine, cancel)
    assert [status(c) for c in components(cancelled)] == ["CANCELLED", "CANCELLED"]
    assert [sequence(c) for c in components(cancelled)] == [2, 2]


def test_cancel_of_one_instance_marks_only_that_instance() -> None:
    # RFC 5546 §4.2.10 applied to the §4.3.1 series.
    mine = copy_of_b("rfc5546-4.3.1-recurring-request.ics")
    cancelled = apply_cancel(mine, fixture("rfc5546-4.2.10-cancel-one-instance.ics"))
    assert recurrence_ids(cancelled) == [CANCELLED_INSTANCE]
    instance = override(cancelled, CANCELLED_INSTANCE)
    assert status(instance) == "CANCELLED"
    assert instance["DTSTART"].dt.isoformat() == "2026-01-13T11:00:00-05:00"
    assert str(instance["DTSTART"].params["TZID"]) == "America/New_York"
    assert not any(name in instance for name in ("RRULE", "RDATE", "EXDATE"))
    assert sequence(instance) == 1
    assert status(master(cancelled)) == "" and "RRULE" in master(cancelled)


def test_cancel_of_an_overridden_instance_updates_that_override() -> None:
    mine = copy_of_b("rfc5546-4.3.1-recurring-request.ics")
    once = apply_cancel(mine, fixture("rfc5546-4.2.10-cancel-one-instance.ics"))
    restored = edit(once, ("STATUS:CANCELLED", "STATUS:CONFIRMED"))
    again = apply_cancel(restored, fixture("rfc5546-4.2.10-cancel-one-instance.ics"))
    assert recurrence_ids(again) == [CANCELLED_INSTANCE]
    assert status(override(again, CANCELLED_INSTANCE)) == "CANCELLED"


def test_cancel_for_another_object_is_not_applicable() -> None:
    mine = copy_of_b("rfc5546-4.2.1-group-request.ics")
    other = fixture("rfc5546-4.2.9-cancel-meeting.ics").replace(
        "group-meeting-4.2.1@example.com", "x@example.com"
    )
    assert apply_cancel(mine, other) is None


def test_out_of_date_cancel_changes_nothing() -> None:
    mine = edit(copy_of_b("rfc5546-4.2.1-group-request.ics"), ("SEQUENCE:0", "SEQUENCE:5"))
    assert apply_cancel(mine, fixture("rfc5546-4.2.9-cancel-meeting.ics")) == mine
