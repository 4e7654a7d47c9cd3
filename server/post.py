"""POST to a scheduling outbox: free-busy for many attendees at once
(RFC 6638 §5, the VFREEBUSY REQUEST that Apple Calendar's availability panel
sends).

One VFREEBUSY reply per recipient, computed from the occurrence index over
the recipient's calendars that count for free-busy (schedule-calendar-transp,
§9.1). Only the outbox's owner may POST, and the ORGANIZER must be one of
their addresses (§5.1, CALDAV:organizer-allowed).
"""

from __future__ import annotations

import datetime as dt
import logging
from http import client
from xml.sax.saxutils import escape

import icalendar
from radicale import httputils, types
from radicale.app.base import ApplicationBase

from kalend.scheduling.addresses import is_mailto, normalize
from kalend.server import calendar_data, request_checks
from kalend.storage_plugin import principals
from kalend.storage_plugin.freebusy import busy_periods, principal_calendar_ids
from kalend.storage_plugin.transaction import current_connection

logger = logging.getLogger("kalend.scheduling")

UTC = dt.UTC
#: Request-status values of RFC 5545 §3.8.8.3 used in schedule-responses.
SUCCESS = "2.0;Success"
INVALID_USER = "3.7;Invalid calendar user"
NO_SCHEDULING = "5.3;No scheduling support for user"


_RESPONSE_START = ('<?xml version="1.0" encoding="utf-8"?>\n<C:schedule-response '
                   'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">')


class _BadRequest(ValueError):
    """Not a VFREEBUSY REQUEST kalend can answer: 400 valid-scheduling-message."""


class ApplicationPartPost(ApplicationBase):

    def do_POST(self, environ: types.WSGIEnviron, base_prefix: str, path: str,
                user: str, user_groups: set, request_info: dict) -> types.WSGIResponse:
        segments = [s for s in path.strip("/").split("/") if s]
        if len(segments) != 2 or segments[1] != principals.OUTBOX:
            return super().do_POST(environ, base_prefix, path, user,  # type: ignore[misc]
                                   user_groups, request_info)
        if not user:
            return httputils.NOT_ALLOWED    # Radicale asks for a login (401)
        if segments[0] != user:
            # §5.1: only the owner acts through an outbox.
            return self._webdav_error_response(client.FORBIDDEN, "D:need-privileges",
                                               request_info)
        error, text = request_checks.check_charset(environ, self._encoding)
        if error is not None:
            return error
        try:
            request = _parse_request(text)
        except _BadRequest as exc:
            logger.info("POST %r refused: %s", path, exc)
            return self._webdav_error_response(client.BAD_REQUEST,
                                               "C:valid-scheduling-message", request_info)
        with self._storage.acquire_lock("r", user):
            organizer = normalize(str(request.get("ORGANIZER", "")))
            if organizer not in principals.addresses_of(current_connection(), user):
                return self._webdav_error_response(client.FORBIDDEN, "C:organizer-allowed",
                                                   request_info)
            body = self._schedule_response(request)
        headers = {"Content-Type": f"application/xml; charset={self._encoding}"}
        return client.OK, headers, body, None

    def _schedule_response(self, request: icalendar.cal.Component) -> str:
        start = int(request["DTSTART"].dt.timestamp())
        end = int(request["DTEND"].dt.timestamp())
        parts = [_RESPONSE_START]
        limit = self.storage.max_instances_per_query  # type: ignore[attr-defined]
        for attendee in _attendees(request):
            address = normalize(str(attendee))
            principal = principals.principal_of(current_connection(), address)
            parts.append(f"<C:response><C:recipient><D:href>{escape(str(attendee))}"
                         "</D:href></C:recipient>")
            if principal is None:
                status = NO_SCHEDULING if is_mailto(address) else INVALID_USER
                parts.append(f"<C:request-status>{status}</C:request-status></C:response>")
                continue
            calendar_ids = principal_calendar_ids(current_connection(), principal)
            periods = busy_periods(current_connection(), calendar_ids, start, end, None, limit)
            reply = _freebusy_reply(request, attendee, periods, start, end)
            parts.append(f"<C:request-status>{SUCCESS}</C:request-status>"
                         f"<C:calendar-data>{escape(reply)}</C:calendar-data></C:response>")
        parts.append("</C:schedule-response>")
        return "".join(parts)


def _parse_request(text: str) -> icalendar.cal.Component:
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        raise _BadRequest(f"unreadable iCalendar: {exc}") from exc
    if str(calendar.get("METHOD", "")).upper() != "REQUEST":
        raise _BadRequest("METHOD must be REQUEST")
    requests = [c for c in calendar.subcomponents if c.name == "VFREEBUSY"]
    if len(requests) != 1:
        raise _BadRequest("exactly one VFREEBUSY expected")
    request = requests[0]
    for name in ("DTSTART", "DTEND", "ORGANIZER"):
        if request.get(name) is None:
            raise _BadRequest(f"VFREEBUSY without {name}")
    if not isinstance(request["DTSTART"].dt, dt.datetime) \
            or not isinstance(request["DTEND"].dt, dt.datetime) \
            or request["DTSTART"].dt.tzinfo is None or request["DTEND"].dt.tzinfo is None:
        raise _BadRequest("DTSTART and DTEND must be UTC date-times")
    if not _attendees(request):
        raise _BadRequest("no ATTENDEE (CALDAV:recipient-specified)")
    return request


def _attendees(request: icalendar.cal.Component) -> list:
    attendees = request.get("ATTENDEE", [])
    return attendees if isinstance(attendees, list) else [attendees]


def _freebusy_reply(request: icalendar.cal.Component, attendee, periods, start: int,
                    end: int) -> str:
    """The VFREEBUSY REPLY of one recipient (RFC 5546 §3.3.2)."""
    properties = [f"ORGANIZER:{request['ORGANIZER']}", f"ATTENDEE:{attendee}"]
    if request.get("UID") is not None:
        properties.insert(0, f"UID:{request['UID']}")
    return calendar_data.vfreebusy_text(properties, periods, start, end, method="REPLY")
