"""The WebDAV properties of RFC 6638 §2 and §9 in PROPFIND answers.

Radicale answers every property it does not know with 404 and gives every
calendar-tagged collection the resource type ``C:calendar``. kalend lets
Radicale (or its own listing writer) answer first, then fills in, per
response, what scheduling defines: the principal's inbox, outbox, addresses,
user type and default calendar; the resource types of the inbox and outbox;
their component sets; a calendar's schedule-calendar-transp. Only answers to
requests that name such a property (or ask for all) are touched.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from urllib.parse import unquote, urlparse

from radicale import xmlutils
from sqlalchemy import select

from kalend.storage_plugin import principals, schema
from kalend.storage_plugin.transaction import current_connection


def _c(tag: str) -> str:
    return xmlutils.make_clark(tag)


INBOX_URL = _c("C:schedule-inbox-URL")
OUTBOX_URL = _c("C:schedule-outbox-URL")
ADDRESS_SET = _c("C:calendar-user-address-set")
USER_TYPE = _c("C:calendar-user-type")
DEFAULT_CALENDAR = _c("C:schedule-default-calendar-URL")
CALENDAR_TRANSP = _c("C:schedule-calendar-transp")
COMPONENT_SET = _c("C:supported-calendar-component-set")
RESOURCETYPE = _c("D:resourcetype")

#: The properties this module answers; a PROPFIND naming none of them (and
#: not asking for all properties) is left as Radicale answered it.
SCHEDULE_PROPERTIES = frozenset({INBOX_URL, OUTBOX_URL, ADDRESS_SET, USER_TYPE,
                                 DEFAULT_CALENDAR, CALENDAR_TRANSP, COMPONENT_SET,
                                 RESOURCETYPE})
_OK = "HTTP/1.1 200 OK"


def concerns_scheduling(request: ET.Element | None) -> bool:
    """Does this PROPFIND body ask for anything answered here?"""
    if request is None or request.find(_c("D:prop")) is None:
        return True   # allprop, propname or an empty body
    return any(child.tag in SCHEDULE_PROPERTIES for child in request.find(_c("D:prop")))


class _Home:
    """What the answers need to know about one principal, read once."""

    def __init__(self, principal: str) -> None:
        connection = current_connection()
        self.principal = principal
        self.addresses = principals.addresses_of(connection, principal)
        self.default_calendar = principals.default_calendar_path(connection, principal)
        c = schema.collection.c
        self.props = {path: json.loads(props or "{}") for path, props in connection.execute(
            select(c.path, c.props).where(c.owner == principal))}


def complete(body: bytes, base_prefix: str) -> bytes:
    """The multistatus ``body`` with the scheduling properties filled in."""
    root = ET.fromstring(body)
    homes: dict[str, _Home] = {}
    changed = False
    for response in root.findall(_c("D:response")):
        href = response.findtext(_c("D:href")) or ""
        path = unquote(urlparse(href).path)[len(base_prefix):].strip("/")
        segments = path.split("/") if path else []
        if not segments or len(segments) > 2:
            continue
        home = homes.get(segments[0])
        if home is None:
            home = homes[segments[0]] = _Home(segments[0])
        changed |= _complete_response(response, segments, home, base_prefix)
    if not changed:
        return body
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root)


def _complete_response(response: ET.Element, segments: list[str], home: _Home,
                       base_prefix: str) -> bool:
    props = home.props.get("/".join(segments))
    if props is None:
        return False
    kind = props.get(principals.SCHEDULE_PROPERTY)
    changed = False
    for propstat in list(response.findall(_c("D:propstat"))):
        container = propstat.find(_c("D:prop"))
        if container is None:
            continue
        for element in list(container):
            value = _value(element.tag, segments, kind, props, home, base_prefix)
            if value is None:
                continue
            element.clear()
            if isinstance(value, str):
                element.text = value
            else:
                element.extend(value)
            if (propstat.findtext(_c("D:status")) or "") != _OK:
                container.remove(element)
                _ok_container(response).append(element)
            changed = True
    return changed


def _ok_container(response: ET.Element) -> ET.Element:
    for propstat in response.findall(_c("D:propstat")):
        if (propstat.findtext(_c("D:status")) or "") == _OK:
            container = propstat.find(_c("D:prop"))
            if container is not None:
                return container
    propstat = ET.SubElement(response, _c("D:propstat"))
    container = ET.SubElement(propstat, _c("D:prop"))
    ET.SubElement(propstat, _c("D:status")).text = _OK
    return container


def _href(base_prefix: str, path: str) -> ET.Element:
    element = ET.Element(_c("D:href"))
    element.text = xmlutils.make_href(base_prefix, f"/{path}/")
    return element


def _value(tag: str, segments: list[str], kind: str | None, props: dict, home: _Home,
           base_prefix: str) -> list[ET.Element] | str | None:
    """The property's children (or text), or None to leave it as it is."""
    principal = home.principal
    if len(segments) == 1:
        if tag == INBOX_URL:
            return [_href(base_prefix, f"{principal}/{principals.INBOX}")]
        if tag == OUTBOX_URL:
            return [_href(base_prefix, f"{principal}/{principals.OUTBOX}")]
        if tag == ADDRESS_SET:
            # §2.4.1: the mailto: addresses first, the principal URL last.
            hrefs = []
            for address in home.addresses:
                element = ET.Element(_c("D:href"))
                element.text = address
                hrefs.append(element)
            return [*hrefs, _href(base_prefix, principal)]
        if tag == USER_TYPE:
            return "INDIVIDUAL"
        if tag == DEFAULT_CALENDAR and home.default_calendar:
            return [_href(base_prefix, home.default_calendar)]
        return None
    if tag == RESOURCETYPE and kind in (principals.INBOX, principals.OUTBOX):
        return [ET.Element(_c("D:collection")), ET.Element(_c(f"C:schedule-{kind}"))]
    if tag == DEFAULT_CALENDAR and kind == principals.INBOX and home.default_calendar:
        return [_href(base_prefix, home.default_calendar)]
    if tag == COMPONENT_SET and kind == principals.OUTBOX:
        return [_comp(name) for name in ("VEVENT", "VTODO", "VFREEBUSY")]
    if tag == CALENDAR_TRANSP and kind is None and props.get("tag") == "VCALENDAR":
        stored = str(props.get("C:schedule-calendar-transp", "")).lower()
        return [ET.Element(_c("C:transparent" if "transparent" in stored else "C:opaque"))]
    return None


def _comp(name: str) -> ET.Element:
    element = ET.Element(_c("C:comp"))
    element.set("name", name)
    return element


def worth_completing(path: str, request: ET.Element | None) -> bool:
    """Whether a PROPFIND on ``path`` can have anything to complete: the
    root and principals' homes and their inbox and outbox can; an ordinary
    calendar only for schedule-calendar-transp (its items never)."""
    if not concerns_scheduling(request):
        return False
    segments = [s for s in path.strip("/").split("/") if s]
    if len(segments) <= 1 or segments[1] in (principals.INBOX, principals.OUTBOX):
        return len(segments) <= 2
    if len(segments) > 2:
        return False
    prop = request.find(_c("D:prop")) if request is not None else None
    return prop is None or any(child.tag == CALENDAR_TRANSP for child in prop)
