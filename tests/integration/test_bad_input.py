"""Bad input gets a clear 4xx and changes nothing (issue 2, point 8).

Every test snapshots kalend's rows (items, the change log, every
collection's properties and sync sequence, occurrences, calendar-user
addresses) before the bad request and compares them afterwards: a status
code alone would not show a half-written item, a stray occurrence or a
bumped sync token. Runs on SQLite and PostgreSQL (the ``server`` fixture is
parametrised over both).
"""

from __future__ import annotations

import base64
import http.client
import os
import urllib.parse

import pytest
from kalend_testing import PASSWORD
from table_snapshots import assert_unchanged, snapshot

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures")

CALENDAR = "/alice/cal/"

EVENT = """\
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//kalend tests//EN
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20261101T090000Z
DTSTART:20261123T100000Z
DTEND:20261123T110000Z
SUMMARY:{summary}
END:VEVENT
END:VCALENDAR
"""

MKCALENDAR_BODY = """\
<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:set><D:prop><D:displayname>Work</D:displayname></D:prop></D:set>
</C:mkcalendar>
"""


def fixture_bytes(name: str) -> bytes:
    with open(os.path.join(FIXTURES, name), "rb") as handle:
        return handle.read()


def ics(uid: str, summary: str = "Planning") -> str:
    return EVENT.format(uid=uid, summary=summary).replace("\n", "\r\n")


@pytest.fixture
def populated(server):
    """alice with a calendar holding one event; bob with a calendar of his own."""
    server.add_user("alice")
    server.add_user("bob")
    for user in ("alice", "bob"):
        response = server.request("MKCALENDAR", f"/{user}/cal/", user=user, body=MKCALENDAR_BODY)
        assert response.status_code == 201, response.text
    response = server.request("PUT", CALENDAR + "existing.ics", user="alice",
                              body=ics("existing-1"),
                              headers={"Content-Type": "text/calendar; charset=utf-8"})
    assert response.status_code == 201, response.text
    before = snapshot(server)
    assert len(before["item"]) == 1 and before["change"] and before["occurrence"], before
    return server


def put(server, path: str, body: str | bytes, user: str = "alice",
        content_type: str = "text/calendar; charset=utf-8"):
    return server.request("PUT", path, user=user, body=body,
                          headers={"Content-Type": content_type})


def raw_request(server, method: str, path: str, user: str = "alice",
                body: bytes = b"", headers: dict | None = None) -> tuple[int, bytes]:
    """A request whose path goes on the wire exactly as given (no client-side
    normalisation of '..' segments)."""
    parsed = urllib.parse.urlsplit(server.url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=120)
    try:
        token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
        all_headers = {"Authorization": "Basic " + token,
                       "Content-Length": str(len(body))}
        all_headers.update(headers or {})
        connection.putrequest(method, path, skip_host=False, skip_accept_encoding=True)
        for name, value in all_headers.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# -- iCalendar bodies ---------------------------------------------------------


@pytest.mark.parametrize("fixture", [
    "malformed_unterminated_vcalendar.ics",
    "malformed_not_icalendar.ics",
    "malformed_bad_dtstart.ics",
])
def test_malformed_icalendar_is_rejected_and_nothing_is_written(populated, fixture):
    before = snapshot(populated)

    response = put(populated, CALENDAR + "bad.ics", fixture_bytes(fixture))

    assert response.status_code == 400, response.text
    assert_unchanged(populated, before)


def test_malformed_icalendar_cannot_replace_an_existing_event(populated):
    before = snapshot(populated)

    response = put(populated, CALENDAR + "existing.ics",
                   fixture_bytes("malformed_unterminated_vcalendar.ics"))

    assert response.status_code == 400, response.text
    assert_unchanged(populated, before)
    assert populated.request("GET", CALENDAR + "existing.ics", user="alice").status_code == 200


def test_invalid_utf8_body_is_rejected_and_nothing_is_written(populated):
    body = fixture_bytes("invalid_utf8_event.ics")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    before = snapshot(populated)

    response = put(populated, CALENDAR + "latin.ics", body)

    assert 400 <= response.status_code < 500, response.text
    assert_unchanged(populated, before)


def test_body_in_a_declared_charset_is_accepted(populated):
    # Control for the test above: the same bytes, declared as ISO-8859-1,
    # are a valid request and are stored as the characters they mean.
    response = put(populated, CALENDAR + "latin.ics", fixture_bytes("invalid_utf8_event.ics"),
                   content_type="text/calendar; charset=iso-8859-1")

    assert response.status_code == 201, response.text
    stored = populated.rows("SELECT text FROM item WHERE href = 'latin.ics'")[0][0]
    assert "Caf\u00e9" in stored


def test_two_components_with_different_uids_in_one_resource_are_rejected(populated):
    before = snapshot(populated)

    response = put(populated, CALENDAR + "two.ics", fixture_bytes("two_uids_in_one_resource.ics"))

    assert response.status_code == 400, response.text
    assert_unchanged(populated, before)


@pytest.mark.parametrize("fixture", ["vcalendar_without_component.ics",
                                     "vcalendar_with_only_vtimezone.ics"])
def test_vcalendar_without_any_component_is_rejected(populated, fixture):
    before = snapshot(populated)

    response = put(populated, CALENDAR + "empty.ics", fixture_bytes(fixture))

    assert response.status_code == 400, response.text
    assert "valid-calendar-object-resource" in response.text
    assert_unchanged(populated, before)


def test_empty_vcalendar_may_still_create_a_whole_calendar(populated):
    # Control: PUT of a whole collection (Radicale's web interface import)
    # with no events creates an empty calendar; only a calendar object
    # resource must hold a component.
    response = put(populated, "/alice/imported/", fixture_bytes("vcalendar_without_component.ics"))

    assert response.status_code == 201, response.text
    assert populated.rows("SELECT tag FROM collection WHERE path = 'alice/imported'") == [
        ("VCALENDAR",)]


def test_uid_clash_with_another_resource_is_409_no_uid_conflict(populated):
    before = snapshot(populated)

    response = put(populated, CALENDAR + "other-href.ics", ics("existing-1", "Same UID"))

    assert response.status_code == 409, response.text
    assert "no-uid-conflict" in response.text
    assert_unchanged(populated, before)


def test_same_uid_in_another_users_calendar_is_not_a_conflict(populated):
    # Control for the test above: the clash is per calendar, not global.
    response = put(populated, "/bob/cal/existing.ics", ics("existing-1"), user="bob")
    assert response.status_code == 201, response.text


# -- XML bodies ---------------------------------------------------------------


@pytest.mark.parametrize("method,path,fixture", [
    ("PROPFIND", CALENDAR, "xml_billion_laughs_propfind.xml"),
    ("REPORT", CALENDAR, "xml_billion_laughs_report.xml"),
])
def test_xml_entity_expansion_is_refused(populated, method, path, fixture):
    before = snapshot(populated)

    response = populated.request(method, path, user="alice", body=fixture_bytes(fixture),
                                 headers={"Depth": "1",
                                          "Content-Type": "application/xml; charset=utf-8"})

    assert response.status_code == 400, response.text
    assert "lol" not in response.text
    assert_unchanged(populated, before)


def test_xml_entity_expansion_in_proppatch_changes_no_property(populated):
    before = snapshot(populated)

    response = populated.request("PROPPATCH", CALENDAR, user="alice",
                                 body=fixture_bytes("xml_billion_laughs_proppatch.xml"),
                                 headers={"Content-Type": "application/xml; charset=utf-8"})

    assert response.status_code == 400, response.text
    assert_unchanged(populated, before)


@pytest.mark.parametrize("method", ["PROPFIND", "REPORT", "PROPPATCH"])
def test_xml_external_entity_does_not_read_a_local_file(populated, tmp_path, method):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT-4711\n", encoding="utf-8")
    template = fixture_bytes(f"xml_external_entity_{method.lower()}.xml").decode("utf-8")
    body = template.replace("@SECRET_FILE_URL@", secret.as_uri())
    before = snapshot(populated)

    response = populated.request(method, CALENDAR, user="alice", body=body,
                                 headers={"Depth": "1",
                                          "Content-Type": "application/xml; charset=utf-8"})

    assert response.status_code == 400, response.text
    assert "TOP-SECRET" not in response.text
    assert_unchanged(populated, before)
    props = " ".join(row[3] for row in snapshot(populated)["collection"])
    assert "TOP-SECRET" not in props


@pytest.mark.parametrize("method,path", [
    ("PROPFIND", CALENDAR),
    ("REPORT", CALENDAR),
    ("PROPPATCH", CALENDAR),
    ("MKCALENDAR", "/alice/new-cal/"),
])
def test_malformed_xml_is_rejected_and_nothing_is_written(populated, method, path):
    before = snapshot(populated)

    response = populated.request(method, path, user="alice",
                                 body=fixture_bytes("xml_malformed_unclosed.xml"),
                                 headers={"Depth": "1",
                                          "Content-Type": "application/xml; charset=utf-8"})

    assert response.status_code == 400, response.text
    assert_unchanged(populated, before)
    if method == "MKCALENDAR":
        assert populated.request("PROPFIND", path, user="alice",
                                 headers={"Depth": "0"}).status_code == 404


# -- sizes, owners, paths -----------------------------------------------------


def test_body_over_the_configured_maximum_is_413(populated):
    # write_config sets [server] max_content_length = 2000000.
    description = "x" * 2_100_000
    body = ics("too-big").replace("SUMMARY:Planning", "SUMMARY:Planning\r\nDESCRIPTION:" + description)
    assert len(body.encode("utf-8")) > 2_000_000
    before = snapshot(populated)

    response = put(populated, CALENDAR + "too-big.ics", body)

    assert response.status_code == 413, response.text
    assert_unchanged(populated, before)


def test_body_just_under_the_maximum_is_accepted(populated):
    # Control for the test above: the limit is the configured one, not smaller.
    body = ics("big-ok").replace("SUMMARY:Planning", "SUMMARY:Planning\r\nDESCRIPTION:" + "y" * 500_000)
    response = put(populated, CALENDAR + "big-ok.ics", body)
    assert response.status_code == 201, response.text


def test_put_into_another_users_home_is_refused(populated):
    before = snapshot(populated)

    into_calendar = put(populated, "/bob/cal/intruder.ics", ics("intruder-1"), user="alice")
    new_collection = populated.request("MKCALENDAR", "/bob/alice-made/", user="alice",
                                       body=MKCALENDAR_BODY)

    assert into_calendar.status_code == 403, into_calendar.text
    assert new_collection.status_code == 403, new_collection.text
    assert_unchanged(populated, before)


def test_put_without_login_is_refused(populated):
    before = snapshot(populated)

    response = populated.request("PUT", CALENDAR + "anon.ics", body=ics("anon-1"),
                                 headers={"Content-Type": "text/calendar"})

    assert response.status_code == 401
    assert_unchanged(populated, before)


@pytest.mark.parametrize("path", [
    "/alice/cal/../../bob/cal/escape.ics",
    "/alice/../bob/cal/escape.ics",
    "/alice/cal/%2e%2e/%2e%2e/bob/cal/escape.ics",
])
def test_dot_dot_path_cannot_reach_another_users_home(populated, path):
    before = snapshot(populated)

    status, body = raw_request(populated, "PUT", path, body=ics("escape-1").encode(),
                               headers={"Content-Type": "text/calendar; charset=utf-8"})

    assert 400 <= status < 500, body
    assert_unchanged(populated, before)


def test_dot_dot_path_does_not_escape_the_server_root(populated):
    before = snapshot(populated)

    status, body = raw_request(populated, "GET", "/../../../../etc/passwd")

    assert 400 <= status < 500, body
    assert b"root:" not in body
    assert_unchanged(populated, before)
