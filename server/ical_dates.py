"""Reading and writing iCalendar DATE and DATE-TIME values (RFC 5545 §3.3.4-5)
for the line-level expand paths.

An expanded week writes a few thousand of these. ``datetime.strptime`` and
``strftime`` cost about 20 and 3 microseconds each, more than everything else
the fast paths do per instance; these helpers slice the fixed-width forms
instead. They accept exactly the basic formats RFC 5545 allows (``YYYYMMDD``
and ``YYYYMMDDTHHMMSS``) and answer None for anything else, so the caller
declines and the library answers.
"""

from __future__ import annotations

import datetime as dt
import time

from kalend.storage_plugin.occurrences import TIME_MAX, TIME_MIN


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def parse_date(value: str) -> dt.date | None:
    """``YYYYMMDD`` as a date, or None."""
    if len(value) != 8 or not _digits(value):
        return None
    try:
        return dt.date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return None


def parse_local(value: str) -> dt.datetime | None:
    """``YYYYMMDDTHHMMSS`` (no zone suffix) as a naive datetime, or None.
    A leap second (``60``) is read as the last second of the minute, as
    RFC 5545 §3.3.12 lets implementations do."""
    if len(value) != 15 or value[8] not in "Tt" or not _digits(value[:8]) \
            or not _digits(value[9:]):
        return None
    try:
        return dt.datetime(int(value[:4]), int(value[4:6]), int(value[6:8]),
                           int(value[9:11]), int(value[11:13]), min(int(value[13:15]), 59))
    except ValueError:
        return None


def _clamped(seconds: int) -> time.struct_time:
    return time.gmtime(max(min(seconds, TIME_MAX), TIME_MIN))


def utc_value(seconds: int) -> str:
    """Seconds since the epoch as a UTC DATE-TIME value, ``...Z``."""
    t = _clamped(seconds)
    return f"{t[0]:04d}{t[1]:02d}{t[2]:02d}T{t[3]:02d}{t[4]:02d}{t[5]:02d}Z"


def date_value(seconds: int) -> str:
    """The UTC calendar day of these seconds as a DATE value."""
    t = _clamped(seconds)
    return f"{t[0]:04d}{t[1]:02d}{t[2]:02d}"
