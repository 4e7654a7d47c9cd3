"""Processing a REPLY into the organizer's copy (RFC 6638 §3.2.1 / §4.1, RFC 5546 §3.2.3).

A REPLY changes one thing in the organizer's copy: one attendee's answer,
for the master or for some instances. Each of its components must hold
exactly one ATTENDEE, the same in all of them, and that attendee must be
invited. An answer for an instance the organizer never overrode adds an
override (the instance as derived from the master) to hold it — the only
way iCalendar can say "Bob declined the 14th".

The organizer's SEQUENCE does not change: an answer is not a change to the
meeting. SCHEDULE-STATUS=2.0 on the attendee's line records that a reply
was received (RFC 6638 §7.3). An answer to an older version of the
instance (its SEQUENCE lower than the copy's, RFC 5546 §2.1.5) is ignored:
the attendee has been asked again and will answer again.
"""

from __future__ import annotations

from typing import Any

from icalendar import Component

from kalend.scheduling.addresses import normalize
from kalend.scheduling.errors import ValidSchedulingMessageError
from kalend.scheduling.instances import derive_instance, excluded_keys, recurrence_key, sequence
from kalend.scheduling.messages import REPLY
from kalend.scheduling.objects import CalendarObject, parse_message, parse_object, serialize
from kalend.scheduling.participants import (
    attendee_properties,
    find_attendee,
    partstat,
    set_partstat,
)

#: SCHEDULE-STATUS for "reply received and applied" (RFC 6638 §7.3, RFC 5546 §3.6).
DELIVERED = "2.0"


def apply_reply(organizer_copy: str, message_text: str) -> tuple[str, str]:
    """The organizer's copy with the REPLY applied, and the replier's normalised address.

    Raises ValidSchedulingMessageError when the message is not a REPLY of
    one invited attendee about this UID.
    """
    message = parse_message(message_text, REPLY)
    current = parse_object(organizer_copy)
    if current.uid != message.uid:
        raise ValidSchedulingMessageError(f"REPLY for {message.uid} applied to {current.uid}")
    replier = _replier(message)
    if not any(find_attendee(c, replier) is not None for c in current.components):
        raise ValidSchedulingMessageError(f"{replier} is not an attendee of {current.uid}")
    for answer in message.components:
        _apply_answer(current, answer, replier)
    return serialize(current.calendar), replier


def _replier(message: CalendarObject) -> str:
    """The one attendee all components of the REPLY speak for."""
    addresses = set()
    for component in message.components:
        lines = attendee_properties(component)
        if len(lines) != 1:
            raise ValidSchedulingMessageError(
                f"a REPLY component must hold one ATTENDEE, not {len(lines)}"
            )
        addresses.add(normalize(str(lines[0])))
    if len(addresses) != 1 or "" in addresses:
        raise ValidSchedulingMessageError("a REPLY must speak for one attendee")
    return addresses.pop()


def _apply_answer(current: CalendarObject, answer: Component, replier: str) -> None:
    key = recurrence_key(answer)
    target = current.master if key is None else current.overrides.get(key)
    if target is None and key is not None:
        target = _new_override(current, key, replier)
    line = find_attendee(target, replier)
    if target is None or line is None:
        return
    if "SEQUENCE" in answer and sequence(answer) < sequence(target):
        return
    reply_line = attendee_properties(answer)[0]
    _record(line, reply_line)


def _new_override(current: CalendarObject, key: str, replier: str) -> Component | None:
    """The instance ``key`` as an override of the master, added to the copy; None when
    the master does not have that instance for the replier."""
    master = current.master
    if master is None or key in excluded_keys(master) or find_attendee(master, replier) is None:
        return None
    override = derive_instance(master, key)
    current.calendar.add_component(override)
    current.overrides[key] = override
    return override


def _record(line: Any, reply_line: Any) -> None:
    """The answer on the organizer's ATTENDEE line: PARTSTAT, no RSVP, delegation, 2.0."""
    set_partstat(line, partstat(reply_line) or "NEEDS-ACTION", rsvp=False)
    for name in ("DELEGATED-TO",):
        if name in reply_line.params:
            line.params[name] = reply_line.params[name]
    line.params["SCHEDULE-STATUS"] = DELIVERED
