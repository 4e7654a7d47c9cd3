"""Checks on request bodies that stock Radicale lets through.

* Charset: Radicale decodes a body with the declared charset, then falls
  back to UTF-8 and finally ISO-8859-1, which accepts any byte string: an
  invalid UTF-8 body would be stored as mojibake. kalend decodes with the
  declared charset (or ``[encoding] request``, UTF-8) and answers 400 when the
  bytes do not decode (RFC 5545 §3.1.4: the default charset is UTF-8).
* XML: Radicale parses with defusedxml, whose refusal of entity declarations
  (billion laughs, external entities) surfaces as an unhandled exception and
  a 500; kalend turns it into the 400 of any other unparsable body.
* A calendar object resource must hold a component (RFC 4791 §4.1,
  RFC 5545 §3.4: ``1*component``); a VCALENDAR with nothing in it (or only
  VTIMEZONE) is refused with CALDAV:valid-calendar-object-resource.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from http import client

from radicale import types

_CHARSET = re.compile(r"charset\s*=\s*\"?([^\";\s]+)", re.IGNORECASE)
_TOP_COMPONENT = re.compile(r"^BEGIN:(V[A-Z-]+|X-[A-Z0-9-]+)\s*$", re.IGNORECASE | re.MULTILINE)
_SCHEDULABLE = {"VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY"}


def bad_request(message: str) -> types.WSGIResponse:
    return (client.BAD_REQUEST, (("Content-Type", "text/plain; charset=utf-8"),),
            message, None)


def request_charset(environ: types.WSGIEnviron, default: str) -> str:
    match = _CHARSET.search(environ.get("CONTENT_TYPE", "") or "")
    return match.group(1) if match else default


def buffer_body(environ: types.WSGIEnviron) -> bytes:
    """Read the body and put it back, so that Radicale can read it again."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length <= 0:
        return b""
    content = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(content)
    return content


def check_charset(environ: types.WSGIEnviron, default: str
                  ) -> tuple[types.WSGIResponse | None, str]:
    """(error response or None, decoded body)."""
    try:
        content = buffer_body(environ)
    except TimeoutError:
        return (client.REQUEST_TIMEOUT, (("Content-Type", "text/plain"),),
                "Connection timed out.", None), ""
    charset = request_charset(environ, default)
    try:
        return None, content.decode(charset)
    except LookupError:
        return bad_request(f"unknown charset {charset!r} in Content-Type"), ""
    except UnicodeDecodeError as exc:
        return bad_request(
            f"the request body is not valid {charset} (byte {exc.start}: {exc.reason}); "
            f"send {charset} or declare the body's charset in Content-Type"), ""


def check_xml_depth(root: ET.Element | None, limit: int) -> None:
    """Raise RuntimeError (Radicale answers it 400) for a body nested deeper
    than ``[limits] max_xml_depth``: answering such a body, Radicale's XML
    writer recurses once per level and fails past Python's recursion limit
    (a PROPFIND nested 100,000 deep answered 500). Walked without
    recursion, stopping at the first element too deep."""
    if root is None:
        return
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > limit:
            raise RuntimeError(f"the XML body is nested deeper than {limit} elements "
                               "([limits] max_xml_depth)")
        stack.extend((child, depth + 1) for child in element)


_DAV = "{DAV:}"
_CALDAV = "{urn:ietf:params:xml:ns:caldav}"
#: method -> (root elements allowed, the children each may hold), RFC 4918
#: §14.20 (propfind), §14.19 (propertyupdate), RFC 5689 §5.1 (mkcol),
#: RFC 4791 §9.1 (mkcalendar).
_BODY_GRAMMAR: dict[str, tuple[str, frozenset[str]]] = {
    "PROPFIND": (_DAV + "propfind", frozenset({_DAV + "prop", _DAV + "allprop",
                                                _DAV + "propname", _DAV + "include"})),
    "PROPPATCH": (_DAV + "propertyupdate", frozenset({_DAV + "set", _DAV + "remove"})),
    "MKCOL": (_DAV + "mkcol", frozenset({_DAV + "set"})),
    "MKCALENDAR": (_CALDAV + "mkcalendar", frozenset({_DAV + "set"})),
}


def check_webdav_body(method: str, root: ET.Element | None) -> None:
    """Raise RuntimeError (Radicale answers it 400) for a body that is not the
    method's element with the children its RFC allows; Radicale indexes into
    it unchecked (``<D:propfind/>`` answered 500: its first child)."""
    grammar = _BODY_GRAMMAR.get(method.upper())
    if root is None or grammar is None:
        return
    tag, children = grammar
    if root.tag != tag:
        raise RuntimeError(f"a {method} body must be {tag}, not {root.tag}")
    found = [child.tag for child in root]
    if any(child not in children for child in found):
        raise RuntimeError(f"{tag} may only hold {', '.join(sorted(children))}")
    if method.upper() == "PROPFIND" and not set(found) & {_DAV + "prop", _DAV + "allprop",
                                                            _DAV + "propname"}:
        raise RuntimeError("a propfind holds prop, allprop or propname (RFC 4918 §14.20)")
    if method.upper() == "PROPPATCH" and not found:
        raise RuntimeError("a propertyupdate holds set or remove (RFC 4918 §14.19)")
    for child in root:
        if child.tag in (_DAV + "set", _DAV + "remove") and \
                [c.tag for c in child] != [_DAV + "prop"]:
            raise RuntimeError(f"{child.tag} holds one DAV:prop (RFC 4918 §14.26)")


def lacks_component(text: str) -> bool:
    """True for a VCALENDAR holding no VEVENT, VTODO, VJOURNAL or VFREEBUSY."""
    unfolded = re.sub(r"\r?\n[ \t]", "", text)
    names = {m.group(1).upper() for m in _TOP_COMPONENT.finditer(unfolded)}
    return "VCALENDAR" in names and not names & _SCHEDULABLE

