"""Inbound iMIP (RFC 6047): one e-mail applied to the calendars it concerns.

``receive`` takes a message as the MTA hands it over (from ``kalend imip
receive`` on a pipe, or the LMTP listener) and ends in one of four outcomes:

- ``applied``: an iTIP message was delivered to a local calendar user, as a
  local delivery would (inbox copy, then automatic processing);
- ``ignored``: nothing to do (no iTIP in it, an iTIP method kalend does not
  take by mail, a message delivered before, an answer older than the one
  the organizer's copy holds, or the same answer again). The MTA accepts
  and drops it: bouncing an auto-reply starts a mail loop;
- ``refused``: it cannot be trusted or read. The MTA bounces it, so a real
  sender learns it did not arrive; nothing changed;
- ``no_such_user``: addressed to nobody here: no invited user, no reply
  address.

A database fault raises ``TemporaryFailure`` instead: the MTA keeps the
message and retries.

Who may send what (RFC 6047 §3 leaves the sender checks to the receiver):

- REPLY, COUNTER, REFRESH come from an attendee to the organizer. The From:
  address must be the attendee (the one ATTENDEE of a REPLY, one of the
  ATTENDEEs of a COUNTER or REFRESH), someone from outside — a local
  user answers through CalDAV, so mail in their name is spoofed. What
  the message was delivered to, not the ORGANIZER it names, says whose
  event it answers (``_addressed_organizer``): a reply address token
  (``calendar+TOKEN@…``, see ``imip_tokens``) issued for that organizer,
  event and attendee; or, when no token was ever issued to that attendee
  for that event (invitations sent without ``[imip] reply_domain``), one
  of the organizer's own calendar-user addresses as the envelope
  recipient. Anything else is refused: an address of another local user
  (a copy of the answer sent to a colleague is not theirs to apply), an
  address of nobody here (no such user), the organizer's address once
  the attendee was given a reply address. A message piped without an
  envelope recipient can still be bound by a token in its To:, Cc: or
  Delivered-To: (the token is a secret only the invitation carried), but
  not by the organizer's address there, which anyone can write. The
  ORGANIZER must then be that user, who holds a copy of the UID that they
  organise and to which the attendee is invited. A REPLY updates the
  organizer's copy (per instance, newer answers only: see
  ``incoming_reply``) and the copies of the other local attendees; COUNTER
  and REFRESH only land in the organizer's inbox, for their client to show
  (kalend does not answer a REFRESH by itself: the organizer's client
  re-sends).
- REQUEST, CANCEL, ADD, DECLINECOUNTER come from an organizer outside: From:
  must be the ORGANIZER, who must not be a local user. They are delivered
  to each recipient that is a local user invited in the message (the
  envelope recipients, or without an envelope the To/Cc addresses). A
  recipient who already holds the UID organised by someone else refuses
  the whole message: that is an attempt to take the event over. REQUEST
  and CANCEL are processed into the recipient's calendar; ADD and
  DECLINECOUNTER only land in the inbox.
- PUBLISH (no attendees, nobody to deliver to) and free-busy or journal
  messages are ignored.

A message delivered twice changes nothing (an MTA delivers again when it
did not get kalend's answer; anyone who saw a message can replay it). Two
guards, because each covers what the other cannot:

- the Message-ID of every applied message is remembered per recipient
  (``storage_plugin.seen_messages``, kept ``[imip] message_id_retention_days``
  and then forgotten by the maintenance job): a message seen before is
  ignored whatever it says. This is what stops a COUNTER, REFRESH or an
  outside REQUEST from landing in an inbox again, which no comparison of
  calendar data can tell from a new one;
- a REPLY is filed only when it changes the organizer's copy: an answer
  equal to the one recorded, or older (RFC 5546 §2.1.5), is ignored before
  anything is written — no inbox copy, no new ETag, no sync-token change.
  This needs no memory at all, so it still holds after the Message-ID is
  forgotten, for a resend under a new Message-ID, and for a message
  without one.

Everything happens in one write transaction, locked on the collections of
the principals concerned (a short read first finds which), so a refusal or
a crash halfway changes nothing, and a concurrent CalDAV write of the same
copy waits instead of being lost.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser

import icalendar
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from vobject.base import VObjectError

from kalend.scheduling import imip_tokens
from kalend.scheduling.addresses import normalize
from kalend.scheduling.delivery import Deliverer
from kalend.scheduling.errors import SchedulingError
from kalend.scheduling.imip_receive import (
    ImipRejected,
    IncomingImip,
    NotImip,
    check_organizer_sender,
    check_reply_sender,
    parse_message,
)
from kalend.scheduling.imip_settings import ImipSettings
from kalend.scheduling.incoming_reply import FiledReply, file_reply
from kalend.scheduling.instances import recurrence_key
from kalend.scheduling.messages import ItipMessage
from kalend.scheduling.objects import CalendarObject, parse_object
from kalend.scheduling.participants import (
    attendee_addresses,
    attendee_properties,
    common_organizer,
    first_organizer,
    partstat,
)
from kalend.storage_plugin import object_limits, principals, recurrence_rules, seen_messages
from kalend.storage_plugin.engine import DatabaseUnavailableError
from kalend.storage_plugin.expansion_budget import InstanceLimitError
from kalend.storage_plugin.transaction import lock_scope, transaction

logger = logging.getLogger("kalend.imip.inbound")

APPLIED, IGNORED, REFUSED, NO_SUCH_USER = "applied", "ignored", "refused", "no_such_user"

#: Methods an attendee sends to the organizer, and those an organizer sends.
FROM_ATTENDEE = ("REPLY", "COUNTER", "REFRESH")
FROM_ORGANIZER = ("REQUEST", "CANCEL", "ADD", "DECLINECOUNTER")
#: Components kalend schedules (free-busy and journals by mail are not taken).
SCHEDULED = ("VEVENT", "VTODO")

#: Faults that say "the database cannot answer now", not "this message is bad".
TRANSIENT_ERRORS = (OperationalError, InterfaceError, PoolTimeoutError,
                    DatabaseUnavailableError)


@dataclass(frozen=True)
class InboundResult:
    """What became of one message: ``outcome`` is one of applied, ignored,
    refused, no_such_user; ``reason`` says why in one line, fit for a log
    and for a bounce."""

    outcome: str
    reason: str


class TemporaryFailure(Exception):
    """The database could not be used; nothing changed, try again later."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Refused(Exception):
    """Raised inside the write transaction to roll it back and refuse."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _NoSuchUser(_Refused):
    """Raised inside the write transaction: addressed to nobody here."""


def receive(storage, raw: bytes, envelope_recipients: Sequence[str],
            settings: ImipSettings) -> InboundResult:
    """Apply the e-mail ``raw`` (see the module docstring).

    ``storage``: kalend's Storage (no transaction open); ``envelope_recipients``:
    the RCPT TO addresses, empty when unknown. Raises TemporaryFailure on a
    database fault; any other exception is a fault of kalend's (nothing was
    committed), which the caller should also answer with "retry later".
    """
    try:
        incoming = parse_message(raw, envelope_recipients, settings.max_message_size)
    except NotImip as error:
        return _ignored(f"iMIP message from {_sender_for_log(raw)} ignored: "
                        f"not iMIP ({error.reason})")
    except ImipRejected as error:
        return _refused(f"iMIP message from {_sender_for_log(raw)} refused: {error.reason}",
                        error.reason)
    try:
        return _apply(storage, incoming)
    except _NoSuchUser as error:
        logger.warning("iMIP %s from %s: %s%s", incoming.method, _bare(incoming.from_address),
                       error.reason, _message_id(incoming))
        return InboundResult(NO_SUCH_USER, error.reason)
    except _Refused as error:
        return _refused(f"iMIP {incoming.method} from {_bare(incoming.from_address)} "
                        f"refused: {error.reason}{_message_id(incoming)}", error.reason)
    except TRANSIENT_ERRORS as error:
        raise _temporary(incoming, error) from error
    except DBAPIError as error:
        if error.connection_invalidated:
            raise _temporary(incoming, error) from error
        raise


# -- the outcomes -------------------------------------------------------------------


def _ignored(line: str) -> InboundResult:
    logger.info("%s", line)
    return InboundResult(IGNORED, line)


def _refused(line: str, reason: str) -> InboundResult:
    logger.warning("%s", line)
    return InboundResult(REFUSED, reason)


def _temporary(incoming: IncomingImip, error: Exception) -> TemporaryFailure:
    reason = f"database unavailable ({type(error).__name__}); nothing changed"
    logger.warning("iMIP %s from %s not applied, to be retried: %s%s", incoming.method,
                   _bare(incoming.from_address), reason, _message_id(incoming))
    return TemporaryFailure(reason)


# -- applying ---------------------------------------------------------------------------


def _apply(storage, incoming: IncomingImip) -> InboundResult:
    if incoming.method == "PUBLISH":
        return _ignored(f"iMIP PUBLISH from {_bare(incoming.from_address)} ignored: "
                        "a published calendar is not addressed to anyone")
    kinds = _component_kinds(incoming.itip_text)
    if not kinds & set(SCHEDULED):
        return _ignored(f"iMIP {incoming.method} from {_bare(incoming.from_address)} "
                        f"ignored: {', '.join(sorted(kinds))} by e-mail is not processed")
    _check_limits(storage, incoming)
    obj = _read(incoming)
    with transaction(storage.engine, "r") as connection:
        scopes = _lock_scopes(connection,
                              _principals_concerned(storage, connection, incoming, obj))
    with transaction(storage.engine, "w", scopes) as connection:
        key = _delivery_key(incoming)
        if key is not None and seen_messages.seen(connection, key):
            return _ignored(f"iMIP {incoming.method} from {_bare(incoming.from_address)} "
                            f"ignored: delivered before{_message_id(incoming)}")
        if incoming.method in FROM_ATTENDEE:
            result = _from_attendee(storage, connection, incoming, obj)
        else:
            result = _from_organizer(storage, connection, incoming, obj)
        if key is not None and result.outcome == APPLIED:
            seen_messages.remember(connection, key, time.time())
        return result


def _delivery_key(incoming: IncomingImip) -> str | None:
    """What names this message delivered to these recipients (see the module
    docstring); None without a Message-ID, when only the content can tell."""
    if not incoming.message_id:
        return None
    return seen_messages.message_key(incoming.message_id, incoming.recipients)


def _check_limits(storage, incoming: IncomingImip) -> None:
    """The limits a PUT is held to (components, overridden instances,
    attendees, property length, dates, recurrence rules), before the
    message is parsed: mail from outside is no more trusted than a client."""
    limits = object_limits.RequestLimits.of(storage.configuration,
                                            len(incoming.itip_text.encode("utf-8")))
    try:
        object_limits.check_text(incoming.itip_text, limits)
        recurrence_rules.check_text(incoming.itip_text)
    except object_limits.LimitExceeded as error:
        raise _Refused(error.reason) from error
    except recurrence_rules.RecurrenceRuleRefused as error:
        raise _Refused(error.reason) from error


def _read(incoming: IncomingImip) -> CalendarObject:
    try:
        obj = parse_object(incoming.itip_text)
    except ValueError as error:
        raise _Refused(f"unusable iCalendar: {error}") from error
    if not obj.uid:
        raise _Refused("the iCalendar has no UID")
    try:
        common_organizer(obj.components)
    except SchedulingError as error:
        raise _Refused(error.detail or str(error)) from error
    return obj


def _from_attendee(storage, connection: Connection, incoming: IncomingImip,
                   obj: CalendarObject) -> InboundResult:
    """REPLY, COUNTER, REFRESH: to a local organizer, from an outside attendee."""
    attendee = _attendee_sender(incoming, obj)
    if principals.principal_of(connection, attendee) is not None:
        raise _Refused(f"{_bare(attendee)} is a user of this server, who answers through "
                       "CalDAV, not by e-mail")
    organizer = common_organizer(obj.components)
    principal = _addressed_organizer(connection, incoming, obj.uid, attendee, organizer)
    path, copy_text, copy = _organizer_copy(storage, connection, principal, obj.uid,
                                            organizer, attendee)
    message = ItipMessage(incoming.method, attendee, organizer, obj.uid,
                          with_start_times(incoming.itip_text, copy))
    if incoming.method == "REPLY":
        filed = _filed(copy_text, message.text)
        if not filed.changed:
            return _ignored(f"iMIP REPLY from {_bare(attendee)} for {path} ignored: "
                            f"{_nothing_new(filed)}{_message_id(incoming)}")
    _deliver(storage, principal, message)
    if incoming.method == "REPLY":
        return _applied(f"iMIP REPLY from {_bare(attendee)} applied to {path}: "
                        f"{_answers(obj, attendee)}")
    return _applied(f"iMIP {incoming.method} from {_bare(attendee)} put in the inbox of "
                    f"{principal} ({path})")


def _from_organizer(storage, connection: Connection, incoming: IncomingImip,
                    obj: CalendarObject) -> InboundResult:
    """REQUEST, CANCEL, ADD, DECLINECOUNTER: from an outside organizer."""
    organizer = _organizer_sender(incoming)
    if principals.principal_of(connection, organizer) is not None:
        raise _Refused(f"{_bare(organizer)} is a user of this server, who schedules "
                       "through CalDAV, not by e-mail")
    targets = _invited_recipients(connection, incoming, obj)
    if not targets:
        line = (f"iMIP {incoming.method} from {_bare(organizer)}: no recipient is a user "
                f"of this server invited to the event")
        logger.warning("%s%s", line, _message_id(incoming))
        return InboundResult(NO_SUCH_USER, "no recipient is a user of this server "
                                           "invited to the event")
    for principal, _address in targets:
        _check_not_taken_over(storage, connection, principal, obj.uid, organizer)
    for principal, address in targets:
        _deliver(storage, principal,
                 ItipMessage(incoming.method, organizer, address, obj.uid, incoming.itip_text))
    where = ", ".join(_copy_path(connection, p, obj.uid) or f"{p}/{principals.INBOX}"
                      for p, _ in targets)
    return _applied(f"iMIP {incoming.method} from {_bare(organizer)} applied to {where}")


def _applied(line: str) -> InboundResult:
    logger.info("%s", line)
    return InboundResult(APPLIED, line)


def _deliver(storage, principal: str, message: ItipMessage) -> None:
    """Local delivery; a message the calendar cannot take is refused."""
    try:
        Deliverer(storage, principal).deliver_inbound(principal, message)
    except (ValueError, VObjectError) as error:  # SchedulingError is a ValueError
        raise _Refused(f"the message cannot be applied: {error}") from error
    except InstanceLimitError as error:
        raise _Refused(f"the event has too many instances: {error}") from error


def _filed(organizer_copy: str, message_text: str) -> FiledReply:
    """What the REPLY would make of the organizer's copy, worked out before
    anything is written; a REPLY the copy cannot take is refused."""
    try:
        return file_reply(organizer_copy, message_text)
    except (ValueError, VObjectError) as error:  # SchedulingError is a ValueError
        raise _Refused(f"the message cannot be applied: {error}") from error


def _nothing_new(filed: FiledReply) -> str:
    if filed.passed_over:
        return ("older than the answer the organizer's copy holds (RFC 5546 §2.1.5): "
                + ", ".join(key or "series" for key in filed.passed_over))
    return "the organizer's copy already holds this answer"


def with_start_times(itip_text: str, organizer_copy: CalendarObject) -> str:
    """The message with a DTSTART in every VEVENT, which the inbox needs to
    store it (RFC 5545 §3.6.1 requires it where there is no METHOD, as in a
    stored resource).

    RFC 5546 §3.2.3 lets a REPLY (and a REFRESH) leave DTSTART out, and
    minimal mailers do. An instance starts at its RECURRENCE-ID; the whole
    series at the organizer's DTSTART. Written in UTC, so no VTIMEZONE is
    needed; the text is returned as it was when nothing is missing.
    """
    calendar = icalendar.Calendar.from_ical(itip_text)
    missing = [c for c in calendar.subcomponents if c.name == "VEVENT" and "DTSTART" not in c]
    if not missing:
        return itip_text
    series_start = organizer_copy.master.get("DTSTART") if organizer_copy.master else None
    for component in missing:
        start = component.get("RECURRENCE-ID") or series_start
        if start is not None:
            component.add("DTSTART", _in_utc(start.dt))
    return calendar.to_ical().decode("utf-8")


def _in_utc(value: dt.date) -> dt.date:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    return value


# -- the checks -------------------------------------------------------------------------


def _attendee_sender(incoming: IncomingImip, obj: CalendarObject) -> str:
    """The attendee who sent a REPLY, COUNTER or REFRESH: the From: address."""
    if incoming.method == "REPLY":
        try:
            return check_reply_sender(incoming)
        except ImipRejected as error:
            raise _Refused(error.reason) from error
    named = {a for c in obj.components for a in attendee_addresses(c)}
    if incoming.from_address not in named:
        raise _Refused(f"{incoming.method} sent from {_bare(incoming.from_address)}, "
                       "who is not one of its attendees")
    return incoming.from_address


def _organizer_sender(incoming: IncomingImip) -> str:
    try:
        return check_organizer_sender(incoming)
    except ImipRejected as error:
        raise _Refused(error.reason) from error


def _organizer_copy(storage, connection: Connection, principal: str, uid: str,
                    organizer: str, attendee: str) -> tuple[str, str, CalendarObject]:
    """The path, text and content of the organizer's copy, which they must
    organise and which must invite ``attendee``; refused otherwise."""
    found = principals.find_by_uid(connection, principal, uid)
    text = None if found is None else storage.collection_at(found[0]).text_of(found[1])
    copy = _parsed(text)
    if copy is None or first_organizer(copy.components) != organizer:
        raise _Refused("reply for an event the addressed user does not organise")
    if not any(attendee in attendee_addresses(c) for c in copy.components):
        raise _Refused(f"{_bare(attendee)} is not invited to the event")
    assert found is not None and text is not None
    return f"{found[0]}/{found[1]}", text, copy


def _addressed_organizer(connection: Connection, incoming: IncomingImip, uid: str,
                         attendee: str, organizer: str) -> str:
    """The principal whose event an attendee's message answers, as the address
    it was delivered to says (see the module docstring); the ORGANIZER it names
    must be that principal. Refused, or no such user, otherwise."""
    owner = principals.principal_of(connection, organizer) if organizer else None
    if incoming.reply_token is not None:
        principal = _token_principal(connection, incoming.reply_token, uid, attendee,
                                     organizer)
    elif not incoming.from_envelope:
        raise _Refused("no envelope recipient and no reply address: nothing ties the "
                       "message to an organizer (the MTA must pass --recipient)")
    else:
        principal = _principal_addressed(connection, incoming.recipients, owner)
        if imip_tokens.issued_token(connection, principal, uid, attendee) is not None:
            raise _Refused(f"the invitation to {_bare(attendee)} gave a reply address; "
                           "answers must come through it, not to the organizer's address")
    if owner != principal:
        raise _Refused("reply for an event the addressed user does not organise")
    return principal


def _token_principal(connection: Connection, reply_token: str, uid: str, attendee: str,
                     organizer: str) -> str:
    """The principal a reply address token was issued for, which must be for
    this event and attendee (RFC 6047 §3; see imip_tokens). The refusals do
    not say whom the token was for."""
    token = imip_tokens.lookup(connection, reply_token)
    if token is None:
        raise _Refused("unknown reply address: no invitation was sent from it")
    if (token.uid, normalize(token.organizer)) != (uid, organizer):
        raise _Refused("the reply address was issued for another event")
    if normalize(token.attendee) != attendee:
        raise _Refused("the reply address was issued for another attendee")
    return token.principal


def _principal_addressed(connection: Connection, recipients: Sequence[str],
                         owner: str | None) -> str:
    """Without a token: the organizer's principal, when one of the envelope
    recipients is an address of theirs."""
    addressed = [principals.principal_of(connection, r) for r in recipients]
    if owner is not None and owner in addressed:
        return owner
    if any(p is not None for p in addressed):
        raise _Refused("reply for an event the addressed user does not organise")
    named = ", ".join(_bare(r) for r in recipients) or "no usable address"
    raise _NoSuchUser(f"not a user of this server or a reply address: {named}")


def _invited_recipients(connection: Connection, incoming: IncomingImip,
                        obj: CalendarObject) -> list[tuple[str, str]]:
    """(principal, attendee address) of each recipient who is a local user
    invited in the message. The address is the recipient's when the message
    names it, else another address of the same user that it names (the MTA
    may deliver to an alias)."""
    invited = [a for c in obj.components for a in attendee_addresses(c)]
    found: list[tuple[str, str]] = []
    for recipient in incoming.recipients:
        principal = principals.principal_of(connection, recipient)
        if principal is None or any(p == principal for p, _ in found):
            continue
        candidates = [recipient, *principals.addresses_of(connection, principal)]
        address = next((a for a in candidates if a in invited), None)
        if address is not None:
            found.append((principal, address))
    return found


def _check_not_taken_over(storage, connection: Connection, principal: str, uid: str,
                          organizer: str) -> None:
    """The recipient's copy of ``uid``, if any, must be organised by the same
    organizer: a message may not take over someone else's event (or the
    user's own)."""
    found = principals.find_by_uid(connection, principal, uid)
    if found is None:
        return
    copy = _parsed(storage.collection_at(found[0]).text_of(found[1]))
    if copy is None or first_organizer(copy.components) != organizer:
        raise _Refused("the recipient already has an event with this UID, organised by "
                       "someone else")


# -- locking ----------------------------------------------------------------------------


def _principals_concerned(storage, connection: Connection, incoming: IncomingImip,
                          obj: CalendarObject) -> set[str]:
    """The local principals whose collections the message may change: the
    organizer, the recipients, the attendees it names, and the attendees of
    the organizer's copy (a REPLY refreshes their copies)."""
    organizer = common_organizer(obj.components)
    addresses = {*incoming.recipients, organizer, *_all_attendees(obj)}
    if incoming.method == "REPLY" and organizer:
        owner = principals.principal_of(connection, organizer)
        found = None if owner is None else principals.find_by_uid(connection, owner, obj.uid)
        if found is not None:
            addresses |= _all_attendees(_parsed(
                storage.collection_at(found[0]).text_of(found[1])))
    concerned = {principals.principal_of(connection, a) for a in addresses if a}
    token = imip_tokens.lookup(connection, incoming.reply_token) \
        if incoming.reply_token else None
    if token is not None:
        concerned.add(token.principal)
    return {p for p in concerned if p is not None}


def _lock_scopes(connection: Connection, concerned: Iterable[str]) -> list[str]:
    """The write-lock scopes (see ``transaction``) of the principals' homes,
    inboxes and calendars: the scopes a CalDAV write to those takes."""
    scopes: set[str] = set()
    for principal in concerned:
        scopes.add(principal)
        scopes.add(lock_scope(f"{principal}/{principals.INBOX}"))
        scopes.update(lock_scope(path) for _, path, _ in
                      principals.calendars_of(connection, principal))
    return sorted(scopes)


# -- small helpers ----------------------------------------------------------------------


def _parsed(text: str | None) -> CalendarObject | None:
    if text is None:
        return None
    try:
        return parse_object(text)
    except ValueError:
        return None


def _all_attendees(obj: CalendarObject | None) -> set[str]:
    return set() if obj is None else {a for c in obj.components for a in attendee_addresses(c)}


def _copy_path(connection: Connection, principal: str, uid: str) -> str | None:
    found = principals.find_by_uid(connection, principal, uid)
    return None if found is None else f"{found[0]}/{found[1]}"


def _component_kinds(itip_text: str) -> set[str]:
    calendar = icalendar.Calendar.from_ical(itip_text)
    return {c.name for c in calendar.subcomponents if c.name != "VTIMEZONE"}


def _answers(obj: CalendarObject, attendee: str) -> str:
    """The PARTSTATs a REPLY gives, for the log: ``ACCEPTED``, or per
    instance ``DECLINED for 20261215T090000Z``."""
    parts = []
    for component in obj.components:
        line = next((p for p in attendee_properties(component)
                     if normalize(str(p)) == attendee), None)
        answer = partstat(line) or "NEEDS-ACTION"
        key = recurrence_key(component)
        parts.append(answer if key is None else f"{answer} for {key}")
    return ", ".join(parts)


def _bare(address: str) -> str:
    return address.removeprefix("mailto:")


def _message_id(incoming: IncomingImip) -> str:
    return f" (Message-ID {incoming.message_id})" if incoming.message_id else ""


def _sender_for_log(raw: bytes) -> str:
    """The From: of a message that could not be read as iMIP, for the log line."""
    try:
        headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)
        addresses = getattr(headers.get("From"), "addresses", ())
        return addresses[0].addr_spec if len(addresses) == 1 else "an unknown sender"
    except Exception:  # a header the parser cannot take: the log says so
        return "an unknown sender"
