"""Writing 207 Multi-Status bodies for many items, straight from item rows.

Radicale builds one ElementTree per item and sanitises and re-quotes its path
several times on the way; for a PROPFIND or REPORT over thousands of items
that per-item work costs more than the database. kalend's listing responses
(PROPFIND Depth 1, sync-collection, multiget, calendar-query without
transforms) are written here as text instead, from the few columns they need.
The XML is the same RFC 4918 §13 shape Radicale writes; element names are
qualified with the prefixes declared on the root.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple
from urllib.parse import quote
from xml.sax.saxutils import escape

from radicale import xmlutils

from kalend.storage_plugin.items import http_date

#: Prefix used in the output for each namespace (declared on the root).
PREFIXES: Mapping[str, str] = {
    "DAV:": "D",
    "urn:ietf:params:xml:ns:caldav": "C",
    "urn:ietf:params:xml:ns:carddav": "CR",
    "http://calendarserver.org/ns/": "CS",
    "http://apple.com/ns/ical/": "ICAL",
}

_ROOT = ('<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus'
         + "".join(f' xmlns:{p}="{ns}"' for ns, p in PREFIXES.items()) + ">")
_OK = "<D:status>HTTP/1.1 200 OK</D:status>"
_NOT_FOUND = "<D:status>HTTP/1.1 404 Not Found</D:status>"

GETETAG = xmlutils.make_clark("D:getetag")
GETCONTENTTYPE = xmlutils.make_clark("D:getcontenttype")
GETLASTMODIFIED = xmlutils.make_clark("D:getlastmodified")
GETCONTENTLENGTH = xmlutils.make_clark("D:getcontentlength")
RESOURCETYPE = xmlutils.make_clark("D:resourcetype")
CALENDAR_DATA = xmlutils.make_clark("C:calendar-data")
ADDRESS_DATA = xmlutils.make_clark("CR:address-data")
SCHEDULE_TAG = xmlutils.make_clark("C:schedule-tag")

#: Item properties this writer can answer; a request for any other property
#: is left to Radicale.
ITEM_PROPERTIES = frozenset({GETETAG, GETCONTENTTYPE, GETLASTMODIFIED, GETCONTENTLENGTH,
                             RESOURCETYPE, CALENDAR_DATA, ADDRESS_DATA, SCHEDULE_TAG})
#: Properties whose value is the item's text.
TEXT_PROPERTIES = frozenset({CALENDAR_DATA, ADDRESS_DATA, GETCONTENTLENGTH})


class ItemRow(NamedTuple):
    """The columns of an item a listing response needs, in the order the
    storage's ``item_rows`` returns them."""

    href: str
    etag: str
    name: str
    component: str
    modified: float
    text: str | None = None
    schedule_tag: str | None = None


#: ``quote`` (safe "/") as a translation table for ASCII hrefs: urllib's
#: quote walks the string byte by byte in Python, which for a listing of ten
#: thousand items cost more than the database query.
_ALWAYS_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~/")
_QUOTE_TABLE = {c: (chr(c) if chr(c) in _ALWAYS_SAFE else f"%{c:02X}") for c in range(128)}


@functools.lru_cache(maxsize=16384)
def quote_href(href: str) -> str:
    """The same result as ``urllib.parse.quote(href)``, faster for ASCII,
    and remembered: a calendar's hrefs come back in every listing."""
    return href.translate(_QUOTE_TABLE) if href.isascii() else quote(href)


def qualified(clark: str) -> str | None:
    """``{DAV:}getetag`` -> ``D:getetag`` (None for an unknown namespace)."""
    namespace, _, local = clark[1:].partition("}")
    prefix = PREFIXES.get(namespace)
    return None if prefix is None else f"{prefix}:{local}"


def requested_properties(prop: ET.Element | None) -> list[str] | None:
    """The property names of a DAV:prop element, if the writer can answer
    all of them (calendar-data/address-data without child elements only)."""
    if prop is None:
        return None
    names = []
    for child in prop:
        if child.tag not in ITEM_PROPERTIES or len(child) or child.attrib:
            return None
        names.append(child.tag)
    return names


def _empty_element(clark: str) -> str:
    """``<D:getetag/>``, or an element of a namespace without a prefix on the
    root with its own declaration (only ever empty: properties this writer
    cannot answer are listed as not found)."""
    tag = qualified(clark)
    if tag is not None:
        return f"<{tag}/>"
    namespace, _, local = clark[1:].partition("}")
    return f'<X:{local} xmlns:X="{escape(namespace, {chr(34): "&quot;"})}"/>'


def escape_text(text: str) -> str:
    """Character data for XML: xml.sax.saxutils.escape, without its per-call
    entity dictionary."""
    return text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")


#: The properties of the usual listings (sync-collection's getetag, a
#: calendar-query's getetag and calendar-data), which every calendar object
#: has: their responses are written by ``_direct_writer`` in one piece.
_DIRECT_TAGS = {GETETAG: "D:getetag", CALENDAR_DATA: "C:calendar-data"}


def writes_directly(names: Sequence[str]) -> bool:
    """A calendar object's response for these properties is written in one
    piece (``_direct_writer``), the only path that takes escaped calendar
    data from the caller."""
    return bool(names) and all(name in _DIRECT_TAGS for name in names)


def _direct_writer(names: tuple[str, ...]
                   ) -> Callable[[str, ItemRow, str | None], str] | None:
    """A function writing a calendar object's whole response for these
    properties, or None when one of them needs the general path.

    Why: the general path decides found or missing per property and item;
    for the week view's three hundred objects that bookkeeping cost as much
    as the database query. The output is the same, byte for byte."""
    if not writes_directly(names):
        return None
    fields = [(_DIRECT_TAGS[name], name == GETETAG) for name in names]

    def write(base: str, row: ItemRow, escaped_data: str | None) -> str:
        parts = ["<D:response><D:href>", base, quote_href(row.href),
                 "</D:href><D:propstat><D:prop>"]
        for tag, is_etag in fields:
            if is_etag:
                value = escape_text(row.etag)
            elif escaped_data is not None:
                value = escaped_data
            else:
                value = escape_text(row.text or "")
            parts.append(f"<{tag}>{value}</{tag}>" if value else f"<{tag}/>")
        parts.append(_DIRECT_END)
        return "".join(parts)

    return write


_DIRECT_END = f"</D:prop>{_OK}</D:propstat></D:response>"


class MultistatusWriter:
    """Accumulates ``<D:response>`` elements and renders the whole body."""

    def __init__(self, base_href: str, encoding: str = "utf-8") -> None:
        # base_href: the quoted href of the collection, with trailing slash.
        self._parts: list[str] = [_ROOT]
        self._base = base_href
        self._encoding = encoding
        self._plans: dict[tuple[str, ...], list[tuple[str, str | None, str]]] = {}
        self._direct: dict[tuple[str, ...],
                           Callable[[str, ItemRow, str | None], str] | None] = {}

    def element(self, element: ET.Element) -> None:
        """A response built elsewhere (Radicale's, for the collection)."""
        self._parts.append(ET.tostring(element, encoding="unicode"))

    def _plan(self, properties: Sequence[str]) -> list[tuple[str, str | None, str]]:
        """(name, qualified tag or None, empty element) per property, worked
        out once per response rather than once per item."""
        key = tuple(properties)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = [(name, qualified(name), _empty_element(name))
                                       for name in key]
        return plan

    def item(self, row: ItemRow, properties: Sequence[str],
             escaped_data: str | None = None) -> None:
        """One object's response (see ``response_text``)."""
        self._parts.append(self.response_text(row, properties, escaped_data))

    def response_text(self, row: ItemRow, properties: Sequence[str],
                      escaped_data: str | None = None) -> str:
        """One object's ``<D:response>``, not yet added. ``escaped_data``:
        its calendar data already escaped (from ``calendar_data_cache``),
        for properties that ``writes_directly``; otherwise the row's text
        is used."""
        if row.name == "VCALENDAR":
            key = tuple(properties)
            try:
                direct = self._direct[key]
            except KeyError:
                direct = self._direct[key] = _direct_writer(key)
            if direct is not None:
                return direct(self._base, row, escaped_data)
        found, missing = [], []
        for name, tag, empty in self._plan(properties):
            value = self._value(row, name) if tag is not None else None
            if value is None:
                missing.append(empty)
            else:
                found.append(f"<{tag}>{value}</{tag}>" if value else empty)
        parts = ["<D:response><D:href>", self._base, quote_href(row.href), "</D:href>"]
        if found:
            parts += ["<D:propstat><D:prop>", *found, "</D:prop>", _OK, "</D:propstat>"]
        if missing:
            parts += ["<D:propstat><D:prop>", *missing, "</D:prop>", _NOT_FOUND,
                      "</D:propstat>"]
        parts.append("</D:response>")
        return "".join(parts)

    def missing(self, href: str) -> None:
        """An href that does not exist (any more): 404 without properties."""
        self._parts.append(f"<D:response><D:href>{self._base}{quote_href(href)}</D:href>"
                           f"{_NOT_FOUND}</D:response>")

    def raw(self, text: str) -> None:
        self._parts.append(text)

    def _value(self, row: ItemRow, name: str) -> str | None:
        if name == CALENDAR_DATA:
            return escape_text(row.text or "") if row.name == "VCALENDAR" else None
        if name == GETETAG:
            return escape_text(row.etag)
        if name == GETCONTENTTYPE:
            mimetype = xmlutils.OBJECT_MIMETYPES.get(row.name)
            if mimetype is None:
                return None
            suffix = f";component={row.component}" if row.component else ""
            return f"{mimetype};charset={self._encoding}{suffix}"
        if name == GETLASTMODIFIED:
            return http_date(row.modified)
        if name == RESOURCETYPE:
            return ""
        if name == GETCONTENTLENGTH:
            return str(len((row.text or "").encode(self._encoding)))
        if name == SCHEDULE_TAG:
            # RFC 6638 §3.2.10: only scheduling objects have one.
            return escape_text(row.schedule_tag) if row.schedule_tag else None
        if name == ADDRESS_DATA:
            return escape_text(row.text or "") if row.name in ("VCARD", "VLIST") else None
        return None

    def render(self, trailer: Iterable[str] = ()) -> bytes:
        return "".join([*self._parts, *trailer, "</D:multistatus>"]).encode(self._encoding)
