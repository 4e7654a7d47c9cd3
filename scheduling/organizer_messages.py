"""The REQUESTs and CANCELs of one organizer write (RFC 5546 §3.2.2, §3.2.5).

Building and serialising a long series is what costs time, and most
attendees of a meeting share one view of it: every attendee of the series
gets the same REQUEST text. So the builder makes each distinct text once
and each distinct comparison of views once; a meeting with fifty attendees
costs about what a meeting with one costs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from icalendar import Component

from kalend.scheduling.instances import replace_value, sequence, set_sequence
from kalend.scheduling.messages import CANCEL, REQUEST, ItipMessage, outgoing_component
from kalend.scheduling.objects import CalendarObject, message_text
from kalend.scheduling.participants import keep_attendees
from kalend.scheduling.significance import SCHEDULING, changed_instances, instance_of
from kalend.scheduling.views import AttendeeView, cancelled_for, view_components, view_object


@dataclass
class OrganizerMessages:
    """Messages about ``old`` becoming ``new`` (either None), from ``sender``, stamped ``stamp``."""

    old: CalendarObject | None
    new: CalendarObject | None
    sender: str
    stamp: dt.datetime
    _texts: dict[tuple, str] = field(default_factory=dict)
    _changed: dict[tuple[AttendeeView, AttendeeView], bool] = field(default_factory=dict)

    def view_changed(self, before: AttendeeView, after: AttendeeView) -> bool:
        """Whether an attendee's view changed in anything but answers and personal data,
        apart from the instances cancelled for them (those get a CANCEL instead)."""
        key = (before, after)
        if key not in self._changed:
            changed = changed_instances(
                view_object(self.old, before),
                view_object(self.new, after),
                SCHEDULING,
                ignore_instances=cancelled_for(before, after),
            )
            self._changed[key] = bool(changed)
        return self._changed[key]

    def request(self, address: str, view: AttendeeView, significant: bool) -> ItipMessage:
        """RFC 5546 §3.2.2: the attendee's whole view, every ATTENDEE line kept so
        they see who else is invited."""
        assert self.new is not None
        new = self.new
        key = (REQUEST, view)
        if key not in self._texts:
            components = [
                outgoing_component(c, self.stamp, in_place=True) for c in view_components(new, view)
            ]
            self._texts[key] = message_text(REQUEST, components, new.calendar)
        recurrence_ids = () if view.whole else tuple(sorted(view.overrides))
        return ItipMessage(
            REQUEST, self.sender, address, new.uid, self._texts[key], recurrence_ids, significant
        )

    def cancel_whole(self, address: str) -> ItipMessage:
        """RFC 5546 §3.2.5: the master, STATUS:CANCELLED. When the meeting is deleted it
        lists every attendee (it is off for all, as in §4.2.9); when only this
        attendee was removed, them alone."""
        old = self.old
        assert old is not None and old.master is not None
        keep = None if self.new is None else address
        counterpart = None if self.new is None else self.new.master
        key = (CANCEL, None, keep)
        if key not in self._texts:
            component = self._cancel_component(old.master, counterpart, keep)
            self._texts[key] = message_text(CANCEL, [component], old.calendar)
        return ItipMessage(CANCEL, self.sender, address, old.uid, self._texts[key])

    def cancel_instances(self, address: str, keys: list[str]) -> ItipMessage:
        """RFC 5546 §3.2.5 for some instances, one component per RECURRENCE-ID. An
        instance gone for everyone lists all its attendees; one this attendee
        was only removed from lists them alone."""
        old = self.old
        assert old is not None
        parts = []
        for instance in keys:
            before = instance_of(old, instance)
            if before is None:
                continue
            after = instance_of(self.new, instance)
            counterpart = after if after is not None else (self.new.master if self.new else None)
            parts.append((instance, before, counterpart, None if after is None else address))
        key = (CANCEL, tuple((p[0], p[3]) for p in parts), None)
        if key not in self._texts:
            components = [self._cancel_component(b, c, keep) for _, b, c, keep in parts]
            self._texts[key] = message_text(CANCEL, components, old.calendar)
        return ItipMessage(CANCEL, self.sender, address, old.uid, self._texts[key], tuple(keys))

    def _cancel_component(
        self, before: Component, counterpart: Component | None, keep: str | None
    ) -> Component:
        """A CANCEL component: the cancelled version, STATUS:CANCELLED, the SEQUENCE of
        the organizer's copy now — one more than before when the object is
        deleted (RFC 5546 §2.1.4) — and ATTENDEE lines limited to ``keep`` (None: all)."""
        component = outgoing_component(before, self.stamp)
        replace_value(component, "STATUS", "CANCELLED")
        if self.new is None or counterpart is None:
            number = sequence(before) + 1
        else:
            number = max(sequence(before), sequence(counterpart))
        set_sequence(component, number)
        if keep is not None:
            keep_attendees(component, [keep])
        return component
