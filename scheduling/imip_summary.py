"""What an iMIP message says to a person (RFC 6047 §2.4): subject line and readable summary.

An invitation e-mail is read by people before any calendar program looks at
its text/calendar part, and many mail clients show nothing else: the
summary must say what, when, where, who and what happened (invited, updated,
cancelled, accepted…) in plain words. It is derived from the iTIP message
alone, so the same message always reads the same way.

The text is English and independent of the server's locale (day and month
names are spelled here, not by ``strftime``). Times are shown in the event's
own zone, named by its TZID, because that is the zone the organizer chose
and the one the recipient's calendar will convert from; converting to a zone
the server guesses for the recipient would be wrong as often as right.

Nothing here may fail on what clients really send: a REPLY without SUMMARY
or DTSTART, a VTODO with only DUE, a TZID no zone database knows, values
icalendar could not read. What cannot be read is left out of the summary.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import icalendar
from icalendar import Component

from kalend.scheduling.addresses import MAILTO, normalize
from kalend.scheduling.instances import property_list, sequence
from kalend.scheduling.participants import attendee_properties, organizer_property, parameter

#: Components a person is told about, in the order they are looked for.
DESCRIBED_COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY")

NO_TITLE = "(no title)"
#: A SUMMARY longer than this is cut in the subject line (the body keeps it whole).
SUBJECT_TITLE_LENGTH = 120

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

#: PARTSTAT (RFC 5545 §3.2.12) as the attendee list shows it.
PARTSTAT_WORDS = {
    "NEEDS-ACTION": "has not answered",
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentative",
    "DELEGATED": "delegated",
    "COMPLETED": "completed",
    "IN-PROCESS": "in progress",
}

#: PARTSTAT of a REPLY as its subject line starts, and as its summary says it.
REPLY_VERBS = {
    "ACCEPTED": ("Accepted", "has accepted"),
    "DECLINED": ("Declined", "has declined"),
    "TENTATIVE": ("Tentatively accepted", "has tentatively accepted"),
    "DELEGATED": ("Delegated", "has delegated"),
    "COMPLETED": ("Completed", "has completed"),
    "IN-PROCESS": ("In progress", "is working on"),
    "NEEDS-ACTION": ("Response withdrawn", "has not decided about"),
}
MIXED_REPLY = ("Updated response", "has answered")

FREQUENCIES = {
    "SECONDLY": ("every second", "seconds"),
    "MINUTELY": ("every minute", "minutes"),
    "HOURLY": ("hourly", "hours"),
    "DAILY": ("daily", "days"),
    "WEEKLY": ("weekly", "weeks"),
    "MONTHLY": ("monthly", "months"),
    "YEARLY": ("yearly", "years"),
}
BYDAY_NAMES = dict(zip(("MO", "TU", "WE", "TH", "FR", "SA", "SU"), WEEKDAYS, strict=True))
ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", -1: "last"}


@dataclass(frozen=True)
class Participant:
    """An ORGANIZER or ATTENDEE as a person reads it."""

    name: str | None
    address: str  # without "mailto:"
    partstat: str | None = None
    optional: bool = False

    @property
    def label(self) -> str:
        """``Dave Example <dave@elsewhere.example>``, or the bare address without a CN."""
        return f"{self.name} <{self.address}>" if self.name else self.address


@dataclass(frozen=True)
class Summary:
    """The readable content of one iTIP message, rendered as text and as HTML.

    ``intro``: one sentence saying what happened; ``rows``: (label, value)
    pairs such as ("When", …); ``attendees``: the ATTENDEE lines of the
    described component; ``responses``: for a REPLY answering instances
    differently, one line per answered component.
    """

    subject: str
    intro: str
    title: str
    rows: tuple[tuple[str, str], ...]
    attendees: tuple[Participant, ...]
    responses: tuple[str, ...]
    description: str | None

    def as_text(self) -> str:
        lines = [self.intro, "", self.title, ""]
        lines += [f"{label}: {value}" for label, value in self.rows]
        if self.responses:
            lines += ["", "Responses:"] + [f"  - {line}" for line in self.responses]
        if self.attendees:
            lines += ["", "Attendees:"] + [f"  - {_attendee_text(a)}" for a in self.attendees]
        if self.description:
            lines += ["", self.description]
        lines += ["", FOOTER]
        return "\n".join(lines) + "\n"

    def as_html(self) -> str:
        e = html.escape
        parts = [
            "<!DOCTYPE html>",
            '<html><head><meta charset="utf-8"><title>' + e(self.title) + "</title></head>",
            "<body>",
            f"<p>{e(self.intro)}</p>",
            f"<h2>{e(self.title)}</h2>",
        ]
        if self.rows:
            parts.append("<table>")
            parts += [
                f'<tr><th align="left" valign="top">{e(label)}</th><td>{e(value)}</td></tr>'
                for label, value in self.rows
            ]
            parts.append("</table>")
        if self.responses:
            parts.append("<p>Responses:</p><ul>")
            parts += [f"<li>{e(line)}</li>" for line in self.responses]
            parts.append("</ul>")
        if self.attendees:
            parts.append("<p>Attendees:</p><ul>")
            parts += [f"<li>{e(_attendee_text(a))}</li>" for a in self.attendees]
            parts.append("</ul>")
        if self.description:
            parts.append("<p>" + e(self.description).replace("\n", "<br>\n") + "</p>")
        parts += [f"<p><small>{e(FOOTER)}</small></p>", "</body></html>"]
        return "\n".join(parts) + "\n"


FOOTER = (
    "The calendar data is attached (invite.ics): "
    "your calendar program can add it to your calendar or answer it."
)


def summarize(
    method: str, calendar: icalendar.Calendar, sender: str, sender_name: str | None = None
) -> Summary:
    """The subject and readable summary of the iTIP message ``calendar`` with ``method``.

    ``sender``: the calendar user the message comes from (the organizer of a
    REQUEST or CANCEL, the attendee of a REPLY or COUNTER); ``sender_name``:
    how to call them, when the server knows (else the CN the message gives
    them, else their address).
    """
    method = method.upper()
    components = described_components(calendar)
    shown = shown_component(components)
    title = title_of(components)
    when = describe_when(shown) if shown is not None else None
    rows = _rows(shown, when)
    who = sender_name or name_in(components, sender) or _bare(sender)
    if method == "REPLY":
        return _reply_summary(components, shown, title, rows, who)
    # A cancellation lists nobody's answers: they no longer matter.
    listed = shown is not None and method != "CANCEL"
    attendees = tuple(participants(attendee_properties(shown))) if listed else ()
    description = _text(shown, "DESCRIPTION")
    kind = shown.name if shown is not None else "VEVENT"
    intro = _intro(method, kind, components, who)
    subject = _subject(method, kind, components, title)
    return Summary(subject, intro, title, rows, attendees, (), description)


def name_in(components: Iterable[Component], address: str) -> str | None:
    """The CN the message gives ``address`` on an ORGANIZER or ATTENDEE line."""
    wanted = normalize(address)
    for component in components:
        props = [organizer_property(component), *attendee_properties(component)]
        for prop in props:
            if prop is not None and normalize(str(prop)) == wanted:
                name = " ".join(parameter(prop, "CN").split())
                if name:
                    return name
    return None


def _bare(address: str) -> str:
    """An address as a person reads it: without ``mailto:``."""
    address = normalize(address)
    return address.removeprefix(MAILTO)


def described_components(calendar: icalendar.Calendar) -> list[Component]:
    return [c for c in calendar.subcomponents if c.name in DESCRIBED_COMPONENTS]


def shown_component(components: list[Component]) -> Component | None:
    """The component the summary describes: the master when it has DTSTART, else
    the first component with DTSTART (an overridden instance), else the first."""
    masters = [c for c in components if "RECURRENCE-ID" not in c and "DTSTART" in c]
    starting = [c for c in components if "DTSTART" in c]
    for candidates in (masters, starting, components):
        if candidates:
            return candidates[0]
    return None


def title_of(components: Iterable[Component]) -> str:
    """SUMMARY of the first component that has one, as one line; NO_TITLE otherwise."""
    for component in components:
        text = _text(component, "SUMMARY")
        if text:
            return " ".join(text.split())
    return NO_TITLE


def participants(props: Iterable[Any]) -> list[Participant]:
    """Readable ORGANIZER/ATTENDEE lines (non-mailto addresses are shown as written)."""
    found = []
    for prop in props:
        address = _bare(str(prop))
        name = " ".join(parameter(prop, "CN").split()) or None
        partstat = parameter(prop, "PARTSTAT", "NEEDS-ACTION").upper()
        optional = parameter(prop, "ROLE").upper() == "OPT-PARTICIPANT"
        found.append(Participant(name, address, partstat, optional))
    return found


def day_text(value: dt.date, short: bool = False) -> str:
    """``Tuesday 1 December 2026``, or ``Tue 1 Dec 2026`` when ``short``."""
    weekday, month = WEEKDAYS[value.weekday()], MONTHS[value.month - 1]
    if short:
        weekday, month = weekday[:3], month[:3]
    return f"{weekday} {value.day} {month} {value.year}"


def describe_when(component: Component, short: bool = False) -> str | None:
    """When ``component`` happens, in its own zone: the DTSTART and end, or ``due …``
    for a VTODO with only DUE; None when it has no readable time.

    ``Tuesday 1 December 2026, 10:00–11:00 (Europe/Berlin)``;
    ``Tuesday 1 December 2026 (all day)``; ``…, 21:00–23:00 (UTC)``. ``short``
    abbreviates the names and uses an ASCII hyphen, for a subject line.
    """
    start_prop = component.get("DTSTART")
    start = _temporal(start_prop)
    if start is None:
        due_prop = component.get("DUE")
        due = _temporal(due_prop)
        return None if due is None else "due " + _moment(due, due_prop, short)
    end = _end(component, start)
    dash = "-" if short else "–"
    if not isinstance(start, dt.datetime):
        last = end - dt.timedelta(days=1) if end is not None else start
        span = day_text(start, short)
        if last > start:
            span += f" {dash} {day_text(last, short)}"
        return span + " (all day)"
    zone = _zone_name(start_prop, start)
    text = f"{day_text(start.date(), short)}, {_clock(start)}"
    if isinstance(end, dt.datetime) and end > start:
        if end.date() == start.date():
            text += f"{dash}{_clock(end)}"
        else:
            text += f" {dash} {day_text(end.date(), short)}, {_clock(end)}"
    return text + (f" ({zone})" if zone else "")


def describe_repeat(component: Component) -> str | None:
    """The RRULE in plain words (``weekly on Tuesday, 6 times``); None without one.

    Kept simple on purpose: frequency, interval, week days, COUNT and UNTIL.
    Rules needing more (BYSETPOS, BYMONTHDAY lists…) still read correctly as
    far as they go; the calendar program shows the exact rule.
    """
    rules = property_list(component, "RRULE")
    if not rules:
        return "on several dates" if "RDATE" in component else None
    try:
        return _rule_text(rules[0])
    except Exception:  # an unreadable rule must not stop the mail: say only that it repeats
        return "yes"


def _rule_text(rule: Any) -> str:
    freq = str(_first(rule.get("FREQ")) or "").upper()
    interval = int(_first(rule.get("INTERVAL")) or 1)
    adverb, unit = FREQUENCIES.get(freq, (freq.lower() or "yes", freq.lower()))
    text = adverb if interval == 1 else f"every {interval} {unit}"
    days = [_byday_text(str(d)) for d in rule.get("BYDAY", [])]
    if days:
        text += " on " + _joined(days)
    count = _first(rule.get("COUNT"))
    if count:
        text += f", {int(count)} times"
    until = _first(rule.get("UNTIL"))
    if isinstance(until, dt.datetime):
        text += ", until " + day_text(until.date())
    elif isinstance(until, dt.date):
        text += ", until " + day_text(until)
    return text


def _byday_text(value: str) -> str:
    value = value.strip().upper()
    day = BYDAY_NAMES.get(value[-2:], value)
    number = value[:-2].lstrip("+")
    if not number:
        return day
    try:
        ordinal = ORDINALS.get(int(number), f"{number}.")
    except ValueError:
        return day
    return f"the {ordinal} {day}"


def _joined(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _first(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


def _temporal(prop: Any) -> dt.date | None:
    """The date or date-time of a DTSTART/DTEND/DUE line, None when unreadable."""
    value = _value(prop)
    return value if isinstance(value, dt.date) else None


def _value(prop: Any) -> Any:
    """The typed value of a property; None when absent or broken (icalendar keeps
    an unreadable value and raises when it is asked for)."""
    try:
        return getattr(prop, "dt", None)
    except Exception:
        return None


def _end(component: Component, start: dt.date) -> dt.date | None:
    """DTEND (or DUE), else DTSTART + DURATION, in the zone of ``start``."""
    end = _temporal(component.get("DTEND")) or _temporal(component.get("DUE"))
    if end is None:
        duration = _value(component.get("DURATION"))
        if isinstance(duration, dt.timedelta):
            end = start + duration
    if isinstance(end, dt.datetime) != isinstance(start, dt.datetime):
        return None
    if isinstance(end, dt.datetime) and isinstance(start, dt.datetime):
        if (end.tzinfo is None) != (start.tzinfo is None):
            return None
        if start.tzinfo is not None:
            end = end.astimezone(start.tzinfo)
    return end


def _moment(value: dt.date, prop: Any, short: bool) -> str:
    if not isinstance(value, dt.datetime):
        return day_text(value, short)
    zone = _zone_name(prop, value)
    return f"{day_text(value.date(), short)}, {_clock(value)}" + (f" ({zone})" if zone else "")


def _clock(value: dt.datetime) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


def _zone_name(prop: Any, value: dt.datetime) -> str | None:
    """The TZID as written (known to zoneinfo or not), ``UTC`` for a UTC time,
    None for a floating time (RFC 5545 §3.3.5 form #1: the same clock time everywhere)."""
    tzid = parameter(prop, "TZID")
    if tzid:
        return tzid
    if value.tzinfo is not None and value.utcoffset() == dt.timedelta(0):
        return "UTC"
    return None


def _text(component: Component | None, name: str) -> str | None:
    if component is None:
        return None
    values = property_list(component, name)
    text = str(values[0]).strip() if values else ""
    return text or None


def _rows(shown: Component | None, when: str | None) -> tuple[tuple[str, str], ...]:
    if shown is None:
        return ()
    rows: list[tuple[str, str]] = []
    if when:
        rows.append(("Due" if when.startswith("due ") else "When", when.removeprefix("due ")))
    repeat = describe_repeat(shown)
    if repeat:
        rows.append(("Repeats", repeat))
    location = _text(shown, "LOCATION")
    if location:
        rows.append(("Where", location))
    organizer = participants([organizer_property(shown)] if "ORGANIZER" in shown else [])
    if organizer:
        rows.append(("Organizer", organizer[0].label))
    comment = _text(shown, "COMMENT")
    if comment:
        rows.append(("Comment", comment))
    return tuple(rows)


def _attendee_text(attendee: Participant) -> str:
    text = attendee.label
    if attendee.partstat:
        text += " — " + PARTSTAT_WORDS.get(attendee.partstat, attendee.partstat.lower())
    return text + (" (optional)" if attendee.optional else "")


def _kind_word(kind: str) -> str:
    return {"VTODO": "task", "VJOURNAL": "journal entry"}.get(kind, "event")


def _masterless(components: list[Component]) -> bool:
    """Whether the message concerns only overridden instances (no master component)."""
    return bool(components) and all("RECURRENCE-ID" in c for c in components)


def _intro(method: str, kind: str, components: list[Component], who: str) -> str:
    """One sentence: what the sender (``who``) did."""
    thing = _kind_word(kind)
    updated = any(sequence(c) > 0 for c in components)
    instances = _masterless(components)
    if method == "REQUEST":
        if kind == "VTODO":
            return f"{who} has {'updated' if updated else 'assigned you'} this task."
        if updated:
            return f"{who} has updated this {thing}."
        return f"{who} has invited you to this {thing}."
    if method == "CANCEL":
        if instances and len(components) == 1:
            return f"One occurrence of this {thing} has been cancelled."
        if instances:
            return f"Some occurrences of this {thing} have been cancelled."
        return f"This {thing} has been cancelled."
    if method == "COUNTER":
        return f"{who} proposes a change to this {thing}."
    if method == "DECLINECOUNTER":
        return f"{who} has declined your proposed change to this {thing}."
    if method == "REFRESH":
        return f"{who} asks for the latest version of this {thing}."
    if method == "ADD":
        return f"{who} has added occurrences to this {thing}."
    if method == "PUBLISH":
        return f"{who} has shared this {thing} with you."
    return f"A {method} message about this {thing}."


def _subject(method: str, kind: str, components: list[Component], title: str) -> str:
    short_title = _cut(title)
    shown = shown_component(components)
    at = ""
    if shown is not None:
        short_when = describe_when(shown, short=True)
        at = f" @ {short_when}" if short_when else ""
    updated = any(sequence(c) > 0 for c in components)
    if method == "REQUEST":
        if kind == "VTODO":
            prefix = "Updated task" if updated else "Task assigned"
        else:
            prefix = "Updated invitation" if updated else "Invitation"
        return f"{prefix}: {short_title}{at}"
    prefixes = {
        "CANCEL": ("Cancelled", True),
        "COUNTER": ("New time proposed", True),
        "DECLINECOUNTER": ("Proposal declined", False),
        "REFRESH": ("Update requested", False),
        "ADD": ("Occurrences added", True),
        "PUBLISH": ("Event" if kind == "VEVENT" else _kind_word(kind).capitalize(), True),
    }
    prefix, with_time = prefixes.get(method, (method.capitalize(), False))
    return f"{prefix}: {short_title}{at if with_time else ''}"


def _cut(title: str) -> str:
    if len(title) <= SUBJECT_TITLE_LENGTH:
        return title
    return title[: SUBJECT_TITLE_LENGTH - 1].rstrip() + "…"


def _reply_summary(
    components: list[Component],
    shown: Component | None,
    title: str,
    rows: tuple[tuple[str, str], ...],
    who: str,
) -> Summary:
    """A REPLY (RFC 5546 §3.2.3): who answered, and how.

    The subject names the answer when every component gives the same
    PARTSTAT; a REPLY that answers the series one way and some instances
    another (accepts the series, declines one week) gets "Updated response"
    and the body lists each answer, so no part of the answer is hidden
    behind the first one. A REPLY about instances only names the instance's
    time in the subject, since "Declined: Weekly review" alone would read as
    the whole series.
    """
    answers: list[tuple[Component, Participant]] = []
    for component in components:
        found = participants(attendee_properties(component))
        if found:
            answers.append((component, found[0]))
    partstats = {p.partstat for _, p in answers}
    thing = _kind_word(shown.name if shown is not None else "VEVENT")
    short_title = _cut(title)
    responses: tuple[str, ...] = ()
    if len(partstats) == 1:
        prefix, verb = REPLY_VERBS.get(partstats.pop() or "", MIXED_REPLY)
        if _masterless(components):
            when = describe_when(shown, short=True) if shown is not None else None
            subject = f"{prefix}: {short_title}" + (f" @ {when}" if when else "")
            intro = f"{who} {verb} this {thing} for " + (
                "one occurrence." if len(components) == 1 else "some occurrences."
            )
        else:
            subject = f"{prefix}: {short_title}"
            intro = f"{who} {verb} this invitation."
    else:
        prefix, verb = MIXED_REPLY
        subject = f"{prefix}: {short_title}"
        intro = f"{who} {verb} this invitation:"
        responses = tuple(_response_line(c, p) for c, p in answers)
    rows = tuple(row for row in rows if row[0] != "Organizer")
    return Summary(subject, intro, title, rows, (), responses, None)


def _response_line(component: Component, attendee: Participant) -> str:
    answer = PARTSTAT_WORDS.get(attendee.partstat or "", (attendee.partstat or "").lower())
    if "RECURRENCE-ID" not in component:
        return f"the whole series: {answer}"
    rid = component["RECURRENCE-ID"]
    value = _temporal(rid)
    if value is None:
        return answer
    return f"{_moment(value, rid, short=False)}: {answer}"
