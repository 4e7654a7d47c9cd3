"""Which part a principal plays in an object decides which rules apply to its writes."""

from __future__ import annotations

from itip_support import edit, fixture

from kalend.scheduling.itip import role

GROUP = "rfc5546-4.2.1-group-meeting-organizer-copy.ics"
APPLE = "apple-weekly-standup-moved-instance-organizer-copy.ics"


def test_published_event_without_attendees_is_not_scheduling() -> None:
    # RFC 5546 §4.1.1: a PUBLISH has an organizer but nobody to schedule.
    assert role(fixture("rfc5546-4.1.1-published-event.ics"), ["mailto:a@example.com"]) is None


def test_organizer_is_recognised_by_any_of_their_addresses() -> None:
    addresses = ["urn:uuid:alice", "MAILTO:A@Example.com"]
    assert role(fixture(GROUP), addresses) == ("organizer", "mailto:a@example.com")


def test_attendee_is_recognised_case_insensitively() -> None:
    assert role(fixture(GROUP), ["mailto:C@EXAMPLE.COM"]) == ("attendee", "mailto:c@example.com")


def test_organizer_listed_as_attendee_is_the_organizer() -> None:
    assert role(fixture(APPLE), ["mailto:alice@example.com"]) == (
        "organizer",
        "mailto:alice@example.com",
    )


def test_attendee_of_one_instance_only_is_an_attendee() -> None:
    text = edit(
        fixture(APPLE),
        (
            "SEQUENCE:1\r\n",
            "SEQUENCE:1\r\nATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:dave@example.com\r\n",
        ),
    )
    assert role(text, ["mailto:dave@example.com"]) == ("attendee", "mailto:dave@example.com")


def test_object_with_only_the_organizer_as_attendee_is_not_scheduling() -> None:
    text = fixture("rfc5546-4.1.1-published-event.ics").replace(
        "ORGANIZER:mailto:a@example.com",
        "ORGANIZER:mailto:a@example.com\r\nATTENDEE:mailto:A@example.com",
    )
    assert role(text, ["mailto:a@example.com"]) is None


def test_object_without_organizer_is_not_scheduling() -> None:
    text = fixture(GROUP).replace("ORGANIZER;CN=A:mailto:a@example.com\r\n", "")
    assert role(text, ["mailto:a@example.com", "mailto:b@example.com"]) is None


def test_stranger_has_no_role() -> None:
    assert role(fixture(GROUP), ["mailto:eve@example.com"]) is None


def test_text_that_is_not_a_calendar_object_has_no_role() -> None:
    assert role("hello", ["mailto:a@example.com"]) is None
