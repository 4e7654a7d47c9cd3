"""Another user's home is off limits (Radicale's ``owner_only`` rights, kalend's
default), and nothing happens without logging in. Every refused request is
checked in the database too: bob's collection, item and change rows are
exactly what they were. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os

import pytest
import requests

FIXTURES = os.path.join(os.path.dirname(__file__), os.pardir, "fixtures")

BOB_EVENT = "/bob/calendar/private.ics"


def fixture_text(name: str) -> str:
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read().replace("\r\n", "\n").replace("\n", "\r\n")


def snapshot(server) -> dict[str, list[tuple]]:
    """Everything stored for bob: collections, items, change log."""
    return {
        "collection": server.rows(
            "SELECT path, tag, props, sync_seq FROM collection "
            "WHERE path = 'bob' OR path LIKE 'bob/%' ORDER BY path"),
        "item": server.rows(
            "SELECT c.path, i.href, i.uid, i.etag, i.text FROM item i "
            "JOIN collection c ON c.id = i.collection_id "
            "WHERE c.path LIKE 'bob/%' ORDER BY c.path, i.href"),
        "change": server.rows(
            'SELECT c.path, ch.seq, ch.href, ch.deleted FROM "change" ch '
            "JOIN collection c ON c.id = ch.collection_id "
            "WHERE c.path LIKE 'bob/%' ORDER BY c.path, ch.seq"),
    }


@pytest.fixture
def bob_calendar(server):
    """bob with a calendar holding one private event; alice with her own."""
    server.add_user("alice")
    server.add_user("bob")
    for user in ("alice", "bob"):
        assert server.request("MKCALENDAR", f"/{user}/calendar/", user=user).status_code == 201
    created = server.request("PUT", BOB_EVENT, user="bob",
                             body=fixture_text("rights_bob_private_event.ics"),
                             headers={"Content-Type": "text/calendar"})
    assert created.status_code == 201
    mine = server.request("PUT", "/alice/calendar/mine.ics", user="alice",
                          body=fixture_text("rights_alice_intruding_event.ics"),
                          headers={"Content-Type": "text/calendar"})
    assert mine.status_code == 201
    before = snapshot(server)
    assert [row[1] for row in before["item"]] == ["private.ics"]
    return before


CALENDAR_QUERY = """<?xml version="1.0" encoding="UTF-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data/></D:prop>
  <C:filter>
    <C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/></C:comp-filter>
  </C:filter>
</C:calendar-query>
"""

MULTIGET = """<?xml version="1.0" encoding="UTF-8"?>
<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data/></D:prop>
  <D:href>/bob/calendar/private.ics</D:href>
</C:calendar-multiget>
"""

SYNC = """<?xml version="1.0" encoding="UTF-8"?>
<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level>
<D:prop><D:getetag/></D:prop></D:sync-collection>
"""

PROPFIND = """<?xml version="1.0" encoding="UTF-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/><D:getetag/></D:prop></D:propfind>
"""

PROPPATCH = """<?xml version="1.0" encoding="UTF-8"?>
<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>hacked</D:displayname>
</D:prop></D:set></D:propertyupdate>
"""

# (method, path, body, headers) alice tries inside bob's home.
FORBIDDEN = {
    "GET event": ("GET", BOB_EVENT, None, {}),
    "HEAD event": ("HEAD", BOB_EVENT, None, {}),
    "GET calendar": ("GET", "/bob/calendar/", None, {}),
    "PROPFIND calendar depth 1": ("PROPFIND", "/bob/calendar/", PROPFIND, {"Depth": "1"}),
    "PROPFIND event": ("PROPFIND", BOB_EVENT, PROPFIND, {"Depth": "0"}),
    "PROPFIND home": ("PROPFIND", "/bob/", PROPFIND, {"Depth": "1"}),
    "REPORT calendar-query": ("REPORT", "/bob/calendar/", CALENDAR_QUERY, {"Depth": "1"}),
    "REPORT calendar-multiget": ("REPORT", "/bob/calendar/", MULTIGET, {"Depth": "1"}),
    "REPORT sync-collection": ("REPORT", "/bob/calendar/", SYNC, {"Depth": "1"}),
    "PUT over the event": ("PUT", BOB_EVENT, "rights_alice_intruding_event.ics",
                           {"Content-Type": "text/calendar"}),
    "PUT a new event": ("PUT", "/bob/calendar/new.ics", "rights_alice_intruding_event.ics",
                        {"Content-Type": "text/calendar", "If-None-Match": "*"}),
    "DELETE event": ("DELETE", BOB_EVENT, None, {}),
    "DELETE calendar": ("DELETE", "/bob/calendar/", None, {}),
    "PROPPATCH calendar": ("PROPPATCH", "/bob/calendar/", PROPPATCH, {}),
    "MKCALENDAR in bob's home": ("MKCALENDAR", "/bob/planted/", None, {}),
    "MKCOL in bob's home": ("MKCOL", "/bob/planted/", None, {}),
    "MOVE bob's event out": ("MOVE", BOB_EVENT, None, {"Destination": "/alice/calendar/x.ics"}),
    "MOVE own event in": ("MOVE", "/alice/calendar/mine.ics", None,
                          {"Destination": "/bob/calendar/mine.ics"}),
}


@pytest.mark.parametrize("attempt", list(FORBIDDEN))
def test_alice_is_refused_inside_bobs_home_and_his_rows_stay_unchanged(server, bob_calendar,
                                                                       attempt):
    method, path, body, headers = FORBIDDEN[attempt]
    if body is not None and body.endswith(".ics"):
        body = fixture_text(body)
    if "Destination" in headers:
        headers = {**headers, "Destination": server.url.rstrip("/") + headers["Destination"]}
    alice_before = server.rows(
        "SELECT c.path, i.href, i.etag FROM item i JOIN collection c ON c.id = i.collection_id "
        "WHERE c.path LIKE 'alice/%' ORDER BY i.href")

    response = server.request(method, path, user="alice", body=body, headers=headers)

    # Radicale answers 403 Forbidden for every path the rights do not grant;
    # it never tells whether the resource exists.
    assert response.status_code == 403, (attempt, response.status_code, response.text)
    assert b"Bob's private dinner" not in response.content
    assert b"BEGIN:VCALENDAR" not in response.content
    assert snapshot(server) == bob_calendar
    assert server.rows(
        "SELECT c.path, i.href, i.etag FROM item i JOIN collection c ON c.id = i.collection_id "
        "WHERE c.path LIKE 'alice/%' ORDER BY i.href") == alice_before
    assert server.rows("SELECT path FROM collection WHERE path = 'bob/planted'") == []


def test_bob_still_reads_and_writes_his_own_calendar(server, bob_calendar):
    fetched = server.request("GET", BOB_EVENT, user="bob")

    assert fetched.status_code == 200
    assert "SUMMARY:Bob's private dinner" in fetched.text
    assert fetched.headers["ETag"] == bob_calendar["item"][0][3]
    assert fetched.text == bob_calendar["item"][0][4]


def test_listing_the_root_shows_alice_only_her_own_home(server, bob_calendar):
    response = server.request("PROPFIND", "/", user="alice", headers={"Depth": "1"},
                              body=PROPFIND)

    assert response.status_code == 207
    assert "/alice/" in response.text
    assert "/bob/" not in response.text


UNAUTHENTICATED = [
    ("GET", BOB_EVENT, None),
    ("PROPFIND", "/bob/calendar/", PROPFIND),
    ("PROPFIND", "/", PROPFIND),
    ("REPORT", "/bob/calendar/", CALENDAR_QUERY),
    ("PUT", "/bob/calendar/new.ics", "rights_alice_intruding_event.ics"),
    ("DELETE", BOB_EVENT, None),
    ("MKCALENDAR", "/bob/other/", None),
]


def test_requests_without_login_get_401_with_a_basic_challenge(server, bob_calendar):
    for method, path, body in UNAUTHENTICATED:
        if body is not None and body.endswith(".ics"):
            body = fixture_text(body)

        response = server.request(method, path, body=body, headers={"Depth": "1"})

        assert response.status_code == 401, (method, path)
        assert response.headers["WWW-Authenticate"].startswith("Basic"), (method, path)
        assert b"Bob's private dinner" not in response.content
        assert snapshot(server) == bob_calendar, (method, path)


def test_a_wrong_password_gets_401_and_changes_nothing(server, bob_calendar):
    response = server.request("DELETE", BOB_EVENT, user="bob", password="not-bobs-password")

    assert response.status_code == 401
    assert snapshot(server) == bob_calendar
    assert requests.get(server.url.rstrip("/") + BOB_EVENT, auth=("bob", "secret-pw"),
                        timeout=60).status_code == 200
