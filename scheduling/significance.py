"""Which differences between two versions of a meeting matter, and to whom.

Clients rewrite what they store: they refresh DTSTAMP, reorder properties
and parameters, refold lines, add X- properties, move an event to another
TZID at the same instant, turn DTEND into DURATION. None of that is a change
to the meeting. So versions are compared by *fingerprint*: for each
component a sorted list of (property, canonical value) pairs, where times
are compared as instants, EXDATE/RDATE as sets of instances, DTEND/DURATION/
DUE as one effective end, text without line-ending noise, addresses
normalised. A ``Profile`` says which properties and which ATTENDEE
parameters take part:

- ``SCHEDULING`` — anything but per-attendee data (PARTSTAT, RSVP,
  SCHEDULE-*), alarms, X- properties, DTSTAMP, LAST-MODIFIED, SEQUENCE,
  CREATED, TRANSP. A difference here re-invites attendees (RFC 5546 §2.1.4)
  and changes an attendee copy's Schedule-Tag (RFC 6638 §3.3).
- ``ORGANIZER_COPY`` — any change the organizer makes except what the server
  itself writes (SCHEDULE-STATUS) and the organizer's personal data: it
  changes the Schedule-Tag of the organizer's copy.
- ``RESCHEDULING`` — the "rescheduling" properties of RFC 5546 §2.1.4
  (time, recurrence, status, location): SEQUENCE must increase.
- ``TIME`` — time and recurrence only: an attendee must answer again.
- ``ORGANIZER_OWNED`` — what an attendee may not change in their copy
  (RFC 6638 §3.2.2.1), compared leniently.

Overridden instances are compared with what the other version says about
the same instance: its own override, or the instance derived from its
master (``instances.derive_instance``). An override an attendee adds to
decline one instance therefore differs from the master's instance only in
PARTSTAT, and is no change to the meeting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from icalendar import Component

from kalend.scheduling.addresses import normalize
from kalend.scheduling.instances import (
    date_list_values,
    derive_instance,
    excluded_keys,
    instance_key,
    property_list,
)
from kalend.scheduling.objects import CalendarObject, parse_optional

#: Pseudo-property standing for DTEND, DURATION or DUE: one effective end.
END = "END"

_TIME_PROPERTIES = ("DTSTART", "RECURRENCE-ID")
_END_PROPERTIES = ("DTEND", "DURATION", "DUE")
_INSTANCE_SETS = ("EXDATE", "RDATE")
_ADDRESS_PROPERTIES = ("ATTENDEE", "ORGANIZER")

#: Parameter defaults (RFC 5545 §3.2): writing them out is no change.
_PARAMETER_DEFAULTS = {
    "ROLE": "REQ-PARTICIPANT",
    "CUTYPE": "INDIVIDUAL",
    "RSVP": "FALSE",
    "PARTSTAT": "NEEDS-ACTION",
    "SCHEDULE-AGENT": "SERVER",
}


@dataclass(frozen=True)
class Profile:
    """What a comparison looks at.

    ``only``: when set, just these properties (``END`` for the end); otherwise
    every property except ``ignored`` and X- properties. ``ignored_parameters``:
    ATTENDEE/ORGANIZER parameters left out (X- parameters always are).
    """

    ignored: frozenset[str] = frozenset()
    ignored_parameters: frozenset[str] = frozenset()
    only: frozenset[str] | None = None

    def looks_at(self, name: str) -> bool:
        if self.only is not None:
            return name in self.only
        return not name.startswith("X-") and name not in self.ignored


PER_ATTENDEE_PARAMETERS = frozenset(
    {"PARTSTAT", "RSVP", "SCHEDULE-STATUS", "SCHEDULE-FORCE-SEND", "SCHEDULE-AGENT", "EMAIL"}
)

SCHEDULING = Profile(
    ignored=frozenset({"DTSTAMP", "LAST-MODIFIED", "SEQUENCE", "CREATED", "TRANSP"}),
    ignored_parameters=PER_ATTENDEE_PARAMETERS,
)
ORGANIZER_COPY = Profile(
    ignored=frozenset({"DTSTAMP", "LAST-MODIFIED"}),
    ignored_parameters=frozenset({"SCHEDULE-STATUS", "SCHEDULE-FORCE-SEND", "EMAIL"}),
)
RESCHEDULING = Profile(
    only=frozenset({"DTSTART", END, "RRULE", "RDATE", "EXDATE", "EXRULE", "STATUS", "LOCATION"}),
)
TIME = Profile(only=frozenset({"DTSTART", END, "RRULE", "RDATE", "EXDATE", "EXRULE"}))
#: UID and ORGANIZER are organizer-owned too, but checked once per object: an
#: override a client writes without ORGANIZER still belongs to the same organizer.
ORGANIZER_OWNED = Profile(
    only=frozenset({"DTSTART", END, "RRULE", "RDATE", "EXRULE", "SUMMARY", "LOCATION"}),
)


def canonical_time(value: Any) -> str:
    """A date, date-time, duration or period as comparable text (instants in UTC)."""
    if isinstance(value, tuple):
        return "/".join(canonical_time(part) for part in value)
    if isinstance(value, dt.timedelta):
        return f"P{value.days}DT{value.seconds}S"
    if isinstance(value, dt.date):
        return instance_key(value)
    return str(value)


def effective_end(component: Component) -> str | None:
    """The end of a component however written: DTEND, DUE, or DTSTART + DURATION.

    A VEVENT without either ends where it starts, or a day later when it is
    all-day (RFC 5545 §3.6.1), so writing that default out is no change.
    """
    for name in ("DTEND", "DUE"):
        if name in component:
            return canonical_time(component[name].dt)
    start = component.get("DTSTART")
    if "DURATION" in component:
        duration = component["DURATION"].dt
        if start is None:
            return canonical_time(duration)
        try:
            return canonical_time(start.dt + duration)
        except TypeError:
            return canonical_time(duration)
    if start is None or component.name != "VEVENT":
        return None
    value = start.dt
    if not isinstance(value, dt.datetime):
        return canonical_time(value + dt.timedelta(days=1))
    return canonical_time(value)


def _parameters(prop: Any, ignored: Iterable[str]) -> str:
    ignored = set(ignored)
    items = []
    for name, value in getattr(prop, "params", {}).items():
        name = name.upper()
        if name.startswith("X-") or name in ignored or name in ("TZID", "VALUE"):
            continue
        text = ",".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
        if _PARAMETER_DEFAULTS.get(name) == text.upper():
            continue
        items.append(f"{name}={text}")
    return ";".join(sorted(items))


def _canonical(name: str, prop: Any, profile: Profile) -> str:
    if name in _ADDRESS_PROPERTIES:
        return normalize(str(prop)) + "|" + _parameters(prop, profile.ignored_parameters)
    if name in _TIME_PROPERTIES or hasattr(prop, "dt"):
        return canonical_time(prop.dt)
    if hasattr(prop, "to_ical"):
        value = prop.to_ical()
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    else:
        text = str(prop)
    text = text.replace("\r\n", "\n").strip()
    return text + "|" + _parameters(prop, ())


def fingerprint(
    component: Component | None, profile: Profile, ignore_instances: Iterable[str] = ()
) -> tuple:
    """The component as ``profile`` sees it; equal fingerprints mean no change that matters.

    ``ignore_instances``: instance keys left out of EXDATE/RDATE (used to
    compare two versions apart from instances known to be cancelled).
    """
    if component is None:
        return ()
    ignored_keys = set(ignore_instances)
    items: list[tuple[str, str]] = []
    for name in component:
        name = name.upper()
        if name in _END_PROPERTIES or name in _INSTANCE_SETS or not profile.looks_at(name):
            continue
        items.extend(
            (name, _canonical(name, prop, profile)) for prop in property_list(component, name)
        )
    for name in _INSTANCE_SETS:
        if profile.looks_at(name):
            keys = {canonical_time(v) for v in date_list_values(component, name)} - ignored_keys
            if keys:
                items.append((name, ",".join(sorted(keys))))
    if profile.looks_at(END):
        end = effective_end(component)
        if end is not None:
            items.append((END, end))
    return tuple(sorted(items))


def instance_of(obj: CalendarObject | None, key: str) -> Component | None:
    """What ``obj`` says about instance ``key``: its override, the instance derived
    from its master, or None when the master excludes it or there is no master."""
    if obj is None:
        return None
    if key in obj.overrides:
        return obj.overrides[key]
    if obj.master is None or key in excluded_keys(obj.master):
        return None
    return derive_instance(obj.master, key)


def changed_instances(
    old: CalendarObject | None,
    new: CalendarObject | None,
    profile: Profile,
    ignore_instances: Iterable[str] = (),
) -> set[str | None]:
    """The instances (``None`` = the master) whose fingerprints differ between versions.

    A component present in one version and absent from the other is changed;
    instances in ``ignore_instances`` are not compared at all.
    """
    ignored = set(ignore_instances)
    changed: set[str | None] = set()
    old_master = None if old is None else old.master
    new_master = None if new is None else new.master
    if fingerprint(old_master, profile, ignored) != fingerprint(new_master, profile, ignored):
        changed.add(None)
    keys = set(old.overrides if old else ()) | set(new.overrides if new else ())
    for key in sorted(keys - ignored):
        before, after = instance_of(old, key), instance_of(new, key)
        if (before is None) != (after is None) or fingerprint(before, profile) != fingerprint(
            after, profile
        ):
            changed.add(key)
    return changed


def objects_differ(
    old: CalendarObject | None, new: CalendarObject | None, profile: Profile
) -> bool:
    if old is None and new is None:
        return False
    return bool(changed_instances(old, new, profile))


def scheduling_significant(old: str | None, new: str | None) -> bool:
    """Whether two versions differ in anything but per-attendee data and personal data.

    Per-attendee data: PARTSTAT, RSVP and the SCHEDULE-* parameters of
    ATTENDEE lines; personal data: VALARMs, X- properties, DTSTAMP,
    LAST-MODIFIED, SEQUENCE, CREATED, TRANSP. Creation and deletion are
    significant. The server uses this for Schedule-Tag (RFC 6638 §3.3): an
    attendee's copy keeps its tag through the attendee's own replies.
    """
    return objects_differ(parse_optional(old), parse_optional(new), SCHEDULING)


def organizer_copy_changed(old: CalendarObject | None, new: CalendarObject | None) -> bool:
    """Whether an organizer's write changes their copy beyond server-written and personal data."""
    return objects_differ(old, new, ORGANIZER_COPY)
