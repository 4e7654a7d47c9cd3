"""VALARM time-range queries (RFC 4791 §9.9) from the occurrence index.

A client asking "which events have a reminder firing between S and E" sends
comp-filter VCALENDAR > VEVENT > VALARM > time-range (RFC 4791 §7.8.5).
kalend narrows the candidates with each item's alarm bounds and the
occurrence index, then expands the candidates exactly. The hand-worked cases
below pin the RFC's semantics (every trigger of every instance, REPEAT,
RELATED=END, absolute triggers, a moved instance with its own alarm, floating
dates in the query's zone, ten years ahead of the window); the property test
compares random ranges with recurring-ical-events evaluated directly on the
same text, so an item the index narrowing loses shows up. Both run on SQLite
and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import icalendar
import pytest
import recurring_ical_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kalend_testing import write_config
from occurrence_support import NEW_YORK_VTIMEZONE, UTC, hrefs, make_calendar, put, report, stamp
from sqlalchemy import text

from kalend.storage_plugin import migrate
from kalend.storage_plugin.engine import make_engine

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "alarms")
USER = "alice"
CALENDAR = f"/{USER}/reminders/"


def fixture_names() -> list[str]:
    return sorted(n for n in os.listdir(FIXTURES) if n.endswith(".ics"))


def fixture_text(name: str) -> str:
    with open(os.path.join(FIXTURES, name), encoding="utf-8", newline="") as handle:
        return handle.read()


def alarm_query(component: str, start: dt.datetime, end: dt.datetime,
                timezone: str | None = None) -> str:
    zone = "" if timezone is None else f"<C:timezone><![CDATA[{timezone}]]></C:timezone>"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/></D:prop>
  <C:filter>
    <C:comp-filter name="VCALENDAR">
      <C:comp-filter name="{component}">
        <C:comp-filter name="VALARM">
          <C:time-range start="{stamp(start)}" end="{stamp(end)}"/>
        </C:comp-filter>
      </C:comp-filter>
    </C:comp-filter>
  </C:filter>{zone}
</C:calendar-query>
"""


@pytest.fixture
def reminders(server) -> object:
    server.add_user(USER)
    make_calendar(server, USER, "reminders")
    for name in fixture_names():
        put(server, USER, CALENDAR + name, fixture_text(name))
    return server


def firing(server, component: str, start: dt.datetime, end: dt.datetime,
           timezone: str | None = None) -> set[str]:
    response = report(server, USER, CALENDAR, alarm_query(component, start, end, timezone))
    return {href.rsplit("/", 1)[-1] for href in hrefs(response)}


def at(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)


# -- hand-worked cases ---------------------------------------------------------------


@pytest.mark.parametrize(("start", "end", "expected"), [
    # Monday 2 March 10:00Z, TRIGGER -PT15M, REPEAT 2 every 5 minutes: 09:45, 09:50, 09:55.
    ("2026-03-02T09:46", "2026-03-02T09:49", set()),
    ("2026-03-02T09:49", "2026-03-02T09:51", {"weekly-reminder-repeating.ics"}),
    ("2026-03-09T09:55", "2026-03-09T09:56", {"weekly-reminder-repeating.ics"}),
    # The end of a range is exclusive (start <= trigger < end).
    ("2026-03-02T09:40", "2026-03-02T09:45", set()),
    # Workshop 08:00-16:00Z, TRIGGER;RELATED=END:PT30M -> 16:30.
    ("2026-03-10T16:29", "2026-03-10T16:31", {"alarm-related-to-end.ics"}),
    ("2026-03-10T15:00", "2026-03-10T16:29", set()),
    # An absolute trigger two days before the talk.
    ("2026-03-18T06:59", "2026-03-18T07:01", {"absolute-trigger.ics"}),
    # Berlin stand-up 09:00 (08:00Z) with -PT10M; on 5 March it moved to 14:00 and
    # its own alarm fires a day ahead (4 March 13:00Z); the 07:50Z one is gone that day.
    ("2026-03-06T07:45", "2026-03-06T07:55", {"moved-instance-own-alarm.ics"}),
    ("2026-03-05T07:45", "2026-03-05T07:55", set()),
    ("2026-03-04T12:59", "2026-03-04T13:01", {"moved-instance-own-alarm.ics"}),
    # A never-ending daily run at 06:00Z with -PT1H, ten years past the window.
    ("2036-06-01T04:59", "2036-06-01T05:01", {"never-ending-daily-reminder.ics"}),
    # The all-day birthday (12 March) with -PT15H fires at 09:00 on the 11th, floating.
    ("2026-03-11T08:59", "2026-03-11T09:01", {"all-day-reminder.ics"}),
])
def test_events_with_an_alarm_firing_in_the_range_are_found(reminders, start, end, expected):
    assert firing(reminders, "VEVENT", at(start), at(end)) == expected


def test_a_to_do_reminder_is_found_by_to_do_queries_only(reminders):
    start, end = at("2026-03-15T14:59"), at("2026-03-15T15:01")
    assert firing(reminders, "VTODO", start, end) == {"todo-due-reminder.ics"}
    assert "todo-due-reminder.ics" not in firing(reminders, "VEVENT", start, end)


def test_floating_alarm_times_follow_the_query_time_zone(reminders):
    # 09:00 on 11 March in New York (EDT since 8 March) is 13:00Z.
    start, end = at("2026-03-11T12:59"), at("2026-03-11T13:01")
    assert "all-day-reminder.ics" in firing(reminders, "VEVENT", start, end,
                                              NEW_YORK_VTIMEZONE)
    assert "all-day-reminder.ics" not in firing(reminders, "VEVENT", start, end)


def test_an_event_without_alarms_never_matches_an_alarm_query(reminders):
    found = firing(reminders, "VEVENT", at("2026-03-01T00:00"), at("2026-04-01T00:00"))
    assert "no-alarm.ics" not in found
    assert {"weekly-reminder-repeating.ics", "moved-instance-own-alarm.ics",
            "alarm-related-to-end.ics", "absolute-trigger.ics",
            "all-day-reminder.ics"} <= found


# -- against the library, on random ranges --------------------------------------------


#: recurring-ical-events 3.8 cannot place an alarm of an all-day event (it
#: keeps a DATE and then fails); that one fixture's single trigger is
#: written out instead: 11 March 2026 09:00, floating, read in UTC here.
ALL_DAY = "all-day-reminder.ics"
ALL_DAY_TRIGGER = dt.datetime(2026, 3, 11, 9, tzinfo=UTC)


def oracle(component: str, start: dt.datetime, end: dt.datetime) -> set[str]:
    found = set()
    if component == "VEVENT" and start <= ALL_DAY_TRIGGER < end:
        found.add(ALL_DAY)
    for name in fixture_names():
        if name == ALL_DAY:
            continue
        calendar = icalendar.Calendar.from_ical(fixture_text(name))
        query = recurring_ical_events.of(calendar, components=["VALARM"])
        if any(parent.name == component for parent in query.between(start, end)):
            found.add(name)
    return found


ANCHOR = dt.datetime(2026, 3, 1, tzinfo=UTC)
# Most ranges fall in March 2026, where the fixtures' alarms are, and are
# short enough to sit between two triggers; some reach years ahead, past the
# materialised window.
ranges = st.tuples(
    st.one_of(st.integers(min_value=-2 * 24 * 60, max_value=31 * 24 * 60),
              st.integers(min_value=-400 * 24 * 60, max_value=10 * 365 * 24 * 60)),
    st.one_of(st.integers(min_value=1, max_value=120),
              st.integers(min_value=1, max_value=20 * 24 * 60)),
    st.sampled_from(["VEVENT", "VTODO"]))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(drawn=ranges)
def test_alarm_queries_agree_with_recurring_ical_events(reminders, drawn):
    offset, minutes, component = drawn
    start = ANCHOR + dt.timedelta(minutes=offset)
    end = start + dt.timedelta(minutes=minutes)
    assert firing(reminders, component, start, end) == oracle(component, start, end)


# -- items stored before the alarm columns existed -------------------------------------


def test_upgrading_gives_old_items_their_alarm_bounds(empty_database_url, tmp_path):
    engine = make_engine(empty_database_url)
    migrate.upgrade(engine, "0003_scheduling")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO collection (path, parent_path, owner, tag, props, sync_seq, "
            "sync_floor, modified) VALUES ('alice/cal', 'alice', 'alice', 'VCALENDAR', "
            "'{\"tag\": \"VCALENDAR\"}', 0, 0, 0)"))
        for href, body in (("repeating.ics", fixture_text("weekly-reminder-repeating.ics")),
                           ("absolute.ics", fixture_text("absolute-trigger.ics")),
                           ("plain.ics", fixture_text("no-alarm.ics"))):
            connection.execute(text(
                "INSERT INTO item (collection_id, href, uid, etag, name, component, text, "
                "start, \"end\", modified) SELECT id, :href, :href, '\"e\"', 'VCALENDAR', "
                "'VEVENT', :body, 0, 1, 0 FROM collection WHERE path = 'alice/cal'"),
                {"href": href, "body": body})
    config = write_config(str(tmp_path / "data"), empty_database_url)
    upgraded = subprocess.run([sys.executable, "-m", "kalend", "db", "upgrade",
                               "--config", config], capture_output=True, text=True,
                              timeout=120)
    with engine.connect() as connection:
        bounds = {href: tuple(rest) for href, *rest in connection.execute(text(
            "SELECT href, alarm_lead, alarm_lag, alarm_first, alarm_last FROM item"))}
    engine.dispose()

    assert upgraded.returncode == 0, upgraded.stderr
    # -PT15M, repeated twice every 5 minutes: from 15 minutes before to 5 before.
    assert bounds["repeating.ics"] == (-900, -300, None, None)
    moment = int(dt.datetime(2026, 3, 18, 7, tzinfo=UTC).timestamp())
    assert bounds["absolute.ics"] == (None, None, moment, moment)
    assert bounds["plain.ics"] == (None, None, None, None)
