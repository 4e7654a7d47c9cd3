"""A calendar-query's calendar data comes from the ETag cache only when it is
the stored text.

The answer cache is off here, so that every query reaches the calendar-data
cache. Each test compares the calendar data of a week view with what GET
returns for the same object (the stored bytes), before and after changes,
and looks at which objects' text the server read from the database. Runs on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator

import pytest
from kalend_testing import write_config
from occurrence_support import (
    CALDAV,
    clark,
    make_calendar,
    multistatus,
    put,
    report,
    time_range_query,
)
from sqlalchemy import event
from sqlalchemy.engine import Engine

WEEK = (dt.datetime(2026, 3, 2, tzinfo=dt.UTC), dt.datetime(2026, 3, 9, tzinfo=dt.UTC))
WEEK_VIEW = time_range_query("VEVENT", *WEEK, calendar_data="<C:calendar-data/>")


def event_text(uid: str, day: int, summary: str) -> str:
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//kalend tests//EN", "BEGIN:VEVENT",
        f"UID:{uid}", "DTSTAMP:20260101T000000Z", f"DTSTART:202603{day:02d}T100000Z",
        "DURATION:PT1H", f"SUMMARY:{summary}", "END:VEVENT", "END:VCALENDAR", ""])


@pytest.fixture
def server_config(tmp_path, database_url: str) -> str:
    return write_config(str(tmp_path / "data"), database_url,
                        storage={"answer_cache_mb": "0"})


@pytest.fixture
def texts_read() -> Iterator[list[str]]:
    """The names of the objects whose text the server read by href (the
    server runs in this process, so its engine's statements pass here)."""
    names: list[str] = []

    def record(_conn, _cursor, statement: str, parameters, *_args) -> None:
        if re.search(r"SELECT item\.href, item\.etag, .*item\.text", statement, re.DOTALL) \
                and "item.href IN" in statement:
            values = parameters.values() if isinstance(parameters, dict) else parameters
            names.extend(str(v).rsplit("/", 1)[-1] for v in values
                         if str(v).endswith(".ics"))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield names
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def week_data(server, user: str, path: str) -> dict[str, str]:
    """name -> calendar data of the week view, as the client reads it."""
    answer = report(server, user, path, WEEK_VIEW)
    return {href.rsplit("/", 1)[-1]: props[clark(CALDAV, "calendar-data")].text or ""
            for href, props in multistatus(answer).items()}


def stored(server, user: str, path: str) -> str:
    """The object as GET returns it, with its line ends as an XML reader
    sees them in calendar-data (XML 1.0 §2.11 turns CR LF into LF)."""
    response = server.request("GET", path, user=user)
    assert response.status_code == 200
    return response.content.decode("utf-8").replace("\r\n", "\n")


@pytest.fixture
def calendar(server) -> str:
    server.add_user("alice")
    path = make_calendar(server, "alice", "work")
    put(server, "alice", path + "a.ics", event_text("a", 3, "Planning"))
    put(server, "alice", path + "b.ics", event_text("b", 4, "R&D <review> & \"notes\""))
    return path


def test_unchanged_objects_are_served_without_reading_their_text_again(
        server, calendar, texts_read):
    first = week_data(server, "alice", calendar)
    read_first = sorted(texts_read)
    texts_read.clear()
    second = week_data(server, "alice", calendar)

    assert read_first == ["a.ics", "b.ics"]
    assert texts_read == []
    assert first == second == {name: stored(server, "alice", calendar + name)
                               for name in ("a.ics", "b.ics")}


def test_a_changed_object_is_read_again_and_served_with_its_new_text(
        server, calendar, texts_read):
    week_data(server, "alice", calendar)
    changed = server.request("PUT", calendar + "b.ics", user="alice",
                             body=event_text("b", 4, "Moved to <Room 4> & later"),
                             headers={"Content-Type": "text/calendar"})
    texts_read.clear()
    after = week_data(server, "alice", calendar)

    assert changed.status_code == 204
    assert texts_read == ["b.ics"]
    assert "SUMMARY:Moved to <Room 4> & later" in after["b.ics"]
    assert after == {name: stored(server, "alice", calendar + name)
                     for name in ("a.ics", "b.ics")}


def test_the_same_text_in_two_users_calendars_is_served_to_each_under_their_own_href(
        server, calendar):
    server.add_user("bob")
    bobs = make_calendar(server, "bob", "home")
    same = stored(server, "alice", calendar + "a.ics")
    put(server, "bob", bobs + "copy.ics", same.replace("\n", "\r\n"))
    alice_before = week_data(server, "alice", calendar)
    bob_before = week_data(server, "bob", bobs)
    changed = server.request("PUT", bobs + "copy.ics", user="bob",
                             body=event_text("a", 3, "Bob's own title"),
                             headers={"Content-Type": "text/calendar"})
    alice_after = week_data(server, "alice", calendar)
    bob_after = week_data(server, "bob", bobs)

    assert bob_before == {"copy.ics": same}
    assert changed.status_code == 204
    assert alice_after == alice_before and alice_before["a.ics"] == same
    assert "SUMMARY:Bob's own title" in bob_after["copy.ics"]


def test_with_the_cache_off_the_answer_is_the_same(server, calendar, tmp_path,
                                                  database_url, texts_read):
    from kalend_testing import KalendServer

    cached = report(server, "alice", calendar, WEEK_VIEW).content
    cached_again = report(server, "alice", calendar, WEEK_VIEW).content
    # A second server on the same database and logins, with the cache off.
    off_config = write_config(str(tmp_path / "off"), database_url,
                              storage={"answer_cache_mb": "0", "calendar_data_cache_mb": "0"})
    shutil.copy(tmp_path / "data" / "htpasswd", tmp_path / "off" / "htpasswd")
    uncached_server = KalendServer(off_config, database_url, str(tmp_path / "off"))
    uncached_server.start_in_thread()
    try:
        texts_read.clear()
        uncached = report(uncached_server, "alice", calendar, WEEK_VIEW).content
    finally:
        uncached_server.stop()

    assert cached == cached_again == uncached
    assert texts_read == []       # read with the query itself, not afterwards by href
