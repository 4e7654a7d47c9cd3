"""CALDAV:calendar-data post-processing (RFC 4791 §9.6.5-§9.6.7).

Pure functions from stored iCalendar text to the text a REPORT returns:

* ``expand``: every instance overlapping the range as its own component with
  a RECURRENCE-ID, no RRULE/RDATE/EXDATE, date-times in UTC, no VTIMEZONE;
  overridden instances keep their own properties. VEVENT and VTODO alike
  (stock Radicale expands VEVENT only).
* ``limit_recurrence_set``: the master component(s) plus only the overridden
  components that overlap the range.
* ``limit_freebusy_set``: FREEBUSY periods of VFREEBUSY components clipped to
  those overlapping the range.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import icalendar

from kalend.server.ical_dates import utc_value
from kalend.storage_plugin import occurrences as occ

UTC = dt.UTC
_DATE_TIME_PROPERTIES = ("DTSTART", "DTEND", "DUE", "RECURRENCE-ID")
_RECURRENCE_PROPERTIES = ("RRULE", "RDATE", "EXDATE", "EXRULE")


def _utc(value: dt.date | dt.datetime, zone: dt.tzinfo | None) -> dt.date | dt.datetime:
    """Date-times in UTC; floating ones read in ``zone`` (RFC 4791 §9.6.5);
    DATE values stay dates."""
    if not isinstance(value, dt.datetime):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone or UTC)
    return value.astimezone(UTC)


def _envelope(calendar: icalendar.Calendar) -> icalendar.Calendar:
    out = icalendar.Calendar()
    for name, value in calendar.property_items(recursive=False):
        if name not in ("BEGIN", "END"):
            out.add(name, value)
    return out


def _set_utc(component: icalendar.cal.Component, name: str, zone: dt.tzinfo | None) -> None:
    prop = component.get(name)
    if prop is None or not hasattr(prop, "dt"):
        return
    params = dict(prop.params)
    params.pop("TZID", None)
    component.pop(name)
    component.add(name, _utc(prop.dt, zone), parameters=params or None)


def expand(text: str, start: int, end: int, zone: dt.tzinfo | None,
           limit: int) -> tuple[str | None, int]:
    """(expanded text or None when no instance overlaps, instance count)."""
    calendar = icalendar.Calendar.from_ical(text)
    recurring = occ.is_recurring(calendar)
    out = _envelope(calendar)
    count = 0
    instances = occ.instances(calendar, start, end)
    duration_shaped = _duration_shaped_todos(calendar)
    exact = occ.exact_durations(calendar) if recurring else {}
    for instance in instances:
        found = occ.occurrence_of(instance, recurring)
        if found is None:
            continue
        exact_seconds = occ.exact_duration_of(instance, found, exact)
        if exact_seconds is not None:
            # RFC 5545 §3.8.5.3: the same exact duration across DST changes.
            found = replace(found, end=found.start + exact_seconds)
            instance.pop("DTEND", None)
            instance.add("DTEND", occ.from_seconds(found.end))
        if not occ.overlaps(found, start, end, zone):
            continue
        if found.component == "VTODO" and not occ.todo_overlaps(
                instance, start, end, zone, _is_duration_shaped(instance, duration_shaped)):
            continue  # the index span is a superset; §9.9 decides for to-dos
        count += 1
        if count > limit:
            raise occ.InstanceLimitError(f"more than {limit} instances in the expand range")
        for name in _RECURRENCE_PROPERTIES:
            instance.pop(name, None)
        if not recurring:
            instance.pop("RECURRENCE-ID", None)
        else:
            # Each instance names itself, also those a RANGE=THISANDFUTURE
            # override governs (which the library yields with the
            # override's RECURRENCE-ID); one instance has no range.
            recurrence_id = occ.instance_recurrence_id(instance)
            instance.pop("RECURRENCE-ID", None)
            instance.add("RECURRENCE-ID", recurrence_id)
        for name in _DATE_TIME_PROPERTIES:
            _set_utc(instance, name, zone)
        out.add_component(instance)
    if not count:
        return None, 0
    return out.to_ical().decode("utf-8"), count


def _duration_shaped_todos(calendar: icalendar.Calendar) -> dict[tuple[str, bytes | None], bool]:
    """(UID, RECURRENCE-ID or None) -> whether that VTODO has DURATION."""
    return {(str(c.get("UID")), c["RECURRENCE-ID"].to_ical() if "RECURRENCE-ID" in c else None):
            c.get("DURATION") is not None for c in calendar.walk("VTODO")}


def _is_duration_shaped(instance: icalendar.cal.Component,
                        shapes: dict[tuple[str, bytes | None], bool]) -> bool:
    uid = str(instance.get("UID"))
    recurrence_id = instance.get("RECURRENCE-ID")
    if recurrence_id is not None and (uid, recurrence_id.to_ical()) in shapes:
        return shapes[(uid, recurrence_id.to_ical())]
    return shapes.get((uid, None), False)


def _override_overlaps(component: icalendar.cal.Component, start: int, end: int,
                       zone: dt.tzinfo | None) -> bool:
    found = occ.occurrence_of(component, True)
    if found is not None and occ.overlaps(found, start, end, zone):
        return True
    recurrence_id = component.get("RECURRENCE-ID")
    if recurrence_id is None:
        return False
    seconds, floating = occ.to_seconds(recurrence_id.dt)
    if floating:
        seconds = occ.wall_clock(seconds, None)
    if str(recurrence_id.params.get("RANGE", "")).upper() == "THISANDFUTURE":
        return seconds < end  # it governs every later instance as well
    return start <= seconds < end


def limit_recurrence_set(text: str, start: int, end: int,
                         zone: dt.tzinfo | None) -> str:
    calendar = icalendar.Calendar.from_ical(text)
    out = _envelope(calendar)
    for component in calendar.subcomponents:
        if component.get("RECURRENCE-ID") is not None and \
                not _override_overlaps(component, start, end, zone):
            continue
        out.add_component(component)
    return out.to_ical().decode("utf-8")


def limit_freebusy_set(text: str, start: int, end: int) -> str:
    calendar = icalendar.Calendar.from_ical(text)
    for component in calendar.walk("VFREEBUSY"):
        values = component.get("FREEBUSY")
        props = values if isinstance(values, list) else [values] if values else []
        kept = []
        for prop in props:
            periods = prop.dt if isinstance(prop.dt, list) else [prop.dt]
            overlapping = [p for p in periods if _period_overlaps(p, start, end)]
            if overlapping:
                kept.append((overlapping, dict(prop.params)))
        component.pop("FREEBUSY", None)
        for periods, params in kept:
            for period in periods:
                component.add("FREEBUSY", period, parameters=params or None)
    return calendar.to_ical().decode("utf-8")


def _period_overlaps(period, start: int, end: int) -> bool:
    period_start, period_end = period
    if isinstance(period_end, dt.timedelta):
        period_end = period_start + period_end
    return occ.to_seconds(period_start)[0] < end and occ.to_seconds(period_end)[0] > start


def freebusy_calendar(periods: list[tuple[int, int, str]], start: int, end: int,
                      now: dt.datetime | None = None) -> str:
    """The VCALENDAR with one VFREEBUSY a free-busy-query answers (§7.10)."""
    return vfreebusy_text([], periods, start, end, now=now)


def vfreebusy_text(properties: list[str], periods: list[tuple[int, int, str]], start: int,
                   end: int, method: str | None = None, now: dt.datetime | None = None) -> str:
    """A VCALENDAR holding one VFREEBUSY (RFC 5545 §3.6.4), written as text.

    Written here rather than with icalendar: a month of a busy calendar is
    fifty periods, and icalendar spends about 15 ms serialising them, which
    for a free-busy lookup of twenty attendees was most of the answer's time.
    ``properties`` are extra content lines (UID, ORGANIZER, ATTENDEE).
    """
    stamp = int((now or dt.datetime.now(UTC)).timestamp())
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//kalend//free-busy//EN"]
    if method:
        lines.append(f"METHOD:{method}")
    lines += ["BEGIN:VFREEBUSY", *properties, f"DTSTAMP:{utc_value(stamp)}",
              f"DTSTART:{utc_value(start)}", f"DTEND:{utc_value(end)}"]
    for period_start, period_end, fbtype in periods:
        parameter = "" if fbtype == occ.BUSY else f";FBTYPE={fbtype}"
        lines.append(f"FREEBUSY{parameter}:{utc_value(period_start)}/{utc_value(period_end)}")
    lines += ["END:VFREEBUSY", "END:VCALENDAR", ""]
    return "\r\n".join(fold(line) for line in lines)


def fold(line: str) -> str:
    """RFC 5545 §3.1: lines longer than 75 octets continue on lines that
    begin with a space, never splitting a UTF-8 character."""
    encoded = line.encode("utf-8")
    if len(encoded) <= 75:
        return line
    parts, current, size = [], [], 0
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > (75 if not parts else 74):
            parts.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    parts.append("".join(current))
    return "\r\n ".join(parts)
