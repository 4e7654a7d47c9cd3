"""A bound on the work of walking one recurrence rule (RFC 5545 §3.3.10).

Why this exists: dateutil, under recurring-ical-events, vobject and so
Radicale's own checks and filters, walks a rule from DTSTART one period at a
time, and its caller can stop it only when it yields an instance. A rule
whose parts never match yields nothing and walks on to the year 9999.
Measured on the 2-core benchmark machine: ``FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30``
walks 3.0 million days in 14.7 s, ``FREQ=HOURLY;BYSETPOS=-366,366;BYHOUR=1``
takes 42 s, ``FREQ=HOURLY;BYSETPOS=2`` never ends in any time measured; an
open-ended ``FREQ=SECONDLY`` yields 100,000 instances in 1.2 s and never
stops. A PUT of such an event used to hold the write lock meanwhile.

dateutil asks its ``_iterinfo`` helper for the candidate days of every period
it visits: ``ydayset`` for a year, ``mdayset`` for a month, ``wdayset`` for a
week and ``ddayset`` for a day (also once for every hour, minute or second of
the sub-daily frequencies). Counting those calls counts the periods visited,
whether or not the rule yields anything. Each call is weighed by what a
period of that kind costs (measured: a year 64-190 µs, a month 13 µs, a week
7-11 µs, a day or less 3-10 µs), and an iteration whose weight passes the
budget raises ``ExpansionBudgetExceeded`` from inside dateutil, which ends
that iteration. Every walk of a rule in the process is bounded this way;
callers that know a better bound set it with ``expansion_budget``.

``_iterinfo`` is dateutil's private class: ``install`` checks that it still
has the four methods, so a dateutil release that renames them fails at
start-up with a message instead of silently losing the bound.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from dateutil import rrule as dateutil_rrule

#: What one visited period costs, in units of a day (see the module docstring).
PERIOD_WEIGHTS = {"ydayset": 16, "mdayset": 3, "wdayset": 2, "ddayset": 1}

#: How much more a period costs when BYSETPOS picks from its candidates.
BYSETPOS_FACTOR = 3

#: The default bound, in day units: about a second of CPU on the benchmark
#: machine, and 550 years of a daily rule. ``[storage] max_expansion_steps``
#: sets it for kalend's requests.
DEFAULT_BUDGET = 200_000

_budget: ContextVar[int] = ContextVar("kalend_expansion_budget", default=DEFAULT_BUDGET)

class InstanceLimitError(Exception):
    """More instances, or more work to find them, than a configured limit:
    ``max_instances_per_object`` on a write (CALDAV:max-instances, RFC 4791
    §5.2.7) or ``max_instances_per_query`` on a report.

    Not a ValueError on purpose: Radicale turns ValueErrors from storage into
    a generic 400; kalend's application maps this one to the RFC's answer
    (403 CALDAV:max-instances for a write, 507 for a report).
    """


class ExpansionBudgetExceeded(InstanceLimitError):
    """Walking a recurrence rule took more periods than allowed: answered as
    too many instances, since that is what the walk would have to produce or
    skip to go on."""


def current_budget() -> int:
    return _budget.get()


@contextmanager
def expansion_budget(weight: int) -> Iterator[None]:
    """Bound every rule walked in this context to ``weight`` day units."""
    token = _budget.set(max(int(weight), 1))
    try:
        yield
    finally:
        _budget.reset(token)


def _spend(info: Any, name: str) -> None:
    weight = PERIOD_WEIGHTS[name]
    if info.rrule._bysetpos:
        # BYSETPOS sorts and picks each period's set: measured 20 µs a
        # period for an hourly rule instead of 5-10 µs.
        weight *= BYSETPOS_FACTOR
    spent = info._kalend_weight + weight
    if spent > _budget.get():
        raise ExpansionBudgetExceeded(
            f"the recurrence rule needs more than {_budget.get()} steps to expand")
    info._kalend_weight = spent


def _counting_iterinfo(base: type) -> type:
    """dateutil's ``_iterinfo`` with a weight spent per visited period.

    A subclass, because ``_iterinfo`` has ``__slots__``; dateutil's ``_iter``
    looks the class up in its module at every call, so replacing the module
    attribute reaches every iteration started afterwards."""

    class CountingIterInfo(base):  # type: ignore[misc, valid-type]
        __slots__ = ("_kalend_weight",)
        _kalend_counting = True

        def __init__(self, rrule: Any) -> None:
            # base.__init__ resets only ``self.__slots__``, the subclass's.
            for attr in base.__slots__:
                setattr(self, attr, None)
            self.rrule = rrule
            self._kalend_weight = 0

        def ydayset(self, *args: Any) -> Any:
            _spend(self, "ydayset")
            return base.ydayset(self, *args)

        def mdayset(self, *args: Any) -> Any:
            _spend(self, "mdayset")
            return base.mdayset(self, *args)

        def wdayset(self, *args: Any) -> Any:
            _spend(self, "wdayset")
            return base.wdayset(self, *args)

        def ddayset(self, *args: Any) -> Any:
            _spend(self, "ddayset")
            return base.ddayset(self, *args)

    CountingIterInfo.__name__ = CountingIterInfo.__qualname__ = "_iterinfo"
    return CountingIterInfo


def install() -> None:
    """Count the periods of every dateutil iteration (idempotent)."""
    info = getattr(dateutil_rrule, "_iterinfo", None)
    if getattr(info, "_kalend_counting", False):
        return
    missing = [n for n in (*PERIOD_WEIGHTS, "__slots__") if not hasattr(info, n)]
    if info is None or missing or "rrule" not in getattr(info, "__slots__", ()):
        raise RuntimeError(
            "kalend bounds recurrence expansion through dateutil.rrule._iterinfo, "
            f"which this python-dateutil lacks ({', '.join(missing) or '_iterinfo'}); "
            "install python-dateutil 2.8 or 2.9 (pip install 'python-dateutil>=2.8,<2.10')")
    dateutil_rrule._iterinfo = _counting_iterinfo(info)  # type: ignore[attr-defined]


install()
