"""GET and HEAD, extended with the Schedule-Tag header (RFC 6638 §3.2.10),
so that a client can make its next PUT conditional on it."""

from __future__ import annotations

import posixpath
from http import client

from radicale import types
from radicale.app.base import ApplicationBase


class ApplicationPartScheduleGet(ApplicationBase):

    def do_GET(self, environ: types.WSGIEnviron, base_prefix: str, path: str,
               user: str, user_groups: set, request_info: dict) -> types.WSGIResponse:
        status, headers, answer, xml = super().do_GET(  # type: ignore[misc]
            environ, base_prefix, path, user, user_groups, request_info)
        if status != client.OK or path.endswith("/") or not user:
            return status, headers, answer, xml
        parent, href = posixpath.split(path.strip("/"))
        with self._storage.acquire_lock("r", user):
            collection = self._storage.collection_at(parent)
            tag = collection.schedule_tag(href) if collection is not None else None
        if tag:
            headers = {**dict(headers), "Schedule-Tag": tag}
        return status, headers, answer, xml
