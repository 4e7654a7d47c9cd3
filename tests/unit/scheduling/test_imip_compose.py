"""An iTIP message leaves as an e-mail every calendar program and mail client understands."""

from __future__ import annotations

import datetime as dt
import email
import re
from email.policy import SMTP
from email.utils import parsedate_to_datetime

import icalendar
import pytest
from imip_support import (
    ALICE,
    DAVE,
    crlf,
    decoded,
    parts_of_type,
    reparsed,
    structure,
)
from itip_support import edit, fixture

from kalend.scheduling.imip_compose import (
    ImipIdentity,
    compose,
    new_reply_token,
    reply_address,
    thread_id,
    token_from_address,
)
from kalend.scheduling.imip_receive import check_reply_sender, parse_message
from kalend.scheduling.imip_summary import describe_repeat

IDENTITY = ImipIdentity("calendar@kalend.test", "kalend.test", "kalend.example.org")
OWN_DOMAIN = ImipIdentity(None, None, "kalend.example.org")
TOKEN = "fedcba9876543210fedcba9876543210"
A, B = "mailto:a@example.com", "mailto:b@example.com"
NOW = dt.datetime(2026, 10, 25, 12, 0, tzinfo=dt.UTC)

GROUP_REQUEST = "rfc5546-4.2.1-group-request.ics"
CANCEL = "rfc5546-4.2.9-cancel-meeting.ics"
ACCEPTED = "rfc5546-4.2.2-reply-accepted.ics"
RECURRING_REQUEST = "rfc5546-4.3.1-recurring-request.ics"
CANCEL_INSTANCE = "rfc5546-4.2.10-cancel-one-instance.ics"
DECLINED_INSTANCE = "rfc5546-4.3.2-reply-declining-one-instance.ics"


def request(text: str | None = None, **kwargs) -> email.message.Message:
    """The group invitation from A to B, composed and parsed back as a receiver sees it."""
    message = compose(
        kwargs.pop("method", "REQUEST"),
        kwargs.pop("sender", A),
        kwargs.pop("recipient", B),
        text if text is not None else fixture(GROUP_REQUEST),
        kwargs.pop("identity", IDENTITY),
        kwargs.pop("reply_token", TOKEN),
        now=NOW,
        **kwargs,
    )
    return reparsed(message)


def plain_text(message: email.message.Message) -> str:
    return decoded(parts_of_type(message, "text/plain")[0]).decode("utf-8").replace("\r\n", "\n")


def html_text(message: email.message.Message) -> str:
    return decoded(parts_of_type(message, "text/html")[0]).decode("utf-8").replace("\r\n", "\n")


def subject(message: email.message.Message) -> str:
    # Python's parser keeps the space of a header folded right after its name.
    return str(message["Subject"]).strip()


def event(summary: str, *lines: str, method: str = "REQUEST", kind: str = "VEVENT") -> str:
    """A one-component iTIP message with the given extra lines."""
    body = "\n".join(lines)
    return crlf(
        "BEGIN:VCALENDAR\nPRODID:-//kalend tests//iMIP//EN\nVERSION:2.0\n"
        f"METHOD:{method}\nBEGIN:{kind}\nUID:composed@example.com\n"
        "DTSTAMP:20261101T080000Z\n"
        + (f"SUMMARY:{summary}\n" if summary else "")
        + "ORGANIZER;CN=A:mailto:a@example.com\n"
        "ATTENDEE;CN=B;PARTSTAT=NEEDS-ACTION:mailto:b@example.com\n"
        f"{body}\nEND:{kind}\nEND:VCALENDAR\n"
    )


# --- the MIME tree ---------------------------------------------------------------


def test_invitation_is_mixed_alternative_of_summaries_and_calendar_then_ics_attachment() -> None:
    message = request()
    assert structure(message) == [
        "multipart/mixed",
        "  multipart/alternative",
        "    text/plain",
        "    text/html",
        "    text/calendar",
        "  application/ics",
    ]
    attachment = parts_of_type(message, "application/ics")[0]
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_param("name") == "invite.ics"
    assert message["MIME-Version"] == "1.0"


@pytest.mark.parametrize(
    ("method", "name", "sender", "recipient"),
    [
        ("REQUEST", GROUP_REQUEST, A, B),
        ("CANCEL", CANCEL, A, B),
        ("REPLY", ACCEPTED, B, A),
    ],
)
def test_calendar_part_declares_the_itip_method_and_carries_the_text_unchanged(
    method: str, name: str, sender: str, recipient: str
) -> None:
    text = fixture(name)
    message = request(text, method=method, sender=sender, recipient=recipient)
    (calendar,) = parts_of_type(message, "text/calendar")
    # RFC 6047 §2.4: the method parameter equals the iCalendar's METHOD.
    assert calendar.get_param("method") == method
    assert calendar.get_content_charset() == "utf-8"
    assert decoded(calendar) == text.encode("utf-8")
    assert decoded(parts_of_type(message, "application/ics")[0]) == text.encode("utf-8")


def test_calendar_given_with_lf_line_ends_is_sent_with_crlf() -> None:
    text = fixture(GROUP_REQUEST).replace("\r\n", "\n")
    message = request(text)
    assert decoded(parts_of_type(message, "text/calendar")[0]) == crlf(text).encode("utf-8")


def test_calendar_travels_in_base64_and_the_summaries_in_quoted_printable() -> None:
    message = request()
    encodings = {
        p.get_content_type(): p["Content-Transfer-Encoding"]
        for p in message.walk()
        if not p.is_multipart()
    }
    assert encodings == {
        "text/plain": "quoted-printable",
        "text/html": "quoted-printable",
        "text/calendar": "base64",
        "application/ics": "base64",
    }


def test_smtp_bytes_have_crlf_lines_of_at_most_998_octets() -> None:
    long_description = "DESCRIPTION:" + "Very long agenda item with ünïcode. " * 120
    text = event("Long", "DTSTART:20261201T090000Z", long_description)
    raw = compose("REQUEST", A, B, text, IDENTITY, TOKEN, now=NOW).as_bytes(policy=SMTP)
    assert raw.endswith(b"\r\n")
    lines = raw.split(b"\r\n")
    assert all(b"\n" not in line and b"\r" not in line for line in lines)
    assert max(len(line) for line in lines) <= 998
    assert all(byte < 128 for byte in raw), "8-bit data would need SMTPUTF8/8BITMIME"


def test_composed_message_is_built_for_smtp_serialisation() -> None:
    message = compose("REQUEST", A, B, fixture(GROUP_REQUEST), IDENTITY, TOKEN, now=NOW)
    assert b"\r\n" in message.as_bytes()
    assert b"\n" not in message.as_bytes().replace(b"\r\n", b"")


# --- headers ------------------------------------------------------------------------


def test_from_is_the_server_named_after_the_organizer_and_reply_to_carries_the_token() -> None:
    message = request(sender_name="Alice Example")
    assert message["From"] == '"Alice Example (via kalend)" <calendar@kalend.test>'
    assert message["Reply-To"] == f"Alice Example <calendar+{TOKEN}@kalend.test>"
    assert message["To"] == "B <b@example.com>"


def test_without_a_sender_name_the_cn_in_the_message_names_the_organizer() -> None:
    message = request()
    assert message["From"] == '"A (via kalend)" <calendar@kalend.test>'


def test_non_ascii_and_quoted_names_are_encoded_in_address_headers() -> None:
    message = compose(
        "REQUEST", A, B, fixture(GROUP_REQUEST), IDENTITY, TOKEN, sender_name='Zoë "Z" Müller'
    )
    raw = message.as_bytes(policy=SMTP)
    assert all(byte < 128 for byte in raw)
    back = reparsed(message)
    assert back["From"].addresses[0].display_name == 'Zoë "Z" Müller (via kalend)'
    assert back["From"].addresses[0].addr_spec == "calendar@kalend.test"


def test_configured_sender_with_a_name_is_used_as_a_bare_address() -> None:
    identity = ImipIdentity("Kalend <calendar@kalend.test>", "kalend.test", "kalend.example.org")
    message = request(identity=identity)
    assert message["From"] == '"A (via kalend)" <calendar@kalend.test>'
    assert message["Reply-To"] == f"A <calendar+{TOKEN}@kalend.test>"


def test_without_reply_domain_replies_go_to_the_organizer() -> None:
    identity = ImipIdentity("calendar@kalend.test", None, "kalend.example.org")
    message = request(identity=identity)
    assert message["Reply-To"] == "A <a@example.com>"


def test_without_reply_token_replies_go_to_the_organizer() -> None:
    message = request(reply_token=None)
    assert message["Reply-To"] == "A <a@example.com>"


def test_without_server_sender_mail_comes_from_the_calendar_user() -> None:
    message = request(identity=OWN_DOMAIN)
    assert message["From"] == "A <a@example.com>"
    assert message["Reply-To"] is None


def test_without_server_sender_but_with_reply_domain_reply_to_is_the_imip_address() -> None:
    identity = ImipIdentity(None, "kalend.test", "kalend.example.org")
    message = request(identity=identity)
    assert message["From"] == "A <a@example.com>"
    assert message["Reply-To"] == f"A <imip+{TOKEN}@kalend.test>"


def test_reply_comes_from_the_attendee_and_goes_to_the_organizer() -> None:
    message = request(fixture(ACCEPTED), method="REPLY", sender=B, recipient=A, identity=OWN_DOMAIN)
    assert message["From"] == "B <b@example.com>"
    assert message["To"] == "a@example.com"


def test_every_message_has_its_own_message_id_and_all_of_one_event_share_references() -> None:
    first, second = request(), request(fixture(CANCEL), method="CANCEL")
    ids = [first["Message-ID"], second["Message-ID"]]
    assert ids[0] != ids[1]
    assert all(re.fullmatch(r"<[0-9a-f]{32}@kalend\.example\.org>", i) for i in ids)
    root = thread_id("group-meeting-4.2.1@example.com", "kalend.example.org")
    for message in (first, second):
        assert message["References"] == root
        assert message["In-Reply-To"] == root
    assert root not in ids
    assert thread_id("other@example.com", "kalend.example.org") != root


def test_date_is_the_time_given() -> None:
    assert parsedate_to_datetime(request()["Date"]) == NOW


# --- subjects ------------------------------------------------------------------------


def test_first_invitation_subject_names_title_and_time() -> None:
    assert (
        subject(request()) == "Invitation: Quarterly planning @ Tue 1 Jul 1997, 21:00-23:00 (UTC)"
    )


def test_invitation_with_raised_sequence_is_an_updated_invitation() -> None:
    text = edit(fixture(GROUP_REQUEST), ("SEQUENCE:0", "SEQUENCE:2"))
    assert subject(request(text)).startswith("Updated invitation: Quarterly planning @ ")


def test_cancel_subject_says_cancelled() -> None:
    message = request(fixture(CANCEL), method="CANCEL")
    assert subject(message) == "Cancelled: Quarterly planning @ Tue 1 Jul 1997, 21:00-23:00 (UTC)"
    assert "This event has been cancelled." in plain_text(message)
    assert "Attendees:" not in plain_text(message)


def test_cancelling_one_instance_names_that_instance() -> None:
    message = request(fixture(CANCEL_INSTANCE), method="CANCEL")
    assert subject(message) == (
        "Cancelled: Weekly design review @ Tue 13 Jan 2026, 11:00-12:00 (America/New_York)"
    )
    assert "One occurrence of this event has been cancelled." in plain_text(message)


@pytest.mark.parametrize(
    ("partstat", "expected", "sentence"),
    [
        ("ACCEPTED", "Accepted: Quarterly planning", "B has accepted this invitation."),
        ("DECLINED", "Declined: Quarterly planning", "B has declined this invitation."),
        (
            "TENTATIVE",
            "Tentatively accepted: Quarterly planning",
            "B has tentatively accepted this invitation.",
        ),
        ("DELEGATED", "Delegated: Quarterly planning", "B has delegated this invitation."),
    ],
)
def test_reply_subject_and_summary_say_the_answer(
    partstat: str, expected: str, sentence: str
) -> None:
    text = edit(
        fixture(ACCEPTED),
        ("PARTSTAT=ACCEPTED", f"PARTSTAT={partstat}"),
        ("SEQUENCE:0", "SEQUENCE:0\r\nSUMMARY:Quarterly planning"),
    )
    message = request(text, method="REPLY", sender=B, recipient=A)
    assert subject(message) == expected
    assert sentence in plain_text(message)


def test_reply_for_one_instance_names_the_instance_time() -> None:
    message = request(fixture(DECLINED_INSTANCE), method="REPLY", sender=B, recipient=A)
    assert subject(message) == ("Declined: (no title) @ Tue 20 Jan 2026, 11:00 (America/New_York)")
    assert "has declined this event for one occurrence." in plain_text(message)


def test_reply_answering_series_and_instance_differently_is_an_updated_response() -> None:
    series = edit(fixture(ACCEPTED), ("SEQUENCE:0", "SEQUENCE:0\r\nSUMMARY:Standup"))
    instance = (
        "BEGIN:VEVENT\r\nUID:group-meeting-4.2.1@example.com\r\n"
        "RECURRENCE-ID:19970708T210000Z\r\nDTSTAMP:19970612T083000Z\r\n"
        "ORGANIZER:mailto:a@example.com\r\n"
        "ATTENDEE;PARTSTAT=DECLINED;CN=B:mailto:b@example.com\r\nEND:VEVENT\r\n"
    )
    text = series.replace("END:VCALENDAR", instance + "END:VCALENDAR")
    message = request(text, method="REPLY", sender=B, recipient=A)
    assert subject(message) == "Updated response: Standup"
    body = plain_text(message)
    assert "the whole series: accepted" in body
    assert "Tuesday 8 July 1997, 21:00 (UTC): declined" in body


@pytest.mark.parametrize(
    ("method", "prefix"),
    [
        ("COUNTER", "New time proposed: Sync @ "),
        ("DECLINECOUNTER", "Proposal declined: Sync"),
        ("REFRESH", "Update requested: Sync"),
        ("ADD", "Occurrences added: Sync @ "),
        ("PUBLISH", "Event: Sync @ "),
    ],
)
def test_other_methods_have_sensible_subjects(method: str, prefix: str) -> None:
    text = event("Sync", "DTSTART:20261201T090000Z", method=method)
    assert subject(request(text, method=method)).startswith(prefix)


def test_non_ascii_title_is_encoded_in_the_subject_and_survives() -> None:
    text = event("Café ☕ Überlegungen", "DTSTART:20261201T090000Z")
    message = compose("REQUEST", A, B, text, IDENTITY, TOKEN, now=NOW)
    raw = message.as_bytes(policy=SMTP)
    assert b"=?utf-8?" in raw.lower()
    back = reparsed(message)
    assert subject(back).startswith("Invitation: Café ☕ Überlegungen @ ")
    assert "Café ☕ Überlegungen" in plain_text(back)
    assert (
        "SUMMARY:Café ☕ Überlegungen" in decoded(parts_of_type(back, "text/calendar")[0]).decode()
    )


def test_title_with_line_breaks_stays_on_one_subject_line() -> None:
    text = event("First\\nSecond", "DTSTART:20261201T090000Z")
    assert subject(request(text)).startswith("Invitation: First Second @ ")


def test_missing_summary_is_called_no_title() -> None:
    text = event("", "DTSTART:20261201T090000Z")
    message = request(text)
    assert subject(message).startswith("Invitation: (no title) @ ")
    assert "(no title)" in plain_text(message)


# --- the readable summary ------------------------------------------------------------


def test_summary_gives_time_in_the_events_zone_repeat_place_organizer_and_attendees() -> None:
    body = plain_text(request(fixture(RECURRING_REQUEST)))
    assert "A has invited you to this event." in body
    assert "Weekly design review" in body
    assert "When: Tuesday 6 January 2026, 11:00–12:00 (America/New_York)" in body
    assert "Repeats: weekly, 6 times" in body
    assert "Where: Room 3" in body
    assert "Organizer: A <a@example.com>" in body
    assert "A <a@example.com> — accepted" in body
    assert "B <b@example.com> — has not answered" in body


def test_all_day_event_says_all_day() -> None:
    text = event("Offsite", "DTSTART;VALUE=DATE:20261201", "DTEND;VALUE=DATE:20261202")
    assert "When: Tuesday 1 December 2026 (all day)" in plain_text(request(text))


def test_several_day_event_gives_first_and_last_day() -> None:
    text = event("Offsite", "DTSTART;VALUE=DATE:20261201", "DTEND;VALUE=DATE:20261204")
    body = plain_text(request(text))
    assert "When: Tuesday 1 December 2026 – Thursday 3 December 2026 (all day)" in body


def test_utc_times_say_utc_and_duration_gives_the_end() -> None:
    text = event("Call", "DTSTART:20261201T090000Z", "DURATION:PT30M")
    assert "When: Tuesday 1 December 2026, 09:00–09:30 (UTC)" in plain_text(request(text))


def test_event_over_midnight_names_both_days() -> None:
    text = event(
        "Night shift",
        "DTSTART;TZID=Europe/Berlin:20261201T220000",
        "DTEND;TZID=Europe/Berlin:20261202T060000",
    )
    body = plain_text(request(text))
    assert "When: Tuesday 1 December 2026, 22:00 – Wednesday 2 December 2026, 06:00" in body
    assert "(Europe/Berlin)" in body


def test_tzid_unknown_to_zoneinfo_is_named_as_written() -> None:
    text = event(
        "Mars call",
        "DTSTART;TZID=Olympus Mons Standard Time:20261201T100000",
        "DTEND;TZID=Olympus Mons Standard Time:20261201T110000",
    )
    body = plain_text(request(text))
    assert "When: Tuesday 1 December 2026, 10:00–11:00 (Olympus Mons Standard Time)" in body


def test_custom_outlook_timezone_is_named_by_its_tzid() -> None:
    outlook_zone = (
        "BEGIN:VTIMEZONE\nTZID:W. Europe Standard Time\nBEGIN:STANDARD\n"
        "DTSTART:16011028T030000\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\n"
        "TZOFFSETFROM:+0200\nTZOFFSETTO:+0100\nEND:STANDARD\nBEGIN:DAYLIGHT\n"
        "DTSTART:16010325T020000\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\n"
        "TZOFFSETFROM:+0100\nTZOFFSETTO:+0200\nEND:DAYLIGHT\nEND:VTIMEZONE\n"
    )
    text = event(
        "Sync",
        'DTSTART;TZID="W. Europe Standard Time":20261201T100000',
        'DTEND;TZID="W. Europe Standard Time":20261201T110000',
    ).replace("BEGIN:VEVENT", crlf(outlook_zone) + "BEGIN:VEVENT")
    assert "10:00–11:00 (W. Europe Standard Time)" in plain_text(request(text))


def test_floating_time_has_no_zone() -> None:
    text = event("Lunch", "DTSTART:20261201T120000", "DTEND:20261201T130000")
    assert "When: Tuesday 1 December 2026, 12:00–13:00\n" in plain_text(request(text))


def test_task_with_only_a_due_date_is_composed() -> None:
    text = fixture("todo-assigned-task-organizer-copy.ics").replace(
        "VERSION:2.0", "VERSION:2.0\r\nMETHOD:REQUEST"
    )
    message = compose(
        "REQUEST", "mailto:alice@example.com", "mailto:bob@example.com", text, IDENTITY, TOKEN
    )
    back = reparsed(message)
    assert subject(back) == "Task assigned: File the October expense report @ due Sat 31 Oct 2026"
    assert "Due: Saturday 31 October 2026" in plain_text(back)
    assert "has assigned you this task." in plain_text(back)


def test_event_without_dtstart_is_composed_without_a_time() -> None:
    text = event("Someday")
    message = request(text)
    assert subject(message) == "Invitation: Someday"
    assert "When:" not in plain_text(message)


def test_unreadable_dtstart_is_left_out() -> None:
    text = event("Broken", "DTSTART:not-a-date")
    assert subject(request(text)) == "Invitation: Broken"


def test_description_location_and_comment_are_shown_and_html_is_escaped() -> None:
    text = event(
        "<b>Planning</b> & review",
        "DTSTART:20261201T090000Z",
        "LOCATION:Room <3>",
        "DESCRIPTION:Line one\\nLine <two> & three",
    )
    message = request(text)
    html = html_text(message)
    assert "&lt;b&gt;Planning&lt;/b&gt; &amp; review" in html
    assert "Room &lt;3&gt;" in html
    assert "Line one<br>\nLine &lt;two&gt; &amp; three" in html
    assert "<b>Planning" not in html
    assert "Line one\nLine <two> & three" in plain_text(message)


def test_attendee_list_marks_optional_attendees() -> None:
    text = event(
        "Sync",
        "DTSTART:20261201T090000Z",
        "ATTENDEE;CN=C;ROLE=OPT-PARTICIPANT;PARTSTAT=TENTATIVE:mailto:c@example.com",
    )
    assert "C <c@example.com> — tentative (optional)" in plain_text(request(text))


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("FREQ=DAILY", "daily"),
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE", "every 2 weeks on Monday and Wednesday"),
        ("FREQ=MONTHLY;BYDAY=-1FR", "monthly on the last Friday"),
        ("FREQ=MONTHLY;BYDAY=2TU;COUNT=5", "monthly on the second Tuesday, 5 times"),
        ("FREQ=YEARLY;UNTIL=20300101T000000Z", "yearly, until Tuesday 1 January 2030"),
        (
            "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
            "weekly on Monday, Tuesday, Wednesday, Thursday and Friday",
        ),
    ],
)
def test_recurrence_rule_is_said_in_plain_words(rule: str, words: str) -> None:
    component = icalendar.Event()
    component.add("RRULE", icalendar.vRecur.from_ical(rule))
    assert describe_repeat(component) == words


# --- refusals ------------------------------------------------------------------------


def test_method_that_differs_from_the_calendars_is_refused() -> None:
    with pytest.raises(ValueError, match="METHOD is REQUEST"):
        compose("CANCEL", A, B, fixture(GROUP_REQUEST), IDENTITY, TOKEN)


def test_calendar_without_method_is_refused() -> None:
    text = fixture(GROUP_REQUEST).replace("METHOD:REQUEST\r\n", "")
    with pytest.raises(ValueError, match="missing"):
        compose("REQUEST", A, B, text, IDENTITY, TOKEN)


def test_recipient_that_is_not_an_email_address_is_refused() -> None:
    with pytest.raises(ValueError, match="mailto"):
        compose("REQUEST", A, "urn:uuid:1234", fixture(GROUP_REQUEST), IDENTITY, TOKEN)


# --- reply addresses and tokens ------------------------------------------------------


def test_new_reply_tokens_are_128_bit_lower_case_hex_and_differ() -> None:
    tokens = {new_reply_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(re.fullmatch(r"[0-9a-f]{32}", t) for t in tokens)


def test_reply_address_uses_the_senders_local_part() -> None:
    assert reply_address(IDENTITY, TOKEN) == f"calendar+{TOKEN}@kalend.test"


def test_reply_address_without_sender_uses_imip() -> None:
    identity = ImipIdentity(None, "kalend.test", "kalend.example.org")
    assert reply_address(identity, TOKEN) == f"imip+{TOKEN}@kalend.test"


def test_no_reply_address_without_reply_domain() -> None:
    assert reply_address(OWN_DOMAIN, TOKEN) is None


@pytest.mark.parametrize(
    "address",
    [
        f"calendar+{TOKEN}@kalend.test",
        f"mailto:calendar+{TOKEN}@kalend.test",
        f"MAILTO:Calendar+{TOKEN.upper()}@KALEND.TEST",
        f"<calendar+{TOKEN}@kalend.test>",
        f"cal+team+{TOKEN}@kalend.test",
    ],
)
def test_token_is_found_in_a_reply_address_whatever_its_case(address: str) -> None:
    assert token_from_address(address) == TOKEN


@pytest.mark.parametrize(
    "address", ["calendar@kalend.test", "calendar+@kalend.test", "calendar+a b@x", "no-at-sign"]
)
def test_address_without_token_gives_none(address: str) -> None:
    assert token_from_address(address) is None


def test_reply_address_and_token_round_trip() -> None:
    token = new_reply_token()
    address = reply_address(IDENTITY, token)
    assert address is not None
    assert token_from_address(address) == token


# --- compose, then read back ---------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "name", "sender", "recipient"),
    [
        ("REQUEST", RECURRING_REQUEST, A, B),
        ("CANCEL", CANCEL_INSTANCE, A, B),
        ("REPLY", DECLINED_INSTANCE, B, A),
    ],
)
def test_composed_message_reads_back_as_the_same_itip_message(
    method: str, name: str, sender: str, recipient: str
) -> None:
    text = fixture(name)
    token = new_reply_token()
    message = compose(method, sender, recipient, text, OWN_DOMAIN, token, now=NOW)
    raw = message.as_bytes(policy=SMTP)
    address = reply_address(IDENTITY, token)
    incoming = parse_message(raw, envelope_recipients=[f"<{address}>"])
    assert incoming.method == method
    assert incoming.itip_text == text
    assert incoming.from_address == sender
    assert incoming.reply_token == token
    assert incoming.message_id == message["Message-ID"]
    assert incoming.subject == subject(reparsed(message))


def test_composed_reply_from_the_attendee_passes_the_sender_check() -> None:
    reply = (
        "BEGIN:VCALENDAR\r\nPRODID:-//kalend//kalend scheduling//EN\r\nVERSION:2.0\r\n"
        "METHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:imip-test-meeting-1@kalend.test\r\n"
        "DTSTAMP:20261117T120000Z\r\nSEQUENCE:0\r\nSUMMARY:Project sync\r\n"
        "ORGANIZER;CN=Alice Example:mailto:alice@kalend.test\r\n"
        "ATTENDEE;CN=Dave Example;PARTSTAT=ACCEPTED:mailto:dave@elsewhere.example\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    message = compose("REPLY", DAVE, ALICE, reply, OWN_DOMAIN, None, now=NOW)
    incoming = parse_message(message.as_bytes(policy=SMTP))
    assert check_reply_sender(incoming) == DAVE
    assert subject(reparsed(message)) == "Accepted: Project sync"
    assert incoming.reply_token is None
