"""An organizer's write: what to store and whom to tell (RFC 6638 §3.2.1, RFC 5546 §3.2.2, §3.2.5).

Each attendee is treated on their own: their view of the old version is
compared with their view of the new one (``views``). From the difference:

- not invited before, invited now → REQUEST with their view;
- invited before, not now (removed, or the meeting deleted) → CANCEL;
- instances they had and no longer have (an EXDATE added, an override
  without them, an override of theirs removed) → CANCEL naming those
  RECURRENCE-IDs;
- their view changed in anything but per-attendee and personal data
  (``significance.SCHEDULING``), or the organizer asked with
  SCHEDULE-FORCE-SEND=REQUEST (RFC 6638 §7.2) → REQUEST.

A REQUEST always carries the attendee's whole view, not only the changed
instances: the recipient replaces their copy with it, which is simpler and
leaves no room for the two copies to drift apart. The cost is a larger
message for long series with many overrides.

When the change reschedules (RFC 5546 §2.1.4: time, recurrence, status,
location) and the client did not raise SEQUENCE, the server raises it in
every component of the organizer's copy, and asks every attendee to answer
again (PARTSTAT=NEEDS-ACTION, RSVP=TRUE) in the components concerned, as
Apple's CalendarServer does. Cancelling instances (new EXDATEs) raises
SEQUENCE but keeps the answers: the remaining instances did not move.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from icalendar import Component

from kalend.scheduling.addresses import normalize
from kalend.scheduling.errors import AllowedOrganizerChangeError, ValidOrganizerError
from kalend.scheduling.instances import excluded_keys, sequence, set_sequence
from kalend.scheduling.messages import ItipMessage, OrganizerPlan, utc_now
from kalend.scheduling.objects import CalendarObject, parse_optional, unchanged_or_serialized
from kalend.scheduling.organizer_messages import OrganizerMessages
from kalend.scheduling.participants import (
    NEEDS_ACTION,
    attendee_addresses,
    attendee_properties,
    common_organizer,
    find_attendee,
    first_organizer,
    force_send,
    partstat,
    set_partstat,
    strip_parameters,
)
from kalend.scheduling.significance import (
    RESCHEDULING,
    changed_instances,
    instance_of,
    organizer_copy_changed,
)
from kalend.scheduling.views import cancelled_for, view_of


def organizer_changes(
    old: str | None,
    new: str | None,
    organizer: str,
    *,
    organizer_addresses: Iterable[str] = (),
    now: dt.datetime | None = None,
) -> OrganizerPlan:
    """The organizer's copy to store and the messages to send after the organizer
    wrote ``new`` over ``old`` (None: created / deleted).

    ``organizer``: the organizer's address as the object names it (``role``
    gives it). ``organizer_addresses``: the organizer's other calendar-user
    addresses; the ORGANIZER may move between them, and none of them is ever
    sent a message. ``now``: the DTSTAMP of the messages (tests fix it).
    """
    old_obj, new_obj = parse_optional(old), parse_optional(new)
    if old_obj is None and new_obj is None:
        return OrganizerPlan(None, (), False)
    own = {normalize(a) for a in (organizer, *organizer_addresses)} - {""}
    _check_organizer_write(old_obj, new_obj, own)
    significant = organizer_copy_changed(old_obj, new_obj)
    forced: set[str] = set()
    modified = False
    if new_obj is not None:
        forced = _forced_requests(new_obj)
        modified = _strip_force_send(new_obj)
        if old_obj is not None:
            modified = _reschedule(old_obj, new_obj, own) or modified
    build = OrganizerMessages(old_obj, new_obj, normalize(organizer), now or utc_now())
    messages: list[ItipMessage] = []
    for address in _recipients(old_obj, new_obj, own):
        messages.extend(_messages_for(address, build, address in forced))
    text = None
    if new is not None and new_obj is not None:
        text = unchanged_or_serialized(new, new_obj.calendar, modified)
    return OrganizerPlan(text, tuple(messages), significant)


def _check_organizer_write(
    old: CalendarObject | None, new: CalendarObject | None, own: set[str]
) -> None:
    """RFC 6638 §3.2.4.2/§3.2.4.3: one organizer, the writer's, and the same UID as before."""
    if new is None:
        return
    if old is not None and old.uid != new.uid:
        raise AllowedOrganizerChangeError("the UID of a scheduling object cannot change")
    organizer = common_organizer(new.components)
    if not organizer:
        if any(attendee_addresses(c) for c in new.components):
            raise ValidOrganizerError("a scheduling object with attendees needs an ORGANIZER")
        return
    if organizer not in own:
        before = _organizer_or_empty(old)
        if before and before != organizer:
            raise AllowedOrganizerChangeError(
                f"the ORGANIZER cannot change from {before} to {organizer}"
            )
        raise ValidOrganizerError(f"{organizer} is not an address of the organizer writing")


def _organizer_or_empty(obj: CalendarObject | None) -> str:
    return "" if obj is None else first_organizer(obj.components)


def _forced_requests(obj: CalendarObject) -> set[str]:
    """Attendees with SCHEDULE-FORCE-SEND=REQUEST on any of their lines (RFC 6638 §7.2)."""
    return {
        normalize(str(prop))
        for component in obj.components
        for prop in attendee_properties(component)
        if force_send(prop) == "REQUEST"
    }


def _strip_force_send(obj: CalendarObject) -> bool:
    """SCHEDULE-FORCE-SEND is a one-time instruction: it is never stored (RFC 6638 §7.2)."""
    removed = False
    for component in obj.components:
        removed = strip_parameters(component, ["SCHEDULE-FORCE-SEND"]) or removed
    return removed


def _reschedule(old: CalendarObject, new: CalendarObject, own: set[str]) -> bool:
    """Raise SEQUENCE and reset answers after a rescheduling change; True if ``new`` changed."""
    if not changed_instances(old, new, RESCHEDULING):
        return False
    modified = _raise_sequences(old, new)
    cancelled = excluded_keys(new.master) - excluded_keys(old.master)
    moved = changed_instances(old, new, RESCHEDULING, ignore_instances=cancelled)
    return _ask_again(new, moved, own) or modified


def _raise_sequences(old: CalendarObject, new: CalendarObject) -> bool:
    """RFC 5546 §2.1.4: each component's SEQUENCE above its previous version's, where
    the client did not do it. An override new in this version counts from the
    master it was derived from."""
    modified = False
    highest_before = max(sequence(c) for c in old.components)
    for component in new.components:
        key = _key_of(new, component)
        before = old.master if key is None else instance_of(old, key)
        floor = highest_before if before is None else sequence(before)
        if sequence(component) <= floor:
            set_sequence(component, floor + 1)
            modified = True
    return modified


def _key_of(obj: CalendarObject, component: Component) -> str | None:
    if component is obj.master:
        return None
    return next(k for k, c in obj.overrides.items() if c is component)


def _ask_again(new: CalendarObject, keys: set[str | None], own: set[str]) -> bool:
    """PARTSTAT=NEEDS-ACTION and RSVP=TRUE for every attendee but the organizer in the
    rescheduled components (all of them when the master was)."""
    if None in keys:
        components = new.components
    else:
        components = [new.overrides[k] for k in sorted(k for k in keys if k in new.overrides)]
    modified = False
    for component in components:
        for prop in attendee_properties(component):
            if normalize(str(prop)) in own or partstat(prop) == NEEDS_ACTION:
                continue
            set_partstat(prop, NEEDS_ACTION, rsvp=True)
            modified = True
    return modified


def _recipients(old: CalendarObject | None, new: CalendarObject | None, own: set[str]) -> list[str]:
    """Every attendee of either version, in order of appearance, never the organizer."""
    excluded = set(own)
    for obj in (new, old):
        if obj is not None:
            excluded.add(_organizer_or_empty(obj))
    addresses: list[str] = []
    for obj in (new, old):
        for component in obj.components if obj is not None else []:
            for address in attendee_addresses(component):
                if address not in excluded and address not in addresses:
                    addresses.append(address)
    return addresses


def _messages_for(address: str, build: OrganizerMessages, forced: bool) -> list[ItipMessage]:
    """The CANCELs and REQUEST one attendee gets, in the order to deliver them."""
    old, new = build.old, build.new
    before, after = view_of(old, address), view_of(new, address)
    if before.empty and after.empty:
        return []
    if after.empty:
        if _handed_to_client(new, address):
            return []
        if before.whole:
            return [build.cancel_whole(address)]
        return [build.cancel_instances(address, sorted(before.overrides))]
    if before.empty:
        return [build.request(address, after, significant=True)]
    if before.whole and not after.whole:
        # Uninvited from the series but still in some instances: cancel the
        # series, then send the instances they keep (RFC 5546 §3.2.5 then §3.2.2).
        return [build.cancel_whole(address), build.request(address, after, significant=True)]
    messages = []
    cancelled = cancelled_for(before, after)
    if cancelled:
        messages.append(build.cancel_instances(address, sorted(cancelled)))
    changed = build.view_changed(before, after)
    if changed or forced:
        messages.append(build.request(address, after, significant=changed))
    return messages


def _handed_to_client(new: CalendarObject | None, address: str) -> bool:
    """Whether ``address`` is still invited in ``new`` but no longer scheduled by the server
    (SCHEDULE-AGENT changed to CLIENT or NONE, RFC 6638 §7.1): the client or nobody
    tells them now, and a CANCEL from the server would be wrong."""
    return new is not None and any(find_attendee(c, address) is not None for c in new.components)
