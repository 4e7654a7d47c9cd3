"""The read transactions of one request share one database transaction
(``transaction.request_scope``); writes and the end of the request end it."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from kalend.storage_plugin.engine import make_engine
from kalend.storage_plugin.transaction import request_scope, transaction


@pytest.fixture
def engine(database_url):
    made = make_engine(database_url)
    with made.begin() as connection:
        connection.execute(text(
            "INSERT INTO collection (path, parent_path, owner, tag, props, sync_seq, "
            "sync_floor, modified) VALUES ('u', NULL, 'u', '', '{}', 0, 0, 0)"))
    try:
        yield made
    finally:
        made.dispose()


def _seq(engine) -> int:
    with transaction(engine, "r") as connection:
        return connection.execute(text(
            "SELECT sync_seq FROM collection WHERE path = 'u'")).scalar_one()


def _bump_elsewhere(engine) -> None:
    """A write by another request (its own connection, committed)."""
    with engine.begin() as connection:
        connection.execute(text("UPDATE collection SET sync_seq = sync_seq + 1 "
                                "WHERE path = 'u'"))


def test_reads_of_one_request_share_one_snapshot(engine):
    with request_scope():
        first = _seq(engine)
        _bump_elsewhere(engine)
        second = _seq(engine)
        assert engine.pool.checkedout() == 1   # the kept read
    assert second == first
    assert engine.pool.checkedout() == 0
    assert _seq(engine) == first + 1


def test_without_a_request_scope_each_read_is_its_own_transaction(engine):
    first = _seq(engine)
    _bump_elsewhere(engine)
    assert _seq(engine) == first + 1


def test_a_write_in_the_request_ends_the_kept_read(engine):
    with request_scope():
        before = _seq(engine)
        with transaction(engine, "w") as connection:
            connection.execute(text("UPDATE collection SET sync_seq = sync_seq + 5 "
                                    "WHERE path = 'u'"))
        assert _seq(engine) == before + 5
    assert engine.pool.checkedout() == 0


def test_an_error_in_a_shared_read_ends_it_and_the_next_read_starts_afresh(engine):
    with request_scope():
        before = _seq(engine)
        with pytest.raises(DBAPIError), transaction(engine, "r") as connection:
            connection.execute(text("SELECT * FROM no_such_table"))
        _bump_elsewhere(engine)
        assert _seq(engine) == before + 1     # a fresh snapshot, after the bump
    assert engine.pool.checkedout() == 0
