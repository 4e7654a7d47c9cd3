"""Unit tests of kalend.storage_plugin.occurrences on the fixture corpus.

The expected instants are worked out by hand from the fixture text (time
zone offsets, EXDATEs, overrides), not taken from the code.
"""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo

import icalendar
import pytest

from kalend.storage_plugin import occurrences as occ

CORPUS = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "fixtures", "calendars")
UTC = dt.UTC
WIDE = (int(dt.datetime(2024, 1, 1, tzinfo=UTC).timestamp()),
        int(dt.datetime(2040, 1, 1, tzinfo=UTC).timestamp()))


def text(name: str) -> str:
    with open(os.path.join(CORPUS, name), encoding="utf-8") as handle:
        return handle.read()


def rows(name: str, start: int = WIDE[0], end: int = WIDE[1]) -> list[occ.Occurrence]:
    return occ.occurrences_between(occ.parse(text(name)), start, end)


def ts(*args) -> int:
    return int(dt.datetime(*args, tzinfo=UTC).timestamp())


def at(occurrence: occ.Occurrence) -> tuple[str, str]:
    fmt = "%Y-%m-%dT%H:%M"
    return (dt.datetime.fromtimestamp(occurrence.start, UTC).strftime(fmt),
            dt.datetime.fromtimestamp(occurrence.end, UTC).strftime(fmt))


# -- instances and UTC conversion ---------------------------------------------------------


def test_weekly_with_moved_instance():
    found = rows("weekly-with-moved-instance.ics")
    assert len(found) == 30
    by_id = {o.recurrence_id: o for o in found}
    # Monday 10:00 Berlin is 09:00Z in winter ...
    assert at(by_id["20260105T090000Z"]) == ("2026-01-05T09:00", "2026-01-05T10:00")
    # ... the 19 January instance moved to Tuesday 14:00-15:30 (13:00Z) ...
    assert at(by_id["20260119T090000Z"]) == ("2026-01-20T13:00", "2026-01-20T14:30")
    assert not any(at(o)[0] == "2026-01-19T09:00" for o in found)
    # ... and after the March change 10:00 CEST is 08:00Z.
    assert at(by_id["20260330T080000Z"]) == ("2026-03-30T08:00", "2026-03-30T09:00")
    assert at(found[-1]) == ("2026-07-27T08:00", "2026-07-27T09:00")
    assert all(not o.floating and o.fbtype == occ.BUSY for o in found)


def test_weekly_with_exdate_leaves_the_excluded_dates_out():
    found = rows("weekly-with-exdate.ics")
    starts = {at(o)[0] for o in found}
    assert len(found) == 40 - 3
    assert not {"2026-02-10T15:00", "2026-02-12T15:00", "2026-04-07T15:00"} & starts
    assert {"2026-02-03T15:00", "2026-02-05T15:00", "2026-04-09T15:00"} <= starts


def test_daily_count_across_the_us_dst_change():
    found = rows("daily-count.ics")
    assert len(found) == 12
    # 08:30 EST = 13:30Z until 13 March 2027; EDT from 14 March: 12:30Z.
    assert at(found[0]) == ("2027-03-05T13:30", "2027-03-05T14:00")
    assert at(found[8]) == ("2027-03-13T13:30", "2027-03-13T14:00")
    assert at(found[9]) == ("2027-03-14T12:30", "2027-03-14T13:00")
    assert at(found[-1]) == ("2027-03-16T12:30", "2027-03-16T13:00")


def test_daily_until_is_inclusive():
    found = rows("daily-until.ics")
    assert at(found[0])[0] == "2024-12-20T07:00"
    assert at(found[-1])[0] == "2025-02-14T07:00"  # UNTIL 15 Feb is not on the grid
    assert len(found) == 29


def test_never_ending_weekly_in_a_window_ten_years_ahead():
    found = rows("never-ending-weekly.ics", ts(2036, 6, 1), ts(2036, 7, 1))
    inside = [o for o in found if occ.overlaps(o, ts(2036, 6, 1), ts(2036, 7, 1))]
    # Wednesdays in June 2036: 4, 11, 18, 25; 09:00 BST = 08:00Z.
    assert [at(o) for o in inside] == [(f"2036-06-{d:02d}T08:00", f"2036-06-{d:02d}T08:30")
                                       for d in (4, 11, 18, 25)]
    calendar = occ.parse(text("never-ending-weekly.ics"))
    assert occ.is_open_ended(calendar)
    assert not occ.is_open_ended(occ.parse(text("daily-count.ics")))


def test_thisandfuture_override_moves_every_later_instance():
    found = rows("thisandfuture-override.ics")
    assert len(found) == 20
    before = [o for o in found if o.start < ts(2026, 3, 2)]
    after = [o for o in found if o.start >= ts(2026, 3, 2)]
    assert [at(o)[0][11:] for o in before] == ["09:00"] * 4
    assert {at(o) [0][11:] for o in after} == {"13:00"} and len(after) == 16
    assert all(o.end - o.start == 90 * 60 for o in after)
    # Every instance keeps its own recurrence id: the original start.
    assert [o.recurrence_id for o in after[:3]] == [
        "20260302T090000Z", "20260309T090000Z", "20260316T090000Z"]
    assert len({o.recurrence_id for o in found}) == 20


def test_all_day_event_is_floating_one_day_and_transparent():
    (found,) = rows("all-day-event.ics")
    assert found.floating
    assert at(found) == ("2026-12-24T00:00", "2026-12-25T00:00")  # wall clock
    assert found.transp == "TRANSPARENT" and found.fbtype == occ.FREE
    assert found.recurrence_id is None  # not recurring


def test_all_day_multi_day_yearly_is_a_long_span_with_date_recurrence_ids():
    found = rows("all-day-multi-day.ics")
    assert len(found) == 6
    assert all(o.floating and o.long_span and o.end - o.start == 10 * 86400 for o in found)
    assert [o.recurrence_id for o in found[:2]] == ["20270701", "20280701"]


def test_floating_time_is_stored_as_wall_clock_and_compared_in_the_zone():
    found = rows("floating-time.ics")
    assert len(found) == 5
    first = found[0]
    assert first.floating and at(first) == ("2026-11-30T09:00", "2026-11-30T10:00")
    assert first.recurrence_id == "20261130T090000"  # floating: no Z
    new_york = zoneinfo.ZoneInfo("America/New_York")
    # 14:30Z-14:45Z is 09:30-09:45 in New York (EST): inside the 09:00 instance ...
    assert occ.overlaps(first, ts(2026, 11, 30, 14, 30), ts(2026, 11, 30, 14, 45), new_york)
    # ... but not when the floating time is read as UTC.
    assert not occ.overlaps(first, ts(2026, 11, 30, 14, 30), ts(2026, 11, 30, 14, 45))
    assert occ.overlaps(first, ts(2026, 11, 30, 9, 30), ts(2026, 11, 30, 9, 45))


def test_duration_instead_of_dtend():
    found = rows("duration-not-dtend.ics")
    assert len(found) == 12
    # 18:00 in Tokyo (+09:00, no DST) is 09:00Z; DURATION 90 minutes.
    assert all(at(o)[0][8:] == "15T09:00" and o.end - o.start == 90 * 60 for o in found)


def test_custom_vtimezone_not_in_iana():
    found = rows("custom-vtimezone-not-iana.ics")
    assert len(found) == 10
    # 08:00 at +09:30 before the first Sunday of October, +10:30 after it.
    assert at(found[0])[0] == "2026-09-09T22:30"
    assert at(found[3])[0] == "2026-09-30T22:30"
    assert at(found[4])[0] == "2026-10-07T21:30"


def test_dst_transition_weekly_in_berlin():
    found = rows("dst-transition-weekly.ics")
    starts = [at(o)[0] for o in found]
    assert starts[0] == "2027-03-14T00:30"           # 01:30 CET
    assert "2027-03-28T00:30" in starts              # 01:30 CET, before the 02:00 change
    assert "2027-04-03T23:30" in starts              # 01:30 CEST
    assert "2027-10-30T23:30" in starts              # 31 Oct 01:30 CEST, before 03:00
    assert starts[-1] == "2027-11-14T00:30"          # back to CET; UNTIL is inclusive
    assert len(found) == 36


def test_rdate_adds_instances():
    found = rows("rdate-extra-instances.ics")
    starts = [at(o)[0] for o in found]
    assert len(found) == 6 + 3
    assert "2026-06-15T15:00" in starts and "2026-07-16T10:00" in starts  # Paris, CEST
    assert "2026-12-24T10:00" in starts                                  # UTC RDATE
    assert all(o.end - o.start == 3600 for o in found)


def test_monthly_last_friday_is_tentative():
    found = rows("monthly-byday.ics", ts(2026, 1, 1), ts(2027, 1, 1))
    inside = [o for o in found if occ.overlaps(o, ts(2026, 1, 1), ts(2027, 1, 1))]
    assert len(inside) == 12
    # Last Friday of March 2026 is the 27th; 16:00 PDT is 23:00Z.
    assert "2026-03-27T23:00" in [at(o)[0] for o in inside]
    assert all(o.status == "TENTATIVE" and o.fbtype == occ.TENTATIVE for o in inside)


def test_zero_length_event_matches_a_range_starting_at_it():
    found = rows("zero-length-event.ics")
    assert len(found) == 5 and all(o.start == o.end for o in found)
    noon = ts(2026, 12, 1, 12)
    assert occ.overlaps(found[0], noon, noon + 60)           # §9.9: start <= DTSTART
    assert not occ.overlaps(found[0], noon - 60, noon)       # end > DTSTART fails


# -- real exports ---------------------------------------------------------------------------------


def test_google_export_exceptions_exdates_and_cancelled_instance():
    found = rows("google-export-recurring-with-exceptions.ics")
    by_id = {o.recurrence_id: o for o in found}
    # EXDATEs 2 and 14 April (09:30 CEST = 07:30Z) are gone.
    assert "20260402T073000Z" not in by_id and "20260414T073000Z" not in by_id
    moved = by_id["20260507T073000Z"]
    assert at(moved) == ("2026-05-07T12:00", "2026-05-07T13:00")
    cancelled = by_id["20260602T073000Z"]
    assert cancelled.status == "CANCELLED" and cancelled.fbtype == occ.FREE
    longer = by_id["20261029T083000Z"]                       # after the October change
    assert at(longer) == ("2026-10-29T09:00", "2026-10-29T10:30")
    assert by_id["20261222T083000Z"].fbtype == occ.BUSY      # last one, UNTIL 22 Dec
    assert all(o.transp == "OPAQUE" for o in found)


def test_outlook_export_windows_zone_and_tentative_exception():
    found = rows("outlook-export-recurring.ics")
    by_id = {o.recurrence_id: o for o in found}
    # "W. Europe Standard Time": 09:00 is 07:00Z in summer, 08:00Z in winter.
    assert at(found[0])[0] == "2026-09-04T07:00"
    assert "20261225T080000Z" not in by_id and "20270101T080000Z" not in by_id
    tentative = by_id["20261106T080000Z"]
    assert at(tentative) == ("2026-11-06T10:00", "2026-11-06T11:00")
    assert tentative.fbtype == occ.TENTATIVE
    assert at(found[-1])[0] == "2027-06-25T07:00"            # UNTIL 07:00Z, inclusive
    assert len(found) == 43 - 2


def test_apple_export_override_with_sequence():
    found = rows("apple-export-recurring.ics", ts(2026, 9, 1), ts(2027, 1, 31))
    by_id = {o.recurrence_id: o for o in found}
    assert at(by_id["20260903T153000Z"]) == ("2026-09-03T15:30", "2026-09-03T17:00")
    assert at(by_id["20261015T153000Z"]) == ("2026-10-15T16:00", "2026-10-15T19:00")
    assert "20261231T163000Z" not in by_id                  # EXDATE
    assert "20261112T163000Z" in by_id                       # CET after October


# -- to-dos and journals ------------------------------------------------------------------------


def test_todo_with_due_only():
    (found,) = rows("todo-due-only.ics")
    due = ts(2027, 1, 15, 17)
    assert (found.component, found.start, found.end) == ("VTODO", due, due)
    assert found.fbtype == occ.FREE and found.status == "NEEDS-ACTION"
    todo = occ.parse(text("todo-due-only.ics")).walk("VTODO")[0]
    # RFC 4791 §9.9: (start < DUE) AND (end >= DUE)
    assert occ.todo_overlaps(todo, due - 60, due, None, False)
    assert not occ.todo_overlaps(todo, due, due + 60, None, False)


def test_todo_with_start_and_duration():
    found = rows("todo-start-duration.ics")
    assert len(found) == 6
    assert all(o.component == "VTODO" and o.end - o.start == 4 * 3600 for o in found)
    assert found[1].recurrence_id == "20270111T080000Z"
    todo = occ.parse(text("todo-start-duration.ics")).walk("VTODO")[0]
    begin = ts(2027, 1, 4, 8)
    # §9.9: (start <= DTSTART+DURATION) AND (end > DTSTART OR end >= DTSTART+DURATION)
    assert occ.todo_overlaps(todo, begin + 4 * 3600, begin + 5 * 3600, None, True)
    assert not occ.todo_overlaps(todo, begin - 3600, begin, None, True)


def test_journal_with_a_date_covers_the_day():
    (found,) = rows("journal-dated.ics")
    assert found.component == "VJOURNAL" and found.floating
    assert at(found) == ("2026-12-03T00:00", "2026-12-04T00:00")
    assert occ.overlaps(found, ts(2026, 12, 3, 23), ts(2026, 12, 4))
    assert not occ.overlaps(found, ts(2026, 12, 4), ts(2026, 12, 5))


# -- free-busy types and storage windows ---------------------------------------------------------


@pytest.mark.parametrize("status, transp, expected", [
    (None, None, occ.BUSY), ("CONFIRMED", "OPAQUE", occ.BUSY),
    ("TENTATIVE", None, occ.TENTATIVE), ("CANCELLED", None, occ.FREE),
    (None, "TRANSPARENT", occ.FREE), ("TENTATIVE", "TRANSPARENT", occ.FREE)])
def test_fbtype_of_an_event(status, transp, expected):
    event = icalendar.Event()
    event.add("UID", "x")
    event.add("DTSTART", dt.datetime(2026, 1, 1, 9, tzinfo=UTC))
    event.add("DTEND", dt.datetime(2026, 1, 1, 10, tzinfo=UTC))
    if status:
        event.add("STATUS", status)
    if transp:
        event.add("TRANSP", transp)
    found = occ.occurrence_of(event, False)
    assert found is not None and found.fbtype == expected


def test_expand_for_storage_keeps_the_past_and_cuts_the_future_of_a_never_ending_rule():
    text_ = text("never-ending-weekly.ics")
    window = (ts(2026, 1, 1), ts(2027, 1, 1))
    expansion = occ.expand_for_storage(occ.parse(text_), (ts(2025, 6, 4, 8), occ.TIME_MAX),
                                       window, 10000)
    assert not expansion.complete and expansion.open_ended and not expansion.past_capped
    assert (expansion.window_start, expansion.window_end) == (occ.TIME_MIN, window[1])
    assert all(o.start < window[1] for o in expansion.occurrences)
    assert min(o.start for o in expansion.occurrences) == ts(2025, 6, 4, 8)
    # The Wednesdays from 4 June 2025 (31 in 2025) and of 2026 (52).
    assert len(expansion.occurrences) == 31 + 52


def test_expand_for_storage_keeps_only_the_window_of_a_series_too_long_for_its_past():
    text_ = text("never-ending-weekly.ics")
    window = (ts(2026, 1, 1), ts(2027, 1, 1))
    expansion = occ.expand_for_storage(occ.parse(text_), (ts(2025, 6, 4, 8), occ.TIME_MAX),
                                       window, 60)
    assert expansion.past_capped and expansion.open_ended
    assert (expansion.window_start, expansion.window_end) == window
    assert all(window[0] <= o.start < window[1] for o in expansion.occurrences)
    assert len(expansion.occurrences) == 52


def test_expand_for_storage_limit():
    with pytest.raises(occ.InstanceLimitError):
        occ.expand_for_storage(occ.parse(text("never-ending-weekly.ics")),
                               (ts(2025, 6, 4, 8), occ.TIME_MAX),
                               (ts(2026, 1, 1), ts(2027, 1, 1)), 10)


def test_clip_periods_merges_and_clips_per_type():
    merged = occ.clip_periods([(0, 100, "BUSY"), (50, 150, "BUSY"), (150, 160, "BUSY"),
                               (10, 20, "BUSY-TENTATIVE"), (300, 400, "BUSY")], 5, 350)
    assert merged == [(5, 160, "BUSY"), (10, 20, "BUSY-TENTATIVE"), (300, 350, "BUSY")]


def test_instances_across_daylight_saving_changes_keep_the_exact_duration():
    # RFC 5545 §3.8.5.3: DTEND gives every instance the same exact length
    # (the library alone gives 1 h in March and 3 h in October).
    calendar = occ.parse(text("dst-transition-weekly.ics"))
    found = occ.occurrences_between(calendar, ts(2027, 3, 1), ts(2027, 12, 1))
    lengths = {o.end - o.start for o in found}
    assert lengths == {2 * 3600}
    march = [o for o in found if o.recurrence_id and o.recurrence_id.startswith("20270328")]
    assert len(march) == 1 and march[0].start == ts(2027, 3, 28, 0, 30)
