"""Mail arriving at the reply address is read as one iTIP message, ignored, or refused."""

from __future__ import annotations

import icalendar
import pytest
from imip_support import (
    ALICE,
    DAVE,
    ERIN,
    FRANK,
    REPLY_ADDRESS,
    TOKEN,
    UID,
    b64,
    calendar_mail,
    crlf,
    eml,
    ics,
    mail,
    reply_calendar,
)

from kalend.scheduling.imip_receive import (
    ImipRejected,
    IncomingImip,
    NotImip,
    check_organizer_sender,
    check_reply_sender,
    parse_message,
)
from kalend.scheduling.itip import apply_reply

ORGANIZER_COPY = "alice-project-sync-organizer-copy.ics"


def component(incoming: IncomingImip, index: int = 0) -> icalendar.cal.Component:
    calendar = icalendar.Calendar.from_ical(incoming.itip_text)
    return [c for c in calendar.subcomponents if c.name == "VEVENT"][index]


def attendee_partstat(incoming: IncomingImip) -> tuple[str, str]:
    line = component(incoming)["ATTENDEE"]
    return str(line).lower(), str(line.params["PARTSTAT"])


def multipart(*parts: tuple[dict[str, str], str], subtype: str = "mixed", **headers: str) -> bytes:
    """A multipart message of ``parts`` (headers, body), From Dave to the reply address."""
    top = {
        "From": "Dave Example <dave@elsewhere.example>",
        "To": f"calendar+{TOKEN}@kalend.test",
        "Subject": "Re: Project sync",
        "MIME-Version": "1.0",
        "Content-Type": f'multipart/{subtype}; boundary="XX"',
        **headers,
    }
    body = ""
    for part_headers, part_body in parts:
        body += "--XX\n" + "".join(f"{k}: {v}\n" for k, v in part_headers.items())
        body += "\n" + part_body + "\n"
    return mail(top, body + "--XX--\n")


def calendar_part(
    calendar: str, content_type: str = "text/calendar; charset=UTF-8; method=REPLY", **extra: str
) -> tuple[dict[str, str], str]:
    return (
        {"Content-Type": content_type, "Content-Transfer-Encoding": "base64", **extra},
        b64(calendar),
    )


TEXT_PART = ({"Content-Type": "text/plain; charset=UTF-8"}, "See you there.\n")


# --- what real clients send -------------------------------------------------------


def test_google_reply_accepted_is_read_with_its_token() -> None:
    incoming = parse_message(eml("google-reply-accepted.eml"))
    assert incoming.method == "REPLY"
    assert incoming.from_address == DAVE
    assert incoming.recipients == (REPLY_ADDRESS,)
    assert incoming.reply_token == TOKEN
    assert incoming.message_id == "<calendar-5b0c1e7a-3d2f-4a8e-9c61-7f2d0b4e8a19@google.com>"
    assert incoming.subject.startswith("Accepted: Project sync @ Weekly from 10am")
    assert "\n" not in incoming.subject
    assert attendee_partstat(incoming) == (DAVE, "ACCEPTED")
    assert str(component(incoming)["UID"]) == UID
    assert check_reply_sender(incoming) == DAVE


def test_google_reply_keeps_the_calendar_as_sent_with_crlf_and_folded_lines() -> None:
    text = parse_message(eml("google-reply-accepted.eml")).itip_text
    assert text.startswith("BEGIN:VCALENDAR\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN")
    assert text.endswith("END:VCALENDAR\r\n")
    assert "\n" not in text.replace("\r\n", "")
    assert "\r\n " in text  # folded lines stay folded; icalendar unfolds them when parsing


def test_google_reply_declining_one_instance_keeps_its_recurrence_id() -> None:
    incoming = parse_message(eml("google-reply-one-instance-declined.eml"))
    assert incoming.method == "REPLY"
    assert attendee_partstat(incoming) == (DAVE, "DECLINED")
    rid = component(incoming)["RECURRENCE-ID"]
    assert rid.params["TZID"] == "Europe/Berlin"
    assert rid.dt.isoformat() == "2026-12-15T10:00:00+01:00"
    assert check_reply_sender(incoming) == DAVE


def test_outlook_reply_declined_is_read_from_base64_with_its_windows_timezone() -> None:
    incoming = parse_message(eml("outlook-reply-declined.eml"))
    assert incoming.method == "REPLY"
    assert incoming.from_address == ERIN
    assert incoming.reply_token == TOKEN
    assert attendee_partstat(incoming) == (ERIN, "DECLINED")
    calendar = icalendar.Calendar.from_ical(incoming.itip_text)
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["W. Europe Standard Time"]
    event = component(incoming)
    assert (
        str(event["COMMENT"]) == "Sorry, I am travelling in December. Please send me the notes.\n"
    )
    assert str(event["X-MICROSOFT-CDO-BUSYSTATUS"]) == "FREE"
    assert check_reply_sender(incoming) == ERIN


def test_thunderbird_reply_tentative_is_read_from_quoted_printable() -> None:
    incoming = parse_message(eml("thunderbird-reply-tentative.eml"))
    assert incoming.method == "REPLY"
    assert incoming.from_address == FRANK
    # To: and Delivered-To: name the same address: it is listed once.
    assert incoming.recipients == (REPLY_ADDRESS,)
    assert incoming.subject == "Invitation Tentatively Accepted: Project sync"
    line = component(incoming)["ATTENDEE"]
    assert str(line) == FRANK
    assert line.params["CN"] == "Frank Müller"
    assert line.params["PARTSTAT"] == "TENTATIVE"
    assert check_reply_sender(incoming) == FRANK


@pytest.mark.parametrize(
    ("name", "attendee", "answer"),
    [
        ("google-reply-accepted.eml", DAVE, "ACCEPTED"),
        ("outlook-reply-declined.eml", ERIN, "DECLINED"),
        ("thunderbird-reply-tentative.eml", FRANK, "TENTATIVE"),
        ("rfc6047-bare-text-calendar-reply.eml", DAVE, "ACCEPTED"),
        ("ics-attachment-only-reply.eml", DAVE, "ACCEPTED"),
    ],
)
def test_replies_from_real_clients_apply_to_the_organizers_copy(
    name: str, attendee: str, answer: str
) -> None:
    incoming = parse_message(eml(name))
    assert check_reply_sender(incoming) == attendee
    updated, replier = apply_reply(ics(ORGANIZER_COPY), incoming.itip_text)
    assert replier == attendee
    event = icalendar.Calendar.from_ical(updated).walk("VEVENT")[0]
    lines = {str(a).lower(): a for a in event["ATTENDEE"]}
    assert lines[attendee].params["PARTSTAT"] == answer


def test_reply_declining_one_instance_applies_as_an_override() -> None:
    incoming = parse_message(eml("google-reply-one-instance-declined.eml"))
    updated, _ = apply_reply(ics(ORGANIZER_COPY), incoming.itip_text)
    events = icalendar.Calendar.from_ical(updated).walk("VEVENT")
    overrides = [e for e in events if "RECURRENCE-ID" in e]
    assert len(overrides) == 1
    lines = {str(a).lower(): a for a in overrides[0]["ATTENDEE"]}
    assert lines[DAVE].params["PARTSTAT"] == "DECLINED"


def test_top_level_text_calendar_message_is_read() -> None:
    incoming = parse_message(eml("rfc6047-bare-text-calendar-reply.eml"))
    assert incoming.method == "REPLY"
    assert incoming.from_address == DAVE
    assert incoming.reply_token == TOKEN
    assert "REQUEST-STATUS:2.0;Success\r\n" in incoming.itip_text


def test_ics_attachment_is_read_when_there_is_no_text_calendar_part() -> None:
    incoming = parse_message(eml("ics-attachment-only-reply.eml"))
    assert incoming.method == "REPLY"
    assert incoming.recipients == (REPLY_ADDRESS, ALICE)
    assert incoming.reply_token == TOKEN


# --- refused ----------------------------------------------------------------------------


def test_reply_from_someone_other_than_the_attendee_is_refused() -> None:
    incoming = parse_message(eml("spoofed-reply-from-mismatch.eml"))
    assert incoming.from_address == "mailto:mallory@attacker.example"
    with pytest.raises(ImipRejected, match="not the attendee") as refused:
        check_reply_sender(incoming)
    assert "mailto:dave@elsewhere.example" in refused.value.reason


def test_several_methods_in_one_calendar_are_refused() -> None:
    with pytest.raises(ImipRejected, match="several METHOD") as refused:
        parse_message(eml("several-methods.eml"))
    assert "REPLY" in refused.value.reason and "CANCEL" in refused.value.reason


def test_several_calendars_with_different_methods_in_one_part_are_refused() -> None:
    cancel = reply_calendar(method="CANCEL")
    with pytest.raises(ImipRejected, match="2 iCalendar objects.*CANCEL / REPLY"):
        parse_message(calendar_mail(reply_calendar() + cancel))


def test_calendar_parts_that_disagree_on_the_method_are_refused() -> None:
    raw = multipart(
        TEXT_PART,
        calendar_part(reply_calendar()),
        calendar_part(
            reply_calendar(method="CANCEL"),
            content_type="application/ics",
            **{"Content-Disposition": 'attachment; filename="invite.ics"'},
        ),
    )
    with pytest.raises(ImipRejected, match="disagree on METHOD"):
        parse_message(raw)


def test_content_type_method_that_differs_from_the_calendar_is_refused() -> None:
    raw = calendar_mail(
        reply_calendar(), content_type="text/calendar; method=REQUEST; charset=UTF-8"
    )
    with pytest.raises(ImipRejected, match="method=REQUEST"):
        parse_message(raw)


def test_content_type_method_is_compared_without_case() -> None:
    raw = calendar_mail(reply_calendar(), content_type="text/calendar; method=reply")
    assert parse_message(raw).method == "REPLY"


def test_method_unknown_to_itip_is_refused() -> None:
    with pytest.raises(ImipRejected, match="not an iTIP method"):
        parse_message(calendar_mail(reply_calendar(method="X-SHOUT"), content_type="text/calendar"))


def test_cut_off_icalendar_is_refused() -> None:
    with pytest.raises(ImipRejected, match="malformed iCalendar"):
        parse_message(eml("malformed-icalendar.eml"))


def test_icalendar_with_a_line_that_is_no_content_line_is_refused() -> None:
    broken = reply_calendar(extra="this line is not iCalendar\n")
    with pytest.raises(ImipRejected, match="malformed iCalendar"):
        parse_message(calendar_mail(broken))


def test_icalendar_with_an_unreadable_value_is_refused() -> None:
    broken = reply_calendar(extra="DTSTART:tomorrow-ish\n")
    with pytest.raises(ImipRejected, match="DTSTART"):
        parse_message(calendar_mail(broken))


def test_icalendar_without_a_component_to_schedule_is_refused() -> None:
    empty = crlf("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//x//EN\nMETHOD:REPLY\nEND:VCALENDAR\n")
    with pytest.raises(ImipRejected, match="no VEVENT"):
        parse_message(calendar_mail(empty))


def test_oversized_message_is_refused_before_it_is_read() -> None:
    raw = eml("google-reply-accepted.eml")
    with pytest.raises(ImipRejected, match="larger than 1000"):
        parse_message(raw, max_bytes=1000)
    with pytest.raises(ImipRejected, match="larger than"):
        parse_message(b"x" * 1_048_577)


def test_message_of_exactly_the_limit_is_read() -> None:
    raw = eml("google-reply-accepted.eml")
    assert parse_message(raw, max_bytes=len(raw)).method == "REPLY"


def test_message_without_from_is_refused() -> None:
    raw = calendar_mail(reply_calendar()).replace(
        b"From: Dave Example <dave@elsewhere.example>\r\n", b""
    )
    with pytest.raises(ImipRejected, match="no From"):
        parse_message(raw)


def test_from_with_several_mailboxes_is_refused() -> None:
    raw = calendar_mail(reply_calendar(), sender="dave@elsewhere.example, eve@elsewhere.example")
    with pytest.raises(ImipRejected, match="one mailbox, it names 2"):
        parse_message(raw)


def test_two_from_headers_are_refused() -> None:
    raw = calendar_mail(reply_calendar())
    raw = b"From: eve@elsewhere.example\r\n" + raw
    with pytest.raises(ImipRejected, match="several From"):
        parse_message(raw)


def test_declared_charset_the_bytes_do_not_match_is_refused() -> None:
    latin = reply_calendar(cn="Zoë Müller")
    raw = mail(
        {"From": DAVE.removeprefix("mailto:"), "To": "calendar@kalend.test",
         "Content-Type": "text/calendar; method=REPLY; charset=UTF-8",
         "Content-Transfer-Encoding": "base64"},
        b64(latin, charset="latin-1"),
    )  # fmt: skip
    with pytest.raises(ImipRejected, match="not valid utf-8"):
        parse_message(raw)


def test_unknown_charset_is_refused() -> None:
    raw = calendar_mail(
        reply_calendar(), content_type="text/calendar; method=REPLY; charset=x-klingon"
    )
    with pytest.raises(ImipRejected, match="unknown charset"):
        parse_message(raw)


# --- not iMIP: ignored -------------------------------------------------------------------


def test_plain_text_mail_is_not_imip() -> None:
    with pytest.raises(NotImip, match="no text/calendar"):
        parse_message(eml("not-imip-plain-text.eml"))


def test_calendar_file_without_method_is_not_imip() -> None:
    shared = reply_calendar().replace("METHOD:REPLY\r\n", "")
    with pytest.raises(NotImip, match="without METHOD"):
        parse_message(calendar_mail(shared, content_type="text/calendar; charset=UTF-8"))


def test_invitation_forwarded_as_an_attached_message_is_not_imip() -> None:
    forwarded = calendar_mail(reply_calendar()).decode("utf-8")
    raw = multipart(TEXT_PART, ({"Content-Type": "message/rfc822"}, forwarded))
    with pytest.raises(NotImip):
        parse_message(raw)


def test_non_imip_is_recognised_even_without_from() -> None:
    raw = mail({"To": "calendar@kalend.test", "Subject": "hello"}, "Just text.\n")
    with pytest.raises(NotImip):
        parse_message(raw)


# --- choosing and decoding the calendar part ----------------------------------------------


def test_identical_inline_and_attached_copies_are_one_message() -> None:
    text = reply_calendar()
    raw = multipart(
        TEXT_PART,
        calendar_part(text),
        calendar_part(
            text,
            content_type='text/calendar; method=REPLY; name="invite.ics"',
            **{"Content-Disposition": 'attachment; filename="invite.ics"'},
        ),
    )
    assert parse_message(raw).itip_text == text


def test_inline_calendar_part_wins_over_a_different_attachment_of_the_same_method() -> None:
    inline = reply_calendar(partstat="DECLINED")
    attached = reply_calendar(partstat="ACCEPTED")
    raw = multipart(
        calendar_part(
            attached,
            **{"Content-Disposition": 'attachment; filename="invite.ics"'},
        ),
        calendar_part(inline),
    )
    assert parse_message(raw).itip_text == inline


def test_text_calendar_wins_over_an_application_ics_attachment() -> None:
    inline = reply_calendar(partstat="TENTATIVE")
    raw = multipart(
        calendar_part(reply_calendar(), content_type='application/ics; name="invite.ics"'),
        calendar_part(inline),
    )
    assert parse_message(raw).itip_text == inline


def test_text_calendar_nested_in_alternative_inside_mixed_is_found() -> None:
    inner = (
        "--YY\nContent-Type: text/plain\n\nhello\n"
        "--YY\nContent-Type: text/calendar; method=REPLY; charset=UTF-8\n"
        "Content-Transfer-Encoding: base64\n\n" + b64(reply_calendar()) + "--YY--\n"
    )
    raw = multipart(({"Content-Type": 'multipart/alternative; boundary="YY"'}, inner))
    assert parse_message(raw).method == "REPLY"


def test_charset_of_the_part_is_honoured() -> None:
    text = reply_calendar(cn="Zoë Müller")
    raw = mail(
        {"From": "dave@elsewhere.example", "To": "calendar@kalend.test",
         "Content-Type": "text/calendar; method=REPLY; charset=ISO-8859-1",
         "Content-Transfer-Encoding": "base64"},
        b64(text, charset="latin-1"),
    )  # fmt: skip
    incoming = parse_message(raw)
    assert "CN=Zoë Müller" in incoming.itip_text


def test_calendar_without_charset_is_utf8_and_else_latin1() -> None:
    utf8 = calendar_mail(reply_calendar(cn="Zoë"), content_type="text/calendar; method=REPLY")
    assert "CN=Zoë" in parse_message(utf8).itip_text
    raw = mail(
        {"From": "dave@elsewhere.example", "To": "calendar@kalend.test",
         "Content-Type": "text/calendar; method=REPLY", "Content-Transfer-Encoding": "base64"},
        b64(reply_calendar(cn="Zoë"), charset="latin-1"),
    )  # fmt: skip
    assert "CN=Zoë" in parse_message(raw).itip_text


def test_calendar_with_lf_line_ends_is_given_with_crlf() -> None:
    text = reply_calendar().replace("\r\n", "\n")
    raw = mail(
        {"From": "dave@elsewhere.example", "To": "calendar@kalend.test",
         "Content-Type": "text/calendar; method=REPLY; charset=UTF-8",
         "Content-Transfer-Encoding": "base64"},
        b64(text, line_ends_as_given=True),
    )  # fmt: skip
    assert parse_message(raw).itip_text == crlf(text)


def test_byte_order_mark_is_dropped() -> None:
    text = reply_calendar()
    raw = calendar_mail("\ufeff" + text)
    assert parse_message(raw).itip_text == text


# --- recipients and tokens --------------------------------------------------------------------


def test_envelope_recipients_are_used_before_headers() -> None:
    raw = calendar_mail(reply_calendar(), to="someone-else@kalend.test")
    incoming = parse_message(raw, envelope_recipients=[f"<Calendar+{TOKEN.upper()}@Kalend.Test>"])
    assert incoming.recipients == (REPLY_ADDRESS,)
    assert incoming.reply_token == TOKEN
    assert incoming.from_envelope


def test_recipients_from_headers_are_marked_as_the_senders_word() -> None:
    # What the sender wrote in To: cannot bind a reply to an organizer.
    incoming = parse_message(calendar_mail(reply_calendar(), to="alice@kalend.test"))
    assert incoming.recipients == (ALICE,)
    assert not incoming.from_envelope


def test_recipients_come_from_to_cc_and_delivered_to_without_repeats() -> None:
    raw = calendar_mail(reply_calendar(), to="Alice <Alice@kalend.test>, team@kalend.test")
    raw = f"Cc: calendar+{TOKEN}@kalend.test\r\nDelivered-To: alice@kalend.test\r\n".encode() + raw
    incoming = parse_message(raw)
    assert incoming.recipients == (
        ALICE,
        "mailto:team@kalend.test",
        REPLY_ADDRESS,
    )
    assert incoming.reply_token == TOKEN


def test_message_without_reply_address_has_no_token() -> None:
    incoming = parse_message(calendar_mail(reply_calendar(), to="alice@kalend.test"))
    assert incoming.reply_token is None
    assert incoming.recipients == (ALICE,)


def test_from_address_is_normalised() -> None:
    raw = calendar_mail(reply_calendar(), sender='"Dave, Example" <Dave@Elsewhere.EXAMPLE>')
    assert parse_message(raw).from_address == DAVE


def test_encoded_subject_is_decoded_to_one_line() -> None:
    raw = calendar_mail(reply_calendar()).replace(
        b"Subject: Accepted: Project sync",
        b"Subject: =?UTF-8?Q?Zusage=3A_Projektbesprechung_=C3=BCber?=\r\n =?UTF-8?Q?_Kaffee?=",
    )
    assert parse_message(raw).subject == "Zusage: Projektbesprechung über Kaffee"


# --- who may send what ------------------------------------------------------------------------


def _incoming(calendar: str, sender: str = "dave@elsewhere.example") -> IncomingImip:
    method = "REPLY" if "METHOD:REPLY" in calendar else "REQUEST"
    return parse_message(
        calendar_mail(calendar, sender=sender, content_type=f"text/calendar; method={method}")
    )


def test_reply_sender_is_compared_without_case() -> None:
    calendar = reply_calendar(attendee="MAILTO:Dave@Elsewhere.Example")
    assert check_reply_sender(_incoming(calendar, sender="DAVE@elsewhere.example")) == DAVE


def test_reply_answering_for_two_attendees_is_refused() -> None:
    calendar = reply_calendar(extra="ATTENDEE;PARTSTAT=ACCEPTED:mailto:eve@elsewhere.example\n")
    with pytest.raises(ImipRejected, match="several attendees"):
        check_reply_sender(_incoming(calendar))


def test_reply_whose_components_name_different_attendees_is_refused() -> None:
    calendar = reply_calendar()
    other = (
        "BEGIN:VEVENT\r\nUID:imip-test-meeting-1@kalend.test\r\n"
        "RECURRENCE-ID:20261215T090000Z\r\nDTSTAMP:20261117T120000Z\r\n"
        "ATTENDEE;PARTSTAT=DECLINED:mailto:eve@elsewhere.example\r\nEND:VEVENT\r\n"
    )
    calendar = calendar.replace("END:VCALENDAR", other + "END:VCALENDAR")
    with pytest.raises(ImipRejected, match="several attendees"):
        check_reply_sender(_incoming(calendar))


def test_reply_without_attendee_is_refused() -> None:
    calendar = reply_calendar().replace(
        "ATTENDEE;CN=Dave Example;PARTSTAT=ACCEPTED:mailto:dave@elsewhere.example\r\n", ""
    )
    with pytest.raises(ImipRejected, match="no ATTENDEE"):
        check_reply_sender(_incoming(calendar))


def test_delegating_reply_counts_only_the_delegator() -> None:
    # RFC 5546 §4.2.5: B delegates to E; the REPLY lists E with DELEGATED-FROM=B.
    calendar = reply_calendar(
        partstat='DELEGATED;DELEGATED-TO="mailto:erin@outlook.example"',
        extra='ATTENDEE;RSVP=TRUE;DELEGATED-FROM="mailto:dave@elsewhere.example":'
        "mailto:erin@outlook.example\n",
    )
    assert check_reply_sender(_incoming(calendar)) == DAVE


def test_sender_check_is_only_for_replies() -> None:
    incoming = _incoming(reply_calendar(method="REQUEST"), sender="alice@kalend.test")
    with pytest.raises(ValueError, match="REQUEST"):
        check_reply_sender(incoming)


def test_request_from_its_organizer_passes_the_organizer_check() -> None:
    incoming = _incoming(reply_calendar(method="REQUEST"), sender="Alice@Kalend.test")
    assert check_organizer_sender(incoming) == ALICE


def test_request_from_someone_other_than_the_organizer_is_refused() -> None:
    incoming = _incoming(reply_calendar(method="REQUEST"), sender="mallory@attacker.example")
    with pytest.raises(ImipRejected, match="organized by mailto:alice@kalend.test"):
        check_organizer_sender(incoming)


def test_rejections_carry_their_reason() -> None:
    error = ImipRejected("too big")
    assert error.reason == "too big"
    assert str(error) == "too big"
    assert NotImip("no calendar").reason == "no calendar"
