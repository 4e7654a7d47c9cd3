"""Delivering iTIP messages (RFC 6638 §3.2.1, §4): to local calendar users
through their inbox and calendar, to everyone else through the iMIP outbox.

Runs inside the write transaction of the change that caused the messages, so
a delivery and the change commit together or not at all. It uses only the
storage plugin's public pieces (collections, principals, the outbox table);
what a message does to a calendar is decided by the pure functions in
``itip``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import icalendar
from radicale import pathutils
from sqlalchemy import insert

from kalend.scheduling import itip
from kalend.scheduling.addresses import is_mailto
from kalend.scheduling.objects import parse_object
from kalend.scheduling.participants import attendee_addresses
from kalend.storage_plugin import deadline, principals, schema
from kalend.storage_plugin.transaction import current_connection

logger = logging.getLogger("kalend.scheduling")

#: SCHEDULE-STATUS values of RFC 6638 §3.2.9 (request-status codes of RFC 5545).
DELIVERED = "1.2"
QUEUED = "1.1"
INVALID_ADDRESS = "3.7"
DELIVERY_FAILED = "5.1"


@dataclass(frozen=True)
class OrganizerCopy:
    """Where the organizer's copy lives, for the SCHEDULE-STATUS the iMIP
    worker writes back later."""

    principal: str
    collection_path: str
    href: str


def new_schedule_tag() -> str:
    """An opaque Schedule-Tag value (§3.2.10), quoted like an ETag."""
    return f'"{uuid.uuid4().hex}"'


class Deliverer:
    """Delivers the messages of one write; ``storage`` is kalend's Storage
    inside an open write transaction."""

    def __init__(self, storage, sender_principal: str,
                 organizer_copy: OrganizerCopy | None = None) -> None:
        self._storage = storage
        self._sender = sender_principal
        self._organizer_copy = organizer_copy

    @property
    def _conn(self):
        return current_connection()

    def deliver_all(self, messages: Iterable[itip.ItipMessage]) -> dict[str, str]:
        """recipient -> SCHEDULE-STATUS of each message's delivery. The
        request's deadline is checked before each one: a meeting too big to
        deliver in time is undone as a whole (``deadline``)."""
        statuses = {}
        for message in messages:
            deadline.check(f"delivering to {message.recipient}")
            statuses[message.recipient] = self.deliver(message)
        return statuses

    def status_for(self, recipient: str) -> str:
        """The status a delivery to this address will get, known before it
        happens (the organizer's copy is written with it)."""
        if self._local_principals(recipient):
            return DELIVERED
        return QUEUED if is_mailto(recipient) else INVALID_ADDRESS

    def deliver(self, message: itip.ItipMessage) -> str:
        targets = self._local_principals(message.recipient)
        if targets:
            # A savepoint per recipient: one recipient whose calendar cannot
            # take the message (a database fault, a broken copy) gets 5.1 and
            # the others, and the organizer's own write, still go through.
            try:
                with self._conn.begin_nested():
                    for principal in targets:
                        self._deliver_locally(principal, message)
            except Exception:
                logger.exception("iTIP %s from %s to %s could not be delivered (%s)",
                                 message.method, message.sender, message.recipient,
                                 message.uid)
                return DELIVERY_FAILED
            return DELIVERED
        if not is_mailto(message.recipient):
            logger.info("iTIP %s for %s not delivered: not a mailto: address",
                        message.method, message.recipient)
            return INVALID_ADDRESS
        self._queue_imip(message)
        return QUEUED

    def deliver_inbound(self, principal: str, message: itip.ItipMessage) -> None:
        """Deliver a message that arrived by iMIP to one local principal, as a
        local delivery does (inbox copy, then automatic processing).

        Unlike ``deliver``, errors are not turned into SCHEDULE-STATUS 5.1:
        there is no organizer's copy to record them on, and the inbound
        caller must roll back and tell the sending MTA (bounce or retry)."""
        self._deliver_locally(principal, message)

    # -- local ------------------------------------------------------------------

    def _local_principals(self, address: str) -> list[str]:
        principal = principals.principal_of(self._conn, address)
        if principal is not None:
            return [principal]
        return principals.group_members(self._conn, address)

    def _deliver_locally(self, principal: str, message: itip.ItipMessage) -> None:
        principals.ensure_home(self._storage, principal)
        inbox = self._storage.collection_at(f"{principal}/{principals.INBOX}")
        inbox.put_text(f"{uuid.uuid4()}.ics", message.text)
        if message.method in ("REQUEST", "CANCEL"):
            self._process_from_organizer(principal, message)
        elif message.method == "REPLY":
            self._process_reply(principal, message)
        logger.info("iTIP %s from %s delivered to %s (%s)", message.method, message.sender,
                    principal, message.uid)

    def _process_from_organizer(self, principal: str, message: itip.ItipMessage) -> None:
        """Automatic processing (§3.2.2-§3.2.3 of RFC 6638; RFC 5546 §3.2):
        the recipient's copy is created or updated where it lives; its
        Schedule-Tag changes, as the organizer changed it."""
        found = principals.find_by_uid(self._conn, principal, message.uid)
        if found is None:
            if message.method == "CANCEL":
                return  # nothing to cancel: the inbox copy says what happened
            path = principals.default_calendar_path(self._conn, principal)
            if path is None:
                return
            collection = self._storage.collection_at(path)
            href = _href_for_uid(message.uid, collection)
            text = itip.apply_request(None, message.text, message.recipient)
        else:
            collection = self._storage.collection_at(found[0])
            href = found[1]
            existing = collection.text_of(href)
            if message.method == "REQUEST":
                text = itip.apply_request(existing, message.text, message.recipient)
            else:
                cancelled = itip.apply_cancel(existing or "", message.text)
                if cancelled is None:
                    return
                text = cancelled
        collection.put_text(href, text)
        collection.set_schedule_tag(href, new_schedule_tag())

    def _process_reply(self, principal: str, message: itip.ItipMessage) -> None:
        """A REPLY updates the organizer's copy (its Schedule-Tag stays,
        §3.2.10) and the copies of the other local attendees."""
        found = principals.find_by_uid(self._conn, principal, message.uid)
        if found is None:
            return
        collection = self._storage.collection_at(found[0])
        organizer_text, attendee = itip.apply_reply(collection.text_of(found[1]) or "",
                                                   message.text)
        collection.put_text(found[1], organizer_text)
        self._refresh_attendees(organizer_text, message.uid, skip={attendee, message.recipient})

    def _refresh_attendees(self, organizer_text: str, uid: str, skip: set[str]) -> None:
        """Other local attendees see the new participation statuses; their
        own PARTSTAT and alarms stay (``apply_request`` keeps them)."""
        refreshed = _as_request(organizer_text)
        for address in _attendee_addresses_of(organizer_text):
            if address in skip:
                continue
            for principal in self._local_principals(address):
                found = principals.find_by_uid(self._conn, principal, uid)
                if found is None:
                    continue
                collection = self._storage.collection_at(found[0])
                updated = itip.apply_request(collection.text_of(found[1]), refreshed, address)
                collection.put_text(found[1], updated)

    # -- remote -----------------------------------------------------------------

    def _queue_imip(self, message: itip.ItipMessage) -> None:
        """A row in the transactional outbox; the iMIP worker sends it."""
        now = time.time()
        copy = self._organizer_copy
        self._conn.execute(insert(schema.outbox).values(
            created=now, method=message.method, sender=message.sender,
            recipient=message.recipient, uid=message.uid, text=message.text,
            principal=self._sender,
            collection_path=copy.collection_path if copy else None,
            href=copy.href if copy else None,
            status="queued", attempts=0, next_attempt=now))
        logger.info("iTIP %s from %s to %s queued for iMIP (%s)", message.method,
                    message.sender, message.recipient, message.uid)


def _href_for_uid(uid: str, collection) -> str:
    """A resource name for a delivered object: its UID where that is a safe
    path component and free, else a fresh one."""
    candidate = f"{uid}.ics"
    if pathutils.is_safe_filesystem_path_component(candidate) \
            and collection.text_of(candidate) is None:
        return candidate
    return f"{uuid.uuid4()}.ics"


def _as_request(text: str) -> str:
    """The organizer's copy as the REQUEST that refreshes attendees' copies."""
    calendar = icalendar.Calendar.from_ical(text)
    calendar.pop("METHOD", None)
    calendar.add("METHOD", "REQUEST")
    return calendar.to_ical().decode("utf-8")


def _attendee_addresses_of(text: str) -> list[str]:
    found: list[str] = []
    for component in parse_object(text).components:
        found.extend(a for a in attendee_addresses(component) if a not in found)
    return found
