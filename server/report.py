"""REPORT, extended: what kalend answers itself before Radicale's handler.

* free-busy-query (RFC 4791 §7.10) from the occurrence index;
* calendar-query and calendar-multiget whose calendar-data asks for
  ``expand``, ``limit-recurrence-set`` or ``limit-freebusy-set``
  (§9.6.5-§9.6.7), which stock Radicale handles for VEVENT expand only;
* CALDAV:timezone (§9.8) and timezone-id (RFC 7809) of a calendar-query,
  which decide how floating times compare (§9.9).

Everything else goes to Radicale's REPORT unchanged (the body is read once
and handed back).
"""

from __future__ import annotations

import functools
import io
import logging
import xml.etree.ElementTree as ET
import zoneinfo
from dataclasses import dataclass
from http import client
from urllib.parse import unquote, urlparse
from xml.sax.saxutils import escape as xml_escape

import defusedxml.ElementTree as DefusedET
from radicale import httputils, pathutils, storage, types, xmlutils
from radicale.app.base import Access, ApplicationBase
from radicale.app.report import test_filter
from radicale.item import filter as radicale_filter

from kalend.server import calendar_data, report_checks, request_checks
from kalend.server.answer_cache import ENVIRON_KEY as ANSWER_ENVIRON_KEY
from kalend.server.answer_cache import AnswerCache, CacheKey, Responses, cache_key
from kalend.server.calendar_data_cache import CalendarDataCache
from kalend.server.expand_indexed import expand_from_rows
from kalend.server.expand_single import DECLINED, expand_single
from kalend.server.multistatus import (
    CALENDAR_DATA,
    TEXT_PROPERTIES,
    ItemRow,
    MultistatusWriter,
    quote_href,
    requested_properties,
    writes_directly,
)
from kalend.server.propfind import collection_href, row_of
from kalend.server.scheduling_writes import schedule_collection_of
from kalend.storage_plugin import occurrences as occ
from kalend.storage_plugin.collection import Changes, Collection
from kalend.storage_plugin.freebusy import busy_periods
from kalend.storage_plugin.items import item_from_row
from kalend.storage_plugin.occurrence_index import indexed_instances, query_timezone
from kalend.storage_plugin.transaction import current_connection

logger = logging.getLogger("kalend.report")

#: At most this many changes bring a kept calendar-query answer up to date;
#: after more, looking at each changed item costs about as much as reading
#: the range afresh, and the answer is computed afresh.
PATCH_LIMIT = 500


def _c(tag: str) -> str:
    return xmlutils.make_clark(tag)


@dataclass(frozen=True)
class CalendarDataShape:
    """What the calendar-data element of a REPORT asks for."""

    expand: tuple[int, int] | None = None
    limit_recurrence_set: tuple[int, int] | None = None
    limit_freebusy_set: tuple[int, int] | None = None

    @property
    def transforms(self) -> bool:
        return any((self.expand, self.limit_recurrence_set, self.limit_freebusy_set))


class MissingRangeError(ValueError):
    """expand / limit-*-set without both start and end (RFC 4791 §9.6.5-7)."""


def _range(element: ET.Element | None) -> tuple[int, int] | None:
    if element is None:
        return None
    if not element.get("start") or not element.get("end"):
        raise MissingRangeError(xmlutils.make_human_tag(element.tag))
    return radicale_filter.time_range_timestamps(element)


def calendar_data_shape(root: ET.Element) -> CalendarDataShape:
    data = root.find(f"{_c('D:prop')}/{_c('C:calendar-data')}")
    if data is None:
        return CalendarDataShape()
    return CalendarDataShape(
        expand=_range(data.find(_c("C:expand"))),
        limit_recurrence_set=_range(data.find(_c("C:limit-recurrence-set"))),
        limit_freebusy_set=_range(data.find(_c("C:limit-freebusy-set"))))


def request_zone(root: ET.Element):
    """The zone of CALDAV:timezone (a VTIMEZONE) or timezone-id (RFC 7809)."""
    timezone_id = root.find(_c("C:timezone-id"))
    if timezone_id is not None and timezone_id.text:
        try:
            return zoneinfo.ZoneInfo(timezone_id.text.strip())
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return None
    timezone = root.find(_c("C:timezone"))
    if timezone is not None and timezone.text:
        return occ.zone_from_vtimezone(timezone.text)
    return None


_LISTING_REPORTS = frozenset({_c("D:sync-collection"), _c("C:calendar-multiget"),
                              _c("CR:addressbook-multiget"), _c("C:calendar-query")})
_LISTING_TAGS = frozenset({"VCALENDAR", "VADDRESSBOOK"})

#: report -> (collection tags it is defined for, whether on their objects
#: too): RFC 6578 §3.2 (collections), RFC 4791 §7.8-7.9, RFC 6352 §8.6-8.7.
#: A calendar-query may also search a collection that holds calendars.
_REPORT_TARGETS: dict[str, tuple[frozenset[str], bool]] = {
    _c("D:sync-collection"): (frozenset({"VCALENDAR", "VADDRESSBOOK"}), False),
    _c("C:calendar-multiget"): (frozenset({"VCALENDAR"}), True),
    _c("CR:addressbook-multiget"): (frozenset({"VADDRESSBOOK"}), True),
    _c("C:calendar-query"): (frozenset({"VCALENDAR", ""}), True),
    _c("CR:addressbook-query"): (frozenset({"VADDRESSBOOK", ""}), True),
}


class ApplicationPartReport(ApplicationBase):

    def do_REPORT(self, environ: types.WSGIEnviron, base_prefix: str, path: str,
                  user: str, user_groups: set, request_info: dict) -> types.WSGIResponse:
        try:
            raw = httputils.read_raw_request_body(self.configuration, environ)
        except RuntimeError:
            return httputils.BAD_REQUEST
        environ["wsgi.input"] = io.BytesIO(raw)
        root = _parse(raw)
        if root is not None:
            try:
                request_checks.check_xml_depth(
                    root, self.configuration.get("limits", "max_xml_depth"))
            except RuntimeError as exc:
                logger.info("REPORT on %r refused: %s", path, exc)
                return httputils.BAD_REQUEST
            problem = report_checks.body_problem(root)
            if problem is not None:
                logger.info("REPORT on %r refused: %s", path, problem.reason)
                return self._webdav_error_response(client.BAD_REQUEST, problem.precondition,
                                                   request_info)
        if root is None:
            return super().do_REPORT(environ, base_prefix, path, user, user_groups,  # type: ignore[misc]
                                     request_info)
        refusal = self._target_refusal(root, path, user, user_groups, request_info)
        if refusal is not None:
            return refusal
        token = query_timezone.set(request_zone(root))
        try:
            if root.tag == _c("C:free-busy-query"):
                return self._free_busy_query(root, path, user, user_groups)
            if root.tag in (_c("C:calendar-query"), _c("C:calendar-multiget")):
                try:
                    shape = calendar_data_shape(root)
                except MissingRangeError as exc:
                    logger.info("REPORT on %r: %s without start and end", path, exc)
                    return self._webdav_error_response(client.BAD_REQUEST, "C:valid-filter",
                                                       request_info)
                if shape.transforms:
                    return self._calendar_data_report(root, shape, base_prefix, path, user,
                                                      user_groups, request_info)
            # Depth and Prefer (RFC 8144) shape answers too; the key keeps them.
            variant = f"{environ.get('HTTP_DEPTH', '')}|{environ.get('HTTP_PREFER', '')}"
            listing = self._listing_report(root, cache_key(user, base_prefix, path,
                                                           variant.encode() + raw),
                                           environ, base_prefix, path, user, user_groups,
                                           request_info)
            if listing is not None:
                return listing
            return super().do_REPORT(environ, base_prefix, path, user, user_groups,  # type: ignore[misc]
                                     request_info)
        except occ.InstanceLimitError as exc:
            logger.warning("REPORT on %r refused: %s", path, exc)
            return self._webdav_error_response(client.INSUFFICIENT_STORAGE,
                                               "D:number-of-matches-within-limits",
                                               request_info)
        finally:
            query_timezone.reset(token)

    def _target_refusal(self, root: ET.Element, path: str, user: str, user_groups: set,
                        request_info: dict) -> types.WSGIResponse | None:
        """A report asked of a resource it is not defined for: 403 with
        DAV:supported-report (RFC 3253 §3.6), after the rights check, so
        that another user learns nothing of what exists. Radicale answered
        some of these 400 and others 207 (a sync-collection of one event)."""
        wanted = _REPORT_TARGETS.get(root.tag)
        if wanted is None:
            return None
        if not Access(self._rights, user, user_groups, path).check("r"):
            return httputils.NOT_ALLOWED
        with self._storage.acquire_lock("r", user):
            item = next(iter(self._storage.discover(path)), None)
            if item is None:
                return None     # Radicale answers 404
            if isinstance(item, storage.BaseCollection):
                tag, is_collection = item.tag, True
            else:
                tag, is_collection = getattr(item.collection, "tag", ""), False
        tags, items_too = wanted
        if tag in tags and (is_collection or items_too):
            return None
        return self._webdav_error_response(client.FORBIDDEN, "D:supported-report",
                                           request_info)

    # -- listings answered from rows ------------------------------------------

    def _listing_report(self, root: ET.Element, key: CacheKey, environ: types.WSGIEnviron,
                        base_prefix: str, path: str, user: str,
                        user_groups: set, request_info: dict) -> types.WSGIResponse | None:
        """sync-collection, multiget and calendar-query whose properties the
        row writer can answer (ETag, content type, plain calendar/address
        data); None hands the request to Radicale. An identical earlier
        request on the unchanged collection is answered from ``answer_cache``."""
        if self._sharing._enabled or root.tag not in _LISTING_REPORTS:
            return None
        names = requested_properties(root.find(_c("D:prop")))
        access = Access(self._rights, user, user_groups, path)
        if names is None or not access.check("r"):
            return None
        with self._storage.acquire_lock("r", user):
            collection = next(iter(self._storage.discover(path)), None)
            if not isinstance(collection, Collection) or collection.tag not in _LISTING_TAGS:
                return None
            if root.tag == _c("C:calendar-query") and collection.tag != "VCALENDAR":
                return None
            if not access.check("r", collection):
                return httputils.NOT_ALLOWED
            version = collection.answer_version
            cached = self._answers.get(key, version)
            if cached is not None:
                request_info["status"] = client.MULTI_STATUS
                environ[ANSWER_ENVIRON_KEY] = cached
                return client.MULTI_STATUS, dict(cached.headers), cached.body, None
            writer = MultistatusWriter(collection_href(base_prefix, collection.path),
                                       self._encoding)
            with_text = any(n in TEXT_PROPERTIES for n in names)
            trailer: list[str] = []
            responses: Responses | None = None
            if root.tag == _c("D:sync-collection"):
                token_element = root.find(_c("D:sync-token"))
                old_token = (token_element.text or "").strip() if token_element is not None else ""
                try:
                    token, hrefs = collection.sync(old_token)
                except ValueError as exc:
                    logger.info("sync-collection on %r with a stale token: %s", path, exc)
                    return (client.FORBIDDEN, {"Content-Type": "text/xml"},
                            ET.tostring(xmlutils.webdav_error("D:valid-sync-token")), None)
                self._write_rows(writer, collection, hrefs, names, with_text)
                trailer.append(f"<D:sync-token>{xml_escape(token)}</D:sync-token>")
            elif root.tag in (_c("C:calendar-multiget"), _c("CR:addressbook-multiget")):
                hrefs = self._multiget_names(root, collection, writer, base_prefix)
                self._write_rows(writer, collection, hrefs, names, with_text)
            else:
                responses = self._query_responses(key, writer, collection,
                                                  root.findall(_c("C:filter")), names)
                for text in responses.by_href.values():
                    writer.raw(text)
        request_info["status"] = client.MULTI_STATUS
        headers = {"Content-Type": f"text/xml; charset={self._encoding}"}
        answer = self._answers.put(key, version, headers, writer.render(trailer), responses)
        environ[ANSWER_ENVIRON_KEY] = answer
        return client.MULTI_STATUS, headers, answer.body, None

    @functools.cached_property
    def _answers(self) -> AnswerCache:
        megabytes = self.configuration.get("storage", "answer_cache_mb")
        return AnswerCache(megabytes * 1024 * 1024)

    @functools.cached_property
    def _calendar_data(self) -> CalendarDataCache:
        megabytes = self.configuration.get("storage", "calendar_data_cache_mb")
        return CalendarDataCache(megabytes * 1024 * 1024)

    def _query_responses(self, key: CacheKey, writer: MultistatusWriter,
                         collection: Collection, filters: list[ET.Element],
                         names: list[str]) -> Responses:
        """A calendar-query's responses by href. When the last answer to the
        same request is kept (``answer_cache``) and the change log names
        what was written since, only those items are queried again: an item
        the change log does not name has the same text, the same ETag and
        the same place in time as when that answer was computed, so its
        response is the same. Otherwise every matching item is read."""
        previous = self._answers.previous(key)
        changed = None
        if previous is not None and previous.collection_id == collection.id:
            changed = collection.changes_since(previous.seq, PATCH_LIMIT)
        by_href: dict[str, str] = {}
        if previous is not None and changed is not None:
            logger.debug("REPORT on %r: answer brought up to date with %d changed items",
                         collection.path, len(changed.hrefs))
            by_href = {href: text for href, text in previous.by_href.items()
                       if href not in changed.hrefs}
            if changed.hrefs:
                self._write_query_rows(by_href, writer, collection, filters, names, changed)
        else:
            self._write_query_rows(by_href, writer, collection, filters, names)
        return Responses(collection.id, collection.sync_seq, by_href)

    def _write_query_rows(self, into: dict[str, str], writer: MultistatusWriter,
                          collection: Collection, filters: list[ET.Element],
                          names: list[str], changed: Changes | None = None) -> None:
        """Add the responses of the items a calendar-query selects (of the
        ``changed`` ones only, if given) to ``into``. When they carry calendar
        data, the objects' texts come from ``calendar_data_cache`` by ETag,
        and only the texts not seen before are read, in the same
        transaction."""
        cache = self._calendar_data
        if not (cache.enabled and CALENDAR_DATA in names and writes_directly(names)):
            for row in self._query_rows(collection, filters, changed=changed):
                into[row.href] = writer.response_text(row, names)
            return
        rows = list(self._query_rows(collection, filters, with_text=False, changed=changed))
        known = cache.known(row.etag for row in rows if row.text is None)
        unseen = [row.href for row in rows if row.text is None and row.etag not in known]
        # The same snapshot as the query: each href is there, with that ETag.
        fetched = {r[0]: ItemRow._make(r) for r in collection.item_rows(unseen)} \
            if unseen else {}
        for row in rows:
            data = known.get(row.etag) if row.text is None else None
            if data is None:
                row = fetched[row.href] if row.text is None else row
                data = cache.escaped(row.etag, row.text or "")
            into[row.href] = writer.response_text(row, names, data)

    def _write_rows(self, writer: MultistatusWriter, collection: Collection, hrefs, names,
                    with_text: bool) -> None:
        for row in self._rows_or_missing(writer, collection, hrefs, with_text):
            writer.item(row, names)

    @staticmethod
    def _rows_or_missing(writer: MultistatusWriter, collection: Collection, hrefs,
                         with_text: bool) -> list[ItemRow]:
        """The rows of ``hrefs`` in request order; hrefs that do not exist
        are written as 404 responses right away."""
        wanted = list(dict.fromkeys(hrefs))
        found = {row[0]: row for row in collection.item_rows(wanted, with_text)}
        rows = []
        for href in wanted:
            row = found.get(href)
            if row is None:
                writer.missing(href)
            else:
                rows.append(ItemRow._make(row))
        return rows

    @staticmethod
    def _multiget_names(root: ET.Element, collection: Collection, writer: MultistatusWriter,
                        base_prefix: str) -> list[str]:
        names = []
        prefix = f"{base_prefix}/{collection.path}/"
        for href in root.findall(_c("D:href")):
            raw_path = unquote(urlparse((href.text or "").strip()).path)
            name = _plain_member(raw_path, prefix)
            if name is None:
                name = _member_by_radicale(raw_path, collection, base_prefix)
            if name:
                names.append(name)
            else:
                shown = pathutils.sanitize_path(raw_path)
                writer.raw(f"<D:response><D:href>{xml_escape(quote_href(shown))}</D:href>"
                           "<D:status>HTTP/1.1 404 Not Found</D:status></D:response>")
        return names

    # -- free-busy-query -----------------------------------------------------------

    def _free_busy_query(self, root: ET.Element, path: str, user: str,
                         user_groups: set) -> types.WSGIResponse:
        access = Access(self._rights, user, user_groups, path)
        if not user or not (access.check("r") or access.allows_freebusy()):
            # Unauthenticated: 401; another user's path: 403 whether it
            # exists or not, as for every other method.
            return httputils.NOT_ALLOWED
        time_range = root.find(_c("C:time-range"))
        if time_range is None or not time_range.get("start"):
            return httputils.BAD_REQUEST  # §7.10: the time-range is required
        start, end = radicale_filter.time_range_timestamps(time_range)
        with self._storage.acquire_lock("r", user):
            item = next(iter(self._storage.discover(path)), None)
            if item is None:
                return httputils.NOT_FOUND
            if not isinstance(item, Collection) or item.tag != "VCALENDAR" \
                    or schedule_collection_of(item.path + "/"):
                # RFC 3253 §3.6: free-busy is a report of calendars only (an
                # inbox holds messages, not the user's time).
                return (client.FORBIDDEN, {"Content-Type": "text/xml"},
                        ET.tostring(xmlutils.webdav_error("D:supported-report")), None)
            if not access.allows_freebusy(item) and not access.check("r", item):
                return httputils.NOT_ALLOWED
            periods = busy_periods(current_connection(), [item.id], start, end,
                                   item.query_zone(), item._storage.max_instances_per_query)
        body = calendar_data.freebusy_calendar(periods, start, end)
        return client.OK, {"Content-Type": "text/calendar; charset=utf-8"}, body, None

    # -- calendar-data transforms -----------------------------------------------------

    def _calendar_data_report(self, root: ET.Element, shape: CalendarDataShape,
                              base_prefix: str, path: str, user: str, user_groups: set,
                              request_info: dict) -> types.WSGIResponse:
        access = Access(self._rights, user, user_groups, path)
        if not access.check("r"):
            return httputils.NOT_ALLOWED
        prop_root = root.find(_c("D:prop"))
        names = [prop.tag for prop in prop_root] if prop_root is not None else []
        with self._storage.acquire_lock("r", user):
            item = next(iter(self._storage.discover(path)), None)
            if item is None:
                return httputils.NOT_FOUND
            if not access.check("r", item):
                return httputils.NOT_ALLOWED
            collection = item if isinstance(item, storage.BaseCollection) else item.collection
            assert isinstance(collection, Collection)
            if collection.tag != "VCALENDAR":
                return self._webdav_error_response(client.FORBIDDEN, "D:supported-report",
                                                   request_info)
            writer = MultistatusWriter(collection_href(base_prefix, collection.path),
                                       self._encoding)
            if root.tag == _c("C:calendar-multiget"):
                hrefs = self._multiget_names(root, collection, writer, base_prefix)
                rows = self._rows_or_missing(writer, collection, hrefs, True)
            elif isinstance(item, storage.BaseCollection):
                rows = list(self._query_rows(collection, root.findall(_c("C:filter"))))
            else:
                rows = [ItemRow._make(r) for r in collection.item_rows([item.href])]
            transform = _Transform(shape, collection)
            if shape.expand is not None and rows:
                transform.indexed = indexed_instances(
                    current_connection(), collection.id, [r.href for r in rows],
                    *shape.expand, transform.zone)
            for row in rows:
                text = transform.text(row)
                if text is not None:
                    writer.item(row._replace(text=text), names)
        request_info["status"] = client.MULTI_STATUS
        headers = {"Content-Type": f"text/xml; charset={self._encoding}"}
        return client.MULTI_STATUS, headers, writer.render(), None

    @staticmethod
    def _query_rows(collection: Collection, filters: list[ET.Element],
                    with_text: bool = True, changed: Changes | None = None):
        """The rows a calendar-query's filters select: the index narrows,
        Radicale's filter test decides whatever the index could not (rows
        without text, and ``changed``: see ``Collection.filtered_rows``)."""
        for row, matched in collection.filtered_rows(filters, with_text, changed):
            if filters and not matched and not all(
                    test_filter(collection.tag, item_from_row(row, collection), f)
                    for f in filters):
                continue
            yield row_of(row)


class _Transform:
    """expand / limit-recurrence-set / limit-freebusy-set of one answer.

    ``budget`` counts the instances of the whole answer against
    ``max_instances_per_query``; ``indexed`` holds each recurring item's
    indexed instances in the expand range, where its window covers it.
    """

    def __init__(self, shape: CalendarDataShape, collection: Collection) -> None:
        self.shape = shape
        self.zone = collection.query_zone()
        self.limit = collection._storage.max_instances_per_query
        self.budget = 0
        self.indexed: dict = {}

    def text(self, row: ItemRow) -> str | None:
        """The item's calendar-data, or None when expand leaves no instance
        (the item is then left out of the answer, RFC 4791 §9.6.5)."""
        text = row.text or ""
        shape = self.shape
        if shape.expand is not None:
            expanded, count = _expanded(text, shape.expand, self.zone, self.limit,
                                        self.indexed.get(row.href))
            self.budget += count
            if self.budget > self.limit:
                raise occ.InstanceLimitError(f"more than {self.limit} instances in the answer")
            if expanded is None:
                return None
            text = expanded
        if shape.limit_recurrence_set is not None:
            text = calendar_data.limit_recurrence_set(text, *shape.limit_recurrence_set,
                                                      self.zone)
        if shape.limit_freebusy_set is not None:
            text = calendar_data.limit_freebusy_set(text, *shape.limit_freebusy_set)
        return text


def _plain_member(path: str, prefix: str) -> str | None:
    """The member name of an already normalised href directly inside the
    collection (the usual case), without Radicale's path sanitising, which
    costs more per href than the database; None when unsure."""
    if not path.startswith(prefix):
        return None
    name = path[len(prefix):]
    if not name or "/" in name or name in (".", "..") or "\x00" in name \
            or "//" in path or "/./" in path or "/../" in path:
        return None
    return name


def _member_by_radicale(path: str, collection: Collection, base_prefix: str) -> str | None:
    href_path = pathutils.sanitize_path(path)
    if not (href_path + "/").startswith(base_prefix + "/"):
        return None
    try:
        return pathutils.name_from_path(href_path[len(base_prefix):], collection) or None
    except ValueError:
        return None


def _expanded(text: str, expand_range: tuple[int, int], zone, limit: int,
              rows) -> tuple[str | None, int]:
    """(expanded text or None, instance count), the cheapest correct way:
    a single event's date lines rewritten; a recurring event written from its
    indexed instances; else the full expansion by recurring-ical-events."""
    recurring = bool(rows) and rows[0][3] is not None
    if not recurring:
        expanded = expand_single(text, *expand_range, zone)
        if expanded is not DECLINED:
            return expanded, 0 if expanded is None else 1
    if rows is not None:
        expanded = expand_from_rows(text, rows, zone)
        if expanded is not DECLINED:
            return expanded, len(rows)
    return calendar_data.expand(text, *expand_range, zone, limit)


def _parse(raw: bytes) -> ET.Element | None:
    """The XML body, or None to let Radicale answer (and reject) it."""
    if not raw:
        return None
    try:
        return DefusedET.fromstring(raw)
    except Exception:
        return None
