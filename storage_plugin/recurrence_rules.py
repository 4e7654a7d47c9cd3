"""Recurrence rules refused before anything is expanded (RFC 5545 §3.3.10).

Two kinds of rule are turned away when an object is written, from the rule
alone, before the expansion library sees it:

* rules RFC 5545 does not allow: no FREQ or two, an INTERVAL or COUNT below
  1, COUNT with UNTIL, a BYxxx value out of its range, a BYDAY ordinal with a
  frequency that has none, BYWEEKNO outside a YEARLY rule, BYSETPOS without
  another BYxxx part. ``FREQ=DAILY;INTERVAL=0`` is one: dateutil loops on the
  same instant for ever;
* rules that are allowed but can never produce an instance, which the
  library discovers only by walking every period up to the year 9999: a
  BYSETPOS past the number of candidates a sub-daily period can hold
  (``FREQ=HOURLY;BYSETPOS=366;BYHOUR=1``: an hour holds one), or BYMONTHDAY
  days that none of the BYMONTH months has (``BYMONTH=2;BYMONTHDAY=30``).

Everything else a rule can cost is bounded while it is walked
(``expansion_budget``) and by the instance limits (``max_instances_per_object``
for a write, ``max_instances_per_query`` for a report): an open-ended
``FREQ=SECONDLY`` is refused by those, with CALDAV:max-instances, as soon as
its instances pass the limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import icalendar

#: The precondition of RFC 4791 §5.3.2.1 a refused rule is reported with.
VALID_CALENDAR_DATA = "C:valid-calendar-data"

FREQUENCIES = ("SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_SUB_DAILY = ("SECONDLY", "MINUTELY", "HOURLY")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")

#: RFC 5545 §3.3.10: the allowed values of the numeric BYxxx parts
#: (``signed`` ranges allow the negative values too, never 0).
_RANGES: dict[str, tuple[int, int, bool]] = {
    "BYSECOND": (0, 60, False),
    "BYMINUTE": (0, 59, False),
    "BYHOUR": (0, 23, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYMONTH": (1, 12, False),
    "BYSETPOS": (1, 366, True),
}
_BY_PARTS = ("BYSECOND", "BYMINUTE", "BYHOUR", "BYDAY", "BYMONTHDAY", "BYYEARDAY",
             "BYWEEKNO", "BYMONTH")
#: The longest each month can be (February in a leap year).
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class RecurrenceRuleRefused(ValueError):
    """A rule that is refused before expansion; ``reason`` says why, for the
    client and the log, naming the rule part. A ValueError, as any other
    unreadable calendar data is for the writers that do not name it (an
    iMIP message is refused with it)."""

    precondition = VALID_CALENDAR_DATA

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class _Rule:
    """One RRULE or EXRULE value with its parts as lists, as icalendar reads them."""

    name: str
    parts: dict[str, list]

    def values(self, part: str) -> list:
        return list(self.parts.get(part, []))


def check_calendar(calendar: icalendar.Calendar) -> None:
    """Refuse the object when one of its components has a rule of either kind
    above; return quietly otherwise."""
    for component in calendar.walk():
        if component.name not in ("VEVENT", "VTODO", "VJOURNAL"):
            continue
        _check_broken(component)
        for rule in _rules(component):
            check_rule(rule)


def check_text(text: str) -> None:
    """``check_calendar`` for the rules of an unparsed object: its RRULE and
    EXRULE lines, unfolded (RFC 5545 §3.1) and read on their own, so the
    rules are checked before any parser reads the whole object."""
    for name, value in _rule_lines(text):
        try:
            parsed = icalendar.prop.vRecur.from_ical(value)
        except Exception as exc:  # icalendar raises several types for bad rules
            raise RecurrenceRuleRefused(f"{name} cannot be read: {exc}") from None
        check_rule(_Rule(name, {str(k).upper(): list(v) if isinstance(v, (list, tuple)) else [v]
                                for k, v in parsed.items()}))


def _rule_lines(text: str) -> Iterable[tuple[str, str]]:
    name, value = "", ""
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if line[:1] in (" ", "\t"):
            value += line[1:]
            continue
        if name:
            yield name, value
        head, _, rest = line.partition(":")
        property_name = head.split(";", 1)[0].strip().upper()
        name, value = (property_name, rest) if property_name in ("RRULE", "EXRULE") else ("", "")
    if name:
        yield name, value


def _check_broken(component: icalendar.cal.Component) -> None:
    """icalendar keeps a rule it cannot read as ``vBroken`` and notes why."""
    for name, problem in getattr(component, "errors", ()) or ():
        if str(name).upper() in ("RRULE", "EXRULE"):
            raise RecurrenceRuleRefused(f"{name} cannot be read: {problem}")


def _rules(component: icalendar.cal.Component) -> Iterable[_Rule]:
    for name in ("RRULE", "EXRULE"):
        values = component.get(name)
        for value in values if isinstance(values, list) else [values] if values else []:
            if not isinstance(value, dict):
                raise RecurrenceRuleRefused(f"{name} cannot be read: {value!s}")
            yield _Rule(name, {str(k).upper(): list(v) if isinstance(v, (list, tuple)) else [v]
                               for k, v in value.items()})


def check_rule(rule: _Rule) -> None:
    frequency = _frequency(rule)
    _check_counts(rule)
    for part, (low, high, signed) in _RANGES.items():
        for value in rule.values(part):
            _check_range(rule, part, value, low, high, signed)
    _check_byday(rule, frequency)
    _check_part_combinations(rule, frequency)
    _check_productive(rule, frequency)


def _frequency(rule: _Rule) -> str:
    frequencies = [str(f).upper() for f in rule.values("FREQ")]
    if len(frequencies) != 1 or frequencies[0] not in FREQUENCIES:
        raise RecurrenceRuleRefused(
            f"{rule.name} needs exactly one FREQ of {', '.join(FREQUENCIES)}")
    return frequencies[0]


def _check_counts(rule: _Rule) -> None:
    for part in ("INTERVAL", "COUNT"):
        for value in rule.values(part):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise RecurrenceRuleRefused(
                    f"{rule.name} {part}={value} is not allowed: it must be a "
                    "positive integer (RFC 5545 §3.3.10)")
    if rule.values("COUNT") and rule.values("UNTIL"):
        raise RecurrenceRuleRefused(
            f"{rule.name} has both COUNT and UNTIL (RFC 5545 §3.3.10 allows one)")


def _check_range(rule: _Rule, part: str, value: object, low: int, high: int,
                 signed: bool) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and (
        low <= value <= high or (signed and -high <= value <= -low))
    if not ok:
        shown = f"{low} to {high}" + (f" or -{high} to -{low}" if signed else "")
        raise RecurrenceRuleRefused(f"{rule.name} {part}={value} is out of range ({shown})")


def _check_byday(rule: _Rule, frequency: str) -> None:
    """``[+/-]n`` before a weekday counts within the month or the year, so it
    is for MONTHLY and YEARLY rules only; within a month there are at most 5
    of a weekday, within a year 53 (RFC 5545 §3.3.10)."""
    within_month = frequency == "MONTHLY" or (frequency == "YEARLY" and rule.values("BYMONTH"))
    for value in rule.values("BYDAY"):
        text = str(value).upper().strip()
        day, ordinal = text[-2:], text[:-2]
        if day not in WEEKDAYS:
            raise RecurrenceRuleRefused(f"{rule.name} BYDAY={value} names no weekday")
        if not ordinal:
            continue
        try:
            number = int(ordinal)
        except ValueError:
            raise RecurrenceRuleRefused(f"{rule.name} BYDAY={value} is not readable") from None
        limit = 5 if within_month else 53
        if frequency not in ("MONTHLY", "YEARLY") or rule.values("BYWEEKNO"):
            raise RecurrenceRuleRefused(
                f"{rule.name} BYDAY={value}: a numbered weekday needs FREQ=MONTHLY or "
                "FREQ=YEARLY without BYWEEKNO (RFC 5545 §3.3.10)")
        if number == 0 or abs(number) > limit:
            raise RecurrenceRuleRefused(
                f"{rule.name} BYDAY={value}: there are at most {limit} of a weekday "
                f"in a {'month' if within_month else 'year'}")


def _check_part_combinations(rule: _Rule, frequency: str) -> None:
    """The parts RFC 5545 §3.3.10 rules out for some frequencies."""
    if rule.values("BYWEEKNO") and frequency != "YEARLY":
        raise RecurrenceRuleRefused(f"{rule.name} BYWEEKNO is for FREQ=YEARLY only")
    if rule.values("BYYEARDAY") and frequency in ("DAILY", "WEEKLY", "MONTHLY"):
        raise RecurrenceRuleRefused(f"{rule.name} BYYEARDAY is not allowed with FREQ={frequency}")
    if rule.values("BYMONTHDAY") and frequency == "WEEKLY":
        raise RecurrenceRuleRefused(f"{rule.name} BYMONTHDAY is not allowed with FREQ=WEEKLY")
    if rule.values("BYSETPOS") and not any(rule.values(p) for p in _BY_PARTS):
        raise RecurrenceRuleRefused(
            f"{rule.name} BYSETPOS needs another BYxxx part to choose from (RFC 5545 §3.3.10)")


def _check_productive(rule: _Rule, frequency: str) -> None:
    """Refuse the rules that can never produce an instance (see the module
    docstring): the library would walk to the year 9999 to find that out."""
    positions = [abs(p) for p in rule.values("BYSETPOS")]
    if positions and frequency in _SUB_DAILY:
        candidates = _sub_daily_candidates(rule, frequency)
        if min(positions) > candidates:
            raise RecurrenceRuleRefused(
                f"{rule.name} never has an instance: BYSETPOS={_listed(rule.values('BYSETPOS'))} "
                f"chooses beyond the {candidates} candidate(s) of each "
                f"{frequency.removesuffix('LY').lower()} period")
    days = rule.values("BYMONTHDAY")
    months = rule.values("BYMONTH")
    if days and months:
        longest = max(_MONTH_DAYS[m - 1] for m in months)
        if all(abs(d) > longest for d in days):
            raise RecurrenceRuleRefused(
                f"{rule.name} never has an instance: none of the months "
                f"BYMONTH={_listed(months)} has a day BYMONTHDAY={_listed(days)}")


def _sub_daily_candidates(rule: _Rule, frequency: str) -> int:
    """How many instants an hour, minute or second period can hold: the
    finer BYxxx parts expand it, a missing part takes DTSTART's value."""
    finer = {"HOURLY": ("BYMINUTE", "BYSECOND"), "MINUTELY": ("BYSECOND",), "SECONDLY": ()}
    count = 1
    for part in finer[frequency]:
        count *= max(len(set(rule.values(part))), 1)
    return count


def _listed(values: Sequence) -> str:
    return ",".join(str(v) for v in values)
