"""Where an object's alarms can fire, kept with the item so that a VALARM
time-range query (RFC 4791 §9.9, "VALARM") reads only the items that can
match.

A relative trigger fires at an offset from an instance's start or end
(RFC 5545 §3.8.6.3), repeated REPEAT times every DURATION. For an instance
[s, e] every such trigger time T satisfies ``s + lead <= T <= e + lag`` where
``lead`` is the smallest offset and ``lag`` the largest offset plus its
repetitions, whichever end the offset is related to (e >= s). An absolute
trigger (VALUE=DATE-TIME) fires at the same moment for every instance;
``first``/``last`` bound those. The bounds only narrow the candidates; the
exact answer comes from expanding the few candidates.

The lines are scanned rather than parsed with icalendar: this runs on every
write, and an object without BEGIN:VALARM (most of them) costs one substring
test.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from icalendar.prop import vDDDTypes, vDuration

#: An absolute trigger in a local or floating time may sit this far from UTC.
_ZONE_SLACK = 86400


@dataclass(frozen=True)
class AlarmBounds:
    """Seconds; ``None`` where the object has no trigger of that kind."""

    lead: int | None = None
    lag: int | None = None
    first: int | None = None
    last: int | None = None

    def item_columns(self) -> dict[str, int | None]:
        return {"alarm_lead": self.lead, "alarm_lag": self.lag,
                "alarm_first": self.first, "alarm_last": self.last}


NO_ALARMS = AlarmBounds()


@dataclass
class _Alarm:
    trigger: str | None = None
    trigger_params: str = ""
    repeat: int = 0
    duration: int = 0


def alarm_bounds(text: str) -> AlarmBounds:
    """The bounds of every trigger of every VALARM in ``text``; unreadable
    triggers are skipped (the library ignores them too)."""
    if "BEGIN:VALARM" not in text.upper():
        return NO_ALARMS
    offsets: list[tuple[int, int]] = []       # (offset, offset + repetitions)
    absolute: list[tuple[int, int]] = []
    for alarm in _alarms(text):
        try:
            _collect(alarm, offsets, absolute)
        except (ValueError, TypeError, OverflowError):
            continue
    return AlarmBounds(
        lead=min((o for o, _ in offsets), default=None),
        lag=max((last for _, last in offsets), default=None),
        first=min((f for f, _ in absolute), default=None),
        last=max((last for _, last in absolute), default=None))


def _collect(alarm: _Alarm, offsets: list[tuple[int, int]],
             absolute: list[tuple[int, int]]) -> None:
    if alarm.trigger is None:
        return
    repeats = max(alarm.repeat, 0) * max(alarm.duration, 0)
    if "VALUE=DATE-TIME" in alarm.trigger_params.upper():
        moment = vDDDTypes.from_ical(alarm.trigger)
        if not isinstance(moment, dt.datetime):
            return
        if moment.tzinfo is None or "TZID=" in alarm.trigger_params.upper():
            # A zone we do not resolve here: widen instead.
            seconds = int(moment.replace(tzinfo=dt.UTC).timestamp())
            absolute.append((seconds - _ZONE_SLACK, seconds + repeats + _ZONE_SLACK))
        else:
            seconds = int(moment.timestamp())
            absolute.append((seconds, seconds + repeats))
        return
    offset = int(vDuration.from_ical(alarm.trigger).total_seconds())
    offsets.append((offset, offset + repeats))


def _alarms(text: str) -> list[_Alarm]:
    found: list[_Alarm] = []
    current: _Alarm | None = None
    for line in _unfolded(text):
        name, params, value = _split(line)
        if name == "BEGIN" and value.upper() == "VALARM":
            current = _Alarm()
        elif name == "END" and value.upper() == "VALARM":
            if current is not None:
                found.append(current)
            current = None
        elif current is None:
            continue
        elif name == "TRIGGER":
            current.trigger, current.trigger_params = value.strip(), params
        elif name == "REPEAT":
            current.repeat = int(value.strip() or 0) if value.strip().isdigit() else 0
        elif name == "DURATION":
            try:
                current.duration = int(vDuration.from_ical(value.strip()).total_seconds())
            except (ValueError, TypeError):
                current.duration = 0
    return found


def _unfolded(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\n ", "").replace("\n\t", "").split("\n")


def _split(line: str) -> tuple[str, str, str]:
    """NAME;PARAMS:VALUE (TRIGGER parameters carry no quoted colons)."""
    head, _, value = line.partition(":")
    name, _, params = head.partition(";")
    return name.strip().upper(), params, value
