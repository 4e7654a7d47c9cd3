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

from kalend.scheduling.incoming_reply import file_reply
from kalend.scheduling.itip import SchedulingError, apply_reply, organizer_changes

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


# -- which answer wins (RFC 5546 §2.1.5) ----------------------------------------------


def answer(partstat_value: str, stamp: str, sequence_value: int = 0) -> str:
    """B's REPLY (§4.2.2) with another PARTSTAT, DTSTAMP and SEQUENCE."""
    return edit(fixture(ACCEPTED), ("PARTSTAT=ACCEPTED", f"PARTSTAT={partstat_value}"),
                ("DTSTAMP:19970612T083000Z", f"DTSTAMP:{stamp}"),
                ("SEQUENCE:0", f"SEQUENCE:{sequence_value}"))


def instance_answer(partstat_value: str, stamp: str) -> str:
    """B's answer for the instance of §4.3.2, with another PARTSTAT and DTSTAMP."""
    return edit(fixture(DECLINED_INSTANCE), ("PARTSTAT=DECLINED", f"PARTSTAT={partstat_value}"),
                ("DTSTAMP:20260107T090000Z", f"DTSTAMP:{stamp}"))


def test_reply_records_which_answer_the_line_holds() -> None:
    text, _ = apply_reply(fixture(GROUP), answer("ACCEPTED", "20261117T120000Z", 0))
    line = attendee(master(text), B)
    assert param(line, "X-KALEND-REPLY-SEQUENCE") == "0"
    assert param(line, "X-KALEND-REPLY-DTSTAMP") == "20261117T120000Z"


def test_reply_older_than_the_answer_held_is_passed_over() -> None:
    newer, _ = apply_reply(fixture(GROUP), answer("ACCEPTED", "20261117T120000Z"))
    filed = file_reply(newer, answer("DECLINED", "20261117T090000Z"))
    assert not filed.changed and filed.passed_over == ("",)
    assert filed.text == newer
    assert partstat(master(filed.text), B) == "ACCEPTED"


def test_reply_newer_than_the_answer_held_is_taken() -> None:
    older, _ = apply_reply(fixture(GROUP), answer("DECLINED", "20261117T090000Z"))
    filed = file_reply(older, answer("ACCEPTED", "20261117T120000Z"))
    assert filed.changed and filed.taken == ("",)
    assert partstat(master(filed.text), B) == "ACCEPTED"
    assert param(attendee(master(filed.text), B), "X-KALEND-REPLY-DTSTAMP") == "20261117T120000Z"


def test_reply_to_a_newer_sequence_wins_over_a_later_stamp_of_an_older_one() -> None:
    # SEQUENCE comes first: the attendee's clock may be behind the last answer's.
    copy = edit(fixture(GROUP), ("SEQUENCE:0", "SEQUENCE:1"))
    copy = edit(apply_reply(copy, answer("DECLINED", "20261117T120000Z", 1))[0],
                ("SEQUENCE:1", "SEQUENCE:2"))
    filed = file_reply(copy, answer("ACCEPTED", "20261117T110000Z", 2))
    assert filed.changed
    assert partstat(master(filed.text), B) == "ACCEPTED"
    assert param(attendee(master(filed.text), B), "X-KALEND-REPLY-SEQUENCE") == "2"


def test_answers_for_the_series_and_for_one_instance_are_ordered_apart() -> None:
    # The series answer is newer than the instance answer, which arrives last:
    # in the order they were sent the instance would still have been declined.
    series, _ = apply_reply(fixture(RECURRING), edit(
        fixture(ACCEPTED), ("group-meeting-4.2.1@example.com", "weekly-review-4.3.1@example.com"),
        ("DTSTAMP:19970612T083000Z", "DTSTAMP:20260108T090000Z")))
    filed = file_reply(series, instance_answer("DECLINED", "20260107T090000Z"))
    assert filed.taken == (INSTANCE,)
    assert partstat(override(filed.text, INSTANCE), B) == "DECLINED"
    assert partstat(master(filed.text), B) == "ACCEPTED"


def test_older_reply_for_one_instance_is_passed_over() -> None:
    newer, _ = apply_reply(fixture(RECURRING), instance_answer("DECLINED", "20260107T090000Z"))
    filed = file_reply(newer, instance_answer("ACCEPTED", "20260106T090000Z"))
    assert not filed.changed and filed.passed_over == (INSTANCE,)
    assert partstat(override(filed.text, INSTANCE), B) == "DECLINED"


def test_out_of_date_reply_for_an_instance_adds_no_override() -> None:
    copy = edit(fixture(RECURRING), ("SEQUENCE:0", "SEQUENCE:2"))
    filed = file_reply(copy, fixture(DECLINED_INSTANCE))
    assert not filed.changed and filed.passed_over == (INSTANCE,)
    assert recurrence_ids(filed.text) == []


def test_the_record_of_answers_never_leaves_the_server() -> None:
    # RFC 6638 §7.3 for SCHEDULE-STATUS; the X-KALEND-REPLY-* record likewise.
    replied, _ = apply_reply(fixture(GROUP), answer("ACCEPTED", "20261117T120000Z"))
    assert param(attendee(master(replied), B), "X-KALEND-REPLY-DTSTAMP") == "20261117T120000Z"
    moved = edit(replied, ("LOCATION:", "LOCATION:Room 4 "))
    plan = organizer_changes(replied, moved, "mailto:a@example.com")
    assert plan.messages
    for message in plan.messages:
        assert "X-KALEND-REPLY" not in message.text.replace("\r\n ", "")  # unfolded


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
