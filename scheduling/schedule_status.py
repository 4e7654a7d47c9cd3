"""Server-written scheduling parameters on a stored copy (RFC 6638 §7.2, §7.3).

After delivering the messages of a write, the server notes on the sender's
copy how each went: on the organizer's copy, SCHEDULE-STATUS on each
ATTENDEE line (1.2 delivered, 1.1 sent, 3.7 invalid address, 5.x failed);
on an attendee's copy, SCHEDULE-STATUS on the ORGANIZER line for the REPLY.
The client reads it back and shows it; it never leaves the server.
"""

from __future__ import annotations

from collections.abc import Mapping

import icalendar

from kalend.scheduling.addresses import normalize
from kalend.scheduling.objects import SCHEDULED_COMPONENTS, unchanged_or_serialized
from kalend.scheduling.participants import (
    attendee_properties,
    organizer_property,
    parameter,
    strip_parameters,
)


def set_schedule_status(
    text: str, statuses: Mapping[str, str], organizer_status: str | None = None
) -> str:
    """``text`` with SCHEDULE-STATUS set on each ATTENDEE whose address is a key of
    ``statuses`` (all components), and on the ORGANIZER when ``organizer_status``
    is given. The text comes back as it was when nothing changes."""
    wanted = {normalize(address): status for address, status in statuses.items()}
    calendar = icalendar.Calendar.from_ical(text)
    changed = False
    for component in calendar.subcomponents:
        if component.name not in SCHEDULED_COMPONENTS:
            continue
        for prop in attendee_properties(component):
            status = wanted.get(normalize(str(prop)))
            if status is not None and parameter(prop, "SCHEDULE-STATUS") != status:
                prop.params["SCHEDULE-STATUS"] = status
                changed = True
        organizer = organizer_property(component)
        if (
            organizer_status is not None
            and organizer is not None
            and parameter(organizer, "SCHEDULE-STATUS") != organizer_status
        ):
            organizer.params["SCHEDULE-STATUS"] = organizer_status
            changed = True
    return unchanged_or_serialized(text, calendar, changed)


def without_force_send(text: str) -> str:
    """``text`` without SCHEDULE-FORCE-SEND parameters (RFC 6638 §7.2).

    The parameter asks for one message on this write; stored, it would ask
    again on every later write. ``organizer_changes`` strips it from the
    organizer's copy itself; the server calls this for an attendee's copy.
    The text comes back as it was when there is none.
    """
    calendar = icalendar.Calendar.from_ical(text)
    changed = False
    for component in calendar.subcomponents:
        if component.name in SCHEDULED_COMPONENTS:
            changed = strip_parameters(component, ["SCHEDULE-FORCE-SEND"]) or changed
    return unchanged_or_serialized(text, calendar, changed)
