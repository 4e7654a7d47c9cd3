"""Materialising the instances of a calendar object (RFC 5545 §3.8.5, RFC 4791 §9.9).

Pure functions: iCalendar text in, occurrence values out. Recurrence
expansion is recurring-ical-events' (RRULE, RDATE, EXDATE, RECURRENCE-ID
overrides including THISANDFUTURE, DURATION, VTIMEZONE and IANA zones, DST);
this module only decides what to store per instance.

Time is stored as integer seconds. Instances with a time zone (or UTC) are
stored in UTC. Floating date-times and all-day dates have no fixed instant:
RFC 4791 §9.9 compares them in the time zone of the request (or the
calendar's); they are stored as wall-clock seconds (the local time read as if
it were UTC) and flagged ``floating``, so a query converts its own range to
wall-clock time in the wanted zone and compares like with like.
"""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

import icalendar
import recurring_ical_events

from kalend.storage_plugin.expansion_budget import InstanceLimitError

UTC = dt.UTC

#: Bounds used for "no limit" (match Radicale's timestamp range closely
#: enough for SQL BIGINT comparisons).
TIME_MIN = -62135596800        # 0001-01-01T00:00:00Z
TIME_MAX = 253402300799        # 9999-12-31T23:59:59Z

#: An occurrence longer than this is flagged ``long_span``; range queries scan
#: the start index only this far back for the others (see collection queries).
LONG_SPAN_SECONDS = 7 * 86400

COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL")

#: Slack around a range handed to recurring-ical-events with naive bounds.
#: Floating values sit up to 14 hours from UTC, and the library takes a
#: VJOURNAL with a DATE start as an instant at midnight while RFC 4791 §9.9
#: lets it match the whole day: one day plus the largest zone offset is
#: needed, two days are used. Callers filter the result with ``overlaps``.
EXPANSION_SLACK = 2 * 86400

#: Free-busy types an instance can imply (RFC 5545 §3.2.9).
BUSY, TENTATIVE, UNAVAILABLE, FREE = "BUSY", "BUSY-TENTATIVE", "BUSY-UNAVAILABLE", "FREE"


@dataclass(frozen=True)
class Occurrence:
    """One instance of a component, as stored in the ``occurrence`` table."""

    component: str
    start: int
    end: int
    floating: bool
    recurrence_id: str | None
    status: str | None
    transp: str | None
    fbtype: str

    @property
    def long_span(self) -> bool:
        return self.end - self.start > LONG_SPAN_SECONDS


@dataclass(frozen=True)
class Expansion:
    """The instances of one object within a window, and whether that is all
    of them (``complete``) or the object has instances outside the window."""

    occurrences: tuple[Occurrence, ...]
    window_start: int
    window_end: int
    complete: bool
    open_ended: bool
    #: The series has too many instances to store its whole past: only the
    #: window is stored, and queries before it expand the series on the fly.
    past_capped: bool = False


# -- time conversion ----------------------------------------------------------


def to_seconds(value: dt.date | dt.datetime) -> tuple[int, bool]:
    """(seconds, floating) for a DATE or DATE-TIME value."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return int(value.replace(tzinfo=UTC).timestamp()), True
        return int(value.timestamp()), False
    midnight = dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    return int(midnight.timestamp()), True


def wall_clock(instant: int, zone: dt.tzinfo | None) -> int:
    """The wall-clock seconds in ``zone`` of a UTC instant (for comparing
    with floating rows); UTC when no zone is known."""
    if zone is None or instant <= TIME_MIN or instant >= TIME_MAX:
        return instant
    local = dt.datetime.fromtimestamp(instant, UTC).astimezone(zone)
    return int(local.replace(tzinfo=UTC).timestamp())


def from_seconds(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(max(min(seconds, TIME_MAX), TIME_MIN), UTC)


def zone_from_vtimezone(text: str) -> dt.tzinfo | None:
    """The zone of a CALDAV:calendar-timezone / CALDAV:timezone value (a
    VCALENDAR holding one VTIMEZONE): the IANA zone of that name when there
    is one, else the VTIMEZONE's own rules."""
    try:
        calendar = icalendar.Calendar.from_ical(text)
        for component in calendar.walk("VTIMEZONE"):
            tzid = str(component.get("TZID", ""))
            try:
                return zoneinfo.ZoneInfo(tzid)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                return component.to_tz()
    except Exception:
        return None
    return None


# -- reading one instance ------------------------------------------------------


def _value(component: icalendar.cal.Component, name: str):
    prop = component.get(name)
    return None if prop is None else getattr(prop, "dt", prop)


def _text(component: icalendar.cal.Component, name: str) -> str | None:
    value = component.get(name)
    return None if value is None else str(value).upper()


def _event_span(event: icalendar.cal.Component) -> tuple[int, int, bool] | None:
    """RFC 4791 §9.9 for VEVENT: DTEND or DURATION, else one day for a DATE
    start and zero length for a DATE-TIME start."""
    start_value = _value(event, "DTSTART")
    if start_value is None:
        return None
    start, floating = to_seconds(start_value)
    end_value = _value(event, "DTEND")
    if end_value is not None:
        end, _ = to_seconds(end_value)
    elif event.get("DURATION") is not None:
        end = start + int(_value(event, "DURATION").total_seconds())
    elif isinstance(start_value, dt.datetime):
        end = start
    else:
        end = start + 86400
    return start, max(end, start), floating


def _todo_span(todo: icalendar.cal.Component) -> tuple[int, int, bool]:
    """An interval that contains every range RFC 4791 §9.9 lets a VTODO
    match; queries on it are inclusive and Radicale re-checks the exact rule."""
    start_value, due_value = _value(todo, "DTSTART"), _value(todo, "DUE")
    floating = False
    points = []
    for value in (start_value, due_value):
        if value is not None:
            seconds, is_floating = to_seconds(value)
            points.append(seconds)
            floating |= is_floating
    if start_value is not None and due_value is None and todo.get("DURATION") is not None:
        points.append(points[0] + int(_value(todo, "DURATION").total_seconds()))
    if points:
        return min(points), max(points), floating
    completed, created = _value(todo, "COMPLETED"), _value(todo, "CREATED")
    stamps = [to_seconds(v)[0] for v in (completed, created) if v is not None]
    if completed is not None:
        return min(stamps), max(stamps), False
    if created is not None:
        return stamps[0], TIME_MAX, False
    return TIME_MIN, TIME_MAX, False


def _journal_span(journal: icalendar.cal.Component) -> tuple[int, int, bool] | None:
    start_value = _value(journal, "DTSTART")
    if start_value is None:
        return None  # §9.9: a VJOURNAL without DTSTART matches no time range
    start, floating = to_seconds(start_value)
    return start, start + (0 if isinstance(start_value, dt.datetime) else 86400), floating


def _fbtype(component_name: str, status: str | None, transp: str | None) -> str:
    """RFC 4791 §7.10: transparent and cancelled events do not block time;
    tentative ones are BUSY-TENTATIVE. To-dos and journals never block."""
    if component_name != "VEVENT" or transp == "TRANSPARENT" or status == "CANCELLED":
        return FREE
    if status == "TENTATIVE":
        return TENTATIVE
    return BUSY


def _recurrence_id(instance: icalendar.cal.Component, recurring: bool) -> str | None:
    if not recurring:
        return None
    value = instance_recurrence_id(instance)
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.strftime("%Y%m%dT%H%M%S")
        return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return value.strftime("%Y%m%d")


def _this_and_future_shift(instance: icalendar.cal.Component) -> dt.timedelta | None:
    """How far a RANGE=THISANDFUTURE override moved its instances, read from
    the ``kalend_shift`` attribute ``mark_instance`` puts on the
    RECURRENCE-ID of every instance it governs."""
    prop = instance.get("RECURRENCE-ID")
    if prop is None or str(prop.params.get("RANGE", "")).upper() != "THISANDFUTURE":
        return None
    return getattr(prop, "kalend_shift", None)


def instance_recurrence_id(instance: icalendar.cal.Component) -> dt.date | None:
    """The RECURRENCE-ID value of an instance as recurring-ical-events
    yields it: its own for overridden and plain instances. Instances that a
    RANGE=THISANDFUTURE override governs come back carrying that override's
    RECURRENCE-ID; each of them is identified by its original start instead
    (RFC 5545 §3.8.4.4: the override moves every later instance by the same
    amount), i.e. its start moved back by that amount."""
    value = _value(instance, "RECURRENCE-ID")
    if value is None:
        return _value(instance, "DTSTART")
    shift = _this_and_future_shift(instance)
    start = _value(instance, "DTSTART")
    if shift is not None and start is not None:
        return start - shift
    return value


def this_and_future_shifts(calendar: icalendar.Calendar
                           ) -> dict[tuple[str, str], dt.timedelta]:
    """(UID, RECURRENCE-ID as written) -> how far that RANGE=THISANDFUTURE
    override moves its instances (its DTSTART minus its RECURRENCE-ID)."""
    shifts: dict[tuple[str, str], dt.timedelta] = {}
    for component in calendar.walk():
        prop = component.get("RECURRENCE-ID") if component.name in COMPONENTS else None
        if prop is None or str(prop.params.get("RANGE", "")).upper() != "THISANDFUTURE":
            continue
        start = _value(component, "DTSTART")
        if start is None:
            continue
        shifts[(str(component.get("UID")), prop.to_ical().decode())] = start - prop.dt
    return shifts


def mark_instance(instance: icalendar.cal.Component,
                  shifts: dict[tuple[str, str], dt.timedelta]) -> icalendar.cal.Component:
    """Attach to the RECURRENCE-ID of an instance governed by a
    RANGE=THISANDFUTURE override the shift that override applies, so
    ``instance_recurrence_id`` can recover the instance's own recurrence id."""
    prop = instance.get("RECURRENCE-ID")
    if shifts and prop is not None:
        shift = shifts.get((str(instance.get("UID")), prop.to_ical().decode()))
        if shift is not None:
            # recurring-ical-events shares the property between copies:
            # give each instance its own.
            prop = icalendar.prop.vDDDTypes(prop.dt)
            prop.params["RANGE"] = "THISANDFUTURE"
            prop.kalend_shift = shift
            instance["RECURRENCE-ID"] = prop
    return instance


def todo_overlaps(todo: icalendar.cal.Component, start: int, end: int,
                  zone: dt.tzinfo | None, duration_shaped: bool) -> bool:
    """RFC 4791 §9.9, the VTODO table, for one instance.

    recurring-ical-events turns DTSTART+DURATION into DTSTART+DUE on the
    instances it yields; ``duration_shaped`` says the source component had
    DURATION, so the first row of the table applies (it differs from the
    DTSTART+DUE row for a range starting exactly at the end)."""
    def seconds(name: str) -> int | None:
        value = _value(todo, name)
        if value is None:
            return None
        return to_seconds(value)[0]

    floating = any(to_seconds(_value(todo, n))[1] for n in ("DTSTART", "DUE")
                   if _value(todo, n) is not None)
    if floating:
        start, end = wall_clock(start, zone), wall_clock(end, zone)
    begin, due = seconds("DTSTART"), seconds("DUE")
    if begin is not None and due is None and todo.get("DURATION") is not None:
        due, duration_shaped = begin + int(_value(todo, "DURATION").total_seconds()), True
    completed, created = seconds("COMPLETED"), seconds("CREATED")
    if begin is not None and due is not None and duration_shaped:
        return start <= due and (end > begin or end >= due)
    if begin is not None and due is not None:
        return (start < due or start <= begin) and (end > begin or end >= due)
    if begin is not None:
        return start <= begin and end > begin
    if due is not None:
        return start < due and end >= due
    if completed is not None and created is not None:
        return (start <= created or start <= completed) and \
            (end >= created or end >= completed)
    if completed is not None:
        return start <= completed and end >= completed
    if created is not None:
        return end > created
    return True


def occurrence_of(instance: icalendar.cal.Component, recurring: bool) -> Occurrence | None:
    name = instance.name.upper()
    if name == "VEVENT":
        span = _event_span(instance)
    elif name == "VTODO":
        span = _todo_span(instance)
    elif name == "VJOURNAL":
        span = _journal_span(instance)
    else:
        return None
    if span is None:
        return None
    start, end, floating = span
    status, transp = _text(instance, "STATUS"), _text(instance, "TRANSP")
    return Occurrence(name, start, end, floating, _recurrence_id(instance, recurring),
                      status, transp, _fbtype(name, status, transp))


# -- whole objects ---------------------------------------------------------------


def parse(text: str) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(text)


def is_recurring(calendar: icalendar.Calendar) -> bool:
    return any(c.get("RRULE") is not None or c.get("RDATE") is not None
               or c.get("RECURRENCE-ID") is not None
               for c in calendar.walk() if c.name in COMPONENTS)


def is_open_ended(calendar: icalendar.Calendar) -> bool:
    """A rule with neither COUNT nor UNTIL recurs forever."""
    for component in calendar.walk():
        if component.name not in COMPONENTS:
            continue
        rules = component.get("RRULE")
        for rule in rules if isinstance(rules, list) else [rules] if rules else []:
            if "COUNT" not in rule and "UNTIL" not in rule:
                return True
    return False


def instances(calendar: icalendar.Calendar, start: int, end: int
              ) -> Iterator[icalendar.cal.Component]:
    """The instances that may touch [start, end) (with EXPANSION_SLACK on
    both sides, as naive bounds: recurring-ical-events compares floating
    values as wall-clock times), one at a time (see ``instances_between``)."""
    yield from instances_between(
        calendar, from_seconds(start - EXPANSION_SLACK).replace(tzinfo=None),
        from_seconds(end + EXPANSION_SLACK).replace(tzinfo=None), COMPONENTS)


def instances_between(calendar: icalendar.Calendar, span_start: dt.datetime,
                      span_end: dt.datetime, components: Sequence[str]
                      ) -> Iterator[icalendar.cal.Component]:
    """recurring-ical-events' instances between the bounds, one at a time,
    series by series, so a caller that stops at a limit stops the expansion
    there (the library's own ``between`` builds the whole list first).

    Within one series the library computes a rule's start times for the
    range at once; that walk is bounded by ``expansion_budget``. The bounds
    are kept a year inside what ``datetime`` can hold: the library widens
    them by the longest instance, and a range from the year 1 to 9999
    overflowed (a 500 before). An instance so long that even that overflows
    is answered as too costly to expand."""
    query = recurring_ical_events.of(calendar, components=list(components))
    span_start = query.to_datetime(_inside_datetime_range(span_start))
    span_end = query.to_datetime(_inside_datetime_range(span_end))
    shifts = this_and_future_shifts(calendar)
    for series in query.series:
        try:
            for occurrence in series.between(span_start, span_end):
                yield mark_instance(occurrence.as_component(query.keep_recurrence_attributes),
                                    shifts)
        except OverflowError as exc:
            raise InstanceLimitError(
                f"an instance reaches past the dates a query can expand ({exc})") from exc


#: The span ``instances_between`` expands within (see there).
_EXPANSION_FLOOR = dt.datetime(2, 1, 1)
_EXPANSION_CEILING = dt.datetime(9998, 12, 31)


def _inside_datetime_range(value: dt.datetime) -> dt.datetime:
    floor, ceiling = _EXPANSION_FLOOR, _EXPANSION_CEILING
    if value.tzinfo is not None:
        floor, ceiling = floor.replace(tzinfo=UTC), ceiling.replace(tzinfo=UTC)
    return min(max(value, floor), ceiling)


def _undated(calendar: icalendar.Calendar) -> Iterator[icalendar.cal.Component]:
    """To-dos without any date are in every time range (§9.9, last row);
    recurring-ical-events leaves them out, so they are added here."""
    for component in calendar.walk("VTODO"):
        if all(component.get(p) is None for p in ("DTSTART", "DUE", "COMPLETED", "CREATED")):
            yield component


def exact_durations(calendar: icalendar.Calendar) -> dict[str, tuple[int, set[str]]]:
    """UID -> (exact seconds, recurrence ids of its overrides) for recurring
    VEVENTs whose length is given by DTEND.

    RFC 5545 §3.8.5.3: with DTEND "the same exact duration will apply to all
    the members of the generated recurrence set"; recurring-ical-events keeps
    the wall-clock length instead, so an instance across a daylight-saving
    change would come out an hour short or long.
    """
    masters: dict[str, int] = {}
    overrides: dict[str, set[str]] = {}
    for component in calendar.walk("VEVENT"):
        uid = str(component.get("UID", ""))
        if component.get("RECURRENCE-ID") is not None:
            overrides.setdefault(uid, set()).add(_recurrence_id(component, True) or "")
        elif component.get("RRULE") is not None or component.get("RDATE") is not None:
            start, end = _value(component, "DTSTART"), _value(component, "DTEND")
            # Floating times have no daylight-saving changes to cross.
            if isinstance(start, dt.datetime) and isinstance(end, dt.datetime) \
                    and start.tzinfo is not None:
                masters[uid] = to_seconds(end)[0] - to_seconds(start)[0]
    return {uid: (seconds, overrides.get(uid, set())) for uid, seconds in masters.items()}


def exact_duration_of(instance: icalendar.cal.Component, occurrence: Occurrence,
                      exact: dict[str, tuple[int, set[str]]]) -> int | None:
    """The exact length an instance of a master must have, or None (not from
    a DTEND master, an override, or governed by a THISANDFUTURE override)."""
    if occurrence.component != "VEVENT" or not exact:
        return None
    entry = exact.get(str(instance.get("UID", "")))
    if entry is None:
        return None
    seconds, overridden = entry
    prop = instance.get("RECURRENCE-ID")
    if prop is not None and str(prop.params.get("RANGE", "")).upper() == "THISANDFUTURE":
        return None
    if occurrence.recurrence_id in overridden:
        return None
    return seconds


def occurrences_of_instances(calendar: icalendar.Calendar, start: int, end: int
                             ) -> Iterator[Occurrence]:
    """The occurrence of each instance that may touch [start, end), as the
    expansion yields them: unsorted, possibly repeated (see
    ``occurrences_between``), a superset at the edges."""
    recurring = is_recurring(calendar)
    exact = exact_durations(calendar) if recurring else {}
    for instance in itertools.chain(instances(calendar, start, end), _undated(calendar)):
        occurrence = occurrence_of(instance, recurring)
        if occurrence is None:
            continue
        duration = exact_duration_of(instance, occurrence, exact)
        if duration is not None:
            occurrence = replace(occurrence, end=occurrence.start + duration)
        yield occurrence


def occurrences_between(calendar: icalendar.Calendar, start: int, end: int,
                        limit: int | None = None) -> list[Occurrence]:
    """Every instance that may touch [start, end), deduplicated and sorted.

    The result is a superset at the edges (floating slack); callers compare
    against their own range. Raises ``InstanceLimitError`` past ``limit``,
    as soon as the expansion has produced one instance more.
    """
    found: dict[tuple, Occurrence] = {}
    for occurrence in occurrences_of_instances(calendar, start, end):
        found[(occurrence.component, occurrence.recurrence_id, occurrence.start)] = occurrence
        if limit is not None and len(found) > limit:
            raise InstanceLimitError(
                f"more than {limit} instances between {from_seconds(start):%Y-%m-%d} "
                f"and {from_seconds(end):%Y-%m-%d}")
    return sorted(found.values(), key=lambda o: (o.start, o.end, o.recurrence_id or ""))


def expand_for_storage(calendar: icalendar.Calendar, overall: tuple[int, int],
                       window: tuple[int, int], limit: int) -> Expansion:
    """The occurrences to store for an object whose overall time range (as
    Radicale computes it) is ``overall``.

    A series' past is finite, so it is stored whole, from its first instance
    to the end of ``window`` (issue 16: a week three years back then costs
    what this week costs, instead of expanding every series that reaches it
    at every request). Only the future of an open-ended series is cut, at
    the end of the window, which the maintenance job moves forward. A series
    with more than ``limit`` instances from its start keeps the window alone
    (``past_capped``): queries before the window expand it on the fly, and
    the limit refuses an object only when the window alone passes it.
    """
    if not is_recurring(calendar):
        # One instance per component: read directly, without the expansion
        # library's set-up, which costs more than the rest of a PUT.
        single = {}
        for component in calendar.walk():
            if component.name in COMPONENTS:
                found = occurrence_of(component, False)
                if found is not None:
                    single[(found.component, found.start)] = found
        rows = sorted(single.values(), key=lambda o: (o.start, o.end))
        return Expansion(tuple(rows), TIME_MIN, TIME_MAX, True, False)
    first, last = overall
    slack = 86400  # floating instances may sit up to a day either side
    past = max(min(first, window[0]) - slack, TIME_MIN + slack)
    within_window = first - slack >= window[0]
    try:
        if last + slack <= window[1]:
            rows = occurrences_between(calendar, past,
                                       min(max(last, window[1]) + slack, TIME_MAX - slack),
                                       limit)
            return Expansion(tuple(rows), TIME_MIN, TIME_MAX, True, False)
        rows = occurrences_between(calendar, past, window[1], limit)
        kept = tuple(o for o in rows if o.start < window[1])
        return Expansion(kept, TIME_MIN, window[1], False, is_open_ended(calendar))
    except InstanceLimitError:
        if within_window:
            raise       # the window alone holds too many: the limit refuses it
    rows = occurrences_between(calendar, window[0], window[1], limit)
    kept = tuple(o for o in rows
                 if o.start < window[1] and (o.end > window[0] or o.start >= window[0]))
    return Expansion(kept, window[0], window[1], False, is_open_ended(calendar),
                     past_capped=True)


def overlaps(occurrence: Occurrence, start: int, end: int,
             zone: dt.tzinfo | None = None) -> bool:
    """RFC 4791 §9.9 overlap for VEVENT/VJOURNAL instances (zero-length
    instances match when they start inside the range); inclusive for
    VTODO spans, whose exact rule Radicale applies afterwards."""
    if occurrence.floating:
        start, end = wall_clock(start, zone), wall_clock(end, zone)
    if occurrence.component == "VTODO":
        return occurrence.start <= end and occurrence.end >= start
    return occurrence.start < end and (occurrence.end > start or occurrence.start >= start)


def clip_periods(periods: Iterable[tuple[int, int, str]], start: int, end: int
                 ) -> list[tuple[int, int, str]]:
    """Merge overlapping periods of the same free-busy type and clip them to
    [start, end) (RFC 4791 §7.10: periods are within the requested range)."""
    by_type: dict[str, list[tuple[int, int]]] = {}
    for period_start, period_end, fbtype in periods:
        lo, hi = max(period_start, start), min(period_end, end)
        if hi > lo:
            by_type.setdefault(fbtype, []).append((lo, hi))
    merged: list[tuple[int, int, str]] = []
    for fbtype, spans in by_type.items():
        spans.sort()
        current_start, current_end = spans[0]
        for lo, hi in spans[1:]:
            if lo <= current_end:
                current_end = max(current_end, hi)
            else:
                merged.append((current_start, current_end, fbtype))
                current_start, current_end = lo, hi
        merged.append((current_start, current_end, fbtype))
    return sorted(merged)


def freebusy_component_periods(calendar: icalendar.Calendar
                               ) -> list[tuple[int, int, str]]:
    """FREEBUSY periods of VFREEBUSY components stored in the calendar."""
    periods: list[tuple[int, int, str]] = []
    for component in calendar.walk("VFREEBUSY"):
        values = component.get("FREEBUSY")
        for prop in values if isinstance(values, list) else [values] if values else []:
            fbtype = str(prop.params.get("FBTYPE", BUSY)).upper()
            if fbtype == FREE:
                continue
            for period in prop.dt if isinstance(prop.dt, list) else [prop.dt]:
                period_start, period_end = period
                if isinstance(period_end, dt.timedelta):
                    period_end = period_start + period_end
                periods.append((to_seconds(period_start)[0], to_seconds(period_end)[0], fbtype))
    return periods


__all__: Sequence[str] = (
    "LONG_SPAN_SECONDS",
    "TIME_MAX",
    "TIME_MIN",
    "Expansion",
    "InstanceLimitError",
    "Occurrence",
    "clip_periods",
    "exact_duration_of",
    "exact_durations",
    "expand_for_storage",
    "freebusy_component_periods",
    "instances",
    "instances_between",
    "occurrences_between",
    "occurrences_of_instances",
    "overlaps",
    "parse",
    "wall_clock",
    "zone_from_vtimezone",
)
