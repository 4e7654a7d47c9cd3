"""The occurrence index against an outside oracle (issue 4, point 6).

Every calendar object of the corpus in tests/fixtures/calendars is stored in
a real kalend server (HTTP PUT, so the storage plugin indexes it as in
production), then hypothesis draws random time ranges — from two years back
to twelve years ahead, one minute to sixty days long, many of them anchored
on the exact start or end of an instance so the edges are exercised — and
three answers are compared with recurring-ical-events evaluated directly on
the same iCalendar text:

(a) the items a calendar-query with a time-range on the component returns
    == the items for which the oracle yields at least one instance;
(b) the number of components in a CALDAV:expand answer for that range ==
    the oracle's number of instances;
(c) the BUSY / BUSY-TENTATIVE periods of a free-busy-query == the oracle's
    instances (TRANSP:TRANSPARENT and STATUS:CANCELLED left out) clipped to
    the range and merged.

Each test runs on SQLite and on PostgreSQL (the ``server`` fixture is
parametrised). The ranges reach far beyond the materialised window (one year
back, two years ahead), so both the index and the on-the-fly expansion of
items outside their window are compared.

Where the oracle and RFC 4791 §9.9 disagree, the RFC decides. Each such rule
is written out in ``rfc_instances`` below; anything the rules do not explain
must agree exactly:

R1  VTODO. recurring-ical-events treats a to-do as the half-open interval
    [DTSTART, DUE) (DURATION is turned into DUE; DUE alone is a zero-length
    instant). §9.9 has its own table: DTSTART+DURATION matches when
    ``start <= DTSTART+DURATION AND (end > DTSTART OR end >= DTSTART+DURATION)``;
    DUE alone when ``start < DUE AND end >= DUE``. They differ only for ranges
    that touch an end point exactly; the test checks that every difference
    is of that kind and then takes the RFC's answer.
R2  VJOURNAL with a DATE DTSTART. recurring-ical-events treats it as an
    instant at midnight; §9.9 says ``start < DTSTART+P1D AND end > DTSTART``
    (the whole day). The RFC's answer is taken.
R3  A zero-length VEVENT (DATE-TIME DTSTART, no DTEND or DURATION) matches a
    range starting exactly at its start (§9.9: ``start <= DTSTART AND end >
    DTSTART``). recurring-ical-events agrees, so no exception is needed; the
    corpus has such an event (zero-length-event.ics) and the comparison stays
    strict for it. It holds no busy time (an empty period).
R4  Instance length across a daylight-saving change. RFC 5545 §3.8.5.3: when
    a recurring event's length is given by DTEND, "the same exact duration
    will apply to all the members of the generated recurrence set".
    recurring-ical-events keeps the wall-clock length instead (an instance
    across the March change comes out an hour short, across October an hour
    long). The oracle's busy periods use the master's exact duration for
    every instance that is not overridden; dst-transition-weekly.ics has both
    changes.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import icalendar
import pytest
import recurring_ical_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from occurrence_support import (
    KOLKATA_VTIMEZONE,
    NEW_YORK_VTIMEZONE,
    UTC,
    calendar_data,
    corpus_names,
    corpus_text,
    expand_data,
    free_busy_query,
    freebusy_periods,
    hrefs,
    make_calendar,
    put,
    report,
    time_range_query,
)

USER = "alice"
NOW = dt.datetime.now(UTC).replace(second=0, microsecond=0)
EARLIEST = NOW - dt.timedelta(days=2 * 365)
LATEST = NOW + dt.timedelta(days=12 * 365)
MAX_MINUTES = 60 * 24 * 60
COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL")

SETTINGS = settings(max_examples=60, deadline=None, derandomize=False,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

ZONES = {None: (UTC, None),
         "America/New_York": (zoneinfo.ZoneInfo("America/New_York"), NEW_YORK_VTIMEZONE),
         "Asia/Kolkata": (zoneinfo.ZoneInfo("Asia/Kolkata"), KOLKATA_VTIMEZONE)}


# -- the oracle -------------------------------------------------------------------------


def parsed(name: str) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(corpus_text(name))


def components_of(calendar: icalendar.Calendar) -> set[str]:
    return {c.name for c in calendar.walk() if c.name in COMPONENTS}


def to_utc(value, zone: dt.tzinfo) -> dt.datetime:
    """A DATE or DATE-TIME as a UTC instant; floating values and dates are
    read in ``zone`` (RFC 4791 §9.9)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone)
        return value.astimezone(UTC)
    return dt.datetime(value.year, value.month, value.day, tzinfo=zone).astimezone(UTC)


def event_bounds(instance, zone: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """RFC 5545 §3.6.1: DTEND, or DTSTART+DURATION, or one day for a DATE,
    or zero length for a DATE-TIME."""
    start = instance["DTSTART"].dt
    if instance.get("DTEND") is not None:
        end = instance["DTEND"].dt
    elif instance.get("DURATION") is not None:
        end = start + instance["DURATION"].dt
    elif isinstance(start, dt.datetime):
        end = start
    else:
        end = start + dt.timedelta(days=1)
    return to_utc(start, zone), to_utc(end, zone)


def oracle(calendar: icalendar.Calendar, component: str, start: dt.datetime,
           end: dt.datetime, zone: dt.tzinfo) -> list:
    """recurring-ical-events' own answer; floating times and dates are
    compared in ``zone`` by handing it bounds in that zone."""
    query = recurring_ical_events.of(calendar, components=[component])
    return list(query.between(start.astimezone(zone), end.astimezone(zone)))


def instance_key(instance, zone: dt.tzinfo) -> tuple[str, dt.datetime]:
    return str(instance["UID"]), to_utc(instance["DTSTART"].dt, zone)


def _todo_shape(calendar: icalendar.Calendar) -> dict[str, str]:
    """UID -> which §9.9 row the (master) to-do falls in; the oracle's
    instances have lost DURATION, so the shape is read from the source."""
    shapes = {}
    for todo in calendar.walk("VTODO"):
        has = {p: todo.get(p) is not None for p in ("DTSTART", "DURATION", "DUE")}
        if has["DTSTART"] and has["DURATION"]:
            shapes[str(todo["UID"])] = "start+duration"
        elif has["DTSTART"] and has["DUE"]:
            shapes[str(todo["UID"])] = "start+due"
        elif has["DTSTART"]:
            shapes[str(todo["UID"])] = "start"
        elif has["DUE"]:
            shapes[str(todo["UID"])] = "due"
        else:
            raise AssertionError("the corpus has no undated to-dos; add a rule for them")
    return shapes


def _rfc_todo(shape: str, instance, start: dt.datetime, end: dt.datetime,
              zone: dt.tzinfo) -> bool:
    """RFC 4791 §9.9, VTODO table (rows with DTSTART or DUE)."""
    if shape == "due":
        due = to_utc(instance["DUE"].dt, zone)
        return start < due and end >= due
    begin = to_utc(instance["DTSTART"].dt, zone)
    if shape == "start":
        return start <= begin and end > begin
    finish = to_utc(instance["DUE"].dt, zone)  # DTSTART+DURATION or DUE
    if shape == "start+duration":
        return start <= finish and (end > begin or end >= finish)
    return (start < finish or start <= begin) and (end > begin or end >= finish)


def _rfc_journal(instance, start: dt.datetime, end: dt.datetime, zone: dt.tzinfo) -> bool:
    """RFC 4791 §9.9, VJOURNAL table."""
    value = instance["DTSTART"].dt
    begin = to_utc(value, zone)
    if isinstance(value, dt.datetime):
        return start <= begin and end > begin
    return start < to_utc(value + dt.timedelta(days=1), zone) and end > begin


def _rfc_events(calendar: icalendar.Calendar, plain: list, start: dt.datetime,
                end: dt.datetime, zone: dt.tzinfo) -> list:
    """R4 for membership: an instance of a DTEND-timed recurring event keeps
    the master's exact length; the oracle's own (wall-clock) length decides
    only where the two agree. Every departure is checked to be an instance
    whose length the daylight-saving change altered."""
    exact = exact_lengths(calendar, zone)
    if not exact:
        return plain
    around = oracle(calendar, "VEVENT", start - dt.timedelta(days=2),
                    end + dt.timedelta(days=2), zone)
    chosen = []
    for instance in around:
        lo, hi = event_bounds(instance, zone)
        length = exact.get(str(instance["UID"]))
        if length is not None and not is_overridden(calendar, instance, zone):
            hi = lo + length
        if lo < end and (hi > start or (hi == lo and lo >= start)):
            chosen.append(instance)
    plain_keys = {instance_key(i, zone) for i in plain}
    chosen_keys = {instance_key(i, zone) for i in chosen}
    for instance in around:
        key = instance_key(instance, zone)
        if (key in plain_keys) != (key in chosen_keys):
            lo, hi = event_bounds(instance, zone)
            assert hi - lo != exact[str(instance["UID"])], (
                "the oracle and R4 differ on an instance of normal length", instance.to_ical())
    return chosen


def rfc_instances(calendar: icalendar.Calendar, component: str, start: dt.datetime,
                  end: dt.datetime, zone: dt.tzinfo) -> list:
    """The oracle's instances, with rules R1 and R2 of the module docstring
    applied; every departure from the plain oracle is checked to be one of
    those rules."""
    plain = oracle(calendar, component, start, end, zone)
    if component == "VEVENT":
        return _rfc_events(calendar, plain, start, end, zone)
    around = oracle(calendar, component, start - dt.timedelta(days=2),
                    end + dt.timedelta(days=2), zone)
    if component == "VTODO":
        shapes = _todo_shape(calendar)
        chosen = [i for i in around if _rfc_todo(shapes[str(i["UID"])], i, start, end, zone)]
    else:
        chosen = [i for i in around if _rfc_journal(i, start, end, zone)]
    plain_keys = {instance_key(i, zone) for i in plain}
    chosen_keys = {instance_key(i, zone) for i in chosen}
    for instance in around:
        key = instance_key(instance, zone)
        if (key in plain_keys) == (key in chosen_keys):
            continue
        if component == "VJOURNAL":  # R2
            assert not isinstance(instance["DTSTART"].dt, dt.datetime), (
                "the oracle and §9.9 differ on a DATE-TIME journal", instance.to_ical())
            continue
        # R1: only ranges touching an end point of the to-do may differ.
        points = {to_utc(instance[p].dt, zone) for p in ("DTSTART", "DUE")
                  if instance.get(p) is not None}
        assert start in points or end in points, (
            "the oracle and §9.9 differ on a to-do away from its end points",
            start, end, instance.to_ical())
    return chosen


def exact_lengths(calendar: icalendar.Calendar, zone: dt.tzinfo) -> dict[str, dt.timedelta]:
    """R4: UID -> exact DTEND - DTSTART of each recurring master with DTEND."""
    lengths = {}
    for event in calendar.walk("VEVENT"):
        if "RECURRENCE-ID" in event or "RRULE" not in event or "DTEND" not in event:
            continue
        if isinstance(event["DTSTART"].dt, dt.datetime) and event["DTSTART"].dt.tzinfo:
            lengths[str(event["UID"])] = (to_utc(event["DTEND"].dt, zone)
                                          - to_utc(event["DTSTART"].dt, zone))
    return lengths


def is_overridden(calendar: icalendar.Calendar, instance, zone: dt.tzinfo) -> bool:
    """Whether an instance comes from its own RECURRENCE-ID component."""
    recurrence = instance.get("RECURRENCE-ID")
    if recurrence is None:
        return False
    instant = to_utc(recurrence.dt, zone)
    return any(str(e.get("UID")) == str(instance["UID"]) and "RECURRENCE-ID" in e
               and to_utc(e["RECURRENCE-ID"].dt, zone) == instant
               for e in calendar.walk("VEVENT"))


def busy_periods(calendar: icalendar.Calendar, start: dt.datetime, end: dt.datetime,
                 zone: dt.tzinfo) -> list[tuple[dt.datetime, dt.datetime, str]]:
    """RFC 4791 §7.10 from the oracle's VEVENT instances: TRANSPARENT and
    CANCELLED left out, TENTATIVE as BUSY-TENTATIVE, clipped and merged."""
    by_type: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {}
    exact = exact_lengths(calendar, zone)
    for instance in rfc_instances(calendar, "VEVENT", start, end, zone):
        if str(instance.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
            continue
        status = str(instance.get("STATUS", "CONFIRMED")).upper()
        if status == "CANCELLED":
            continue
        fbtype = "BUSY-TENTATIVE" if status == "TENTATIVE" else "BUSY"
        lo, hi = event_bounds(instance, zone)
        length = exact.get(str(instance["UID"]))
        if length is not None and not is_overridden(calendar, instance, zone):
            hi = lo + length  # R4
        lo, hi = max(lo, start), min(hi, end)
        if hi > lo:
            by_type.setdefault(fbtype, []).append((lo, hi))
    merged = []
    for fbtype, spans in by_type.items():
        spans.sort()
        current = list(spans[0])
        for lo, hi in spans[1:]:
            if lo <= current[1]:
                current[1] = max(current[1], hi)
            else:
                merged.append((current[0], current[1], fbtype))
                current = [lo, hi]
        merged.append((current[0], current[1], fbtype))
    return sorted(merged)


# -- kalend, over HTTP ---------------------------------------------------------------------


def load(server, name: str, fixtures: list[str]) -> str:
    server.add_user(USER)
    path = make_calendar(server, USER, name)
    for fixture in fixtures:
        put(server, USER, path + fixture, corpus_text(fixture))
    return path


def compare(server, path: str, calendars: dict[str, icalendar.Calendar],
            start: dt.datetime, end: dt.datetime, zone_name: str | None = None) -> int:
    """Compare (a), (b) and (c) for one range; returns the number of
    instances the oracle found (for tests that must not be vacuous)."""
    zone, vtimezone = ZONES[zone_name]
    total = 0
    for component in COMPONENTS:
        holders = {n: c for n, c in calendars.items() if component in components_of(c)}
        if not holders:
            continue
        expected = {n: rfc_instances(c, component, start, end, zone) for n, c in holders.items()}
        expected_items = {n for n, found in expected.items() if found}
        total += sum(len(found) for found in expected.values())

        # (a) the items of a time-range calendar-query
        answer = report(server, USER, path, time_range_query(component, start, end,
                                                             timezone=vtimezone))
        assert hrefs(answer) == expected_items, (component, start, end, zone_name)

        # (b) the instances of an expand answer
        answer = report(server, USER, path, time_range_query(
            component, start, end, calendar_data=expand_data(start, end), timezone=vtimezone))
        expanded = calendar_data(answer)
        assert set(expanded) == expected_items, (component, start, end, zone_name)
        for name, calendar in expanded.items():
            got = sorted(to_utc(c["DTSTART"].dt, zone) for c in calendar.walk(component))
            want = sorted(to_utc(i["DTSTART"].dt, zone) for i in expected[name])
            assert got == want, (name, component, start, end, zone_name)

    # (c) free-busy
    if zone_name is None:
        want_busy: list = []
        for calendar in calendars.values():
            want_busy += busy_periods(calendar, start, end, zone)
        answer = report(server, USER, path, free_busy_query(start, end), depth="1")
        got_busy = freebusy_periods(answer)
        assert got_busy == _merge(want_busy), (start, end)
    return total


def _merge(periods: list[tuple[dt.datetime, dt.datetime, str]]):
    """Merge the per-item periods of several items (free-busy is per calendar)."""
    by_type: dict[str, list] = {}
    for lo, hi, fbtype in periods:
        by_type.setdefault(fbtype, []).append((lo, hi, fbtype))
    merged = []
    for spans in by_type.values():
        spans.sort()
        current = list(spans[0])
        for lo, hi, fbtype in spans[1:]:
            if lo <= current[1]:
                current[1] = max(current[1], hi)
            else:
                merged.append(tuple(current))
                current = [lo, hi, fbtype]
        merged.append(tuple(current))
    return sorted(merged)


# -- ranges ------------------------------------------------------------------------------------


def anchors_of(calendars: list[icalendar.Calendar]) -> list[dt.datetime]:
    """Every instance start and end in the drawn span, in UTC, plus the
    local midnights of all-day and floating instances in the request zones."""
    points: set[dt.datetime] = set()
    for calendar in calendars:
        for component in components_of(calendar):
            for zone, _ in ZONES.values():
                for instance in oracle(calendar, component, EARLIEST - dt.timedelta(days=61),
                                       LATEST, zone):
                    for name in ("DTSTART", "DTEND", "DUE"):
                        if instance.get(name) is not None:
                            points.add(to_utc(instance[name].dt, zone))
                    if component == "VEVENT":
                        points.update(event_bounds(instance, zone))
    return sorted(p for p in points if EARLIEST - dt.timedelta(days=61) <= p <= LATEST)


def ranges(anchors: list[dt.datetime]):
    """(start, end): uniformly anywhere, or with one end on an instance
    boundary (exactly, or a few minutes off)."""
    span_minutes = int((LATEST - EARLIEST).total_seconds() // 60)
    length = st.one_of(st.integers(1, MAX_MINUTES),
                       st.sampled_from([1, 30, 60, 24 * 60, 7 * 24 * 60, MAX_MINUTES]))
    uniform = st.tuples(st.integers(0, span_minutes), length).map(
        lambda t: (EARLIEST + dt.timedelta(minutes=t[0]),
                   EARLIEST + dt.timedelta(minutes=t[0] + t[1])))
    if not anchors:
        return uniform
    offset = st.one_of(st.just(0), st.sampled_from([-1, 1, -60, 60]), st.integers(-180, 180))

    def anchored(t):
        anchor, shift, minutes, at_end = t
        point = anchor + dt.timedelta(minutes=shift)
        if at_end:
            return point - dt.timedelta(minutes=minutes), point
        return point, point + dt.timedelta(minutes=minutes)

    near = st.tuples(st.sampled_from(anchors), offset, length, st.booleans()).map(anchored)
    return st.one_of(uniform, near, near)


# -- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", corpus_names())
def test_each_fixture_agrees_with_the_oracle(server, fixture):
    path = load(server, "one", [fixture])
    calendars = {fixture: parsed(fixture)}
    found = []

    @SETTINGS
    @given(ranges(anchors_of(list(calendars.values()))))
    def check(time_range):
        found.append(compare(server, path, calendars, *time_range))

    check()
    assert any(found), f"no drawn range met an instance of {fixture}"


def test_whole_corpus_in_one_calendar_agrees_with_the_oracle(server):
    names = corpus_names()
    path = load(server, "corpus", names)
    calendars = {name: parsed(name) for name in names}
    found = []

    @SETTINGS
    @given(ranges(anchors_of(list(calendars.values()))), st.sampled_from(sorted(ZONES, key=str)))
    def check(time_range, zone_name):
        found.append(compare(server, path, calendars, *time_range, zone_name=zone_name))

    check()
    assert sum(1 for f in found if f) > 10


def test_floating_and_all_day_compared_in_the_request_zone(server):
    """RFC 4791 §9.9: floating times and dates are compared in the zone of
    CALDAV:timezone; hypothesis draws the ranges, the zone is fixed."""
    names = ["floating-time.ics", "all-day-event.ics", "all-day-multi-day.ics",
             "journal-dated.ics"]
    path = load(server, "floating", names)
    calendars = {name: parsed(name) for name in names}
    found = []

    @SETTINGS
    @given(ranges(anchors_of(list(calendars.values()))),
           st.sampled_from(["America/New_York", "Asia/Kolkata"]))
    def check(time_range, zone_name):
        found.append(compare(server, path, calendars, *time_range, zone_name=zone_name))

    check()
    assert any(found)


@pytest.mark.parametrize("years", [3, 10, 12])
def test_never_ending_weekly_far_ahead(server, years):
    """A query years past the materialised window still sees a rule without
    an end (expanded on the fly), in all three answers."""
    path = load(server, "forever", ["never-ending-weekly.ics"])
    calendars = {"never-ending-weekly.ics": parsed("never-ending-weekly.ics")}
    start = NOW + dt.timedelta(days=365 * years)
    assert compare(server, path, calendars, start, start + dt.timedelta(days=7)) == 1
    assert compare(server, path, calendars, start, start + dt.timedelta(days=56)) == 8
    answer = report(server, USER, path, free_busy_query(start, start + dt.timedelta(days=7)))
    (period,) = freebusy_periods(answer)
    assert period[1] - period[0] == dt.timedelta(minutes=30)
    assert period[0].astimezone(zoneinfo.ZoneInfo("Europe/London")).strftime("%a %H:%M") \
        == "Wed 09:00"


@pytest.mark.parametrize("start, end", [
    # The instance of 28 March 2027 starts 00:30Z and lasts exactly two hours
    # (R4); the library alone ends it at 01:30Z, an hour short.
    (dt.datetime(2027, 3, 28, 1, 30, tzinfo=UTC), dt.datetime(2027, 3, 28, 1, 31, tzinfo=UTC)),
    (dt.datetime(2027, 3, 28, 1, 30, tzinfo=UTC), dt.datetime(2027, 4, 3, 23, 31, tzinfo=UTC)),
    # 31 October 2027: 23:30Z on the 30th to 01:30Z, not the library's 02:30Z.
    (dt.datetime(2027, 10, 31, 1, 31, tzinfo=UTC), dt.datetime(2027, 10, 31, 1, 32, tzinfo=UTC)),
])
def test_instances_across_daylight_saving_changes_last_exactly_as_long(server, start, end):
    name = "dst-transition-weekly.ics"
    path = load(server, "dst", [name])

    compare(server, path, {name: parsed(name)}, start, end)
