"""Helpers for the occurrence-index tests: the fixture corpus, raw CalDAV
REPORT bodies, and parsing what comes back.

Requests are built the way CalDAV clients send them (RFC 4791 §7.8, §7.10,
§9.6.5-§9.6.7) and answers are parsed with ElementTree and icalendar, so the
tests look at the wire, not at kalend's internals.
"""

from __future__ import annotations

import datetime as dt
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable

import icalendar

CORPUS = os.path.join(os.path.dirname(__file__), "fixtures", "calendars")
DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
UTC = dt.UTC


def corpus_names() -> list[str]:
    return sorted(n for n in os.listdir(CORPUS) if n.endswith(".ics"))


def corpus_text(name: str) -> str:
    with open(os.path.join(CORPUS, name), encoding="utf-8", newline="") as handle:
        return handle.read().replace("\r\n", "\n").replace("\n", "\r\n")


def clark(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def stamp(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


# -- collections and items ---------------------------------------------------------


def make_calendar(server, user: str, name: str, calendar_timezone: str | None = None,
                  components: Iterable[str] = ("VEVENT", "VTODO", "VJOURNAL")) -> str:
    """MKCALENDAR (RFC 4791 §5.3.1); returns the collection path."""
    comps = "".join(f'<C:comp name="{c}"/>' for c in components)
    timezone = ""
    if calendar_timezone is not None:
        timezone = f"<C:calendar-timezone><![CDATA[{calendar_timezone}]]></C:calendar-timezone>"
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            f'<D:set><D:prop><D:displayname>{name}</D:displayname>'
            f'<C:supported-calendar-component-set>{comps}</C:supported-calendar-component-set>'
            f'{timezone}</D:prop></D:set></C:mkcalendar>')
    path = f"/{user}/{name}/"
    response = server.request("MKCALENDAR", path, user=user, body=body,
                              headers={"Content-Type": "application/xml; charset=utf-8"})
    assert response.status_code == 201, (response.status_code, response.text)
    return path


def put(server, user: str, path: str, text: str) -> None:
    response = server.request("PUT", path, user=user, body=text,
                              headers={"Content-Type": "text/calendar; charset=utf-8",
                                       "If-None-Match": "*"})
    assert response.status_code == 201, (path, response.status_code, response.text)


# -- REPORT bodies -------------------------------------------------------------------


def _timezone_element(timezone: str | None) -> str:
    return "" if timezone is None else f"<C:timezone><![CDATA[{timezone}]]></C:timezone>"


def time_range_query(component: str, start: dt.datetime, end: dt.datetime,
                     calendar_data: str = "", timezone: str | None = None,
                     inner: str = "") -> str:
    """calendar-query with a time-range on ``component`` (RFC 4791 §7.8)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/>{calendar_data}</D:prop>
  <C:filter>
    <C:comp-filter name="VCALENDAR">
      <C:comp-filter name="{component}">
        <C:time-range start="{stamp(start)}" end="{stamp(end)}"/>{inner}
      </C:comp-filter>
    </C:comp-filter>
  </C:filter>{_timezone_element(timezone)}
</C:calendar-query>
"""


def expand_data(start: dt.datetime, end: dt.datetime) -> str:
    return (f'<C:calendar-data><C:expand start="{stamp(start)}" end="{stamp(end)}"/>'
            '</C:calendar-data>')


def free_busy_query(start: dt.datetime, end: dt.datetime) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">
  <C:time-range start="{stamp(start)}" end="{stamp(end)}"/>
</C:free-busy-query>
"""


def report(server, user: str, path: str, body: str, depth: str = "1"):
    return server.request("REPORT", path, user=user, body=body,
                          headers={"Content-Type": "application/xml; charset=utf-8",
                                   "Depth": depth})


# -- answers ----------------------------------------------------------------------------


def multistatus(response) -> dict[str, dict[str, ET.Element]]:
    """href -> {property clark name -> element} of the 200 propstats."""
    assert response.status_code == 207, (response.status_code, response.text)
    root = ET.fromstring(response.content)
    result: dict[str, dict[str, ET.Element]] = {}
    for resp in root.findall(clark(DAV, "response")):
        href = resp.findtext(clark(DAV, "href"))
        assert href is not None
        props: dict[str, ET.Element] = {}
        for propstat in resp.findall(clark(DAV, "propstat")):
            if " 200 " not in (propstat.findtext(clark(DAV, "status")) or ""):
                continue
            for prop in propstat.find(clark(DAV, "prop")) or ():
                props[prop.tag] = prop
        result[href] = props
    return result


def hrefs(response) -> set[str]:
    return {href.rstrip("/").rsplit("/", 1)[-1] for href in multistatus(response)}


def calendar_data(response) -> dict[str, icalendar.Calendar]:
    """href name -> parsed calendar-data of each response."""
    found = {}
    for href, props in multistatus(response).items():
        element = props[clark(CALDAV, "calendar-data")]
        found[href.rstrip("/").rsplit("/", 1)[-1]] = icalendar.Calendar.from_ical(element.text)
    return found


def freebusy_periods(response) -> list[tuple[dt.datetime, dt.datetime, str]]:
    """Sorted (start, end, FBTYPE) of the VFREEBUSY a free-busy-query returns."""
    assert response.status_code == 200, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(response.text)
    busy = calendar.walk("VFREEBUSY")
    assert len(busy) == 1
    periods = []
    values = busy[0].get("FREEBUSY")
    for prop in values if isinstance(values, list) else [values] if values else []:
        fbtype = str(prop.params.get("FBTYPE", "BUSY")).upper()
        for period in prop.dt if isinstance(prop.dt, list) else [prop.dt]:
            period_start, period_end = period
            if isinstance(period_end, dt.timedelta):
                period_end = period_start + period_end
            assert period_start.utcoffset() == dt.timedelta(0), "FREEBUSY must be in UTC"
            periods.append((period_start.astimezone(UTC), period_end.astimezone(UTC), fbtype))
    return sorted(periods)


# -- time zones as clients send them ------------------------------------------------------

NEW_YORK_VTIMEZONE = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//kalend tests//timezone//EN\r
BEGIN:VTIMEZONE\r
TZID:America/New_York\r
BEGIN:DAYLIGHT\r
TZOFFSETFROM:-0500\r
TZOFFSETTO:-0400\r
TZNAME:EDT\r
DTSTART:20070311T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r
END:DAYLIGHT\r
BEGIN:STANDARD\r
TZOFFSETFROM:-0400\r
TZOFFSETTO:-0500\r
TZNAME:EST\r
DTSTART:20071104T020000\r
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r
END:STANDARD\r
END:VTIMEZONE\r
END:VCALENDAR\r
"""

KOLKATA_VTIMEZONE = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//kalend tests//timezone//EN\r
BEGIN:VTIMEZONE\r
TZID:Asia/Kolkata\r
BEGIN:STANDARD\r
TZOFFSETFROM:+0530\r
TZOFFSETTO:+0530\r
TZNAME:IST\r
DTSTART:19700101T000000\r
END:STANDARD\r
END:VTIMEZONE\r
END:VCALENDAR\r
"""
