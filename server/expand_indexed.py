"""CALDAV:expand of a recurring event from its occurrence rows (RFC 4791 §9.6.5).

The occurrence index already holds every instance of a recurring event in its
window: start, end and recurrence id, computed by recurring-ical-events when
the event was written. Expanding it again for each expanded week (parse,
expand, serialise) costs milliseconds per event; here the instances are
written from those rows and the event's own text: the master component's
lines with the instance's DTSTART/DTEND and a RECURRENCE-ID, or an
overridden instance's own lines, date-times in UTC. Like ``expand_single``
this is a line-level rewrite of kalend's own (no library offers one); it
declines whatever it is not certain about (to-dos and journals,
RANGE=THISANDFUTURE, folded date lines, zones that are not IANA names), and
the full expansion answers those.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from collections.abc import Sequence
from typing import NamedTuple

from kalend.server.expand_single import DECLINED, _to_utc, without_timezones
from kalend.server.ical_dates import date_value, parse_date, parse_local, utc_value
from kalend.storage_plugin import occurrences as occ

UTC = dt.UTC
_RECURRENCE = ("RRULE", "RDATE", "EXDATE", "EXRULE")
_DATE_LINES = ("DTSTART", "DTEND", "RECURRENCE-ID")


class _Declined(Exception):
    pass


def _split(text: str) -> tuple[list[str], list[list[str]]]:
    """(VCALENDAR-level lines, VEVENT blocks), VTIMEZONEs left out."""
    text = without_timezones(text)
    lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    envelope: list[str] = []
    blocks: list[list[str]] = []
    stack: list[str] = []
    for index, line in enumerate(lines):
        if not line:
            continue
        upper = line[:24].upper()
        if upper.startswith("BEGIN:"):
            stack.append(line[6:].strip().upper())
            if len(stack) == 2:
                if stack[1] == "VEVENT":
                    blocks.append([])
                elif stack[1] != "VTIMEZONE":
                    raise _Declined()  # to-dos and journals: full expansion
        elif len(stack) == 2 and stack[1] == "VEVENT":
            name = upper.split(";")[0].split(":")[0]
            following = lines[index + 1] if index + 1 < len(lines) else ""
            if name in _DATE_LINES + ("DURATION",) and (
                    following[:1] in (" ", "\t") or "THISANDFUTURE" in line.upper()):
                raise _Declined()
        if len(stack) <= 1:
            envelope.append(line)
        elif stack[1] == "VEVENT":
            blocks[-1].append(line)
        if upper.startswith("END:"):
            stack.pop()
    return envelope, blocks


def _property(block: list[str], name: str) -> str | None:
    for line in block:
        if line.upper().split(";")[0].split(":")[0] == name:
            return line
    return None


def _recurrence_key(line: str) -> str:
    """The RECURRENCE-ID of an override in the index's notation."""
    converted = _to_utc(line, None)
    if converted is None:
        raise _Declined()
    _, seconds, is_date = converted
    value = line.partition(":")[2].strip()
    if is_date:
        return value[:8]
    if value.endswith(("Z", "z")) or ";TZID=" in line.upper():
        return utc_value(seconds)
    return value  # floating: kept as written


def _format(seconds: int, floating: bool, is_date: bool, zone: dt.tzinfo | None) -> str:
    if is_date:
        return ";VALUE=DATE:" + date_value(seconds)
    if floating and zone is not None:
        local = occ.from_seconds(seconds).replace(tzinfo=zone)
        return ":" + utc_value(int(local.timestamp()))
    return ":" + utc_value(seconds)


def _convert_block(block: list[str], zone: dt.tzinfo | None) -> list[str]:
    out = []
    for line in block:
        name = line.upper().split(";")[0].split(":")[0]
        if name in _DATE_LINES:
            converted = _to_utc(line, zone)
            if converted is None:
                raise _Declined()
            new_line, _, is_date = converted
            line = new_line if not is_date else line
        out.append(line)
    return out


class _Master:
    """The master VEVENT's lines, read once per object: every instance is the
    same lines, in the same order, with its own DTSTART (followed by its
    RECURRENCE-ID) and DTEND, and without the recurrence rules."""

    __slots__ = ("end_at", "is_date", "lines", "start_at")

    def __init__(self, block: list[str]) -> None:
        self.lines: list[str] = []
        self.start_at: int | None = None
        self.end_at: int | None = None
        self.is_date = False
        for line in block:
            name = line.upper().split(";")[0].split(":")[0]
            if name in _RECURRENCE:
                continue
            if name == "DTSTART":
                self.start_at = len(self.lines)
                self.is_date = "VALUE=DATE" in line.upper().split(":")[0] or \
                    len(line.partition(":")[2].strip()) == 8
            elif name == "DTEND":
                self.end_at = len(self.lines)
            self.lines.append(line)
        if self.start_at is None:
            raise _Declined()

    def instance(self, row: tuple[int, int, bool, str | None],
                 zone: dt.tzinfo | None) -> list[str]:
        start, end, floating, recurrence_id = row
        is_date = self.is_date
        original = start if recurrence_id is None else _rid_seconds(recurrence_id)
        out = self.lines.copy()
        assert self.start_at is not None
        out[self.start_at] = ("DTSTART" + _format(start, floating, is_date, zone) + "\r\n"
                              + "RECURRENCE-ID" + _format(original, floating, is_date, zone))
        if self.end_at is not None:
            out[self.end_at] = "DTEND" + _format(end, floating, is_date, zone)
        return out


def _rid_seconds(recurrence_id: str) -> int:
    value = recurrence_id.rstrip("Z")
    parsed = parse_date(value) if len(value) == 8 else parse_local(value)
    if parsed is None:
        raise _Declined()
    return calendar.timegm(parsed.timetuple())


#: Parsed objects kept between requests (about 3 KB each): a calendar's
#: recurring events are expanded again for every week view, and splitting
#: their text into lines is most of the cost of expanding them.
PARSED_CACHE_SIZE = 4096


class _Parsed(NamedTuple):
    """An object's text taken apart once; shared between threads, so never
    changed after it is built."""

    head: tuple[str, ...]                 # VCALENDAR lines before END:VCALENDAR
    closing: str
    master: _Master
    overrides: dict[str, list[str]]       # recurrence key -> VEVENT lines


@functools.lru_cache(maxsize=PARSED_CACHE_SIZE)
def _parsed(text: str) -> _Parsed | None:
    """The object's parts, or None when this module declines it."""
    try:
        envelope, blocks = _split(text)
        master_block: list[str] | None = None
        overrides: dict[str, list[str]] = {}
        for block in blocks:
            recurrence = _property(block, "RECURRENCE-ID")
            if recurrence is None:
                if master_block is not None:
                    return None
                master_block = block
            else:
                overrides[_recurrence_key(recurrence)] = block
        if master_block is None:
            return None
        master = _Master(master_block)
    except _Declined:
        return None
    if envelope and envelope[-1].upper().startswith("END:VCALENDAR"):
        return _Parsed(tuple(envelope[:-1]), envelope[-1], master, overrides)
    return _Parsed(tuple(envelope), "END:VCALENDAR", master, overrides)


def expand_from_rows(text: str, rows: Sequence[tuple[int, int, bool, str | None]],
                     zone: dt.tzinfo | None):
    """The expanded text for these instance rows (None when there are none),
    or ``DECLINED``."""
    if not rows:
        return None
    if any(row[3] is None for row in rows):
        return DECLINED  # not a recurring object
    parsed = _parsed(text)
    if parsed is None:
        return DECLINED
    body: list[str] = []
    try:
        for row in rows:
            override = parsed.overrides.get(row[3] or "")
            if override is not None:
                body.extend(_convert_block(override, zone))
            else:
                body.extend(parsed.master.instance(row, zone))
    except _Declined:
        return DECLINED
    return "\r\n".join([*parsed.head, *body, parsed.closing, ""])
