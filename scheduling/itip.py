"""iTIP for CalDAV scheduling (RFC 5546, RFC 6638 §3.2): the pure core.

Everything the server needs to schedule is here, as functions from
iCalendar text to iCalendar text and message values; nothing here does I/O.

Writes by a calendar user:

- ``role`` — is this object theirs to organize, theirs to attend, or no
  scheduling object for them at all?
- ``organizer_changes`` — the organizer wrote (or deleted) an object: the
  copy to store and the REQUESTs and CANCELs to send.
- ``attendee_changes`` — an attendee wrote (or deleted) their copy: the
  REPLY to send, or a refusal.

Messages arriving for a calendar user (from a local sender or by iMIP):

- ``apply_request``, ``apply_cancel`` — into an attendee's copy;
- ``apply_reply`` — into the organizer's copy;
- ``set_schedule_status`` — delivery results written back (RFC 6638 §7.3);
- ``without_force_send`` — an attendee's copy as it may be stored (§7.2).

``scheduling_significant`` decides whether a change moves the Schedule-Tag
(RFC 6638 §3.3).

The implementation lives in one module per job (organizer, attendee,
incoming_request, incoming_cancel, incoming_reply, schedule_status); this
module is the door the server uses.
"""

from __future__ import annotations

from collections.abc import Iterable

from kalend.scheduling.addresses import normalize
from kalend.scheduling.attendee import attendee_changes
from kalend.scheduling.errors import (
    AllowedAttendeeChangeError,
    AllowedOrganizerChangeError,
    SameOrganizerError,
    SchedulingError,
    UniqueSchedulingObjectResourceError,
    ValidOrganizerError,
    ValidSchedulingMessageError,
)
from kalend.scheduling.incoming_cancel import apply_cancel
from kalend.scheduling.incoming_reply import apply_reply
from kalend.scheduling.incoming_request import apply_request
from kalend.scheduling.messages import CANCEL, REPLY, REQUEST, ItipMessage, OrganizerPlan
from kalend.scheduling.objects import parse_object
from kalend.scheduling.organizer import organizer_changes
from kalend.scheduling.participants import attendee_addresses, first_organizer
from kalend.scheduling.schedule_status import set_schedule_status, without_force_send
from kalend.scheduling.significance import scheduling_significant

__all__ = [
    "CANCEL",
    "REPLY",
    "REQUEST",
    "AllowedAttendeeChangeError",
    "AllowedOrganizerChangeError",
    "ItipMessage",
    "OrganizerPlan",
    "SameOrganizerError",
    "SchedulingError",
    "UniqueSchedulingObjectResourceError",
    "ValidOrganizerError",
    "ValidSchedulingMessageError",
    "apply_cancel",
    "apply_reply",
    "apply_request",
    "attendee_changes",
    "organizer_changes",
    "role",
    "scheduling_significant",
    "set_schedule_status",
    "without_force_send",
]

ORGANIZER, ATTENDEE = "organizer", "attendee"


def role(text: str, addresses: Iterable[str]) -> tuple[str, str] | None:
    """The part a principal with calendar-user ``addresses`` plays in the object ``text``.

    ("organizer", address) when the ORGANIZER is one of the addresses;
    ("attendee", address) when an ATTENDEE is (and the ORGANIZER is not);
    None when the object is no scheduling object for this principal: no
    ORGANIZER, no ATTENDEE besides the organizer (RFC 6638 §3.1: an object
    with only its organizer is not scheduled), neither role, or not a
    calendar object at all. The address is returned normalised, as the
    object writes it.

    Lenient by design: components that disagree on the ORGANIZER are
    judged by the first that names one; ``organizer_changes`` and
    ``attendee_changes`` refuse them.
    """
    try:
        obj = parse_object(text)
    except ValueError:
        return None
    mine = {normalize(a) for a in addresses} - {""}
    organizer = first_organizer(obj.components)
    if not organizer:
        return None
    attendees: list[str] = []
    for component in obj.components:
        attendees.extend(a for a in attendee_addresses(component) if a not in attendees)
    if not [a for a in attendees if a != organizer]:
        return None
    if organizer in mine:
        return ORGANIZER, organizer
    for address in attendees:
        if address in mine:
            return ATTENDEE, address
    return None
