"""Alarm bounds: the window around each instance in which its alarms fire."""

from __future__ import annotations

import datetime as dt

from kalend.storage_plugin.alarm_bounds import NO_ALARMS, alarm_bounds


def event(*alarms: str, extra: str = "") -> str:
    blocks = "".join(f"BEGIN:VALARM\r\nACTION:DISPLAY\r\n{a}END:VALARM\r\n" for a in alarms)
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\n"
            "DTSTART:20260302T100000Z\r\nDURATION:PT1H\r\n" + extra + blocks +
            "END:VEVENT\r\nEND:VCALENDAR\r\n")


def test_an_object_without_alarms_has_no_bounds():
    assert alarm_bounds(event()) == NO_ALARMS


def test_relative_triggers_give_the_earliest_offset_and_the_latest_repeat():
    bounds = alarm_bounds(event("TRIGGER:-PT30M\r\n",
                                "TRIGGER;RELATED=END:PT5M\r\nREPEAT:3\r\nDURATION:PT10M\r\n"))
    assert (bounds.lead, bounds.lag) == (-1800, 300 + 3 * 600)
    assert (bounds.first, bounds.last) == (None, None)


def test_the_events_own_duration_is_not_taken_for_the_alarms():
    # DURATION outside the VALARM is the event's length, not a repeat interval.
    bounds = alarm_bounds(event("TRIGGER:-P1D\r\nREPEAT:1\r\n"))
    assert (bounds.lead, bounds.lag) == (-86400, -86400)


def test_absolute_triggers_are_kept_as_moments():
    bounds = alarm_bounds(event("TRIGGER;VALUE=DATE-TIME:20260301T080000Z\r\n"))
    moment = int(dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC).timestamp())
    assert (bounds.first, bounds.last) == (moment, moment)
    assert bounds.lead is None


def test_a_floating_absolute_trigger_is_widened_by_a_day_each_way():
    bounds = alarm_bounds(event("TRIGGER;VALUE=DATE-TIME:20260301T080000\r\n"))
    moment = int(dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC).timestamp())
    assert (bounds.first, bounds.last) == (moment - 86400, moment + 86400)


def test_folded_trigger_lines_are_read():
    bounds = alarm_bounds(event("TRIGGER;RELATED=ST\r\n ART:-PT1\r\n 5M\r\n"))
    assert bounds.lead == -900


def test_an_unreadable_trigger_is_skipped():
    bounds = alarm_bounds(event("TRIGGER:soon\r\n", "TRIGGER:-PT5M\r\n"))
    assert (bounds.lead, bounds.lag) == (-300, -300)
