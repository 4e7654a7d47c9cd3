"""Naming and deriving the instances of a recurring component (RFC 5545 §3.8.4.4, §3.8.5).

iTIP talks about instances by RECURRENCE-ID, and the same instance reaches
kalend as a RECURRENCE-ID with a TZID, as a UTC value, as an EXDATE in the
master's zone or as a date for an all-day series. ``instance_key`` gives each
one name: the UTC form ``YYYYMMDDTHHMMSSZ`` (``YYYYMMDD`` for a date,
``YYYYMMDDTHHMMSS`` for a floating time, which has no UTC form).

``derive_instance`` builds the component an instance would have if it were
overridden without change — what a client writes when it adds an override,
and what a REPLY or CANCEL for one instance needs when the organizer's or
attendee's copy has no override for it.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from icalendar import Component

UTC = dt.UTC

#: The properties that make a master recurring; an instance never has them.
RECURRENCE_PROPERTIES = ("RRULE", "RDATE", "EXDATE", "EXRULE")

Temporal = dt.date | dt.datetime


def instance_key(value: Temporal) -> str:
    """The name of the instance starting at ``value``: UTC date-time, date, or floating time."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return value.strftime("%Y%m%dT%H%M%S")
        return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return value.strftime("%Y%m%d")


def key_value(key: str) -> Temporal:
    """The value named by ``instance_key`` (UTC-aware, naive, or a date)."""
    if len(key) == 8:
        return dt.datetime.strptime(key, "%Y%m%d").date()
    if key.endswith("Z"):
        return dt.datetime.strptime(key, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return dt.datetime.strptime(key, "%Y%m%dT%H%M%S")


def recurrence_key(component: Component) -> str | None:
    """The instance key of the component's RECURRENCE-ID; ``None`` for a master."""
    rid = component.get("RECURRENCE-ID")
    if rid is None:
        return None
    return instance_key(rid.dt)


def property_list(component: Component, name: str) -> list[Any]:
    """Every occurrence of property ``name`` (icalendar gives one value or a list)."""
    value = component.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def date_list_values(component: Component, name: str) -> list[Any]:
    """The values of all EXDATE or RDATE lines of a component, flattened.

    A value is a date, a date-time or, for RDATE;VALUE=PERIOD, a (start, end
    or duration) tuple.
    """
    values = []
    for prop in property_list(component, name):
        values.extend(item.dt for item in getattr(prop, "dts", []))
    return values


def excluded_keys(master: Component | None) -> set[str]:
    """The instances the master's EXDATEs remove."""
    if master is None:
        return set()
    return {instance_key(value) for value in date_list_values(master, "EXDATE")}


def is_recurring(master: Component | None) -> bool:
    """Whether the master has a rule or extra dates (and so instances to override)."""
    return master is not None and any(name in master for name in ("RRULE", "RDATE"))


def sequence(component: Component | None) -> int:
    """SEQUENCE as a number; 0 when absent or unreadable (RFC 5545 §3.8.7.4 default)."""
    if component is None:
        return 0
    try:
        return int(component.get("SEQUENCE", 0))
    except (TypeError, ValueError):
        return 0


def set_sequence(component: Component, value: int) -> None:
    component.pop("SEQUENCE", None)
    component.add("SEQUENCE", value)


def start_of(component: Component) -> Temporal | None:
    value = component.get("DTSTART")
    return None if value is None else value.dt


def in_zone_of(value: Temporal, reference: Temporal | None) -> Temporal:
    """``value`` expressed like ``reference``: same zone, same date/date-time kind.

    An instance derived from a master starting at 09:00 Europe/Berlin should
    start at 09:00 Europe/Berlin, not at 08:00Z, so a recipient sees the
    zone the organizer chose.
    """
    if reference is None:
        return value
    if not isinstance(reference, dt.datetime):
        return value.date() if isinstance(value, dt.datetime) else value
    if not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, reference.time(), reference.tzinfo)
    if reference.tzinfo is None:
        return value.replace(tzinfo=None)
    if value.tzinfo is None:
        return value.replace(tzinfo=reference.tzinfo)
    return value.astimezone(reference.tzinfo)


def replace_value(component: Component, name: str, value: Any) -> None:
    """Set a single-valued property, dropping its old parameters (TZID, VALUE)."""
    component.pop(name, None)
    component.add(name, value)


def derive_instance(master: Component, key: str) -> Component:
    """The instance ``key`` of ``master`` as an override that changes nothing.

    A copy of the master without its recurrence properties, with RECURRENCE-ID
    and DTSTART set to the instance start (in the master's zone) and
    DTEND/DUE moved by the same amount.
    """
    instance = copy.deepcopy(master)
    for name in RECURRENCE_PROPERTIES:
        instance.pop(name, None)
    master_start = start_of(master)
    start = in_zone_of(key_value(key), master_start)
    replace_value(instance, "RECURRENCE-ID", start)
    if master_start is None:
        return instance
    replace_value(instance, "DTSTART", start)
    for name in ("DTEND", "DUE"):
        if name in master:
            try:
                replace_value(instance, name, master[name].dt + (start - master_start))
            except TypeError:
                # DTEND of another kind than DTSTART (invalid, but seen): keep it as it was.
                continue
    return instance


def add_exdate(master: Component, key: str) -> None:
    """Exclude instance ``key`` from the master (in the master's zone), if not excluded yet."""
    if key in excluded_keys(master):
        return
    master.add("EXDATE", in_zone_of(key_value(key), start_of(master)))


def remove_exdate(master: Component, key: str) -> None:
    """Bring instance ``key`` back: drop it from every EXDATE line of the master."""
    kept = [value for value in date_list_values(master, "EXDATE") if instance_key(value) != key]
    if len(kept) == len(date_list_values(master, "EXDATE")):
        return
    master.pop("EXDATE", None)
    for value in kept:
        master.add("EXDATE", value)
