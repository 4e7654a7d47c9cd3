"""Helpers for scheduling conversations through a real kalend server: users
with addresses, raw PUT/GET/DELETE as calendar clients send them, and looks
at inboxes, calendars and the iMIP outbox rows."""

from __future__ import annotations

import datetime as dt

import icalendar
from dav_support import CALDAV, DAV, clark, parse_multistatus

DOMAIN = "example.org"
CALENDAR_CONTENT = {"Content-Type": "text/calendar; charset=utf-8"}


def mailto(user: str) -> str:
    return f"mailto:{user}@{DOMAIN}"


def attendee_line(user: str, partstat: str = "NEEDS-ACTION", extra: str = "") -> str:
    address = user if ":" in user else mailto(user)
    return (f"ATTENDEE;CN={user.split('@')[0].split(':')[-1].title()};CUTYPE=INDIVIDUAL;"
            f"PARTSTAT={partstat};ROLE=REQ-PARTICIPANT{extra}:{address}")


def meeting(uid: str, organizer: str, attendees: list[str], start: str = "20261207T090000",
            sequence: int = 0, summary: str = "Weekly sync", extra: str = "",
            rrule: str = "FREQ=WEEKLY;COUNT=10") -> str:
    """A weekly meeting in Europe/Berlin as Apple Calendar writes one: the
    organizer listed as an accepted attendee."""
    end = start[:9] + f"{int(start[9:11]) + 1:02d}" + start[11:]
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Apple Inc.//macOS 15.1//EN",
             "CALSCALE:GREGORIAN", "BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20261120T100000Z",
             f"DTSTART;TZID=Europe/Berlin:{start}", f"DTEND;TZID=Europe/Berlin:{end}",
             f"RRULE:{rrule}", f"SUMMARY:{summary}", f"SEQUENCE:{sequence}",
             "LOCATION:Room 1", f"ORGANIZER;CN={organizer.title()}:{mailto(organizer)}",
             attendee_line(organizer, "ACCEPTED"),
             *[a if a.startswith("ATTENDEE") else attendee_line(a, extra=";RSVP=TRUE")
               for a in attendees]]
    lines += [line for line in extra.split("\n") if line]
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


def parse(text: str) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(text)


def components(text: str) -> list:
    return [c for c in parse(text).walk() if c.name in ("VEVENT", "VTODO")]


def attendees_of(component) -> dict[str, icalendar.vCalAddress]:
    found = component.get("ATTENDEE", [])
    found = found if isinstance(found, list) else [found]
    return {str(a).lower(): a for a in found}


def partstat(component, user: str) -> str:
    return str(attendees_of(component)[mailto(user)].params.get("PARTSTAT", ""))


def master(text: str):
    return next(c for c in components(text) if c.get("RECURRENCE-ID") is None)


def override(text: str, recurrence_id: str):
    """The overridden instance whose RECURRENCE-ID is ``recurrence_id``
    (``YYYYMMDDTHHMMSSZ``), whatever zone the object writes it in."""
    wanted = dt.datetime.strptime(recurrence_id, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    for component in components(text):
        rid = component.get("RECURRENCE-ID")
        if rid is not None and isinstance(rid.dt, dt.datetime) \
                and rid.dt.astimezone(dt.UTC) == wanted:
            return component
    return None


def collection_texts(server, user: str, path: str) -> dict[str, str]:
    """href name -> iCalendar text of every resource in a collection,
    fetched as a client does (PROPFIND Depth 1, then GET)."""
    response = server.request("PROPFIND", path, user=user, headers={"Depth": "1"},
                              body='<?xml version="1.0"?><D:propfind xmlns:D="DAV:">'
                                   '<D:prop><D:getetag/></D:prop></D:propfind>')
    texts = {}
    for href in parse_multistatus(response):
        if href.rstrip("/") == path.rstrip("/"):
            continue
        got = server.request("GET", href, user=user)
        assert got.status_code == 200, (href, got.status_code)
        texts[href.rsplit("/", 1)[-1]] = got.text
    return texts


def inbox_methods(server, user: str) -> list[tuple[str, str]]:
    """(METHOD, SUMMARY or UID) of each message in the user's inbox."""
    found = []
    for text in collection_texts(server, user, f"/{user}/inbox/").values():
        calendar = parse(text)
        first = next(iter(c for c in calendar.walk() if c.name in ("VEVENT", "VTODO")))
        found.append((str(calendar.get("METHOD")), str(first.get("UID"))))
    return sorted(found)


def only_copy(server, user: str, uid: str) -> tuple[str, str]:
    """(path, text) of the user's one copy of ``uid`` in their calendar."""
    found = [(f"/{user}/default/{name}", text) for name, text
             in collection_texts(server, user, f"/{user}/default/").items() if uid in text]
    assert len(found) == 1, (user, uid, len(found))
    return found[0]


def outbox_rows(server) -> list[tuple]:
    return server.rows("SELECT method, recipient, status FROM outbox ORDER BY id")


__all__ = ["CALDAV", "DAV", "clark"]


def with_partstat(text: str, user: str, value: str) -> str:
    """The object as an attendee's client writes it back after answering:
    their own PARTSTAT changed in every component, RSVP dropped."""
    calendar = parse(text)
    for component in calendar.walk():
        if component.name not in ("VEVENT", "VTODO"):
            continue
        attendee = attendees_of(component).get(mailto(user))
        if attendee is not None:
            attendee.params["PARTSTAT"] = value
            attendee.params.pop("RSVP", None)
    return calendar.to_ical().decode("utf-8")


def without_attendee(text: str, user: str) -> str:
    """The organizer's copy with one attendee taken off every component."""
    calendar = parse(text)
    for component in calendar.walk():
        if component.name not in ("VEVENT", "VTODO"):
            continue
        kept = [a for a in attendees_of(component).values() if str(a).lower() != mailto(user)]
        component.pop("ATTENDEE", None)
        for attendee in kept:
            component.add("ATTENDEE", attendee)
    return calendar.to_ical().decode("utf-8")


def moved_by(text: str, delta: dt.timedelta) -> str:
    """The organizer's copy with the series (the master) moved by ``delta``."""
    calendar = parse(text)
    for component in calendar.walk():
        if component.name == "VEVENT" and component.get("RECURRENCE-ID") is None:
            for name in ("DTSTART", "DTEND"):
                value = component[name].dt + delta
                params = component[name].params
                component.pop(name)
                component.add(name, value, parameters=dict(params))
    return calendar.to_ical().decode("utf-8")


def inbox_texts(server, user: str) -> list[str]:
    return list(collection_texts(server, user, f"/{user}/inbox/").values())
