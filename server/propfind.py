"""PROPFIND, extended: Depth 1 listings of a calendar or address book.

A client's most frequent PROPFIND lists every item's ETag (Apple Calendar,
Thunderbird and DAVx5 all poll this way). kalend answers it from item rows
without building Radicale item objects; the collection's own response is
still Radicale's, and every other PROPFIND goes to Radicale unchanged.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from http import client
from urllib.parse import quote

import defusedxml.ElementTree as DefusedET
from radicale import httputils, pathutils, rights, types, xmlutils
from radicale.app.base import Access, ApplicationBase
from radicale.app.propfind import xml_propfind_response

from kalend.server.multistatus import (
    TEXT_PROPERTIES,
    ItemRow,
    MultistatusWriter,
    requested_properties,
)
from kalend.storage_plugin.collection import Collection


def collection_href(base_prefix: str, path: str) -> str:
    return quote(f"{base_prefix}{pathutils.unstrip_path(path, True)}")


def row_of(mapping) -> ItemRow:
    """An ItemRow from a full item row mapping (calendar-query results)."""
    return ItemRow(mapping["href"], mapping["etag"], mapping["name"], mapping["component"],
                   mapping["modified"], mapping["text"], mapping["schedule_tag"])


def read_xml(environ: types.WSGIEnviron, configuration) -> tuple[bytes, ET.Element | None]:
    """Read the body once, put it back for Radicale, and parse it (None when
    it is empty or not acceptable XML: Radicale then answers as it does)."""
    raw = httputils.read_raw_request_body(configuration, environ)
    environ["wsgi.input"] = io.BytesIO(raw)
    if not raw:
        return raw, None
    try:
        return raw, DefusedET.fromstring(raw)
    except Exception:
        return raw, None


class ApplicationPartPropfind(ApplicationBase):

    def do_PROPFIND(self, environ: types.WSGIEnviron, base_prefix: str, path: str,
                    user: str, user_groups: set, request_info: dict) -> types.WSGIResponse:
        delegate = super().do_PROPFIND  # type: ignore[misc]
        if environ.get("HTTP_DEPTH", "0") != "1" or self._sharing._enabled:
            return delegate(environ, base_prefix, path, user, user_groups, request_info)
        try:
            _, root = read_xml(environ, self.configuration)
        except RuntimeError:
            return httputils.BAD_REQUEST
        top = root[0] if root is not None and len(root) else None
        names = (requested_properties(top)
                 if top is not None and top.tag == xmlutils.make_clark("D:prop") else None)
        access = Access(self._rights, user, user_groups, path)
        if names is None or not access.check("r"):
            return delegate(environ, base_prefix, path, user, user_groups, request_info)
        with self._storage.acquire_lock("r", user):
            collection = next(iter(self._storage.discover(path)), None)
            if (not isinstance(collection, Collection) or not collection.tag
                    or collection.has_child_collections()):
                return delegate(environ, base_prefix, path, user, user_groups, request_info)
            if not access.check("r", collection):
                return httputils.NOT_ALLOWED
            raw_permissions = self._rights.authorization(
                user, user_groups, pathutils.unstrip_path(collection.path, True))
            permissions = rights.intersect(raw_permissions, "rw")
            writer = MultistatusWriter(collection_href(base_prefix, collection.path),
                                       self._encoding)
            writer.element(xml_propfind_response(
                self, base_prefix, path, collection, names, user, self._encoding,
                write="w" in permissions, max_resource_size=self._max_resource_size))
            if permissions:
                with_text = any(n in TEXT_PROPERTIES for n in names)
                for row in collection.item_rows(with_text=with_text):
                    writer.item(ItemRow._make(row), names)
        request_info["status"] = client.MULTI_STATUS
        headers = {"DAV": httputils.DAV_HEADERS,
                   "Content-Type": f"text/xml; charset={self._encoding}"}
        return client.MULTI_STATUS, headers, writer.render(), None
