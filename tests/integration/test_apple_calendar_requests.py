"""Raw HTTP shaped like Apple Calendar's (macOS) against a real kalend server.

The request bodies follow what Calendar.app sends: its own prefixes (A: for
DAV:, B: for CalDAV), the CalendarServer and Apple iCal namespaces, and
conditional writes with If-None-Match / If-Match. Every test runs on SQLite and
on PostgreSQL; writes are checked in the ``item``, ``collection`` and
``change`` rows as well as in what the client sees.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
import requests
from dav_support import (
    CALDAV,
    CS,
    DAV,
    ICAL,
    clark,
    fixture_bytes,
    ok_text,
    parse_multistatus,
)

MEETING_UID = "6F3C1A2E-9B7D-4C55-8E21-0A1B2C3D4E5F"
DENTIST_UID = "0D1E2F30-4152-6374-8596-A7B8C9D0E1F2"


def sync_token_of(response: requests.Response) -> str:
    token = ET.fromstring(response.content).findtext(clark(DAV, "sync-token"))
    assert token
    return token


MKCALENDAR_BODY = """<?xml version="1.0" encoding="UTF-8"?>
<B:mkcalendar xmlns:B="urn:ietf:params:xml:ns:caldav">
  <A:set xmlns:A="DAV:">
    <A:prop>
      <D:calendar-order xmlns:D="http://apple.com/ns/ical/">3</D:calendar-order>
      <B:supported-calendar-component-set>
        <B:comp name="VEVENT"/>
      </B:supported-calendar-component-set>
      <D:calendar-color xmlns:D="http://apple.com/ns/ical/"
                        symbolic-color="custom">{color}</D:calendar-color>
      <A:displayname>{name}</A:displayname>
      <B:calendar-timezone><![CDATA[BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Apple Inc.//macOS 15.1//EN
BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:STANDARD
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
TZNAME:CET
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
TZNAME:CEST
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
END:DAYLIGHT
END:VTIMEZONE
END:VCALENDAR
]]></B:calendar-timezone>
    </A:prop>
  </A:set>
</B:mkcalendar>
"""

PRINCIPAL_PROPFIND = """<?xml version="1.0" encoding="UTF-8"?>
<A:propfind xmlns:A="DAV:">
  <A:prop>
    <B:calendar-home-set xmlns:B="urn:ietf:params:xml:ns:caldav"/>
    <B:calendar-user-address-set xmlns:B="urn:ietf:params:xml:ns:caldav"/>
    <A:current-user-principal/>
    <A:displayname/>
    <C:dropbox-home-URL xmlns:C="http://calendarserver.org/ns/"/>
    <C:email-address-set xmlns:C="http://calendarserver.org/ns/"/>
    <C:notification-URL xmlns:C="http://calendarserver.org/ns/"/>
    <A:principal-collection-set/>
    <A:principal-URL/>
    <A:resource-id/>
    <B:schedule-inbox-URL xmlns:B="urn:ietf:params:xml:ns:caldav"/>
    <B:schedule-outbox-URL xmlns:B="urn:ietf:params:xml:ns:caldav"/>
    <A:supported-report-set/>
  </A:prop>
</A:propfind>
"""

HOME_PROPFIND = """<?xml version="1.0" encoding="UTF-8"?>
<A:propfind xmlns:A="DAV:">
  <A:prop>
    <A:add-member/>
    <C:allowed-sharing-modes xmlns:C="http://calendarserver.org/ns/"/>
    <D:autoprovisioned xmlns:D="http://apple.com/ns/ical/"/>
    <E:bulk-requests xmlns:E="http://me.com/_namespace/"/>
    <D:calendar-color xmlns:D="http://apple.com/ns/ical/"/>
    <B:calendar-description xmlns:B="urn:ietf:params:xml:ns:caldav"/>
    <B:calendar-free-busy-set xmlns:B="urn:ietf:params:xml:ns:caldav"/>
    <D:calendar-order xmlns:D="http://apple.com/ns/ical/"/>
    <B:calendar-timezone xmlns:B="urn:ietf:params:xml:ns:caldav"/>
    <A:current-user-privilege-set/>
    <B:default-alarm-vevent-date xmlns:B="urn:ietf:params:xml:ns:caldav"/>
    <B:default-alarm-vevent-datetime xmlns:B="urn:ietf:params:xml:ns:caldav"/>
    <A:displayname/>
    <C:getctag xmlns:C="http://calendarserver.org/ns/"/>
    <D:language-code xmlns:D="http://apple.com/ns/ical/"/>
    <D:location-code xmlns:D="http://apple.com/ns/ical/"/>
    <A:owner/>
    <C:pre-publish-url xmlns:C="http://calendarserver.org/ns/"/>
    <C:publish-url xmlns:C="http://calendarserver.org/ns/"/>
    <C:push-transports xmlns:C="http://calendarserver.org/ns/"/>
    <C:pushkey xmlns:C="http://calendarserver.org/ns/"/>
    <A:quota-available-bytes/>
    <A:quota-used-bytes/>
    <D:refreshrate xmlns:D="http://apple.com/ns/ical/"/>
    <A:resource-id/>
    <A:resourcetype/>
    <B:schedule-calendar-transp xmlns:B="urn:ietf:params:xml:ns:caldav"/>
    <B:schedule-default-calendar-URL xmlns:B="urn:ietf:params:xml:ns:caldav"/>
    <C:source xmlns:C="http://calendarserver.org/ns/"/>
    <C:subscribed-strip-alarms xmlns:C="http://calendarserver.org/ns/"/>
    <C:subscribed-strip-attachments xmlns:C="http://calendarserver.org/ns/"/>
    <C:subscribed-strip-todos xmlns:C="http://calendarserver.org/ns/"/>
    <B:supported-calendar-component-set xmlns:B="urn:ietf:params:xml:ns:caldav"/>
    <B:supported-calendar-component-sets xmlns:B="urn:ietf:params:xml:ns:caldav"/>
    <A:supported-report-set/>
    <A:sync-token/>
  </A:prop>
</A:propfind>
"""


def sync_collection_body(token: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<A:sync-collection xmlns:A="DAV:">
  <A:sync-token>{token}</A:sync-token>
  <A:sync-level>1</A:sync-level>
  <A:prop>
    <A:getcontenttype/>
    <A:getetag/>
  </A:prop>
</A:sync-collection>
"""


def multiget_body(*hrefs: str) -> str:
    links = "\n".join(f"  <A:href>{h}</A:href>" for h in hrefs)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<B:calendar-multiget xmlns:A="DAV:" xmlns:B="urn:ietf:params:xml:ns:caldav">
  <A:prop>
    <A:getetag/>
    <B:calendar-data/>
    <C:updated-by xmlns:C="http://calendarserver.org/ns/"/>
  </A:prop>
{links}
</B:calendar-multiget>
"""


def make_calendar(server, user: str, name: str, display: str = "Work",
                  color: str = "#FF2968FF") -> None:
    response = server.request("MKCALENDAR", f"/{user}/{name}/", user=user,
                              body=MKCALENDAR_BODY.format(name=display, color=color),
                              headers={"Content-Type": "application/xml; charset=utf-8"})
    assert response.status_code == 201, response.text


def put_event(server, path: str, fixture: str, user: str = "alice",
              headers: dict | None = None) -> requests.Response:
    return server.request("PUT", path, user=user, body=fixture_bytes(fixture),
                          headers={"Content-Type": "text/calendar; charset=utf-8",
                                   **(headers or {})})


def item_rows(server, collection_path: str) -> list[tuple]:
    return server.rows(
        "SELECT i.href, i.uid, i.etag FROM item i JOIN collection c ON c.id = i.collection_id "
        "WHERE c.path = :path ORDER BY i.href", path=collection_path)


def change_rows(server, collection_path: str) -> list[tuple]:
    return [(href, bool(deleted)) for href, deleted in server.rows(
        'SELECT ch.href, ch.deleted FROM "change" ch JOIN collection c ON c.id = ch.collection_id '
        "WHERE c.path = :path ORDER BY ch.seq, ch.id", path=collection_path)]


# -- discovery ------------------------------------------------------------------


def test_well_known_caldav_redirects_permanently_to_the_root(server):
    server.add_user("alice")
    response = requests.request("PROPFIND", server.url.rstrip("/") + "/.well-known/caldav",
                                auth=("alice", "secret-pw"), headers={"Depth": "0"},
                                allow_redirects=False, timeout=60)

    assert response.status_code == 301
    assert response.headers["Location"] == "/"


def test_principal_propfind_gives_home_set_principal_url_and_current_user_principal(server):
    server.add_user("alice")
    root = server.request("PROPFIND", "/", user="alice", headers={"Depth": "0"},
                          body='<?xml version="1.0" encoding="UTF-8"?>\n'
                               '<A:propfind xmlns:A="DAV:"><A:prop><A:current-user-principal/>'
                               '<A:principal-URL/><A:resourcetype/></A:prop></A:propfind>')
    principal_href = parse_multistatus(root)["/"][clark(DAV, "current-user-principal")][1] \
        .findtext(clark(DAV, "href"))
    assert principal_href == "/alice/"

    response = server.request("PROPFIND", principal_href, user="alice",
                              headers={"Depth": "0", "Content-Type": "text/xml"},
                              body=PRINCIPAL_PROPFIND)

    props = parse_multistatus(response)["/alice/"]
    for name, namespace in (("calendar-home-set", CALDAV), ("current-user-principal", DAV),
                            ("principal-URL", DAV)):
        line, element = props[clark(namespace, name)]
        assert " 200 " in line
        assert element.findtext(clark(DAV, "href")) == "/alice/"
    # Every property Calendar.app asks for is answered, known or not (404 in
    # its own propstat, never an error for the whole request).
    asked = {el.tag for el in ET.fromstring(PRINCIPAL_PROPFIND).iter()
             if el.tag not in (clark(DAV, "propfind"), clark(DAV, "prop"))}
    assert asked <= set(props)
    assert " 404 " in props[clark(CS, "dropbox-home-URL")][0]
    # The principal collection row was created on first access, owned by alice.
    assert server.rows("SELECT path, owner, tag FROM collection WHERE path = 'alice'") == \
        [("alice", "alice", "")]


def test_home_depth_1_lists_calendars_with_ctag_sync_token_components_and_color(server):
    server.add_user("alice")
    make_calendar(server, "alice", "work", display="Work", color="#FF2968FF")
    make_calendar(server, "alice", "home", display="Home", color="#1BADF8FF")
    put_event(server, "/alice/work/meeting.ics", "apple_event_team_meeting.ics")

    response = server.request("PROPFIND", "/alice/", user="alice",
                              headers={"Depth": "1", "Content-Type": "text/xml"},
                              body=HOME_PROPFIND)

    listing = parse_multistatus(response)
    # Besides the two calendars: the default calendar, inbox and outbox every
    # home has (RFC 6638 §2); their resource types are tested with scheduling.
    assert set(listing) == {"/alice/", "/alice/work/", "/alice/home/", "/alice/default/",
                            "/alice/inbox/", "/alice/outbox/"}
    home = listing["/alice/"]
    assert home[clark(DAV, "resourcetype")][1].find(clark(DAV, "principal")) is not None
    assert " 404 " in home[clark(CS, "getctag")][0]
    (work_id, work_seq), = server.rows(
        "SELECT id, sync_seq FROM collection WHERE path = 'alice/work'")
    for href, display, color in (("/alice/work/", "Work", "#FF2968FF"),
                                 ("/alice/home/", "Home", "#1BADF8FF")):
        props = listing[href]
        resourcetype = props[clark(DAV, "resourcetype")][1]
        assert {child.tag for child in resourcetype} == {clark(DAV, "collection"),
                                                          clark(CALDAV, "calendar")}
        assert ok_text(props, DAV, "displayname") == display
        assert ok_text(props, ICAL, "calendar-color") == color
        assert ok_text(props, ICAL, "calendar-order") == "3"
        components = props[clark(CALDAV, "supported-calendar-component-set")][1]
        assert [c.get("name") for c in components] == ["VEVENT"]
        assert ok_text(props, CS, "getctag")
        assert ok_text(props, DAV, "sync-token")
    work = listing["/alice/work/"]
    assert ok_text(work, DAV, "sync-token") == f"urn:kalend:sync:{work_id}:{work_seq}"
    assert ok_text(work, CS, "getctag") != ok_text(listing["/alice/home/"], CS, "getctag")


def test_mkcalendar_stores_displayname_color_and_timezone_in_the_collection_row(server):
    server.add_user("alice")

    make_calendar(server, "alice", "work", display="Work ☕", color="#63DA38FF")

    (tag, props), = server.rows("SELECT tag, props FROM collection WHERE path = 'alice/work'")
    props = json.loads(props)
    assert tag == "VCALENDAR"
    assert props["D:displayname"] == "Work ☕"
    assert props["ICAL:calendar-color"] == "#63DA38FF"
    assert props["C:supported-calendar-component-set"] == "VEVENT"
    assert "TZID:Europe/Berlin" in props["C:calendar-timezone"]
    again = server.request("MKCALENDAR", "/alice/work/", user="alice",
                           body=MKCALENDAR_BODY.format(name="Other", color="#000000FF"))
    assert again.status_code == 409
    assert json.loads(server.rows(
        "SELECT props FROM collection WHERE path = 'alice/work'")[0][0]) == props


# -- PUT / GET with ETags --------------------------------------------------------


def test_put_with_if_none_match_creates_and_get_returns_the_stored_bytes_and_etag(server):
    server.add_user("alice")
    make_calendar(server, "alice", "work")
    sent = fixture_bytes("apple_event_team_meeting.ics")

    created = put_event(server, "/alice/work/meeting.ics", "apple_event_team_meeting.ics",
                        headers={"If-None-Match": "*"})
    fetched = server.request("GET", "/alice/work/meeting.ics", user="alice")

    assert created.status_code == 201
    (href, uid, etag, text), = server.rows(
        "SELECT href, uid, etag, text FROM item")
    assert (href, uid) == ("meeting.ics", MEETING_UID)
    assert created.headers["ETag"] == etag
    assert fetched.status_code == 200
    assert fetched.headers["Content-Type"].startswith("text/calendar")
    assert fetched.headers["ETag"] == etag
    assert fetched.content == text.encode("utf-8") == sent
    assert change_rows(server, "alice/work") == [("meeting.ics", False)]


def test_put_with_if_none_match_on_an_existing_event_is_refused_and_changes_nothing(server):
    server.add_user("alice")
    make_calendar(server, "alice", "work")
    put_event(server, "/alice/work/meeting.ics", "apple_event_team_meeting.ics",
              headers={"If-None-Match": "*"})
    before = server.rows("SELECT href, etag, text FROM item")

    again = put_event(server, "/alice/work/meeting.ics", "apple_event_team_meeting_moved.ics",
                      headers={"If-None-Match": "*"})

    assert again.status_code == 412
    assert server.rows("SELECT href, etag, text FROM item") == before
    assert change_rows(server, "alice/work") == [("meeting.ics", False)]


def test_put_with_the_current_if_match_replaces_and_a_stale_etag_gets_412(server):
    server.add_user("alice")
    make_calendar(server, "alice", "work")
    first = put_event(server, "/alice/work/meeting.ics", "apple_event_team_meeting.ics",
                      headers={"If-None-Match": "*"})
    old_etag = first.headers["ETag"]

    updated = put_event(server, "/alice/work/meeting.ics", "apple_event_team_meeting_moved.ics",
                        headers={"If-Match": old_etag})
    stale = put_event(server, "/alice/work/meeting.ics", "apple_event_team_meeting.ics",
                      headers={"If-Match": old_etag})

    assert updated.status_code == 204
    new_etag = updated.headers["ETag"]
    assert new_etag != old_etag
    assert stale.status_code == 412
    (etag, text), = server.rows("SELECT etag, text FROM item WHERE href = 'meeting.ics'")
    assert etag == new_etag
    assert text.encode("utf-8") == fixture_bytes("apple_event_team_meeting_moved.ics")
    fetched = server.request("GET", "/alice/work/meeting.ics", user="alice")
    assert fetched.headers["ETag"] == new_etag
    assert b"SUMMARY:Team meeting (moved to the afternoon)\r\n" in fetched.content
    assert change_rows(server, "alice/work") == [("meeting.ics", False), ("meeting.ics", False)]


# -- sync-collection (RFC 6578) --------------------------------------------------------


def test_sync_collection_initial_then_incremental_reports_changes_and_deletions(server):
    server.add_user("alice")
    make_calendar(server, "alice", "work")
    meeting = put_event(server, "/alice/work/meeting.ics", "apple_event_team_meeting.ics",
                        headers={"If-None-Match": "*"})
    put_event(server, "/alice/work/dentist.ics", "apple_event_dentist.ics",
              headers={"If-None-Match": "*"})

    initial = server.request("REPORT", "/alice/work/", user="alice",
                             headers={"Depth": "1", "Content-Type": "text/xml"},
                             body=sync_collection_body(""))
    listed = parse_multistatus(initial)
    first_token = sync_token_of(initial)
    assert set(listed) == {"/alice/work/meeting.ics", "/alice/work/dentist.ics"}
    assert ok_text(listed["/alice/work/meeting.ics"], DAV, "getetag") == meeting.headers["ETag"]
    assert ok_text(listed["/alice/work/dentist.ics"], DAV, "getcontenttype") \
        .startswith("text/calendar")

    unchanged = server.request("REPORT", "/alice/work/", user="alice",
                               headers={"Depth": "1"}, body=sync_collection_body(first_token))
    assert parse_multistatus(unchanged) == {}
    assert sync_token_of(unchanged) == first_token

    updated = put_event(server, "/alice/work/meeting.ics", "apple_event_team_meeting_moved.ics",
                        headers={"If-Match": meeting.headers["ETag"]})
    deleted = server.request("DELETE", "/alice/work/dentist.ics", user="alice")
    assert (updated.status_code, deleted.status_code) == (204, 200)

    delta = server.request("REPORT", "/alice/work/", user="alice",
                           headers={"Depth": "1"}, body=sync_collection_body(first_token))

    changes = parse_multistatus(delta)
    assert set(changes) == {"/alice/work/meeting.ics", "/alice/work/dentist.ics"}
    assert ok_text(changes["/alice/work/meeting.ics"], DAV, "getetag") == \
        updated.headers["ETag"]
    removed = changes["/alice/work/dentist.ics"]
    assert list(removed) == ["status"] and " 404 " in removed["status"][0]
    second_token = sync_token_of(delta)
    assert second_token != first_token
    (work_id, seq), = server.rows("SELECT id, sync_seq FROM collection WHERE path = 'alice/work'")
    assert second_token == f"urn:kalend:sync:{work_id}:{seq}"
    assert change_rows(server, "alice/work") == [
        ("meeting.ics", False), ("dentist.ics", False), ("meeting.ics", False),
        ("dentist.ics", True)]
    assert item_rows(server, "alice/work") == [
        ("meeting.ics", MEETING_UID, updated.headers["ETag"])]


@pytest.mark.parametrize("token_kind", ["other calendar", "future", "foreign server", "garbage"])
def test_sync_token_that_is_not_this_calendars_gets_403_valid_sync_token(server, token_kind):
    server.add_user("alice")
    make_calendar(server, "alice", "work")
    make_calendar(server, "alice", "home")
    put_event(server, "/alice/home/meeting.ics", "apple_event_team_meeting.ics")
    home_token = sync_token_of(server.request(
        "REPORT", "/alice/home/", user="alice", headers={"Depth": "1"},
        body=sync_collection_body("")))
    (work_id, work_seq), = server.rows(
        "SELECT id, sync_seq FROM collection WHERE path = 'alice/work'")
    token = {"other calendar": home_token,
             "future": f"urn:kalend:sync:{work_id}:{work_seq + 5}",
             "foreign server": "http://example.com/ns/sync/1234",
             "garbage": "urn:kalend:sync:not-a-number"}[token_kind]
    rows_before = server.rows('SELECT collection_id, seq, href FROM "change" ORDER BY id')

    response = server.request("REPORT", "/alice/work/", user="alice",
                              headers={"Depth": "1", "Content-Type": "text/xml"},
                              body=sync_collection_body(token))

    assert response.status_code == 403
    error = ET.fromstring(response.content)
    assert error.tag == clark(DAV, "error")
    assert [child.tag for child in error] == [clark(DAV, "valid-sync-token")]
    assert server.rows('SELECT collection_id, seq, href FROM "change" ORDER BY id') == rows_before


def test_sync_token_of_a_deleted_and_recreated_calendar_gets_403_valid_sync_token(server):
    server.add_user("alice")
    make_calendar(server, "alice", "work")
    put_event(server, "/alice/work/meeting.ics", "apple_event_team_meeting.ics")
    old_token = sync_token_of(server.request(
        "REPORT", "/alice/work/", user="alice", headers={"Depth": "1"},
        body=sync_collection_body("")))
    assert server.request("DELETE", "/alice/work/", user="alice").status_code == 200
    make_calendar(server, "alice", "work")
    put_event(server, "/alice/work/meeting.ics", "apple_event_team_meeting.ics")
    put_event(server, "/alice/work/dentist.ics", "apple_event_dentist.ics")

    response = server.request("REPORT", "/alice/work/", user="alice",
                              headers={"Depth": "1"}, body=sync_collection_body(old_token))

    # The new calendar's history is not the old one's: a client holding the
    # old token must start over instead of missing the new calendar's items.
    assert response.status_code == 403
    assert [c.tag for c in ET.fromstring(response.content)] == [clark(DAV, "valid-sync-token")]
    fresh = parse_multistatus(server.request(
        "REPORT", "/alice/work/", user="alice", headers={"Depth": "1"},
        body=sync_collection_body("")))
    assert set(fresh) == {"/alice/work/meeting.ics", "/alice/work/dentist.ics"}


# -- calendar-multiget, DELETE ---------------------------------------------------------


def test_calendar_multiget_returns_each_event_as_stored_and_404_for_a_missing_one(server):
    server.add_user("alice")
    make_calendar(server, "alice", "work")
    put_event(server, "/alice/work/meeting.ics", "apple_event_team_meeting.ics")
    put_event(server, "/alice/work/dentist.ics", "apple_event_dentist.ics")

    response = server.request(
        "REPORT", "/alice/work/", user="alice", headers={"Depth": "1", "Content-Type": "text/xml"},
        body=multiget_body("/alice/work/meeting.ics", "/alice/work/dentist.ics",
                           "/alice/work/gone.ics"))

    result = parse_multistatus(response)
    stored = {href: (etag, text) for href, etag, text in server.rows(
        "SELECT href, etag, text FROM item")}
    for name in ("meeting.ics", "dentist.ics"):
        props = result[f"/alice/work/{name}"]
        assert ok_text(props, DAV, "getetag") == stored[name][0]
        assert ok_text(props, CALDAV, "calendar-data") == stored[name][1].replace("\r\n", "\n")
    assert "UID:" + DENTIST_UID in ok_text(result["/alice/work/dentist.ics"], CALDAV,
                                           "calendar-data")
    assert " 404 " in result["/alice/work/gone.ics"]["status"][0]


def test_delete_with_a_stale_if_match_is_refused_and_with_the_current_one_removes(server):
    server.add_user("alice")
    make_calendar(server, "alice", "work")
    etag = put_event(server, "/alice/work/meeting.ics", "apple_event_team_meeting.ics") \
        .headers["ETag"]

    stale = server.request("DELETE", "/alice/work/meeting.ics", user="alice",
                           headers={"If-Match": '"0123456789abcdef"'})
    assert stale.status_code == 412
    assert item_rows(server, "alice/work") == [("meeting.ics", MEETING_UID, etag)]

    removed = server.request("DELETE", "/alice/work/meeting.ics", user="alice",
                             headers={"If-Match": etag})

    assert removed.status_code == 200
    assert ET.fromstring(removed.content).findtext(
        f"{clark(DAV, 'response')}/{clark(DAV, 'status')}") == "HTTP/1.1 200 OK"
    assert server.request("GET", "/alice/work/meeting.ics", user="alice").status_code == 404
    assert item_rows(server, "alice/work") == []
    assert change_rows(server, "alice/work") == [("meeting.ics", False), ("meeting.ics", True)]


# -- MOVE between calendars ---------------------------------------------------------------


def test_move_between_calendars_moves_the_event_and_both_sync_tokens_report_it(server):
    server.add_user("alice")
    make_calendar(server, "alice", "work")
    make_calendar(server, "alice", "home")
    etag = put_event(server, "/alice/work/meeting.ics", "apple_event_team_meeting.ics") \
        .headers["ETag"]
    tokens = {name: sync_token_of(server.request(
        "REPORT", f"/alice/{name}/", user="alice", headers={"Depth": "1"},
        body=sync_collection_body(""))) for name in ("work", "home")}

    moved = server.request("MOVE", "/alice/work/meeting.ics", user="alice",
                           headers={"Destination": server.url.rstrip("/")
                                    + "/alice/home/meeting.ics", "Overwrite": "F"})

    assert moved.status_code == 201
    assert server.request("GET", "/alice/work/meeting.ics", user="alice").status_code == 404
    fetched = server.request("GET", "/alice/home/meeting.ics", user="alice")
    assert fetched.status_code == 200
    assert fetched.content == fixture_bytes("apple_event_team_meeting.ics")
    assert fetched.headers["ETag"] == etag
    assert item_rows(server, "alice/work") == []
    assert item_rows(server, "alice/home") == [("meeting.ics", MEETING_UID, etag)]
    assert change_rows(server, "alice/work") == [("meeting.ics", False), ("meeting.ics", True)]
    assert change_rows(server, "alice/home") == [("meeting.ics", False)]

    work_delta = parse_multistatus(server.request(
        "REPORT", "/alice/work/", user="alice", headers={"Depth": "1"},
        body=sync_collection_body(tokens["work"])))
    home_delta = parse_multistatus(server.request(
        "REPORT", "/alice/home/", user="alice", headers={"Depth": "1"},
        body=sync_collection_body(tokens["home"])))
    assert list(work_delta) == ["/alice/work/meeting.ics"]
    assert " 404 " in work_delta["/alice/work/meeting.ics"]["status"][0]
    assert list(home_delta) == ["/alice/home/meeting.ics"]
    assert ok_text(home_delta["/alice/home/meeting.ics"], DAV, "getetag") == etag


def test_move_onto_an_existing_copy_of_the_event_needs_overwrite_t(server):
    server.add_user("alice")
    make_calendar(server, "alice", "work")
    make_calendar(server, "alice", "home")
    newer = put_event(server, "/alice/work/meeting.ics", "apple_event_team_meeting_moved.ics") \
        .headers["ETag"]
    put_event(server, "/alice/home/meeting.ics", "apple_event_team_meeting.ics")
    destination = server.url.rstrip("/") + "/alice/home/meeting.ics"
    home_before = item_rows(server, "alice/home")

    refused = server.request("MOVE", "/alice/work/meeting.ics", user="alice",
                             headers={"Destination": destination, "Overwrite": "F"})
    assert refused.status_code == 412
    assert item_rows(server, "alice/home") == home_before
    assert item_rows(server, "alice/work") == [("meeting.ics", MEETING_UID, newer)]

    replaced = server.request("MOVE", "/alice/work/meeting.ics", user="alice",
                              headers={"Destination": destination, "Overwrite": "T"})

    assert replaced.status_code == 204
    assert item_rows(server, "alice/work") == []
    assert item_rows(server, "alice/home") == [("meeting.ics", MEETING_UID, newer)]
    assert server.request("GET", "/alice/home/meeting.ics", user="alice").content == \
        fixture_bytes("apple_event_team_meeting_moved.ics")


def test_move_of_an_event_whose_uid_the_target_calendar_holds_is_a_uid_conflict(server):
    server.add_user("alice")
    make_calendar(server, "alice", "work")
    make_calendar(server, "alice", "home")
    put_event(server, "/alice/work/meeting.ics", "apple_event_team_meeting_moved.ics")
    put_event(server, "/alice/home/meeting-copy.ics", "apple_event_team_meeting.ics")
    before = server.rows("SELECT collection_id, href, etag FROM item ORDER BY collection_id")

    conflict = server.request(
        "MOVE", "/alice/work/meeting.ics", user="alice",
        headers={"Destination": server.url.rstrip("/") + "/alice/home/meeting.ics"})

    assert conflict.status_code == 409
    error = ET.fromstring(conflict.content)
    assert [child.tag for child in error] == [clark(CALDAV, "no-uid-conflict")]
    assert server.rows("SELECT collection_id, href, etag FROM item ORDER BY collection_id") == \
        before


# -- PROPPATCH -----------------------------------------------------------------------------


def test_proppatch_displayname_and_color_are_read_back_and_change_the_ctag(server):
    server.add_user("alice")
    make_calendar(server, "alice", "work", display="Work", color="#FF2968FF")
    propfind = ('<?xml version="1.0" encoding="UTF-8"?>\n<A:propfind xmlns:A="DAV:">'
                '<A:prop><A:displayname/><D:calendar-color xmlns:D="http://apple.com/ns/ical/"/>'
                '<C:getctag xmlns:C="http://calendarserver.org/ns/"/><A:sync-token/>'
                '</A:prop></A:propfind>')
    before = parse_multistatus(server.request("PROPFIND", "/alice/work/", user="alice",
                                              headers={"Depth": "0"}, body=propfind))

    patched = server.request(
        "PROPPATCH", "/alice/work/", user="alice", headers={"Content-Type": "text/xml"},
        body='<?xml version="1.0" encoding="UTF-8"?>\n'
             '<A:propertyupdate xmlns:A="DAV:"><A:set><A:prop>'
             '<A:displayname>Büro</A:displayname>'
             '<D:calendar-color xmlns:D="http://apple.com/ns/ical/">#CC73E1FF</D:calendar-color>'
             '</A:prop></A:set></A:propertyupdate>')

    result = parse_multistatus(patched)["/alice/work/"]
    assert " 200 " in result[clark(DAV, "displayname")][0]
    assert " 200 " in result[clark(ICAL, "calendar-color")][0]
    after = parse_multistatus(server.request("PROPFIND", "/alice/work/", user="alice",
                                             headers={"Depth": "0"}, body=propfind))
    props_after = after["/alice/work/"]
    assert ok_text(props_after, DAV, "displayname") == "Büro"
    assert ok_text(props_after, ICAL, "calendar-color") == "#CC73E1FF"
    assert ok_text(props_after, CS, "getctag") != ok_text(before["/alice/work/"], CS, "getctag")
    props = json.loads(server.rows("SELECT props FROM collection WHERE path = 'alice/work'")[0][0])
    assert props["D:displayname"] == "Büro"
    assert props["ICAL:calendar-color"] == "#CC73E1FF"
    assert props["C:supported-calendar-component-set"] == "VEVENT"
