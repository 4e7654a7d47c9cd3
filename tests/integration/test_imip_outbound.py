"""iMIP out (RFC 6047): invitations to people on other servers leave through
a real SMTP server on loopback, with retries that lose nothing and send
nothing twice. Runs on SQLite and PostgreSQL.

What a user sees is asserted: the e-mail that arrives (MIME structure,
headers, the iCalendar), the SCHEDULE-STATUS on the organizer's copy, the
outbox row.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import icalendar
import pytest
from kalend_testing import KalendServer, write_config
from smtp_sink_support import SmtpSink, imip_config, wait_until
from sqlalchemy import text

ORGANIZER = "alice"
OUTSIDERS = ["dave@elsewhere.example", "erin@outlook.example"]


def planning(uid: str = "planning-1@kalend.test", attendees: list[str] | None = None,
             summary: str = "Quarterly planning", sequence: int = 0) -> str:
    people = attendees if attendees is not None else ["bob@kalend.test", *OUTSIDERS]
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Apple Inc.//macOS 15.1//EN",
             "BEGIN:VTIMEZONE", "TZID:Europe/Berlin", "BEGIN:STANDARD",
             "DTSTART:19701025T030000", "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
             "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "END:STANDARD", "BEGIN:DAYLIGHT",
             "DTSTART:19700329T020000", "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
             "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200", "END:DAYLIGHT", "END:VTIMEZONE",
             "BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20261120T100000Z",
             "DTSTART;TZID=Europe/Berlin:20261208T100000",
             "DTEND;TZID=Europe/Berlin:20261208T113000", f"SUMMARY:{summary}",
             f"SEQUENCE:{sequence}", "LOCATION:Room Kepler",
             "DESCRIPTION:Targets for Q1 and who owns them.",
             "ORGANIZER;CN=Alice Example:mailto:alice@kalend.test",
             "ATTENDEE;CN=Alice Example;PARTSTAT=ACCEPTED:mailto:alice@kalend.test",
             *[f"ATTENDEE;CN={p.split('@')[0].title()};PARTSTAT=NEEDS-ACTION;RSVP=TRUE:"
               f"mailto:{p}" for p in people],
             "END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


@pytest.fixture
def sink():
    running = SmtpSink().start()
    yield running
    running.stop()


def mail_server(tmp_path, database_url: str, port: int, **imip) -> KalendServer:
    folder = str(tmp_path / "data")
    config = write_config(folder, database_url, extra=imip_config(port, **imip))
    server = KalendServer(config, database_url, folder)
    server.add_user(ORGANIZER, ["alice@kalend.test"])
    server.add_user("bob", ["bob@kalend.test"])
    return server


@pytest.fixture
def server(tmp_path, database_url, sink):
    running = mail_server(tmp_path, database_url, sink.port).start_in_thread()
    yield running
    running.stop()


def invite(server: KalendServer, text: str | None = None,
           href: str = "/alice/default/planning.ics") -> None:
    response = server.request("PUT", href, user=ORGANIZER, body=text or planning(),
                              headers={"Content-Type": "text/calendar; charset=utf-8"})
    assert response.status_code in (201, 204), response.text


def organizer_statuses(server: KalendServer,
                       href: str = "/alice/default/planning.ics") -> dict[str, str]:
    text = server.request("GET", href, user=ORGANIZER).text
    event = next(c for c in icalendar.Calendar.from_ical(text).walk("VEVENT"))
    attendees = event.get("ATTENDEE", [])
    return {str(a).lower().removeprefix("mailto:"): str(a.params.get("SCHEDULE-STATUS", ""))
            for a in (attendees if isinstance(attendees, list) else [attendees])}


def outbox(server: KalendServer) -> dict[str, tuple]:
    return {r[0].removeprefix("mailto:"): r[1:] for r in server.rows(
        "SELECT recipient, status, attempts, method FROM outbox ORDER BY id")}


def parts(message) -> list[str]:
    return [part.get_content_type() for part in message.walk()]


# -- the invitation itself -----------------------------------------------------------


def test_outside_attendees_receive_a_standard_invitation(server, sink):
    invite(server)
    received = sink.wait_for(2)
    statuses = wait_until(lambda: (s := organizer_statuses(server))
                          and s["dave@elsewhere.example"] == "1.2"
                          and s["erin@outlook.example"] == "1.2" and s)
    tokens = dict(server.rows("SELECT attendee, token FROM imip_token"))

    assert sorted(r.recipients[0] for r in received) == sorted(OUTSIDERS)
    assert statuses["bob@kalend.test"] == "1.2"          # delivered locally
    assert {k: v[0] for k, v in outbox(server).items()} == {p: "sent" for p in OUTSIDERS}
    for mail in received:
        message = mail.message
        rcpt = mail.recipients[0]
        assert mail.sender == "calendar@kalend.test"
        assert parts(message) == ["multipart/mixed", "multipart/alternative", "text/plain",
                                  "text/html", "text/calendar", "application/ics"]
        assert message["Subject"].startswith("Invitation: Quarterly planning")
        assert message["To"].addresses[0].addr_spec == rcpt
        assert message["From"].addresses[0].addr_spec == "calendar@kalend.test"
        assert message["Sender"].addresses[0].addr_spec == "calendar@kalend.test"
        assert "Alice Example" in message["From"].addresses[0].display_name
        token = tokens[f"mailto:{rcpt}"]
        assert message["Reply-To"].addresses[0].addr_spec == f"calendar+{token}@kalend.test"
        assert message["Message-ID"] and message["References"]
        calendar_part = next(p for p in message.walk()
                             if p.get_content_type() == "text/calendar")
        assert calendar_part.get_param("method") == "REQUEST"
        itip = icalendar.Calendar.from_ical(calendar_part.get_content())
        event = next(iter(itip.walk("VEVENT")))
        assert str(itip["METHOD"]) == "REQUEST"
        assert str(event["UID"]) == "planning-1@kalend.test"
        assert "SCHEDULE-STATUS" not in calendar_part.get_content()  # RFC 6638 §7.3
        text = next(p for p in message.walk() if p.get_content_type() == "text/plain")
        assert "Room Kepler" in text.get_content()
        assert "Europe/Berlin" in text.get_content()
    # The two outsiders thread on the same event, each with their own token.
    assert len({m.message["References"] for m in received}) == 1
    assert len(set(tokens.values())) == 2


def test_an_update_and_a_cancellation_follow_with_their_subjects(server, sink):
    invite(server)
    sink.wait_for(2)
    invite(server, planning(summary="Quarterly planning (moved)", sequence=1)
               .replace("20261208T100000", "20261209T100000")
               .replace("20261208T113000", "20261209T113000"))
    updated = sink.wait_for(4)[2:]
    deleted = server.request("DELETE", "/alice/default/planning.ics", user=ORGANIZER)
    cancelled = sink.wait_for(6)[4:]

    assert all(m.message["Subject"].startswith("Updated invitation:") for m in updated)
    assert deleted.status_code in (200, 204)
    assert all(m.message["Subject"].startswith("Cancelled:") for m in cancelled)
    methods = {p.get_param("method") for m in cancelled for p in m.message.walk()
               if p.get_content_type() == "text/calendar"}
    assert methods == {"CANCEL"}


# -- faults --------------------------------------------------------------------------


def test_a_temporary_refusal_is_retried_and_sent_once(server, sink):
    sink.handler.script = ["451 4.3.0 mailbox busy, try later"]
    invite(server, planning(attendees=["dave@elsewhere.example"]))
    received = sink.wait_for(1)
    row = wait_until(lambda: outbox(server).get("dave@elsewhere.example", ("",))[0] == "sent"
                     and outbox(server)["dave@elsewhere.example"])

    assert len(received) == 1
    assert sink.handler.attempts == 2
    assert row[:2] == ("sent", 2)
    assert organizer_statuses(server)["dave@elsewhere.example"] == "1.2"


def test_a_permanent_refusal_gives_up_at_once_with_5_3(server, sink):
    sink.handler.refuse_recipients["erin@outlook.example"] = "550 5.1.1 no such mailbox"
    invite(server)
    sink.wait_for(1)
    statuses = wait_until(lambda: (s := organizer_statuses(server))
                          and s["erin@outlook.example"] == "5.3" and s)

    assert [r.recipients for r in sink.received] == [["dave@elsewhere.example"]]
    assert outbox(server)["erin@outlook.example"][:2] == ("failed", 1)
    assert statuses["dave@elsewhere.example"] == "1.2"
    last_error = server.rows("SELECT last_error FROM outbox WHERE recipient = :r",
                             r="mailto:erin@outlook.example")[0][0]
    assert "550" in last_error


def test_temporary_failures_until_the_last_attempt_give_up_with_5_1(server, sink):
    sink.handler.script = ["421 4.7.0 too busy"] * 4
    invite(server, planning(attendees=["dave@elsewhere.example"]))
    wait_until(lambda: outbox(server)["dave@elsewhere.example"][0] == "failed")

    assert sink.received == []
    assert outbox(server)["dave@elsewhere.example"][:2] == ("failed", 4)
    assert wait_until(lambda: organizer_statuses(server)["dave@elsewhere.example"]
                      == "5.1")


def test_an_smtp_server_that_is_down_and_comes_back_gets_each_message_once(
        tmp_path, database_url):
    sink = SmtpSink()             # not started: connections are refused
    server = mail_server(tmp_path, database_url, sink.port, max_attempts=50).start_in_thread()
    try:
        invite(server)
        wait_until(lambda: all(v[1] >= 2 for v in outbox(server).values())
                   and len(outbox(server)) == 2)
        queued_while_down = outbox(server)
        sink.start()
        received = sink.wait_for(2)
        wait_until(lambda: all(v[0] == "sent" for v in outbox(server).values()))
    finally:
        server.stop()
        sink.stop()

    assert all(v[0] in ("queued", "sending") for v in queued_while_down.values())
    assert sorted(r.recipients[0] for r in received) == sorted(OUTSIDERS)
    assert len(sink.received) == 2


def test_a_row_left_sending_by_a_dead_worker_is_sent_after_its_lease(server, sink):
    sink.stop()   # keep the in-process worker from sending while the row is set up
    invite(server, planning(attendees=["dave@elsewhere.example"]))
    with server.engine.begin() as connection:
        connection.execute(text("UPDATE outbox SET status = 'sending', claimed_until = 0"))
    sink.start()
    received = sink.wait_for(1)
    wait_until(lambda: outbox(server)["dave@elsewhere.example"][0] == "sent")

    assert len(received) == 1
    assert len(sink.received) == 1


# -- several workers -----------------------------------------------------------------


def test_several_worker_processes_never_send_a_message_twice(tmp_path, database_url, sink):
    # The server runs without [smtp], so only the worker processes send.
    folder = str(tmp_path / "data")
    quiet = write_config(folder, database_url)
    server = KalendServer(quiet, database_url, folder)
    server.add_user(ORGANIZER, ["alice@kalend.test"])
    server.start_in_thread()
    outsiders = [f"guest{n}@elsewhere.example" for n in range(24)]
    try:
        for n in range(3):
            invite(server, planning(uid=f"many-{n}@kalend.test", attendees=outsiders),
                   href=f"/alice/default/many-{n}.ics")
    finally:
        server.stop()
    sending = write_config(str(tmp_path / "worker"), database_url,
                           extra=imip_config(sink.port))
    start = threading.Barrier(3)

    def worker() -> subprocess.CompletedProcess:
        start.wait()
        return subprocess.run([sys.executable, "-m", "kalend", "worker", "--once",
                               "--config", sending], capture_output=True, text=True,
                              timeout=300)

    results: list[subprocess.CompletedProcess] = []
    threads = [threading.Thread(target=lambda: results.append(worker())) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pairs = [(m.recipients[0], str(m.message["References"])) for m in sink.received]

    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    assert len(pairs) == 72
    assert len(set(pairs)) == 72                       # no message twice
    assert server.rows("SELECT DISTINCT status FROM outbox") == [("sent",)]


def test_without_an_smtp_host_invitations_wait_and_serve_says_so(tmp_path, database_url):
    folder = str(tmp_path / "data")
    config = write_config(folder, database_url)
    server = KalendServer(config, database_url, folder)
    server.add_user(ORGANIZER, ["alice@kalend.test"])
    process = subprocess.Popen(
        [sys.executable, "-m", "kalend", "serve", "--config", config, "--host", "127.0.0.1",
         "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    start_up: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            start_up.append(line)
            if "listening on" in line:
                server.url = line.split("listening on ")[1].split()[0]
                break
        invite(server, planning(attendees=["dave@elsewhere.example"]))
        rows = outbox(server)
    finally:
        process.terminate()
        process.wait(30)
        server.stop()

    said = [line for line in start_up if "wait in the outbox until it is configured" in line]
    assert len(said) == 1 and "[smtp] host" in said[0]
    assert rows["dave@elsewhere.example"][:2] == ("queued", 0)
