"""Writes and messages the scheduling rules refuse (RFC 6638 §3.2.4, §5).

Each refusal names the CalDAV precondition element the server returns in its
error body, so the HTTP layer maps one exception type to one answer without
knowing why it was raised.
"""

from __future__ import annotations

from typing import ClassVar


class SchedulingError(ValueError):
    """A write or message that breaks one of RFC 6638's scheduling preconditions.

    ``precondition`` is the element name, e.g. ``"CALDAV:valid-organizer"``.
    The base class takes any precondition name (``SchedulingError(
    "CALDAV:valid-organizer")``); the subclasses fix theirs and take only an
    explanation, and they are what this package raises.
    """

    default_precondition: ClassVar[str] = "CALDAV:valid-scheduling-message"

    def __init__(self, precondition: str | None = None, detail: str = "") -> None:
        self.precondition: str = precondition or self.default_precondition
        self.detail = detail
        super().__init__(f"{self.precondition}: {detail}" if detail else self.precondition)


class _Precondition(SchedulingError):
    """A subclass bound to one precondition: constructed with the explanation only."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(self.default_precondition, detail)


class UniqueSchedulingObjectResourceError(_Precondition):
    """Another scheduling object resource of the user has this UID (§3.2.4.1).

    Never raised by the pure core, which sees one resource at a time; defined
    here so the server raises the same family of errors.
    """

    default_precondition = "CALDAV:unique-scheduling-object-resource"


class SameOrganizerError(_Precondition):
    """Components of one scheduling object name different ORGANIZERs (§3.2.4.2)."""

    default_precondition = "CALDAV:same-organizer-in-all-components"


class AllowedOrganizerChangeError(_Precondition):
    """The organizer changed what may not change: the UID, or the ORGANIZER to
    an address that is not theirs (§3.2.4.3)."""

    default_precondition = "CALDAV:allowed-organizer-scheduling-object-change"


class AllowedAttendeeChangeError(_Precondition):
    """An attendee changed data that belongs to the organizer (§3.2.2.1, §3.2.4.4)."""

    default_precondition = "CALDAV:allowed-attendee-scheduling-object-change"


class ValidOrganizerError(_Precondition):
    """A scheduling object whose ORGANIZER is missing while it has attendees."""

    default_precondition = "CALDAV:valid-organizer"


class ValidSchedulingMessageError(_Precondition):
    """An iTIP message that cannot be applied: not iCalendar, wrong METHOD or
    UID, not exactly one attendee in a REPLY component (RFC 5546 §3.2)."""

    default_precondition = "CALDAV:valid-scheduling-message"
