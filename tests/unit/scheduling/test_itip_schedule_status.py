"""Delivery results written back on the sender's copy (RFC 6638 §7.3)."""

from __future__ import annotations

from itip_support import attendee, components, fixture, param

from kalend.scheduling.itip import set_schedule_status, without_force_send

APPLE = "apple-weekly-standup-moved-instance-organizer-copy.ics"
BOB, CAROL = "mailto:bob@example.com", "mailto:carol@example.com"


def test_schedule_status_is_set_on_each_listed_attendee_in_every_component() -> None:
    text = set_schedule_status(fixture(APPLE), {"MAILTO:Bob@Example.com": "1.2", CAROL: "5.1"})
    for component in components(text):
        assert param(attendee(component, BOB), "SCHEDULE-STATUS") == "1.2"
        assert param(attendee(component, CAROL), "SCHEDULE-STATUS") == "5.1"
        assert param(attendee(component, "mailto:alice@example.com"), "SCHEDULE-STATUS") is None


def test_unlisted_attendees_keep_their_status() -> None:
    text = set_schedule_status(fixture(APPLE), {CAROL: "1.1"})
    assert param(attendee(components(text)[0], BOB), "SCHEDULE-STATUS") == "2.0"


def test_reply_delivery_is_recorded_on_the_organizer_line_of_an_attendee_copy() -> None:
    name = "thunderbird-invitation-organizer-client-scheduled-attendee-copy.ics"
    text = set_schedule_status(fixture(name), {}, organizer_status="1.2")
    assert param(components(text)[0]["ORGANIZER"], "SCHEDULE-STATUS") == "1.2"


def test_nothing_to_record_returns_the_text_as_written() -> None:
    text = set_schedule_status(fixture(APPLE), {CAROL: "1.2"})
    assert set_schedule_status(text, {BOB: "2.0", CAROL: "1.2"}) is text


def test_force_send_is_not_stored_in_an_attendee_copy() -> None:
    name = "thunderbird-invitation-organizer-client-scheduled-attendee-copy.ics"
    text = fixture(name).replace(
        "ORGANIZER;CN=Dave;", "ORGANIZER;CN=Dave;SCHEDULE-FORCE-SEND=REPLY;"
    )
    stored = without_force_send(text)
    assert "SCHEDULE-FORCE-SEND" not in stored
    assert param(components(stored)[0]["ORGANIZER"], "SCHEDULE-AGENT") == "CLIENT"
