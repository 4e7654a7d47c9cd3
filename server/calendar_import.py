"""``kalend import``: existing calendars loaded in bulk.

Moving to kalend means bringing years of events along: a Google, Outlook or
Apple export (one VCALENDAR holding everything) or a folder of .ics files
(Radicale's own layout). Through HTTP that is one PUT per event; here the
objects go straight into the storage plugin, a few hundred per transaction,
with their occurrences indexed on the way in. Imported objects are stored,
not scheduled: no invitation goes out for a meeting that is already history.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import icalendar
from radicale import pathutils

from kalend.storage_plugin import principals
from kalend.storage_plugin.engine import tidy_after_bulk_load
from kalend.storage_plugin.items import item_from_text
from kalend.storage_plugin.transaction import lock_scope, transaction

#: Objects written per transaction: large enough to amortise the commit,
#: small enough that a failure rolls back little and readers are not held up.
BATCH_SIZE = 500

_CALENDAR = re.compile(r"BEGIN:VCALENDAR\r?\n.*?END:VCALENDAR\r?\n?", re.DOTALL | re.IGNORECASE)
_OBJECTS = ("VEVENT", "VTODO", "VJOURNAL")


@dataclass
class ImportReport:
    created: int = 0
    replaced: int = 0


def split_objects(text: str) -> Iterator[str]:
    """One VCALENDAR per UID (RFC 4791 §4.1), each with the VTIMEZONEs it
    names. A file of single-object calendars (a Radicale folder, an export
    per event) passes through untouched; a whole-calendar export is split."""
    found = False
    for match in _CALENDAR.finditer(text):
        found = True
        block = match.group(0)
        uids = {line.split(":", 1)[1].strip() for line in block.splitlines()
                if line[:4].upper() == "UID:"}
        if len(uids) <= 1:
            yield block
        else:
            yield from _split_calendar(block)
    if not found:
        raise ValueError("no VCALENDAR in the input")


def _split_calendar(block: str) -> Iterator[str]:
    calendar = icalendar.Calendar.from_ical(block)
    timezones = {str(tz["TZID"]): tz for tz in calendar.walk("VTIMEZONE")}
    grouped: dict[str, list] = {}
    for component in calendar.subcomponents:
        if component.name in _OBJECTS:
            grouped.setdefault(str(component.get("UID", "")), []).append(component)
    for uid, components in grouped.items():
        single = icalendar.Calendar()
        for name in ("VERSION", "PRODID", "CALSCALE"):
            if calendar.get(name) is not None:
                single[name] = calendar[name]
        text = b"".join(c.to_ical() for c in components).decode("utf-8", "replace")
        for tzid, timezone in timezones.items():
            if f"TZID={tzid}" in text or f'TZID="{tzid}"' in text:
                single.add_component(timezone)
        for component in components:
            single.add_component(component)
        if not uid:
            raise ValueError("a calendar object without UID")
        yield single.to_ical().decode("utf-8")


def import_objects(storage, path: str, texts: Iterable[str], display_name: str = "",
                   batch_size: int = BATCH_SIZE) -> ImportReport:
    """Store ``texts`` (one calendar object each) in the calendar at ``path``
    ('user/calendar'), creating the home and the calendar if needed."""
    owner, _, name = path.strip("/").partition("/")
    if not owner or not name or "/" in name:
        raise ValueError(f"import target {path!r}: expected USER/CALENDAR")
    with transaction(storage.engine, "w", [owner]):
        principals.ensure_home(storage, owner)
        if storage.collection_at(path) is None:
            props = {**principals.CALENDAR_PROPS, "D:displayname": display_name or name}
            storage.create_collection(f"/{owner}/{name}/", props=props)
        elif storage.collection_at(path).tag != "VCALENDAR":
            raise ValueError(f"import target {path!r} is not a calendar")
    report = ImportReport()
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) >= batch_size:
            _store(storage, path, batch, report)
            batch = []
    if batch:
        _store(storage, path, batch, report)
    if report.created or report.replaced:
        tidy_after_bulk_load(storage.engine)
    return report


def _store(storage, path: str, texts: list[str], report: ImportReport) -> None:
    with transaction(storage.engine, "w", [lock_scope(path)]):
        collection = storage.collection_at(path)
        for text in texts:
            item = item_from_text(collection, text)
            href = _href(item.uid)
            _, old = collection.upload(href, item)
            if old is None:
                report.created += 1
            else:
                report.replaced += 1


def _href(uid: str) -> str:
    candidate = f"{uid}.ics"
    if uid and pathutils.is_safe_filesystem_path_component(candidate):
        return candidate
    return f"{uuid.uuid5(uuid.NAMESPACE_URL, uid or str(uuid.uuid4()))}.ics"
