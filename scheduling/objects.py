"""A scheduling object resource read as iTIP sees it (RFC 6638 §3.1, RFC 5545 §3.8.4.4).

One resource holds one VEVENT or VTODO "master" and any number of overridden
instances: components with the same UID and a RECURRENCE-ID. iTIP reasons
instance by instance, so this module keys the overrides by their
RECURRENCE-ID in UTC (see ``instances.instance_key``): a client that writes
the same RECURRENCE-ID with another TZID still names the same instance.

Parsing and writing are icalendar's; this module only decides which
components count and how a message or a stored copy is assembled around them
(VERSION, PRODID, and the VTIMEZONEs its TZIDs need: RFC 5545 §3.2.19 wants
one for every TZID used, and a recipient cannot resolve a client's custom zone
without it).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterable
from dataclasses import dataclass, field

import icalendar
from icalendar import Component

from kalend.scheduling.errors import ValidSchedulingMessageError
from kalend.scheduling.instances import recurrence_key

#: The components iTIP schedules. VJOURNAL has no attendees to schedule in practice.
SCHEDULED_COMPONENTS = ("VEVENT", "VTODO")

PRODID = "-//kalend//kalend scheduling//EN"


@dataclass(frozen=True, eq=False)
class CalendarObject:
    """A parsed resource: its calendar, UID, master component and overrides by instance key.

    The components are icalendar's mutable objects; the functions that
    change them work on a freshly parsed object or on deep copies.
    """

    calendar: icalendar.Calendar
    uid: str
    kind: str
    master: Component | None
    overrides: dict[str, Component] = field(default_factory=dict)

    @property
    def components(self) -> list[Component]:
        """Master first, then the overrides in instance order."""
        master = [self.master] if self.master is not None else []
        return master + [self.overrides[key] for key in sorted(self.overrides)]

    def component(self, key: str | None) -> Component | None:
        """The component stored for ``key`` (``None`` = the master), not a derived one."""
        return self.master if key is None else self.overrides.get(key)


def parse_object(text: str) -> CalendarObject:
    """Read ``text`` as one scheduling object resource.

    Raises ValueError when it is not iCalendar or holds no VEVENT/VTODO, or
    holds two masters or two overrides of one instance.
    """
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except Exception as error:  # icalendar raises several types for bad input
        raise ValueError(f"not iCalendar: {error}") from error
    if isinstance(calendar, list) or calendar.name != "VCALENDAR":
        raise ValueError("not one VCALENDAR")
    return object_from_calendar(calendar)


def object_from_calendar(calendar: icalendar.Calendar) -> CalendarObject:
    """Index the scheduled components of ``calendar`` (see ``parse_object``)."""
    components = [c for c in calendar.subcomponents if c.name in SCHEDULED_COMPONENTS]
    if not components:
        raise ValueError("no VEVENT or VTODO")
    uid = str(components[0].get("UID", ""))
    master: Component | None = None
    overrides: dict[str, Component] = {}
    for component in components:
        key = recurrence_key(component)
        if key is None:
            if master is not None:
                raise ValueError("two components without RECURRENCE-ID")
            master = component
        elif key in overrides:
            raise ValueError(f"two overrides of instance {key}")
        else:
            overrides[key] = component
    return CalendarObject(calendar, uid, components[0].name, master, overrides)


def parse_optional(text: str | None) -> CalendarObject | None:
    """``parse_object`` for a version that may not exist (creation, deletion)."""
    return None if text is None else parse_object(text)


def serialize(calendar: icalendar.Calendar) -> str:
    """The calendar as text: CRLF line ends, lines folded at 75 octets (RFC 5545 §3.1)."""
    return calendar.to_ical().decode("utf-8")


def new_calendar(method: str | None = None) -> icalendar.Calendar:
    """An empty VCALENDAR with the properties RFC 5545 §3.6 requires (and METHOD for iTIP)."""
    calendar = icalendar.Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    if method:
        calendar.add("METHOD", method)
    return calendar


def assemble(
    calendar: icalendar.Calendar,
    components: Iterable[Component],
    timezone_sources: Iterable[icalendar.Calendar] = (),
) -> icalendar.Calendar:
    """Put ``components`` into ``calendar`` with the VTIMEZONEs they use.

    A VTIMEZONE is taken from the first of ``timezone_sources`` that defines
    its TZID (so a client's custom zone travels with its events); a TZID none
    of them defines is generated from the IANA database when it names a zone
    there, and left alone otherwise.
    """
    for component in components:
        calendar.add_component(component)
    wanted = calendar.get_used_tzids()
    known = {str(tz.get("TZID")) for tz in calendar.walk("VTIMEZONE")}
    timezones = []
    for source in timezone_sources:
        for timezone in source.walk("VTIMEZONE"):
            tzid = str(timezone.get("TZID"))
            if tzid in wanted and tzid not in known:
                timezones.append(copy.deepcopy(timezone))
                known.add(tzid)
    calendar.subcomponents[0:0] = timezones
    # An unknown TZID stays as the client wrote it: the recipient resolves it or not.
    with contextlib.suppress(Exception):
        calendar.add_missing_timezones()
    _move_timezones_first(calendar)
    return calendar


def _move_timezones_first(calendar: icalendar.Calendar) -> None:
    """VTIMEZONEs before the components that use them: not required, but what
    every client writes."""
    timezones = [c for c in calendar.subcomponents if c.name == "VTIMEZONE"]
    others = [c for c in calendar.subcomponents if c.name != "VTIMEZONE"]
    calendar.subcomponents[:] = timezones + others


def message_text(method: str, components: Iterable[Component], source: icalendar.Calendar) -> str:
    """A whole iTIP message: VCALENDAR with METHOD, the VTIMEZONEs needed, the components."""
    return serialize(assemble(new_calendar(method), components, [source]))


def stored_text(
    template: icalendar.Calendar,
    components: Iterable[Component],
    timezone_sources: Iterable[icalendar.Calendar],
) -> str:
    """A resource to store: ``template``'s calendar properties (PRODID, CALSCALE,
    X-WR-…) without METHOD — a stored object never has one (RFC 4791 §4.1) —
    around ``components`` and their VTIMEZONEs."""
    calendar = icalendar.Calendar()
    for name, value in template.property_items(recursive=False):
        if name not in ("BEGIN", "END", "METHOD"):
            calendar.add(name, value, encode=False)
    if "PRODID" not in calendar:
        calendar.add("PRODID", PRODID)
    if "VERSION" not in calendar:
        calendar.add("VERSION", "2.0")
    return serialize(assemble(calendar, components, timezone_sources))


def parse_message(text: str, method: str) -> CalendarObject:
    """Read an incoming iTIP message; ValidSchedulingMessageError when it is not one
    of ``method`` (RFC 5546 §3.1: METHOD says what the message is; a message
    without METHOD is taken as the method it was handed over as)."""
    try:
        obj = parse_object(text)
    except ValueError as error:
        raise ValidSchedulingMessageError(str(error)) from error
    written = str(obj.calendar.get("METHOD", "")).strip().upper()
    if written and written != method:
        raise ValidSchedulingMessageError(f"a {written} message where a {method} was expected")
    return obj


def in_wire_form(text: str) -> bool:
    """Whether ``text`` already has CRLF line ends and lines of at most 75 octets
    (RFC 5545 §3.1), so it can be handed back as written."""
    if not text.endswith("\r\n"):
        return False
    lines = text.split("\r\n")[:-1]
    return all(
        "\n" not in line and "\r" not in line and len(line.encode("utf-8")) <= 75 for line in lines
    )


def unchanged_or_serialized(text: str, calendar: icalendar.Calendar, changed: bool) -> str:
    """``text`` as written when nothing changed and it is in wire form (a client's ETag
    stays valid), else the serialised ``calendar``."""
    if not changed and in_wire_form(text):
        return text
    return serialize(calendar)
