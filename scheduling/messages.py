"""iTIP messages as values, and the shape of what goes into them (RFC 5546 §3.2).

An ``ItipMessage`` is what crosses from the pure core to delivery: one
method, one sender, one recipient, the whole text to deliver. Delivery (local
inbox or iMIP) never re-reads the calendar to decide anything.

A component leaving the server loses what belongs to the sender alone or to
the client–server conversation: VALARMs (the sender's reminders — RFC 5546
§3.2 lets a REQUEST carry them, but an invitation that sets alarms on the
recipient's calendar is unwelcome, and CalendarServer drops them too), the
alarm bookkeeping clients keep in X- properties, and the SCHEDULE-*
parameters (RFC 6638 §7.3). DTSTAMP becomes the time the message is made
(RFC 5546 §2.1.5: it orders messages of equal SEQUENCE).
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass

from icalendar import Component

from kalend.scheduling.instances import replace_value
from kalend.scheduling.participants import SCHEDULE_PARAMETERS, strip_parameters

REQUEST, REPLY, CANCEL = "REQUEST", "REPLY", "CANCEL"

#: X- properties that record the sender's alarm state, meaningless elsewhere.
PERSONAL_X_PROPERTIES = ("X-MOZ-LASTACK", "X-MOZ-GENERATION", "X-APPLE-DEFAULT-ALARM")
PERSONAL_X_PREFIXES = ("X-MOZ-SNOOZE-TIME",)


@dataclass(frozen=True)
class ItipMessage:
    """One iTIP message for one recipient.

    ``sender``: the organizer for REQUEST and CANCEL, the attendee for REPLY;
    ``recipient``: one calendar user; both normalised. ``text``: a whole
    VCALENDAR with METHOD, CRLF line ends. ``recurrence_ids``: the instances
    concerned (instance keys, see ``instances.instance_key``); empty when the
    message is about the whole object. ``significant``: for REQUEST/CANCEL,
    whether the change warrants a new invitation (False for a REQUEST sent
    only because SCHEDULE-FORCE-SEND asked for it); always True for REPLY.
    """

    method: str
    sender: str
    recipient: str
    uid: str
    text: str
    recurrence_ids: tuple[str, ...] = ()
    significant: bool = True


@dataclass(frozen=True)
class OrganizerPlan:
    """What an organizer's write leads to.

    ``text``: the organizer's copy to store — the text as written when the
    server had nothing to change (so the client's ETag stays valid), else
    with SEQUENCE raised, PARTSTATs reset and SCHEDULE-FORCE-SEND removed;
    None for a deletion. ``significant``: whether the Schedule-Tag of the
    organizer's copy must change (RFC 6638 §3.3).
    """

    text: str | None
    messages: tuple[ItipMessage, ...] = ()
    significant: bool = False


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def is_personal_property(name: str) -> bool:
    name = name.upper()
    return name in PERSONAL_X_PROPERTIES or name.startswith(PERSONAL_X_PREFIXES)


def outgoing_component(
    component: Component, stamp: dt.datetime, *, in_place: bool = False
) -> Component:
    """A copy of ``component`` fit to send: no alarms, no personal X- properties,
    no SCHEDULE-* parameters, DTSTAMP = ``stamp``. ``in_place``: clean
    ``component`` itself, when it is already a private copy."""
    clean = component if in_place else copy.deepcopy(component)
    clean.subcomponents[:] = [c for c in clean.subcomponents if c.name != "VALARM"]
    for name in [n for n in clean if is_personal_property(n)]:
        del clean[name]
    strip_parameters(clean, SCHEDULE_PARAMETERS)
    replace_value(clean, "DTSTAMP", stamp)
    return clean
