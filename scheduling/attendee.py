"""An attendee's write to their own copy: the REPLY it implies (RFC 6638 §3.2.2, RFC 5546 §3.2.3).

An attendee owns one thing in a meeting: their answer, per instance. Their
client says it by changing PARTSTAT on their ATTENDEE line (in the master or
in an override it adds for one instance), by excluding an instance with an
EXDATE, or by deleting the resource. Everything else belongs to the
organizer, and RFC 6638 §3.2.2.1 has the server refuse an attendee's write
that changes it.

The check is lenient on purpose. Clients rewrite DTSTAMP, reorder and
refold, add X- properties and alarms, flip TRANSP and CATEGORIES, and some
add overrides that repeat the master; refusing those would break ordinary
use. What is refused is what would mislead the attendee about the meeting:
another ORGANIZER or UID, a moved or renamed series or instance
(DTSTART, end, RRULE, RDATE, SUMMARY, LOCATION), and other attendees'
answers.
"""

from __future__ import annotations

import datetime as dt

from icalendar import Component

from kalend.scheduling.addresses import normalize
from kalend.scheduling.errors import AllowedAttendeeChangeError
from kalend.scheduling.instances import derive_instance, excluded_keys
from kalend.scheduling.messages import REPLY, ItipMessage, utc_now
from kalend.scheduling.objects import CalendarObject, message_text, parse_optional
from kalend.scheduling.participants import (
    DECLINED,
    attendee_addresses,
    common_organizer,
    find_attendee,
    first_organizer,
    force_send,
    organizer_property,
    partstat,
    schedule_agent,
)
from kalend.scheduling.replies import reply_component
from kalend.scheduling.significance import ORGANIZER_OWNED, fingerprint, instance_of


def attendee_changes(
    old: str | None,
    new: str | None,
    attendee: str,
    organizer_copy_known: bool = True,
    *,
    now: dt.datetime | None = None,
) -> tuple[ItipMessage, ...]:
    """The REPLY (zero or one message) after ``attendee`` wrote ``new`` over ``old``.

    ``new`` None: the attendee deleted their copy — a REPLY declining
    everything they were invited to (the caller drops it when the client
    said Schedule-Reply: F). ``old`` None: the attendee stored a copy the
    server never scheduled (an import) — no message unless forced.

    ``organizer_copy_known``: whether ``old`` is a copy the server itself
    delivered from the organizer. When False (the copy came from elsewhere,
    e.g. an invitation the attendee's client filed from an e-mail), the
    server has no authoritative version to hold the attendee to, so the
    RFC 6638 §3.2.2.1 refusal is skipped; replies are computed the same way.

    Raises SameOrganizerError when the components of ``new`` disagree on the
    ORGANIZER, AllowedAttendeeChangeError when the attendee changed the
    organizer's data.
    """
    me = normalize(attendee)
    old_obj, new_obj = parse_optional(old), parse_optional(new)
    current = new_obj or old_obj
    if current is None:
        return ()
    # The new version must name one organizer (RFC 6638 §3.2.4.2); a stored one was checked.
    organizer = (
        common_organizer(new_obj.components) if new_obj else first_organizer(current.components)
    )
    if not organizer or not _organizer_schedules(current):
        return ()
    stamp = now or utc_now()
    if new_obj is None:
        assert old_obj is not None
        return _decline_everything(old_obj, me, organizer, stamp)
    forced = _reply_forced(new_obj)
    if old_obj is None:
        return _reply_current(new_obj, me, organizer, stamp) if forced else ()
    if organizer_copy_known:
        check_attendee_write(old_obj, new_obj, me)
    answers = answered(old_obj, new_obj, me)
    if not answers:
        return _reply_current(new_obj, me, organizer, stamp) if forced else ()
    return (_reply(new_obj, me, organizer, answers, stamp),)


def _organizer_schedules(obj: CalendarObject) -> bool:
    """RFC 6638 §7.1: with SCHEDULE-AGENT=CLIENT or NONE on the ORGANIZER, the
    attendee's client (or nobody) replies, not the server."""
    return all(
        schedule_agent(organizer_property(c)) == "SERVER"
        for c in obj.components
        if organizer_property(c) is not None
    )


def _reply_forced(obj: CalendarObject) -> bool:
    """SCHEDULE-FORCE-SEND=REPLY on the ORGANIZER (RFC 6638 §7.2)."""
    return any(force_send(organizer_property(c)) == "REPLY" for c in obj.components)


def _answer(obj: CalendarObject, key: str | None, me: str) -> str | None:
    """The attendee's PARTSTAT for the master (``key`` None) or one instance.

    An instance the master excludes counts as declined: removing one
    occurrence from one's own copy is how clients decline it.
    """
    if key is None:
        return partstat(find_attendee(obj.master, me))
    if key in obj.overrides:
        return partstat(find_attendee(obj.overrides[key], me))
    if obj.master is None:
        return None
    if key in excluded_keys(obj.master):
        return DECLINED
    return partstat(find_attendee(obj.master, me))


def answered(old: CalendarObject, new: CalendarObject, me: str) -> list[tuple[str | None, str]]:
    """(instance, new PARTSTAT) for the master and each instance whose answer changed.

    An override new in ``new`` is compared with the old master's answer, so
    an override added only to accept or decline one instance is an answer
    for that instance.
    """
    keys = (
        set(old.overrides)
        | set(new.overrides)
        | (excluded_keys(new.master) - excluded_keys(old.master))
    )
    changes: list[tuple[str | None, str]] = []
    for key in [None, *sorted(keys)]:
        after = _answer(new, key, me)
        if after is not None and after != _answer(old, key, me):
            changes.append((key, after))
    return changes


def _reply_current(
    new: CalendarObject, me: str, organizer: str, stamp: dt.datetime
) -> tuple[ItipMessage, ...]:
    """A forced REPLY: the current answers for everything the attendee is in."""
    answers: list[tuple[str | None, str]] = []
    if find_attendee(new.master, me) is not None:
        answers.append((None, _answer(new, None, me) or DECLINED))
    for key in sorted(new.overrides):
        answer = _answer(new, key, me)
        if answer is not None:
            answers.append((key, answer))
    return (_reply(new, me, organizer, answers, stamp),) if answers else ()


def _decline_everything(
    old: CalendarObject, me: str, organizer: str, stamp: dt.datetime
) -> tuple[ItipMessage, ...]:
    """The attendee deleted their copy: decline what they were invited to. A copy
    the organizer already cancelled needs no answer."""
    if all(str(c.get("STATUS", "")).upper() == "CANCELLED" for c in old.components):
        return ()
    if find_attendee(old.master, me) is not None:
        answers: list[tuple[str | None, str]] = [(None, DECLINED)]
    else:
        answers = [
            (k, DECLINED) for k in sorted(old.overrides) if find_attendee(old.overrides[k], me)
        ]
    return (_reply(old, me, organizer, answers, stamp),) if answers else ()


def _reply(
    obj: CalendarObject,
    me: str,
    organizer: str,
    answers: list[tuple[str | None, str]],
    stamp: dt.datetime,
) -> ItipMessage:
    """One REPLY to the organizer with a component per answered instance."""
    organizer_line = next(
        (organizer_property(c) for c in obj.components if organizer_property(c)), None
    )
    components = []
    for key, answer in answers:
        source = obj.master if key is None else instance_of(obj, key)
        if source is None and key is not None and obj.master is not None:
            # Excluded in this version (declined by EXDATE): answer for the instance as derived.
            source = derive_instance(obj.master, key)
        if source is not None:
            components.append(reply_component(source, me, answer, organizer_line, stamp))
    keys = [key for key, _ in answers]
    recurrence_ids = () if None in keys else tuple(sorted(k for k in keys if k is not None))
    text = message_text(REPLY, components, obj.calendar)
    return ItipMessage(REPLY, me, organizer, obj.uid, text, recurrence_ids, True)


def check_attendee_write(old: CalendarObject, new: CalendarObject, me: str) -> None:
    """RFC 6638 §3.2.2.1: refuse a write by the attendee that changes the organizer's data."""
    if old.uid != new.uid:
        raise AllowedAttendeeChangeError("an attendee cannot change the UID")
    before = first_organizer(old.components)
    after = common_organizer(new.components)
    if before and before != after:
        raise AllowedAttendeeChangeError("an attendee cannot change the ORGANIZER")
    if old.master is not None and new.master is None:
        raise AllowedAttendeeChangeError("an attendee cannot remove the recurring series")
    _same_owned(old.master, new.master, "the master")
    cancelled = excluded_keys(new.master)
    for key in sorted(set(old.overrides) | set(new.overrides)):
        if key in cancelled and key not in new.overrides:
            continue
        previous, current = instance_of(old, key), instance_of(new, key)
        if previous is None or current is None:
            continue
        _same_owned(previous, current, f"instance {key}")
    for key in [None, *sorted(new.overrides)]:
        _same_answers(
            old.master if key is None else instance_of(old, key),
            new.master if key is None else new.overrides[key],
            me,
            key,
        )


def _same_owned(previous: Component | None, current: Component | None, where: str) -> None:
    if previous is None or current is None:
        return
    before, after = fingerprint(previous, ORGANIZER_OWNED), fingerprint(current, ORGANIZER_OWNED)
    if before != after:
        names = sorted({name for name, _ in set(before) ^ set(after)})
        raise AllowedAttendeeChangeError(f"an attendee cannot change {', '.join(names)} of {where}")


def _same_answers(
    previous: Component | None, current: Component | None, me: str, key: str | None
) -> None:
    """Other attendees' PARTSTAT is theirs to give (RFC 6638 §3.2.2.1)."""
    if previous is None or current is None:
        return
    for address in attendee_addresses(current):
        if address == me:
            continue
        before = partstat(find_attendee(previous, address))
        if before is not None and before != partstat(find_attendee(current, address)):
            where = "the master" if key is None else f"instance {key}"
            raise AllowedAttendeeChangeError(
                f"an attendee cannot change the answer of {address} in {where}"
            )
