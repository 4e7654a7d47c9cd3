"""The `caldav` client library against a real kalend server, on both databases."""

from __future__ import annotations

import datetime as dt


def test_caldav_client_creates_calendar_and_finds_event_by_time_range(server):
    server.add_user("alice")
    principal = server.caldav("alice").principal()
    calendar = principal.make_calendar(name="Work", cal_id="work")
    calendar.save_event(dtstart=dt.datetime(2026, 11, 23, 10), dtend=dt.datetime(2026, 11, 23, 11),
                        summary="Planning", uid="planning-1")

    found = calendar.search(start=dt.datetime(2026, 11, 22), end=dt.datetime(2026, 11, 24),
                            event=True)
    missed = calendar.search(start=dt.datetime(2026, 12, 1), end=dt.datetime(2026, 12, 2),
                             event=True)

    assert [str(e.icalendar_component["SUMMARY"]) for e in found] == ["Planning"]
    assert missed == []
    assert server.rows("SELECT href, uid FROM item") == [("planning-1.ics", "planning-1")]
