"""PUT of a calendar object or contact: kalend's whole change to Radicale's PUT.

Radicale's handler reads the body, parses it, then stores it under its lock.
kalend answers the PUT of one object itself so that the lock is held for
the least work, and nothing a client sends can make it long (issue 15):

1. before the body is read: a Content-Length over ``[server]
   max_resource_size`` is refused with 403 CALDAV:max-resource-size (RFC 4791
   §5.3.2.1), one over ``max_content_length`` already got 413 from Radicale;
2. before it is parsed: its charset, that it holds a component (§4.1), and
   the ``[limits]`` a line scan can check (``object_limits``);
3. before the write transaction, in the request's read snapshot: Radicale's
   parse and checks (``radicale.app.put.prepare``), the recurrence rules
   (``recurrence_rules``), the occurrence index rows (``plan_ahead``), and the
   scheduling plan, which depends on the stored version read in that
   snapshot (RFC 6638 §3.2: SCHEDULE-STATUS, SEQUENCE);
4. in the write transaction: the preconditions (If-Match, If-None-Match,
   If-Schedule-Tag-Match, no-uid-conflict), the row writes and the
   deliveries. When the stored version changed since step 3 (another
   client's write in between), the scheduling plan is made again from the
   version now stored: the one case where the new object is read under the
   lock, bounded by the limits of step 2.

A PUT to a collection (Radicale's whole-calendar upload) still goes to
Radicale, with the occurrence rows of its objects planned ahead the same way.
"""

from __future__ import annotations

import logging
import posixpath
from dataclasses import dataclass
from http import client

import radicale.item as radicale_item
from radicale import httputils, pathutils, rights, types
from radicale import storage as radicale_storage
from radicale.app.base import Access, ApplicationBase
from radicale.app.put import prepare as radicale_prepare

from kalend.scheduling import itip
from kalend.server import request_checks
from kalend.server.implicit import ImplicitScheduler, ScheduleTagMismatchError
from kalend.server.scheduling_writes import human_tag, schedule_collection_of
from kalend.storage_plugin import Storage, object_limits, occurrence_index, recurrence_rules
from kalend.storage_plugin import occurrences as occ
from kalend.storage_plugin.collection import Collection
from kalend.storage_plugin.transaction import lock_scope, transaction

logger = logging.getLogger("kalend.put")


def _kind_of_upload(text: str) -> str:
    """VCALENDAR or VADDRESSBOOK (for vCards) from the first component of an
    upload, "" when it names neither."""
    for line in text.lstrip("\ufeff").split("\n", 20)[:20]:
        value = line.strip().upper()
        if value == "BEGIN:VCALENDAR":
            return "VCALENDAR"
        if value == "BEGIN:VCARD":
            return "VADDRESSBOOK"
    return ""


def _drain(environ: types.WSGIEnviron, length: int) -> None:
    """Read ``length`` bytes of the body and drop them."""
    stream = environ["wsgi.input"]
    try:
        while length > 0:
            chunk = stream.read(min(length, 65536))
            if not chunk:
                return
            length -= len(chunk)
    except OSError:
        return


class _Refused(Exception):
    """An answer decided before the write: carried out of the preparation."""

    def __init__(self, response: types.WSGIResponse) -> None:
        super().__init__()
        self.response = response


@dataclass(frozen=True)
class PreparedPut:
    """What step 3 computed: the object as it will be stored, and what it
    was computed from."""

    #: The object to store (what the client sent, after the scheduling plan).
    item: radicale_item.Item
    #: The object as the client sent it, through Radicale's checks.
    sent: radicale_item.Item
    scheduler: ImplicitScheduler
    #: The stored version (text, Schedule-Tag) the plan was made against.
    basis: tuple[str | None, str | None]
    access: Access
    tag: str

    @property
    def changed_by_server(self) -> bool:
        return self.item.serialize() != self.sent.serialize()


class ApplicationPartPut(ApplicationBase):

    def do_PUT(self, environ: types.WSGIEnviron, base_prefix: str, path: str,
               user: str, user_groups: set, request_info: dict) -> types.WSGIResponse:
        access = Access(self._rights, user, user_groups, path)
        if not access.check("w"):
            return httputils.NOT_ALLOWED    # 401 without a login, else 403
        if schedule_collection_of(path):
            logger.info("PUT into %r refused: scheduling collections take no PUT", path)
            return self._webdav_error_response(client.FORBIDDEN, "D:resource-must-be-null",
                                               request_info)
        storage = self._storage
        assert isinstance(storage, Storage)
        with storage.acquire_lock("r", user):
            target = next(iter(storage.discover(path)), None)
            parent = next(iter(storage.discover(access.parent_path)), None)
            parent_tag = parent.tag if isinstance(parent, Collection) else None
        if path.endswith("/") or isinstance(target, radicale_storage.BaseCollection) \
                or not parent_tag:
            existing_tag = target.tag if isinstance(target, Collection) else ""
            return self._put_collection(environ, base_prefix, path, user, user_groups,
                                        request_info, existing_tag)
        if "w" not in access.parent_permissions:
            return httputils.NOT_ALLOWED
        try:
            with occurrence_index.planned_ahead():
                prepared = self._prepare(environ, path, user, access, parent_tag,
                                         request_info)
                return self._write(environ, path, user, parent_tag, prepared, request_info)
        except _Refused as refused:
            return refused.response
        except occ.InstanceLimitError as exc:
            # A copy delivered to an attendee, planned in the transaction.
            return self._max_instances(path, exc, request_info)

    # -- steps 1-3: before the write transaction --------------------------------

    def _prepare(self, environ: types.WSGIEnviron, path: str, user: str, access: Access,
                 tag: str, request_info: dict) -> PreparedPut:
        limits = object_limits.RequestLimits.of(self.configuration, self._max_resource_size)
        text = self._read_body(environ, path, limits, request_info)
        if tag == "VCALENDAR" and request_checks.lacks_component(text):
            raise _Refused(self._webdav_error_response(
                client.BAD_REQUEST, "C:valid-calendar-object-resource", request_info))
        self._check(lambda: object_limits.check_text(text, limits, tag == "VADDRESSBOOK"),
                    path, request_info)
        if tag == "VCALENDAR":
            self._check_rules(text, path, request_info)
        sent = self._prepared_item(text, path, access, tag)
        storage = self._storage
        assert isinstance(storage, Storage)
        with storage.acquire_lock("r", user):
            return self._plan(sent, path, user, access, tag, request_info)

    def _plan(self, sent: radicale_item.Item, path: str, user: str, access: Access, tag: str,
              request_info: dict) -> PreparedPut:
        """The scheduling plan and the occurrence rows of ``sent``, against
        the version stored now (in the read snapshot before the write, or in
        the write transaction when that version changed meanwhile)."""
        storage = self._storage
        assert isinstance(storage, Storage)
        scheduler = ImplicitScheduler(storage, user, path)
        basis = (scheduler.old_text, scheduler.old_tag)
        stored = self._plan_scheduling(scheduler, sent.serialize(), path, request_info)
        item = sent if stored == sent.serialize() else self._prepared_item(
            stored, path, access, tag)
        if tag == "VCALENDAR":
            self._plan_occurrences(item, path, request_info)
        return PreparedPut(item, sent, scheduler, basis, access, tag)

    def _read_body(self, environ: types.WSGIEnviron, path: str,
                   limits: object_limits.RequestLimits, request_info: dict) -> str:
        """The decoded body. One announced over ``max_resource_size`` is
        read and dropped unparsed, then refused (RFC 4791 §5.3.2.1): reading
        costs milliseconds, and a client that is answered before it has sent
        its body often sees a reset connection instead of the answer.
        Radicale has already answered 413 to one over ``max_content_length``
        without reading it."""
        try:
            announced = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise _Refused(httputils.BAD_REQUEST) from None
        if announced > limits.max_resource_size:
            logger.info("PUT %r refused: %d bytes announced, [server] max_resource_size "
                        "is %d", path, announced, limits.max_resource_size)
            _drain(environ, announced)
            raise _Refused(self._too_big(request_info))
        try:
            raw = httputils.read_raw_request_body(self.configuration, environ)
        except RuntimeError:
            raise _Refused(httputils.BAD_REQUEST) from None
        except TimeoutError:
            raise _Refused(httputils.REQUEST_TIMEOUT) from None
        charset = request_checks.request_charset(environ, self._encoding)
        try:
            return raw.decode(charset)
        except LookupError:
            raise _Refused(request_checks.bad_request(
                f"unknown charset {charset!r} in Content-Type")) from None
        except UnicodeDecodeError as exc:
            raise _Refused(request_checks.bad_request(
                f"the request body is not valid {charset} (byte {exc.start}: {exc.reason}); "
                f"send {charset} or declare the body's charset in Content-Type")) from None

    def _too_big(self, request_info: dict) -> types.WSGIResponse:
        request_info["status"] = client.FORBIDDEN
        return self._webdav_error_response(client.FORBIDDEN, "C:max-resource-size",
                                           request_info)

    def _check(self, check, path: str, request_info: dict) -> None:
        try:
            check()
        except object_limits.LimitExceeded as exc:
            logger.info("PUT %r refused: %s", path, exc.reason)
            request_info["status"] = client.FORBIDDEN
            raise _Refused(self._webdav_error_response(client.FORBIDDEN, exc.precondition,
                                                       request_info)) from None

    def _check_rules(self, text: str, path: str, request_info: dict) -> None:
        try:
            recurrence_rules.check_text(text)
        except recurrence_rules.RecurrenceRuleRefused as exc:
            raise _Refused(self._invalid_rule(path, exc, request_info)) from None

    def _invalid_rule(self, path: str, error: recurrence_rules.RecurrenceRuleRefused,
                      request_info: dict) -> types.WSGIResponse:
        logger.info("PUT %r refused: %s", path, error.reason)
        request_info["status"] = client.BAD_REQUEST
        return self._webdav_error_response(client.BAD_REQUEST, error.precondition, request_info)

    def _prepared_item(self, text: str, path: str, access: Access,
                       tag: str) -> radicale_item.Item:
        """Radicale's parse and checks of one object (its ``prepare``), as
        its PUT does before taking its lock."""
        try:
            vobject_items = radicale_item.read_components(text)
        except Exception as exc:
            logger.info("PUT %r refused: not readable: %s", path, exc)
            raise _Refused(httputils.BAD_REQUEST) from None
        items, _, _, _, exc_info = radicale_prepare(
            vobject_items, path, "",
            bool(rights.intersect(access.permissions, "Ww")),
            bool(rights.intersect(access.parent_permissions, "w")),
            self._max_resource_size, self._max_vevent_rrule_occurrence, tag, False)
        if exc_info is not None:
            error = exc_info[1]
            if isinstance(error, occ.InstanceLimitError):
                raise _Refused(self._max_instances(path, error, {})) from None
            if isinstance(error, OverflowError):  # Radicale's flag for the size
                raise _Refused(self._too_big({})) from None
            logger.info("PUT %r refused: %s", path, error)
            raise _Refused(httputils.BAD_REQUEST) from None
        item, = items
        return item

    def _plan_scheduling(self, scheduler: ImplicitScheduler, text: str, path: str,
                         request_info: dict) -> str:
        try:
            return scheduler.plan_put(text)
        except itip.SchedulingError as exc:
            logger.info("PUT %r refused: %s", path, exc)
            raise _Refused(self._webdav_error_response(
                client.FORBIDDEN, human_tag(exc.precondition), request_info)) from None

    def _plan_occurrences(self, item: radicale_item.Item, path: str,
                          request_info: dict) -> None:
        storage = self._storage
        assert isinstance(storage, Storage)
        start, end = item.time_range
        try:
            occurrence_index.plan_ahead(item.serialize(), (int(start), int(end)),
                                        storage.index_settings())
        except recurrence_rules.RecurrenceRuleRefused as exc:
            raise _Refused(self._invalid_rule(path, exc, request_info)) from None
        except occ.InstanceLimitError as exc:
            raise _Refused(self._max_instances(path, exc, request_info)) from None

    def _max_instances(self, path: str, error: Exception,
                       request_info: dict) -> types.WSGIResponse:
        # RFC 4791 §5.2.7 / §5.3.2.1: the precondition CALDAV:max-instances.
        logger.info("PUT %r refused: %s", path, error)
        request_info["status"] = client.FORBIDDEN
        return self._webdav_error_response(client.FORBIDDEN, "C:max-instances", request_info)

    # -- step 4: the write transaction --------------------------------------------

    def _write(self, environ: types.WSGIEnviron, path: str, user: str, tag: str,
               prepared: PreparedPut, request_info: dict) -> types.WSGIResponse:
        storage = self._storage
        assert isinstance(storage, Storage)
        href = posixpath.basename(pathutils.strip_path(path))
        parent_path = posixpath.dirname(pathutils.strip_path(path))
        with transaction(storage.engine, "w", [lock_scope(path)]):
            parent = storage.collection_at(parent_path)
            if parent is None or parent.tag != tag:
                return httputils.CONFLICT   # replaced meanwhile: the client retries
            version = parent.stored_version(href)
            current = None if version is None else version.item
            refusal = self._preconditions(environ, current, path)
            if refusal is not None:
                return refusal
            basis = (None, None) if version is None else version.text_and_schedule_tag
            if basis != prepared.basis:
                logger.info("PUT %r: the stored version changed while the request was "
                            "prepared; planning it again", path)
                prepared = self._plan(prepared.sent, path, user, prepared.access, tag,
                                      request_info)
            try:
                prepared.scheduler.check_schedule_tag(environ.get("HTTP_IF_SCHEDULE_TAG_MATCH"))
            except ScheduleTagMismatchError:
                return httputils.PRECONDITION_FAILED
            item = prepared.item
            if current is not None and current.uid != item.uid or \
                    current is None and parent.has_uid(item.uid):
                request_info["status"] = client.CONFLICT
                return self._webdav_error_response(
                    client.CONFLICT, "%s:no-uid-conflict" % ("C" if tag == "VCALENDAR" else "CR"),
                    request_info)
            stored, _ = parent.upload(href, item, replacing=version)
            schedule_tag = prepared.scheduler.deliver()
        headers = {"ETag": stored.etag}
        if schedule_tag is not None:
            headers["Schedule-Tag"] = schedule_tag
        if prepared.changed_by_server:
            # RFC 4791 §5.3.4: the stored object differs from the one sent.
            del headers["ETag"]
        return (client.NO_CONTENT if current is not None else client.CREATED), headers, None, None

    def _preconditions(self, environ: types.WSGIEnviron, current: radicale_item.Item | None,
                       path: str) -> types.WSGIResponse | None:
        """If-Match and If-None-Match (RFC 9110 §13.1.1-2), and Radicale's
        ``[storage] strict_preconditions``, as Radicale's PUT checks them."""
        etag = environ.get("HTTP_IF_MATCH", "")
        if current is not None and not etag and self._strict_preconditions:
            return httputils.PRECONDITION_FAILED
        if current is None and etag:
            return httputils.PRECONDITION_FAILED
        if current is not None and etag and etag not in ("*", current.etag):
            logger.info("PUT %r: If-Match %s, stored %s", path, etag, current.etag)
            return httputils.PRECONDITION_FAILED
        if current is not None and environ.get("HTTP_IF_NONE_MATCH", "") == "*":
            return httputils.PRECONDITION_FAILED
        return None

    # -- a PUT of a whole collection ------------------------------------------------

    def _put_collection(self, environ: types.WSGIEnviron, base_prefix: str, path: str,
                        user: str, user_groups: set, request_info: dict,
                        existing_tag: str) -> types.WSGIResponse:
        """Radicale's whole-collection PUT (its web interface's upload),
        with the occurrence rows of the objects planned before its lock. An
        upload of the other kind onto a calendar or an address book is
        refused (409): Radicale would turn the address book into a calendar
        and its contacts would be gone."""
        error, text = request_checks.check_charset(environ, self._encoding)
        if error is not None:
            return error
        if existing_tag and _kind_of_upload(text) not in ("", existing_tag):
            logger.info("PUT %r refused: a %s upload onto a %s collection", path,
                        _kind_of_upload(text), existing_tag)
            return httputils.CONFLICT
        limits = object_limits.RequestLimits.of(self.configuration, self._max_resource_size)
        try:
            self._check(lambda: object_limits.check_properties(text, limits), path,
                        request_info)
            with occurrence_index.planned_ahead():
                self._plan_collection(text, path, Access(self._rights, user, user_groups, path),
                                      request_info)
                return super().do_PUT(environ, base_prefix, path,  # type: ignore[misc]
                                      user, user_groups, request_info)
        except _Refused as refused:
            return refused.response
        except occ.InstanceLimitError as exc:
            return self._max_instances(path, exc, request_info)

    def _plan_collection(self, text: str, path: str, access: Access,
                         request_info: dict) -> None:
        """Radicale's own parse of the upload, made once more before its lock
        for the texts it will store, and their occurrence rows. Unreadable
        input is left to Radicale's handler, which answers it."""
        try:
            vobject_items = radicale_item.read_components(text)
        except Exception:
            return
        items, tag, whole, _, exc_info = radicale_prepare(
            vobject_items, path, "",
            bool(rights.intersect(access.permissions, "Ww")),
            bool(rights.intersect(access.parent_permissions, "w")),
            self._max_resource_size, self._max_vevent_rrule_occurrence)
        if exc_info is not None or tag != "VCALENDAR" or not whole:
            return
        for item in items:
            self._plan_occurrences(item, path, request_info)
