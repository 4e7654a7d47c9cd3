"""VALARM time-range queries (RFC 4791 §9.9) answered from the index.

Clients that schedule reminders themselves (Evolution, some mobile clients)
ask "which events have an alarm firing between S and E". Radicale answers
by parsing every event of the calendar and compares a single trigger offset
with the event's first instance. Here the candidates are the items whose
occurrences, shifted by their alarm bounds (``alarm_bounds``), reach into
the range, plus those whose absolute triggers do; each candidate is then
expanded by recurring-ical-events for the exact answer (every trigger of
every instance, REPEAT included, and overridden instances with their own
alarms).
"""

from __future__ import annotations

import datetime as dt
import functools
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from radicale import xmlutils
from radicale.item import filter as radicale_filter
from sqlalchemy import Connection, bindparam, func, select

from kalend.storage_plugin import occurrence_index, schema
from kalend.storage_plugin import occurrences as occ

#: Floating instances and zone-dependent triggers may sit this far from UTC.
_SLACK = 86400


@dataclass(frozen=True)
class AlarmRange:
    """A calendar-query filter asking for ``component``s with an alarm
    firing in [start, end)."""

    component: str
    start: int
    end: int


def _clark(tag: str) -> str:
    return xmlutils.make_clark(tag)


def _only_child(element: ET.Element, tag: str) -> ET.Element | None:
    children = list(element)
    if len(children) != 1 or children[0].tag != _clark(tag):
        return None
    return children[0]


def alarm_range(filters: Iterable[ET.Element]) -> AlarmRange | None:
    """The range when the filter is exactly VCALENDAR > VEVENT|VTODO >
    VALARM > time-range (RFC 4791 §7.8.5's example). Any other shape goes
    the general way, where Radicale applies the rest of the filter."""
    filters = list(filters)
    if len(filters) != 1:
        return None
    calendar = _only_child(filters[0], "C:comp-filter")
    if calendar is None or calendar.get("name", "").upper() != "VCALENDAR":
        return None
    component = _only_child(calendar, "C:comp-filter")
    if component is None or component.get("name", "").upper() not in ("VEVENT", "VTODO"):
        return None
    alarm = _only_child(component, "C:comp-filter")
    if alarm is None or alarm.get("name", "").upper() != "VALARM":
        return None
    time_range = _only_child(alarm, "C:time-range")
    if time_range is None:
        return None
    start, end = radicale_filter.time_range_timestamps(time_range)
    return AlarmRange(component.get("name", "").upper(), start, end)


@functools.cache
def _offset_bounds_statement():
    i = schema.item.c
    return select(func.min(i.alarm_lead), func.max(i.alarm_lag)).where(
        i.collection_id == bindparam("cid"), i.component == bindparam("component"),
        i.alarm_lead.is_not(None))


def _with_bounds(columns: tuple) -> tuple:
    i = schema.item.c
    return (*columns, i.alarm_lead, i.alarm_lag)


@functools.cache
def _relative_statements(columns: tuple, component: str) -> tuple:
    """Items with an instance in a range (``occurrence_index.range_parameters``)
    and items whose window misses it, both with their alarm bounds."""
    i = schema.item.c
    selected = _with_bounds(columns)
    in_index = select(*selected).where(
        occurrence_index.item_has_instance(component),
        i.alarm_lead.is_not(None))
    return in_index, occurrence_index.outside_window_statement(selected, component)


@functools.cache
def _absolute_statement(columns: tuple):
    i = schema.item.c
    return select(*_with_bounds(columns)).where(
        i.collection_id == bindparam("cid"), i.component == bindparam("component"),
        i.alarm_first < bindparam("e"), i.alarm_last >= bindparam("s"))


def candidate_rows(connection: Connection, collection_id: int, columns: tuple,
                   query: AlarmRange, zone: dt.tzinfo | None
                   ) -> Iterator[Mapping[str, Any]]:
    """Item rows that may have an alarm in the range (a superset, each once).

    The range is widened by the collection's extreme alarm offsets, so one
    indexed range query over the occurrences serves every item.
    """
    seen: set[str] = set()
    lead, lag = connection.execute(_offset_bounds_statement(), {
        "cid": collection_id, "component": query.component}).one()
    if lead is not None:
        low, high = query.start - lag - _SLACK, query.end - lead + _SLACK
        in_index, outside = _relative_statements(columns, query.component)
        for statement, parameters in (
                (in_index, occurrence_index.range_parameters(collection_id, low, high, zone)),
                (outside, occurrence_index.outside_window_parameters(collection_id, low, high))):
            for row in connection.execute(statement, parameters).mappings():
                if row["href"] not in seen and row["alarm_lead"] is not None:
                    seen.add(row["href"])
                    yield row
    for row in connection.execute(_absolute_statement(columns), {
            "cid": collection_id, "component": query.component,
            "s": query.start - _SLACK, "e": query.end + _SLACK}).mappings():
        if row["href"] not in seen:
            seen.add(row["href"])
            yield row


def alarm_fires(text: str, query: AlarmRange, zone: dt.tzinfo | None,
                max_instances: int, lead: int | None, lag: int | None) -> bool:
    """Whether some trigger of a ``query.component`` instance falls in
    [start, end) (RFC 4791 §9.9: start <= trigger-time < end). Floating
    times and dates are read in ``zone`` (UTC when none is given).

    Instances come from recurring-ical-events over the range widened by the
    item's alarm bounds; the trigger times are computed here because the
    library's own VALARM selection fails on all-day events (it keeps a DATE
    where RFC 5545 §3.8.6.3 means the start of that day)."""
    tz = zone or dt.UTC
    calendar = occ.parse(text)
    if any(query.start <= t < query.end
           for component in calendar.walk(query.component)
           for t in trigger_times(component, tz, relative=False)):
        return True
    if lead is None or lag is None:
        return False
    start = dt.datetime.fromtimestamp(query.start - lag - _SLACK, tz)
    end = dt.datetime.fromtimestamp(query.end - lead + _SLACK, tz)
    for count, instance in enumerate(occ.instances_between(calendar, start, end,
                                                           [query.component])):
        if count >= max_instances:
            raise occ.InstanceLimitError(
                f"more than {max_instances} instances in one alarm query")
        if any(query.start <= t < query.end
               for t in trigger_times(instance, tz, absolute=False)):
            return True
    return False


def trigger_times(instance, tz: dt.tzinfo, relative: bool = True,
                  absolute: bool = True) -> Iterator[int]:
    """The triggers of the VALARMs of one instance, REPEAT included, as UTC
    seconds (RFC 5545 §3.8.6.3, §3.8.6.2 for REPEAT/DURATION). An absolute
    trigger is the same moment for every instance."""
    for alarm in instance.subcomponents:
        if alarm.name != "VALARM" or alarm.get("TRIGGER") is None:
            continue
        trigger = alarm["TRIGGER"]
        if isinstance(trigger.dt, dt.datetime):
            if not absolute:
                continue
            first = _instant(trigger.dt, tz)
        elif not relative:
            continue
        else:
            related = str(trigger.params.get("RELATED", "START")).upper()
            anchor = _end_of(instance) if related == "END" else _start_of(instance)
            if anchor is None:
                continue
            first = _instant(anchor, tz) + int(trigger.dt.total_seconds())
        repeat = int(alarm.get("REPEAT", 0) or 0)
        step = alarm.get("DURATION")
        every = int(step.dt.total_seconds()) if step is not None and repeat > 0 else 0
        for n in range(repeat + 1 if every > 0 else 1):
            yield first + n * every


def _start_of(instance):
    value = instance.get("DTSTART")
    if value is None and instance.name == "VTODO":
        value = instance.get("DUE")
    return None if value is None else value.dt


def _end_of(instance):
    for name in ("DTEND", "DUE"):
        if instance.get(name) is not None:
            return instance[name].dt
    start = _start_of(instance)
    if start is None:
        return None
    if instance.get("DURATION") is not None:
        return start + instance["DURATION"].dt
    if isinstance(start, dt.datetime):
        return start
    return start + dt.timedelta(days=1)


def _instant(value, tz: dt.tzinfo) -> int:
    """UTC seconds of a DATE-TIME or DATE; floating ones and dates in ``tz``."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return int(value.timestamp())


def matching_rows(connection: Connection, collection_id: int, columns: tuple,
                  query: AlarmRange, zone: dt.tzinfo | None,
                  max_instances: int) -> Iterator[Mapping[str, Any]]:
    """The items with an alarm firing in the range, exactly."""
    for row in candidate_rows(connection, collection_id, columns, query, zone):
        if _fires_or_unknown(row, query, zone, max_instances):
            yield row


def _fires_or_unknown(row: Mapping[str, Any], query: AlarmRange, zone: dt.tzinfo | None,
                      max_instances: int) -> bool:
    try:
        return alarm_fires(row["text"], query, zone, max_instances,
                           row["alarm_lead"], row["alarm_lag"])
    except occ.InstanceLimitError:
        raise
    except Exception:
        # The library cannot read it: keep it, as a time-range query keeps an
        # object it cannot judge (the client decides).
        return True


__all__: Sequence[str] = (
    "AlarmRange",
    "alarm_fires",
    "alarm_range",
    "candidate_rows",
    "matching_rows",
    "trigger_times",
)
