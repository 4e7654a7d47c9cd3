"""An organizer's writes: who is invited, updated or cancelled, and what the
organizer's copy becomes."""

from __future__ import annotations

import pytest
from itip_support import (
    NOW,
    assert_wire_form,
    attendee,
    attendees,
    by_recipient,
    calendar,
    components,
    edit,
    fixture,
    master,
    method,
    only,
    override,
    param,
    partstat,
    recurrence_ids,
    sequence,
    status,
    without_line,
)

from kalend.scheduling.itip import (
    SchedulingError,
    organizer_changes,
)

GROUP = "rfc5546-4.2.1-group-meeting-organizer-copy.ics"
RECURRING = "rfc5546-4.3.1-recurring-meeting-organizer-copy.ics"
APPLE = "apple-weekly-standup-moved-instance-organizer-copy.ics"
THUNDERBIRD = "thunderbird-budget-review-attendee-client-scheduled-organizer-copy.ics"
A, B, C, D, ROOM = (f"mailto:{x}@example.com" for x in ("a", "b", "c", "d", "big-room"))
ALICE, BOB, CAROL, DAVE = (f"mailto:{x}@example.com" for x in ("alice", "bob", "carol", "dave"))
APPLE_MOVED = "20261116T083000Z"


def plan_for(old: str | None, new: str | None, organizer: str = A, **options):
    return organizer_changes(old, new, organizer, now=NOW, **options)


# --- a new meeting -----------------------------------------------------------------


def test_new_meeting_sends_request_to_each_attendee() -> None:
    plan = plan_for(None, fixture(GROUP))
    assert [m.recipient for m in plan.messages] == [B, C, D, ROOM]
    for message in plan.messages:
        assert (message.method, message.sender, message.uid) == (
            "REQUEST",
            A,
            "group-meeting-4.2.1@example.com",
        )
        assert message.recurrence_ids == () and message.significant
        assert method(message.text) == "REQUEST"
        assert_wire_form(message.text)
        (event,) = components(message.text)
        assert attendees(event) == [A, B, C, D, ROOM]
        assert str(event["ORGANIZER"]) == A
        assert event["DTSTAMP"].dt == NOW


def test_new_meeting_keeps_the_organizers_text_and_moves_the_schedule_tag() -> None:
    text = fixture(GROUP)
    plan = plan_for(None, text)
    assert plan.text == text
    assert plan.significant


def test_organizer_listed_as_attendee_gets_no_message() -> None:
    plan = plan_for(None, fixture(APPLE), ALICE)
    assert sorted(m.recipient for m in plan.messages) == [BOB, CAROL]


def test_attendee_of_the_series_gets_the_master_and_its_overrides() -> None:
    message = only(plan_for(None, fixture(APPLE), ALICE).messages, BOB)
    assert message.recurrence_ids == ()
    assert recurrence_ids(message.text) == [APPLE_MOVED]
    assert "RRULE" in master(message.text)


def test_request_carries_the_vtimezones_it_uses() -> None:
    message = only(plan_for(None, fixture(APPLE), ALICE).messages, CAROL)
    timezones = calendar(message.text).walk("VTIMEZONE")
    assert [str(tz["TZID"]) for tz in timezones] == ["Europe/Berlin"]


def test_schedule_status_is_never_sent() -> None:
    assert "SCHEDULE-STATUS" in fixture(APPLE)
    for message in plan_for(None, fixture(APPLE), ALICE).messages:
        assert "SCHEDULE-STATUS" not in message.text


def test_request_leaves_the_organizers_alarms_at_home() -> None:
    for message in plan_for(None, fixture(APPLE), ALICE).messages:
        assert "VALARM" not in message.text
    message = only(plan_for(None, fixture(THUNDERBIRD), ALICE).messages, BOB)
    assert "VALARM" not in message.text and "X-MOZ-GENERATION" not in message.text


def test_schedule_agent_client_attendee_gets_nothing() -> None:
    plan = plan_for(None, fixture(THUNDERBIRD), ALICE)
    assert [m.recipient for m in plan.messages] == [BOB]
    assert "SCHEDULE-AGENT" not in plan.messages[0].text
    # The other attendee is still listed, so Bob sees who else is invited.
    assert "mailto:dave@elsewhere.example" in attendees(components(plan.messages[0].text)[0])


def test_schedule_agent_none_attendee_gets_nothing() -> None:
    text = edit(fixture(GROUP), ("CN=C:mailto:c", "CN=C;SCHEDULE-AGENT=NONE:mailto:c"))
    assert C not in by_recipient(plan_for(None, text).messages)


def test_attendee_of_some_instances_only_gets_only_those_instances() -> None:
    text = edit(
        fixture(APPLE),
        ("SEQUENCE:1\r\n", "SEQUENCE:1\r\nATTENDEE;CN=Dave:mailto:dave@example.com\r\n"),
    )
    message = only(plan_for(None, text, ALICE).messages, DAVE)
    assert message.recurrence_ids == (APPLE_MOVED,)
    assert recurrence_ids(message.text) == [APPLE_MOVED]
    assert len(components(message.text)) == 1


def test_attendee_missing_from_an_override_gets_the_series_without_that_instance() -> None:
    text = fixture(APPLE)
    # Carol's line in the override (the second one in the file) is removed.
    first = text.index("ATTENDEE;CN=Carol")
    second = text.index("ATTENDEE;CN=Carol", first + 1)
    end = text.index("\r\n", second) + 2
    text = text[:second] + text[end:]
    message = only(plan_for(None, text, ALICE).messages, CAROL)
    assert recurrence_ids(message.text) == []
    exdates = [v.dt for e in [master(message.text)["EXDATE"]] for v in e.dts]
    assert [d.isoformat() for d in exdates] == ["2026-11-16T09:30:00+01:00"]


def test_assigned_task_sends_request_to_the_assignee() -> None:
    plan = plan_for(None, fixture("todo-assigned-task-organizer-copy.ics"), ALICE)
    message = only(plan.messages, BOB)
    assert message.method == "REQUEST"
    assert components(message.text)[0].name == "VTODO"


# --- updates ---------------------------------------------------------------------------


def test_removed_attendee_gets_cancel() -> None:
    old = fixture(GROUP)
    new = without_line(old, "ATTENDEE;RSVP=TRUE;CUTYPE=INDIVIDUAL;CN=C:mailto:c@example.com")
    plan = plan_for(old, new)
    cancel = only(plan.messages, C)
    assert cancel.method == "CANCEL" and method(cancel.text) == "CANCEL"
    assert cancel.recurrence_ids == ()
    (event,) = components(cancel.text)
    assert attendees(event) == [C]
    assert status(event) == "CANCELLED"
    assert sequence(event) == 0


def test_remaining_attendees_see_the_new_attendee_list() -> None:
    old = fixture(GROUP)
    new = without_line(old, "ATTENDEE;RSVP=TRUE;CUTYPE=INDIVIDUAL;CN=C:mailto:c@example.com")
    request = only(plan_for(old, new).messages, B)
    assert request.method == "REQUEST"
    assert C not in attendees(components(request.text)[0])


def test_new_attendee_gets_request() -> None:
    old = fixture(GROUP)
    new = edit(
        old,
        ("ATTENDEE;RSVP=FALSE", "ATTENDEE;RSVP=TRUE:mailto:e@example.com\r\nATTENDEE;RSVP=FALSE"),
    )
    plan = plan_for(old, new)
    assert only(plan.messages, "mailto:e@example.com").method == "REQUEST"
    assert sequence(master(plan.text)) == 0


def test_description_change_is_not_a_reschedule() -> None:
    old = fixture(GROUP)
    accepted = edit(
        old, ("RSVP=TRUE;CUTYPE=INDIVIDUAL;CN=B", "PARTSTAT=ACCEPTED;CUTYPE=INDIVIDUAL;CN=B")
    )
    new = edit(accepted, ("SUMMARY:", "DESCRIPTION:Bring the Q2 figures.\r\nSUMMARY:"))
    plan = plan_for(accepted, new)
    assert sorted(m.recipient for m in plan.messages) == sorted([B, C, D, ROOM])
    assert all(m.method == "REQUEST" and m.significant for m in plan.messages)
    assert sequence(master(plan.text)) == 0
    assert partstat(master(plan.text), B) == "ACCEPTED"
    assert plan.text == new


def test_rescheduling_bumps_sequence_and_resets_partstat() -> None:
    # RFC 5546 §4.2.3: the organizer moves the meeting; the client forgot SEQUENCE.
    old = edit(
        fixture(GROUP),
        ("RSVP=TRUE;CUTYPE=INDIVIDUAL;CN=B", "PARTSTAT=ACCEPTED;CUTYPE=INDIVIDUAL;CN=B"),
    )
    plan = plan_for(old, fixture("rfc5546-4.2.3-rescheduled-organizer-copy.ics"))
    stored = master(plan.text)
    assert sequence(stored) == 1
    assert partstat(stored, B) == "NEEDS-ACTION" and param(attendee(stored, B), "RSVP") == "TRUE"
    assert partstat(stored, A) == "ACCEPTED"
    assert plan.significant
    for message in plan.messages:
        (event,) = components(message.text)
        assert sequence(event) == 1
        assert partstat(event, B) == "NEEDS-ACTION"
        assert event["DTSTART"].dt.isoformat() == "1997-07-03T21:00:00+00:00"


def test_sequence_raised_by_the_client_is_kept() -> None:
    old = fixture(GROUP)
    new = edit(
        old, ("DTSTART:19970701T210000Z", "DTSTART:19970701T200000Z"), ("SEQUENCE:0", "SEQUENCE:4")
    )
    plan = plan_for(old, new)
    assert sequence(master(plan.text)) == 4
    assert all(sequence(components(m.text)[0]) == 4 for m in plan.messages)


def test_location_change_is_a_reschedule() -> None:
    old = fixture(GROUP)
    new = edit(old, ("LOCATION:Big conference room", "LOCATION:Cafeteria"))
    assert sequence(master(plan_for(old, new).text)) == 1


def test_answers_alarms_and_stamps_alone_send_nothing() -> None:
    old = fixture(GROUP)
    new = edit(
        old,
        (
            "DTSTAMP:19970611T190000Z",
            "DTSTAMP:19970614T101010Z\r\nX-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC",
        ),
        (
            "END:VEVENT",
            "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nDESCRIPTION:x\r\nEND:VALARM\r\nEND:VEVENT",
        ),
    )
    plan = plan_for(old, new)
    assert plan.messages == ()
    assert not plan.significant


def test_server_written_schedule_status_does_not_move_the_schedule_tag() -> None:
    old = fixture(GROUP)
    new = edit(old, ("CN=B:mailto", "CN=B;SCHEDULE-STATUS=1.2:mailto"))
    assert not plan_for(old, new).significant


def test_schedule_force_send_request_sends_without_a_change() -> None:
    old = fixture(GROUP)
    new = edit(old, ("CN=C:mailto", "CN=C;SCHEDULE-FORCE-SEND=REQUEST:mailto"))
    plan = plan_for(old, new)
    message = only(plan.messages, C)
    assert message.method == "REQUEST" and not message.significant
    assert "SCHEDULE-FORCE-SEND" not in message.text
    assert "SCHEDULE-FORCE-SEND" not in plan.text
    assert [m.recipient for m in plan.messages] == [C]


def test_deleted_meeting_cancels_everyone() -> None:
    plan = plan_for(fixture(GROUP), None)
    assert plan.text is None
    assert [m.recipient for m in plan.messages] == [B, C, D, ROOM]
    for message in plan.messages:
        assert message.method == "CANCEL" and message.recurrence_ids == ()
        (event,) = components(message.text)
        assert status(event) == "CANCELLED"
        assert sequence(event) == 1
        assert attendees(event) == [A, B, C, D, ROOM]


def test_deleted_recurring_meeting_cancels_the_series_in_one_component() -> None:
    plan = plan_for(fixture(APPLE), None, ALICE)
    message = only(plan.messages, BOB)
    assert recurrence_ids(message.text) == []
    assert len(components(message.text)) == 1


def test_new_exdate_cancels_that_instance_only() -> None:
    old = fixture(RECURRING)
    new = edit(
        old,
        (
            "RRULE:FREQ=WEEKLY;COUNT=6",
            "RRULE:FREQ=WEEKLY;COUNT=6\r\nEXDATE;TZID=America/New_York:20260113T110000",
        ),
    )
    plan = plan_for(old, new)
    assert [m.recipient for m in plan.messages] == [B, C]
    for message in plan.messages:
        assert message.method == "CANCEL"
        assert message.recurrence_ids == ("20260113T160000Z",)
        assert recurrence_ids(message.text) == ["20260113T160000Z"]
        (event,) = components(message.text)
        assert status(event) == "CANCELLED" and "RRULE" not in event
        assert attendees(event) == [A, B, C]
    stored = master(plan.text)
    assert sequence(stored) == 1
    # The other instances did not move: nobody has to answer again.
    assert partstat(stored, A) == "ACCEPTED"


def test_moving_one_instance_sends_the_override_and_asks_again_for_it() -> None:
    old = edit(fixture(RECURRING), ("RSVP=TRUE;CN=B", "PARTSTAT=ACCEPTED;CN=B"))
    moved = (
        "BEGIN:VEVENT\r\nUID:weekly-review-4.3.1@example.com\r\nDTSTAMP:20260108T100000Z\r\n"
        "RECURRENCE-ID;TZID=America/New_York:20260120T110000\r\n"
        "DTSTART;TZID=America/New_York:20260121T150000\r\nDTEND;TZID=America/New_York:20260121T160000\r\n"
        "SEQUENCE:0\r\nSUMMARY:Weekly design review\r\nLOCATION:Room 3\r\n"
        "ORGANIZER;CN=A:mailto:a@example.com\r\n"
        "ATTENDEE;ROLE=CHAIR;PARTSTAT=ACCEPTED;CN=A:mailto:a@example.com\r\n"
        "ATTENDEE;PARTSTAT=ACCEPTED;CN=B:mailto:b@example.com\r\n"
        "ATTENDEE;RSVP=TRUE;CN=C:mailto:c@example.com\r\nEND:VEVENT\r\n"
    )
    new = old.replace("END:VCALENDAR", moved + "END:VCALENDAR")
    plan = plan_for(old, new)
    request = only(plan.messages, B)
    assert request.method == "REQUEST" and request.significant
    assert recurrence_ids(request.text) == ["20260120T160000Z"]
    assert partstat(override(plan.text, "20260120T160000Z"), B) == "NEEDS-ACTION"
    assert partstat(master(plan.text), B) == "ACCEPTED"
    assert sequence(override(plan.text, "20260120T160000Z")) == 1


def test_removing_an_attendee_from_one_instance_cancels_it_for_them() -> None:
    old = fixture(APPLE)
    second = old.index("ATTENDEE;CN=Carol", old.index("ATTENDEE;CN=Carol") + 1)
    new = old[:second] + old[old.index("\r\n", second) + 2 :]
    plan = plan_for(old, new, ALICE)
    cancel = only(plan.messages, CAROL)
    assert cancel.method == "CANCEL" and cancel.recurrence_ids == (APPLE_MOVED,)
    (event,) = components(cancel.text)
    assert attendees(event) == [CAROL]
    # Bob's instance lost an attendee: he hears about it.
    assert only(plan.messages, BOB).method == "REQUEST"


def test_removing_an_override_brings_the_instance_back_to_the_series_time() -> None:
    old = fixture(APPLE)
    start = old.index("BEGIN:VEVENT", old.index("END:VEVENT"))
    new = old[:start] + old[old.index("END:VEVENT", start) + len("END:VEVENT\r\n") :]
    plan = plan_for(old, new, ALICE)
    for recipient in (BOB, CAROL):
        message = only(plan.messages, recipient)
        assert message.method == "REQUEST"
        assert recurrence_ids(message.text) == []


# --- refusals ------------------------------------------------------------------------


def test_organizer_cannot_change_the_uid() -> None:
    old = fixture(GROUP)
    new = old.replace("group-meeting-4.2.1@example.com", "other@example.com")
    with pytest.raises(SchedulingError) as refused:
        plan_for(old, new)
    assert refused.value.precondition == "CALDAV:allowed-organizer-scheduling-object-change"


def test_organizer_cannot_hand_the_meeting_to_someone_else() -> None:
    old = fixture(GROUP)
    new = old.replace("ORGANIZER;CN=A:mailto:a@example.com", "ORGANIZER:mailto:z@example.com")
    with pytest.raises(SchedulingError) as refused:
        plan_for(old, new)
    assert refused.value.precondition == "CALDAV:allowed-organizer-scheduling-object-change"


def test_organizer_may_move_between_their_own_addresses() -> None:
    old = fixture(GROUP)
    new = old.replace("ORGANIZER;CN=A:mailto:a@example.com", "ORGANIZER:urn:uuid:principal-a")
    plan = plan_for(old, new, "urn:uuid:principal-a", organizer_addresses=[A])
    assert A not in by_recipient(plan.messages)


def test_components_naming_different_organizers_are_refused() -> None:
    text = fixture(APPLE)
    last = text.rindex(
        "ORGANIZER;CN=Alice Organizer;EMAIL=alice@example.com:mailto:alice@example.com"
    )
    text = text[:last] + "ORGANIZER:mailto:mallory@example.com" + text[text.index("\r\n", last) :]
    with pytest.raises(SchedulingError) as refused:
        plan_for(None, text, ALICE)
    assert refused.value.precondition == "CALDAV:same-organizer-in-all-components"


def test_attendees_without_an_organizer_are_refused() -> None:
    text = fixture(GROUP).replace("ORGANIZER;CN=A:mailto:a@example.com\r\n", "")
    with pytest.raises(SchedulingError) as refused:
        plan_for(fixture(GROUP), text)
    assert refused.value.precondition == "CALDAV:valid-organizer"


def test_attendee_handed_to_the_client_gets_no_cancel() -> None:
    old = fixture(GROUP)
    new = edit(old, ("CN=C:mailto", "CN=C;SCHEDULE-AGENT=CLIENT:mailto"))
    assert C not in by_recipient(plan_for(old, new).messages)


def test_attendee_handed_back_to_the_server_gets_a_request() -> None:
    old = edit(fixture(GROUP), ("CN=C:mailto", "CN=C;SCHEDULE-AGENT=CLIENT:mailto"))
    assert only(plan_for(old, fixture(GROUP)).messages, C).method == "REQUEST"


def test_attendees_of_the_same_view_share_one_message_text() -> None:
    plan = plan_for(None, fixture(GROUP))
    assert len({id(m.text) for m in plan.messages}) == 1


def test_all_day_instances_are_named_by_date() -> None:
    old = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//kalend tests//EN\r\nBEGIN:VEVENT\r\n"
        "UID:all-day-series@example.com\r\nDTSTAMP:20261001T000000Z\r\n"
        "DTSTART;VALUE=DATE:20261102\r\nDTEND;VALUE=DATE:20261103\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\n"
        "SUMMARY:Offsite day\r\nORGANIZER:mailto:a@example.com\r\nATTENDEE:mailto:b@example.com\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    new = old.replace("RRULE:", "EXDATE;VALUE=DATE:20261109\r\nRRULE:")
    (cancel,) = plan_for(old, new).messages
    assert cancel.method == "CANCEL" and cancel.recurrence_ids == ("20261109",)
    (instance,) = components(cancel.text)
    assert instance["RECURRENCE-ID"].dt.isoformat() == "2026-11-09"


def test_recurring_request_carries_the_rule_and_its_zone() -> None:
    # RFC 5546 §4.3.1: a recurring meeting in a named zone.
    message = only(plan_for(None, fixture(RECURRING)).messages, B)
    event = master(message.text)
    assert str(event["RRULE"].to_ical().decode()) == "FREQ=WEEKLY;COUNT=6"
    assert str(event["DTSTART"].params["TZID"]) == "America/New_York"
    assert [str(tz["TZID"]) for tz in calendar(message.text).walk("VTIMEZONE")] == [
        "America/New_York"
    ]
