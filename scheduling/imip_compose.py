"""Outgoing iMIP (RFC 6047): one iTIP message as an e-mail ready for SMTP.

The shape is the one Google Calendar, Outlook and Apple Calendar send, and so
the one every mail client recognises as an invitation::

    multipart/mixed
      multipart/alternative
        text/plain                      readable summary
        text/html                       the same summary
        text/calendar; method=REQUEST   the iTIP message (RFC 6047 §2.4)
      application/ics; name=invite.ics  the same iCalendar as an attachment

Clients that understand iMIP act on the text/calendar part; the attachment
serves the ones that only show attachments (and people who forward the
mail). Both carry the iCalendar in base64, so its CRLF line ends and its
UTF-8 survive any mail path unchanged; the readable parts are
quoted-printable.

Who the mail is from (RFC 6047 §3 wants the From: to be the organizer or the
attendee, so a receiver can check it against the iCalendar): a server that
writes its users' own addresses into From: fails DMARC for every domain it
does not control, and the mail is dropped or filed as spam. When
``ImipIdentity.sender`` is configured the mail comes From: that address,
named after the calendar user (``"Alice Example (via kalend)"``), with
Sender: that address, and Reply-To: leads back — to a tokenised reply
address when one is configured, so an answer from a client that replies by
e-mail finds its way to this server, else to the calendar user. Without
``sender`` (a server that may send as its users' domain) From: is the
calendar user's own address. The price of ``sender``: a
receiver that checks From: against the ATTENDEE of a REPLY (kalend's own
``imip_receive.check_reply_sender`` does) refuses replies sent from the
server's address, so a server whose users answer invitations from other
kalend servers should send as its users' domain.

Threading: every message gets a new random Message-ID (a resent or updated
invitation is a new message; Gmail drops a second message with an already
seen Message-ID), and References/In-Reply-To name one id derived from the
UID, so all mail about one event gathers in one thread without the server
remembering what it sent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime, parseaddr

import icalendar

from kalend.scheduling.addresses import MAILTO, normalize
from kalend.scheduling.imip_summary import described_components, name_in, summarize

#: Serialise with CRLF line ends and RFC 2047 encoded headers: what SMTP carries.
#: Header lines may run to RFC 5322's hard limit of 998: at the default 78 the
#: library folds a long Subject right after "Subject:", and several clients
#: then show it with a leading space. Body parts are base64 or
#: quoted-printable, whose lines stay at 76 whatever this says.
MAIL_POLICY = policy.SMTP.clone(max_line_length=998)

ATTACHMENT_NAME = "invite.ics"
#: The local part of the reply address when no sender address is configured.
DEFAULT_REPLY_LOCAL = "imip"
#: Appended to the calendar user's name in From: when the server's address is used.
VIA = "via kalend"

#: The iTIP methods (RFC 5546 §1.4).
ITIP_METHODS = (
    "PUBLISH", "REQUEST", "REPLY", "ADD", "CANCEL", "REFRESH", "COUNTER", "DECLINECOUNTER",
)  # fmt: skip

#: A reply token as ``token_from_address`` accepts it (lower-cased first).
TOKEN_PATTERN = re.compile(r"[a-z0-9_-]{1,64}")


@dataclass(frozen=True)
class ImipIdentity:
    """How this server signs its mail.

    ``sender``: the address mail is sent from (``calendar@example.org``);
    None to send from the calendar user's own address. ``reply_to_domain``:
    the domain of tokenised reply addresses, ``{local}+{token}@{domain}``
    where ``local`` is the sender's local part (``imip`` without a sender);
    None for no reply addresses. ``server_name``: the right-hand side of
    Message-IDs (``kalend.example.org``).
    """

    sender: str | None
    reply_to_domain: str | None
    server_name: str


def compose(
    method: str,
    sender: str,
    recipient: str,
    itip_text: str,
    identity: ImipIdentity,
    reply_token: str | None,
    sender_name: str | None = None,
    now: dt.datetime | None = None,
) -> EmailMessage:
    """The e-mail carrying the iTIP message ``itip_text`` from ``sender`` to ``recipient``.

    ``sender`` and ``recipient`` are calendar-user addresses (``mailto:…``):
    the ORGANIZER for REQUEST and CANCEL, the ATTENDEE for REPLY.
    ``itip_text``: a whole VCALENDAR whose METHOD is ``method`` (RFC 6047
    §2.4: the Content-Type's method parameter must equal it; a mismatch is
    a programming error and raises ValueError, as does text that is not
    iCalendar or an address that is not ``mailto:``). ``reply_token``: put
    into the Reply-To address when ``identity.reply_to_domain`` is set.
    ``sender_name``: the sender's display name, when the server knows it.
    ``now``: the Date: header (the current time by default).
    """
    method = method.strip().upper()
    calendar = _parse_itip(itip_text, method)
    text = crlf(itip_text)
    summary = summarize(method, calendar, sender, sender_name)
    components = described_components(calendar)
    uid = _uid(calendar)

    message = EmailMessage(policy=MAIL_POLICY)
    from_name = sender_name or name_in(components, sender)
    _address_headers(message, sender, identity, reply_token, from_name)
    message["To"] = _mailbox(name_in(components, recipient), mail_address(recipient))
    message["Subject"] = one_line(summary.subject)
    message["Date"] = format_datetime((now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC))
    message["Message-ID"] = new_message_id(identity.server_name)
    if uid:
        message["In-Reply-To"] = thread_id(uid, identity.server_name)
        message["References"] = thread_id(uid, identity.server_name)
    message["MIME-Version"] = "1.0"

    message.make_mixed()
    message.attach(_alternative(method, summary.as_text(), summary.as_html(), text))
    message.attach(_attachment(text))
    return message


def reply_address(identity: ImipIdentity, token: str) -> str | None:
    """``{local}+{token}@{reply_to_domain}``: where replies to a message with ``token``
    go; None when the server has no reply domain."""
    if not identity.reply_to_domain:
        return None
    local = _server_address(identity).rpartition("@")[0]
    return f"{local or DEFAULT_REPLY_LOCAL}+{token}@{identity.reply_to_domain}"


def token_from_address(address: str) -> str | None:
    """The token of a reply address (``calendar+TOKEN@example.org``), lower-cased.

    Accepts ``mailto:`` and angle brackets; the token is what follows the
    last ``+`` of the local part, so a sender address that has a ``+`` of
    its own still works. Case is folded because some mail systems change
    the case of local parts (tokens are made lower-case). None when there is
    no ``+``, or what follows it is not a token.
    """
    text = address.strip().strip("<>").strip()
    if text[: len(MAILTO)].lower() == MAILTO:
        text = text[len(MAILTO) :]
    local, at, _domain = text.rpartition("@")
    if not at or "+" not in local:
        return None
    token = local.rpartition("+")[2].lower()
    return token if TOKEN_PATTERN.fullmatch(token) else None


def new_reply_token() -> str:
    """A fresh reply token: 128 random bits as 32 lower-case hex digits.

    Lower-case hex because local parts pass through systems that change
    their case; a token that survives only in the case it was written would
    be lost there.
    """
    return secrets.token_hex(16)


def new_message_id(server_name: str) -> str:
    """A Message-ID no other message has: 128 random bits at ``server_name``."""
    return f"<{secrets.token_hex(16)}@{server_name}>"


def thread_id(uid: str, server_name: str) -> str:
    """The message id all mail about the event ``uid`` refers to (References:).

    A hash, not the UID itself: UIDs hold characters a msg-id may not
    (RFC 5322 §3.6.4), and the hash says nothing about the event.
    """
    digest = hashlib.sha256(uid.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{server_name}>"


def mail_address(address: str) -> str:
    """The e-mail address of a ``mailto:`` calendar-user address (ValueError otherwise)."""
    normalized = normalize(address)
    if not normalized.startswith(MAILTO) or "@" not in normalized:
        raise ValueError(f"not a mailto: address: {address!r}")
    return address.strip()[len(MAILTO) :].strip()


def crlf(text: str) -> str:
    """``text`` with CRLF line ends, ending in one (RFC 5545 §3.1)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
    return text if text.endswith("\r\n") else text + "\r\n"


def one_line(text: str) -> str:
    """``text`` with line breaks and control characters as spaces: fit for a header."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _parse_itip(itip_text: str, method: str) -> icalendar.Calendar:
    if method not in ITIP_METHODS:
        raise ValueError(f"not an iTIP method: {method!r}")
    try:
        calendar = icalendar.Calendar.from_ical(itip_text)
    except Exception as error:  # icalendar raises several types for bad input
        raise ValueError(f"not iCalendar: {error}") from error
    written = str(calendar.get("METHOD", "")).strip().upper()
    if written != method:
        raise ValueError(f"the iCalendar's METHOD is {written or 'missing'}, not {method}")
    return calendar


def _uid(calendar: icalendar.Calendar) -> str | None:
    for component in calendar.subcomponents:
        if "UID" in component:
            return str(component["UID"])
    return None


def _address_headers(
    message: EmailMessage,
    sender: str,
    identity: ImipIdentity,
    reply_token: str | None,
    sender_name: str | None,
) -> None:
    """From: and Reply-To: (see the module docstring for why)."""
    own = mail_address(sender)
    replies = reply_address(identity, reply_token) if reply_token else None
    server = _server_address(identity)
    if server:
        named = f"{sender_name or own.partition('@')[0]} ({VIA})"
        message["From"] = _mailbox(named, server)
        # Sender: names the mailbox that really sent it (RFC 5322 §3.6.2);
        # some clients show it beside From:, and bounces are matched on it.
        message["Sender"] = _mailbox(None, server)
        message["Reply-To"] = _mailbox(sender_name, replies or own)
    else:
        message["From"] = _mailbox(sender_name, own)
        if replies:
            message["Reply-To"] = _mailbox(sender_name, replies)


def _alternative(method: str, plain: str, html: str, itip_text: str) -> MIMEPart:
    """multipart/alternative: the summary as text and HTML, and the iTIP message last
    (the richest alternative comes last, RFC 2046 §5.1.4)."""
    alternative = MIMEPart(policy=MAIL_POLICY)
    alternative.make_alternative()
    for subtype, body in (("plain", plain), ("html", html)):
        part = MIMEPart(policy=MAIL_POLICY)
        part.set_content(body, subtype=subtype, charset="utf-8", cte="quoted-printable")
        alternative.attach(part)
    part = MIMEPart(policy=MAIL_POLICY)
    part.set_content(
        itip_text.encode("utf-8"), maintype="text", subtype="calendar", cte="base64",
        params={"charset": "UTF-8", "method": method},
    )  # fmt: skip
    alternative.attach(part)
    return alternative


def _attachment(itip_text: str) -> MIMEPart:
    part = MIMEPart(policy=MAIL_POLICY)
    part.set_content(
        itip_text.encode("utf-8"), maintype="application", subtype="ics", cte="base64",
        disposition="attachment", filename=ATTACHMENT_NAME, params={"name": ATTACHMENT_NAME},
    )  # fmt: skip
    return part


def _server_address(identity: ImipIdentity) -> str:
    """The bare address of ``identity.sender`` (``""`` without one); a configured
    ``Name <address>`` is tolerated, its name replaced by the calendar user's."""
    return parseaddr(identity.sender or "")[1]


def _mailbox(name: str | None, address: str) -> Address:
    """An address header value; the display name is quoted or encoded as needed."""
    local, _at, domain = address.rpartition("@")
    return Address(display_name=one_line(name or ""), username=local, domain=domain)
