"""Statements sent as compiled driver SQL (``compiled_sql``) return what
``Connection.execute`` returns, and those that need SQLAlchemy's parameter
conversion are still sent through it."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, bindparam, event, select, text

from kalend.storage_plugin import compiled_sql, schema
from kalend.storage_plugin.engine import make_engine

c = schema.collection.c


@pytest.fixture
def engine(database_url):
    made = make_engine(database_url)
    with made.begin() as connection:
        for path, tag, seq in (("u", "", 1), ("u/cal", "VCALENDAR", 5),
                               ("u/work", "VCALENDAR", 9), ("u/book", "VADDRESSBOOK", 7)):
            connection.execute(text(
                "INSERT INTO collection (path, parent_path, owner, tag, props, sync_seq, "
                "sync_floor, modified) VALUES (:p, 'u', 'u', :tag, '{}', :seq, 0, 0.5)"),
                {"p": path, "tag": tag, "seq": seq})
    try:
        yield made
    finally:
        made.dispose()


@pytest.fixture
def sent() -> list[str]:
    statements: list[str] = []

    def record(_conn, _cursor, statement: str, *_args) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    yield statements
    event.remove(Engine, "before_cursor_execute", record)


#: A literal written into the statement ("VCALENDAR") and a bound parameter.
CALENDARS_FROM = select(c.path, c.sync_seq, c.modified).where(
    c.tag == "VCALENDAR", c.sync_seq >= bindparam("least")).order_by(c.path)


def test_driver_sql_returns_what_execute_returns(engine):
    with engine.connect() as connection:
        direct = [dict(r) for r in compiled_sql.mappings(connection, CALENDARS_FROM,
                                                         {"least": 6})]
        again = [dict(r) for r in compiled_sql.mappings(connection, CALENDARS_FROM,
                                                        {"least": 0})]
        reference = [dict(r) for r in connection.execute(CALENDARS_FROM,
                                                         {"least": 6}).mappings()]
    assert direct == reference == [{"path": "u/work", "sync_seq": 9, "modified": 0.5}]
    assert [r["path"] for r in again] == ["u/cal", "u/work"]


def test_a_statement_needing_conversion_goes_through_execute(engine, sent):
    # An expanding IN is rewritten by SQLAlchemy for each call's list.
    by_paths = select(c.path).where(c.path.in_(bindparam("paths", expanding=True))) \
        .order_by(c.path)
    with engine.connect() as connection:
        first = compiled_sql.mappings(connection, by_paths, {"paths": ["u/cal", "u/book"]})
        second = compiled_sql.mappings(connection, by_paths, {"paths": ["u"]})
    assert [r["path"] for r in first] == ["u/book", "u/cal"]
    assert [r["path"] for r in second] == ["u"]
    assert "POSTCOMPILE" not in " ".join(sent)
