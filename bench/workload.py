"""A reproducible calendar workload: N VEVENT resources plus busy principals.

Why hand-written iCalendar text instead of a library: the benchmark must feed
byte-identical resources to every server (files for stock Radicale, HTTP for
kalend), and the text must not depend on the version of an iCalendar library
installed in whichever virtual environment runs it. A fixed seed makes two runs
on two machines load the same calendar, so their numbers can be compared.

Shape of the calendar (what a busy team member's calendar looks like):

* about 90% single events and 10% recurring ones (daily and weekly rules with
  COUNT, UNTIL or no end; some with EXDATEs, some with overridden instances
  carried in the same resource under the same UID);
* time zones: Europe/Berlin and America/New_York (each with its VTIMEZONE,
  as RFC 5545 §3.6.5 requires for every TZID), UTC, and all-day DATE events;
* some events with an external ORGANIZER and ATTENDEEs. The organizer is
  never a local user on purpose: once kalend does implicit scheduling, loading
  the workload must not fan out invitations.

Three spreads: ``dense`` puts all N events in two years around a fixed
anchor date; ``scaling`` keeps the density constant (``EVENTS_PER_YEAR``) so
the span grows with N, as a calendar grows with years of history;
``history`` spreads them from four years before this week to a year after
it, and starts one recurring series in ten ten years back, for the time-axis
rows (``measure.time_axis_rows``). Why relative to this week, unlike the
other two: a server's index follows the clock (kalend materialises
instances around today), so "13 months back" must mean 13 months before the
run. Two runs in the same week load the same calendar.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from dataclasses import dataclass, field

#: Monday; the week view and the free-busy month are taken at this date.
ANCHOR = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
WEEK = (ANCHOR, ANCHOR + dt.timedelta(days=7))
MONTH = (dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
         dt.datetime(2026, 4, 1, tzinfo=dt.UTC))
EVENTS_PER_YEAR = 5000
DEFAULT_SEED = 20260302
PRODID = "-//kalend//bench workload//EN"

#: The owner of the measured calendar and of the busy calendars' names.
USER = "bench"
CALENDAR = "calendar"
DOMAIN = "example.org"

VTIMEZONES: dict[str, str] = {
    "Europe/Berlin": "\r\n".join([
        "BEGIN:VTIMEZONE", "TZID:Europe/Berlin",
        "BEGIN:DAYLIGHT", "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200", "TZNAME:CEST",
        "DTSTART:19700329T020000", "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
        "END:DAYLIGHT",
        "BEGIN:STANDARD", "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "TZNAME:CET",
        "DTSTART:19701025T030000", "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
        "END:STANDARD", "END:VTIMEZONE"]),
    "America/New_York": "\r\n".join([
        "BEGIN:VTIMEZONE", "TZID:America/New_York",
        "BEGIN:DAYLIGHT", "TZOFFSETFROM:-0500", "TZOFFSETTO:-0400", "TZNAME:EDT",
        "DTSTART:19700308T020000", "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU",
        "END:DAYLIGHT",
        "BEGIN:STANDARD", "TZOFFSETFROM:-0400", "TZOFFSETTO:-0500", "TZNAME:EST",
        "DTSTART:19701101T020000", "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU",
        "END:STANDARD", "END:VTIMEZONE"]),
}

_SUBJECTS = ["Planning", "1:1", "Design review", "Standup", "Customer call",
             "Lunch", "Retro", "Interview", "Budget", "Release sync", "Workshop",
             "Dentist", "Offsite prep", "Hiring panel", "Demo"]
_DTSTAMP = "20260101T000000Z"


@dataclass(frozen=True)
class Event:
    """One calendar object resource: one UID, one .ics file/href."""
    uid: str
    text: str
    recurring: bool

    @property
    def href(self) -> str:
        return f"{self.uid}.ics"


@dataclass
class Workload:
    """Everything a server is loaded with, identical for every server."""
    n: int
    spread: str
    seed: int
    span: tuple[dt.datetime, dt.datetime]
    events: list[Event]
    #: principal name -> its busy calendar (for free-busy of many attendees)
    busy: dict[str, list[Event]] = field(default_factory=dict)

    def principals(self) -> list[str]:
        return [USER, *self.busy]

    @functools.cached_property
    def own_events(self) -> list[Event]:
        """The events without an ORGANIZER: the ones the sync rounds retitle.
        In a meeting organised by someone else the user is an attendee, and
        RFC 6638 §3.2.2.1 lets an attendee change only their own answer."""
        return [e for e in self.events if "\nORGANIZER" not in e.text]


def this_monday(today: dt.date | None = None) -> dt.datetime:
    """Midnight UTC of this week's Monday: the time axis's "now"."""
    day = today or dt.datetime.now(dt.UTC).date()
    monday = day - dt.timedelta(days=day.weekday())
    return dt.datetime(monday.year, monday.month, monday.day, tzinfo=dt.UTC)


#: The history spread: years before and after this week.
HISTORY_YEARS = (4, 1)
#: How far back the oldest series of the history spread begin.
DECADE = dt.timedelta(days=3652)


def span_for(n: int, spread: str) -> tuple[dt.datetime, dt.datetime]:
    """Two years around the anchor (dense), or N/EVENTS_PER_YEAR years, three
    quarters of it history (scaling); the query week lies inside either.
    History: four years back and one ahead of this week."""
    if spread == "history":
        now = this_monday()
        return (now - dt.timedelta(days=365 * HISTORY_YEARS[0]),
                now + dt.timedelta(days=365 * HISTORY_YEARS[1]))
    if spread == "dense":
        days = 730.0
    elif spread == "scaling":
        days = max(28.0, 365.0 * n / EVENTS_PER_YEAR)
    else:
        raise ValueError(f"unknown spread {spread!r} (dense or scaling)")
    before = days / 2 if spread == "dense" else days * 0.75
    return (ANCHOR - dt.timedelta(days=before), ANCHOR + dt.timedelta(days=days - before))


def _fmt_local(value: dt.datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S")


def _fmt_date(value: dt.date) -> str:
    return value.strftime("%Y%m%d")


class _Builder:
    """Writes one event's text; one instance per generated workload."""

    def __init__(self, rng: random.Random, span: tuple[dt.datetime, dt.datetime],
                 prefix: str, attendee_pool: list[str],
                 open_ended_from: dt.datetime | None = None) -> None:
        self.rng = rng
        self.span = span
        self.prefix = prefix
        self.attendee_pool = attendee_pool
        #: Series starting before this end after two years instead of never
        #: (see ``generate``); None: as drawn.
        self.open_ended_from = open_ended_from

    def _start(self, span: tuple[dt.datetime, dt.datetime] | None = None) -> dt.datetime:
        lo, hi = span or self.span
        seconds = self.rng.uniform(0, (hi - lo).total_seconds())
        day = (lo + dt.timedelta(seconds=seconds)).replace(tzinfo=None)
        return day.replace(hour=self.rng.randint(7, 18),
                           minute=self.rng.choice([0, 15, 30, 45]), second=0,
                           microsecond=0)

    def _props(self, kind: str, start: dt.datetime, minutes: int, days: int,
               tzid: str | None, prop: str) -> list[str]:
        """DTSTART/DTEND/RECURRENCE-ID/EXDATE lines in the event's own form."""
        if kind == "allday":
            if prop == "DTEND":
                return [f"DTEND;VALUE=DATE:{_fmt_date(start.date() + dt.timedelta(days=days))}"]
            return [f"{prop};VALUE=DATE:{_fmt_date(start.date())}"]
        value = start + dt.timedelta(minutes=minutes) if prop == "DTEND" else start
        if kind == "utc":
            return [f"{prop}:{_fmt_local(value)}Z"]
        return [f"{prop};TZID={tzid}:{_fmt_local(value)}"]

    def event(self, index: int, recurring: bool, decade_old: bool = False) -> Event:
        """One event; ``decade_old``: a recurring series begun ten years
        before the span, in the first week of the decade (history spread)."""
        rng = self.rng
        uid = f"{self.prefix}-{index:06d}@bench.kalend"
        roll = rng.random()
        kind, tzid = (("tz", "Europe/Berlin") if roll < 0.40 else
                      ("tz", "America/New_York") if roll < 0.60 else
                      ("utc", None) if roll < 0.85 else ("allday", None))
        start = self._start()
        if decade_old:
            old = self.span[0] - DECADE
            start = self._start((old, old + dt.timedelta(days=7)))
        minutes = rng.choice([30, 30, 45, 60, 60, 60, 90, 120])
        days = rng.choice([1, 1, 1, 1, 2, 3])
        summary = rng.choice(_SUBJECTS)
        main = ["BEGIN:VEVENT", f"UID:{uid}", f"DTSTAMP:{_DTSTAMP}",
                *self._props(kind, start, minutes, days, tzid, "DTSTART"),
                *self._props(kind, start, minutes, days, tzid, "DTEND"),
                f"SUMMARY:{summary} #{index}"]
        if rng.random() < 0.3:
            main.append(f"LOCATION:Room {rng.randint(1, 40)}")
        if rng.random() < 0.2:
            main.append(f"DESCRIPTION:Agenda for {summary.lower()}\\, see notes.")
        if rng.random() < 0.2:
            main += self._attendees()
        if kind == "allday":
            main.append("TRANSP:TRANSPARENT")
        overrides: list[list[str]] = []
        if decade_old:
            # Weekly, never ending: ten years of past instances by now.
            main.append("RRULE:FREQ=WEEKLY")
        elif recurring:
            rule, step = self._rule(kind, start)
            main.append(f"RRULE:{rule}")
            if step is not None:
                # Instances k*step after the start; pick a few for EXDATE and
                # for overrides (distinct k, all well inside COUNT/UNTIL).
                ks = rng.sample(range(1, 4), k=3)
                if rng.random() < 0.3:
                    main += self._props(kind, start + step * ks[0], minutes, days,
                                        tzid, "EXDATE")
                if rng.random() < 0.3:
                    for k in ks[1:1 + rng.randint(1, 2)]:
                        overrides.append(self._override(uid, kind, tzid, start + step * k,
                                                        minutes, days, summary))
        main.append("END:VEVENT")
        components = [main, *overrides]
        timezones = [VTIMEZONES[tzid]] if tzid else []
        lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", *timezones]
        for component in components:
            lines += component
        lines.append("END:VCALENDAR")
        return Event(uid, "\r\n".join(lines) + "\r\n", recurring)

    def _rule(self, kind: str, start: dt.datetime
              ) -> tuple[str, dt.timedelta | None]:
        """An RRULE and the spacing of its instances (None when irregular)."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.1:
            # Working-day standup, never ending: the classic open-ended rule.
            return "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR" + self._retired(kind, start), None
        daily = rng.random() < 0.35
        interval = 1 if daily or rng.random() < 0.7 else 2
        step = dt.timedelta(days=interval if daily else 7 * interval)
        rule = "FREQ=DAILY" if daily else "FREQ=WEEKLY"
        if interval > 1:
            rule += f";INTERVAL={interval}"
        end_roll = rng.random()
        if end_roll < 0.45:
            rule += f";COUNT={rng.randint(5, 30) if daily else rng.randint(4, 52)}"
        elif end_roll < 0.9:
            last = start + step * rng.randint(4, 30 if daily else 52)
            if kind == "allday":
                rule += f";UNTIL={_fmt_date(last.date())}"
            else:
                # RFC 5545 §3.3.10: with a TZID'd DTSTART, UNTIL is in UTC.
                rule += f";UNTIL={_fmt_date(last.date())}T235959Z"
        else:
            rule += self._retired(kind, start)  # else: it never ends
        return rule, step

    def _retired(self, kind: str, start: dt.datetime) -> str:
        """``;UNTIL=`` two years after ``start`` for a would-be open-ended
        series that starts before ``open_ended_from``, else nothing. Draws
        no random numbers, so the rest of the workload stays the same."""
        limit = self.open_ended_from
        if limit is None or start >= limit.replace(tzinfo=None):
            return ""
        last = start + dt.timedelta(days=730)
        if kind == "allday":
            return f";UNTIL={_fmt_date(last.date())}"
        return f";UNTIL={_fmt_date(last.date())}T235959Z"

    def _override(self, uid: str, kind: str, tzid: str | None,
                  instance: dt.datetime, minutes: int, days: int,
                  summary: str) -> list[str]:
        moved = instance + dt.timedelta(hours=1) if kind != "allday" else instance
        return ["BEGIN:VEVENT", f"UID:{uid}", f"DTSTAMP:{_DTSTAMP}",
                *self._props(kind, instance, minutes, days, tzid, "RECURRENCE-ID"),
                *self._props(kind, moved, minutes, days, tzid, "DTSTART"),
                *self._props(kind, moved, minutes, days, tzid, "DTEND"),
                f"SUMMARY:{summary} (moved)", "SEQUENCE:1", "END:VEVENT"]

    def _attendees(self) -> list[str]:
        rng = self.rng
        org = f"org{rng.randint(1, 50)}@partner.example.com"
        lines = [f"ORGANIZER;CN=Organizer:mailto:{org}",
                 f"ATTENDEE;CN=Bench;PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT:mailto:{USER}@{DOMAIN}"]
        for address in rng.sample(self.attendee_pool, k=rng.randint(1, 5)):
            lines.append("ATTENDEE;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;"
                         f"RSVP=TRUE:mailto:{address}")
        return lines


def busy_principals(m: int) -> list[str]:
    return [f"fb{i:02d}" for i in range(1, m + 1)]


def generate(n: int, spread: str = "dense", seed: int = DEFAULT_SEED,
             principals: int = 20, busy_events: int = 60) -> Workload:
    """N events for the measured calendar plus ``principals`` users whose
    calendars are busy around the query month (``busy_events`` each)."""
    rng = random.Random(f"{seed}:{n}:{spread}")
    span = span_for(n, spread)
    pool = [f"guest{i}@partner.example.com" for i in range(1, 200)]
    # Constant density (the scaling spread) means as many series running in
    # any week whatever the history's length: without an end, every open-ended
    # series of twenty years of history would recur in the query week, and
    # the week's answer would grow with N. Series older than the 10,000-event
    # calendar's history were retired (that calendar itself is unchanged).
    retire = span_for(10_000, "scaling")[0] if spread == "scaling" else None
    builder = _Builder(rng, span, f"ev{n}", pool, retire)
    recurring_at = set(rng.sample(range(n), k=n // 10))
    # History: one recurring series in ten began a decade ago (drawn from the
    # recurring ones, so that the rest of the workload stays as it is).
    decade_old = set(sorted(recurring_at)[::10]) if spread == "history" else set()
    events = [builder.event(i, i in recurring_at, i in decade_old) for i in range(n)]
    busy: dict[str, list[Event]] = {}
    month_span = (MONTH[0] - dt.timedelta(days=14), MONTH[1] + dt.timedelta(days=14))
    for name in busy_principals(principals):
        prng = random.Random(f"{seed}:{name}")
        pbuilder = _Builder(prng, month_span, f"{name}", pool)
        chosen = set(prng.sample(range(busy_events), k=busy_events // 10))
        busy[name] = [pbuilder.event(i, i in chosen) for i in range(busy_events)]
    return Workload(n, spread, seed, span, events, busy)


def new_event(tag: str, index: int, when: dt.datetime) -> Event:
    """A fresh single event (for PUT timing), far from the query windows so
    that later queries see the same rows on every server."""
    uid = f"new-{tag}-{index:07d}@bench.kalend"
    text = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "BEGIN:VEVENT",
        f"UID:{uid}", f"DTSTAMP:{_DTSTAMP}",
        f"DTSTART:{_fmt_local(when.replace(tzinfo=None))}Z",
        f"DTEND:{_fmt_local((when + dt.timedelta(hours=1)).replace(tzinfo=None))}Z",
        f"SUMMARY:New event {index}", "END:VEVENT", "END:VCALENDAR"]) + "\r\n"
    return Event(uid, text, False)


def modified(event: Event, generation: int) -> Event:
    """The same resource with a changed summary (for sync-collection rounds)."""
    text = event.text.replace("SUMMARY:", f"SUMMARY:[v{generation}] ", 1)
    return Event(event.uid, text, event.recurring)


def as_collection(events: list[Event]) -> str:
    """All events as one VCALENDAR (for a whole-collection PUT), each
    VTIMEZONE once."""
    timezones: list[str] = []
    body: list[str] = []
    for event in events:
        inner = event.text.split("\r\n")
        begin = inner.index("BEGIN:VEVENT")
        for tzid, block in VTIMEZONES.items():
            if f"TZID:{tzid}" in inner[:begin] and block not in timezones:
                timezones.append(block)
        body += inner[begin:inner.index("END:VCALENDAR")]
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}",
                        *timezones, *body, "END:VCALENDAR"]) + "\r\n"
