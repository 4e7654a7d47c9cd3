"""The `caldav` client library (3.x) against a real kalend server.

What a script author does with the library — discover the principal from the
base URL, create a calendar, save, load, edit and delete events and tasks,
search a time range, expand recurrences, ask for free-busy, sync
incrementally, delete the calendar — works on kalend's SQL storage as it does
on stock Radicale. Every test runs on SQLite and on PostgreSQL and checks the
rows as well as what the library hands back.
"""

from __future__ import annotations

import datetime as dt
import os
from urllib.parse import urlparse

import icalendar
import pytest
from caldav.lib import error as caldav_error

FIXTURES = os.path.join(os.path.dirname(__file__), os.pardir, "fixtures")
UTC = dt.UTC


def fixture_text(name: str) -> str:
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read().replace("\r\n", "\n").replace("\n", "\r\n")


def path_of(url) -> str:
    return urlparse(str(url)).path


def items(server, calendar_path: str = "alice/work") -> list[tuple]:
    return server.rows(
        "SELECT i.href, i.uid, i.component, i.etag FROM item i "
        "JOIN collection c ON c.id = i.collection_id WHERE c.path = :path ORDER BY i.href",
        path=calendar_path)


def text_of(server, uid: str) -> str:
    (text,), = server.rows("SELECT text FROM item WHERE uid = :uid", uid=uid)
    return text


@pytest.fixture
def work(server):
    """alice's calendar "Work" made through the library."""
    server.add_user("alice")
    return server.caldav("alice").principal().make_calendar(name="Work", cal_id="work")


def test_discovery_from_the_base_url_finds_principal_and_calendar_home(server):
    server.add_user("alice")
    client = server.caldav("alice")

    principal = client.principal()

    assert path_of(principal.url) == "/alice/"
    assert path_of(principal.calendar_home_set.url) == "/alice/"
    # The home comes with its default calendar (RFC 6638 §9.2), nothing else;
    # the inbox and outbox are not calendars to a client.
    assert [path_of(c.url) for c in principal.calendars()] == ["/alice/default/"]
    assert server.rows("SELECT path, owner FROM collection WHERE path = 'alice'") == \
        [("alice", "alice")]


def test_make_calendar_creates_a_calendar_the_principal_then_lists(server):
    server.add_user("alice")
    principal = server.caldav("alice").principal()

    calendar = principal.make_calendar(name="Work ☕", cal_id="work")

    assert path_of(calendar.url) == "/alice/work/"
    listed = {path_of(c.url): c for c in principal.calendars()}
    assert sorted(listed) == ["/alice/default/", "/alice/work/"]
    assert listed["/alice/work/"].get_display_name() == "Work ☕"
    (tag, props), = server.rows("SELECT tag, props FROM collection WHERE path = 'alice/work'")
    assert tag == "VCALENDAR"
    assert '"D:displayname": "Work \\u2615"' in props


def test_saved_event_loads_back_and_is_stored_under_its_uid(server, work):
    event = work.add_event(dtstart=dt.datetime(2026, 11, 23, 10, tzinfo=UTC),
                           dtend=dt.datetime(2026, 11, 23, 11, tzinfo=UTC),
                           summary="Planning", uid="planning-1", location="Room 1")

    loaded = work.event_by_uid("planning-1")

    component = loaded.icalendar_component
    assert str(component["SUMMARY"]) == "Planning"
    assert str(component["LOCATION"]) == "Room 1"
    assert component.decoded("DTSTART") == dt.datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert path_of(event.url) == path_of(loaded.url)
    (href, uid, component_name, etag), = items(server)
    assert (uid, component_name) == ("planning-1", "VEVENT")
    assert path_of(loaded.url) == "/alice/work/" + href
    fetched = server.request("GET", path_of(loaded.url), user="alice")
    assert fetched.headers["ETag"] == etag
    assert fetched.text == text_of(server, "planning-1")


def test_edited_event_is_saved_over_the_old_one(server, work):
    event = work.add_event(dtstart=dt.datetime(2026, 11, 23, 10, tzinfo=UTC),
                           dtend=dt.datetime(2026, 11, 23, 11, tzinfo=UTC),
                           summary="Planning", uid="planning-1")
    (_, _, _, old_etag), = items(server)

    with event.edit_icalendar_component() as component:
        component["SUMMARY"] = "Planning (agenda attached)"
        component["DTSTART"].dt = dt.datetime(2026, 11, 23, 13, tzinfo=UTC)
        component["DTEND"].dt = dt.datetime(2026, 11, 23, 14, tzinfo=UTC)
    event.save()

    reloaded = work.event_by_uid("planning-1")
    assert str(reloaded.icalendar_component["SUMMARY"]) == "Planning (agenda attached)"
    (_, _, _, new_etag), = items(server)
    assert new_etag != old_etag
    text = text_of(server, "planning-1")
    assert "SUMMARY:Planning (agenda attached)" in text
    assert "DTSTART:20261123T130000Z" in text
    assert work.search(start=dt.datetime(2026, 11, 23, 10, tzinfo=UTC),
                       end=dt.datetime(2026, 11, 23, 12, tzinfo=UTC), event=True) == []
    assert len(work.search(start=dt.datetime(2026, 11, 23, 12, tzinfo=UTC),
                           end=dt.datetime(2026, 11, 23, 15, tzinfo=UTC), event=True)) == 1


def test_deleted_event_is_gone_from_server_and_rows(server, work):
    work.add_event(dtstart=dt.datetime(2026, 11, 24, 9, tzinfo=UTC),
                   dtend=dt.datetime(2026, 11, 24, 10, tzinfo=UTC),
                   summary="Keep", uid="keep-1")
    drop = work.add_event(dtstart=dt.datetime(2026, 11, 24, 11, tzinfo=UTC),
                          dtend=dt.datetime(2026, 11, 24, 12, tzinfo=UTC),
                          summary="Drop", uid="drop-1")

    drop.delete()

    with pytest.raises(caldav_error.NotFoundError):
        work.event_by_uid("drop-1")
    assert [str(e.icalendar_component["UID"]) for e in work.events()] == ["keep-1"]
    assert [row[1] for row in items(server)] == ["keep-1"]
    assert server.rows('SELECT href, deleted FROM "change" WHERE deleted = :yes',
                       yes=True) == [(path_of(drop.url).rsplit("/", 1)[1], True)]


def test_todos_are_saved_listed_completed_and_deleted(server, work):
    work.add_todo(summary="Write report", uid="todo-report",
                  due=dt.datetime(2026, 11, 30, 17, tzinfo=UTC))
    errand = work.add_todo(summary="Buy milk", uid="todo-milk")
    work.add_event(dtstart=dt.datetime(2026, 11, 24, 9, tzinfo=UTC),
                   dtend=dt.datetime(2026, 11, 24, 10, tzinfo=UTC),
                   summary="Not a task", uid="event-1")

    pending = work.todos()
    assert sorted(str(t.icalendar_component["UID"]) for t in pending) == \
        ["todo-milk", "todo-report"]

    report = work.todo_by_uid("todo-report")
    report.complete(completion_timestamp=dt.datetime(2026, 11, 21, 9, tzinfo=UTC))

    assert [str(t.icalendar_component["UID"]) for t in work.todos()] == ["todo-milk"]
    everything = work.todos(include_completed=True)
    assert sorted(str(t.icalendar_component["UID"]) for t in everything) == \
        ["todo-milk", "todo-report"]
    text = text_of(server, "todo-report")
    assert "STATUS:COMPLETED" in text
    assert "COMPLETED:20261121T090000Z" in text

    errand.delete()

    assert sorted((row[1], row[2]) for row in items(server)) == [
        ("event-1", "VEVENT"), ("todo-report", "VTODO")]


def test_search_by_time_range_returns_only_events_in_the_range(server, work):
    for day, uid in ((20, "before"), (23, "monday"), (25, "wednesday"), (30, "after")):
        work.add_event(dtstart=dt.datetime(2026, 11, day, 10, tzinfo=UTC),
                       dtend=dt.datetime(2026, 11, day, 11, tzinfo=UTC),
                       summary=uid.title(), uid=uid)
    work.add_todo(summary="Task in range", uid="task", due=dt.datetime(2026, 11, 24, tzinfo=UTC))
    # An event across the lower bound overlaps the range (RFC 4791 §9.9).
    work.add_event(dtstart=dt.datetime(2026, 11, 22, 23, tzinfo=UTC),
                   dtend=dt.datetime(2026, 11, 23, 1, tzinfo=UTC),
                   summary="Overnight", uid="overnight")

    found = work.search(start=dt.datetime(2026, 11, 23, tzinfo=UTC),
                        end=dt.datetime(2026, 11, 27, tzinfo=UTC), event=True)

    assert sorted(str(e.icalendar_component["UID"]) for e in found) == \
        ["monday", "overnight", "wednesday"]
    assert all(e.data and "BEGIN:VEVENT" in e.data for e in found)
    assert len(items(server)) == 6


@pytest.mark.parametrize("server_expand", [False, True], ids=["client-expand", "server-expand"])
def test_expanded_search_gives_each_instance_with_the_override_and_without_the_exdate(
        server, work, server_expand):
    work.add_event(fixture_text("caldav_weekly_event_with_override_and_exdate.ics"))

    found = work.search(start=dt.datetime(2026, 11, 1, tzinfo=UTC),
                        end=dt.datetime(2026, 12, 1, tzinfo=UTC), event=True,
                        expand=True, server_expand=server_expand)

    instances = sorted(
        (e.icalendar_component.decoded("DTSTART"), str(e.icalendar_component["SUMMARY"]),
         e.icalendar_component.decoded("RECURRENCE-ID"))
        for e in found)
    assert instances == [
        (dt.datetime(2026, 11, 2, 9, tzinfo=UTC), "Team sync",
         dt.datetime(2026, 11, 2, 9, tzinfo=UTC)),
        (dt.datetime(2026, 11, 9, 9, tzinfo=UTC), "Team sync",
         dt.datetime(2026, 11, 9, 9, tzinfo=UTC)),
        # 16 November is an EXDATE; 23 November moved to Tuesday afternoon.
        (dt.datetime(2026, 11, 24, 14, tzinfo=UTC), "Team sync (moved to Tuesday)",
         dt.datetime(2026, 11, 23, 9, tzinfo=UTC)),
        (dt.datetime(2026, 11, 30, 9, tzinfo=UTC), "Team sync",
         dt.datetime(2026, 11, 30, 9, tzinfo=UTC)),
    ]
    for event in found:
        assert "RRULE" not in event.icalendar_component
        assert "EXDATE" not in event.icalendar_component
    # Expansion is a view: the stored series is untouched, one row, rule intact.
    (_, uid, component, _), = items(server)
    assert (uid, component) == ("weekly-sync-1f0e", "VEVENT")
    stored = text_of(server, "weekly-sync-1f0e")
    assert "RRULE:FREQ=WEEKLY;COUNT=6" in stored and "EXDATE:20261116T090000Z" in stored


def test_expanded_search_of_a_week_without_instances_finds_nothing(server, work):
    work.add_event(fixture_text("caldav_weekly_event_with_override_and_exdate.ics"))

    exdate_week = work.search(start=dt.datetime(2026, 11, 16, tzinfo=UTC),
                              end=dt.datetime(2026, 11, 17, tzinfo=UTC), event=True,
                              expand=True, server_expand=True)
    moved_from = work.search(start=dt.datetime(2026, 11, 23, tzinfo=UTC),
                             end=dt.datetime(2026, 11, 24, tzinfo=UTC), event=True,
                             expand=True, server_expand=True)
    after_count = work.search(start=dt.datetime(2026, 12, 8, tzinfo=UTC),
                              end=dt.datetime(2027, 1, 1, tzinfo=UTC), event=True,
                              expand=True, server_expand=True)

    assert exdate_week == []
    assert moved_from == []
    assert after_count == []


def test_freebusy_request_on_a_calendar_reports_busy_periods(server, work):
    work.add_event(fixture_text("caldav_weekly_event_with_override_and_exdate.ics"))
    work.add_event(dtstart=dt.datetime(2026, 11, 25, 13, tzinfo=UTC),
                   dtend=dt.datetime(2026, 11, 25, 15, tzinfo=UTC),
                   summary="Workshop", uid="workshop")
    work.add_event(dtstart=dt.datetime(2026, 11, 26, 8, tzinfo=UTC),
                   dtend=dt.datetime(2026, 11, 26, 9, tzinfo=UTC),
                   summary="Maybe", uid="maybe", status="TENTATIVE")
    work.add_event(dtstart=dt.datetime(2026, 11, 27, 8, tzinfo=UTC),
                   dtend=dt.datetime(2026, 11, 27, 18, tzinfo=UTC),
                   summary="Working from home", uid="wfh", transp="TRANSPARENT")
    work.add_event(dtstart=dt.datetime(2026, 12, 3, 8, tzinfo=UTC),
                   dtend=dt.datetime(2026, 12, 3, 9, tzinfo=UTC),
                   summary="Outside the window", uid="december")
    rows_before = server.rows("SELECT href, etag FROM item ORDER BY href")

    freebusy = work.freebusy_request(dt.datetime(2026, 11, 20, tzinfo=UTC),
                                     dt.datetime(2026, 12, 1, tzinfo=UTC))

    calendar = icalendar.Calendar.from_ical(freebusy.data)
    (vfreebusy,) = [c for c in calendar.walk("VFREEBUSY")]
    assert vfreebusy.decoded("DTSTART") == dt.datetime(2026, 11, 20, tzinfo=UTC)
    assert vfreebusy.decoded("DTEND") == dt.datetime(2026, 12, 1, tzinfo=UTC)
    lines = vfreebusy.get("FREEBUSY")
    lines = lines if isinstance(lines, list) else [lines]
    periods = set()
    for line in lines:
        fbtype = str(line.params.get("FBTYPE", "BUSY"))
        for start, end in line.dt if isinstance(line.dt, list) else [line.dt]:
            end = start + end if isinstance(end, dt.timedelta) else end
            periods.add((fbtype, start.astimezone(UTC), end.astimezone(UTC)))
    assert periods == {
        ("BUSY", dt.datetime(2026, 11, 24, 14, tzinfo=UTC),
         dt.datetime(2026, 11, 24, 15, tzinfo=UTC)),
        ("BUSY", dt.datetime(2026, 11, 25, 13, tzinfo=UTC),
         dt.datetime(2026, 11, 25, 15, tzinfo=UTC)),
        ("BUSY-TENTATIVE", dt.datetime(2026, 11, 26, 8, tzinfo=UTC),
         dt.datetime(2026, 11, 26, 9, tzinfo=UTC)),
        ("BUSY", dt.datetime(2026, 11, 30, 9, tzinfo=UTC),
         dt.datetime(2026, 11, 30, 10, tzinfo=UTC)),
    }
    assert "Workshop" not in freebusy.data  # free-busy tells times, not what
    assert server.rows("SELECT href, etag FROM item ORDER BY href") == rows_before


def test_objects_by_sync_token_returns_only_changes_and_deletions_since_the_token(server, work):
    kept = work.add_event(dtstart=dt.datetime(2026, 11, 23, 9, tzinfo=UTC),
                          dtend=dt.datetime(2026, 11, 23, 10, tzinfo=UTC),
                          summary="Kept", uid="kept")
    edited = work.add_event(dtstart=dt.datetime(2026, 11, 24, 9, tzinfo=UTC),
                            dtend=dt.datetime(2026, 11, 24, 10, tzinfo=UTC),
                            summary="Edited", uid="edited")
    removed = work.add_event(dtstart=dt.datetime(2026, 11, 25, 9, tzinfo=UTC),
                             dtend=dt.datetime(2026, 11, 25, 10, tzinfo=UTC),
                             summary="Removed", uid="removed")

    initial = work.objects_by_sync_token(load_objects=True)

    assert not str(initial.sync_token).startswith("fake-")  # a real RFC 6578 sync
    (collection_id, seq), = server.rows(
        "SELECT id, sync_seq FROM collection WHERE path = 'alice/work'")
    assert initial.sync_token == f"urn:kalend:sync:{collection_id}:{seq}"
    assert sorted(path_of(o.url) for o in initial) == sorted(
        path_of(e.url) for e in (kept, edited, removed))

    unchanged = work.objects_by_sync_token(sync_token=initial.sync_token, load_objects=True)
    assert list(unchanged) == []
    assert unchanged.sync_token == initial.sync_token

    with edited.edit_icalendar_component() as component:
        component["SUMMARY"] = "Edited again"
    edited.save()
    removed.delete()
    added = work.add_event(dtstart=dt.datetime(2026, 11, 26, 9, tzinfo=UTC),
                           dtend=dt.datetime(2026, 11, 26, 10, tzinfo=UTC),
                           summary="Added", uid="added")

    delta = work.objects_by_sync_token(sync_token=initial.sync_token, load_objects=True)

    by_path = {path_of(o.url): o for o in delta}
    assert set(by_path) == {path_of(edited.url), path_of(removed.url), path_of(added.url)}
    assert {path_of(u) for u in delta.deleted_urls} == {path_of(removed.url)}
    assert str(by_path[path_of(edited.url)].icalendar_component["SUMMARY"]) == "Edited again"
    assert str(by_path[path_of(added.url)].icalendar_component["SUMMARY"]) == "Added"
    assert delta.sync_token != initial.sync_token
    changes = server.rows(
        'SELECT ch.seq, ch.href, ch.deleted FROM "change" ch '
        "JOIN collection c ON c.id = ch.collection_id WHERE c.path = 'alice/work' "
        "AND ch.seq > :seq ORDER BY ch.seq", seq=seq)
    assert [(href, bool(deleted)) for _, href, deleted in changes] == [
        (path_of(edited.url).rsplit("/", 1)[1], False),
        (path_of(removed.url).rsplit("/", 1)[1], True),
        (path_of(added.url).rsplit("/", 1)[1], False)]

    # The library's own incremental sync() agrees: one updated, one deleted, one added.
    updated, deleted = initial.sync()
    assert sorted(path_of(o.url) for o in updated) == sorted(
        [path_of(edited.url), path_of(added.url)])
    assert [path_of(o.url) for o in deleted] == [path_of(removed.url)]
    assert sorted(path_of(o.url) for o in initial) == sorted(
        path_of(e.url) for e in (kept, edited, added))


def test_deleting_a_calendar_removes_it_with_its_items_and_change_log(server, work):
    work.add_event(dtstart=dt.datetime(2026, 11, 23, 9, tzinfo=UTC),
                   dtend=dt.datetime(2026, 11, 23, 10, tzinfo=UTC), summary="A", uid="a")
    work.add_todo(summary="B", uid="b")
    principal = server.caldav("alice").principal()
    other = principal.make_calendar(name="Home", cal_id="home")
    other.add_event(dtstart=dt.datetime(2026, 11, 23, 9, tzinfo=UTC),
                    dtend=dt.datetime(2026, 11, 23, 10, tzinfo=UTC), summary="C", uid="c")

    work.delete()

    assert [path_of(c.url) for c in principal.calendars()] == ["/alice/default/",
                                                                "/alice/home/"]
    assert server.request("PROPFIND", "/alice/work/", user="alice",
                          headers={"Depth": "0"}).status_code == 404
    assert server.rows("SELECT path FROM collection WHERE path LIKE 'alice/%' "
                       "ORDER BY path") == [("alice/default",), ("alice/home",),
                                            ("alice/inbox",), ("alice/outbox",)]
    assert [row[1] for row in items(server, "alice/home")] == ["c"]
    assert server.count("item") == 1
    assert server.rows('SELECT DISTINCT c.path FROM "change" ch '
                       "JOIN collection c ON c.id = ch.collection_id") == [("alice/home",)]
