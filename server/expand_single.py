"""CALDAV:expand for a single-instance event without parsing it (RFC 4791 §9.6.5).

Nine in ten calendar objects are one event that does not recur. Expanding
one means: drop its VTIMEZONEs and write DTSTART/DTEND in UTC. Parsing it with
icalendar to do that costs about a millisecond, which dominates an expanded
week view; this module rewrites those few lines of the stored text instead.
It is written here, not taken from a library, because no iCalendar library
offers a line-level rewrite; anything it is not certain about (recurrence,
several components, folded date lines, a time zone that is not an IANA name,
to-dos and journals) it declines, and the full expansion in
``calendar_data.expand`` answers.
"""

from __future__ import annotations

import calendar
import datetime as dt
import zoneinfo

from icalendar.prop import vDuration

from kalend.server.ical_dates import parse_date, parse_local, utc_value
from kalend.storage_plugin import occurrences as occ

#: Returned when the fast path does not apply.
DECLINED = object()

_RECURRENCE = ("RRULE", "RDATE", "EXDATE", "EXRULE", "RECURRENCE-ID")
_DATES = ("DTSTART", "DTEND")
UTC = dt.UTC


def without_timezones(text: str) -> str:
    """The text without its VTIMEZONE blocks (an expanded answer carries
    none, §9.6.5), cut by searching rather than line by line: they are most
    of a typical event's lines. Only the usual upper-case spelling is cut
    here; the line loops skip any other."""
    while True:
        begin = text.find("\nBEGIN:VTIMEZONE")
        if begin < 0:
            return text
        end = text.find("\nEND:VTIMEZONE", begin)
        if end < 0:
            return text
        stop = text.find("\n", end + 1)
        text = text[:begin] + (text[stop:] if stop >= 0 else "\n")


def _name_and_params(line: str) -> tuple[str, dict[str, str], str]:
    head, _, value = line.partition(":")
    name, *raw_params = head.split(";")
    params = {}
    for raw in raw_params:
        key, _, param_value = raw.partition("=")
        params[key.upper()] = param_value.strip('"')
    return name.upper(), params, value


def _to_utc(line: str, zone: dt.tzinfo | None) -> tuple[str, int, bool] | None:
    """(rewritten line, seconds, is_date) or None to decline."""
    name, params, value = _name_and_params(line)
    if params.get("VALUE", "").upper() == "DATE" or len(value) == 8:
        day = parse_date(value)
        if day is None:
            return None
        return line, calendar.timegm(day.timetuple()), True
    utc_suffix = value.endswith(("Z", "z"))
    local = parse_local(value[:-1] if utc_suffix else value)
    if local is None:
        return None
    if utc_suffix:
        return line, calendar.timegm(local.timetuple()), False
    tzid = params.get("TZID")
    if tzid is not None:
        try:
            instant = local.replace(tzinfo=zoneinfo.ZoneInfo(tzid))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return None  # a VTIMEZONE of its own: let the library read it
    else:
        instant = local.replace(tzinfo=zone or UTC)  # floating: the request's zone
    seconds = int(instant.timestamp())
    return f"{name}:{utc_value(seconds)}", seconds, False


def expand_single(text: str, start: int, end: int, zone: dt.tzinfo | None):
    """The expanded text (None when the instance misses the range), or
    ``DECLINED``."""
    text = without_timezones(text)
    lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    out: list[str] = []
    stack: list[str] = []
    in_timezone = False
    components = 0
    span: dict[str, tuple[int, bool]] = {}
    duration: int | None = None
    for index, line in enumerate(lines):
        upper = line[:16].upper()
        if upper.startswith("BEGIN:"):
            kind = line[6:].strip().upper()
            stack.append(kind)
            if kind == "VTIMEZONE":
                in_timezone = True
                continue
            if len(stack) == 2:
                if kind != "VEVENT":
                    return DECLINED
                components += 1
                if components > 1:
                    return DECLINED
        elif upper.startswith("END:"):
            kind = stack.pop() if stack else ""
            if kind == "VTIMEZONE":
                in_timezone = False
                continue
        if in_timezone:
            continue
        if upper.startswith(_RECURRENCE):
            return DECLINED
        if len(stack) == 2 and upper.startswith(_DATES) and upper.split(";")[0].split(":")[0] in _DATES:
            following = lines[index + 1] if index + 1 < len(lines) else ""
            if following[:1] in (" ", "\t"):
                return DECLINED
            converted = _to_utc(line, zone)
            if converted is None:
                return DECLINED
            line, seconds, is_date = converted
            span[line.split(":")[0].split(";")[0].upper()] = (seconds, is_date)
        elif len(stack) == 2 and upper.startswith("DURATION"):
            try:
                duration = int(vDuration.from_ical(line.partition(":")[2]).total_seconds())
            except Exception:
                return DECLINED
        out.append(line)
    if components != 1 or "DTSTART" not in span:
        return DECLINED
    first, is_date = span["DTSTART"]
    if "DTEND" in span:
        last = span["DTEND"][0]
    elif duration is not None:
        last = first + duration
    else:
        last = first + (86400 if is_date else 0)
    instance = occ.Occurrence("VEVENT", first, max(first, last), is_date, None, None, None,
                              occ.BUSY)
    if not occ.overlaps(instance, start, end, zone):
        return None
    return "\r\n".join(out)
