"""A Radicale collection backed by the ``collection``/``item``/``change`` rows.

Every method works inside the request's transaction (see ``transaction``);
the object itself holds only the row's identity and a cache of its metadata,
refreshed after its own writes.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Any,
    Literal,
    overload,
)

import radicale.item as radicale_item
from radicale import pathutils
from radicale import storage as radicale_storage
from radicale.item import filter as radicale_filter
from sqlalchemy import (
    Connection,
    bindparam,
    delete,
    exists,
    false,
    insert,
    null,
    select,
    true,
    union_all,
    update,
)

from kalend.storage_plugin import alarm_query, compiled_sql, deadline, occurrence_index, schema
from kalend.storage_plugin import occurrences as occ
from kalend.storage_plugin.items import http_date, item_from_row, item_from_text, row_values
from kalend.storage_plugin.transaction import current_connection, transaction

logger = logging.getLogger("kalend.storage")

if TYPE_CHECKING:
    from kalend.storage_plugin.storage import Storage

#: Sync tokens are URIs (RFC 6578 §3.2); they name the collection row and the
#: sequence number, so a token of a deleted-and-recreated collection is refused.
SYNC_TOKEN_PREFIX = "urn:kalend:sync:"

#: Collection properties that are the server's own markers, not WebDAV
#: properties (see ``Collection.get_meta``).
INTERNAL_PREFIX = "kalend:"

#: How many hrefs go into one ``IN (…)`` list.
_IN_CHUNK = 500


@dataclass(frozen=True)
class StoredVersion:
    """An object as stored: what a write compares before it replaces it."""

    item: radicale_item.Item
    schedule_tag: str | None

    @property
    def text_and_schedule_tag(self) -> tuple[str, str | None]:
        """As ``Collection.text_and_schedule_tag`` gives it."""
        return self.item.serialize(), self.schedule_tag

_ITEM_COLUMNS = (schema.item.c.href, schema.item.c.uid, schema.item.c.etag,
                 schema.item.c.name, schema.item.c.component, schema.item.c.text,
                 schema.item.c.start, schema.item.c.end, schema.item.c.modified,
                 schema.item.c.schedule_tag)


def _listing(with_text: bool):
    i = schema.item.c
    text = i.text if with_text else null().label("text")
    return select(i.href, i.etag, i.name, i.component, i.modified, text,
                  i.schedule_tag).where(i.collection_id == bindparam("cid"))


#: The columns listing responses need, built once (see ``item_rows``).
_LISTING_WITH_TEXT = _listing(True)
_LISTING_WITHOUT_TEXT = _listing(False)


@functools.cache
def _matching_items_statement(component: str, with_text: bool = True,
                              with_outside: bool = True, changed: bool = False):
    """Item rows with an instance in a range, then (``indexed`` false) the
    rows whose index window misses part of it, to be expanded on the fly;
    one statement, built once per component, so a week view costs one round
    trip (parameters: ``occurrence_index.range_parameters`` and
    ``outside_window_parameters``). Without text, the in-index rows carry
    NULL for it (the outside rows keep theirs: they are expanded here).
    ``with_outside`` false leaves the second part out, for a range that
    every item's window covers (``Collection.index_covers``). ``changed``
    keeps only the items written after the change sequence ``since``."""
    columns = _ITEM_COLUMNS if with_text else tuple(
        null().label("text") if column is schema.item.c.text else column
        for column in _ITEM_COLUMNS)
    in_index = select(*columns, true().label("indexed")).where(
        occurrence_index.item_has_instance(component, changed))
    if not with_outside:
        return in_index
    outside = occurrence_index.outside_window_statement(
        (*_ITEM_COLUMNS, false().label("indexed")), component)
    if changed:
        outside = outside.where(schema.item.c.href.in_(occurrence_index.changed_hrefs()))
    return union_all(in_index, outside)


@dataclass(frozen=True)
class Changes:
    """The items written or deleted after the change sequence ``since``
    (``Collection.changes_since``)."""

    since: int
    hrefs: frozenset[str]


@functools.cache
def _changes_statement():
    """(seq, href) of the change log after sequence ``seq``, at most ``n`` rows."""
    c = schema.change.c
    return (select(c.seq, c.href)
            .where(c.collection_id == bindparam("cid"), c.seq > bindparam("seq"))
            .limit(bindparam("n")))


class InvalidSyncTokenError(ValueError):
    """Radicale answers a ValueError from ``sync`` with DAV:valid-sync-token."""


def format_sync_token(collection_id: int, seq: int) -> str:
    return f"{SYNC_TOKEN_PREFIX}{collection_id}:{seq}"


def parse_sync_token(token: str) -> tuple[int, int]:
    if not token.startswith(SYNC_TOKEN_PREFIX):
        raise InvalidSyncTokenError(f"not a kalend sync token: {token!r}")
    try:
        collection_id, seq = token[len(SYNC_TOKEN_PREFIX):].split(":")
        return int(collection_id), int(seq)
    except ValueError as exc:
        raise InvalidSyncTokenError(f"malformed sync token: {token!r}") from exc


def record_change(connection: Connection, collection_id: int,
                  changes: Iterable[tuple[str, bool]], now: float) -> int:
    """Advance the collection's sequence and log ``(href, deleted)`` pairs.

    The UPDATE takes the collection row's lock, which also orders concurrent
    writers of one collection on databases without advisory locks.
    """
    seq = connection.execute(
        update(schema.collection)
        .where(schema.collection.c.id == collection_id)
        .values(sync_seq=schema.collection.c.sync_seq + 1, modified=now)
        .returning(schema.collection.c.sync_seq)).scalar_one()
    rows = [{"collection_id": collection_id, "seq": seq, "href": href,
             "deleted": deleted, "created": now} for href, deleted in changes]
    if rows:
        connection.execute(insert(schema.change), rows)
    return seq


class Collection(radicale_storage.BaseCollection):

    def __init__(self, storage: Storage, row: Mapping[str, Any]) -> None:
        self._storage = storage
        self._id: int = row["id"]
        self._path: str = row["path"]
        self._load(row)

    def _load(self, row: Mapping[str, Any]) -> None:
        self._tag: str = row["tag"] or ""
        self._props: dict[str, str] = json.loads(row["props"] or "{}")
        self._sync_seq: int = row["sync_seq"]
        self._sync_floor: int = row["sync_floor"]
        self._modified: float = row["modified"]
        #: (latest index window start, earliest end) among the items; None
        #: when the row came without them (then nothing is assumed).
        self._index_window: tuple[int | None, int | None] | None = (
            (row["index_from"], row["index_until"]) if "index_until" in row else None)

    def index_covers(self, start: int, end: int) -> bool:
        """Whether every item's index window covers [start, end), so that no
        item needs expanding on the fly for it (true for an empty calendar).

        Why: a range query then leaves out the statement's part for items
        outside their window, whose planning and execution cost the week
        view about an eighth of its database time on PostgreSQL."""
        if self._index_window is None:
            return False
        latest_start, earliest_end = self._index_window
        if latest_start is None or earliest_end is None:
            return True
        return latest_start <= start and earliest_end >= end

    def _refresh(self) -> None:
        row = self._conn.execute(
            select(schema.collection).where(schema.collection.c.id == self._id)
        ).mappings().one_or_none()
        if row is not None:
            self._load(row)

    @property
    def _conn(self) -> Connection:
        return current_connection()

    # -- identity and metadata ----------------------------------------------

    @property
    def id(self) -> int:
        return self._id

    @property
    def path(self) -> str:
        return self._path

    @property
    def tag(self) -> str:
        return self._tag

    @property
    def etag(self) -> str:
        # Every write, delete and PROPPATCH advances sync_seq, so the pair
        # (row, sequence) changes exactly when the collection does. Radicale
        # hashes every item instead, reading the whole collection.
        return f'"kalend-{self._id}-{self._sync_seq}"'

    @property
    def answer_version(self) -> str:
        """What every answer about this collection depends on: its contents
        (the ETag) and the oldest sync token still honoured (pruning the
        change log turns old tokens from a diff into DAV:valid-sync-token)."""
        return f"{self.etag}-{self._sync_floor}"

    @property
    def last_modified(self) -> str:
        return http_date(self._modified)

    @overload
    def get_meta(self, key: None = None) -> Mapping[str, str]: ...

    @overload
    def get_meta(self, key: str) -> str | None: ...

    def get_meta(self, key: str | None = None
                 ) -> Mapping[str, str] | str | None:
        """The collection's properties; the server's own markers
        (``kalend:…``, such as what makes an inbox an inbox) only when asked
        for by name. Radicale lists every property for allprop and propname,
        and has no namespace for a ``kalend:`` name: a PROPFIND allprop of an
        inbox answered 500."""
        if key is None:
            return {k: v for k, v in self._props.items() if not k.startswith(INTERNAL_PREFIX)}
        return self._props.get(key)

    def set_meta(self, props: Mapping[str, str]) -> None:
        """Replace the properties (Radicale's PROPPATCH passes all of them,
        as ``get_meta`` listed them); the server's markers stay unless named."""
        now = time.time()
        kept = {k: v for k, v in self._props.items() if k.startswith(INTERNAL_PREFIX)}
        merged = {**kept, **props}
        self._conn.execute(
            update(schema.collection)
            .where(schema.collection.c.id == self._id)
            .values(props=json.dumps(merged, sort_keys=True),
                    tag=merged.get("tag", "") or ""))
        record_change(self._conn, self._id, (), now)
        self._refresh()

    # -- reading items --------------------------------------------------------

    def _select_items(self):
        return select(*_ITEM_COLUMNS).where(schema.item.c.collection_id == self._id)

    def _get(self, href: str) -> radicale_item.Item | None:
        version = self.stored_version(href)
        return None if version is None else version.item

    def stored_version(self, href: str) -> StoredVersion | None:
        """The item at ``href`` with its Schedule-Tag, in one query: a PUT
        checks both, and hands the version to ``upload``, in the write
        transaction, where every statement lengthens the time others wait."""
        row = self._conn.execute(
            self._select_items().where(schema.item.c.href == href)
        ).mappings().one_or_none()
        return None if row is None else StoredVersion(item_from_row(row, self),
                                                      row["schedule_tag"])

    def get_multi(self, hrefs: Iterable[str]
                  ) -> Iterator[tuple[str, radicale_item.Item | None]]:
        wanted = list(dict.fromkeys(hrefs))
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start:start + _IN_CHUNK]
            found = {row["href"]: row for row in self._conn.execute(
                self._select_items().where(schema.item.c.href.in_(chunk))
            ).mappings()}
            for href in chunk:
                row = found.get(href)
                yield href, (None if row is None else item_from_row(row, self))

    def item_rows(self, hrefs: Iterable[str] | None = None, with_text: bool = True
                  ) -> Iterator[tuple[str, str, str, str, float, str | None, str | None]]:
        """(href, etag, name, component, modified, text or None, Schedule-Tag) of the whole
        collection or of ``hrefs``, for responses that need no Radicale item
        objects; missing hrefs are simply absent."""
        statement = _LISTING_WITH_TEXT if with_text else _LISTING_WITHOUT_TEXT
        if hrefs is None:
            yield from self._conn.execute(statement.order_by(schema.item.c.href),
                                          {"cid": self._id})
            return
        wanted = list(dict.fromkeys(hrefs))
        for start in range(0, len(wanted), _IN_CHUNK):
            yield from self._conn.execute(
                statement.where(schema.item.c.href.in_(bindparam("hrefs", expanding=True))),
                {"cid": self._id, "hrefs": wanted[start:start + _IN_CHUNK]})

    def has_child_collections(self) -> bool:
        return bool(self._conn.execute(select(exists().where(
            schema.collection.c.parent_path == self._path,
            schema.collection.c.path != self._path))).scalar())

    def get_all(self) -> Iterator[radicale_item.Item]:
        result = self._conn.execute(
            self._select_items().order_by(schema.item.c.href)
            .execution_options(yield_per=500)).mappings()
        for row in result:
            yield item_from_row(row, self)

    def get_filtered(self, filters: Iterable[ET.Element]
                     ) -> Iterator[tuple[radicale_item.Item, bool]]:
        for row, matched in self.filtered_rows(filters):
            yield item_from_row(row, self), matched

    def filtered_rows(self, filters: Iterable[ET.Element], with_text: bool = True,
                      changed: Changes | None = None
                      ) -> Iterator[tuple[Mapping[str, Any], bool]]:
        """Answer CALDAV:time-range filters from the occurrence index.

        Only items with an instance in the range are read. ``filters_matched``
        (Radicale then skips parsing the item) is true when the filter is a
        component with a time range and nothing else, for VEVENT and VJOURNAL
        whose §9.9 rule the index applies exactly; VTODO rows are a superset
        that Radicale narrows. Other filters (text-match, param-filter,
        is-not-defined) are applied by Radicale afterwards. A filter that asks
        only for alarms firing in a range is answered exactly by
        ``alarm_query``; VALARM ranges mixed with other filters are left to
        Radicale.

        ``with_text`` false lets the exactly matched rows come without their
        text (None), for a caller that keeps calendar data by ETag; rows that
        Radicale must still test always carry it.

        ``changed``: only the items written since are wanted (an answer
        brought up to date after a few changes); the index query is narrowed
        to them.
        """
        hrefs = None if changed is None else changed.hrefs
        if not self._tag or (hrefs is not None and not hrefs):
            return
        filters = list(filters)
        alarms = alarm_query.alarm_range(filters) if self._tag == "VCALENDAR" else None
        if alarms is not None:
            for row in alarm_query.matching_rows(
                    self._conn, self._id, _ITEM_COLUMNS, alarms, self.query_zone(),
                    self._storage.max_instances_per_query):
                if hrefs is None or row["href"] in hrefs:
                    yield row, True
            return
        tag, start, end, simple = radicale_filter.simplify_prefilters(filters, self._tag)
        unbounded = start <= radicale_filter.TIMESTAMP_MIN and end >= radicale_filter.TIMESTAMP_MAX
        if self._tag != "VCALENDAR" or unbounded or tag is None:
            for row, matched in self._filtered_by_overall_range(tag, start, end, simple):
                if hrefs is None or row["href"] in hrefs:
                    yield row, matched
            return
        zone = self.query_zone()
        exact = simple and tag in ("VEVENT", "VJOURNAL")
        parameters: dict[str, Any] = occurrence_index.range_parameters(
            self._id, start, end, zone)
        with_outside = not self.index_covers(start, end)
        if with_outside:
            parameters.update(occurrence_index.outside_window_parameters(self._id, start, end))
        if changed is not None:
            parameters["since"] = changed.since
        seen: set[str] = set()
        outside = []
        statement = _matching_items_statement(tag, with_text or not exact, with_outside,
                                              changed is not None)
        for row in compiled_sql.mappings(self._conn, statement, parameters):
            if row["indexed"]:
                seen.add(row["href"])
                yield row, exact
            else:
                outside.append(row)
        for row in outside:
            if row["href"] not in seen and self._has_instance(row["text"], tag, start, end, zone):
                yield row, exact

    def _filtered_by_overall_range(self, tag: str | None, start: int, end: int,
                                   simple: bool) -> Iterator[tuple[Mapping[str, Any], bool]]:
        query = self._select_items()
        if tag is not None:
            query = query.where(schema.item.c.component == tag)
        if start > radicale_filter.TIMESTAMP_MIN:
            query = query.where(schema.item.c.end > start)
        if end < radicale_filter.TIMESTAMP_MAX:
            query = query.where(schema.item.c.start < end)
        for row in self._conn.execute(query.execution_options(yield_per=500)).mappings():
            istart, iend = row["start"], row["end"]
            yield row, simple and (start <= istart or iend <= end)

    def _has_instance(self, text: str, component: str, start: int, end: int,
                      zone: dt.tzinfo | None) -> bool:
        """Expand an item on the fly for a range its index window misses,
        until its first instance in the range. An item too costly to walk
        that far (``expansion_budget``) is kept: a client shown one object
        too many expands it itself, one left out would lose it."""
        try:
            calendar = occ.parse(text)
            return any(o.component == component and occ.overlaps(o, start, end, zone)
                       for o in occ.occurrences_of_instances(calendar, start, end))
        except occ.InstanceLimitError as exc:
            logger.info("collection %r: an item kept in a query without expanding it: %s",
                        self._path, exc)
            return True
        except Exception:
            return True  # unreadable for the library: let Radicale decide

    def query_zone(self) -> dt.tzinfo | None:
        """The zone floating times are compared in (RFC 4791 §9.9)."""
        zone = occurrence_index.query_timezone.get()
        if zone is not None:
            return zone
        calendar_timezone = self._props.get("C:calendar-timezone")
        return occ.zone_from_vtimezone(calendar_timezone) if calendar_timezone else None

    def serialize(self, vcf_to_ics: bool = False, ShareActions: dict = {}) -> str:  # noqa: B006 (Radicale's signature)
        # PROPFIND's DAV:getcontentlength (and allprop) of a collection
        # serialises it after Radicale has released the storage lock
        # (app/propfind.py, xml_propfind_response): read in a transaction of
        # its own then (inside one, ``transaction`` joins it).
        with transaction(self._storage.engine, "r"):
            return super().serialize(vcf_to_ics=vcf_to_ics, ShareActions=ShareActions)

    def has_uid(self, uid: str) -> bool:
        return bool(self._conn.execute(select(exists().where(
            schema.item.c.collection_id == self._id,
            schema.item.c.uid == uid))).scalar())

    # -- sync-collection (RFC 6578) --------------------------------------------

    @property
    def sync_seq(self) -> int:
        """The collection's change sequence, as its ETag and sync token carry it."""
        return self._sync_seq

    def changes_since(self, seq: int, limit: int) -> Changes | None:
        """The hrefs written or deleted after sequence ``seq``, so that an
        answer computed at ``seq`` can be brought up to date by looking at
        those items only.

        None when the change log cannot tell: ``seq`` is older than the log
        kept (or not this collection's), more than ``limit`` hrefs changed,
        or a step changed no item. Such a step is a PROPPATCH, and the
        calendar's properties decide answers too (its calendar-timezone
        decides how floating times compare, RFC 4791 §9.9)."""
        if seq < self._sync_floor or seq > self._sync_seq:
            return None
        if seq == self._sync_seq:
            return Changes(seq, frozenset())
        rows = compiled_sql.mappings(self._conn, _changes_statement(),
                                     {"cid": self._id, "seq": seq, "n": limit + 1})
        if len(rows) > limit or len({row["seq"] for row in rows}) != self._sync_seq - seq:
            return None
        return Changes(seq, frozenset(row["href"] for row in rows))

    def sync(self, old_token: str = "") -> tuple[str, Iterable[str]]:
        # Radicale's PROPFIND asks for DAV:sync-token after it has released
        # the storage lock (app/propfind.py, xml_propfind), so this may run
        # outside the request's transaction: open a read of its own then
        # (inside one, ``transaction`` joins it).
        with transaction(self._storage.engine, "r"):
            return self._sync(old_token)

    def _sync(self, old_token: str) -> tuple[str, Iterable[str]]:
        token = format_sync_token(self._id, self._sync_seq)
        if not old_token:
            hrefs = self._conn.execute(
                select(schema.item.c.href)
                .where(schema.item.c.collection_id == self._id)
                .order_by(schema.item.c.href)).scalars().all()
            return token, hrefs
        collection_id, seq = parse_sync_token(old_token)
        if collection_id != self._id:
            raise InvalidSyncTokenError("sync token belongs to another collection")
        if seq > self._sync_seq:
            raise InvalidSyncTokenError("sync token from the future")
        if seq < self._sync_floor:
            raise InvalidSyncTokenError(
                "sync token older than the retained change log")
        hrefs = self._conn.execute(
            select(schema.change.c.href)
            .where(schema.change.c.collection_id == self._id,
                   schema.change.c.seq > seq)
            .group_by(schema.change.c.href)
            .order_by(schema.change.c.href)).scalars().all()
        return token, hrefs

    # -- writing ----------------------------------------------------------------

    def upload(self, href: str, item: radicale_item.Item, *,
               replacing: StoredVersion | None | Literal["unread"] = "unread"
               ) -> tuple[radicale_item.Item, radicale_item.Item | None]:
        """Store ``item`` at ``href``: (the stored item, the one it replaced).
        ``replacing`` is the version the caller read at ``href`` in this
        transaction (None: there was none), which spares reading it again."""
        now = time.time()
        if isinstance(replacing, str):      # "unread"
            old = self._get(href)
        else:
            old = None if replacing is None else replacing.item
        values = row_values(item, now)
        plan = self._plan_index(values)
        columns = {**values, **(plan.item_columns() if plan else {})}
        if old is None:
            item_id = self._conn.execute(insert(schema.item).values(
                collection_id=self._id, href=href, **columns)
                .returning(schema.item.c.id)).scalar_one()
        else:
            item_id = self._conn.execute(
                update(schema.item)
                .where(schema.item.c.collection_id == self._id,
                       schema.item.c.href == href)
                .values(**columns).returning(schema.item.c.id)).scalar_one()
        if plan:
            occurrence_index.write_index(self._conn, item_id, self._id, plan,
                                         replace=old is not None)
        self._sync_seq = record_change(self._conn, self._id, [(href, False)], now)
        self._modified = now
        stored = item_from_row({"href": href, **values}, self)
        return stored, old

    def put_text(self, href: str, text: str) -> radicale_item.Item:
        """Store iCalendar text written by the server (scheduling delivery)."""
        stored, _ = self.upload(href, item_from_text(self, text))
        return stored

    def text_of(self, href: str) -> str | None:
        row = self._conn.execute(
            select(schema.item.c.text).where(schema.item.c.collection_id == self._id,
                                             schema.item.c.href == href)).first()
        return None if row is None else row[0]

    def text_and_schedule_tag(self, href: str) -> tuple[str | None, str | None]:
        """(text, Schedule-Tag) of an item in one query ((None, None) when
        there is no such item): what every write checks before scheduling."""
        row = self._conn.execute(
            select(schema.item.c.text, schema.item.c.schedule_tag)
            .where(schema.item.c.collection_id == self._id,
                   schema.item.c.href == href)).first()
        return (None, None) if row is None else (row[0], row[1])

    def schedule_tag(self, href: str) -> str | None:
        return self._conn.execute(
            select(schema.item.c.schedule_tag).where(schema.item.c.collection_id == self._id,
                                                     schema.item.c.href == href)).scalar()

    def set_schedule_tag(self, href: str, tag: str | None) -> None:
        """RFC 6638 §3.2.10: kept apart from the item's ETag, changed only
        when the scheduling side of the object changes. It still counts as
        a change of the collection (listings show CALDAV:schedule-tag, and
        cached answers are keyed on the collection's sync sequence)."""
        changed = self._conn.execute(
            update(schema.item).where(schema.item.c.collection_id == self._id,
                                      schema.item.c.href == href,
                                      schema.item.c.schedule_tag.is_distinct_from(tag))
            .values(schedule_tag=tag)).rowcount
        if changed:
            self._sync_seq = record_change(self._conn, self._id, [(href, False)], time.time())

    def upload_all(self, items: Iterable[radicale_item.Item], suffix: str
                   ) -> list[str]:
        """Insert items of a whole-collection PUT; returns their hrefs."""
        now = time.time()
        rows = []
        taken: set[str] = set()
        for item in items:
            href = _href_for(item.uid, suffix, taken)
            taken.add(href)
            rows.append({"collection_id": self._id, "href": href,
                         **row_values(item, now)})
        for row in rows:
            deadline.check("storing an upload")
            plan = self._plan_index(row)
            columns = {**row, **(plan.item_columns() if plan else {})}
            item_id = self._conn.execute(
                insert(schema.item).values(**columns).returning(schema.item.c.id)).scalar_one()
            if plan:
                occurrence_index.write_index(self._conn, item_id, self._id, plan,
                                             replace=False)
        if rows:
            self._sync_seq = record_change(
                self._conn, self._id, [(r["href"], False) for r in rows], now)
        return [r["href"] for r in rows]

    def _plan_index(self, values: Mapping[str, Any]) -> occurrence_index.IndexPlan | None:
        """The item's occurrences, computed before its row is written so that
        the row carries its window (one statement fewer inside the lock)."""
        if self._tag != "VCALENDAR" or values.get("name") != "VCALENDAR":
            return None
        return occurrence_index.plan_for_write(values["text"], (values["start"], values["end"]),
                                               self._storage.index_settings())

    def delete(self, href: str | None = None) -> None:
        if href is None:
            self._storage.delete_collection_tree(self._path)
            return
        deleted = self._conn.execute(
            delete(schema.item).where(schema.item.c.collection_id == self._id,
                                      schema.item.c.href == href)).rowcount
        if not deleted:
            raise radicale_storage.ComponentNotFoundError(href)
        self._sync_seq = record_change(self._conn, self._id, [(href, True)], time.time())

    def clear_items(self) -> dict[str, radicale_item.Item]:
        """Remove every item (whole-collection replacement), logging deletions."""
        old = {item.href: item for item in self.get_all() if item.href}
        if old:
            self._conn.execute(
                delete(schema.item).where(schema.item.c.collection_id == self._id))
            self._sync_seq = record_change(
                self._conn, self._id, [(href, True) for href in old], time.time())
        return old


def _href_for(uid: str, suffix: str, taken: set[str]) -> str:
    """An href for an item of a whole-collection upload, derived from its UID
    where that makes a safe path component (as Radicale does)."""
    candidate = uid + suffix
    if uid and pathutils.is_safe_filesystem_path_component(candidate) and candidate not in taken:
        return candidate
    return str(uuid.uuid4()) + suffix
