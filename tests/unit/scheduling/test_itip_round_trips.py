"""Whole conversations between an organizer and attendees, as the server would run them.

Each step feeds the previous step's output to the next function, the way
the server wires them: the organizer's write, delivery into each attendee's
copy, the attendee's answer, the answer filed into the organizer's copy.
"""

from __future__ import annotations

from itip_support import (
    NOW,
    answered,
    components,
    edit,
    fixture,
    master,
    only,
    override,
    partstat,
    recurrence_ids,
    sequence,
    status,
)

from kalend.scheduling.itip import (
    apply_cancel,
    apply_reply,
    apply_request,
    attendee_changes,
    organizer_changes,
    scheduling_significant,
)

A, B, C = "mailto:a@example.com", "mailto:b@example.com", "mailto:c@example.com"
GROUP = "rfc5546-4.2.1-group-meeting-organizer-copy.ics"
RECURRING = "rfc5546-4.3.1-recurring-meeting-organizer-copy.ics"
APPLE = "apple-weekly-standup-moved-instance-organizer-copy.ics"


def invite(organizer_copy: str, recipient: str, organizer: str = A) -> str:
    """The recipient's copy after the organizer created ``organizer_copy``."""
    message = only(organizer_changes(None, organizer_copy, organizer, now=NOW).messages, recipient)
    return apply_request(None, message.text, recipient)


def test_group_meeting_accepted_then_rescheduled() -> None:
    organizer_copy = fixture(GROUP)
    copy_of_b = invite(organizer_copy, B)

    accepted = answered(copy_of_b, B, "ACCEPTED")
    (reply,) = attendee_changes(copy_of_b, accepted, B, now=NOW)
    organizer_copy, replier = apply_reply(organizer_copy, reply.text)
    assert replier == B and partstat(master(organizer_copy), B) == "ACCEPTED"
    # Filing an answer is no change to the meeting: B's Schedule-Tag stays.
    assert not scheduling_significant(copy_of_b, accepted)

    # The organizer's client writes the copy back unchanged: nothing to send.
    assert organizer_changes(organizer_copy, organizer_copy, A, now=NOW).messages == ()

    moved = edit(
        organizer_copy,
        ("DTSTART:19970701T210000Z", "DTSTART:19970703T210000Z"),
        ("DTEND:19970701T230000Z", "DTEND:19970703T230000Z"),
    )
    plan = organizer_changes(organizer_copy, moved, A, now=NOW)
    assert partstat(master(plan.text), B) == "NEEDS-ACTION"
    copy_of_b = apply_request(accepted, only(plan.messages, B).text, B)
    assert partstat(master(copy_of_b), B) == "NEEDS-ACTION"
    assert sequence(master(copy_of_b)) == 1
    assert master(copy_of_b)["DTSTART"].dt.day == 3


def test_declining_one_instance_reaches_the_organizer_and_comes_back() -> None:
    organizer_copy = fixture(RECURRING)
    copy_of_b = invite(organizer_copy, B)

    skipped = edit(
        copy_of_b,
        ("RRULE:FREQ=WEEKLY", "EXDATE;TZID=America/New_York:20260120T110000\r\nRRULE:FREQ=WEEKLY"),
    )
    (reply,) = attendee_changes(copy_of_b, skipped, B, now=NOW)
    organizer_copy, _ = apply_reply(organizer_copy, reply.text)
    assert partstat(override(organizer_copy, "20260120T160000Z"), B) == "DECLINED"
    assert partstat(master(organizer_copy), B) == "NEEDS-ACTION"

    # Filing the answer created an override but changed nothing for anyone else.
    renamed = edit(organizer_copy, ("Weekly design review", "Weekly design review (v2)"))
    plan = organizer_changes(organizer_copy, renamed, A, now=NOW)
    copy_of_b = apply_request(skipped, only(plan.messages, B).text, B)
    assert partstat(override(copy_of_b, "20260120T160000Z"), B) == "DECLINED"
    assert str(master(copy_of_b)["SUMMARY"]) == "Weekly design review (v2)"


def test_cancelled_instance_is_marked_in_the_attendees_copy() -> None:
    organizer_copy = fixture(RECURRING)
    copy_of_c = invite(organizer_copy, C)
    without = edit(
        organizer_copy,
        ("RRULE:FREQ=WEEKLY", "EXDATE;TZID=America/New_York:20260127T110000\r\nRRULE:FREQ=WEEKLY"),
    )
    cancel = only(organizer_changes(organizer_copy, without, A, now=NOW).messages, C)
    copy_of_c = apply_cancel(copy_of_c, cancel.text)
    assert status(override(copy_of_c, "20260127T160000Z")) == "CANCELLED"
    assert status(master(copy_of_c)) == ""


def test_uninvited_attendee_sees_the_meeting_called_off() -> None:
    organizer_copy = fixture(GROUP)
    copy_of_c = invite(organizer_copy, C)
    lines = [
        line for line in organizer_copy.split("\r\n") if not line.endswith(":mailto:c@example.com")
    ]
    plan = organizer_changes(organizer_copy, "\r\n".join(lines), A, now=NOW)
    copy_of_c = apply_cancel(copy_of_c, only(plan.messages, C).text)
    assert status(master(copy_of_c)) == "CANCELLED"


def test_deleted_meeting_then_deleted_copy_sends_no_reply() -> None:
    organizer_copy = fixture(GROUP)
    copy_of_b = invite(organizer_copy, B)
    cancel = only(organizer_changes(organizer_copy, None, A, now=NOW).messages, B)
    copy_of_b = apply_cancel(copy_of_b, cancel.text)
    assert [status(c) for c in components(copy_of_b)] == ["CANCELLED"]
    assert attendee_changes(copy_of_b, None, B, now=NOW) == ()


def test_attendee_of_one_instance_answers_for_that_instance() -> None:
    dave = "mailto:dave@example.com"
    organizer_copy = edit(
        fixture(APPLE),
        ("SEQUENCE:1\r\n", "SEQUENCE:1\r\nATTENDEE;CN=Dave:mailto:dave@example.com\r\n"),
    )
    copy_of_dave = invite(organizer_copy, dave, "mailto:alice@example.com")
    assert recurrence_ids(copy_of_dave) == ["20261116T083000Z"]
    (reply,) = attendee_changes(
        copy_of_dave, answered(copy_of_dave, dave, "ACCEPTED"), dave, now=NOW
    )
    assert reply.recurrence_ids == ("20261116T083000Z",)
    organizer_copy, _ = apply_reply(organizer_copy, reply.text)
    assert partstat(override(organizer_copy, "20261116T083000Z"), dave) == "ACCEPTED"
