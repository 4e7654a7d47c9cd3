"""Processing a CANCEL into the recipient's copy (RFC 6638 §3.2.2 / §4.1, RFC 5546 §3.2.5).

kalend keeps a cancelled meeting in the attendee's calendar marked
STATUS:CANCELLED rather than deleting it, as CalendarServer does: the
attendee sees that it was called off (clients strike it through) and decides
to delete it. A CANCEL without RECURRENCE-ID calls off the whole object; one
with RECURRENCE-IDs calls off those instances, and an instance the copy
does not override yet gets an override to carry the STATUS.
"""

from __future__ import annotations

import copy

from icalendar import Component

from kalend.scheduling.instances import (
    derive_instance,
    excluded_keys,
    replace_value,
    sequence,
    set_sequence,
)
from kalend.scheduling.messages import CANCEL
from kalend.scheduling.objects import (
    CalendarObject,
    parse_message,
    parse_object,
    unchanged_or_serialized,
)
from kalend.scheduling.participants import SCHEDULE_PARAMETERS, strip_parameters


def apply_cancel(existing: str, message_text: str) -> str | None:
    """The recipient's copy after the CANCEL ``message_text``; None when the message
    is about another object (UID mismatch). An out-of-date CANCEL (lower
    SEQUENCE, RFC 5546 §2.1.5) leaves the copy as it was."""
    message = parse_message(message_text, CANCEL)
    current = parse_object(existing)
    if current.uid != message.uid:
        return None
    if message.master is not None:
        changed = _cancel_whole(current, sequence(message.master))
    else:
        changed = _cancel_instances(current, message)
    return unchanged_or_serialized(existing, current.calendar, changed)


def _cancel_whole(current: CalendarObject, number: int) -> bool:
    if current.master is not None and number < sequence(current.master):
        return False
    for component in current.components:
        _mark_cancelled(component, number)
    return True


def _cancel_instances(current: CalendarObject, message: CalendarObject) -> bool:
    changed = False
    for key, cancelled in sorted(message.overrides.items()):
        target = current.overrides.get(key)
        if target is None:
            target = _new_override(current, key, cancelled)
            if target is None:
                continue
        elif sequence(cancelled) < sequence(target):
            continue
        _mark_cancelled(target, sequence(cancelled))
        changed = True
    return changed


def _new_override(current: CalendarObject, key: str, cancelled: Component) -> Component | None:
    """An override for an instance the copy has not overridden, added to its calendar.

    Derived from the master when there is one; the message's own component
    when the copy has only other instances; None when the copy already
    excludes the instance.
    """
    if current.master is not None:
        if key in excluded_keys(current.master):
            return None
        override = derive_instance(current.master, key)
    else:
        override = copy.deepcopy(cancelled)
        strip_parameters(override, SCHEDULE_PARAMETERS)
    current.calendar.add_component(override)
    current.overrides[key] = override
    return override


def _mark_cancelled(component: Component, number: int) -> None:
    replace_value(component, "STATUS", "CANCELLED")
    if number > sequence(component):
        set_sequence(component, number)
