"""The whole iMIP conversation with people on other servers (issue 6, done
when): an organizer on kalend invites a local user and two outside
addresses; the outside ones receive standards-conformant invitations through
a real SMTP server on loopback; their replies, fed to `kalend imip receive`
as an MTA pipe would, show up as PARTSTATs in the organizer's calendar (and
in the local attendee's copy); a spoofed reply is refused and changes
nothing. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import subprocess
import sys
from email.message import EmailMessage
from email.policy import SMTP

import icalendar
import pytest
from kalend_testing import KalendServer, write_config
from smtp_sink_support import SmtpSink, imip_config, wait_until

ALICE = "alice@kalend.test"
BOB = "bob@kalend.test"
DAVE = "dave@elsewhere.example"       # on Google Calendar
ERIN = "erin@outlook.example"         # on Outlook
HREF = "/alice/default/roadmap.ics"


def roadmap() -> str:
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Apple Inc.//macOS 15.1//EN",
        "BEGIN:VEVENT", "UID:roadmap-2027@kalend.test", "DTSTAMP:20261120T100000Z",
        "DTSTART:20261210T140000Z", "DTEND:20261210T150000Z",
        "SUMMARY:Roadmap 2027", "LOCATION:Video call", "SEQUENCE:0",
        "ORGANIZER;CN=Alice Example:mailto:alice@kalend.test",
        "ATTENDEE;CN=Alice Example;PARTSTAT=ACCEPTED:mailto:alice@kalend.test",
        "ATTENDEE;CN=Bob;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@kalend.test",
        "ATTENDEE;CN=Dave;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:dave@elsewhere.example",
        "ATTENDEE;CN=Erin;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:erin@outlook.example",
        "END:VEVENT", "END:VCALENDAR", ""])


@pytest.fixture
def sink():
    running = SmtpSink().start()
    yield running
    running.stop()


@pytest.fixture
def server(tmp_path, database_url, sink):
    folder = str(tmp_path / "data")
    config = write_config(folder, database_url, extra=imip_config(sink.port))
    running = KalendServer(config, database_url, folder)
    running.add_user("alice", [ALICE])
    running.add_user("bob", [BOB])
    running.start_in_thread()
    yield running
    running.stop()


def reply_to(invitation: EmailMessage, attendee: str, partstat: str, sender: str) -> bytes:
    """What the attendee's server mails back: the invitation's event with
    only this attendee and their answer, METHOD:REPLY (RFC 5546 §3.2.3),
    to the invitation's Reply-To, in the shape Google Calendar uses
    (multipart/alternative, base64 text/calendar; method=REPLY)."""
    part = next(p for p in invitation.walk() if p.get_content_type() == "text/calendar")
    calendar = icalendar.Calendar.from_ical(part.get_content())
    event = next(iter(calendar.walk("VEVENT")))
    reply = icalendar.Calendar()
    reply.add("PRODID", "-//Google Inc//Google Calendar 70.9054//EN")
    reply.add("VERSION", "2.0")
    reply.add("METHOD", "REPLY")
    answer = icalendar.Event()
    for name in ("DTSTART", "DTEND", "DTSTAMP", "ORGANIZER", "UID", "SEQUENCE", "SUMMARY"):
        answer[name] = event[name]
    address = icalendar.vCalAddress(f"mailto:{attendee}")
    address.params["PARTSTAT"] = partstat
    address.params["CN"] = attendee.split("@")[0].title()
    answer.add("ATTENDEE", address)
    reply.add_component(answer)
    text = reply.to_ical()

    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = str(invitation["Reply-To"])
    message["Subject"] = f"{partstat.title()}: Roadmap 2027"
    message["Message-ID"] = f"<reply-{attendee}@mail.example>"
    message["In-Reply-To"] = str(invitation["Message-ID"])
    message.set_content(f"{attendee} has answered {partstat}.")
    message.add_alternative(text, maintype="text", subtype="calendar", cte="base64",
                            params={"method": "REPLY", "charset": "UTF-8"})
    return message.as_bytes()


def imip_receive(server: KalendServer, raw: bytes, recipient: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kalend", "imip", "receive", "--config", server.config_path,
         "--recipient", recipient], input=raw, capture_output=True, timeout=120)


def partstats(server: KalendServer, user: str, href: str) -> dict[str, str]:
    text = server.request("GET", href, user=user).text
    event = next(iter(icalendar.Calendar.from_ical(text).walk("VEVENT")))
    return {str(a).lower().removeprefix("mailto:"): str(a.params.get("PARTSTAT"))
            for a in event.get("ATTENDEE", [])}


def bobs_copy(server: KalendServer) -> str:
    found = server.rows("SELECT c.path, i.href FROM item i JOIN collection c "
                        "ON c.id = i.collection_id WHERE c.path = 'bob/default' "
                        "AND i.uid = 'roadmap-2027@kalend.test'")
    assert len(found) == 1
    return f"/{found[0][0]}/{found[0][1]}"


def test_outside_attendees_answer_by_mail_and_the_organizer_sees_it(server, sink):
    created = server.request("PUT", HREF, user="alice", body=roadmap(),
                             headers={"Content-Type": "text/calendar; charset=utf-8"})
    invitations = {m.recipients[0]: m.message for m in sink.wait_for(2)}

    # Each outsider got an RFC 6047 invitation with a reply address of its own.
    assert created.status_code == 201
    assert sorted(invitations) == [DAVE, ERIN]
    for message in invitations.values():
        calendar_part = next(p for p in message.walk()
                             if p.get_content_type() == "text/calendar")
        assert calendar_part.get_param("method") == "REQUEST"
        assert "METHOD:REQUEST" in calendar_part.get_content()
        assert message["Reply-To"].addresses[0].addr_spec.startswith("calendar+")
    assert invitations[DAVE]["Reply-To"] != invitations[ERIN]["Reply-To"]

    # The worker writes SCHEDULE-STATUS 1.2 back once the mail is handed over.
    before_spoof = wait_until(lambda: (text := server.request("GET", HREF, user="alice").text)
                              and "SCHEDULE-STATUS=1.1" not in text and text)
    spoofed = imip_receive(server, reply_to(invitations[DAVE], DAVE, "DECLINED",
                                            "Mallory <mallory@evil.example>"),
                           invitations[DAVE]["Reply-To"].addresses[0].addr_spec)
    crossed = imip_receive(server, reply_to(invitations[ERIN], DAVE, "DECLINED", DAVE),
                           invitations[ERIN]["Reply-To"].addresses[0].addr_spec)
    after_spoof = server.request("GET", HREF, user="alice").text

    accepted = imip_receive(server, reply_to(invitations[DAVE], DAVE, "ACCEPTED",
                                             f"Dave <{DAVE}>"),
                            invitations[DAVE]["Reply-To"].addresses[0].addr_spec)
    declined = imip_receive(server, reply_to(invitations[ERIN], ERIN, "DECLINED",
                                             f"Erin <{ERIN}>"),
                            invitations[ERIN]["Reply-To"].addresses[0].addr_spec)

    # The spoofed reply (From: not the attendee) and the reply quoting another
    # attendee's token are refused for the MTA to bounce, and change nothing.
    assert spoofed.returncode == 65, spoofed.stderr
    assert crossed.returncode == 65, crossed.stderr
    assert after_spoof == before_spoof
    # The real answers arrive in the organizer's calendar ...
    assert accepted.returncode == 0, accepted.stderr
    assert declined.returncode == 0, declined.stderr
    organizer_view = partstats(server, "alice", HREF)
    assert organizer_view[DAVE] == "ACCEPTED"
    assert organizer_view[ERIN] == "DECLINED"
    assert organizer_view[BOB] == "NEEDS-ACTION"
    # ... and in the local attendee's copy.
    bob_view = wait_until(lambda: (v := partstats(server, "bob", bobs_copy(server)))
                          and v[DAVE] == "ACCEPTED" and v)
    assert bob_view[ERIN] == "DECLINED"
