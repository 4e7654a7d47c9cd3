"""The ``[limits]`` a calendar object or contact is held to before it is parsed:
the body of a PUT, the iCalendar of an iMIP message.

Parsing costs time in proportion to what a body holds, and some shapes cost
far more than their size suggests (measured through kalend's PUT before
these limits: 10,000 overridden instances over 60 s, 5,000 ATTENDEE lines
37 s, a 5 MB SUMMARY 21-48 s, vobject's line folding and unescaping
going character by character). A scan of the lines, about a millisecond
for a 100 kB object, refuses what is over a limit before any parser runs:

* components (``BEGIN:`` lines) over ``max_components_per_object``;
* overridden instances (RECURRENCE-ID properties) over
  ``max_overridden_instances``: answered CALDAV:max-instances, as they are
  instances of the object (RFC 4791 §5.2.7);
* ATTENDEE properties of one component over ``max_attendees_per_instance``:
  CALDAV:max-attendees-per-instance (RFC 4791 §5.2.9);
* a property (its unfolded line, RFC 5545 §3.1) longer than
  ``max_property_length`` characters.

The size of the whole object is ``[server] max_resource_size`` (Radicale's
key), checked before a PUT's body is even read (``kalend.server.put``);
for mail, ``[imip] max_message_size`` bounds it.

Dates of instances (DTSTART, DTEND, DUE, RECURRENCE-ID, RDATE, EXDATE)
must lie between the years ``MIN_YEAR`` and ``MAX_YEAR``: CALDAV:min-date-time
and max-date-time (RFC 4791 §5.2.6-5.2.7). At the ends of what Python's
datetime holds, converting a time zone or widening a range by a duration
overflows (an RDATE in the year 1 in Berlin answered 500).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from radicale import config as radicale_config

#: The years instance dates may have (see the module docstring): far inside
#: datetime's 1-9999, far outside any calendar's use (time-zone definitions
#: start in 1601 or 1970).
MIN_YEAR, MAX_YEAR = 1000, 8999
_DATED = frozenset({"DTSTART", "DTEND", "DUE", "RECURRENCE-ID", "RDATE", "EXDATE"})
_YEAR = re.compile(r"(?:^|[,/])\s*(\d{4})\d{4}")


class LimitExceeded(Exception):
    """A body over one of the limits: ``precondition`` is the element the
    403 names (RFC 4791 §5.3.2.1, RFC 6352 §6.3.2.1), ``reason`` the limit
    and the key that sets it."""

    def __init__(self, precondition: str, reason: str) -> None:
        super().__init__(reason)
        self.precondition = precondition
        self.reason = reason


@dataclass(frozen=True)
class RequestLimits:
    max_resource_size: int
    max_components_per_object: int
    max_overridden_instances: int
    max_attendees_per_instance: int
    max_property_length: int

    @classmethod
    def of(cls, configuration: radicale_config.Configuration,
           max_resource_size: int) -> RequestLimits:
        """``max_resource_size`` as Radicale applies it (at most 80 % of
        ``max_content_length``)."""
        def limit(name: str) -> int:
            return configuration.get("limits", name)

        return cls(max_resource_size=max_resource_size,
                   max_components_per_object=limit("max_components_per_object"),
                   max_overridden_instances=limit("max_overridden_instances"),
                   max_attendees_per_instance=limit("max_attendees_per_instance"),
                   max_property_length=limit("max_property_length"))


def check_properties(text: str, limits: RequestLimits) -> None:
    """The limits that hold for each object of a whole-collection upload:
    property length and attendees per component (the others count a single
    object, and an upload holds many)."""
    unbounded = max(len(text), 1)
    check_text(text, RequestLimits(limits.max_resource_size, unbounded, unbounded,
                                   limits.max_attendees_per_instance,
                                   limits.max_property_length))


def check_text(text: str, limits: RequestLimits, carddav: bool = False) -> None:
    """Raise ``LimitExceeded`` for the first limit ``text`` is over."""
    namespace = "CR" if carddav else "C"
    size_precondition = f"{namespace}:max-resource-size"
    components = overrides = 0
    attendees: list[int] = []      # per open component, innermost last
    length = 0
    for line in text.split("\n"):
        if line[:1] in (" ", "\t"):     # a folded line goes on the property
            length += len(line.rstrip("\r")) - 1
            if length > limits.max_property_length:
                raise LimitExceeded(size_precondition, _too_long(limits))
            continue
        length = len(line.rstrip("\r"))
        if length > limits.max_property_length:
            raise LimitExceeded(size_precondition, _too_long(limits))
        name = line[:32].split(":", 1)[0].split(";", 1)[0].strip().upper()
        if name == "BEGIN":
            components += 1
            attendees.append(0)
            if components > limits.max_components_per_object:
                raise LimitExceeded(
                    size_precondition,
                    f"more than {limits.max_components_per_object} components in one object "
                    "([limits] max_components_per_object)")
        elif name == "END":
            if attendees:
                attendees.pop()
        elif name == "RECURRENCE-ID":
            overrides += 1
            if overrides > limits.max_overridden_instances:
                raise LimitExceeded(
                    f"{namespace}:max-instances",
                    f"more than {limits.max_overridden_instances} overridden instances in one "
                    "object ([limits] max_overridden_instances)")
        elif name in _DATED:
            _check_years(name, line, namespace)
        elif name == "ATTENDEE" and attendees:
            attendees[-1] += 1
            if attendees[-1] > limits.max_attendees_per_instance:
                raise LimitExceeded(
                    f"{namespace}:max-attendees-per-instance",
                    f"more than {limits.max_attendees_per_instance} attendees in one component "
                    "([limits] max_attendees_per_instance)")


def _check_years(name: str, line: str, namespace: str) -> None:
    """The years of a dated property's values (a folded continuation is not
    read: a date fits in the first line of any property)."""
    value = line.split(":", 1)[1] if ":" in line else ""
    for match in _YEAR.finditer(value):
        year = int(match.group(1))
        if year < MIN_YEAR:
            raise LimitExceeded(f"{namespace}:min-date-time",
                                f"{name} in the year {year}: dates start in {MIN_YEAR}")
        if year > MAX_YEAR:
            raise LimitExceeded(f"{namespace}:max-date-time",
                                f"{name} in the year {year}: dates end in {MAX_YEAR}")


def _too_long(limits: RequestLimits) -> str:
    return (f"a property is longer than {limits.max_property_length} characters "
            "([limits] max_property_length)")
