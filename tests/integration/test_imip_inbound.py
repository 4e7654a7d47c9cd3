"""iMIP mail arriving through `kalend imip receive`, as an MTA's pipe runs it:
a separate process with the message on stdin and the envelope recipient as
an argument, answering in sysexits codes. On SQLite and PostgreSQL, against
a running server whose calendars are read back over CalDAV as a client
sees them.

Alice (alice@kalend.test) organises the weekly "Project sync" with three
people elsewhere (dave at Google, erin with Outlook, frank with
Thunderbird); their replies arrive by mail at the reply address the
invitation carried (calendar+TOKEN@kalend.test). Bob (bob@kalend.test) is
invited by olga, who organises on Google.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid
from pathlib import Path

import icalendar
import pytest
from kalend_testing import write_config
from scheduling_support import (
    CALENDAR_CONTENT,
    collection_texts,
    components,
    master,
    only_copy,
)
from sqlalchemy import insert
from sqlalchemy import text as sql

from kalend.scheduling.imip_tokens import token_for
from kalend.storage_plugin import schema
from kalend.storage_plugin.transaction import transaction

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "imip"

UID = "imip-test-meeting-1@kalend.test"
ALICE, BOB = "mailto:alice@kalend.test", "mailto:bob@kalend.test"
DAVE, ERIN, FRANK = ("mailto:dave@elsewhere.example", "mailto:erin@outlook.example",
                     "mailto:frank@thunder.example")
ALICE_COPY = "/alice/default/project-sync.ics"
#: The token the reply fixtures are addressed to.
FIXTURE_TOKEN = "0123456789abcdef0123456789abcdef"
OLGA_UID = "5d1q0k2h7v3m9s8b4n6c1x0z2a@google.com"

EX_OK, EX_DATAERR, EX_NOUSER, EX_TEMPFAIL = 0, 65, 67, 75


# -- helpers ------------------------------------------------------------------------


def eml(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def ics(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8").replace("\r\n", "\n").replace(
        "\n", "\r\n")


def kalend_receive(config: str, message: bytes, *recipients: str
                   ) -> subprocess.CompletedProcess:
    """`kalend imip receive` as Postfix's pipe runs it."""
    args = [sys.executable, "-m", "kalend", "imip", "receive", "--config", config]
    for recipient in recipients:
        args += ["--recipient", recipient]
    return subprocess.run(args, input=message, capture_output=True, check=False, timeout=120)


def reply_address(token: str) -> str:
    return f"calendar+{token}@kalend.test"


def make_token(server, attendee: str, uid: str = UID, principal: str = "alice",
               organizer: str = ALICE) -> str:
    """The token the outbound worker creates when it mails the invitation."""
    with transaction(server.engine, "w", [principal]) as connection:
        return token_for(connection, principal, uid, attendee, organizer)


def put(server, user: str, path: str, text: str):
    response = server.request("PUT", path, user=user, body=text, headers=CALENDAR_CONTENT)
    assert response.status_code in (201, 204), response.text
    return response


def get(server, user: str, path: str) -> str:
    response = server.request("GET", path, user=user)
    assert response.status_code == 200, (path, response.status_code)
    return response.text


def instance(text: str, utc: str):
    wanted = dt.datetime.strptime(utc, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    for component in components(text):
        rid = component.get("RECURRENCE-ID")
        if rid is not None and rid.dt.astimezone(dt.UTC) == wanted:
            return component
    return None


def partstat(component, address: str) -> str:
    lines = component.get("ATTENDEE", [])
    for line in lines if isinstance(lines, list) else [lines]:
        if str(line).lower() == address:
            return str(line.params.get("PARTSTAT", "NEEDS-ACTION"))
    raise AssertionError(f"{address} is not an attendee")


def inbox(server, user: str) -> list[tuple[str, str]]:
    """(METHOD, UID) of each message in the user's inbox, read over CalDAV."""
    found = []
    for text in collection_texts(server, user, f"/{user}/inbox/").values():
        calendar = icalendar.Calendar.from_ical(text)
        found.append((str(calendar.get("METHOD")), str(components(text)[0].get("UID"))))
    return sorted(found)


def stored_items(server) -> list[tuple]:
    """Every stored resource with its ETag: the whole calendar state."""
    return server.rows(
        "SELECT c.path, i.href, i.etag FROM item i JOIN collection c ON c.id = i.collection_id "
        "ORDER BY c.path, i.href")


def assert_refused(result: subprocess.CompletedProcess, *reason: str) -> None:
    assert result.returncode == EX_DATAERR, (result.returncode, result.stderr)
    stderr = result.stderr.decode()
    assert "Traceback" not in stderr, stderr
    for piece in reason:
        assert piece in stderr, (piece, stderr)


# -- the set-up ---------------------------------------------------------------------


@pytest.fixture
def team(server):
    server.add_user("alice", ["alice@kalend.test"])
    server.add_user("bob", ["bob@kalend.test"])
    for user in ("alice", "bob"):
        assert server.request("PROPFIND", f"/{user}/", user=user,
                              headers={"Depth": "0"}).status_code == 207
    return server


@pytest.fixture
def meeting(team):
    """Alice's copy of the Project sync, PUT by her client (which queues the
    invitations to the three outside attendees)."""
    put(team, "alice", ALICE_COPY, ics("alice-project-sync-organizer-copy.ics"))
    return team


def database_dump(server) -> dict[str, list[tuple]]:
    """Every row a message could change: each item's text, ETag and
    Schedule-Tag (inbox copies are items too), the change log, each
    collection's sync sequence (the sync token), and the outbox."""
    return {
        "item": server.rows(
            "SELECT c.path, i.href, i.etag, i.schedule_tag, i.text FROM item i "
            "JOIN collection c ON c.id = i.collection_id ORDER BY c.path, i.href"),
        "change": server.rows(
            "SELECT c.path, ch.seq, ch.href, ch.deleted FROM change ch "
            "JOIN collection c ON c.id = ch.collection_id ORDER BY c.path, ch.seq"),
        "collection": server.rows("SELECT path, sync_seq FROM collection ORDER BY path"),
        "outbox": server.rows(
            "SELECT id, method, recipient, uid, status, text FROM outbox ORDER BY id"),
    }


class Snapshot:
    """Alice's copy as she sees it, her inbox, and every row a message could
    change (``database_dump``)."""

    def __init__(self, server) -> None:
        self.copy = get(server, "alice", ALICE_COPY)
        self.inbox = inbox(server, "alice")
        self.rows = database_dump(server)

    def assert_unchanged(self, server) -> None:
        assert get(server, "alice", ALICE_COPY) == self.copy
        assert inbox(server, "alice") == self.inbox
        after = database_dump(server)
        for table, rows in self.rows.items():
            assert after[table] == rows, f"table {table} changed"


# -- replies from outside attendees -------------------------------------------------


def test_google_accept_updates_the_organizer_copy_and_inbox(meeting, server_config):
    token = make_token(meeting, DAVE)
    result = kalend_receive(server_config, eml("google-reply-accepted.eml"),
                            reply_address(token))
    assert result.returncode == EX_OK, result.stderr
    copy = get(meeting, "alice", ALICE_COPY)
    assert partstat(master(copy), DAVE) == "ACCEPTED"
    assert partstat(master(copy), ERIN) == "NEEDS-ACTION"
    assert inbox(meeting, "alice") == [("REPLY", UID)]


def test_outlook_decline_updates_the_organizer_copy(meeting, server_config):
    token = make_token(meeting, ERIN)
    result = kalend_receive(server_config, eml("outlook-reply-declined.eml"),
                            reply_address(token))
    assert result.returncode == EX_OK, result.stderr
    copy = get(meeting, "alice", ALICE_COPY)
    assert partstat(master(copy), ERIN) == "DECLINED"
    assert partstat(master(copy), DAVE) == "NEEDS-ACTION"
    assert inbox(meeting, "alice") == [("REPLY", UID)]


def test_thunderbird_tentative_updates_the_organizer_copy(meeting, server_config):
    token = make_token(meeting, FRANK)
    result = kalend_receive(server_config, eml("thunderbird-reply-tentative.eml"),
                            reply_address(token))
    assert result.returncode == EX_OK, result.stderr
    assert partstat(master(get(meeting, "alice", ALICE_COPY)), FRANK) == "TENTATIVE"
    assert inbox(meeting, "alice") == [("REPLY", UID)]


def test_google_decline_of_one_instance_adds_an_override(meeting, server_config):
    token = make_token(meeting, DAVE)
    result = kalend_receive(server_config, eml("google-reply-one-instance-declined.eml"),
                            reply_address(token))
    assert result.returncode == EX_OK, result.stderr
    copy = get(meeting, "alice", ALICE_COPY)
    declined = instance(copy, "20261215T090000Z")
    assert declined is not None, copy
    assert partstat(declined, DAVE) == "DECLINED"
    assert partstat(master(copy), DAVE) == "NEEDS-ACTION"
    assert instance(copy, "20261208T090000Z") is None


def test_all_three_replies_in_turn(meeting, server_config):
    for attendee, fixture in ((DAVE, "google-reply-accepted.eml"),
                              (ERIN, "outlook-reply-declined.eml"),
                              (FRANK, "thunderbird-reply-tentative.eml")):
        result = kalend_receive(server_config, eml(fixture),
                                reply_address(make_token(meeting, attendee)))
        assert result.returncode == EX_OK, result.stderr
    copy = master(get(meeting, "alice", ALICE_COPY))
    assert [partstat(copy, a) for a in (DAVE, ERIN, FRANK)] == [
        "ACCEPTED", "DECLINED", "TENTATIVE"]
    assert inbox(meeting, "alice") == [("REPLY", UID)] * 3


def test_reply_without_envelope_uses_the_to_address(meeting, server_config):
    with transaction(meeting.engine, "w", ["alice"]) as connection:
        connection.execute(insert(schema.imip_token).values(
            token=FIXTURE_TOKEN, uid=UID, attendee=DAVE, organizer=ALICE,
            principal="alice", created=0.0))
    result = kalend_receive(server_config, eml("google-reply-accepted.eml"))
    assert result.returncode == EX_OK, result.stderr
    assert partstat(master(get(meeting, "alice", ALICE_COPY)), DAVE) == "ACCEPTED"


def test_reply_sent_straight_to_the_organizer_needs_no_token(meeting, server_config):
    result = kalend_receive(server_config, eml("rfc6047-bare-text-calendar-reply.eml"),
                            "alice@kalend.test")
    assert result.returncode == EX_OK, result.stderr
    assert partstat(master(get(meeting, "alice", ALICE_COPY)), DAVE) == "ACCEPTED"


def test_reply_to_an_event_with_local_attendees_refreshes_their_copies(team, server_config):
    with_bob = ics("alice-project-sync-organizer-copy.ics").replace(
        "END:VEVENT", "ATTENDEE;CN=Bob;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:bob@kalend.test"
                      "\r\nEND:VEVENT")
    put(team, "alice", ALICE_COPY, with_bob)
    result = kalend_receive(server_config, eml("google-reply-accepted.eml"),
                            reply_address(make_token(team, DAVE)))
    assert result.returncode == EX_OK, result.stderr
    _, bob_copy = only_copy(team, "bob", UID)
    assert partstat(master(bob_copy), DAVE) == "ACCEPTED"


# -- replies that are refused and change nothing -------------------------------------


def test_reply_from_someone_else_than_the_attendee_is_refused(meeting, server_config):
    token = make_token(meeting, DAVE)
    before = Snapshot(meeting)
    result = kalend_receive(server_config, eml("spoofed-reply-from-mismatch.eml"),
                            reply_address(token))
    assert_refused(result, "mallory@attacker.example", "not the attendee")
    before.assert_unchanged(meeting)


def test_token_of_another_event_is_refused(meeting, server_config):
    other = ics("alice-project-sync-organizer-copy.ics").replace(UID, "other-meeting@kalend.test")
    put(meeting, "alice", "/alice/default/other.ics", other)
    token = make_token(meeting, DAVE, uid="other-meeting@kalend.test")
    make_token(meeting, DAVE)  # dave's real token for the meeting exists as well
    before = Snapshot(meeting)
    result = kalend_receive(server_config, eml("google-reply-accepted.eml"),
                            reply_address(token))
    assert_refused(result, "issued for another event")
    before.assert_unchanged(meeting)


def test_token_of_another_attendee_is_refused(meeting, server_config):
    erins = make_token(meeting, ERIN)
    before = Snapshot(meeting)
    result = kalend_receive(server_config, eml("google-reply-accepted.eml"),
                            reply_address(erins))
    assert_refused(result, "issued for another attendee")
    before.assert_unchanged(meeting)


def test_unknown_token_is_refused(meeting, server_config):
    make_token(meeting, DAVE)
    before = Snapshot(meeting)
    result = kalend_receive(server_config, eml("google-reply-accepted.eml"),
                            reply_address(uuid.uuid4().hex))
    assert_refused(result, "unknown reply address")
    before.assert_unchanged(meeting)


def test_reply_for_an_event_the_user_does_not_organise_is_refused(team, server_config):
    # Bob organises this UID; Alice only attends it. A reply naming Alice as
    # organizer must not touch her copy.
    bobs = ics("alice-project-sync-organizer-copy.ics").replace(
        "ORGANIZER;CN=Alice Example:mailto:alice@kalend.test",
        "ORGANIZER;CN=Bob:mailto:bob@kalend.test").replace(
        "ROLE=CHAIR;PARTSTAT=ACCEPTED", "RSVP=TRUE;PARTSTAT=NEEDS-ACTION")
    put(team, "bob", "/bob/default/project-sync.ics", bobs)
    alice_path, _ = only_copy(team, "alice", UID)
    token = make_token(team, DAVE)
    before_copy = get(team, "alice", alice_path)
    before_items = stored_items(team)
    result = kalend_receive(server_config, eml("google-reply-accepted.eml"),
                            reply_address(token))
    assert_refused(result, "does not organise")
    assert get(team, "alice", alice_path) == before_copy
    assert stored_items(team) == before_items
    assert inbox(team, "alice") == [("REQUEST", UID)]


def test_reply_claiming_to_come_from_a_local_user_is_refused(team, server_config):
    team.add_user("frank", ["frank@thunder.example"])
    put(team, "alice", ALICE_COPY, ics("alice-project-sync-organizer-copy.ics"))
    token = make_token(team, FRANK)
    before = Snapshot(team)
    result = kalend_receive(server_config, eml("thunderbird-reply-tentative.eml"),
                            reply_address(token))
    assert_refused(result, "frank@thunder.example is a user of this server")
    before.assert_unchanged(team)


def test_oversized_message_is_refused(meeting, tmp_path, database_url):
    small = write_config(str(tmp_path / "small"), database_url,
                         extra="[imip]\nmax_message_size = 2000\n")
    token = make_token(meeting, DAVE)
    before = Snapshot(meeting)
    result = kalend_receive(small, eml("google-reply-accepted.eml"), reply_address(token))
    assert_refused(result, "larger than 2000")
    before.assert_unchanged(meeting)


def test_malformed_icalendar_is_refused(meeting, server_config):
    token = make_token(meeting, DAVE)
    before = Snapshot(meeting)
    result = kalend_receive(server_config, eml("malformed-icalendar.eml"), reply_address(token))
    assert_refused(result, "malformed iCalendar")
    before.assert_unchanged(meeting)


def test_several_methods_are_refused(meeting, server_config):
    token = make_token(meeting, DAVE)
    before = Snapshot(meeting)
    result = kalend_receive(server_config, eml("several-methods.eml"), reply_address(token))
    assert_refused(result, "several METHOD")
    before.assert_unchanged(meeting)


def test_mail_that_is_not_imip_is_accepted_and_ignored(meeting, server_config):
    token = make_token(meeting, DAVE)
    before = Snapshot(meeting)
    result = kalend_receive(server_config, eml("not-imip-plain-text.eml"), reply_address(token))
    assert result.returncode == EX_OK, result.stderr
    before.assert_unchanged(meeting)


# -- invitations from organizers elsewhere ------------------------------------------------


def test_request_from_outside_reaches_inbox_and_calendar_then_cancel(team, server_config):
    result = kalend_receive(server_config, eml("google-request-from-outside-organizer.eml"),
                            "bob@kalend.test")
    assert result.returncode == EX_OK, result.stderr
    assert inbox(team, "bob") == [("REQUEST", OLGA_UID)]
    _, copy = only_copy(team, "bob", OLGA_UID)
    event = master(copy)
    assert str(event["SUMMARY"]) == "Vendor review"
    assert str(event["ORGANIZER"]).lower() == "mailto:olga@elsewhere.example"
    assert partstat(event, BOB) == "NEEDS-ACTION"

    result = kalend_receive(server_config, eml("google-cancel-from-outside-organizer.eml"),
                            "bob@kalend.test")
    assert result.returncode == EX_OK, result.stderr
    _, copy = only_copy(team, "bob", OLGA_UID)
    assert str(master(copy)["STATUS"]) == "CANCELLED"
    assert inbox(team, "bob") == [("CANCEL", OLGA_UID), ("REQUEST", OLGA_UID)]


def test_request_without_envelope_goes_to_the_local_to_address(team, server_config):
    result = kalend_receive(server_config, eml("google-request-from-outside-organizer.eml"))
    assert result.returncode == EX_OK, result.stderr
    assert inbox(team, "bob") == [("REQUEST", OLGA_UID)]
    assert inbox(team, "alice") == []


def test_request_taking_over_a_local_event_is_refused(meeting, server_config):
    before = Snapshot(meeting)
    result = kalend_receive(server_config, eml("request-taking-over-local-event.eml"),
                            "alice@kalend.test")
    assert_refused(result, "organised by someone else")
    before.assert_unchanged(meeting)


def test_request_claiming_a_local_organizer_is_refused(team, server_config):
    before = stored_items(team)
    result = kalend_receive(server_config, eml("request-claiming-local-organizer.eml"),
                            "bob@kalend.test")
    assert_refused(result, "alice@kalend.test is a user of this server")
    assert stored_items(team) == before
    assert inbox(team, "bob") == []


def test_request_for_an_unknown_recipient_is_no_such_user(team, server_config):
    before = stored_items(team)
    result = kalend_receive(server_config, eml("google-request-from-outside-organizer.eml"),
                            "nobody@kalend.test")
    assert result.returncode == EX_NOUSER, result.stderr
    assert b"no recipient" in result.stderr
    assert stored_items(team) == before


# -- other methods --------------------------------------------------------------------------


def test_counter_lands_in_the_organizer_inbox_only(meeting, server_config):
    token = make_token(meeting, ERIN)
    copy_before = get(meeting, "alice", ALICE_COPY)
    result = kalend_receive(server_config, eml("outlook-counter-new-time-proposed.eml"),
                            reply_address(token))
    assert result.returncode == EX_OK, result.stderr
    assert inbox(meeting, "alice") == [("COUNTER", UID)]
    assert get(meeting, "alice", ALICE_COPY) == copy_before


# -- the database ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://postgres@127.0.0.1:5432/kalend_no_such_database",
    "postgresql+psycopg://postgres@127.0.0.1:1/kalend",
], ids=["missing-database", "nothing-listening"])
def test_database_down_is_a_temporary_failure(tmp_path, url):
    config = write_config(str(tmp_path / "down"), url)
    result = kalend_receive(config, eml("google-reply-accepted.eml"),
                            reply_address(FIXTURE_TOKEN))
    assert result.returncode == EX_TEMPFAIL, result.stderr
    assert b"Traceback" not in result.stderr
    assert b"kalend:" in result.stderr


def test_usage_error_exits_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "kalend", "imip", "receive", "--bogus"],
                            input=b"", capture_output=True, check=False)
    assert result.returncode == 2


PUBLISHED = b"""From: Dave Example <dave@elsewhere.example>\r
To: alice@kalend.test\r
Subject: Our holidays\r
MIME-Version: 1.0\r
Message-ID: <publish-0009@elsewhere.example>\r
Content-Type: text/calendar; method=PUBLISH; charset=UTF-8\r
\r
BEGIN:VCALENDAR\r
PRODID:-//Example/ExampleCalendarClient//EN\r
METHOD:PUBLISH\r
VERSION:2.0\r
BEGIN:VEVENT\r
UID:holiday-2026-12-24@elsewhere.example\r
DTSTAMP:20261118T120000Z\r
DTSTART;VALUE=DATE:20261224\r
SUMMARY:Office closed\r
ORGANIZER:mailto:dave@elsewhere.example\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_published_calendar_by_mail_is_ignored(meeting, server_config):
    before = Snapshot(meeting)
    result = kalend_receive(server_config, PUBLISHED, "alice@kalend.test")
    assert result.returncode == EX_OK, result.stderr
    before.assert_unchanged(meeting)


# -- who the reply was delivered to ----------------------------------------------------
# The address the MTA delivered a reply to (the envelope recipient) binds it to
# an organizer and an event: a reply token, or the organizer's own address for
# an event whose invitations carried none. The ORGANIZER in the body never
# does on its own.

#: The fixture that needs no MIME decoding, so tests can write variants of it.
BARE_REPLY = "rfc6047-bare-text-calendar-reply.eml"
BARE_TO = "To: calendar+0123456789abcdef0123456789abcdef@kalend.test"


def edited(name: str, *changes: tuple[str, str]) -> bytes:
    """The fixture ``name`` with each (old, new) text replaced; each must occur."""
    raw = eml(name)
    for old, new in changes:
        assert old.encode() in raw, old
        raw = raw.replace(old.encode(), new.encode())
    return raw


def test_reply_without_token_to_an_unrelated_address_is_no_such_user(meeting, server_config):
    make_token(meeting, DAVE)
    before = Snapshot(meeting)
    result = kalend_receive(server_config, eml("google-reply-accepted.eml"),
                            "nobody@example.org")
    assert result.returncode == EX_NOUSER, result.stderr
    assert b"nobody@example.org" in result.stderr
    before.assert_unchanged(meeting)


def test_reply_without_token_to_another_local_user_is_refused(meeting, server_config):
    make_token(meeting, DAVE)
    before = Snapshot(meeting)
    result = kalend_receive(server_config, eml("google-reply-accepted.eml"), "bob@kalend.test")
    assert_refused(result, "does not organise")
    before.assert_unchanged(meeting)
    assert inbox(meeting, "bob") == []


def test_reply_to_the_organizer_address_is_refused_once_a_reply_address_was_issued(
        meeting, server_config):
    make_token(meeting, DAVE)  # dave's invitation carried calendar+TOKEN@kalend.test
    before = Snapshot(meeting)
    result = kalend_receive(server_config, eml(BARE_REPLY), "alice@kalend.test")
    assert_refused(result, "reply address")
    before.assert_unchanged(meeting)


def test_reply_piped_without_recipient_to_the_organizer_address_is_refused(
        meeting, server_config):
    # No envelope: the To: header is the sender's word, and it names no token.
    before = Snapshot(meeting)
    result = kalend_receive(server_config,
                            edited(BARE_REPLY, (BARE_TO, "To: alice@kalend.test")))
    assert_refused(result, "--recipient")
    before.assert_unchanged(meeting)


def test_counter_without_token_to_an_unrelated_address_is_no_such_user(meeting, server_config):
    make_token(meeting, ERIN)
    before = Snapshot(meeting)
    result = kalend_receive(server_config, eml("outlook-counter-new-time-proposed.eml"),
                            "nobody@example.org")
    assert result.returncode == EX_NOUSER, result.stderr
    before.assert_unchanged(meeting)


# -- answers out of order, and messages delivered twice --------------------------------


def dave_answers(partstat: str, dtstamp: str, message_id: str,
                 recurrence_id: str | None = None) -> bytes:
    """Dave's reply (the bare fixture) with another answer, DTSTAMP and Message-ID,
    for the whole series or for one instance."""
    changes = [("PARTSTAT=ACCEPTED", f"PARTSTAT={partstat}"),
               ("DTSTAMP:20261117T120000Z", f"DTSTAMP:{dtstamp}"),
               ("<4.1-reply-0001@elsewhere.example>", f"<{message_id}@elsewhere.example>")]
    if recurrence_id is not None:
        changes.append(("SEQUENCE:0", f"SEQUENCE:0\r\nRECURRENCE-ID:{recurrence_id}"))
    return edited(BARE_REPLY, *changes)


def test_older_reply_does_not_overwrite_a_newer_answer(meeting, server_config):
    address = reply_address(make_token(meeting, DAVE))
    newer = kalend_receive(server_config, dave_answers("ACCEPTED", "20261117T120000Z", "a"),
                           address)
    assert newer.returncode == EX_OK, newer.stderr
    before = Snapshot(meeting)
    older = kalend_receive(server_config, dave_answers("DECLINED", "20261117T090000Z", "b"),
                           address)
    assert older.returncode == EX_OK, older.stderr
    before.assert_unchanged(meeting)
    assert partstat(master(get(meeting, "alice", ALICE_COPY)), DAVE) == "ACCEPTED"


def test_older_reply_for_one_instance_does_not_overwrite_a_newer_one(meeting, server_config):
    address = reply_address(make_token(meeting, DAVE))
    newer = kalend_receive(server_config, dave_answers("DECLINED", "20261117T120000Z", "a",
                                                       "20261215T090000Z"), address)
    assert newer.returncode == EX_OK, newer.stderr
    before = Snapshot(meeting)
    older = kalend_receive(server_config, dave_answers("ACCEPTED", "20261117T090000Z", "b",
                                                       "20261215T090000Z"), address)
    assert older.returncode == EX_OK, older.stderr
    before.assert_unchanged(meeting)
    assert partstat(instance(get(meeting, "alice", ALICE_COPY), "20261215T090000Z"),
                    DAVE) == "DECLINED"


def test_identical_reply_delivered_again_changes_nothing(meeting, server_config):
    address = reply_address(make_token(meeting, DAVE))
    first = kalend_receive(server_config, eml("google-reply-accepted.eml"), address)
    assert first.returncode == EX_OK, first.stderr
    before = Snapshot(meeting)
    again = kalend_receive(server_config, eml("google-reply-accepted.eml"), address)
    assert again.returncode == EX_OK, again.stderr
    before.assert_unchanged(meeting)
    assert inbox(meeting, "alice") == [("REPLY", UID)]


def test_same_answer_under_a_new_message_id_changes_nothing(meeting, server_config):
    address = reply_address(make_token(meeting, DAVE))
    first = kalend_receive(server_config, eml("google-reply-accepted.eml"), address)
    assert first.returncode == EX_OK, first.stderr
    before = Snapshot(meeting)
    resent = edited("google-reply-accepted.eml",
                    ("<calendar-5b0c1e7a", "<resent-calendar-5b0c1e7a"))
    again = kalend_receive(server_config, resent, address)
    assert again.returncode == EX_OK, again.stderr
    before.assert_unchanged(meeting)


def test_repeated_message_id_changes_nothing_even_with_another_answer(meeting, server_config):
    address = reply_address(make_token(meeting, DAVE))
    first = kalend_receive(server_config, dave_answers("ACCEPTED", "20261117T120000Z", "m"),
                           address)
    assert first.returncode == EX_OK, first.stderr
    before = Snapshot(meeting)
    replayed = kalend_receive(server_config, dave_answers("DECLINED", "20261117T130000Z", "m"),
                              address)
    assert replayed.returncode == EX_OK, replayed.stderr
    before.assert_unchanged(meeting)


def test_counter_delivered_again_lands_in_the_inbox_once(meeting, server_config):
    address = reply_address(make_token(meeting, ERIN))
    first = kalend_receive(server_config, eml("outlook-counter-new-time-proposed.eml"), address)
    assert first.returncode == EX_OK, first.stderr
    before = Snapshot(meeting)
    again = kalend_receive(server_config, eml("outlook-counter-new-time-proposed.eml"), address)
    assert again.returncode == EX_OK, again.stderr
    before.assert_unchanged(meeting)
    assert inbox(meeting, "alice") == [("COUNTER", UID)]


def test_invitation_from_outside_delivered_again_changes_nothing(team, server_config):
    first = kalend_receive(server_config, eml("google-request-from-outside-organizer.eml"),
                           "bob@kalend.test")
    assert first.returncode == EX_OK, first.stderr
    before = database_dump(team)
    again = kalend_receive(server_config, eml("google-request-from-outside-organizer.eml"),
                           "bob@kalend.test")
    assert again.returncode == EX_OK, again.stderr
    assert database_dump(team) == before
    assert inbox(team, "bob") == [("REQUEST", OLGA_UID)]


def test_remembered_message_ids_are_forgotten_after_the_retention(meeting, server_config):
    address = reply_address(make_token(meeting, DAVE))
    first = kalend_receive(server_config, eml("google-reply-accepted.eml"), address)
    assert first.returncode == EX_OK, first.stderr
    assert meeting.count("imip_seen_message") == 1
    with meeting.engine.begin() as connection:  # received 31 days ago: past the 30 kept
        connection.execute(sql("UPDATE imip_seen_message SET received = received - :age"),
                           {"age": 31 * 86400.0})
    maintained = subprocess.run([sys.executable, "-m", "kalend", "maintain", "--config",
                                 server_config], capture_output=True, check=False, timeout=120)
    assert maintained.returncode == 0, maintained.stderr
    assert meeting.count("imip_seen_message") == 0
    # Forgotten, the message is still harmless: applying it again changes nothing.
    before = Snapshot(meeting)
    again = kalend_receive(server_config, eml("google-reply-accepted.eml"), address)
    assert again.returncode == EX_OK, again.stderr
    before.assert_unchanged(meeting)


# -- hostile invitations from outside (issue 15: bounded work) -----------------------


def outside_request_with(change) -> bytes:
    """Google's invitation from outside with its calendar part changed by
    ``change`` (text in, text out)."""
    import email
    from email import policy as email_policy

    message = email.message_from_bytes(eml("google-request-from-outside-organizer.eml"),
                                       policy=email_policy.default)
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            text = change(part.get_content())
            part.set_content(text, subtype="calendar", params={"method": "REQUEST"},
                             cte="base64")
    return message.as_bytes()


@pytest.mark.parametrize(("change", "reason"), [
    pytest.param(lambda text: text.replace("UID:", "RRULE:FREQ=SECONDLY\r\nUID:", 1),
                 "too many instances", id="endless-secondly-rule"),
    pytest.param(lambda text: text.replace("UID:", "RRULE:FREQ=DAILY;INTERVAL=0\r\nUID:", 1),
                 "INTERVAL=0", id="interval-0"),
    pytest.param(lambda text: text.replace(
        "UID:", "".join(f"ATTENDEE:mailto:guest{i}@elsewhere.example\r\n"
                        for i in range(1001)) + "UID:", 1),
        "more than 1000 attendees", id="1001-attendees"),
    pytest.param(lambda text: text.replace("UID:", "RDATE:00010101T000000Z\r\nUID:", 1),
                 "year 1", id="year-1"),
])
def test_hostile_invitation_from_outside_is_refused_and_changes_nothing(team, server_config,
                                                                         change, reason):
    before = database_dump(team)
    result = kalend_receive(server_config, outside_request_with(change), "bob@kalend.test")
    assert_refused(result, reason)
    assert database_dump(team) == before
