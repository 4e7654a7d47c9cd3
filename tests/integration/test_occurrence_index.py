"""The occurrence index's life cycle: written with each PUT, bounded by the
instance limits, moved forward by maintenance, and filled in for items that
were stored before it existed."""

from __future__ import annotations

import contextlib
import datetime as dt
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest
from kalend_testing import KalendServer, write_config
from sqlalchemy import Engine, event, text

from kalend.server import config as kalend_config
from kalend.storage_plugin import Storage, migrate
from kalend.storage_plugin.engine import make_engine
from kalend.storage_plugin.occurrences import TIME_MIN

WEEKLY_FOREVER = textwrap.dedent("""\
    BEGIN:VCALENDAR
    VERSION:2.0
    PRODID:-//kalend tests//EN
    BEGIN:VEVENT
    UID:weekly-forever
    DTSTAMP:20250101T000000Z
    DTSTART:20250106T090000Z
    DTEND:20250106T093000Z
    RRULE:FREQ=WEEKLY;BYDAY=MO
    SUMMARY:Standup
    END:VEVENT
    END:VCALENDAR
    """).replace("\n", "\r\n")

HOURLY_FOREVER = WEEKLY_FOREVER.replace("weekly-forever", "hourly").replace(
    "FREQ=WEEKLY;BYDAY=MO", "FREQ=HOURLY")

QUERY = textwrap.dedent("""\
    <?xml version="1.0" encoding="utf-8"?>
    <c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
      <d:prop><d:getetag/></d:prop>
      <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">
        <c:time-range start="{start}" end="{end}"/>
      </c:comp-filter></c:comp-filter></c:filter>
    </c:calendar-query>""")

EXPAND = textwrap.dedent("""\
    <?xml version="1.0" encoding="utf-8"?>
    <c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
      <d:prop><c:calendar-data><c:expand start="{start}" end="{end}"/></c:calendar-data></d:prop>
      <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">
        <c:time-range start="{start}" end="{end}"/>
      </c:comp-filter></c:comp-filter></c:filter>
    </c:calendar-query>""")


def calendar_with(server: KalendServer) -> None:
    server.add_user("alice")
    assert server.request("MKCALENDAR", "/alice/cal/", user="alice").status_code == 201


def query(server: KalendServer, start: str, end: str, body: str = QUERY):
    return server.request("REPORT", "/alice/cal/", user="alice", headers={"Depth": "1"},
                          body=body.format(start=start, end=end))


def test_put_materialises_the_window_and_a_query_ten_years_ahead_still_matches(server):
    calendar_with(server)
    assert server.request("PUT", "/alice/cal/standup.ics", user="alice",
                          body=WEEKLY_FOREVER).status_code == 201

    (occ_from, occ_until, open_ended), = server.rows(
        "SELECT occ_from, occ_until, open_ended FROM item")
    rows = server.count("occurrence")
    far = query(server, "20361006T000000Z", "20361013T000000Z")
    far_expanded = query(server, "20361006T000000Z", "20361013T000000Z", EXPAND)
    empty_day = query(server, "20361007T000000Z", "20361008T000000Z")

    now = time.time()
    # The whole past (the series began on 2025-01-06) and two years ahead.
    assert occ_from == TIME_MIN and occ_until >= now + 729 * 86400
    assert bool(open_ended) is True
    first_monday = dt.datetime(2025, 1, 6, 9, tzinfo=dt.UTC).timestamp()
    assert rows == len(range(int(first_monday), occ_until, 7 * 86400))  # not "forever"
    assert far.status_code == 207 and "standup.ics" in far.text
    assert "DTSTART:20361006T090000Z" in far_expanded.text
    assert "standup.ics" not in empty_day.text


@contextlib.contextmanager
def range_statements() -> Iterator[list[str]]:
    """The time-range listings the in-process server sends."""
    sent: list[str] = []

    def record(_conn, _cursor, statement: str, *_args) -> None:
        if "FROM occurrence" in statement and "SELECT item.href" in statement:
            sent.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def test_a_range_inside_every_window_is_answered_without_the_outside_part(server):
    calendar_with(server)
    server.request("PUT", "/alice/cal/standup.ics", user="alice", body=WEEKLY_FOREVER)
    server.request("PUT", "/alice/cal/review.ics", user="alice",
                   body=WEEKLY_FOREVER.replace("weekly-forever", "review"))
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    def eight_days_from(day: dt.datetime):
        return query(server, day.strftime("%Y%m%dT%H%M%SZ"),
                     (day + dt.timedelta(days=8)).strftime("%Y%m%dT%H%M%SZ"))

    with range_statements() as sent:
        near = eight_days_from(today)
        far = eight_days_from(today.replace(year=today.year + 10, day=1))
    # An item left out of the index (as one the expansion library cannot
    # read is): its window covers nothing, so the outside part is back. (The
    # next range differs: the answer cache cannot see a change made in SQL.)
    with server.engine.begin() as connection:
        connection.execute(text(
            "UPDATE item SET occ_from = 253402300799, occ_until = -62135596800 "
            "WHERE href = 'review.ics'"))
        connection.execute(text(
            "DELETE FROM occurrence WHERE item_id IN "
            "(SELECT id FROM item WHERE href = 'review.ics')"))
    with range_statements() as after_unindexing:
        near_again = eight_days_from(today - dt.timedelta(days=1))

    assert [r.status_code for r in (near, far, near_again)] == [207] * 3
    assert "UNION ALL" not in sent[0]           # a week inside every window
    assert "UNION ALL" in sent[1]               # ten years on: past the windows
    assert "UNION ALL" in after_unindexing[0]
    for answer in (near, far, near_again):      # a Monday falls in any eight days
        assert "standup.ics" in answer.text and "review.ics" in answer.text


OCCURRENCE_COLUMNS = ("o.component, o.start, o.\"end\", o.floating, o.long_span, "
                      "o.recurrence_id, o.status, o.transp, o.fbtype")


def occurrence_rows(server: KalendServer, calendar: str,
                    href: str = "standup.ics") -> dict[int, tuple]:
    return {row[0]: tuple(row[1:]) for row in server.rows(
        f"SELECT o.id, {OCCURRENCE_COLUMNS} FROM occurrence o "
        "JOIN item i ON i.id = o.item_id JOIN collection c ON c.id = i.collection_id "
        "WHERE c.path = :path AND i.href = :href", path=f"alice/{calendar}", href=href)}


def test_an_edit_rewrites_only_the_occurrence_rows_it_changes(server):
    calendar_with(server)
    assert server.request("MKCALENDAR", "/alice/fresh/", user="alice").status_code == 201
    put = server.request("PUT", "/alice/cal/standup.ics", user="alice", body=WEEKLY_FOREVER)
    # Rows stored after the standup's, so that a rewrite could not get the
    # same ids back (SQLite hands out the highest id plus one).
    server.request("PUT", "/alice/cal/once.ics", user="alice",
                   body=WEEKLY_FOREVER.replace("weekly-forever", "once").replace(
                       "RRULE:FREQ=WEEKLY;BYDAY=MO\r\n", ""))
    first = occurrence_rows(server, "cal")

    retitled = WEEKLY_FOREVER.replace("SUMMARY:Standup", "SUMMARY:Daily standup")
    server.request("PUT", "/alice/cal/standup.ics", user="alice", body=retitled)
    after_retitle = occurrence_rows(server, "cal")

    # One Monday dropped, one moved to the afternoon and marked tentative.
    rescheduled = retitled.replace(
        "RRULE:FREQ=WEEKLY;BYDAY=MO\r\n",
        "RRULE:FREQ=WEEKLY;BYDAY=MO\r\nEXDATE:20260105T090000Z\r\n").replace(
        "END:VEVENT\r\nEND:VCALENDAR",
        "END:VEVENT\r\nBEGIN:VEVENT\r\nUID:weekly-forever\r\nDTSTAMP:20250101T000000Z\r\n"
        "RECURRENCE-ID:20260112T090000Z\r\nDTSTART:20260112T140000Z\r\n"
        "DTEND:20260112T143000Z\r\nSTATUS:TENTATIVE\r\nSUMMARY:Late standup\r\n"
        "END:VEVENT\r\nEND:VCALENDAR")
    edited = server.request("PUT", "/alice/cal/standup.ics", user="alice", body=rescheduled)
    after_reschedule = occurrence_rows(server, "cal")
    server.request("PUT", "/alice/fresh/standup.ics", user="alice", body=rescheduled)
    written_fresh = occurrence_rows(server, "fresh")

    assert put.status_code == 201 and edited.status_code == 204
    assert after_retitle == first       # the same rows, ids included: nothing rewritten
    kept = set(first) & set(after_reschedule)
    assert len(first) - len(kept) == 2   # the dropped Monday's row and the moved one's
    assert all(after_reschedule[i] == first[i] for i in kept)
    assert sorted(after_reschedule.values()) == sorted(written_fresh.values())
    moved = [row for row in after_reschedule.values() if row[5] == "20260112T090000Z"]
    assert len(moved) == 1 and moved[0][6] == "TENTATIVE"


def test_object_over_the_instance_limit_is_refused_with_max_instances(tmp_path, database_url):
    folder = str(tmp_path / "data")
    config = write_config(folder, database_url, storage={"max_instances_per_object": "500"})
    server = KalendServer(config, database_url, folder).start_in_thread()
    try:
        calendar_with(server)
        refused = server.request("PUT", "/alice/cal/hourly.ics", user="alice",
                                 body=HOURLY_FOREVER)
        accepted = server.request("PUT", "/alice/cal/weekly.ics", user="alice",
                                  body=WEEKLY_FOREVER)

        assert refused.status_code == 403
        assert "max-instances" in refused.text
        assert server.rows("SELECT href FROM item") == [("weekly.ics",)]
        assert accepted.status_code == 201
        assert server.rows("SELECT COUNT(*) FROM occurrence o JOIN item i ON i.id = o.item_id "
                           "WHERE i.href = 'hourly.ics'") == [(0,)]
    finally:
        server.stop()


def test_expand_over_the_query_limit_gets_507(tmp_path, database_url):
    folder = str(tmp_path / "data")
    config = write_config(folder, database_url, storage={"max_instances_per_query": "10"})
    server = KalendServer(config, database_url, folder).start_in_thread()
    try:
        calendar_with(server)
        server.request("PUT", "/alice/cal/standup.ics", user="alice", body=WEEKLY_FOREVER)

        small = query(server, "20260105T000000Z", "20260201T000000Z", EXPAND)
        large = query(server, "20260101T000000Z", "20270101T000000Z", EXPAND)

        assert small.status_code == 207 and small.text.count("BEGIN:VEVENT") == 4
        assert large.status_code == 507
        assert "number-of-matches-within-limits" in large.text
    finally:
        server.stop()


def test_maintenance_moves_the_window_forward_idempotently(server):
    calendar_with(server)
    server.request("PUT", "/alice/cal/standup.ics", user="alice", body=WEEKLY_FOREVER)
    (until_before,), = server.rows("SELECT occ_until FROM item")
    storage = Storage(kalend_config.load(server.config_path))
    later = time.time() + 400 * 86400

    first = storage.extend_occurrence_windows(now=later)
    second = storage.extend_occurrence_windows(now=later)

    (until_after,), = server.rows("SELECT occ_until FROM item")
    assert first == 1 and second == 0
    assert until_after - until_before == 400 * 86400
    last_row = server.rows("SELECT MAX(start) FROM occurrence")[0][0]
    assert last_row > until_before


def hrefs_in_week(config: str) -> list[str]:
    """A week's calendar-query through the storage plugin itself (no server,
    so no maintenance thread indexes anything behind the test's back)."""
    import xml.etree.ElementTree as ET

    storage = Storage(kalend_config.load(config))
    root = ET.fromstring(QUERY.format(start="20260105T000000Z", end="20260112T000000Z"))
    filters = root.findall("{urn:ietf:params:xml:ns:caldav}filter")
    with storage.acquire_lock("r", "alice"):
        collection = storage.collection_at("/alice/cal/")
        return [item.href for item, _ in collection.get_filtered(filters)]


@pytest.fixture
def old_schema_database(empty_database_url) -> str:
    """A database at the first schema revision (before the occurrence index)."""
    engine = make_engine(empty_database_url)
    migrate.upgrade(engine, "0001_initial")
    engine.dispose()
    return empty_database_url


def test_items_stored_before_the_index_are_found_and_then_indexed(old_schema_database, tmp_path):
    url = old_schema_database
    folder = str(tmp_path / "data")
    config = write_config(folder, url)
    engine = make_engine(url)
    with engine.begin() as connection:
        for path, parent, tag in (("alice", "", ""), ("alice/cal", "alice", "VCALENDAR")):
            props = '{"tag": "VCALENDAR"}' if tag else "{}"
            connection.execute(text(
                "INSERT INTO collection (path, parent_path, owner, tag, props, sync_seq, "
                "sync_floor, modified) VALUES (:p, :parent, 'alice', :tag, :props, 0, 0, 0)"),
                {"p": path, "parent": parent, "tag": tag, "props": props})
        connection.execute(text(
            "INSERT INTO item (collection_id, href, uid, etag, name, component, text, "
            "start, \"end\", modified) SELECT id, 'standup.ics', 'weekly-forever', '\"e\"', "
            "'VCALENDAR', 'VEVENT', :body, 1736154000, 253402300799, 0 FROM collection "
            "WHERE path = 'alice/cal'"), {"body": WEEKLY_FOREVER})
    command = [sys.executable, "-m", "kalend"]

    refused = subprocess.run(command + ["serve", "--config", config], capture_output=True,
                             text=True, timeout=120)
    upgraded = subprocess.run(command + ["db", "upgrade", "--config", config],
                              capture_output=True, text=True, timeout=120)
    with engine.connect() as connection:   # closed: an open SQLite read would hold a lock
        unindexed = [bool(v) for (v,) in connection.execute(
            text("SELECT occ_from > occ_until FROM item"))]
    found_unindexed = hrefs_in_week(config)
    maintained = subprocess.run(command + ["maintain", "--config", config],
                                capture_output=True, text=True, timeout=120)
    server = KalendServer(config, url, folder)
    server.add_user("alice")
    server.start_in_thread()
    try:
        found_after = query(server, "20260105T000000Z", "20260112T000000Z")
        rows = server.count("occurrence")
    finally:
        server.stop()
        engine.dispose()

    assert refused.returncode == 2 and "kalend db upgrade" in refused.stderr
    assert upgraded.returncode == 0, upgraded.stderr
    assert unindexed == [True]
    assert found_unindexed == ["standup.ics"]
    assert maintained.returncode == 0 and "1 items re-materialised" in maintained.stdout
    assert rows > 100
    assert "standup.ics" in found_after.text


# -- the time axis (issue 16): a series' past is stored whole ----------------------

WEEKLY_SINCE_2016 = WEEKLY_FOREVER.replace("weekly-forever", "since-2016").replace(
    "20250101T000000Z", "20160101T000000Z").replace(
    "DTSTART:20250106T090000Z", "DTSTART:20160104T090000Z").replace(
    "DTEND:20250106T093000Z", "DTEND:20160104T093000Z")

DAILY_SINCE_1990 = WEEKLY_FOREVER.replace("weekly-forever", "daily-1990").replace(
    "DTSTART:20250106T090000Z", "DTSTART:19900101T090000Z").replace(
    "DTEND:20250106T093000Z", "DTEND:19900101T093000Z").replace(
    "FREQ=WEEKLY;BYDAY=MO", "FREQ=DAILY")


def test_a_week_years_back_in_a_series_begun_ten_years_ago_is_read_from_the_index(server):
    calendar_with(server)
    assert server.request("PUT", "/alice/cal/since-2016.ics", user="alice",
                          body=WEEKLY_SINCE_2016).status_code == 201

    with range_statements() as sent:
        three_years_back = query(server, "20231002T000000Z", "20231009T000000Z")
        ten_years_back = query(server, "20160104T000000Z", "20160111T000000Z")
        before_it_began = query(server, "20151005T000000Z", "20151012T000000Z")
    expanded = query(server, "20190107T000000Z", "20190114T000000Z", EXPAND)

    (occ_from, capped), = server.rows("SELECT occ_from, occ_past_capped FROM item")
    assert occ_from == TIME_MIN and not capped
    assert "since-2016.ics" in three_years_back.text
    assert "since-2016.ics" in ten_years_back.text
    assert "since-2016.ics" not in before_it_began.text
    # No part of those queries expands a series on the fly: every week is indexed.
    assert sent and all("UNION ALL" not in statement for statement in sent)
    assert "DTSTART:20190107T090000Z" in expanded.text
    assert expanded.text.count("BEGIN:VEVENT") == 1


def test_a_series_too_long_to_store_whole_keeps_its_window_and_is_still_found(
        tmp_path, database_url):
    # 13,000 days since 1990 against a limit of 5,000: the window (three
    # years, about 1,100 days) is stored, the earlier past expanded on demand.
    folder = str(tmp_path / "data")
    config = write_config(folder, database_url, storage={"max_instances_per_object": "5000"})
    server = KalendServer(config, database_url, folder).start_in_thread()
    try:
        calendar_with(server)
        stored = server.request("PUT", "/alice/cal/daily.ics", user="alice",
                                body=DAILY_SINCE_1990)
        (occ_from, capped), = server.rows("SELECT occ_from, occ_past_capped FROM item")
        rows = server.count("occurrence")
        with range_statements() as sent:
            in_1995 = query(server, "19950306T000000Z", "19950307T000000Z")
        expanded = query(server, "19950306T000000Z", "19950308T000000Z", EXPAND)
    finally:
        server.stop()
    assert stored.status_code == 201
    assert bool(capped) and occ_from > time.time() - 366 * 86400
    assert 1000 < rows < 1200
    assert "daily.ics" in in_1995.text and "UNION ALL" in sent[0]
    assert expanded.text.count("BEGIN:VEVENT") == 2


def test_maintenance_stores_the_past_of_series_indexed_before_it_was_kept(server):
    # What revision 0008 finds: a series indexed from a year back only.
    calendar_with(server)
    server.request("PUT", "/alice/cal/since-2016.ics", user="alice", body=WEEKLY_SINCE_2016)
    full_rows = server.count("occurrence")
    year_back = int(time.time()) - 365 * 86400
    with server.engine.begin() as connection:
        connection.execute(text("UPDATE item SET occ_from = :y"), {"y": year_back})
        connection.execute(text("DELETE FROM occurrence WHERE start < :y"), {"y": year_back})
    storage = Storage(kalend_config.load(server.config_path))

    first = storage.extend_occurrence_windows()
    second = storage.extend_occurrence_windows()

    (occ_from,), = server.rows("SELECT occ_from FROM item")
    assert first == 1 and second == 0
    assert occ_from == TIME_MIN
    assert server.count("occurrence") == full_rows
