"""Inbound messages already applied, by Message-ID and recipients.

The inbound iMIP path asks ``seen`` before it applies a message and calls
``remember`` in the same transaction when it applied one, so a message the
MTA delivers again (or someone replays) is recognised. A row is a digest,
not the Message-ID itself: a fixed-size key whatever length a sender writes,
and nothing of the message kept. ``forget_before`` bounds the table; the
maintenance job calls it with the configured retention.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import Connection, delete, insert, select

from kalend.storage_plugin import schema


def message_key(message_id: str, recipients: Iterable[str]) -> str:
    """The digest that names one message delivered to these recipients.

    The recipients are part of the key because one message is delivered once
    per recipient (an invitation to two users of this server arrives twice,
    with one Message-ID): the second delivery is not a replay of the first.
    """
    material = "\n".join([message_id.strip(), *sorted(set(recipients))])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def seen(connection: Connection, key: str) -> bool:
    t = schema.imip_seen_message.c
    return connection.execute(select(t.message_key).where(t.message_key == key)).first() \
        is not None


def remember(connection: Connection, key: str, received: float) -> None:
    connection.execute(insert(schema.imip_seen_message).values(message_key=key,
                                                                received=received))


def forget_before(connection: Connection, cutoff: float) -> int:
    """Drop the rows of messages received before ``cutoff``; how many went."""
    t = schema.imip_seen_message.c
    return connection.execute(delete(schema.imip_seen_message)
                              .where(t.received < cutoff)).rowcount
