"""The occurrence index in SQL: writing an item's rows, and range queries.

Writes happen in the request's transaction, so an item and its occurrences
are committed together or not at all.

Range queries avoid the classic interval-index trap (``start < E AND end > S``
scans half the table): an occurrence shorter than ``LONG_SPAN_SECONDS`` that
overlaps [S, E) must start in [S - LONG_SPAN, E), a tight range on the
``(collection, component, floating, start)`` index; the few long ones come
from a partial index of their own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import ClassVar

from sqlalchemy import (
    Boolean,
    Connection,
    Select,
    and_,
    bindparam,
    delete,
    insert,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import SelectBase
from sqlalchemy.sql.visitors import InternalTraversal

from kalend.storage_plugin import expansion_budget, recurrence_rules, schema
from kalend.storage_plugin import occurrences as occ
from kalend.storage_plugin.alarm_bounds import NO_ALARMS, AlarmBounds, alarm_bounds

logger = logging.getLogger("kalend.storage.occurrences")

#: Items may carry floating instances up to this far from their UTC range.
_FLOATING_SLACK = 86400


#: The time zone floating times are compared in for the current request
#: (CALDAV:timezone of a calendar-query, RFC 4791 §9.8); when unset, the
#: calendar's CALDAV:calendar-timezone, else UTC.
query_timezone: ContextVar[dt.tzinfo | None] = ContextVar("kalend_query_timezone",
                                                             default=None)


@dataclass(frozen=True)
class IndexSettings:
    window: tuple[int, int]
    max_instances_per_object: int
    max_expansion_steps: int = expansion_budget.DEFAULT_BUDGET


# -- writing ----------------------------------------------------------------------


@dataclass(frozen=True)
class IndexPlan:
    """What to store for one item: its occurrence rows and its window."""

    occurrences: tuple[occ.Occurrence, ...]
    window_start: int
    window_end: int
    open_ended: bool
    alarms: AlarmBounds = NO_ALARMS
    past_capped: bool = False

    def item_columns(self) -> dict:
        return {"occ_from": self.window_start, "occ_until": self.window_end,
                "open_ended": self.open_ended, "occ_past_capped": self.past_capped,
                **self.alarms.item_columns()}


#: An object the expansion library cannot read: stored unindexed (window
#: from TIME_MAX to TIME_MIN), so queries expand it on the fly.
UNINDEXED = IndexPlan((), occ.TIME_MAX, occ.TIME_MIN, False)


#: Plans computed before the write transaction (``planned_ahead``), by
#: (text, overall range, window, instance limit): a write then finds its
#: object's plan instead of expanding it while holding the write lock.
_planned: ContextVar[dict[tuple, IndexPlan] | None] = ContextVar("kalend_planned_ahead",
                                                                  default=None)


#: Plans one request keeps (``planned_ahead``). A meeting's copies are
#: alike (every attendee's inbox copy is one text, every calendar copy
#: another), so a few suffice; the bound keeps a request whose copies all
#: differ from holding a plan per attendee.
_PLANS_KEPT = 64


def _plan_key(text: str, overall: tuple[int, int], settings: IndexSettings) -> tuple:
    # A digest rather than the text: a 1,000-attendee meeting is 80 kB.
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
    return (digest, overall, settings.window, settings.max_instances_per_object)


def _keep(memo: dict[tuple, IndexPlan], key: tuple, plan: IndexPlan) -> None:
    if len(memo) >= _PLANS_KEPT:
        del memo[next(iter(memo))]      # the oldest
    memo[key] = plan


@contextmanager
def planned_ahead() -> Iterator[None]:
    """Keep the plans that ``plan_ahead`` computes in this context for the
    writes that follow it (a PUT plans before it takes the write lock)."""
    token = _planned.set({})
    try:
        yield
    finally:
        _planned.reset(token)


def plan_ahead(text: str, overall: tuple[int, int], settings: IndexSettings) -> IndexPlan:
    """``plan_index`` for a new object, with its rules checked, kept for the
    write of exactly this text in the current ``planned_ahead`` context."""
    plan = plan_index(text, overall, settings, check_rules=True)
    memo = _planned.get()
    if memo is not None:
        _keep(memo, _plan_key(text, overall, settings), plan)
    return plan


def plan_for_write(text: str, overall: tuple[int, int], settings: IndexSettings) -> IndexPlan:
    """The plan of an object being written: computed ahead when the writer
    did so, else now (a server-written copy, an import), rules checked.

    Kept for the rest of the request too: delivering a meeting writes one
    inbox copy and one calendar copy per local attendee, all alike, and
    planning each anew was a third of the time per attendee (measured with
    150 attendees: 301 plans of 3 distinct texts, 6.7 s of a 20 s PUT under
    the profiler)."""
    memo = _planned.get()
    if memo is None:
        return plan_index(text, overall, settings, check_rules=True)
    key = _plan_key(text, overall, settings)
    found = memo.get(key)
    if found is None:
        found = plan_index(text, overall, settings, check_rules=True)
        _keep(memo, key, found)
    return found


def plan_index(text: str, overall: tuple[int, int], settings: IndexSettings,
               check_rules: bool = False) -> IndexPlan:
    """Compute an item's occurrences and alarm bounds (no I/O). ``InstanceLimitError``
    propagates, and with ``check_rules`` ``RecurrenceRuleRefused`` (the new
    object of a write); any other failure of the library leaves the item
    unindexed rather than refused (Radicale already accepted it)."""
    try:
        calendar = occ.parse(text)
        if check_rules:
            recurrence_rules.check_calendar(calendar)
        with expansion_budget.expansion_budget(settings.max_expansion_steps):
            expansion = occ.expand_for_storage(calendar, overall, settings.window,
                                               settings.max_instances_per_object)
        periods = occ.freebusy_component_periods(calendar)
    except (occ.InstanceLimitError, recurrence_rules.RecurrenceRuleRefused):
        raise
    except Exception as exc:  # a library limitation, not the client's fault
        logger.warning("an object is left out of the occurrence index: %s", exc)
        return dataclasses.replace(UNINDEXED, alarms=alarm_bounds(text))
    rows = list(expansion.occurrences) + [
        occ.Occurrence("VFREEBUSY", s, e, False, None, None, None, fbtype)
        for s, e, fbtype in periods]
    return IndexPlan(tuple(rows), expansion.window_start, expansion.window_end,
                     expansion.open_ended, alarm_bounds(text), expansion.past_capped)


def write_index(connection: Connection, item_id: int, collection_id: int, plan: IndexPlan,
                replace: bool) -> None:
    """Store the plan's occurrence rows; the window columns travel with the
    item row itself.

    When replacing, only rows that differ are deleted and inserted. Most
    edits (a title, a description, an attendee's PARTSTAT) leave every
    instance where it was, and rewriting them all would cost a recurring
    item hundreds of row writes per edit and leave as many dead rows. Dead
    rows slow every range query until a vacuum reaches them: index-only
    scans must visit the table for any page that holds one."""
    wanted = [_row(item_id, collection_id, o) for o in plan.occurrences]
    if replace:
        wanted = _replace_changed(connection, item_id, wanted)
    if wanted:
        connection.execute(insert(schema.occurrence), wanted)


#: The columns that make two occurrence rows the same (all but the id).
_COMPARED = ("collection_id", "component", "start", "end", "floating", "long_span",
             "recurrence_id", "status", "transp", "fbtype")


def _replace_changed(connection: Connection, item_id: int, wanted: list[dict]) -> list[dict]:
    """Delete the item's stored rows that ``wanted`` no longer has; return
    the wanted rows not stored yet. Rows are compared as a multiset: an
    object may hold two identical instances (RDATE repeating DTSTART)."""
    o = schema.occurrence.c
    stored = connection.execute(
        select(o.id, *(o[name] for name in _COMPARED)).where(o.item_id == item_id)).all()
    keyed = [(tuple(row[name] for name in _COMPARED), row) for row in wanted]
    missing = Counter(key for key, _row in keyed)
    obsolete = []
    for row in stored:
        key = tuple(row[1:])
        if missing[key] > 0:
            missing[key] -= 1
        else:
            obsolete.append(row[0])
    for chunk in range(0, len(obsolete), _DELETE_CHUNK):
        connection.execute(delete(schema.occurrence).where(
            o.id.in_(obsolete[chunk:chunk + _DELETE_CHUNK])))
    new = []
    for key, row in keyed:
        if missing[key] > 0:
            missing[key] -= 1
            new.append(row)
    return new


#: Ids per DELETE statement (SQLite allows 32766 bound parameters).
_DELETE_CHUNK = 1000


def index_item(connection: Connection, item_id: int, collection_id: int, text: str,
               overall: tuple[int, int], settings: IndexSettings) -> None:
    """Re-materialise a stored item (maintenance)."""
    plan = plan_index(text, overall, settings)
    write_index(connection, item_id, collection_id, plan, replace=True)
    connection.execute(update(schema.item).where(schema.item.c.id == item_id)
                       .values(**plan.item_columns()))


def _row(item_id: int, collection_id: int, occurrence: occ.Occurrence) -> dict:
    return {"item_id": item_id, "collection_id": collection_id,
            "component": occurrence.component, "start": occurrence.start,
            "end": occurrence.end, "floating": occurrence.floating,
            "long_span": occurrence.long_span, "recurrence_id": occurrence.recurrence_id,
            "status": occurrence.status, "transp": occurrence.transp,
            "fbtype": occurrence.fbtype}


def _mark(connection: Connection, item_id: int, window_start: int, window_end: int,
          open_ended: bool) -> None:
    connection.execute(update(schema.item).where(schema.item.c.id == item_id).values(
        occ_from=window_start, occ_until=window_end, open_ended=open_ended,
        occ_past_capped=False))


def move_item(connection: Connection, item_id: int, collection_id: int) -> None:
    connection.execute(update(schema.occurrence)
                       .where(schema.occurrence.c.item_id == item_id)
                       .values(collection_id=collection_id))


# -- reading ---------------------------------------------------------------------------


def _long_hit(start, end, inclusive: bool):
    """The overlap test for long rows, led by their end so that the partial
    (collection, component, floating, end) index finds them: few long rows end
    after a range starts, while nearly all started before it. ``start + 0``
    keeps SQLite off the start index, which would walk the whole history."""
    o = schema.occurrence.c
    if inclusive:
        return and_(o.end >= start, (o.start + 0) <= end)
    # A long row is never zero-length, so "end > start" is the whole §9.9 test.
    return and_(o.end > start, (o.start + 0) < end)


def _range_selects(columns: Sequence, component: str, collection_clause,
                   extra: Sequence = ()) -> list[Select]:
    """The four selects (exact and floating rows, short and long) of a
    component's occurrences overlapping a range given as bound parameters:
    the UTC range ``s``/``e`` and its wall-clock twin ``ls``/``le`` for
    floating rows (see ``range_parameters``)."""
    base = [collection_clause, schema.occurrence.c.component == component, *extra]
    return [select(*columns).where(*base, *hit) for hit in _range_hits(component)]


def _range_hits(component: str) -> list[list]:
    """The conditions of each of the four parts of ``_range_selects``."""
    o = schema.occurrence.c
    inclusive = component == "VTODO"
    hits = []
    for floating, (low, high, low_min) in ((False, ("s", "e", "s_min")),
                                           (True, ("ls", "le", "ls_min"))):
        s, e = bindparam(low), bindparam(high)
        hit = (and_(o.start <= e, o.end >= s) if inclusive
               else and_(o.start < e, or_(o.end > s, o.start >= s)))
        hits.append([o.floating.is_(floating), o.start >= bindparam(low_min), hit])
        hits.append([o.floating.is_(floating), o.long_span, _long_hit(s, e, inclusive)])
    return hits


@functools.cache
def matching_ids_statement(component: str, changed: bool = False):
    """The ids of a collection (``cid``)'s items with an instance overlapping
    a range, as one statement built once per component with bound parameters
    (building SQLAlchemy expressions per request cost more than running the
    query). ``changed``: only among the items written after the change
    sequence ``since`` (see ``changed_item_ids``)."""
    o = schema.occurrence.c
    if changed:
        # A few items: their occurrences, found by item, tested in one pass.
        # No test on the collection: the items are the collection's, and the
        # test would lead SQLite to walk the range index over the whole
        # collection (23 ms at ten thousand items, against 0.3 ms).
        return select(o.item_id).distinct().where(
            o.item_id.in_(changed_item_ids()), o.component == component,
            or_(*(and_(*hit) for hit in _range_hits(component))))
    return union(*_range_selects([o.item_id], component, o.collection_id == bindparam("cid")))


def changed_hrefs():
    """The hrefs the change log of collection ``cid`` names after sequence
    ``since``: a join on the log rather than a list of parameters, so that
    the statement is the same whatever changed."""
    c = schema.change.c
    return select(c.href).where(c.collection_id == bindparam("cid"),
                                c.seq > bindparam("since"))


def changed_item_ids():
    """The ids of the items behind ``changed_hrefs`` (deleted ones have none)."""
    i = schema.item.c
    return select(i.id).where(i.collection_id == bindparam("cid"),
                              i.href.in_(changed_hrefs()))


class IdsFrom(ColumnElement[bool]):
    """``column IN (ids)`` for a subquery of matching item ids, written as
    ``column = ANY(ARRAY(ids))`` on PostgreSQL.

    Why: PostgreSQL estimates the IN form from the index range, which the
    long-span slack widens to several times the real matches; at ten
    thousand items that estimate tips it into hashing the whole item table
    (7 ms for a week of 309 items, against 2 ms). The array is computed once
    as an init plan, and ``= ANY`` of it is always fetched through the
    primary key. SQLite already probes rowids for the IN form.
    """

    inherit_cache = True
    type = Boolean()
    #: A comparison already: SQLite must not get "… = 1" appended, which
    #: would hide the IN from its planner.
    _is_implicitly_boolean = True
    _traverse_internals: ClassVar = [("column", InternalTraversal.dp_clauseelement),
                                     ("ids", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement, ids: SelectBase) -> None:
        self.column = column
        self.ids = ids


@compiles(IdsFrom)
def _ids_from_in(element: IdsFrom, compiler, **kw) -> str:
    return compiler.process(element.column.in_(element.ids), **kw)


@compiles(IdsFrom, "postgresql")
def _ids_from_any_array(element: IdsFrom, compiler, **kw) -> str:
    column = compiler.process(element.column, **kw)
    # scalar_subquery renders "(SELECT …)", the ARRAY constructor's own parentheses.
    return f"{column} = ANY(ARRAY{compiler.process(element.ids.scalar_subquery(), **kw)})"


def item_has_instance(component: str, changed: bool = False) -> IdsFrom:
    """WHERE clause: the item has an instance of ``component`` in the range
    given as bound parameters (see ``range_parameters``); ``changed``: and
    was written after the change sequence ``since``."""
    return IdsFrom(schema.item.c.id, matching_ids_statement(component, changed))


@functools.cache
def busy_statement():
    """(start, end, floating, fbtype) of the busy VEVENT instances and
    VFREEBUSY periods of the collections ``cids`` in a range, built once."""
    o = schema.occurrence.c
    columns = [o.start, o.end, o.floating, o.fbtype]
    collections = o.collection_id.in_(bindparam("cids", expanding=True))
    return union(*[part for component in ("VEVENT", "VFREEBUSY")
                   for part in _range_selects(columns, component, collections,
                                              [o.fbtype != occ.FREE])])


def range_parameters(collection_id: int, start: int, end: int,
                     zone: dt.tzinfo | None) -> dict[str, int]:
    local_start, local_end = occ.wall_clock(start, zone), occ.wall_clock(end, zone)
    return {"cid": collection_id, "s": start, "e": end,
            "s_min": start - occ.LONG_SPAN_SECONDS, "ls": local_start, "le": local_end,
            "ls_min": local_start - occ.LONG_SPAN_SECONDS}


@functools.cache
def outside_window_statement(columns: tuple, component: str):
    """Items of a collection whose index window misses part of [s, e) and
    whose overall range may reach into it (expanded on the fly)."""
    i = schema.item.c
    s, e = bindparam("s"), bindparam("e")
    return select(*columns).where(
        i.collection_id == bindparam("cid"), i.component == component,
        or_(i.occ_from > s, i.occ_until < e), *_overall_range(bindparam("s_slack"),
                                                               bindparam("e_slack")))


def outside_window_parameters(collection_id: int, start: int, end: int) -> dict[str, int]:
    return {"cid": collection_id, "s": start, "e": end,
            "e_slack": end + _FLOATING_SLACK, "s_slack": start - _FLOATING_SLACK}


def outside_window(collection_ids: Sequence[int], start: int, end: int) -> list:
    """WHERE clauses for items whose index does not cover [start, end) and
    whose overall range may reach into it: they are expanded on the fly."""
    i = schema.item.c
    return [i.collection_id.in_(collection_ids),
            or_(i.occ_from > start, i.occ_until < end),
            *_overall_range(start - _FLOATING_SLACK, end + _FLOATING_SLACK)]


def _overall_range(low, high) -> list:
    """The item's overall range reaches into [low, high).

    Written as ``start + 0`` on purpose: as a plain column the condition
    tempts SQLite to walk the (collection, start) index over every item that
    began before the range, years of history, instead of the occ_from /
    occ_until indexes that find the few items outside their window; the
    expression keeps it on those (PostgreSQL plans from statistics either
    way)."""
    i = schema.item.c
    return [(i.start + 0) < high, (i.end + 0) > low]


def busy_rows(connection: Connection, collection_ids: Sequence[int], start: int, end: int,
              zone: dt.tzinfo | None) -> list[tuple[int, int, bool, str]]:
    """(start, end, floating, fbtype) of busy instances and VFREEBUSY periods."""
    parameters: dict = range_parameters(0, start, end, zone)
    parameters["cids"] = list(collection_ids)
    return [tuple(r) for r in connection.execute(busy_statement(), parameters)]


def to_utc_period(row_start: int, row_end: int, floating: bool,
                  zone: dt.tzinfo | None) -> tuple[int, int]:
    """Turn a floating (wall-clock) period into UTC seconds in ``zone``."""
    if not floating or zone is None:
        return row_start, row_end
    return _local_to_utc(row_start, zone), _local_to_utc(row_end, zone)


def _local_to_utc(seconds: int, zone: dt.tzinfo) -> int:
    naive = dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)
    return int(naive.replace(tzinfo=zone).timestamp())


def windows_to_extend(connection: Connection, window: tuple[int, int], after_id: int,
                      limit: int) -> list[tuple[int, int, str, int, int]]:
    """Items (id, collection id, text, start, end) after ``after_id`` whose
    window is behind the current one, that are not indexed, or whose past is
    missing although it was not found too long (indexed before revision
    0008, when only a year of the past was stored). Walking by id lets one
    maintenance run visit each item once, even those that stay unindexed."""
    i = schema.item.c
    return [tuple(r) for r in connection.execute(
        select(i.id, i.collection_id, i.text, i.start, i.end)
        .where(i.id > after_id, i.name == "VCALENDAR",
               or_(and_(i.occ_until < window[1], i.occ_until > occ.TIME_MIN),
                   i.occ_from > i.occ_until,
                   and_(i.occ_from > occ.TIME_MIN, i.occ_from <= i.occ_until,
                        i.start < i.occ_from, i.occ_past_capped.is_(False))))
        .order_by(i.id).limit(limit))]


def reindex(connection: Connection, rows: Iterable[tuple[int, int, str, int, int]],
            settings: IndexSettings) -> int:
    count = 0
    for item_id, collection_id, text, start, end in rows:
        try:
            index_item(connection, item_id, collection_id, text, (start, end), settings)
        except occ.InstanceLimitError as exc:
            # Stored before the limit was lowered: keep it findable.
            logger.warning("item %d exceeds the instance limit (%s); left unindexed",
                           item_id, exc)
            _mark(connection, item_id, occ.TIME_MAX, occ.TIME_MIN, False)
        count += 1
    return count


@functools.cache
def _instances_statement():
    """(href, start, end, floating, recurrence id) of the VEVENT instances of
    a collection (``cid``) in a range (``range_parameters``), for items whose
    window covers the whole UTC range; built once, so an expanded week is
    one statement with fixed parameters (an IN list of the answer's hrefs
    made PostgreSQL and psycopg parse and plan a new statement of a thousand
    placeholders every time: 15 ms of an 80 ms answer)."""
    o, i = schema.occurrence.c, schema.item.c
    columns = [o.item_id, o.start, o.end, o.floating, o.recurrence_id]
    found = union(*_range_selects(columns, "VEVENT",
                                  o.collection_id == bindparam("cid"))).subquery()
    return (select(i.href, found.c.start, found.c.end, found.c.floating,
                   found.c.recurrence_id)
            .join_from(found, schema.item, i.id == found.c.item_id)
            .where(i.occ_from <= bindparam("s"), i.occ_until >= bindparam("e")))


def indexed_instances(connection: Connection, collection_id: int, hrefs: Sequence[str],
                      start: int, end: int, zone: dt.tzinfo | None
                      ) -> dict[str, list[tuple[int, int, bool, str | None]]]:
    """href -> (start, end, floating, recurrence id) of its VEVENT instances
    overlapping [start, end), for those of ``hrefs`` whose materialised
    window covers the whole range and that have such instances (the others
    are absent: they need the full expansion)."""
    wanted = set(hrefs)
    found: dict[str, list[tuple[int, int, bool, str | None]]] = {}
    for href, row_start, row_end, floating, recurrence_id in connection.execute(
            _instances_statement(), range_parameters(collection_id, start, end, zone)):
        if href in wanted:
            found.setdefault(href, []).append(
                (row_start, row_end, bool(floating), recurrence_id))
    for rows in found.values():
        rows.sort()
    return found
