"""Free-busy time from the occurrence index (RFC 4791 §7.10, RFC 6638 §5).

One computation serves the free-busy-query REPORT on a calendar and, for
scheduling, a principal's free-busy across all calendars that count for it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, select

from kalend.storage_plugin import occurrence_index, schema
from kalend.storage_plugin import occurrences as occ
from kalend.storage_plugin.principals import schedule_kind


def busy_periods(connection: Connection, collection_ids: Sequence[int], start: int, end: int,
                 zone: dt.tzinfo | None, max_instances: int
                 ) -> list[tuple[int, int, str]]:
    """Merged (start, end, fbtype) periods in UTC seconds, clipped to
    [start, end): BUSY, BUSY-TENTATIVE and BUSY-UNAVAILABLE; transparent and
    cancelled events do not count; VFREEBUSY components stored in the
    calendars do."""
    if not collection_ids:
        return []
    raw: list[tuple[int, int, str]] = []
    for row_start, row_end, floating, fbtype in occurrence_index.busy_rows(
            connection, collection_ids, start, end, zone):
        period_start, period_end = occurrence_index.to_utc_period(row_start, row_end,
                                                                  floating, zone)
        raw.append((period_start, period_end, fbtype))
    raw.extend(_outside_window_periods(connection, collection_ids, start, end, zone,
                                       max_instances))
    if len(raw) > max_instances:
        raise occ.InstanceLimitError(f"more than {max_instances} busy instances")
    return occ.clip_periods(raw, start, end)


def _outside_window_periods(connection: Connection, collection_ids: Sequence[int],
                            start: int, end: int, zone: dt.tzinfo | None,
                            max_instances: int) -> Iterable[tuple[int, int, str]]:
    """Items whose materialised window misses part of the range: expanded on
    the fly (a query ten years ahead still sees a never-ending rule)."""
    item = schema.item.c
    for (text,) in connection.execute(
            select(item.text).where(*occurrence_index.outside_window(collection_ids,
                                                                      start, end))):
        try:
            calendar = occ.parse(text)
        except Exception:
            continue
        for found in occ.occurrences_between(calendar, start, end, max_instances):
            if found.fbtype == occ.FREE or not occ.overlaps(found, start, end, zone):
                continue
            yield (*occurrence_index.to_utc_period(found.start, found.end, found.floating,
                                                   zone), found.fbtype)
        yield from occ.freebusy_component_periods(calendar)


def principal_calendar_ids(connection: Connection, principal: str) -> list[int]:
    """The principal's calendars that count for free-busy: every calendar in
    their home except those marked transparent (RFC 6638 §9.1,
    schedule-calendar-transp), and never the inbox (invitations not yet
    answered are not busy time)."""
    collection = schema.collection.c
    ids = []
    for collection_id, props in connection.execute(
            select(collection.id, collection.props)
            .where(collection.owner == principal, collection.tag == "VCALENDAR")):
        if "transparent" in _transp(props) or schedule_kind(props) is not None:
            continue
        ids.append(collection_id)
    return ids


def _transp(props_json: str) -> str:
    value = json.loads(props_json or "{}").get("C:schedule-calendar-transp", "")
    return value.lower()
