"""No request can make kalend work without bound (issue 15, points 1 and 5).

Each finding of the outside attack is replayed against the real server on
SQLite and PostgreSQL: the request is answered with the 4xx its RFC gives,
nothing is written (the tables are compared before and after), and a write
by another user started meanwhile succeeds. The ceilings are generous (the
client gives up after two minutes): before the fix these requests never got
an answer and every other write failed with "database is locked"; the tests
assert the outcome, not a duration.
"""

from __future__ import annotations

import datetime as dt
import threading
import xml.etree.ElementTree as ET

import pytest
from dav_support import CALDAV, DAV, clark
from kalend_testing import write_config
from table_snapshots import assert_unchanged, snapshot

#: The client's patience for one request: far beyond what any of them takes
#: now, short enough that a request that never ends fails the test.
CEILING = 120

MKCALENDAR = """<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:set><D:prop><D:displayname>Work</D:displayname></D:prop></D:set>
</C:mkcalendar>"""

TEXT_CALENDAR = {"Content-Type": "text/calendar; charset=utf-8"}


def calendar(*components: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//kalend tests//EN\r\n"
            + "".join(components) + "END:VCALENDAR\r\n")


def vevent(uid: str, *lines: str, start: str = "20261123T100000Z",
           end: str = "20261123T110000Z") -> str:
    body = [f"UID:{uid}", "DTSTAMP:20261101T090000Z", f"DTSTART:{start}", f"DTEND:{end}",
            "SUMMARY:Planning", *lines]
    return "BEGIN:VEVENT\r\n" + "\r\n".join(body) + "\r\nEND:VEVENT\r\n"


@pytest.fixture
def server_config(tmp_path, database_url: str) -> str:
    """The production sizes: max_content_length 20 MB (Radicale's default is
    100 MB), so max_resource_size keeps its default of 10 MB."""
    return write_config(str(tmp_path / "data"), database_url,
                        server={"max_content_length": "20000000"})


@pytest.fixture
def two_users(server):
    """alice and bob, each with a calendar; alice's holds one event."""
    for user in ("alice", "bob"):
        server.add_user(user)
        response = server.request("MKCALENDAR", f"/{user}/cal/", user=user, body=MKCALENDAR)
        assert response.status_code == 201, response.text
    response = server.request("PUT", "/alice/cal/existing.ics", user="alice",
                              body=calendar(vevent("existing-1")), headers=TEXT_CALENDAR)
    assert response.status_code == 201, response.text
    return server


def put_while_bob_writes(server, path: str, body: str | bytes, extra_headers=None):
    """alice's PUT of ``body``, and, started while it runs, bob's PUT of a
    plain event into his own calendar; returns (alice's answer, bob's)."""
    answers: dict[str, object] = {}
    headers = {**TEXT_CALENDAR, **(extra_headers or {})}

    def alice() -> None:
        answers["alice"] = server.request("PUT", path, user="alice", body=body,
                                          headers=headers)

    def bob() -> None:
        answers["bob"] = server.request("PUT", "/bob/cal/meanwhile.ics", user="bob",
                                        body=calendar(vevent("bob-meanwhile")),
                                        headers=TEXT_CALENDAR)

    first = threading.Thread(target=alice, daemon=True)
    first.start()
    first.join(0.2)
    second = threading.Thread(target=bob, daemon=True)
    second.start()
    first.join(CEILING)
    second.join(CEILING)
    assert "alice" in answers, "alice's PUT got no answer"
    assert "bob" in answers, "bob's PUT got no answer while alice's ran"
    return answers["alice"], answers["bob"]


def error_elements(response) -> set[str]:
    """The precondition elements of a DAV:error body."""
    root = ET.fromstring(response.content)
    assert root.tag == clark(DAV, "error"), response.text
    return {child.tag for child in root}


def without_bob(before: dict) -> dict:
    return before


def assert_refused_alone(server, before, answer, bob, status: int, precondition: str):
    assert answer.status_code == status, answer.text
    assert clark(CALDAV, precondition) in error_elements(answer), answer.text
    assert bob.status_code == 201, bob.text
    after = snapshot(server)
    for table in ("item", "occurrence"):
        mine = [row for row in after[table] if not row[0].startswith("bob/")]
        assert mine == before[table], f"table {table} changed"


# -- degenerate recurrence rules ------------------------------------------------

REFUSED_RULES = [
    # RFC 5545 §3.3.10 does not allow them: 400 CALDAV:valid-calendar-data.
    pytest.param("FREQ=DAILY;INTERVAL=0", 400, "valid-calendar-data", id="interval-0"),
    pytest.param("FREQ=DAILY;COUNT=0", 400, "valid-calendar-data", id="count-0"),
    pytest.param("FREQ=HOURLY;BYHOUR=25", 400, "valid-calendar-data", id="byhour-25"),
    pytest.param("FREQ=MONTHLY;BYDAY=6MO", 400, "valid-calendar-data", id="sixth-monday"),
    # Allowed, but never an instance: the library walked to the year 9999.
    pytest.param("FREQ=HOURLY;BYSETPOS=-366,366;BYHOUR=1", 400, "valid-calendar-data",
                 id="bysetpos-past-the-hour"),
    pytest.param("FREQ=HOURLY;BYSETPOS=2", 400, "valid-calendar-data", id="bysetpos-2-hourly"),
    pytest.param("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", 400, "valid-calendar-data",
                 id="february-30"),
    # Open-ended sub-daily rules: more instances than max_instances_per_object.
    pytest.param("FREQ=SECONDLY", 403, "max-instances", id="secondly"),
    pytest.param("FREQ=MINUTELY", 403, "max-instances", id="minutely"),
    pytest.param("FREQ=HOURLY", 403, "max-instances", id="hourly"),
    # Never an instance, found out only by walking: bounded by the budget.
    pytest.param("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=6", 403, "max-instances",
                 id="sixth-monday-by-setpos"),
    pytest.param("FREQ=DAILY;INTERVAL=7;BYDAY=MO", 403, "max-instances",
                 id="every-7-days-from-a-tuesday-on-mondays"),
]


@pytest.mark.parametrize(("rule", "status", "precondition"), REFUSED_RULES)
def test_degenerate_rule_is_refused_while_other_writes_go_on(two_users, rule, status,
                                                               precondition):
    before = snapshot(two_users)
    # 2026-11-24 is a Tuesday.
    body = calendar(vevent("degenerate-1", f"RRULE:{rule}", start="20261124T100000Z",
                           end="20261124T110000Z"))
    answer, bob = put_while_bob_writes(two_users, "/alice/cal/degenerate.ics", body)
    assert_refused_alone(two_users, before, answer, bob, status, precondition)


def test_degenerate_rule_in_an_update_leaves_the_stored_version(two_users):
    before = snapshot(two_users)
    response = two_users.request(
        "PUT", "/alice/cal/existing.ics", user="alice", headers=TEXT_CALENDAR,
        body=calendar(vevent("existing-1", "RRULE:FREQ=SECONDLY")))
    assert response.status_code == 403, response.text
    assert_unchanged(two_users, before)


def test_a_rule_with_many_yearly_instances_is_still_accepted(two_users):
    """The bounds leave real series alone: a birthday since 1900, a daily
    stand-up for three years, the last Friday of every month for ever."""
    for uid, rule, start in [
            ("birthday", "FREQ=YEARLY", "19000312T000000Z"),
            ("standup", "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;UNTIL=20291231T000000Z",
             "20261123T090000Z"),
            ("last-friday", "FREQ=MONTHLY;BYDAY=FR;BYSETPOS=-1", "20261127T150000Z")]:
        response = two_users.request(
            "PUT", f"/alice/cal/{uid}.ics", user="alice", headers=TEXT_CALENDAR,
            body=calendar(vevent(uid, f"RRULE:{rule}", start=start,
                                 end=start[:9] + "235959Z")))
        assert response.status_code == 201, (uid, response.text)


# -- huge and many-part objects ---------------------------------------------------


def overrides(uid: str, count: int) -> list[str]:
    first = dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)
    parts = []
    for day in range(count):
        instance = first + dt.timedelta(days=day)
        parts.append(vevent(uid, f"RECURRENCE-ID:{instance:%Y%m%dT%H%M%SZ}",
                            start=f"{instance + dt.timedelta(hours=1):%Y%m%dT%H%M%SZ}",
                            end=f"{instance + dt.timedelta(hours=2):%Y%m%dT%H%M%SZ}"))
    return parts


def test_ten_thousand_overridden_instances_are_refused_before_parsing(two_users):
    body = calendar(vevent("many-1", "RRULE:FREQ=DAILY;COUNT=10000"),
                    *overrides("many-1", 10_000))
    before = snapshot(two_users)
    answer, bob = put_while_bob_writes(two_users, "/alice/cal/many.ics", body)
    assert_refused_alone(two_users, before, answer, bob, 403, "max-instances")


def test_a_thousand_attendees_are_accepted_and_one_more_is_refused(two_users):
    organizer = "ORGANIZER:mailto:alice@example.org"

    def meeting(count: int) -> str:
        attendees = [f"ATTENDEE;CN=Guest {i};PARTSTAT=NEEDS-ACTION;RSVP=TRUE:"
                     f"mailto:guest{i}@elsewhere.example" for i in range(count)]
        return calendar(vevent("all-hands", organizer, *attendees))

    before = snapshot(two_users)
    answer, bob = put_while_bob_writes(two_users, "/alice/cal/all-hands.ics", meeting(1001))
    assert_refused_alone(two_users, before, answer, bob, 403, "max-attendees-per-instance")
    response = two_users.request("PUT", "/alice/cal/all-hands.ics", user="alice",
                                 body=meeting(1000), headers=TEXT_CALENDAR)
    assert response.status_code == 201, response.text
    queued = two_users.rows("SELECT COUNT(*) FROM outbox WHERE uid = 'all-hands'")[0][0]
    assert queued == 1000


def test_a_five_thousand_attendee_invitation_is_refused_at_once(two_users):
    attendees = [f"ATTENDEE:mailto:guest{i}@elsewhere.example" for i in range(5000)]
    before = snapshot(two_users)
    answer, bob = put_while_bob_writes(
        two_users, "/alice/cal/huge.ics",
        calendar(vevent("huge-1", "ORGANIZER:mailto:alice@example.org", *attendees)))
    assert_refused_alone(two_users, before, answer, bob, 403, "max-attendees-per-instance")


def test_a_property_over_max_property_length_is_refused(two_users):
    # 1.2 MB: under max_resource_size (10 MB), over the default
    # max_property_length of 1 MiB.
    body = calendar(vevent("long-1", "DESCRIPTION:" + "x" * 1_200_000))
    before = snapshot(two_users)
    answer, bob = put_while_bob_writes(two_users, "/alice/cal/long.ics", body)
    assert_refused_alone(two_users, before, answer, bob, 403, "max-resource-size")


def test_an_object_over_max_resource_size_is_refused_unparsed(two_users):
    # 12 MB, under max_content_length (20 MB) and over max_resource_size
    # (10 MB): before, parsed for about 40 s, then answered 412.
    lines = ["COMMENT:" + "y" * 70] * 150_000
    body = calendar(vevent("big-1", *lines))
    assert 10_000_000 < len(body) < 20_000_000
    before = snapshot(two_users)
    answer, bob = put_while_bob_writes(two_users, "/alice/cal/big.ics", body)
    assert_refused_alone(two_users, before, answer, bob, 403, "max-resource-size")


def test_a_body_over_max_content_length_gets_413_before_it_is_sent(two_users):
    """Radicale's own check: answered from the headers, the body never read."""
    import http.client
    import urllib.parse
    from base64 import b64encode

    from kalend_testing import PASSWORD

    parsed = urllib.parse.urlsplit(two_users.url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=CEILING)
    try:
        connection.putrequest("PUT", "/alice/cal/huge-body.ics")
        connection.putheader("Authorization",
                             "Basic " + b64encode(f"alice:{PASSWORD}".encode()).decode())
        connection.putheader("Content-Type", "text/calendar")
        connection.putheader("Content-Length", str(50_000_000))
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413
    finally:
        connection.close()


# -- the write lock holds no parsing ------------------------------------------------


def test_a_put_parses_and_expands_nothing_while_it_holds_the_write_lock(two_users,
                                                                        monkeypatch):
    """Every parse (vobject's for Radicale, icalendar's for kalend) and every
    expansion of a PUT's object happens before its write transaction; a
    recording of each call says whether a write transaction was open."""
    import radicale.item as radicale_item

    from kalend.storage_plugin import occurrences, transaction

    calls: list[tuple[str, bool]] = []

    def recorded(name, original):
        def call(*args, **kwargs):
            active = transaction._current.get()
            calls.append((name, active is not None and active.mode == "w"))
            return original(*args, **kwargs)
        return call

    monkeypatch.setattr(radicale_item, "read_components",
                        recorded("vobject parse", radicale_item.read_components))
    monkeypatch.setattr(occurrences, "parse", recorded("icalendar parse", occurrences.parse))
    monkeypatch.setattr(occurrences, "expand_for_storage",
                        recorded("expansion", occurrences.expand_for_storage))
    for href, uid in (("weekly.ics", "weekly-1"), ("existing.ics", "existing-1")):
        body = calendar(vevent(uid, "RRULE:FREQ=WEEKLY;COUNT=30"))
        response = two_users.request("PUT", f"/alice/cal/{href}", user="alice", body=body,
                                     headers=TEXT_CALENDAR)
        assert response.status_code in (201, 204), response.text
    assert {name for name, _ in calls} == {"vobject parse", "icalendar parse", "expansion"}
    assert [name for name, locked in calls if locked] == []
