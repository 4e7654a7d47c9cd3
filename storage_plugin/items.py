"""Turning item rows into Radicale items and back.

Rows carry everything Radicale asks of an item (ETag, UID, component, time
range), so serving an item never parses its iCalendar text: the text goes out
exactly as it was stored.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import radicale.item as radicale_item

if TYPE_CHECKING:
    from radicale import storage


def http_date(epoch: float) -> str:
    """RFC 9110 IMF-fixdate, as Radicale formats Last-Modified."""
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(epoch))


def item_from_row(row: Mapping[str, Any],
                  collection: storage.BaseCollection) -> radicale_item.Item:
    return radicale_item.Item(
        collection=collection,
        href=row["href"],
        last_modified=http_date(row["modified"]),
        text=row["text"],
        etag=row["etag"],
        uid=row["uid"],
        name=row["name"],
        component_name=row["component"],
        time_range=(row["start"], row["end"]),
    )


def organizer_of(item: radicale_item.Item) -> str | None:
    """The ORGANIZER of a calendar object, lower-cased, if it has one."""
    if item.name != "VCALENDAR":
        return None
    vobject_item = item.vobject_item
    for component_name in ("vevent", "vtodo", "vjournal"):
        for component in getattr(vobject_item, f"{component_name}_list", []):
            organizer = getattr(component, "organizer", None)
            if organizer is not None and organizer.value:
                return str(organizer.value).strip().lower()
    return None


def row_values(item: radicale_item.Item, now: float) -> dict[str, Any]:
    """Column values for storing a prepared item (parsing already done by
    Radicale's ``Item.prepare`` on the way in, never on the way out)."""
    start, end = item.time_range
    return {
        "uid": item.uid,
        "etag": item.etag,
        "name": item.name,
        "component": item.component_name,
        "text": item.serialize(),
        "start": int(start),
        "end": int(end),
        "organizer": organizer_of(item),
        "modified": now,
    }


def item_from_text(collection: storage.BaseCollection, text: str) -> radicale_item.Item:
    """A prepared item from iCalendar text the server itself wrote (a
    delivered invitation, a merged reply), checked as a client's PUT is."""
    vobject_items = radicale_item.read_components(text)
    if len(vobject_items) != 1:
        raise ValueError(f"expected one calendar object, found {len(vobject_items)}")
    radicale_item.check_and_sanitize_items(vobject_items, max_vevent_rrule_occurrence=0,
                                           tag="VCALENDAR")
    item = radicale_item.Item(collection_path=collection.path, vobject_item=vobject_items[0])
    item.prepare()
    return item
