"""PROPFIND, extended with the scheduling properties (see
``schedule_properties``): Radicale's (or kalend's listing) answer, completed."""

from __future__ import annotations

from http import client

from radicale import types
from radicale.app.base import ApplicationBase

from kalend.server import schedule_properties
from kalend.server.propfind import read_xml


class ApplicationPartSchedulePropfind(ApplicationBase):

    def do_PROPFIND(self, environ: types.WSGIEnviron, base_prefix: str, path: str,
                    user: str, user_groups: set, request_info: dict) -> types.WSGIResponse:
        delegate = super().do_PROPFIND  # type: ignore[misc]
        try:
            _, request = read_xml(environ, self.configuration)
        except RuntimeError:
            request = None
        status, headers, answer, xml = delegate(environ, base_prefix, path, user,
                                                user_groups, request_info)
        if status != client.MULTI_STATUS or answer is None or not user \
                or not schedule_properties.worth_completing(path, request):
            return status, headers, answer, xml
        body = answer.encode(self._encoding) if isinstance(answer, str) else answer
        with self._storage.acquire_lock("r", user):
            body = schedule_properties.complete(body, base_prefix)
        return status, headers, body, xml
