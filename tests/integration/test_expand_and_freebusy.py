"""CALDAV:expand, limit-recurrence-set, limit-freebusy-set (RFC 4791
§9.6.5-§9.6.7), free-busy-query (§7.10), floating times (§9.9), VALARM
time ranges and text-match with a time range — through raw HTTP REPORTs
against a real kalend server, on SQLite and PostgreSQL. The answers are
parsed with icalendar and checked property by property.
"""

from __future__ import annotations

import datetime as dt

import icalendar
from occurrence_support import (
    CALDAV,
    KOLKATA_VTIMEZONE,
    NEW_YORK_VTIMEZONE,
    UTC,
    calendar_data,
    clark,
    corpus_text,
    expand_data,
    free_busy_query,
    freebusy_periods,
    hrefs,
    make_calendar,
    multistatus,
    put,
    report,
    stamp,
    time_range_query,
)

USER = "alice"


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def setup(server, name: str = "cal", fixtures=(), **kwargs) -> str:
    server.add_user(USER)
    path = make_calendar(server, USER, name, **kwargs)
    for fixture in fixtures:
        put(server, USER, path + fixture, corpus_text(fixture))
    return path


def event(uid: str, start: str, end: str, summary: str = "", extra: str = "",
          component: str = "VEVENT") -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//kalend tests//EN",
             f"BEGIN:{component}", f"UID:{uid}", "DTSTAMP:20260101T000000Z",
             f"DTSTART:{start}"]
    if end:
        lines.append(f"DTEND:{end}")
    lines.append(f"SUMMARY:{summary or uid}")
    lines += [line for line in extra.split("\n") if line]
    lines += [f"END:{component}", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


def raw_calendar_data(response) -> dict[str, str]:
    return {href.rsplit("/", 1)[-1]: props[clark(CALDAV, "calendar-data")].text
            for href, props in multistatus(response).items()}


def assert_expanded_shape(calendar: icalendar.Calendar, raw: str) -> None:
    """§9.6.5: one instance per component, in UTC, no recurrence rules, no
    VTIMEZONE."""
    assert not calendar.walk("VTIMEZONE")
    assert "TZID" not in raw and "RRULE" not in raw and "EXDATE" not in raw \
        and "RDATE" not in raw
    for component in calendar.subcomponents:
        assert component.get("RECURRENCE-ID") is not None, component.to_ical()
        assert "RANGE" not in component["RECURRENCE-ID"].params
        for name in ("DTSTART", "DTEND", "DUE", "RECURRENCE-ID"):
            if component.get(name) is not None:
                value = component[name].dt
                assert isinstance(value, dt.datetime) and value.tzinfo is not None
                assert value.utcoffset() == dt.timedelta(0), (name, value)


# -- expand ------------------------------------------------------------------------------


def test_expand_weekly_with_moved_instance_and_exdates(server):
    google = "google-export-recurring-with-exceptions.ics"
    path = setup(server, fixtures=[google])
    start, end = utc(2026, 3, 30), utc(2026, 5, 8)
    answer = report(server, USER, path, time_range_query("VEVENT", start, end,
                                                         calendar_data=expand_data(start, end)))
    raw = raw_calendar_data(answer)[google]
    calendar = icalendar.Calendar.from_ical(raw)
    assert_expanded_shape(calendar, raw)
    events = sorted(calendar.walk("VEVENT"), key=lambda e: e["DTSTART"].dt)
    # Tuesdays and Thursdays 31 Mar - 7 May, without the EXDATEs of 2 and 14 April.
    starts = [e["DTSTART"].dt for e in events]
    assert utc(2026, 4, 2, 7, 30) not in starts and utc(2026, 4, 14, 7, 30) not in starts
    assert len(events) == 10
    assert starts[0] == utc(2026, 3, 31, 7, 30)              # 09:30 CEST
    assert events[0]["DTEND"].dt == utc(2026, 3, 31, 8, 0)
    assert events[0]["RECURRENCE-ID"].dt == utc(2026, 3, 31, 7, 30)
    assert str(events[0]["SUMMARY"]) == "Engineering sync"
    moved = events[-1]
    assert moved["RECURRENCE-ID"].dt == utc(2026, 5, 7, 7, 30)
    assert (moved["DTSTART"].dt, moved["DTEND"].dt) == (utc(2026, 5, 7, 12), utc(2026, 5, 7, 13))
    assert str(moved["SUMMARY"]) == "Engineering sync (afternoon)"
    assert str(moved["LOCATION"]) == "Offsite room"
    assert str(calendar["X-WR-CALNAME"]) == "Team calendar"   # the envelope is kept


def test_expand_weekly_with_moved_instance_in_its_own_week(server):
    fixture = "weekly-with-moved-instance.ics"
    path = setup(server, fixtures=[fixture])
    start, end = utc(2026, 1, 12), utc(2026, 1, 27)
    answer = report(server, USER, path, time_range_query("VEVENT", start, end,
                                                         calendar_data=expand_data(start, end)))
    raw = raw_calendar_data(answer)[fixture]
    calendar = icalendar.Calendar.from_ical(raw)
    assert_expanded_shape(calendar, raw)
    got = sorted((e["DTSTART"].dt, e["DTEND"].dt, e["RECURRENCE-ID"].dt, str(e["SUMMARY"]))
                 for e in calendar.walk("VEVENT"))
    assert got == [
        (utc(2026, 1, 12, 9), utc(2026, 1, 12, 10), utc(2026, 1, 12, 9), "Weekly planning"),
        (utc(2026, 1, 20, 13), utc(2026, 1, 20, 14, 30), utc(2026, 1, 19, 9),
         "Weekly planning (moved to Tuesday)"),
        (utc(2026, 1, 26, 9), utc(2026, 1, 26, 10), utc(2026, 1, 26, 9), "Weekly planning")]


def test_expand_thisandfuture_gives_each_instance_its_own_recurrence_id(server):
    fixture = "thisandfuture-override.ics"
    path = setup(server, fixtures=[fixture])
    start, end = utc(2026, 2, 20), utc(2026, 3, 20)
    answer = report(server, USER, path, time_range_query("VEVENT", start, end,
                                                         calendar_data=expand_data(start, end)))
    raw = raw_calendar_data(answer)[fixture]
    calendar = icalendar.Calendar.from_ical(raw)
    assert_expanded_shape(calendar, raw)
    got = sorted((e["RECURRENCE-ID"].dt, e["DTSTART"].dt, e["DTEND"].dt)
                 for e in calendar.walk("VEVENT"))
    assert got == [
        (utc(2026, 2, 23, 9), utc(2026, 2, 23, 9), utc(2026, 2, 23, 10)),
        (utc(2026, 3, 2, 9), utc(2026, 3, 2, 13), utc(2026, 3, 2, 14, 30)),
        (utc(2026, 3, 9, 9), utc(2026, 3, 9, 13), utc(2026, 3, 9, 14, 30)),
        (utc(2026, 3, 16, 9), utc(2026, 3, 16, 13), utc(2026, 3, 16, 14, 30))]


def test_expand_recurring_todo(server):
    fixture = "todo-start-duration.ics"
    path = setup(server, fixtures=[fixture])
    start, end = utc(2027, 1, 10), utc(2027, 1, 26)
    answer = report(server, USER, path, time_range_query("VTODO", start, end,
                                                         calendar_data=expand_data(start, end)))
    raw = raw_calendar_data(answer)[fixture]
    calendar = icalendar.Calendar.from_ical(raw)
    assert_expanded_shape(calendar, raw)
    todos = sorted(calendar.walk("VTODO"), key=lambda t: t["DTSTART"].dt)
    assert [t["DTSTART"].dt for t in todos] == [utc(2027, 1, 11, 8), utc(2027, 1, 18, 8),
                                              utc(2027, 1, 25, 8)]
    assert [t["RECURRENCE-ID"].dt for t in todos] == [t["DTSTART"].dt for t in todos]
    for todo in todos:
        due = todo["DUE"].dt if todo.get("DUE") is not None \
            else todo["DTSTART"].dt + todo["DURATION"].dt
        assert due - todo["DTSTART"].dt == dt.timedelta(hours=4)
        assert str(todo["SUMMARY"]).startswith("Weekly report")


def test_expand_todo_range_ending_at_an_instance_start_leaves_it_out(server):
    """§9.9, DTSTART+DURATION: (start <= DTSTART+DURATION) AND (end > DTSTART
    OR end >= DTSTART+DURATION); a range ending exactly at 25 Jan 08:00 does
    not hold that instance, one starting exactly at 18 Jan 12:00 (its end)
    still holds the 18 Jan one."""
    fixture = "todo-start-duration.ics"
    path = setup(server, fixtures=[fixture])
    start, end = utc(2027, 1, 18, 12), utc(2027, 1, 25, 8)
    answer = report(server, USER, path, time_range_query("VTODO", start, end,
                                                         calendar_data=expand_data(start, end)))
    calendar = calendar_data(answer)[fixture]
    assert [t["DTSTART"].dt for t in calendar.walk("VTODO")] == [utc(2027, 1, 18, 8)]


# -- limit-recurrence-set and limit-freebusy-set -------------------------------------------------


def limit_recurrence_data(start: dt.datetime, end: dt.datetime) -> str:
    return (f'<C:calendar-data><C:limit-recurrence-set start="{stamp(start)}" '
            f'end="{stamp(end)}"/></C:calendar-data>')


def test_limit_recurrence_set_keeps_master_and_overrides_in_range(server):
    fixture = "weekly-with-moved-instance.ics"
    apple = "apple-export-recurring.ics"
    path = setup(server, fixtures=[fixture, apple])

    def components(start, end):
        answer = report(server, USER, path, time_range_query(
            "VEVENT", start, end, calendar_data=limit_recurrence_data(start, end)))
        return {name: [(c.get("RECURRENCE-ID") and c["RECURRENCE-ID"].dt, c.get("RRULE") is not None)
                       for c in calendar.walk("VEVENT")]
                for name, calendar in calendar_data(answer).items()}

    # The moved instance (now on Tuesday 20 January) is in range: master + override.
    got = components(utc(2026, 1, 20), utc(2026, 1, 21))
    assert set(got) == {fixture}
    berlin = icalendar.Calendar.from_ical(corpus_text(fixture)).walk("VEVENT")[1]["RECURRENCE-ID"].dt
    assert got[fixture] == [(None, True), (berlin, False)]
    # A February week has only plain instances: the master alone, with its rule.
    got = components(utc(2026, 2, 2), utc(2026, 2, 9))
    assert got == {fixture: [(None, True)]}
    # The Apple override (15 October) and not the other item's.
    got = components(utc(2026, 10, 12), utc(2026, 10, 19))
    assert set(got) == {apple} and len(got[apple]) == 2 and got[apple][0] == (None, True)
    answer = report(server, USER, path, time_range_query(
        "VEVENT", utc(2026, 10, 12), utc(2026, 10, 19),
        calendar_data=limit_recurrence_data(utc(2026, 10, 12), utc(2026, 10, 19))))
    raw = raw_calendar_data(answer)[apple]
    assert "BEGIN:VTIMEZONE" in raw and "TZID=Europe/Berlin" in raw  # not converted
    override = icalendar.Calendar.from_ical(raw).walk("VEVENT")[1]
    assert int(override["SEQUENCE"]) == 2
    assert str(override["SUMMARY"]) == "Choir rehearsal (dress rehearsal at the hall)"


VFREEBUSY = "\r\n".join([
    "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//kalend tests//EN",
    "BEGIN:VFREEBUSY", "UID:published-busy", "DTSTAMP:20260101T000000Z",
    "DTSTART:20261201T000000Z", "DTEND:20261231T000000Z",
    "ORGANIZER:mailto:alice@example.org",
    "FREEBUSY:20261202T090000Z/20261202T100000Z,20261210T090000Z/PT2H",
    "FREEBUSY;FBTYPE=BUSY-UNAVAILABLE:20261203T180000Z/20261203T200000Z",
    "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20261220T120000Z/20261220T130000Z",
    "END:VFREEBUSY", "END:VCALENDAR", ""])


def store_vfreebusy(server, path: str, href: str, text: str) -> None:
    """PUT a VFREEBUSY object (a published free-busy block) into a calendar.

    Stock Radicale 3.9 refuses it with 400 (its time-range computation fails
    on VFREEBUSY); kalend corrects that (server/radicale_compat.py), so the
    object goes in over HTTP like any other."""
    response = server.request("PUT", path + href, user=USER, body=text,
                              headers={"Content-Type": "text/calendar"})
    assert response.status_code == 201, response.text



def test_limit_freebusy_set_on_a_stored_vfreebusy(server):
    path = setup(server, components=("VEVENT", "VTODO", "VFREEBUSY"))
    store_vfreebusy(server, path, "busy.ics", VFREEBUSY)
    start, end = utc(2026, 12, 3), utc(2026, 12, 11)
    body = f"""<?xml version="1.0" encoding="UTF-8"?>
<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data>
    <C:limit-freebusy-set start="{stamp(start)}" end="{stamp(end)}"/>
  </C:calendar-data></D:prop>
  <D:href>{path}busy.ics</D:href>
</C:calendar-multiget>
"""
    answer = report(server, USER, path, body)
    (busy,) = calendar_data(answer)["busy.ics"].walk("VFREEBUSY")
    periods = []
    values = busy.get("FREEBUSY")
    for prop in values if isinstance(values, list) else [values]:
        for period_start, period_end in (prop.dt if isinstance(prop.dt, list) else [prop.dt]):
            if isinstance(period_end, dt.timedelta):
                period_end = period_start + period_end
            periods.append((period_start, period_end, str(prop.params.get("FBTYPE", "BUSY"))))
    # 2 December and 20 December are outside [3 Dec, 11 Dec): left out.
    assert sorted(periods) == [
        (utc(2026, 12, 3, 18), utc(2026, 12, 3, 20), "BUSY-UNAVAILABLE"),
        (utc(2026, 12, 10, 9), utc(2026, 12, 10, 11), "BUSY")]
    assert busy["UID"] == "published-busy"


# -- free-busy-query ------------------------------------------------------------------------------


def test_free_busy_query_merges_types_and_clips(server):
    path = setup(server, components=("VEVENT", "VTODO", "VFREEBUSY"))
    day = "20261208"
    items = {
        "early.ics": event("early", f"{day}T070000Z", f"{day}T083000Z"),
        "a.ics": event("a", f"{day}T090000Z", f"{day}T100000Z"),
        "b.ics": event("b", f"{day}T093000Z", f"{day}T110000Z", extra="TRANSP:OPAQUE"),
        "adjacent.ics": event("adjacent", f"{day}T110000Z", f"{day}T113000Z",
                              extra="STATUS:CONFIRMED"),
        "maybe.ics": event("maybe", f"{day}T130000Z", f"{day}T140000Z", extra="STATUS:TENTATIVE"),
        "free.ics": event("free", f"{day}T150000Z", f"{day}T160000Z", extra="TRANSP:TRANSPARENT"),
        "off.ics": event("off", f"{day}T160000Z", f"{day}T170000Z", extra="STATUS:CANCELLED"),
        "late.ics": event("late", f"{day}T203000Z", f"{day}T233000Z"),
        "todo.ics": event("todo", f"{day}T120000Z", "", component="VTODO",
                          extra=f"DUE:{day}T123000Z"),
        "unavailable.ics": VFREEBUSY.replace("20261203T180000Z/20261203T200000Z",
                                             f"{day}T180000Z/{day}T200000Z"),
    }
    for name, text in items.items():
        if "VFREEBUSY" in text:
            store_vfreebusy(server, path, name, text)
        else:
            put(server, USER, path + name, text)
    answer = report(server, USER, path, free_busy_query(utc(2026, 12, 8, 8), utc(2026, 12, 8, 21)))
    calendar = icalendar.Calendar.from_ical(answer.text)
    (busy,) = calendar.walk("VFREEBUSY")
    assert (busy["DTSTART"].dt, busy["DTEND"].dt) == (utc(2026, 12, 8, 8), utc(2026, 12, 8, 21))
    assert freebusy_periods(answer) == [
        (utc(2026, 12, 8, 8), utc(2026, 12, 8, 8, 30), "BUSY"),          # clipped at start
        (utc(2026, 12, 8, 9), utc(2026, 12, 8, 11, 30), "BUSY"),         # a+b+adjacent merged
        (utc(2026, 12, 8, 13), utc(2026, 12, 8, 14), "BUSY-TENTATIVE"),
        (utc(2026, 12, 8, 18), utc(2026, 12, 8, 20), "BUSY-UNAVAILABLE"),  # from VFREEBUSY
        (utc(2026, 12, 8, 20, 30), utc(2026, 12, 8, 21), "BUSY"),        # clipped at end
    ]


def test_free_busy_query_of_recurring_exports(server):
    outlook = "outlook-export-recurring.ics"
    google = "google-export-recurring-with-exceptions.ics"
    path = setup(server, fixtures=[outlook, google])
    answer = report(server, USER, path, free_busy_query(utc(2026, 11, 2), utc(2026, 11, 7)))
    assert freebusy_periods(answer) == [
        (utc(2026, 11, 3, 8, 30), utc(2026, 11, 3, 9), "BUSY"),          # Google Tuesday
        (utc(2026, 11, 5, 8, 30), utc(2026, 11, 5, 9), "BUSY"),          # Google Thursday
        (utc(2026, 11, 6, 10), utc(2026, 11, 6, 11), "BUSY-TENTATIVE"),  # Outlook exception
    ]
    # The cancelled Google instance of 2 June holds no time; its neighbours do.
    answer = report(server, USER, path, free_busy_query(utc(2026, 6, 1), utc(2026, 6, 5)))
    assert freebusy_periods(answer) == [(utc(2026, 6, 4, 7, 30), utc(2026, 6, 4, 8), "BUSY")]


# -- floating times ---------------------------------------------------------------------------------


def test_floating_event_in_the_request_timezone(server):
    fixture = "floating-time.ics"
    path = setup(server, fixtures=[fixture])
    # 14:30Z-14:45Z is 09:30-09:45 in New York, inside Monday's 09:00-10:00.
    start, end = utc(2026, 11, 30, 14, 30), utc(2026, 11, 30, 14, 45)
    in_new_york = report(server, USER, path, time_range_query("VEVENT", start, end,
                                                              timezone=NEW_YORK_VTIMEZONE))
    assert hrefs(in_new_york) == {fixture}
    in_utc = report(server, USER, path, time_range_query("VEVENT", start, end))
    assert hrefs(in_utc) == set()  # read as UTC the event is 09:00Z-10:00Z
    # Expand in the request zone: instances in UTC, converted from New York.
    answer = report(server, USER, path, time_range_query(
        "VEVENT", utc(2026, 11, 30), utc(2026, 12, 2),
        calendar_data=expand_data(utc(2026, 11, 30), utc(2026, 12, 2)),
        timezone=NEW_YORK_VTIMEZONE))
    calendar = calendar_data(answer)[fixture]
    assert sorted(e["DTSTART"].dt for e in calendar.walk("VEVENT")) == [
        utc(2026, 11, 30, 14), utc(2026, 12, 1, 14)]


def test_floating_event_in_the_calendar_timezone(server):
    fixture = "floating-time.ics"
    server.add_user(USER)
    path = make_calendar(server, USER, "ny", calendar_timezone=NEW_YORK_VTIMEZONE)
    put(server, USER, path + fixture, corpus_text(fixture))
    start, end = utc(2026, 11, 30, 14, 30), utc(2026, 11, 30, 14, 45)
    assert hrefs(report(server, USER, path, time_range_query("VEVENT", start, end))) == {fixture}
    # A request zone wins over the calendar's (RFC 4791 §7.8 / §9.8).
    assert hrefs(report(server, USER, path, time_range_query(
        "VEVENT", start, end, timezone=KOLKATA_VTIMEZONE))) == set()
    answer = report(server, USER, path, free_busy_query(utc(2026, 11, 30), utc(2026, 12, 1)))
    assert freebusy_periods(answer) == [(utc(2026, 11, 30, 14), utc(2026, 11, 30, 15), "BUSY")]

    # PROPPATCH the calendar-timezone to Kolkata: 09:00 IST is 03:30Z.
    body = f"""<?xml version="1.0" encoding="UTF-8"?>
<D:propertyupdate xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:set><D:prop><C:calendar-timezone><![CDATA[{KOLKATA_VTIMEZONE}]]></C:calendar-timezone></D:prop></D:set>
</D:propertyupdate>
"""
    response = server.request("PROPPATCH", path, user=USER, body=body,
                              headers={"Content-Type": "application/xml; charset=utf-8"})
    assert response.status_code == 207 and " 200 " in response.text, response.text
    assert hrefs(report(server, USER, path, time_range_query("VEVENT", start, end))) == set()
    assert hrefs(report(server, USER, path, time_range_query(
        "VEVENT", utc(2026, 11, 30, 3, 30), utc(2026, 11, 30, 3, 31)))) == {fixture}
    answer = report(server, USER, path, free_busy_query(utc(2026, 11, 30), utc(2026, 12, 1)))
    assert freebusy_periods(answer) == [(utc(2026, 11, 30, 3, 30), utc(2026, 11, 30, 4, 30),
                                         "BUSY")]


def test_all_day_event_in_the_request_timezone(server):
    fixture = "all-day-multi-day.ics"
    path = setup(server, fixtures=[fixture])
    # 1-11 July 2027 in New York starts at 04:00Z on 1 July: 02:00Z-03:00Z is before it.
    start, end = utc(2027, 7, 1, 2), utc(2027, 7, 1, 3)
    assert hrefs(report(server, USER, path, time_range_query("VEVENT", start, end))) == {fixture}
    assert hrefs(report(server, USER, path, time_range_query(
        "VEVENT", start, end, timezone=NEW_YORK_VTIMEZONE))) == set()
    # ... and it ends at 04:00Z on 11 July in New York.
    assert hrefs(report(server, USER, path, time_range_query(
        "VEVENT", utc(2027, 7, 11, 2), utc(2027, 7, 11, 3),
        timezone=NEW_YORK_VTIMEZONE))) == {fixture}


def test_expand_journal_with_a_date_in_the_request_timezone(server):
    """§9.9: a VJOURNAL with a DATE covers that day in the request's zone;
    3 December in New York runs to 05:00Z on the 4th, so 03:30Z holds it —
    for the query and for its expand answer alike."""
    fixture = "journal-dated.ics"
    path = setup(server, fixtures=[fixture])
    start, end = utc(2026, 12, 4, 3, 30), utc(2026, 12, 4, 3, 31)
    answer = report(server, USER, path, time_range_query(
        "VJOURNAL", start, end, calendar_data=expand_data(start, end),
        timezone=NEW_YORK_VTIMEZONE))
    (journal,) = calendar_data(answer)[fixture].walk("VJOURNAL")
    assert journal["DTSTART"].dt == dt.date(2026, 12, 3)
    assert hrefs(report(server, USER, path, time_range_query("VJOURNAL", start, end))) == set()


# -- VALARM and text-match ------------------------------------------------------------------------------


def alarm_query(start: dt.datetime, end: dt.datetime) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
    <C:comp-filter name="VALARM"><C:time-range start="{stamp(start)}" end="{stamp(end)}"/></C:comp-filter>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>
"""


def test_valarm_time_range_finds_an_alarm_firing_before_the_event(server):
    path = setup(server)
    alarm = "BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:Tomorrow\nTRIGGER:-P1D\nEND:VALARM"
    put(server, USER, path + "alarmed.ics",
        event("alarmed", "20261210T100000Z", "20261210T110000Z", extra=alarm))
    put(server, USER, path + "silent.ics", event("silent", "20261209T100000Z", "20261209T110000Z"))
    start, end = utc(2026, 12, 9, 9), utc(2026, 12, 9, 11)
    # The alarm fires 9 December 10:00Z; the event itself is on the 10th.
    assert hrefs(report(server, USER, path, alarm_query(start, end))) == {"alarmed.ics"}
    assert hrefs(report(server, USER, path, time_range_query("VEVENT", start, end))) \
        == {"silent.ics"}
    assert hrefs(report(server, USER, path, alarm_query(utc(2026, 12, 10, 9),
                                                        utc(2026, 12, 10, 11)))) == set()


def test_text_match_combined_with_a_time_range(server):
    path = setup(server, fixtures=["monthly-byday.ics", "weekly-with-moved-instance.ics"])
    put(server, USER, path + "retro-later.ics",
        event("retro-later", "20270301T100000Z", "20270301T110000Z", summary="Retro follow-up"))
    put(server, USER, path + "other.ics",
        event("other", "20260227T100000Z", "20260227T110000Z", summary="Budget"))
    match = ('<C:prop-filter name="SUMMARY">'
             '<C:text-match collation="i;ascii-casemap">retro</C:text-match></C:prop-filter>')
    start, end = utc(2026, 2, 23), utc(2026, 3, 2)
    answer = report(server, USER, path, time_range_query("VEVENT", start, end, inner=match))
    # Last-Friday retro (27 Feb) matches both; the later retro is out of
    # range; "Budget" and the weekly planning are in range but do not match.
    assert hrefs(answer) == {"monthly-byday.ics"}
    negated = match.replace("<C:text-match ", '<C:text-match negate-condition="yes" ')
    answer = report(server, USER, path, time_range_query("VEVENT", start, end, inner=negated))
    assert hrefs(answer) == {"other.ics", "weekly-with-moved-instance.ics"}


# -- ten years ahead -------------------------------------------------------------------------------------


def test_never_ending_weekly_ten_years_ahead(server):
    fixture = "never-ending-weekly.ics"
    path = setup(server, fixtures=[fixture, "weekly-with-exdate.ics"])
    monday = dt.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    monday += dt.timedelta(days=3652)
    monday -= dt.timedelta(days=monday.weekday())
    start, end = monday, monday + dt.timedelta(days=7)
    assert hrefs(report(server, USER, path, time_range_query("VEVENT", start, end))) == {fixture}
    wednesday = monday + dt.timedelta(days=2)
    import zoneinfo
    london = dt.datetime(wednesday.year, wednesday.month, wednesday.day, 9,
                         tzinfo=zoneinfo.ZoneInfo("Europe/London")).astimezone(UTC)
    answer = report(server, USER, path, free_busy_query(start, end))
    assert freebusy_periods(answer) == [(london, london + dt.timedelta(minutes=30), "BUSY")]
    answer = report(server, USER, path, time_range_query("VEVENT", start, end,
                                                         calendar_data=expand_data(start, end)))
    (instance,) = calendar_data(answer)[fixture].walk("VEVENT")
    assert instance["DTSTART"].dt == london and instance["RECURRENCE-ID"].dt == london
    # Nothing the week before the rule began, as a sanity check of the range.
    assert hrefs(report(server, USER, path, time_range_query(
        "VEVENT", utc(2025, 5, 26), utc(2025, 6, 2)))) == set()
