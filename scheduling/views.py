"""One attendee's view of a meeting: the instances they are invited to.

An organizer may invite someone to a whole series, to some instances only
(they appear in those overrides and not in the master), or to a series but
not to one moved instance (they appear in the master and not in that
override). RFC 5546 §3.2.2 has the organizer send each attendee only what
concerns them; like Apple's CalendarServer, kalend sends an attendee of the
series the master with an EXDATE for every instance they are not in, plus
the overrides they are in, and an attendee of some instances only those
overrides.

Only ATTENDEE lines the server schedules count (SCHEDULE-AGENT=SERVER,
RFC 6638 §7.1): a CLIENT or NONE attendee has no view and so never gets a
message.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from icalendar import Component

from kalend.scheduling.instances import add_exdate, excluded_keys
from kalend.scheduling.objects import CalendarObject
from kalend.scheduling.participants import find_attendee, server_schedules


@dataclass(frozen=True)
class AttendeeView:
    """The instances of a meeting one attendee is invited to.

    ``whole``: they are in the master, so every instance except ``excluded``
    (the master's EXDATEs and the overrides without them). ``overrides``: the
    overridden instances they are in.
    """

    whole: bool = False
    overrides: frozenset[str] = frozenset()
    excluded: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not self.whole and not self.overrides

    def has(self, key: str) -> bool:
        """Whether the attendee is invited to instance ``key``."""
        return key in self.overrides or (self.whole and key not in self.excluded)

    def keys(self) -> frozenset[str]:
        """Every instance key this view names, invited or excluded."""
        return self.overrides | self.excluded


def invited(component: Component | None, address: str) -> bool:
    """Whether ``address`` is an ATTENDEE of ``component`` that the server schedules."""
    prop = find_attendee(component, address)
    return prop is not None and server_schedules(prop)


def view_of(obj: CalendarObject | None, address: str) -> AttendeeView:
    """Which instances of ``obj`` the server schedules ``address`` for."""
    if obj is None:
        return AttendeeView()
    whole = invited(obj.master, address)
    overrides = frozenset(k for k, c in obj.overrides.items() if invited(c, address))
    excluded: frozenset[str] = frozenset()
    if whole:
        excluded = frozenset(excluded_keys(obj.master)) | frozenset(set(obj.overrides) - overrides)
    return AttendeeView(whole, overrides, excluded)


def view_components(obj: CalendarObject, view: AttendeeView) -> list[Component]:
    """Copies of the components making up ``view``: the master (with an EXDATE
    for each override the attendee is not in) when whole, and their overrides."""
    components = []
    if view.whole and obj.master is not None:
        master = copy.deepcopy(obj.master)
        for key in sorted(set(obj.overrides) - view.overrides):
            add_exdate(master, key)
        components.append(master)
    components.extend(copy.deepcopy(obj.overrides[key]) for key in sorted(view.overrides))
    return components


def view_object(obj: CalendarObject | None, view: AttendeeView) -> CalendarObject | None:
    """``obj`` as the attendee of ``view`` would hold it, for comparing; None when
    they are in nothing. Shares ``obj``'s overrides: do not modify the result."""
    if obj is None or view.empty:
        return None
    master = None
    if view.whole and obj.master is not None:
        master = obj.master
        missing = sorted(set(obj.overrides) - view.overrides)
        if missing:
            master = copy.deepcopy(obj.master)
            for key in missing:
                add_exdate(master, key)
    overrides = {key: obj.overrides[key] for key in sorted(view.overrides)}
    return CalendarObject(obj.calendar, obj.uid, obj.kind, master, overrides)


def cancelled_for(old: AttendeeView, new: AttendeeView) -> frozenset[str]:
    """Instances the attendee had in ``old`` and has no longer in ``new``.

    Only instances named by an override or an EXDATE in either version can
    be told apart; dropping the master altogether is a whole-object CANCEL,
    decided by the caller.
    """
    return frozenset(k for k in old.keys() | new.keys() if old.has(k) and not new.has(k))
