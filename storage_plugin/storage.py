"""Radicale's ``BaseStorage`` on SQLAlchemy: discovery, collections, MOVE.

Configure Radicale (or kalend) with ``[storage] type = kalend.storage_plugin``.
"""

from __future__ import annotations

import logging
import posixpath
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import radicale.item as radicale_item
from radicale import config as radicale_config
from radicale import pathutils, types
from radicale import storage as radicale_storage
from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from kalend.storage_plugin import occurrence_index, schema
from kalend.storage_plugin.collection import Collection, record_change
from kalend.storage_plugin.engine import make_engine
from kalend.storage_plugin.occurrence_index import IndexSettings
from kalend.storage_plugin.settings import database_url, occurrence_window, with_storage_options
from kalend.storage_plugin.transaction import (
    current_connection,
    lock_scope,
    snapshot_memo,
    transaction,
)

logger = logging.getLogger("kalend.storage")

def _with_index_window(statement):
    """A collection lookup that also brings the window every item's index
    covers (see ``Collection.index_covers``): the latest window start and
    the earliest window end among its items, two index probes, made for
    calendar collections only (a principal or an address book has no use
    for them; the databases evaluate a CASE branch's subquery only when
    the branch is taken)."""
    item, collection = schema.item.c, schema.collection.c
    calendar = collection.tag == "VCALENDAR"
    return statement.add_columns(
        case((calendar, select(func.max(item.occ_from))
              .where(item.collection_id == collection.id).scalar_subquery()))
        .label("index_from"),
        case((calendar, select(func.min(item.occ_until))
              .where(item.collection_id == collection.id).scalar_subquery()))
        .label("index_until"))


#: Every request looks up collections by path several times (principal,
#: target, parent); built once, it costs SQLAlchemy no expression work.
_COLLECTION_BY_PATH = _with_index_window(select(schema.collection).where(
    schema.collection.c.path == bindparam("path")))
_COLLECTIONS_BY_PATH = _with_index_window(select(schema.collection).where(
    schema.collection.c.path.in_(bindparam("paths", expanding=True))))


def _null_child_context(_path: str, _href: str | None) -> AbstractContextManager[None]:
    return nullcontext()


def parent_of(path: str) -> str | None:
    """The parent collection path of a stripped path ('' for top level)."""
    if not path:
        return None
    return posixpath.dirname(path)


def owner_of(path: str) -> str:
    return path.split("/", 1)[0] if path else ""


class Storage(radicale_storage.BaseStorage):
    # Names live in SQL strings, not file names: nothing collides and every
    # character Radicale's path checks let through can be stored.
    _is_collision_free = True
    _supports_unicode = True
    _supports_trailing_whitespace = True
    _supports_problematic_chars = True

    def __init__(self, configuration: radicale_config.Configuration,
                 engine: Engine | None = None) -> None:
        configuration = with_storage_options(configuration)
        super().__init__(configuration)
        self.url = database_url(configuration)
        self.engine = engine if engine is not None else make_engine(
            self.url, pool_size=configuration.get("storage", "pool_size"),
            lock_wait=configuration.get("limits", "lock_wait"),
            statement_timeout=configuration.get("limits", "request_deadline"))
        # Imported here: migrations import this package's schema module.
        from kalend.storage_plugin.migrate import ensure_current
        ensure_current(self.engine)
        #: Called with a principal's path when its home is first created
        #: (the server provisions the scheduling collections there).
        self.on_principal_created: Callable[[str], None] | None = None

    # -- the occurrence index ---------------------------------------------------

    def index_settings(self, now: float | None = None) -> IndexSettings:
        return IndexSettings(
            window=occurrence_window(self.configuration, time.time() if now is None else now),
            max_instances_per_object=self.configuration.get("storage",
                                                            "max_instances_per_object"),
            max_expansion_steps=self.configuration.get("limits", "max_expansion_steps"))

    @property
    def max_instances_per_query(self) -> int:
        return self.configuration.get("storage", "max_instances_per_query")

    def extend_occurrence_windows(self, batch_size: int = 200,
                                  now: float | None = None) -> int:
        """Bring every item's materialised window up to the current one, in
        batches of one transaction each; idempotent. Returns items touched."""
        settings = self.index_settings(now)
        touched, after_id = 0, 0
        while True:
            with transaction(self.engine, "w", ["kalend-occurrence-window"]):
                batch = occurrence_index.windows_to_extend(
                    self._conn, settings.window, after_id, batch_size)
                if not batch:
                    return touched
                touched += occurrence_index.reindex(self._conn, batch, settings)
            after_id = batch[-1][0]

    # -- transactions -------------------------------------------------------

    @types.contextmanager
    def acquire_lock(self, mode: str, user: str = "", *args, **kwargs
                     ) -> Iterator[None]:
        """One database transaction for the request (see ``transaction``)."""
        scopes = [lock_scope(p) for p in (kwargs.get("path"), kwargs.get("to_path")) if p]
        if not scopes:
            scopes = [user or ""]
        with transaction(self.engine, mode, scopes):
            yield

    @property
    def _conn(self) -> Connection:
        return current_connection()

    # -- discovery ------------------------------------------------------------

    def _collection_row(self, path: str) -> Mapping[str, Any] | None:
        shared = snapshot_memo()
        if shared is None:
            return self._conn.execute(_COLLECTION_BY_PATH,
                                      {"path": path}).mappings().one_or_none()
        memo, named = shared
        if path not in memo:
            # The request's own paths come along (see transaction.snapshot_memo).
            wanted = list(dict.fromkeys([path, *(p for p in named if p not in memo)]))
            memo.update(dict.fromkeys(wanted))
            for row in self._conn.execute(_COLLECTIONS_BY_PATH, {"paths": wanted}).mappings():
                memo[row["path"]] = row
        return memo[path]

    def collection_at(self, path: str) -> Collection | None:
        """The collection at a path, with or without its slashes."""
        row = self._collection_row(pathutils.strip_path(pathutils.sanitize_path(path)))
        return None if row is None else Collection(self, row)

    def discover(self, path: str, depth: str = "0",
                 child_context_manager: Callable[[str, str | None], AbstractContextManager[None]] | None = None,
                 user_groups: set[str] = set()  # noqa: B006 (Radicale's signature)
                 ) -> Iterator[types.CollectionOrItem]:
        child_context = child_context_manager or _null_child_context
        sane_path = pathutils.strip_path(path)
        row = self._collection_row(sane_path)
        if row is None:
            parent_path = parent_of(sane_path)
            if parent_path is None:
                return
            parent_row = self._collection_row(parent_path)
            if parent_row is None:
                return
            item = Collection(self, parent_row)._get(posixpath.basename(sane_path))
            if item is not None:
                yield item
            return
        collection = Collection(self, row)
        yield collection
        if depth == "0":
            return
        for item in collection.get_all():
            with child_context(sane_path, item.href):
                yield item
        children = self._conn.execute(
            select(schema.collection)
            .where(schema.collection.c.parent_path == sane_path,
                   schema.collection.c.path != sane_path)
            .order_by(schema.collection.c.path)).mappings().all()
        for child in children:
            with child_context(child["path"], None):
                yield Collection(self, child)

    # -- creating and deleting collections ---------------------------------

    def _ensure_row(self, path: str, now: float) -> None:
        """Create the collection row (and its ancestors) if missing."""
        missing = []
        current: str | None = path
        while current is not None and self._collection_row(current) is None:
            missing.append(current)
            current = parent_of(current)
        for missing_path in reversed(missing):
            self._conn.execute(insert(schema.collection).values(
                path=missing_path, parent_path=parent_of(missing_path),
                owner=owner_of(missing_path), tag="", props="{}",
                sync_seq=0, sync_floor=0, modified=now))

    def create_collection(self, href: str,
                          items: Iterable[radicale_item.Item] | None = None,
                          props: Mapping[str, str] | None = None
                          ) -> tuple[Collection, dict[str, radicale_item.Item], list[str]]:
        sane_path = pathutils.strip_path(href)
        now = time.time()
        is_new_principal = ("/" not in sane_path and sane_path != ""
                            and self._collection_row(sane_path) is None)
        self._ensure_row(sane_path, now)
        collection = Collection(self, self._collection_row(sane_path))
        if is_new_principal and self.on_principal_created is not None:
            self.on_principal_created(sane_path)
        if not props:
            return collection, {}, []
        # Replacing a collection keeps its row, so that sync tokens handed out
        # before stay meaningful: every old href is logged as deleted and
        # every new one as written.
        old_items = collection.clear_items()
        collection.set_meta(props)
        new_hrefs: list[str] = []
        if items is not None:
            suffix = ".vcf" if props.get("tag") == "VADDRESSBOOK" else ".ics"
            new_hrefs = collection.upload_all(items, suffix)
        replaced = {h: old_items[h] for h in new_hrefs if h in old_items}
        created = [h for h in new_hrefs if h not in old_items]
        collection._refresh()
        return collection, replaced, created

    def delete_collection_tree(self, path: str) -> None:
        """Delete a collection, its descendants and (by cascade) their items
        and change logs."""
        if not path:
            raise ValueError("the root collection cannot be deleted")
        self._conn.execute(delete(schema.collection).where(or_(
            schema.collection.c.path == path,
            func.substr(schema.collection.c.path, 1, len(path) + 1) == path + "/")))

    # -- MOVE -------------------------------------------------------------------

    def move(self, item: radicale_item.Item, to_collection: radicale_storage.BaseCollection,
             to_href: str) -> None:
        source = item.collection
        assert isinstance(source, Collection) and isinstance(to_collection, Collection)
        assert item.href is not None
        if source.id == to_collection.id and item.href == to_href:
            return
        now = time.time()
        conn = self._conn
        conn.execute(delete(schema.item).where(
            schema.item.c.collection_id == to_collection.id,
            schema.item.c.href == to_href))
        item_id = conn.execute(
            update(schema.item)
            .where(schema.item.c.collection_id == source.id,
                   schema.item.c.href == item.href)
            .values(collection_id=to_collection.id, href=to_href, modified=now)
            .returning(schema.item.c.id)).scalar_one()
        occurrence_index.move_item(conn, item_id, to_collection.id)
        record_change(conn, source.id, [(item.href, True)], now)
        record_change(conn, to_collection.id, [(to_href, False)], now)

    # -- maintenance ----------------------------------------------------------

    def prune_change_log(self, older_than_seconds: float) -> int:
        """Drop change rows older than the retention; tokens that would need
        them are refused afterwards (RFC 6578 §3.7 lets the server forget)."""
        cutoff = time.time() - older_than_seconds
        conn = self._conn
        floors = conn.execute(
            select(schema.change.c.collection_id, func.max(schema.change.c.seq))
            .where(schema.change.c.created < cutoff)
            .group_by(schema.change.c.collection_id)).all()
        for collection_id, floor in floors:
            conn.execute(update(schema.collection)
                         .where(schema.collection.c.id == collection_id,
                                schema.collection.c.sync_floor < floor)
                         .values(sync_floor=floor))
        return conn.execute(delete(schema.change).where(
            schema.change.c.created < cutoff)).rowcount

    def verify(self) -> bool:
        """Check every stored item: it parses, its ETag matches its text, and
        UIDs are unique per collection. Logs each problem found."""
        ok = True
        max_occurrences = self.configuration.get("server", "max_vevent_rrule_occurrence")
        with transaction(self.engine, "r"):
            conn = self._conn
            for row in conn.execute(select(schema.collection)).mappings():
                collection = Collection(self, row)
                if row["path"] and self._collection_row(parent_of(row["path"]) or "") is None:
                    logger.error("collection %r has no parent collection", row["path"])
                    ok = False
                uids: dict[str, str] = {}
                for item in collection.get_all():
                    ok &= _verify_item(collection, item, uids, max_occurrences)
        return ok


def _verify_item(collection: Collection, item: radicale_item.Item,
                 uids: dict[str, str], max_occurrences: int) -> bool:
    where = f"{collection.path}/{item.href}"
    text = item.serialize()
    try:
        vobject_items = radicale_item.read_components(text)
        radicale_item.check_and_sanitize_items(
            vobject_items, tag=collection.tag,
            max_vevent_rrule_occurrence=max_occurrences)
    except Exception as exc:
        logger.error("item %r does not parse: %s", where, exc)
        return False
    if radicale_item.get_etag(text) != item.etag:
        logger.error("item %r has a stale ETag", where)
        return False
    if item.uid in uids:
        logger.error("item %r repeats UID %r of %r", where, item.uid, uids[item.uid])
        return False
    uids[item.uid] = where
    return True

