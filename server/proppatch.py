"""PROPPATCH, extended: schedule-calendar-transp (RFC 6638 §9.1) is stored.

Its value is an element (``<C:opaque/>`` or ``<C:transparent/>``), and
Radicale keeps only the text of a property; the request is rewritten so that
the child's name becomes the text Radicale stores and free-busy reads.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

from radicale import types, xmlutils
from radicale.app.base import ApplicationBase

from kalend.server.propfind import read_xml

_TRANSP = xmlutils.make_clark("C:schedule-calendar-transp")
_VALUES = {xmlutils.make_clark("C:opaque"): "opaque",
           xmlutils.make_clark("C:transparent"): "transparent"}


class ApplicationPartProppatch(ApplicationBase):

    def do_PROPPATCH(self, environ: types.WSGIEnviron, base_prefix: str, path: str,
                     user: str, user_groups: set, request_info: dict) -> types.WSGIResponse:
        try:
            _, root = read_xml(environ, self.configuration)
        except RuntimeError:
            root = None
        if root is not None and _rewrite_transp(root):
            raw = ET.tostring(root)
            environ["wsgi.input"] = io.BytesIO(raw)
            environ["CONTENT_LENGTH"] = str(len(raw))
        return super().do_PROPPATCH(environ, base_prefix, path,  # type: ignore[misc]
                                    user, user_groups, request_info)


def _rewrite_transp(root: ET.Element) -> bool:
    changed = False
    for element in root.iter(_TRANSP):
        for child in list(element):
            if child.tag in _VALUES:
                element.remove(child)
                element.text = _VALUES[child.tag]
                changed = True
    return changed
