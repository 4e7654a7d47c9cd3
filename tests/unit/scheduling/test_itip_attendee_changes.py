"""An attendee's writes to their copy: the answers they send and the changes refused."""

from __future__ import annotations

import pytest
from itip_support import (
    NOW,
    answered,
    assert_wire_form,
    attendees,
    components,
    edit,
    fixture,
    method,
    partstat,
    recurrence_ids,
)

from kalend.scheduling.itip import SchedulingError, apply_request, attendee_changes

A, B, C = "mailto:a@example.com", "mailto:b@example.com", "mailto:c@example.com"
INSTANCE = "20260120T160000Z"


def copy_of_b(request: str = "rfc5546-4.2.1-group-request.ics") -> str:
    """B's copy as the server filed it from the organizer's REQUEST."""
    return apply_request(None, fixture(request), B)


def recurring_copy_of_b() -> str:
    return copy_of_b("rfc5546-4.3.1-recurring-request.ics")


def accept(text: str, who: str = B) -> str:
    return answered(text, who, "ACCEPTED")


def changes(old: str | None, new: str | None, **options):
    return attendee_changes(old, new, B, now=NOW, **options)


def test_attendee_accept_sends_reply_with_only_their_attendee_line() -> None:
    old = copy_of_b()
    (reply,) = changes(old, accept(old))
    assert (reply.method, reply.sender, reply.recipient) == ("REPLY", B, A)
    assert reply.uid == "group-meeting-4.2.1@example.com"
    assert reply.recurrence_ids == () and reply.significant
    assert method(reply.text) == "REPLY"
    assert_wire_form(reply.text)
    (event,) = components(reply.text)
    assert attendees(event) == [B]
    assert partstat(event, B) == "ACCEPTED"
    assert "RSVP" not in event["ATTENDEE"].params
    assert str(event["ORGANIZER"]) == A
    assert str(event["UID"]) == "group-meeting-4.2.1@example.com"
    assert int(event["SEQUENCE"]) == 0
    assert event["DTSTART"].dt.isoformat() == "1997-07-01T21:00:00+00:00"
    assert event["DTSTAMP"].dt == NOW
    assert "LOCATION" not in event and "VALARM" not in reply.text


def test_rewrite_without_a_new_answer_sends_nothing() -> None:
    old = copy_of_b()
    new = edit(
        old,
        ("DTSTAMP:19970611T190000Z", "DTSTAMP:19970615T000000Z\r\nX-MOZ-LASTACK:19970615T000000Z"),
        (
            "END:VEVENT",
            "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:x\r\nEND:VALARM\r\nEND:VEVENT",
        ),
    )
    assert changes(old, new) == ()


def test_attendee_declining_one_instance_replies_with_recurrence_id() -> None:
    old = recurring_copy_of_b()
    declined = (
        "BEGIN:VEVENT\r\nUID:weekly-review-4.3.1@example.com\r\nDTSTAMP:20260107T090000Z\r\n"
        "RECURRENCE-ID;TZID=America/New_York:20260120T110000\r\n"
        "DTSTART;TZID=America/New_York:20260120T110000\r\nDTEND;TZID=America/New_York:20260120T120000\r\n"
        "SEQUENCE:0\r\nSUMMARY:Weekly design review\r\nLOCATION:Room 3\r\n"
        "ORGANIZER;CN=A:mailto:a@example.com\r\n"
        "ATTENDEE;ROLE=CHAIR;PARTSTAT=ACCEPTED;CN=A:mailto:a@example.com\r\n"
        "ATTENDEE;PARTSTAT=DECLINED;CN=B:mailto:b@example.com\r\n"
        "ATTENDEE;RSVP=TRUE;CN=C:mailto:c@example.com\r\nEND:VEVENT\r\n"
    )
    new = old.replace("END:VCALENDAR", declined + "END:VCALENDAR")
    (reply,) = changes(old, new)
    assert reply.recurrence_ids == (INSTANCE,)
    assert recurrence_ids(reply.text) == [INSTANCE]
    (event,) = components(reply.text)
    assert partstat(event, B) == "DECLINED" and attendees(event) == [B]
    assert "VTIMEZONE" in reply.text


def test_attendee_excluding_an_instance_declines_it() -> None:
    old = recurring_copy_of_b()
    new = edit(
        old,
        ("RRULE:FREQ=WEEKLY", "EXDATE;TZID=America/New_York:20260120T110000\r\nRRULE:FREQ=WEEKLY"),
    )
    (reply,) = changes(old, new)
    assert reply.recurrence_ids == (INSTANCE,)
    (event,) = components(reply.text)
    assert partstat(event, B) == "DECLINED"
    assert "RRULE" not in event and "EXDATE" not in event


def test_accepting_the_series_and_declining_an_instance_is_one_reply() -> None:
    old = recurring_copy_of_b()
    new = edit(
        accept(old),
        ("RRULE:FREQ=WEEKLY", "EXDATE;TZID=America/New_York:20260120T110000\r\nRRULE:FREQ=WEEKLY"),
    )
    (reply,) = changes(old, new)
    assert reply.recurrence_ids == ()
    assert recurrence_ids(reply.text) == [INSTANCE]
    assert [partstat(e, B) for e in components(reply.text)] == ["ACCEPTED", "DECLINED"]


def test_attendee_deleting_their_copy_declines() -> None:
    (reply,) = changes(accept(copy_of_b()), None)
    assert reply.method == "REPLY" and reply.recipient == A
    (event,) = components(reply.text)
    assert partstat(event, B) == "DECLINED"
    assert reply.recurrence_ids == ()


def test_deleting_a_cancelled_copy_sends_nothing() -> None:
    cancelled = copy_of_b().replace("STATUS:CONFIRMED", "STATUS:CANCELLED")
    assert changes(cancelled, None) == ()


def test_imported_copy_sends_nothing() -> None:
    assert changes(None, accept(copy_of_b())) == ()


def test_organizer_schedule_agent_client_means_no_reply() -> None:
    name = "thunderbird-invitation-organizer-client-scheduled-attendee-copy.ics"
    old = fixture(name)
    new = edit(old, ("RSVP=TRUE;PARTSTAT=NEEDS-ACTION", "RSVP=TRUE;PARTSTAT=ACCEPTED"))
    assert attendee_changes(old, new, "mailto:bob@example.com", now=NOW) == ()
    assert attendee_changes(old, None, "mailto:bob@example.com", now=NOW) == ()


def test_schedule_force_send_reply_forces_a_reply() -> None:
    old = accept(copy_of_b())
    new = edit(old, ("ORGANIZER;CN=A:", "ORGANIZER;CN=A;SCHEDULE-FORCE-SEND=REPLY:"))
    (reply,) = changes(old, new)
    (event,) = components(reply.text)
    assert partstat(event, B) == "ACCEPTED"
    assert "SCHEDULE-FORCE-SEND" not in reply.text


def test_attendee_changing_the_time_is_refused() -> None:
    old = copy_of_b()
    new = edit(accept(old), ("DTSTART:19970701T210000Z", "DTSTART:19970701T220000Z"))
    with pytest.raises(SchedulingError) as refused:
        changes(old, new)
    assert refused.value.precondition == "CALDAV:allowed-attendee-scheduling-object-change"


def test_attendee_renaming_the_meeting_is_refused() -> None:
    old = copy_of_b()
    with pytest.raises(SchedulingError) as refused:
        changes(old, edit(old, ("SUMMARY:Quarterly planning", "SUMMARY:Skip")))
    assert refused.value.precondition == "CALDAV:allowed-attendee-scheduling-object-change"


def test_attendee_answering_for_someone_else_is_refused() -> None:
    old = copy_of_b()
    with pytest.raises(SchedulingError):
        changes(old, accept(old, who=C))


def test_attendee_moving_one_instance_is_refused() -> None:
    old = recurring_copy_of_b()
    moved = (
        "BEGIN:VEVENT\r\nUID:weekly-review-4.3.1@example.com\r\n"
        "RECURRENCE-ID;TZID=America/New_York:20260120T110000\r\n"
        "DTSTART;TZID=America/New_York:20260120T140000\r\nDTEND;TZID=America/New_York:20260120T150000\r\n"
        "SUMMARY:Weekly design review\r\nLOCATION:Room 3\r\nORGANIZER;CN=A:mailto:a@example.com\r\n"
        "ATTENDEE;PARTSTAT=ACCEPTED;CN=B:mailto:b@example.com\r\nEND:VEVENT\r\n"
    )
    with pytest.raises(SchedulingError):
        changes(old, old.replace("END:VCALENDAR", moved + "END:VCALENDAR"))


def test_attendee_changing_the_organizer_is_refused() -> None:
    old = copy_of_b()
    with pytest.raises(SchedulingError) as refused:
        changes(
            old,
            old.replace("ORGANIZER;CN=A:mailto:a@example.com", "ORGANIZER:mailto:b@example.com"),
        )
    assert refused.value.precondition == "CALDAV:allowed-attendee-scheduling-object-change"


def test_client_rewrites_of_an_accepted_copy_are_allowed() -> None:
    old = copy_of_b()
    new = edit(
        accept(old),
        ("DTSTART:19970701T210000Z", "DTSTART;TZID=Europe/Berlin:19970701T230000"),
        ("DTEND:19970701T230000Z", "DURATION:PT2H"),
        (
            "STATUS:CONFIRMED",
            "STATUS:CONFIRMED\r\nTRANSP:TRANSPARENT\r\nCATEGORIES:Work\r\nX-APPLE-NOTE:mine",
        ),
    )
    (reply,) = changes(old, new)
    assert partstat(components(reply.text)[0], B) == "ACCEPTED"


def test_components_naming_different_organizers_are_refused() -> None:
    old = recurring_copy_of_b()
    rogue = (
        "BEGIN:VEVENT\r\nUID:weekly-review-4.3.1@example.com\r\n"
        "RECURRENCE-ID;TZID=America/New_York:20260120T110000\r\n"
        "DTSTART;TZID=America/New_York:20260120T110000\r\nDTEND;TZID=America/New_York:20260120T120000\r\n"
        "SUMMARY:Weekly design review\r\nORGANIZER:mailto:z@example.com\r\n"
        "ATTENDEE;PARTSTAT=DECLINED:mailto:b@example.com\r\nEND:VEVENT\r\n"
    )
    with pytest.raises(SchedulingError) as refused:
        changes(old, old.replace("END:VCALENDAR", rogue + "END:VCALENDAR"))
    assert refused.value.precondition == "CALDAV:same-organizer-in-all-components"


def test_unknown_organizer_copy_answers_without_policing() -> None:
    old = copy_of_b()
    new = edit(accept(old), ("SUMMARY:Quarterly planning", "SUMMARY:My own title"))
    (reply,) = changes(old, new, organizer_copy_known=False)
    assert partstat(components(reply.text)[0], B) == "ACCEPTED"


def test_task_assignee_completing_replies_completed() -> None:
    request = fixture("todo-assigned-task-organizer-copy.ics").replace(
        "VERSION:2.0", "VERSION:2.0\r\nMETHOD:REQUEST"
    )
    old = apply_request(None, request, "mailto:bob@example.com")
    new = answered(old, "mailto:bob@example.com", "COMPLETED")
    (reply,) = attendee_changes(old, new, "mailto:bob@example.com", now=NOW)
    (task,) = components(reply.text)
    assert task.name == "VTODO"
    assert partstat(task, "mailto:bob@example.com") == "COMPLETED"


def test_declining_override_written_without_organizer_is_accepted() -> None:
    old = recurring_copy_of_b()
    declined = (
        "BEGIN:VEVENT\r\nUID:weekly-review-4.3.1@example.com\r\n"
        "RECURRENCE-ID;TZID=America/New_York:20260120T110000\r\n"
        "DTSTART;TZID=America/New_York:20260120T110000\r\nDTEND;TZID=America/New_York:20260120T120000\r\n"
        "SUMMARY:Weekly design review\r\nLOCATION:Room 3\r\n"
        "ATTENDEE;PARTSTAT=DECLINED:mailto:b@example.com\r\nEND:VEVENT\r\n"
    )
    (reply,) = changes(old, old.replace("END:VCALENDAR", declined + "END:VCALENDAR"))
    (event,) = components(reply.text)
    assert str(event["ORGANIZER"]) == A
    assert reply.recurrence_ids == (INSTANCE,)
