"""The content of a REPLY component (RFC 5546 §3.2.3).

A REPLY tells the organizer one thing: how one attendee answers for the
whole object or for some instances. It carries the identifying properties
(UID, RECURRENCE-ID, SEQUENCE the answer refers to, DTSTAMP), the ORGANIZER,
and that single ATTENDEE line with its PARTSTAT — never the other
attendees, whose answers are not the replier's to give. DTSTART, DTEND/DUE/
DURATION and SUMMARY, which §3.2.3 allows, are kept so a mail client can show
what is being answered.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from icalendar import Component, vCalAddress

from kalend.scheduling.instances import replace_value
from kalend.scheduling.participants import (
    SCHEDULE_PARAMETERS,
    copy_address,
    find_attendee,
    organizer_property,
    set_partstat,
)

#: Properties copied from the answered component into the REPLY.
REPLY_PROPERTIES = (
    "UID",
    "RECURRENCE-ID",
    "DTSTART",
    "DTEND",
    "DURATION",
    "DUE",
    "SUMMARY",
    "SEQUENCE",
)


def reply_component(
    source: Component,
    attendee: str,
    answer: str,
    organizer: Any | None,
    stamp: dt.datetime,
) -> Component:
    """The REPLY component answering ``source`` for ``attendee`` with PARTSTAT ``answer``.

    ``organizer``: the ORGANIZER line to use when ``source`` has none (an
    override written without it).
    """
    reply = type(source)()
    for name in REPLY_PROPERTIES:
        if name in source:
            reply[name] = copy.deepcopy(source[name])
    replace_value(reply, "DTSTAMP", stamp)
    organizer_line = organizer_property(source) or organizer
    if organizer_line is not None:
        reply.add("ORGANIZER", _clean(organizer_line))
    line = find_attendee(source, attendee)
    attendee_line = _clean(line) if line is not None else vCalAddress(attendee)
    set_partstat(attendee_line, answer, rsvp=False)
    reply.add("ATTENDEE", attendee_line)
    return reply


def _clean(prop: Any) -> vCalAddress:
    clone = copy_address(prop)
    for name in SCHEDULE_PARAMETERS:
        clone.params.pop(name, None)
    return clone
