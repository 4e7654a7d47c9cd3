"""ORGANIZER and ATTENDEE lines and their scheduling parameters (RFC 5545 §3.8.4.1/3, RFC 6638 §7).

Addresses are compared normalised (``addresses.normalize``). The RFC 6638
parameters are instructions between client and server, not meeting data:

- SCHEDULE-AGENT (§7.1): who delivers messages for this calendar user —
  SERVER (the default), CLIENT or NONE.
- SCHEDULE-FORCE-SEND (§7.2): REQUEST on an ATTENDEE, REPLY on the ORGANIZER,
  to send a message the server would not send on its own.
- SCHEDULE-STATUS (§7.3): the server's record of the last delivery.

None of them may leave the server in an iTIP message (§7.3 for SCHEDULE-STATUS;
the other two mean nothing to a recipient). The same goes for kalend's own
record, on the organizer's copy, of which reply each attendee's answer came
from (``X-KALEND-REPLY-*``, see ``incoming_reply``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from icalendar import Component, vCalAddress

from kalend.scheduling.addresses import normalize
from kalend.scheduling.errors import SameOrganizerError
from kalend.scheduling.instances import property_list

#: SEQUENCE and DTSTAMP of the REPLY an organizer's ATTENDEE line last took.
REPLY_SEQUENCE = "X-KALEND-REPLY-SEQUENCE"
REPLY_DTSTAMP = "X-KALEND-REPLY-DTSTAMP"
REPLY_RECORD_PARAMETERS = (REPLY_SEQUENCE, REPLY_DTSTAMP)

SCHEDULE_PARAMETERS = ("SCHEDULE-STATUS", "SCHEDULE-FORCE-SEND", "SCHEDULE-AGENT",
                       *REPLY_RECORD_PARAMETERS)

NEEDS_ACTION = "NEEDS-ACTION"
DECLINED = "DECLINED"


def organizer_property(component: Component) -> Any | None:
    return component.get("ORGANIZER")


def organizer_of(component: Component | None) -> str:
    """The normalised ORGANIZER address of a component, ``""`` when it has none."""
    if component is None:
        return ""
    prop = organizer_property(component)
    return "" if prop is None else normalize(str(prop))


def common_organizer(components: Iterable[Component]) -> str:
    """The ORGANIZER shared by all components that have one.

    RFC 6638 §3.2.4.2: every component of a scheduling object resource must
    name the same organizer; components without one are tolerated (clients
    write overrides without ORGANIZER) and take the others'.
    """
    organizers = {organizer_of(c) for c in components} - {""}
    if len(organizers) > 1:
        raise SameOrganizerError(
            "the components name different organizers: " + ", ".join(sorted(organizers))
        )
    return organizers.pop() if organizers else ""


def first_organizer(components: Iterable[Component]) -> str:
    """The first ORGANIZER named by ``components``, without checking the others agree:
    for stored versions, which were checked when written."""
    return next((o for o in (organizer_of(c) for c in components) if o), "")


def attendee_properties(component: Component | None) -> list[Any]:
    return [] if component is None else property_list(component, "ATTENDEE")


def attendee_addresses(component: Component | None) -> list[str]:
    """Normalised addresses of the ATTENDEE lines, in order, without repeats."""
    seen: list[str] = []
    for prop in attendee_properties(component):
        address = normalize(str(prop))
        if address and address not in seen:
            seen.append(address)
    return seen


def find_attendee(component: Component | None, address: str) -> Any | None:
    """The ATTENDEE line of ``address`` in ``component``, or None."""
    wanted = normalize(address)
    for prop in attendee_properties(component):
        if normalize(str(prop)) == wanted:
            return prop
    return None


def parameter(prop: Any, name: str, default: str = "") -> str:
    value = getattr(prop, "params", {}).get(name)
    if value is None:
        return default
    if isinstance(value, list | tuple):
        value = value[0] if value else default
    return str(value)


def partstat(prop: Any | None) -> str | None:
    """PARTSTAT in upper case (NEEDS-ACTION when absent, RFC 5545 §3.2.12); None without a line."""
    if prop is None:
        return None
    return parameter(prop, "PARTSTAT", NEEDS_ACTION).upper()


def set_partstat(prop: Any, value: str, rsvp: bool | None = None) -> None:
    """Set PARTSTAT; RSVP=TRUE when ``rsvp`` is True, no RSVP when False, unchanged when None."""
    prop.params["PARTSTAT"] = value
    if rsvp is True:
        prop.params["RSVP"] = "TRUE"
    elif rsvp is False:
        prop.params.pop("RSVP", None)


def schedule_agent(prop: Any | None) -> str:
    """SCHEDULE-AGENT in upper case, SERVER when absent (RFC 6638 §7.1)."""
    if prop is None:
        return "SERVER"
    return parameter(prop, "SCHEDULE-AGENT", "SERVER").upper() or "SERVER"


def server_schedules(prop: Any | None) -> bool:
    """Whether kalend delivers messages for this line (SCHEDULE-AGENT=SERVER)."""
    return schedule_agent(prop) == "SERVER"


def force_send(prop: Any | None) -> str:
    """SCHEDULE-FORCE-SEND in upper case, ``""`` when absent (RFC 6638 §7.2)."""
    if prop is None:
        return ""
    return parameter(prop, "SCHEDULE-FORCE-SEND").upper()


def participant_properties(component: Component) -> list[Any]:
    """The ORGANIZER and every ATTENDEE line of a component."""
    organizer = organizer_property(component)
    return ([organizer] if organizer is not None else []) + attendee_properties(component)


def strip_parameters(component: Component, names: Iterable[str]) -> bool:
    """Remove parameters ``names`` from ORGANIZER and ATTENDEE lines; True if any was there."""
    names = tuple(names)
    removed = False
    for prop in participant_properties(component):
        for name in names:
            if name in prop.params:
                del prop.params[name]
                removed = True
    return removed


def keep_attendees(component: Component, addresses: Iterable[str]) -> None:
    """Drop every ATTENDEE line whose address is not in ``addresses``."""
    wanted = {normalize(a) for a in addresses}
    kept = [p for p in attendee_properties(component) if normalize(str(p)) in wanted]
    set_attendees(component, kept)


def set_attendees(component: Component, props: Iterable[Any]) -> None:
    component.pop("ATTENDEE", None)
    for prop in props:
        component.add("ATTENDEE", prop)


def add_attendee(component: Component, prop: Any) -> None:
    component.add("ATTENDEE", prop)


def copy_address(prop: Any) -> vCalAddress:
    """A separate ATTENDEE/ORGANIZER value with the same address and parameters."""
    clone = vCalAddress(str(prop))
    for name, value in prop.params.items():
        clone.params[name] = value
    return clone
