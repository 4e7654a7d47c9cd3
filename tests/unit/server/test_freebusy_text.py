"""The VFREEBUSY text kalend writes itself reads back with icalendar as the
same periods, and its long lines fold as RFC 5545 §3.1 says."""

from __future__ import annotations

import datetime as dt

import icalendar

from kalend.server.calendar_data import fold, vfreebusy_text
from kalend.storage_plugin import occurrences as occ

UTC = dt.UTC


def seconds(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=UTC).timestamp())


def test_periods_and_types_read_back():
    periods = [(seconds(2026, 12, 7, 9), seconds(2026, 12, 7, 10), occ.BUSY),
               (seconds(2026, 12, 8, 9), seconds(2026, 12, 8, 11), occ.TENTATIVE)]
    text = vfreebusy_text(["UID:fb-1@example.org", "ORGANIZER:mailto:olivia@example.org",
                           "ATTENDEE:mailto:adam@example.org"], periods,
                          seconds(2026, 12, 7), seconds(2026, 12, 14), method="REPLY",
                          now=dt.datetime(2026, 12, 1, 8, tzinfo=UTC))
    calendar = icalendar.Calendar.from_ical(text)
    assert str(calendar["METHOD"]) == "REPLY"
    freebusy = calendar.walk("VFREEBUSY")[0]
    assert freebusy["DTSTART"].dt == dt.datetime(2026, 12, 7, tzinfo=UTC)
    assert freebusy["DTSTAMP"].dt == dt.datetime(2026, 12, 1, 8, tzinfo=UTC)
    read = [(p.start.hour, p.end.hour, p.params.get("FBTYPE", "BUSY"))
            for p in freebusy["FREEBUSY"]]
    assert read == [(9, 10, "BUSY"), (9, 11, "BUSY-TENTATIVE")]
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))


def test_long_lines_fold_without_splitting_a_character():
    line = "ATTENDEE;CN=Zoë Ødegård-Ångström Ölçüm:mailto:" + "zoë" * 30 + "@example.org"
    folded = fold(line)
    physical = folded.split("\r\n")
    assert len(physical) > 1
    assert all(len(p.encode("utf-8")) <= 75 for p in physical)
    assert all(p.startswith(" ") for p in physical[1:])
    assert "".join(p[1:] if i else p for i, p in enumerate(physical)) == line
