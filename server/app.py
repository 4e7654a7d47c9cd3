"""kalend's WSGI application: Radicale's, on kalend's storage.

Radicale's dispatcher keeps doing authentication, rights and path checks; the
RFC 6638 parts (scheduling) extend this class in files named after the HTTP
method they change, as Radicale's own ``app/`` does.
"""

from __future__ import annotations

from http import client
from xml.etree import ElementTree as ET

from defusedxml import DefusedXmlException
from radicale import config as radicale_config
from radicale import types
from radicale.app import Application as RadicaleApplication

from kalend.server import compression, radicale_compat, request_checks
from kalend.server.propfind import ApplicationPartPropfind
from kalend.server.report import ApplicationPartReport
from kalend.storage_plugin import Storage
from kalend.storage_plugin.occurrences import InstanceLimitError

radicale_compat.apply()


class Application(ApplicationPartReport, ApplicationPartPropfind, RadicaleApplication):
    """The WSGI callable served by ``kalend serve``."""

    def __init__(self, configuration: radicale_config.Configuration) -> None:
        super().__init__(configuration)
        if not isinstance(self._storage, Storage):
            raise TypeError("kalend needs [storage] type = kalend.storage_plugin")

    @property
    def storage(self) -> Storage:
        storage = self._storage
        assert isinstance(storage, Storage)
        return storage

    def _handle_request(self, environ: types.WSGIEnviron
                        ) -> compression.Handled:  # type: ignore[override]
        if not compression.accepts_gzip(environ):
            return super()._handle_request(environ)
        return compression.gzip_handled(super()._handle_request, environ)

    # -- request bodies (see request_checks) ----------------------------------

    def _read_xml_request_body(self, environ: types.WSGIEnviron,
                               request_info: dict) -> ET.Element | None:
        error, _ = request_checks.check_charset(environ, self._encoding)
        if error is not None:
            raise RuntimeError(error[2])
        try:
            return super()._read_xml_request_body(environ, request_info)
        except DefusedXmlException as exc:
            raise RuntimeError(f"XML with entity or DTD declarations is refused: {exc!r}") from exc

    def do_PUT(self, environ: types.WSGIEnviron, base_prefix: str, path: str,
               user: str, user_groups: set, request_info: dict) -> types.WSGIResponse:
        error, text = request_checks.check_charset(environ, self._encoding)
        if error is not None:
            return error
        if not path.endswith("/") and request_checks.lacks_component(text):
            return self._webdav_error_response(
                client.BAD_REQUEST, "C:valid-calendar-object-resource", request_info)
        try:
            return super().do_PUT(environ, base_prefix, path, user, user_groups, request_info)
        except InstanceLimitError:
            # RFC 4791 §5.2.7 / §5.3.2.1: the precondition CALDAV:max-instances.
            # The write's transaction was rolled back by the exception.
            request_info["status"] = client.FORBIDDEN
            return self._webdav_error_response(client.FORBIDDEN, "C:max-instances",
                                               request_info)
