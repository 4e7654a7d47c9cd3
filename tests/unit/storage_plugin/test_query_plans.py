"""The index queries read the rows of the range, not the collection's history.

A week view must cost the same with 100,000 events as with 10,000; a plan
that walks an index over every item that started before the week would not.
"""

from __future__ import annotations

from kalend_testing import reset_database
from sqlalchemy import text

from kalend.storage_plugin import migrate, occurrence_index
from kalend.storage_plugin.collection import _ITEM_COLUMNS, _matching_items_statement
from kalend.storage_plugin.engine import make_engine

WEEK = (1_000_000_000, 1_000_604_800)
STEP = 600
BASE = WEEK[0] - 5_000 * STEP


def week_parameters(collection_id: int, start: int, end: int) -> dict:
    return {**occurrence_index.range_parameters(collection_id, start, end, None),
            **occurrence_index.outside_window_parameters(collection_id, start, end)}


def plan(engine, statement, parameters) -> str:
    compiled = statement.compile(engine)
    values = {**compiled.params, **parameters}
    positional = tuple(values[name] for name in compiled.positiontup)
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled),
                                          positional).all()
    return "\n".join(str(row[-1]) for row in rows)


def test_items_outside_their_window_are_found_through_the_window_indexes(tmp_path):
    engine = make_engine("sqlite:///" + str(tmp_path / "plan.sqlite3"))
    migrate.ensure_current(engine)

    found = plan(engine, occurrence_index.outside_window_statement(_ITEM_COLUMNS, "VEVENT"),
                 occurrence_index.outside_window_parameters(1, 1_000_000, 1_600_000))

    assert "ix_item_collection_occ_from" in found and "ix_item_collection_occ_until" in found
    assert "ix_item_collection_range" not in found and "SCAN item" not in found


def test_week_rows_come_from_a_bounded_range_of_the_occurrence_index(tmp_path):
    engine = make_engine("sqlite:///" + str(tmp_path / "plan.sqlite3"))
    migrate.ensure_current(engine)

    found = plan(engine, _matching_items_statement("VEVENT"),
                 week_parameters(1, 1_000_000, 1_600_000))

    assert "SCAN occurrence" not in found
    assert "ix_occurrence_range" in found and "ix_occurrence_long_range" in found
    # The range index holds the columns read: no table row per occurrence.
    assert "COVERING INDEX ix_occurrence_range" in found


def test_changed_items_are_tested_through_their_own_occurrences(tmp_path):
    # Bringing an answer up to date looks at the items written since it was
    # computed: their occurrences, found by item, not the collection's range.
    engine = make_engine("sqlite:///" + str(tmp_path / "plan.sqlite3"))
    migrate.ensure_current(engine)

    found = plan(engine, _matching_items_statement("VEVENT", False, True, True),
                 {**week_parameters(1, 1_000_000, 1_600_000), "since": 5})

    assert "SCAN occurrence" not in found and "SCAN item" not in found
    assert "ix_occurrence_item" in found and "ix_occurrence_range" not in found
    assert "ix_change_collection_seq" in found


def _fill_postgres(engine, items: int) -> int:
    """A calendar of ``items`` one-hour events, one every ten minutes around
    the week (dense, like a team calendar), and the statistics PostgreSQL
    plans from; returns the collection id."""
    with engine.begin() as connection:
        cid = connection.execute(text(
            "INSERT INTO collection (path, parent_path, owner, tag, props, sync_seq, "
            "sync_floor, modified) "
            "VALUES ('u/cal', 'u', 'u', 'VCALENDAR', '{}', 0, 0, 0) RETURNING id")).scalar_one()
        connection.execute(text(
            "INSERT INTO item (collection_id, href, uid, etag, name, component, text, "
            "start, \"end\", modified, occ_from, occ_until) "
            "SELECT :cid, 'e' || n || '.ics', 'e' || n, 'x', 'VCALENDAR', 'VEVENT', "
            "repeat('X', 900), :base + n * :step, :base + n * :step + 3600, 0, 0, "
            "4000000000 FROM generate_series(1, :items) AS n"),
            {"cid": cid, "items": items, "step": STEP, "base": BASE})
        connection.execute(text(
            "INSERT INTO occurrence (item_id, collection_id, component, start, \"end\", "
            "floating, long_span, fbtype) SELECT id, :cid, 'VEVENT', start, \"end\", "
            "false, false, 'BUSY' FROM item"), {"cid": cid})
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "VACUUM ANALYZE")
    return cid


def test_postgresql_fetches_the_week_rows_by_primary_key(postgres_url):
    """With the IN form, PostgreSQL took the slack of the range for matches,
    estimated several times the week's rows, and hashed the whole item table
    (a sequential scan of every event, 7 ms at 10,000 items); the week's rows
    must come through the primary key."""
    reset_database(postgres_url)
    engine = make_engine(postgres_url)
    try:
        cid = _fill_postgres(engine, 10_000)
        statement = _matching_items_statement("VEVENT")
        with engine.connect() as connection:
            rows = connection.execute(statement, week_parameters(cid, *WEEK)).all()
            compiled = statement.compile(engine)
            found = "\n".join(r[0] for r in connection.exec_driver_sql(
                "EXPLAIN " + str(compiled),
                {**compiled.params, **week_parameters(cid, *WEEK)}).all())
    finally:
        engine.dispose()
        reset_database(postgres_url)

    in_week = [n for n in range(1, 10_001)
               if BASE + n * STEP < WEEK[1] and BASE + n * STEP + 3600 > WEEK[0]]
    assert len(rows) == len(in_week)
    assert "Seq Scan on item" not in found
    assert "item_pkey" in found
