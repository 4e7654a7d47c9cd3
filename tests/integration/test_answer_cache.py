"""Repeated REPORTs answered from the answer cache never show stale data.

An identical calendar-query on an unchanged calendar is answered from memory;
every change a client could see in the answer (a PUT, a DELETE, a PROPPATCH
of the calendar's time zone, an invitation delivered by another user's PUT,
a write through another kalend process on the same database) must show up
in the very next answer. Runs on SQLite and PostgreSQL.

After changes, a kept calendar-query answer is brought up to date by looking
at the changed items only; those answers are compared with the same query
computed afresh (a body that differs by whitespace has its own key).
"""

from __future__ import annotations

import datetime as dt
import gzip
import random

import pytest
import requests
from kalend_testing import PASSWORD, KalendServer
from occurrence_support import (
    NEW_YORK_VTIMEZONE,
    hrefs,
    make_calendar,
    multistatus,
    put,
    report,
    time_range_query,
)

from kalend.storage_plugin.collection import Collection

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


# -- answers brought up to date from the change log -----------------------------------


def recurring(uid: str, start: str, exdate: str | None = None) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//kalend tests//EN", "BEGIN:VEVENT",
             f"UID:{uid}", "DTSTAMP:20260101T000000Z", f"DTSTART:{start}Z", "DURATION:PT1H",
             "RRULE:FREQ=WEEKLY;COUNT=20", "SUMMARY:Weekly"]
    if exdate:
        lines.append(f"EXDATE:{exdate}Z")
    return "\r\n".join([*lines, "END:VEVENT", "END:VCALENDAR", ""])


WEEK_WITH_DATA = time_range_query("VEVENT", *WEEK, calendar_data="<C:calendar-data/>")


def answer(server, path: str, fresh: bool = False) -> dict[str, tuple[str, str]]:
    """href -> (ETag, calendar data) of the week; ``fresh``: a body of its
    own, which no earlier answer was kept for."""
    body = WEEK_WITH_DATA + (f"<!-- {random.random()} -->" if fresh else "")
    found = multistatus(report(server, USER, path, body))
    return {href: (props["{DAV:}getetag"].text,
                   props["{urn:ietf:params:xml:ns:caldav}calendar-data"].text)
            for href, props in found.items()}


@pytest.fixture
def narrowed(monkeypatch) -> list:
    """The ``hrefs`` each calendar-query's index lookup was narrowed to
    (None: the whole calendar was queried)."""
    calls: list = []
    original = Collection.filtered_rows

    def spy(self, filters, with_text=True, changed=None):
        calls.append(None if changed is None else set(changed.hrefs))
        return original(self, filters, with_text, changed)
    monkeypatch.setattr(Collection, "filtered_rows", spy)
    return calls


def change(server, path: str, text: str) -> None:
    response = server.request("PUT", path, user=USER, body=text,
                              headers={"Content-Type": "text/calendar"})
    assert response.status_code in (201, 204), response.text


def test_after_a_few_changes_only_the_changed_items_are_looked_up(server, calendar,
                                                                  narrowed):
    put(server, USER, calendar + "b.ics", event("b", "20260304T100000"))
    put(server, USER, calendar + "c.ics", event("c", "20260320T100000"))
    put(server, USER, calendar + "d.ics", event("d", "20260321T100000"))
    put(server, USER, calendar + "r.ics", recurring("r", "20260105T080000"))
    first = answer(server, calendar)
    change(server, calendar + "a.ics", event("a", "20260303T100000", summary="Room 4"))
    change(server, calendar + "b.ics", event("b", "20260330T100000"))      # out of the week
    change(server, calendar + "c.ics", event("c", "20260305T100000"))      # into the week
    change(server, calendar + "d.ics", event("d", "20260322T100000"))      # still outside
    change(server, calendar + "r.ics", recurring("r", "20260105T080000", "20260302T080000"))
    put(server, USER, calendar + "e.ics", event("e", "20260306T100000"))
    assert server.request("DELETE", calendar + "e.ics", user=USER).status_code in (200, 204)
    put(server, USER, calendar + "f.ics", event("f", "20260307T100000"))
    narrowed.clear()
    patched = answer(server, calendar)
    calls = list(narrowed)
    fresh = answer(server, calendar, fresh=True)

    assert {h.rsplit("/", 1)[-1] for h in first} == {"a.ics", "b.ics", "r.ics"}
    assert calls == [{"a.ics", "b.ics", "c.ics", "d.ics", "r.ics", "e.ics", "f.ics"}]
    assert patched == fresh
    assert {h.rsplit("/", 1)[-1] for h in patched} == {"a.ics", "c.ics", "f.ics"}
    assert "SUMMARY:Room 4" in next(data for h, (_e, data) in patched.items()
                                    if h.endswith("/a.ics"))


def test_a_time_zone_change_is_not_patched_over(server, calendar, narrowed):
    put(server, USER, calendar + "f.ics", event("f", "20260308T210000", floating=True))
    answer(server, calendar)
    server.request(
        "PROPPATCH", calendar, user=USER, headers={"Content-Type": "application/xml"},
        body='<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" '
             'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
             f"<C:calendar-timezone><![CDATA[{NEW_YORK_VTIMEZONE}]]></C:calendar-timezone>"
             "</D:prop></D:set></D:propertyupdate>")
    put(server, USER, calendar + "g.ics", event("g", "20260304T100000"))
    narrowed.clear()
    after = answer(server, calendar)

    assert narrowed == [None]
    assert {h.rsplit("/", 1)[-1] for h in after} == {"a.ics", "g.ics"}


def test_random_edits_between_queries_give_the_fresh_answer(server, calendar, narrowed):
    rng = random.Random(20261122)
    days = ["20260226", "20260301", "20260302", "20260304", "20260308", "20260309",
            "20260312"]
    names = [f"x{number}.ics" for number in range(8)]
    alive: set[str] = set()
    answer(server, calendar)
    for _round in range(4):
        for _step in range(5):
            name = rng.choice(names)
            kind = rng.random()
            if name in alive and kind < 0.25:
                assert server.request("DELETE", calendar + name,
                                      user=USER).status_code in (200, 204)
                alive.discard(name)
                continue
            day, hour = rng.choice(days), rng.randrange(0, 24)
            uid = name.removesuffix(".ics")
            text = (recurring(uid, f"{day}T{hour:02d}0000") if kind > 0.75 else
                    event(uid, f"{day}T{hour:02d}0000", summary=f"v{rng.random()}",
                          floating=kind < 0.5))
            change(server, calendar + name, text)
            alive.add(name)
        narrowed.clear()
        patched = answer(server, calendar)
        assert narrowed and narrowed[0] is not None
        assert patched == answer(server, calendar, fresh=True)
