"""A REPLY filed into the organizer's copy: one attendee's answer, nothing else."""

from __future__ import annotations

import pytest
from itip_support import (
    assert_wire_form,
    attendee,
    edit,
    fixture,
    master,
    override,
    param,
    partstat,
    recurrence_ids,
    sequence,
)

from kalend.scheduling.itip import SchedulingError, apply_reply

B, C = "mailto:b@example.com", "mailto:c@example.com"
GROUP = "rfc5546-4.2.1-group-meeting-organizer-copy.ics"
ACCEPTED = "rfc5546-4.2.2-reply-accepted.ics"
RECURRING = "rfc5546-4.3.1-recurring-meeting-organizer-copy.ics"
DECLINED_INSTANCE = "rfc5546-4.3.2-reply-declining-one-instance.ics"
INSTANCE = "20260120T160000Z"


def test_reply_accepting_updates_the_attendees_partstat() -> None:
    # RFC 5546 §4.2.2 applied to the organizer's copy of §4.2.1.
    text, replier = apply_reply(fixture(GROUP), fixture(ACCEPTED))
    assert replier == B
    assert_wire_form(text)
    event = master(text)
    line = attendee(event, B)
    assert partstat(event, B) == "ACCEPTED"
    assert param(line, "RSVP") is None
    assert param(line, "SCHEDULE-STATUS") == "2.0"
    assert partstat(event, C) == "NEEDS-ACTION" and param(attendee(event, C), "RSVP") == "TRUE"
    assert sequence(event) == 0
    assert "METHOD" not in text


def test_reply_for_unknown_instance_adds_override() -> None:
    text, replier = apply_reply(fixture(RECURRING), fixture(DECLINED_INSTANCE))
    assert replier == B
    assert recurrence_ids(text) == [INSTANCE]
    instance = override(text, INSTANCE)
    assert partstat(instance, B) == "DECLINED"
    assert partstat(instance, C) == "NEEDS-ACTION"
    assert partstat(instance, "mailto:a@example.com") == "ACCEPTED"
    assert instance["DTSTART"].dt.isoformat() == "2026-01-20T11:00:00-05:00"
    assert not any(name in instance for name in ("RRULE", "RDATE", "EXDATE"))
    assert partstat(master(text), B) == "NEEDS-ACTION"
    assert sequence(master(text)) == 0


def test_reply_for_an_existing_override_updates_only_it() -> None:
    organizer_copy = fixture("apple-weekly-standup-moved-instance-organizer-copy.ics")
    reply = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//EN\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\n"
        "UID:5C1E2B7A-3D4F-4A1B-9C8D-7E6F5A4B3C2D\r\nDTSTAMP:20261101T000000Z\r\nSEQUENCE:1\r\n"
        "RECURRENCE-ID:20261116T083000Z\r\nORGANIZER:mailto:alice@example.com\r\n"
        "ATTENDEE;PARTSTAT=TENTATIVE:mailto:Carol@Example.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    text, replier = apply_reply(organizer_copy, reply)
    assert replier == "mailto:carol@example.com"
    assert partstat(override(text, "20261116T083000Z"), replier) == "TENTATIVE"
    assert partstat(master(text), replier) == "NEEDS-ACTION"


def test_out_of_date_reply_is_ignored() -> None:
    organizer_copy = edit(fixture(GROUP), ("SEQUENCE:0", "SEQUENCE:2"))
    text, _ = apply_reply(organizer_copy, fixture(ACCEPTED))
    assert partstat(master(text), B) == "NEEDS-ACTION"


def refusal(organizer_copy: str, reply: str) -> str:
    with pytest.raises(SchedulingError) as refused:
        apply_reply(organizer_copy, reply)
    return refused.value.precondition


def test_reply_from_someone_not_invited_is_refused() -> None:
    reply = fixture(ACCEPTED).replace("mailto:b@example.com", "mailto:eve@example.com")
    assert refusal(fixture(GROUP), reply) == "CALDAV:valid-scheduling-message"


def test_reply_speaking_for_two_attendees_is_refused() -> None:
    reply = edit(
        fixture(ACCEPTED),
        ("REQUEST-STATUS", "ATTENDEE;PARTSTAT=ACCEPTED:mailto:c@example.com\r\nREQUEST-STATUS"),
    )
    assert refusal(fixture(GROUP), reply) == "CALDAV:valid-scheduling-message"


def test_reply_without_an_attendee_is_refused() -> None:
    reply = fixture(ACCEPTED).replace(
        "ATTENDEE;PARTSTAT=ACCEPTED;CN=B:mailto:b@example.com\r\n", ""
    )
    assert refusal(fixture(GROUP), reply) == "CALDAV:valid-scheduling-message"


def test_reply_about_another_object_is_refused() -> None:
    reply = fixture(ACCEPTED).replace("group-meeting-4.2.1@example.com", "other@example.com")
    assert refusal(fixture(GROUP), reply) == "CALDAV:valid-scheduling-message"


def test_request_handed_over_as_a_reply_is_refused() -> None:
    assert (
        refusal(fixture(GROUP), fixture("rfc5546-4.2.1-group-request.ics"))
        == "CALDAV:valid-scheduling-message"
    )
