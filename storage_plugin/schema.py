"""The SQL tables of kalend's storage, as SQLAlchemy Core metadata.

Core rather than the ORM: every request reads and writes a handful of rows with
hand-shaped queries, and the Radicale ``Item`` objects are the domain objects;
an identity map would only add work on the hot path.

The Alembic migrations under ``migrations/versions`` are the source of truth
for the database; this module mirrors them for queries, and a unit test checks
that the two agree.
"""

from sqlalchemy import (
                        BigInteger,
                        Boolean,
                        Column,
                        Float,
                        ForeignKey,
                        Index,
                        Integer,
                        MetaData,
                        String,
                        Table,
                        Text,
                        UniqueConstraint,
                        false,
                        text,
)

from kalend.storage_plugin.occurrences import TIME_MAX, TIME_MIN

metadata = MetaData()

#: One row per collection (principal, calendar, address book, inbox…).
#: ``path`` is Radicale's sanitized path without leading/trailing slash; the
#: root collection is the row with the empty path.
collection = Table(
    "collection", metadata,
    Column("id", Integer, primary_key=True),
    Column("path", String(1024), nullable=False, unique=True),
    Column("parent_path", String(1024), nullable=True, index=True),
    Column("owner", String(255), nullable=False),
    Column("tag", String(32), nullable=False, default=""),
    Column("props", Text, nullable=False, default="{}"),
    # RFC 6578: every write in the collection takes the next number; a sync
    # token is this number, so a delta is "changes with seq > token".
    Column("sync_seq", BigInteger, nullable=False, default=0),
    # Changes at or below this sequence number may have been pruned: tokens
    # older than it are answered with DAV:valid-sync-token.
    Column("sync_floor", BigInteger, nullable=False, default=0),
    Column("modified", Float, nullable=False),
    # Ids are never reused (sync tokens name them): see migration 0001.
    sqlite_autoincrement=True,
)

#: One row per calendar object resource or vCard.
item = Table(
    "item", metadata,
    Column("id", Integer, primary_key=True),
    Column("collection_id", Integer,
           ForeignKey("collection.id", ondelete="CASCADE"), nullable=False),
    Column("href", String(1024), nullable=False),
    Column("uid", String(1024), nullable=False),
    Column("etag", String(80), nullable=False),
    Column("name", String(32), nullable=False),            # VCALENDAR / VCARD
    Column("component", String(32), nullable=False),       # VEVENT, VTODO…
    Column("text", Text, nullable=False),
    # Overall time range as Radicale computes it (seconds since the epoch,
    # UTC); open-ended rules reach Radicale's far-future sentinel.
    Column("start", BigInteger, nullable=False),
    Column("end", BigInteger, nullable=False),
    Column("schedule_tag", String(80), nullable=True),
    Column("organizer", String(1024), nullable=True),
    Column("modified", Float, nullable=False),
    # The window [occ_from, occ_until) its occurrences are materialised for:
    # (TIME_MIN, TIME_MAX) when all of them are stored; (TIME_MAX, TIME_MIN)
    # when none could be (queries then expand the item on the fly).
    Column("occ_from", BigInteger, nullable=False, server_default=str(TIME_MAX)),
    Column("occ_until", BigInteger, nullable=False, server_default=str(TIME_MIN)),
    Column("open_ended", Boolean, nullable=False, server_default=false()),
    # A recurring object's past is stored whole (occ_from = TIME_MIN) unless
    # it has too many instances: then only the window is, and this is set.
    Column("occ_past_capped", Boolean, nullable=False, server_default=false()),
    # Where its alarms can fire (``alarm_bounds``): relative triggers within
    # [instance start + alarm_lead, instance end + alarm_lag], absolute ones
    # within [alarm_first, alarm_last]; NULL without such triggers.
    Column("alarm_lead", BigInteger, nullable=True),
    Column("alarm_lag", BigInteger, nullable=True),
    Column("alarm_first", BigInteger, nullable=True),
    Column("alarm_last", BigInteger, nullable=True),
    UniqueConstraint("collection_id", "href", name="uq_item_collection_href"),
    Index("ix_item_collection_uid", "collection_id", "uid"),
    Index("ix_item_collection_range", "collection_id", "start", "end"),
    Index("ix_item_collection_occ_from", "collection_id", "occ_from"),
    Index("ix_item_collection_occ_until", "collection_id", "occ_until"),
)

#: One row per materialised instance (RFC 4791 §9.9 semantics, see
#: ``occurrences``). ``start``/``end`` are UTC seconds, or wall-clock seconds
#: when ``floating``.
occurrence = Table(
    "occurrence", metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("item.id", ondelete="CASCADE"), nullable=False),
    Column("collection_id", Integer,
           ForeignKey("collection.id", ondelete="CASCADE"), nullable=False),
    Column("component", String(16), nullable=False),
    Column("start", BigInteger, nullable=False),
    Column("end", BigInteger, nullable=False),
    Column("floating", Boolean, nullable=False),
    Column("long_span", Boolean, nullable=False),
    Column("recurrence_id", String(32), nullable=True),
    Column("status", String(32), nullable=True),
    Column("transp", String(32), nullable=True),
    Column("fbtype", String(32), nullable=False),
    Index("ix_occurrence_item", "item_id"),
    # Covering: range queries read item_id, end and fbtype from the index
    # alone (migration 0006).
    Index("ix_occurrence_range", "collection_id", "component", "floating", "start", "end",
          "item_id", "fbtype"),
    # SQLite uses a partial index only when the query repeats its WHERE as
    # written; SQLAlchemy writes a boolean column test as "long_span = 1" there.
    Index("ix_occurrence_long_range", "collection_id", "component", "floating", "end",
          postgresql_where=text("long_span"), sqlite_where=text("long_span = 1")),
)

#: The change log behind sync-collection: one row per write or delete.
change = Table(
    "change", metadata,
    Column("id", Integer, primary_key=True),
    Column("collection_id", Integer,
           ForeignKey("collection.id", ondelete="CASCADE"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("href", String(1024), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("created", Float, nullable=False),
    Index("ix_change_collection_seq", "collection_id", "seq"),
)

#: Calendar-user addresses (RFC 6638 §2.4.1) of each principal, so that the
#: scheduling code knows which attendees are local.
calendar_user = Table(
    "calendar_user", metadata,
    Column("address", String(1024), primary_key=True),   # lower-case mailto:
    Column("principal", String(255), nullable=False, index=True),
    Column("position", Integer, nullable=False, default=0),
)

#: The iMIP outbox (RFC 6047 via DESIGN.md): one row per iTIP message for a
#: recipient outside this server, written in the transaction of the calendar
#: change that caused it. ``collection_path``/``href`` name the organizer's
#: copy, whose ATTENDEE gets the SCHEDULE-STATUS of the delivery.
outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("created", Float, nullable=False),
    Column("method", String(16), nullable=False),
    Column("sender", String(1024), nullable=False),
    Column("recipient", String(1024), nullable=False),
    Column("uid", String(1024), nullable=False),
    Column("text", Text, nullable=False),
    Column("principal", String(255), nullable=False),
    Column("collection_path", String(1024), nullable=True),
    Column("href", String(1024), nullable=True),
    Column("status", String(16), nullable=False),  # queued / sending / sent / failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt", Float, nullable=False),
    Column("last_error", Text, nullable=True),
    # A worker that claims a row sets status 'sending' and this lease; a row
    # still 'sending' after it (the worker died) is claimed again.
    Column("claimed_until", Float, nullable=True),
    Column("message_id", String(255), nullable=True),
    Column("sent", Float, nullable=True),
    Index("ix_outbox_status_next", "status", "next_attempt"),
)

#: Reply tokens (RFC 6047 replies by e-mail): the token in the Reply-To
#: address of an invitation names the event (UID, organizer) and the attendee
#: it was sent to, so a reply is applied only for that pair.
imip_token = Table(
    "imip_token", metadata,
    Column("token", String(64), primary_key=True),
    Column("uid", String(1024), nullable=False),
    Column("attendee", String(1024), nullable=False),     # lower-case mailto:
    Column("organizer", String(1024), nullable=False),    # lower-case mailto:
    Column("principal", String(255), nullable=False),
    Column("created", Float, nullable=False),
    Index("ix_imip_token_event", "principal", "uid", "attendee"),
)

#: Members of a group calendar user (RFC 6638 §3.2.1.1: an ATTENDEE with
#: CUTYPE=GROUP is delivered to each member): group address -> principal.
group_member = Table(
    "group_member", metadata,
    Column("address", String(1024), primary_key=True),     # lower-case mailto:
    Column("member", String(255), primary_key=True),
)

#: Inbound iMIP messages already applied, so that a redelivery or a replay of
#: the same Message-ID to the same recipient changes nothing. ``message_key``
#: is a digest of the Message-ID and the recipients (fixed size, whatever a
#: sender writes); ``received`` lets the maintenance job forget old ones.
imip_seen_message = Table(
    "imip_seen_message", metadata,
    Column("message_key", String(64), primary_key=True),
    Column("received", Float, nullable=False),
    Index("ix_imip_seen_message_received", "received"),
)
