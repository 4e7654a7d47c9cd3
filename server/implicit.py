"""Implicit scheduling in the write path (RFC 6638 §3.2).

A PUT or DELETE of a scheduling object resource is planned before Radicale
stores it (the role of the writer, the messages, the organizer's copy with
SCHEDULE-STATUS and SEQUENCE) and delivered after, all in the request's one
write transaction: an invitation is delivered exactly when the change it
comes from is committed. The iTIP decisions themselves are the pure
functions of ``kalend.scheduling.itip``.
"""

from __future__ import annotations

import logging
import posixpath
from dataclasses import dataclass, field

import icalendar

from kalend.scheduling import itip
from kalend.scheduling.delivery import Deliverer, OrganizerCopy, new_schedule_tag
from kalend.storage_plugin import principals
from kalend.storage_plugin.transaction import current_connection

logger = logging.getLogger("kalend.scheduling")


class ScheduleTagMismatchError(Exception):
    """If-Schedule-Tag-Match named another tag (§3.2.10): 412."""


@dataclass
class ImplicitScheduler:
    """The scheduling side of one write to ``path`` ('/user/calendar/x.ics')."""

    storage: object
    user: str
    path: str
    messages: tuple[itip.ItipMessage, ...] = ()
    role: str | None = None
    tag_changes: bool = False
    old_text: str | None = None
    old_tag: str | None = None
    addresses: list[str] = field(default_factory=list)
    planned_statuses: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parent, self.href = posixpath.split(self.path.strip("/"))
        self.collection_path = parent
        self.collection = self.storage.collection_at(parent)
        if self.collection is not None:
            self.old_text, self.old_tag = self.collection.text_and_schedule_tag(self.href)

    def check_schedule_tag(self, header: str | None) -> None:
        """§3.2.10: a write conditional on a Schedule-Tag fails when the
        resource's tag moved on (an organizer update arrived meanwhile)."""
        if header is None:
            return
        if self.old_text is None or header.strip() != (self.old_tag or ""):
            raise ScheduleTagMismatchError(header)

    # -- PUT ---------------------------------------------------------------------

    def plan_put(self, new_text: str) -> str:
        """The text to store; raises ``itip.SchedulingError`` for a write that
        would make the object inconsistent (§3.2.4)."""
        if not _mentions_organizer(new_text) and not _mentions_organizer(self.old_text):
            return new_text  # no scheduling object before or after: nothing to parse
        self.addresses = principals.addresses_of(current_connection(), self.user)
        role = itip.role(new_text, self.addresses)
        if role is None and self.old_text is not None:
            role = itip.role(self.old_text, self.addresses)
        if role is None:
            return new_text
        self.role, address = role
        self._check_unique_uid(new_text)
        if self.role == "organizer":
            plan = itip.organizer_changes(self.old_text, new_text, address)
            self.messages = plan.messages
            self.tag_changes = plan.significant or self.old_text is None
            deliverer = self._deliverer()
            statuses = {m.recipient: deliverer.status_for(m.recipient) for m in plan.messages}
            self.planned_statuses = statuses
            stored = plan.text or new_text
            return itip.set_schedule_status(stored, statuses) if statuses else stored
        self.messages = itip.attendee_changes(self.old_text, new_text, address)
        # An attendee's own changes leave the tag alone (§3.2.10).
        self.tag_changes = self.old_text is None or self.old_tag is None
        # SCHEDULE-FORCE-SEND is a one-time instruction, not data (§7.2).
        return itip.without_force_send(new_text)

    def _check_unique_uid(self, text: str) -> None:
        uid = _uid_of(text)
        if uid and principals.uid_taken_elsewhere(current_connection(), self.user, uid,
                                                  self.collection_path, self.href):
            raise itip.SchedulingError("CALDAV:unique-scheduling-object-resource")

    # -- DELETE ------------------------------------------------------------------

    def plan_delete(self, send_reply: bool = True) -> None:
        """A deleted scheduling object: the organizer's deletion cancels it for
        everyone (§3.2.1); an attendee's declines it (§3.2.2), unless the
        client said ``Schedule-Reply: F`` (§8.1)."""
        if not _mentions_organizer(self.old_text):
            return
        self.addresses = principals.addresses_of(current_connection(), self.user)
        role = itip.role(self.old_text or "", self.addresses)
        if role is None:
            return
        self.role, address = role
        if self.role == "organizer":
            self.messages = itip.organizer_changes(self.old_text, None, address).messages
        elif send_reply:
            self.messages = itip.attendee_changes(self.old_text, None, address)

    # -- after the write ------------------------------------------------------

    def deliver(self, stored: bool = True) -> str | None:
        """Deliver the planned messages and keep the Schedule-Tag; the tag
        of the stored resource (None after a delete or for a resource that
        is not a scheduling object)."""
        if self.role is None:
            return None
        statuses = self._deliverer().deliver_all(self.messages)
        for recipient, status in statuses.items():
            logger.info("%s: %s %s for %s", self.path, self.role, status, recipient)
        if not stored:
            return None
        collection = self.storage.collection_at(self.collection_path)
        missed = {r: s for r, s in statuses.items()
                  if self.role == "organizer" and self.planned_statuses.get(r) != s}
        if missed:
            # A delivery failed after the copy was written with the status
            # it was expected to get: the copy says what really happened.
            text = collection.text_of(self.href) or ""
            collection.put_text(self.href, itip.set_schedule_status(text, missed))
        tag = new_schedule_tag() if self.tag_changes or not self.old_tag else self.old_tag
        collection.set_schedule_tag(self.href, tag)
        return tag

    def _deliverer(self) -> Deliverer:
        copy = OrganizerCopy(self.user, self.collection_path, self.href) \
            if self.role == "organizer" else None
        return Deliverer(self.storage, self.user, copy)


def _mentions_organizer(text: str | None) -> bool:
    """Could this be a scheduling object at all (RFC 6638 §3.1: it has an
    ORGANIZER)? A cheap test that spares most writes the parse."""
    return text is not None and "ORGANIZER" in text.upper()


def _uid_of(text: str) -> str | None:
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError:
        return None
    for component in calendar.walk():
        if component.name in ("VEVENT", "VTODO") and component.get("UID"):
            return str(component["UID"])
    return None
