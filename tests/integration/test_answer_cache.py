"""Repeated REPORTs answered from the answer cache never show stale data.

An identical calendar-query on an unchanged calendar is answered from memory;
every change a client could see in the answer (a PUT, a DELETE, a PROPPATCH
of the calendar's time zone, an invitation delivered by another user's PUT,
a write through another kalend process on the same database) must show up
in the very next answer. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import gzip

import pytest
import requests
from kalend_testing import PASSWORD, KalendServer
from occurrence_support import (
    NEW_YORK_VTIMEZONE,
    hrefs,
    make_calendar,
    put,
    report,
    time_range_query,
)

USER = "alice"
WEEK = (dt.datetime(2026, 3, 2, tzinfo=dt.UTC), dt.datetime(2026, 3, 9, tzinfo=dt.UTC))


def event(uid: str, start: str, summary: str = "Planning", floating: bool = False) -> str:
    zone = "" if floating else "Z"
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//kalend tests//EN", "BEGIN:VEVENT",
        f"UID:{uid}", "DTSTAMP:20260101T000000Z", f"DTSTART:{start}{zone}",
        "DURATION:PT1H", f"SUMMARY:{summary}", "END:VEVENT", "END:VCALENDAR", ""])


def week_names(server, path: str, user: str = USER) -> set[str]:
    response = report(server, user, path, time_range_query("VEVENT", *WEEK))
    return {h.rsplit("/", 1)[-1] for h in hrefs(response)}


@pytest.fixture
def calendar(server) -> str:
    server.add_user(USER, emails=["alice@example.org"])
    path = make_calendar(server, USER, "work")
    put(server, USER, path + "a.ics", event("a", "20260303T100000"))
    return path


def test_a_repeated_query_sees_each_put_and_delete(server, calendar):
    first = week_names(server, calendar)
    again = week_names(server, calendar)
    put(server, USER, calendar + "b.ics", event("b", "20260304T100000"))
    after_put = week_names(server, calendar)
    deleted = server.request("DELETE", calendar + "a.ics", user=USER)
    after_delete = week_names(server, calendar)

    assert first == again == {"a.ics"}
    assert after_put == {"a.ics", "b.ics"}
    assert deleted.status_code in (200, 204)
    assert after_delete == {"b.ics"}


def test_a_changed_event_is_served_with_its_new_text(server, calendar):
    body = time_range_query("VEVENT", *WEEK, calendar_data="<C:calendar-data/>")
    before = report(server, USER, calendar, body).text
    changed = server.request("PUT", calendar + "a.ics", user=USER,
                             body=event("a", "20260303T100000", summary="Moved to Room 4"),
                             headers={"Content-Type": "text/calendar"})
    after = report(server, USER, calendar, body).text

    assert "SUMMARY:Planning" in before
    assert changed.status_code == 204
    assert "SUMMARY:Moved to Room 4" in after and "SUMMARY:Planning" not in after


def test_the_calendar_time_zone_changed_by_proppatch_moves_floating_events(server, calendar):
    # Floating Sunday 8 March 21:00 is 21:00Z, inside the week, read in UTC,
    # and 9 March 01:00Z, after it, read in New York (EDT from 8 March).
    put(server, USER, calendar + "f.ics", event("f", "20260308T210000", floating=True))
    in_utc = week_names(server, calendar)
    patched = server.request(
        "PROPPATCH", calendar, user=USER,
        headers={"Content-Type": "application/xml"},
        body='<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" '
             'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
             f"<C:calendar-timezone><![CDATA[{NEW_YORK_VTIMEZONE}]]></C:calendar-timezone>"
             "</D:prop></D:set></D:propertyupdate>")
    in_new_york = week_names(server, calendar)

    assert "f.ics" in in_utc
    assert patched.status_code == 207
    assert "f.ics" not in in_new_york


def test_an_invitation_delivered_by_another_users_put_shows_up(server):
    server.add_user("alice", emails=["alice@example.org"])
    server.add_user("bob", emails=["bob@example.org"])
    before = week_names(server, "/bob/default/", user="bob")
    invitation = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//kalend tests//EN", "BEGIN:VEVENT",
        "UID:invite-1", "DTSTAMP:20260101T000000Z", "DTSTART:20260305T090000Z",
        "DURATION:PT1H", "SUMMARY:Review", "ORGANIZER:mailto:alice@example.org",
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org",
        "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@example.org",
        "END:VEVENT", "END:VCALENDAR", ""])
    put(server, "alice", "/alice/default/review.ics", invitation)
    after = week_names(server, "/bob/default/", user="bob")

    assert before == set()
    assert len(after) == 1


def test_a_cached_answer_is_not_handed_to_another_user(server, calendar):
    server.add_user("mallory")
    week_names(server, calendar)
    response = report(server, "mallory", calendar, time_range_query("VEVENT", *WEEK))

    assert response.status_code in (403, 404)
    assert "a.ics" not in response.text


def test_the_gzip_form_of_a_cached_answer_is_the_same_answer(server, calendar):
    for number in range(30):
        put(server, USER, f"{calendar}n{number}.ics",
            event(f"n{number}", f"202603{3 + number % 5:02d}T{8 + number % 9:02d}0000",
                  summary="Agenda " * 30))
    body = time_range_query("VEVENT", *WEEK, calendar_data="<C:calendar-data/>").encode()

    def ask(accept: str) -> requests.Response:
        return requests.request(
            "REPORT", server.url.rstrip("/") + calendar, auth=(USER, PASSWORD), stream=True,
            data=body, timeout=60,
            headers={"Content-Type": "application/xml", "Depth": "1",
                     "Accept-Encoding": accept})

    plain = ask("identity").raw.read()
    zipped = [ask("gzip") for _ in range(2)]

    assert all(r.headers["Content-Encoding"] == "gzip" for r in zipped)
    assert [gzip.decompress(r.raw.read()) for r in zipped] == [plain, plain]


def test_a_write_through_another_process_is_seen(server, calendar, server_config,
                                                 database_url, tmp_path):
    other = KalendServer(server_config, database_url, str(tmp_path / "data"))
    other.start_process()
    try:
        before = week_names(server, calendar)
        put(other, USER, calendar + "c.ics", event("c", "20260305T100000"))
        after = week_names(server, calendar)
    finally:
        other.stop()

    assert before == {"a.ics"}
    assert after == {"a.ics", "c.ics"}
