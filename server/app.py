"""kalend's WSGI application: Radicale's, on kalend's storage.

Radicale's dispatcher keeps doing authentication, rights and path checks; the
RFC 6638 parts (scheduling) extend this class in files named after the HTTP
method they change, as Radicale's own ``app/`` does.
"""

from __future__ import annotations

import logging
from xml.etree import ElementTree as ET

from defusedxml import DefusedXmlException
from radicale import config as radicale_config
from radicale import pathutils, types
from radicale.app import Application as RadicaleApplication

from kalend.server import compression, radicale_compat, request_checks
from kalend.server.post import ApplicationPartPost
from kalend.server.propfind import ApplicationPartPropfind
from kalend.server.proppatch import ApplicationPartProppatch
from kalend.server.put import ApplicationPartPut
from kalend.server.report import ApplicationPartReport
from kalend.server.schedule_get import ApplicationPartScheduleGet
from kalend.server.schedule_propfind import ApplicationPartSchedulePropfind
from kalend.server.schedule_rights import ScheduleCollectionRights
from kalend.server.scheduling_writes import ApplicationPartSchedulingWrites
from kalend.storage_plugin import Storage, deadline, principals
from kalend.storage_plugin.expansion_budget import expansion_budget
from kalend.storage_plugin.transaction import request_failure, request_scope, transaction

radicale_compat.apply()

logger = logging.getLogger("kalend.server")


#: RFC 6638 §2: the server does the scheduling for its clients.
AUTO_SCHEDULE = "calendar-auto-schedule"


def named_paths(path_info: str) -> list[str]:
    """The storage paths a request URL names, each of its leading parts
    (``alice``, ``alice/work``, ``alice/work/x.ics``): Radicale looks up
    these, plus the user's principal, so the first lookup fetches them all.
    Three deep at most, as collections are two deep and items one below."""
    path = pathutils.strip_path(pathutils.sanitize_path(path_info))
    parts = path.split("/")[:3] if path else []
    return ["/".join(parts[:depth]) for depth in range(1, len(parts) + 1)]


class Application(ApplicationPartReport, ApplicationPartSchedulePropfind,
                  ApplicationPartPropfind, ApplicationPartProppatch, ApplicationPartPost,
                  ApplicationPartScheduleGet, ApplicationPartPut, ApplicationPartSchedulingWrites,
                  RadicaleApplication):
    """The WSGI callable served by ``kalend serve``."""

    def __init__(self, configuration: radicale_config.Configuration) -> None:
        super().__init__(configuration)
        if not isinstance(self._storage, Storage):
            raise TypeError("kalend needs [storage] type = kalend.storage_plugin")
        self._rights = ScheduleCollectionRights(self._rights)
        storage = self._storage
        storage.on_principal_created = lambda principal: principals.ensure_home(storage,
                                                                                principal)

    def provision(self, principal: str) -> None:
        """Create a principal's home with its inbox, outbox and default
        calendar (``kalend user add`` does this before the first login)."""
        with transaction(self.storage.engine, "w", [principal]):
            principals.ensure_home(self.storage, principal)

    @property
    def storage(self) -> Storage:
        storage = self._storage
        assert isinstance(storage, Storage)
        return storage

    def _handle_request(self, environ: types.WSGIEnviron
                        ) -> compression.Handled:  # type: ignore[override]
        if compression.accepts_gzip(environ):
            status, headers, answers = compression.gzip_handled(self._handle_in_scope,
                                                                environ)
        else:
            status, headers, answers = self._handle_in_scope(environ)
        headers = [(name, f"{value}, {AUTO_SCHEDULE}" if name == "DAV" else value)
                   for name, value in headers]
        return status, headers, answers

    def _handle_in_scope(self, environ: types.WSGIEnviron) -> compression.Handled:
        """Radicale's request handling, its reads in one database transaction
        (``request_scope``), which ends before the answer is compressed; the
        work bounded by ``[limits]`` (the deadline, the expansion budget).

        A failure that may pass when tried again (the database unreachable,
        a lock wait or the deadline run out: ``deadline.unavailable``) is
        answered 503 with Retry-After: Radicale answers every exception of a
        method 500, so the transaction notes the cause and it is turned into
        503 here."""
        limits = self.configuration
        try:
            with request_scope(named_paths(environ.get("PATH_INFO", ""))), \
                    deadline.request_deadline(limits.get("limits", "request_deadline")), \
                    expansion_budget(limits.get("limits", "max_expansion_steps")):
                status, headers, answers = super()._handle_request(environ)
                failure = request_failure()
        except Exception as error:
            failure = deadline.unavailable(error)
            if failure is None:
                raise
            status = "500"
        if failure is not None and status.startswith("500"):
            return self._unavailable(environ, failure)
        return status, headers, answers

    def _unavailable(self, environ: types.WSGIEnviron, failure: str) -> compression.Handled:
        logger.warning("%s %r answered 503: %s", environ.get("REQUEST_METHOD", ""),
                       environ.get("PATH_INFO", ""), failure)
        retry_after = self.configuration.get("limits", "retry_after")
        body = (f"Service Unavailable: {failure}; try again in {retry_after} s\n"
                ).encode("ascii")
        return ("503 Service Unavailable",
                [("Content-Type", "text/plain; charset=ascii"),
                 ("Content-Length", str(len(body))), ("Retry-After", str(retry_after))],
                [body])

    # -- request bodies (see request_checks) ----------------------------------

    def _read_xml_request_body(self, environ: types.WSGIEnviron,
                               request_info: dict) -> ET.Element | None:
        error, _ = request_checks.check_charset(environ, self._encoding)
        if error is not None:
            raise RuntimeError(error[2])
        try:
            root = super()._read_xml_request_body(environ, request_info)
        except DefusedXmlException as exc:
            raise RuntimeError(f"XML with entity or DTD declarations is refused: {exc!r}") from exc
        request_checks.check_xml_depth(root, self.configuration.get("limits", "max_xml_depth"))
        request_checks.check_webdav_body(environ.get("REQUEST_METHOD", ""), root)
        return root
