"""Processing a REQUEST into the recipient's copy (RFC 6638 §3.2.2 / §4.1, RFC 5546 §3.2.2).

The organizer's message is authoritative for the meeting; the recipient's
copy is authoritative for what is theirs: their alarms, their X-
properties, their TRANSP (busy or free for them), and their answer. So a
REQUEST replaces the organizer's data and keeps the recipient's, and keeps
the recipient's PARTSTAT unless the meeting was rescheduled — a higher
SEQUENCE and a changed time (RFC 5546 §2.1.4) — in which case the
message's answer (NEEDS-ACTION) stands and the recipient must answer again.

A REQUEST with a master replaces the whole copy (overrides the organizer
no longer sends are dropped). A REQUEST with overrides only (the recipient
was invited to some instances, or the organizer sent only those) is merged
into the copy instance by instance.

Out-of-date messages (a SEQUENCE lower than the copy's, RFC 5546 §2.1.5)
change nothing, except on a copy that was cancelled: re-inviting after a
cancellation is a fresh start.
"""

from __future__ import annotations

import copy
import functools

from icalendar import Component

from kalend.scheduling.addresses import normalize
from kalend.scheduling.errors import ValidSchedulingMessageError
from kalend.scheduling.instances import remove_exdate, sequence
from kalend.scheduling.messages import REQUEST
from kalend.scheduling.objects import (
    CalendarObject,
    parse_message,
    parse_object,
    stored_text,
    unchanged_or_serialized,
)
from kalend.scheduling.participants import (
    NEEDS_ACTION,
    SCHEDULE_PARAMETERS,
    find_attendee,
    parameter,
    partstat,
    set_partstat,
    strip_parameters,
)
from kalend.scheduling.significance import TIME, fingerprint, instance_of

#: Properties of a component that belong to the recipient, not to the organizer.
RECIPIENT_PROPERTIES = ("TRANSP",)


def apply_request(existing: str | None, message_text: str, recipient: str) -> str:
    """The recipient's copy after processing the REQUEST ``message_text`` (no METHOD).

    ``existing``: the recipient's current copy, None when they have none.
    Raises ValidSchedulingMessageError when the message is not a REQUEST or
    names another UID than ``existing``.
    """
    message = _request(message_text)
    me = normalize(recipient)
    if existing is None:
        components = [_merged(m, None, me) for m in message.components]
        return stored_text(message.calendar, components, [message.calendar])
    current = parse_object(existing)
    if current.uid != message.uid:
        raise ValidSchedulingMessageError(f"REQUEST for {message.uid} applied to {current.uid}")
    fresh_start = _cancelled(current)
    if message.master is not None:
        replaced = _replace(current, message, me, fresh_start)
        return (
            replaced
            if replaced is not None
            else unchanged_or_serialized(existing, current.calendar, False)
        )
    return _merge_instances(current, message, me, fresh_start)


@functools.lru_cache(maxsize=8)
def _request(message_text: str) -> CalendarObject:
    """The parsed REQUEST, shared by every recipient of one message.

    Why: a meeting's REQUEST is applied once per local attendee, and parsing
    it costs as much as its attendee list is long, so a meeting's delivery
    grew with the square of its attendees (150 attendees: a quarter of the
    PUT, measured in process). Sharing it is safe because ``apply_request``
    only reads the message: every component it stores is a deep copy
    (``_merged``), and ``stored_text`` copies the time zones it takes.
    Errors are not kept: a bad message is parsed, and refused, each time.
    """
    return parse_message(message_text, REQUEST)


def _cancelled(obj: CalendarObject) -> bool:
    return all(str(c.get("STATUS", "")).upper() == "CANCELLED" for c in obj.components)


def _replace(
    current: CalendarObject, message: CalendarObject, me: str, fresh_start: bool
) -> str | None:
    """A REQUEST with a master: the message's components, with the recipient's data kept.
    None when the message is older than the copy."""
    assert message.master is not None
    if (
        not fresh_start
        and current.master is not None
        and sequence(message.master) < sequence(current.master)
    ):
        return None
    components = []
    for key, component in _keyed(message):
        before = current.master if key is None else instance_of(current, key)
        components.append(_merged(component, None if fresh_start else before, me))
    return stored_text(current.calendar, components, [message.calendar, current.calendar])


def _merge_instances(
    current: CalendarObject, message: CalendarObject, me: str, fresh_start: bool
) -> str:
    """A REQUEST with overrides only: each replaces or joins the copy's overrides."""
    overrides = dict(current.overrides)
    master = copy.deepcopy(current.master) if current.master is not None else None
    for key, component in message.overrides.items():
        before = instance_of(current, key)
        if before is not None and not fresh_start and sequence(component) < sequence(before):
            continue
        overrides[key] = _merged(component, None if fresh_start else before, me)
        if master is not None:
            # The organizer invites to this instance again: the copy's own exclusion goes.
            remove_exdate(master, key)
    components = ([master] if master is not None else []) + [
        overrides[k] for k in sorted(overrides)
    ]
    return stored_text(current.calendar, components, [message.calendar, current.calendar])


def _keyed(obj: CalendarObject) -> list[tuple[str | None, Component]]:
    master = [(None, obj.master)] if obj.master is not None else []
    return master + sorted(obj.overrides.items())


def _merged(component: Component, before: Component | None, me: str) -> Component:
    """The message's ``component`` as the recipient stores it, given their ``before``."""
    merged = copy.deepcopy(component)
    strip_parameters(merged, SCHEDULE_PARAMETERS)
    line = find_attendee(merged, me)
    if before is not None:
        _keep_recipient_data(merged, before)
    if line is None:
        return merged
    previous = find_attendee(before, me) if before is not None else None
    if previous is not None and not _rescheduled(before, component):
        set_partstat(
            line,
            partstat(previous) or NEEDS_ACTION,
            rsvp=parameter(previous, "RSVP").upper() == "TRUE",
        )
    elif "PARTSTAT" not in line.params:
        set_partstat(line, NEEDS_ACTION)
    return merged


def _rescheduled(before: Component | None, message: Component) -> bool:
    """RFC 5546 §2.1.4: a higher SEQUENCE and another time or recurrence."""
    if before is None:
        return True
    return sequence(message) > sequence(before) and fingerprint(before, TIME) != fingerprint(
        message, TIME
    )


def _keep_recipient_data(merged: Component, before: Component) -> None:
    """The recipient's alarms, X- properties and TRANSP survive the organizer's update."""
    alarms = [copy.deepcopy(c) for c in before.subcomponents if c.name == "VALARM"]
    merged.subcomponents[:] = [c for c in merged.subcomponents if c.name != "VALARM"] + alarms
    for name in before:
        if (name.startswith("X-") and name not in merged) or name in RECIPIENT_PROPERTIES:
            merged.pop(name, None)
            merged[name] = copy.deepcopy(before[name])
