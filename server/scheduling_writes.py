"""DELETE and MOVE with implicit scheduling (RFC 6638 §3.2, §8); PUT is in ``put``.

The request's write transaction is opened here, around Radicale's handler
(whose own ``acquire_lock`` joins it), so that planning, storing and
delivering happen in one transaction: a failed write delivers nothing, and a
failed delivery undoes the write. Inbox and outbox take no PUT or MOVE into
them (§2.2-§2.3).
"""

from __future__ import annotations

import logging
import posixpath
from http import client
from urllib.parse import unquote, urlparse

from radicale import httputils, types
from radicale.app.base import Access, ApplicationBase

from kalend.server.implicit import ImplicitScheduler, ScheduleTagMismatchError
from kalend.storage_plugin import principals
from kalend.storage_plugin.transaction import lock_scope, transaction

logger = logging.getLogger("kalend.scheduling")


class _Undo(Exception):
    """Carries a non-success answer out of the transaction, rolling it back."""

    def __init__(self, response: types.WSGIResponse) -> None:
        super().__init__()
        self.response = response


def schedule_collection_of(path: str) -> str | None:
    """"inbox"/"outbox" when ``path`` is in a home's scheduling collection."""
    parts = [p for p in path.strip("/").split("/") if p]
    if len(parts) >= 2 and parts[1] in (principals.INBOX, principals.OUTBOX):
        return parts[1]
    return None


def _is_home_or_box(path: str) -> bool:
    """A principal's home (``/alice/``), inbox or outbox itself."""
    parts = [p for p in path.strip("/").split("/") if p]
    return len(parts) == 1 or (len(parts) == 2 and parts[1] in (principals.INBOX,
                                                                 principals.OUTBOX))


def human_tag(precondition: str) -> str:
    """``CALDAV:valid-organizer`` (RFC 6638's spelling) -> ``C:valid-organizer``
    (the prefix Radicale's error writer knows)."""
    prefix, _, name = precondition.partition(":")
    return f"C:{name}" if prefix.upper() == "CALDAV" else precondition


class ApplicationPartSchedulingWrites(ApplicationBase):

    def _may_write(self, path: str, user: str, user_groups: set) -> bool:
        return Access(self._rights, user, user_groups, path).check("w")

    def do_MOVE(self, environ: types.WSGIEnviron, base_prefix: str, path: str,
                user: str, user_groups: set, request_info: dict) -> types.WSGIResponse:
        """A move inside one's home schedules nothing (the object is the
        same; its Schedule-Tag moves with the row); a move into or out of a
        scheduling collection is refused like a PUT there."""
        if not self._may_write(path, user, user_groups):
            # Radicale answers refusals: 401 without a login, else 403.
            return super().do_MOVE(environ, base_prefix, path,  # type: ignore[misc]
                                   user, user_groups, request_info)
        destination = urlparse(environ.get("HTTP_DESTINATION", "")).path
        target = unquote(destination)[len(base_prefix):] if destination.startswith(
            base_prefix) else ""
        if schedule_collection_of(target) or schedule_collection_of(path) == "outbox":
            logger.info("MOVE %r -> %r refused: scheduling collections", path, target)
            return self._webdav_error_response(client.FORBIDDEN, "D:resource-must-be-null",
                                               request_info)
        if schedule_collection_of(path) == "inbox" and len(path.strip("/").split("/")) > 2:
            # An inbox holds iTIP messages (METHOD:REQUEST...), which a
            # calendar may not hold (RFC 4791 §4.1); the invitation is in
            # the calendar already (RFC 6638 §4.1 automatic processing).
            logger.info("MOVE %r -> %r refused: an inbox message is no calendar object",
                        path, target)
            return self._webdav_error_response(
                client.FORBIDDEN, "C:valid-calendar-object-resource", request_info)
        return super().do_MOVE(environ, base_prefix, path,  # type: ignore[misc]
                               user, user_groups, request_info)

    def do_DELETE(self, environ: types.WSGIEnviron, base_prefix: str, path: str,
                  user: str, user_groups: set, request_info: dict) -> types.WSGIResponse:
        delegate = super().do_DELETE  # type: ignore[misc]
        if user and self._may_write(path, user, user_groups) and _is_home_or_box(path):
            # The home holds the scheduling collections, which the server
            # needs to deliver and answer free-busy (RFC 6638 §2.2-2.3):
            # none of them is deleted by a client.
            logger.info("DELETE %r refused: a home, inbox or outbox stays", path)
            return self._webdav_error_response(client.FORBIDDEN, "D:need-privileges",
                                               request_info)
        if path.endswith("/") or not user or schedule_collection_of(path) == "inbox" \
                or not self._may_write(path, user, user_groups):
            # Deleting an inbox message schedules nothing (§2.2); refusals
            # are Radicale's, before anything of the resource is read.
            return delegate(environ, base_prefix, path, user, user_groups, request_info)
        send_reply = environ.get("HTTP_SCHEDULE_REPLY", "T").strip().upper() != "F"
        storage = self._storage
        try:
            with transaction(storage.engine, "w", [lock_scope(path)]):
                scheduler = ImplicitScheduler(storage, user, posixpath.normpath(path))
                scheduler.check_schedule_tag(environ.get("HTTP_IF_SCHEDULE_TAG_MATCH"))
                scheduler.plan_delete(send_reply)
                response = delegate(environ, base_prefix, path, user, user_groups,
                                    request_info)
                if response[0] not in (client.OK, client.NO_CONTENT):
                    raise _Undo(response)
                scheduler.deliver(stored=False)
        except _Undo as undo:
            return undo.response
        except ScheduleTagMismatchError:
            return httputils.PRECONDITION_FAILED
        return response
