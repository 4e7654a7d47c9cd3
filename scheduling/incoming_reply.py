"""Processing a REPLY into the organizer's copy (RFC 6638 §3.2.1 / §4.1, RFC 5546 §3.2.3).

A REPLY changes one thing in the organizer's copy: one attendee's answer,
for the master or for some instances. Each of its components must hold
exactly one ATTENDEE, the same in all of them, and that attendee must be
invited. An answer for an instance the organizer never overrode adds an
override (the instance as derived from the master) to hold it — the only
way iCalendar can say "Bob declined the 14th".

The organizer's SEQUENCE does not change: an answer is not a change to the
meeting. SCHEDULE-STATUS=2.0 on the attendee's line records that a reply
was received (RFC 6638 §7.3).

Which answer wins (RFC 5546 §2.1.5): messages about one component are
ordered by SEQUENCE first and, within one SEQUENCE, by DTSTAMP, and the
organizer keeps track of the latest REPLY of each attendee so that one that
arrives late — mail is not delivered in order, and can be delivered twice —
does not undo a newer answer. So:

- an answer to an older version of the component (its SEQUENCE lower than
  the copy's) is passed over: the attendee has been asked again and will
  answer again;
- each ATTENDEE line that took an answer records that answer's SEQUENCE and
  DTSTAMP in two parameters, ``X-KALEND-REPLY-SEQUENCE`` and
  ``X-KALEND-REPLY-DTSTAMP``; a later answer is taken only when it is newer
  than the record (a higher SEQUENCE, or the same one and a later DTSTAMP).
  An answer equal to the record — the same message again — is not taken.

Why parameters on the line, and not a table: the record lives and dies with
the copy (no rows to prune or to leave behind when the event is deleted,
moved or exported), it is per attendee *and* per instance for free (every
override has its own ATTENDEE lines), and reading it costs nothing, as the
copy is read anyway. X- parameters are no change to the meeting
(``significance`` ignores them), and they never leave the server (they are
in ``SCHEDULE_PARAMETERS``, which outgoing messages drop). The price: a
client that rewrites the copy and drops parameters it does not know loses
the record; the next answer is then taken as newer, as before this check
existed, and inbound iMIP's Message-ID memory still stops a replay. An
override created here for an instance answer starts without a record (the
master's record is about the series), so answers for the series and for
one instance are ordered apart, as they are in the order they were sent.

``file_reply`` says which components took the answer, so a caller can tell
"nothing new" (an older answer, the same one again) from a change and skip
the write; when nothing changed the copy's text is returned as it was.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from icalendar import Component

from kalend.scheduling.addresses import normalize
from kalend.scheduling.errors import ValidSchedulingMessageError
from kalend.scheduling.instances import derive_instance, excluded_keys, recurrence_key, sequence
from kalend.scheduling.messages import REPLY
from kalend.scheduling.objects import (
    CalendarObject,
    parse_message,
    parse_object,
    unchanged_or_serialized,
)
from kalend.scheduling.participants import (
    REPLY_DTSTAMP,
    REPLY_RECORD_PARAMETERS,
    REPLY_SEQUENCE,
    attendee_properties,
    find_attendee,
    partstat,
    set_partstat,
    strip_parameters,
)

#: SCHEDULE-STATUS for "reply received and applied" (RFC 6638 §7.3, RFC 5546 §3.6).
DELIVERED = "2.0"

#: DTSTAMP as recorded on the attendee's line: a UTC date-time (RFC 5545 §3.8.7.2).
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"

#: The instance key standing for the master in ``FiledReply``.
SERIES = ""


@dataclass(frozen=True)
class FiledReply:
    """A REPLY filed into the organizer's copy.

    ``text``: the copy afterwards (as it was, when nothing changed).
    ``replier``: the attendee's normalised address. ``taken``: the instance
    keys (``SERIES`` for the master) whose answer changed the copy.
    ``passed_over``: those whose answer was older than what the copy holds
    (RFC 5546 §2.1.5); an answer equal to the copy's is in neither.
    """

    text: str
    replier: str
    taken: tuple[str, ...]
    passed_over: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.taken)


def apply_reply(organizer_copy: str, message_text: str) -> tuple[str, str]:
    """The organizer's copy with the REPLY applied, and the replier's normalised address.

    Raises ValidSchedulingMessageError when the message is not a REPLY of
    one invited attendee about this UID.
    """
    filed = file_reply(organizer_copy, message_text)
    return filed.text, filed.replier


def file_reply(organizer_copy: str, message_text: str) -> FiledReply:
    """``apply_reply``, saying what the REPLY changed (see the module docstring)."""
    message = parse_message(message_text, REPLY)
    current = parse_object(organizer_copy)
    if current.uid != message.uid:
        raise ValidSchedulingMessageError(f"REPLY for {message.uid} applied to {current.uid}")
    replier = _replier(message)
    if not any(find_attendee(c, replier) is not None for c in current.components):
        raise ValidSchedulingMessageError(f"{replier} is not an attendee of {current.uid}")
    taken: list[str] = []
    passed_over: list[str] = []
    for answer in message.components:
        outcome = _file_answer(current, answer, replier)
        key = recurrence_key(answer) or SERIES
        if outcome == _TAKEN:
            taken.append(key)
        elif outcome == _OLDER:
            passed_over.append(key)
    text = unchanged_or_serialized(organizer_copy, current.calendar, bool(taken))
    return FiledReply(text, replier, tuple(taken), tuple(passed_over))


def _replier(message: CalendarObject) -> str:
    """The one attendee all components of the REPLY speak for."""
    addresses = set()
    for component in message.components:
        lines = attendee_properties(component)
        if len(lines) != 1:
            raise ValidSchedulingMessageError(
                f"a REPLY component must hold one ATTENDEE, not {len(lines)}"
            )
        addresses.add(normalize(str(lines[0])))
    if len(addresses) != 1 or "" in addresses:
        raise ValidSchedulingMessageError("a REPLY must speak for one attendee")
    return addresses.pop()


#: What became of one component's answer (and how it compares with the record).
_TAKEN, _SAME, _OLDER, _NEWER, _NOWHERE = "taken", "same", "older", "newer", "nowhere"


def _file_answer(current: CalendarObject, answer: Component, replier: str) -> str:
    key = recurrence_key(answer)
    target = current.master if key is None else current.overrides.get(key)
    added = target is None and key is not None
    if added:
        target = _derived_override(current, key, replier)
    line = find_attendee(target, replier)
    if target is None or line is None:
        return _NOWHERE
    answered = _answered_sequence(answer, target)
    if answered < sequence(target):
        return _OLDER
    order = _order_against_record(answer, answered, line)
    if order != _NEWER:
        return order
    before = dict(line.params)
    _record(line, attendee_properties(answer)[0], answered, _stamp(answer))
    if added:
        current.calendar.add_component(target)
        current.overrides[key] = target
        return _TAKEN
    return _TAKEN if dict(line.params) != before else _SAME


def _derived_override(current: CalendarObject, key: str, replier: str) -> Component | None:
    """The instance ``key`` as an override of the master, without the master's reply
    records (see the module docstring); None when the master does not have that
    instance for the replier. The caller adds it to the copy if it takes the answer."""
    master = current.master
    if master is None or key in excluded_keys(master) or find_attendee(master, replier) is None:
        return None
    override = derive_instance(master, key)
    strip_parameters(override, REPLY_RECORD_PARAMETERS)
    return override


def _answered_sequence(answer: Component, target: Component) -> int:
    """The SEQUENCE the answer is about. RFC 5546 §3.2.3 lets a REPLY leave it
    out when it is 0, and some clients leave it out altogether: without one,
    the answer is taken as being about the version the copy holds."""
    return sequence(answer) if "SEQUENCE" in answer else sequence(target)


def _order_against_record(answer: Component, answered: int, line: Any) -> str:
    """Whether the answer is newer than the one the line holds, the same, or
    older. RFC 5546 §2.1.5: SEQUENCE first, then DTSTAMP. An answer without
    DTSTAMP (which §3.2.3 requires) is ordered by SEQUENCE alone: it never
    displaces a dated answer of the same SEQUENCE, and displaces an undated one."""
    recorded = _recorded(line)
    if recorded is None:
        return _NEWER
    recorded_sequence, recorded_stamp = recorded
    if answered != recorded_sequence:
        return _NEWER if answered > recorded_sequence else _OLDER
    stamp = _stamp(answer)
    if stamp is None:
        return _NEWER if recorded_stamp is None else _OLDER
    if recorded_stamp is None or stamp > recorded_stamp:
        return _NEWER
    return _SAME if stamp == recorded_stamp else _OLDER


def _recorded(line: Any) -> tuple[int, dt.datetime | None] | None:
    """(SEQUENCE, DTSTAMP) of the answer last taken on this line; None when the
    line has no readable record."""
    try:
        answered = int(str(line.params[REPLY_SEQUENCE]))
    except (KeyError, ValueError):
        return None
    try:
        stamp = dt.datetime.strptime(str(line.params[REPLY_DTSTAMP]), STAMP_FORMAT)
    except (KeyError, ValueError):
        return answered, None
    return answered, stamp.replace(tzinfo=dt.UTC)


def _stamp(component: Component) -> dt.datetime | None:
    """The component's DTSTAMP in UTC, to the second; a floating value is read
    as UTC (RFC 5545 §3.8.7.2 requires UTC), a date as its midnight."""
    prop = component.get("DTSTAMP")
    value = getattr(prop, "dt", None)
    if isinstance(value, dt.datetime):
        value = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    elif isinstance(value, dt.date):
        value = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    else:
        return None
    return value.replace(microsecond=0)


def _record(line: Any, reply_line: Any, answered: int, stamp: dt.datetime | None) -> None:
    """The answer on the organizer's ATTENDEE line: PARTSTAT, no RSVP, delegation,
    2.0, and which answer it was (SEQUENCE, DTSTAMP)."""
    set_partstat(line, partstat(reply_line) or "NEEDS-ACTION", rsvp=False)
    for name in ("DELEGATED-TO",):
        if name in reply_line.params:
            line.params[name] = reply_line.params[name]
    line.params["SCHEDULE-STATUS"] = DELIVERED
    line.params[REPLY_SEQUENCE] = str(answered)
    if stamp is None:
        line.params.pop(REPLY_DTSTAMP, None)
    else:
        line.params[REPLY_DTSTAMP] = stamp.strftime(STAMP_FORMAT)
