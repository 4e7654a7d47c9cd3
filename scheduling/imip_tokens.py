"""Reply tokens: which event and attendee an iMIP reply address was made for.

An invitation to an outside attendee carries a Reply-To such as
``calendar+<token>@example.org``. When the attendee's client mails its REPLY
there, the token names the one (organizer principal, UID, attendee) it was
issued for; a reply that quotes a token for another event or another
attendee is refused (RFC 6047 §3 leaves sender checks to the receiver; this
is the check CalendarServer made). One token per attendee and event, reused
for every later message of that event, so an old invitation's address still
works after an update.

The token is also what binds a reply to its organizer: inbound iMIP takes
the organizer from the token, not from the ORGANIZER the reply names, and
once a token was issued to an attendee for an event (``issued_token``), that
attendee's answers are taken only through it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from kalend.scheduling.addresses import normalize
from kalend.scheduling.imip_compose import new_reply_token
from kalend.storage_plugin import schema


@dataclass(frozen=True)
class ReplyToken:
    token: str
    uid: str
    attendee: str
    organizer: str
    principal: str


def token_for(connection: Connection, principal: str, uid: str, attendee: str,
              organizer: str) -> str:
    """The token of this attendee for this event, created on first use."""
    existing = issued_token(connection, principal, uid, attendee)
    if existing is not None:
        return existing
    attendee, organizer = normalize(attendee), normalize(organizer)
    token = new_reply_token()
    connection.execute(insert(schema.imip_token).values(
        token=token, uid=uid, attendee=attendee, organizer=organizer,
        principal=principal, created=time.time()))
    return token


def issued_token(connection: Connection, principal: str, uid: str,
                 attendee: str) -> str | None:
    """The token issued to this attendee for this event, None when none was: the
    invitations they got carried no reply address, so their answers come to the
    organizer's own address."""
    t = schema.imip_token.c
    return connection.execute(
        select(t.token).where(t.principal == principal, t.uid == uid,
                              t.attendee == normalize(attendee))).scalar()


def lookup(connection: Connection, token: str) -> ReplyToken | None:
    t = schema.imip_token.c
    row = connection.execute(
        select(t.token, t.uid, t.attendee, t.organizer, t.principal)
        .where(t.token == token.lower())).first()
    return None if row is None else ReplyToken(*row)
