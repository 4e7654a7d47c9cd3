"""The database away, a lock held too long, a request past its deadline:
answered 503 with Retry-After, the request alone fails, and kalend recovers
by itself (issue 15, point 1 and 3).

Clients and proxies retry a 503 that says when; a 500 says the server is
broken. The PostgreSQL outage runs on a cluster the test starts and stops
itself (``private_postgres``), so the shared test server stays up.
"""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
from kalend_testing import KalendServer, reset_database, write_config
from private_postgres import PrivateCluster
from sqlalchemy import create_engine, text
from table_snapshots import snapshot

from kalend.server import users

EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//kalend tests//EN\r\n"
         "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T090000Z\r\n"
         "DTSTART:20261123T100000Z\r\nDTEND:20261123T110000Z\r\n{extra}"
         "SUMMARY:Planning\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
TEXT_CALENDAR = {"Content-Type": "text/calendar; charset=utf-8"}
WEEK_QUERY = ('<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" '
              'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>'
              '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
              '<C:time-range start="20261101T000000Z" end="20261201T000000Z"/>'
              "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>")

#: The requests a client sends in a day, each of which must get 503.
EVERYDAY_REQUESTS = [
    ("PROPFIND", "/alice/cal/", None, {"Depth": "1"}),
    ("REPORT", "/alice/cal/", WEEK_QUERY, {"Depth": "1"}),
    ("GET", "/alice/cal/kept.ics", None, {}),
    ("PUT", "/alice/cal/during.ics", EVENT.format(uid="during", extra=""), TEXT_CALENDAR),
    ("DELETE", "/alice/cal/kept.ics", None, {}),
]


def assert_retry_later(response) -> None:
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert int(response.headers["Retry-After"]) > 0


@pytest.fixture
def private_cluster():
    cluster = PrivateCluster().init()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.remove()


def test_postgresql_outage_answers_503_and_kalend_recovers_by_itself(tmp_path,
                                                                      private_cluster):
    url = private_cluster.create_database("kalend")
    reset_database(url)
    folder = str(tmp_path / "data")
    server = KalendServer(write_config(folder, url, extra="[auth]\ndelay = 0\n"), url, folder)
    server.start_in_thread()
    try:
        server.add_user("alice")
        assert server.request("MKCALENDAR", "/alice/cal/", user="alice").status_code == 201
        assert server.request("PUT", "/alice/cal/kept.ics", user="alice",
                              body=EVENT.format(uid="kept", extra=""),
                              headers=TEXT_CALENDAR).status_code == 201
        server.engine.dispose()
        private_cluster.stop("immediate")
        for method, path, body, headers in EVERYDAY_REQUESTS:
            assert_retry_later(server.request(method, path, user="alice", body=body,
                                              headers=headers))
        private_cluster.start()
        deadline = time.monotonic() + 60
        while True:
            response = server.request("PROPFIND", "/alice/cal/", user="alice",
                                      headers={"Depth": "1"})
            if response.status_code == 207 or time.monotonic() > deadline:
                break
            assert_retry_later(response)
            time.sleep(0.5)
        assert response.status_code == 207, response.text
        # What was acknowledged before is there; what was refused is not.
        assert server.request("GET", "/alice/cal/kept.ics", user="alice").status_code == 200
        assert server.request("GET", "/alice/cal/during.ics", user="alice").status_code == 404
        assert server.request("PUT", "/alice/cal/after.ics", user="alice",
                              body=EVENT.format(uid="after", extra=""),
                              headers=TEXT_CALENDAR).status_code == 201
    finally:
        server.stop()


@contextlib.contextmanager
def sqlite_write_lock_held(url: str):
    """Another program holding SQLite's write lock (BEGIN IMMEDIATE)."""
    engine = create_engine(url)
    connection = engine.raw_connection()
    try:
        connection.isolation_level = None
        connection.execute("BEGIN IMMEDIATE")
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()
        engine.dispose()


@contextlib.contextmanager
def postgresql_collection_lock_held(url: str, scope: str):
    """Another kalend process writing the collection ``scope`` meanwhile."""
    from kalend.storage_plugin.transaction import advisory_key

    engine = create_engine(url)
    with engine.connect() as connection, connection.begin():
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                           {"k": advisory_key(scope)})
        yield
    engine.dispose()


@contextlib.contextmanager
def server_with_limits(tmp_path, database_url: str, limits: str):
    """A server whose [limits] are ``limits``, alice and bob with a calendar each."""
    folder = str(tmp_path / "data")
    config = write_config(folder, database_url,
                          extra=f"[auth]\ndelay = 0\n\n[limits]\n{limits}")
    server = KalendServer(config, database_url, folder).start_in_thread()
    try:
        for user in ("alice", "bob"):
            server.add_user(user)
            assert server.request("MKCALENDAR", f"/{user}/cal/", user=user).status_code == 201
        yield server
    finally:
        server.stop()


@pytest.fixture
def two_calendars(tmp_path, database_url):
    """A write waits one second for another's lock."""
    with server_with_limits(tmp_path, database_url, "lock_wait = 1\n") as server:
        yield server


@pytest.fixture
def short_deadline(tmp_path, database_url):
    """A request may work four seconds; a write waits for a lock longer
    than that, so that on SQLite, whose writers queue, bob's write waits for
    the stopped request instead of giving up first."""
    with server_with_limits(tmp_path, database_url,
                            "request_deadline = 4\nlock_wait = 20\n") as server:
        yield server


def test_a_write_that_waits_out_the_lock_gets_503_and_changes_nothing(two_calendars,
                                                                       database_kind):
    server = two_calendars
    holding = (sqlite_write_lock_held(server.database_url) if database_kind == "sqlite"
               else postgresql_collection_lock_held(server.database_url, "alice/cal"))
    before = snapshot(server)
    with holding:
        response = server.request("PUT", "/alice/cal/waited.ics", user="alice",
                                  body=EVENT.format(uid="waited", extra=""),
                                  headers=TEXT_CALENDAR)
        assert_retry_later(response)
        # Reads go on meanwhile (SQLite's WAL, PostgreSQL's snapshots).
        assert server.request("PROPFIND", "/alice/cal/", user="alice",
                              headers={"Depth": "1"}).status_code == 207
        if database_kind == "postgresql":
            # Only alice's calendar is locked: bob writes his at once.
            assert server.request("PUT", "/bob/cal/meanwhile.ics", user="bob",
                                  body=EVENT.format(uid="meanwhile", extra=""),
                                  headers=TEXT_CALENDAR).status_code == 201
    after = snapshot(server)
    assert [r for r in after["item"] if r[0].startswith("alice/")] == \
        [r for r in before["item"] if r[0].startswith("alice/")]
    assert server.request("PUT", "/alice/cal/waited.ics", user="alice",
                          body=EVENT.format(uid="waited", extra=""),
                          headers=TEXT_CALENDAR).status_code == 201


def test_a_request_past_its_deadline_fails_alone_and_leaves_nothing(short_deadline):
    """An invitation to many local attendees, each delivered to an inbox
    and a calendar, takes longer than the four seconds allowed: it is
    undone as a whole, and bob's write meanwhile succeeds.

    600 attendees: at 120, a faster run delivered them all within the four
    seconds. Bob writes two seconds in, halfway to the deadline, so that
    however fast the deliveries go, half of his own deadline is left when
    the invitation is stopped and undone."""
    server = short_deadline
    guests = [f"guest{i}" for i in range(600)]
    for guest in guests:    # local calendar users; they need no login
        users.set_addresses(server.engine, guest, [f"{guest}@example.org"])
    attendees = "".join(f"ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:{g}@example.org\r\n"
                        for g in guests)
    invitation = EVENT.format(uid="all-hands",
                              extra="ORGANIZER:mailto:alice@example.org\r\n"
                                    "ATTENDEE:mailto:alice@example.org\r\n" + attendees)
    before = snapshot(server)
    answers: dict[str, object] = {}

    def invite() -> None:
        answers["alice"] = server.request("PUT", "/alice/cal/all-hands.ics", user="alice",
                                          body=invitation, headers=TEXT_CALENDAR)

    inviting = threading.Thread(target=invite, daemon=True)
    inviting.start()
    inviting.join(2.0)
    answers["bob"] = server.request("PUT", "/bob/cal/meanwhile.ics", user="bob",
                                    body=EVENT.format(uid="meanwhile", extra=""),
                                    headers=TEXT_CALENDAR)
    inviting.join(120)
    assert "alice" in answers, "the invitation got no answer"
    assert_retry_later(answers["alice"])
    assert answers["bob"].status_code == 201, answers["bob"].text
    after = snapshot(server)
    for table in before:
        assert without_bob(after[table]) == without_bob(before[table]), table


def without_bob(rows: list[tuple]) -> list[tuple]:
    return [row for row in rows if not str(row[0]).startswith("bob/")]
