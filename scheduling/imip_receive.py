"""Incoming iMIP (RFC 6047): an e-mail read as one iTIP message, or refused.

What arrives at the server's reply address is mostly iMIP from calendar
programs and services (Google Calendar, Outlook, Thunderbird, Apple Mail),
but also auto-replies, bounces, people writing "see you there" and spam.
Each message ends in one of three ways:

- an ``IncomingImip``: one iTIP message, its METHOD, and who sent it to whom;
- ``NotImip``: no iTIP in it (no calendar part, or a plain .ics without
  METHOD, which is a calendar file being shared, not a scheduling message).
  The MTA should accept and drop it: bouncing an auto-reply would start a
  mail loop;
- ``ImipRejected``: it claims to be iTIP but cannot be trusted or read
  (oversized, malformed iCalendar, an ambiguous METHOD, no single From:, a
  REPLY from someone other than the attendee). The MTA bounces it
  permanently, so a real sender learns the message did not arrive.

Finding the iTIP part (RFC 6047 §2.4): the text/calendar part anywhere in the
MIME tree, not inside attached messages (a forwarded invitation is not
addressed to this server). Calendar services send the same iCalendar twice,
inline and as an attachment; identical copies are one message. When copies
differ, the inline text/calendar part is the message (RFC 6047 §2.4 names
text/calendar as the iMIP body; attachments are for people), but parts that
disagree on the METHOD make the message ambiguous and it is refused. An
``application/ics`` attachment is used only when no text/calendar part
exists: some mailers send nothing else.

Parsing and checking are pure: the caller does the logging, the bouncing and
the applying.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import Message
from email.parser import BytesParser

import icalendar
from icalendar import Component

from kalend.scheduling.addresses import MAILTO, normalize
from kalend.scheduling.imip_compose import ITIP_METHODS, crlf, one_line, token_from_address
from kalend.scheduling.participants import attendee_properties, organizer_of, parameter

#: The largest message accepted by default: invitations are a few kilobytes;
#: a megabyte leaves room for a long description and many attendees.
MAX_BYTES = 1_048_576

CALENDAR_TYPE = "text/calendar"
#: Attachment types some mailers use for an .ics file instead of text/calendar.
ATTACHMENT_TYPES = ("application/ics", "application/icalendar")
#: Components an iTIP message is about (RFC 5546 §3.2–3.5).
ITIP_COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY")

ADDRESS_PATTERN = re.compile(r"[^@\s<>]+@[^@\s<>]+")


class ImipRejected(Exception):
    """Refused: malformed, oversized, several METHODs, spoofed … — the MTA should
    bounce it (permanent failure). ``reason`` says why, in one line fit for a
    log and for the bounce."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotImip(Exception):
    """Not an iMIP message at all: accept it and ignore it (log a line).
    ``reason`` says what was missing."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class IncomingImip:
    """One iTIP message read from an e-mail.

    ``method``: the iTIP METHOD, upper case. ``itip_text``: the VCALENDAR as
    sent, decoded, with CRLF line ends. ``from_address``: the From: mailbox
    as a normalised ``mailto:`` address. ``recipients``: where the message
    was delivered (the envelope when given, else To/Cc/Delivered-To),
    normalised ``mailto:`` addresses. ``from_envelope``: whether they are the
    envelope's (what the MTA delivered to) rather than the headers' (what
    the sender wrote). ``reply_token``: from the first recipient address of
    the form ``local+token@domain``. ``message_id``: the Message-ID as
    written, for logs and to recognise a message delivered again.
    ``subject``: decoded, one line.
    """

    method: str
    itip_text: str
    from_address: str
    recipients: tuple[str, ...]
    from_envelope: bool
    reply_token: str | None
    message_id: str | None
    subject: str


def parse_message(
    raw: bytes, envelope_recipients: Sequence[str] = (), max_bytes: int = MAX_BYTES
) -> IncomingImip:
    """Read the e-mail ``raw`` as an iTIP message (see the module docstring).

    ``envelope_recipients``: the RCPT TO addresses (from LMTP or the MTA's
    pipe), which say who the message was delivered to better than headers
    do. Raises NotImip or ImipRejected.
    """
    if len(raw) > max_bytes:
        raise ImipRejected(f"message of {len(raw)} bytes is larger than {max_bytes}")
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as error:  # the parser is lenient; this is a last resort
        raise ImipRejected(f"unreadable e-mail: {error}") from error
    part = calendar_part(message)
    text = decode_part(part)
    calendar = parse_calendar(text)
    method = itip_method(calendar, part)
    _check_other_parts(message, part, text, method)
    recipients = _recipients(message, envelope_recipients)
    return IncomingImip(
        method=method,
        itip_text=crlf(text),
        from_address=from_address(message),
        recipients=recipients,
        from_envelope=bool(envelope_recipients),
        reply_token=next(
            (t for t in (token_from_address(r) for r in recipients) if t is not None), None
        ),
        message_id=_header_text(message, "Message-ID") or None,
        subject=one_line(_header_text(message, "Subject")),
    )


def check_reply_sender(incoming: IncomingImip) -> str:
    """The attendee a REPLY answers for, which must be who sent it.

    RFC 5546 §3.2.3: a REPLY carries the ATTENDEE line of the one attendee
    replying. RFC 6047 §3 leaves the receiver to check that the sender of
    the mail is that attendee; kalend requires the From: address to be it
    (normalised, without case), so nobody can answer for someone else.

    One exception to "one ATTENDEE": a delegating REPLY (RFC 5546 §4.2.5)
    also lists the delegates, each with DELEGATED-FROM naming the replying
    attendee; they do not count as a second replier.

    Raises ImipRejected when the components name no attendee, several, or
    one who is not the From: address; ValueError when ``incoming`` is not a
    REPLY.
    """
    if incoming.method != "REPLY":
        raise ValueError(f"check_reply_sender is for REPLY, not {incoming.method}")
    repliers = _repliers(_itip_components(incoming.itip_text))
    if not repliers:
        raise ImipRejected("the REPLY names no ATTENDEE")
    if len(repliers) > 1:
        raise ImipRejected("the REPLY answers for several attendees: " + ", ".join(repliers))
    attendee = repliers[0]
    if attendee != incoming.from_address:
        raise ImipRejected(
            f"REPLY for {attendee} sent from {incoming.from_address}: not the attendee"
        )
    return attendee


def check_organizer_sender(incoming: IncomingImip) -> str:
    """The ORGANIZER of a message an organizer sends (REQUEST, CANCEL, ADD,
    DECLINECOUNTER, PUBLISH), which must be who sent it — the same check as
    ``check_reply_sender`` from the other side (RFC 6047 §3).

    Raises ImipRejected when the components name no ORGANIZER, different
    ones (RFC 6638 §3.2.4.2 wants one), or one who is not the From: address.
    """
    organizers = {organizer_of(c) for c in _itip_components(incoming.itip_text)} - {""}
    if not organizers:
        raise ImipRejected(f"the {incoming.method} names no ORGANIZER")
    if len(organizers) > 1:
        raise ImipRejected("the components name different organizers: " + ", ".join(organizers))
    organizer = organizers.pop()
    if organizer != incoming.from_address:
        raise ImipRejected(
            f"{incoming.method} organized by {organizer} sent from {incoming.from_address}"
        )
    return organizer


def calendar_part(message: Message) -> Message:
    """The MIME part carrying the iTIP message (see the module docstring); NotImip
    when there is none."""
    leaves = list(_leaves(message))
    calendars = [p for p in leaves if p.get_content_type() == CALENDAR_TYPE]
    if calendars:
        inline = [p for p in calendars if p.get_content_disposition() != "attachment"]
        return (inline or calendars)[0]
    attached = [p for p in leaves if p.get_content_type() in ATTACHMENT_TYPES]
    if attached:
        return attached[0]
    raise NotImip("no text/calendar part")


def decode_part(part: Message) -> str:
    """The text of a calendar part: transfer encoding undone, charset applied.

    The charset is the part's own; without one, UTF-8 (what RFC 5545 §3.1.4
    makes iCalendar's default), and failing that Latin-1, which old mailers
    wrote without saying so. A declared charset that is unknown, or that the
    bytes do not match, is refused: guessing would put wrong names into
    calendars.
    """
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raise ImipRejected("the calendar part has no content")
    charset = part.get_content_charset()
    if charset is None:
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            text = payload.decode("latin-1")
    else:
        try:
            text = payload.decode(charset)
        except LookupError as error:
            raise ImipRejected(f"unknown charset {charset!r}") from error
        except UnicodeDecodeError as error:
            raise ImipRejected(f"the calendar part is not valid {charset}") from error
    return text.removeprefix("\ufeff")


def parse_calendar(text: str) -> icalendar.Calendar:
    """The one VCALENDAR in ``text``; ImipRejected when it is not readable iCalendar,
    holds several iCalendar objects (RFC 6047 §2.4: one per part), a value
    icalendar could not read, or no component to schedule."""
    try:
        calendars = icalendar.Calendar.from_ical(text, multiple=True)
    except Exception as error:  # icalendar raises several types for bad input
        raise ImipRejected(f"malformed iCalendar: {error}") from error
    if not calendars or any(c.name != "VCALENDAR" for c in calendars):
        raise ImipRejected("malformed iCalendar: no complete VCALENDAR")
    if len(calendars) > 1:
        methods = sorted({_methods_text(c) for c in calendars})
        raise ImipRejected(
            f"{len(calendars)} iCalendar objects in one part (METHOD {' / '.join(methods)})"
        )
    calendar = calendars[0]
    for component in calendar.walk():
        for name, error in getattr(component, "errors", []):
            raise ImipRejected(f"malformed iCalendar: {component.name} {name}: {error}")
    if not any(c.name in ITIP_COMPONENTS for c in calendar.subcomponents):
        raise ImipRejected("the iCalendar has no VEVENT, VTODO, VJOURNAL or VFREEBUSY")
    return calendar


def itip_method(calendar: icalendar.Calendar, part: Message) -> str:
    """The METHOD of the message (RFC 5546 §3.1), which the Content-Type's method
    parameter must repeat when present (RFC 6047 §2.4).

    No METHOD: NotImip — an iCalendar file without one is being shared, not
    scheduled. Several, or one that is not an iTIP method, or a Content-Type
    that says another: ImipRejected.
    """
    methods = [
        str(value).strip().upper()
        for name, value in calendar.property_items(recursive=False)
        if name == "METHOD"
    ]
    if not methods:
        raise NotImip("an iCalendar object without METHOD")
    if len(methods) > 1:
        raise ImipRejected("several METHOD properties: " + ", ".join(methods))
    method = methods[0]
    if method not in ITIP_METHODS:
        raise ImipRejected(f"not an iTIP method: {method}")
    declared = part.get_param("method")
    if isinstance(declared, str) and declared.strip().upper() != method:
        raise ImipRejected(f"Content-Type says method={declared}, the iCalendar {method}")
    return method


def from_address(message: Message) -> str:
    """The one From: mailbox as a normalised ``mailto:`` address; ImipRejected when
    there is none or several (RFC 5322 §3.6.2 allows several, with a Sender:,
    but then who answered is unclear)."""
    headers = message.get_all("From") or []
    if len(headers) != 1:
        raise ImipRejected("no From: header" if not headers else "several From: headers")
    addresses = _addresses(headers[0])
    if len(addresses) != 1:
        raise ImipRejected(f"From: must name one mailbox, it names {len(addresses)}")
    return addresses[0]


def _leaves(part: Message) -> Iterator[Message]:
    """The non-multipart parts of ``part``, in order, without entering attached
    messages (message/rfc822: a forwarded mail is not this mail)."""
    if part.is_multipart():
        if part.get_content_maintype() == "message":
            return
        for child in part.get_payload():
            yield from _leaves(child)
    elif part.get_content_maintype() != "message":
        yield part


def _check_other_parts(message: Message, chosen: Message, text: str, method: str) -> None:
    """Other calendar parts must repeat the chosen one, or at least its METHOD."""
    for part in _leaves(message):
        if part is chosen or part.get_content_type() not in (CALENDAR_TYPE, *ATTACHMENT_TYPES):
            continue
        try:
            other = decode_part(part)
            if crlf(other) == crlf(text):
                continue
            calendars = icalendar.Calendar.from_ical(other, multiple=True)
        except Exception:  # a damaged copy is ignored: the chosen part is the message
            continue
        methods = {_methods_text(c) for c in calendars} - {""}
        if methods and methods != {method}:
            raise ImipRejected(
                f"calendar parts disagree on METHOD: {method} and {', '.join(sorted(methods))}"
            )


def _methods_text(calendar: icalendar.Calendar) -> str:
    return ",".join(
        str(value).strip().upper()
        for name, value in calendar.property_items(recursive=False)
        if name == "METHOD"
    )


def _recipients(message: Message, envelope: Sequence[str]) -> tuple[str, ...]:
    found: list[str] = []
    if envelope:
        candidates = [_as_mailto(a) for a in envelope]
    else:
        candidates = []
        for name in ("To", "Cc", "Delivered-To"):
            for header in message.get_all(name) or []:
                candidates.extend(_addresses(header))
    for address in candidates:
        if address and address not in found:
            found.append(address)
    return tuple(found)


def _addresses(header: object) -> list[str]:
    """The mailboxes of an address header, as normalised ``mailto:`` addresses."""
    parsed: tuple[Address, ...] = getattr(header, "addresses", ())
    if parsed:
        return [_as_mailto(a.addr_spec) for a in parsed if "@" in a.addr_spec]
    # Not parsed as an address list (a malformed header): take what looks like one.
    return [_as_mailto(a) for a in ADDRESS_PATTERN.findall(str(header))]


def _as_mailto(address: str) -> str:
    text = address.strip().strip("<>").strip()
    if text[: len(MAILTO)].lower() == MAILTO:
        text = text[len(MAILTO) :]
    return normalize(MAILTO + text) if "@" in text else ""


def _header_text(message: Message, name: str) -> str:
    value = message.get(name)
    return "" if value is None else str(value).strip()


def _itip_components(itip_text: str) -> list[Component]:
    calendar = icalendar.Calendar.from_ical(itip_text)
    return [c for c in calendar.subcomponents if c.name in ITIP_COMPONENTS]


def _repliers(components: list[Component]) -> list[str]:
    """The attendees answering, across components, without the delegates a
    delegating attendee lists (DELEGATED-FROM one of the others)."""
    lines = [p for c in components for p in attendee_properties(c)]
    addresses = {normalize(str(p)) for p in lines} - {""}
    delegates = {
        normalize(str(p))
        for p in lines
        if normalize(parameter(p, "DELEGATED-FROM")) in addresses - {normalize(str(p))}
    }
    return sorted(addresses - delegates)
