"""The index queries read the rows of the range, not the collection's history.

A week view must cost the same with 100,000 events as with 10,000; a plan
that walks an index over every item that started before the week would not.
"""

from __future__ import annotations

from kalend.storage_plugin import migrate, occurrence_index
from kalend.storage_plugin.collection import _ITEM_COLUMNS, _matching_items_statement
from kalend.storage_plugin.engine import make_engine


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
                 occurrence_index.range_parameters(1, 1_000_000, 1_600_000, None))

    assert "SCAN occurrence" not in found
    assert "ix_occurrence_range" in found and "ix_occurrence_long_range" in found
