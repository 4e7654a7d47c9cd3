"""The read transactions of one request share one database transaction
(``transaction.request_scope``); writes and the end of the request end it."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from kalend.storage_plugin.engine import make_engine
from kalend.storage_plugin.transaction import current_connection, request_scope, transaction


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


# -- collection lookups shared by the request's snapshot -------------------------


@pytest.fixture
def storage(engine, database_url, tmp_path):
    from kalend_testing import write_config

    from kalend.server import config as kalend_config
    from kalend.storage_plugin import Storage

    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO collection (path, parent_path, owner, tag, props, sync_seq, "
            "sync_floor, modified) VALUES ('u/cal', 'u', 'u', 'VCALENDAR', "
            "'{\"D:displayname\": \"Work\"}', 0, 0, 0)"))
    made = Storage(kalend_config.load(write_config(str(tmp_path / "data"), database_url)))
    try:
        yield made
    finally:
        made.engine.dispose()


@pytest.fixture
def collection_selects(storage):
    """The statements that read the collection table, as the server sends them."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM collection" in statement:
            seen.append(statement)

    event.listen(storage.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(storage.engine, "before_cursor_execute", record)


def _display_name(storage, path: str) -> str | None:
    with storage.acquire_lock("r", "u"):
        found = next(iter(storage.discover(f"/{path}/")), None)
        return None if found is None else found.get_meta("D:displayname")


def test_the_first_lookup_fetches_every_path_the_request_names(storage, collection_selects):
    with request_scope(["u", "u/cal"]):
        principal = discovered(storage, "u")
        calendar = discovered(storage, "u/cal")
        missing = discovered(storage, "u/none")

    assert (principal, calendar, missing) == (["u"], ["u/cal"], [])
    # "u" and "u/cal" in one statement; "u/none" was not named, so it and
    # its parent's lookup (already known) cost one more.
    assert len(collection_selects) == 2


def discovered(storage, path: str) -> list[str]:
    with storage.acquire_lock("r", "u"):
        return [found.path for found in storage.discover(f"/{path}/")]


def test_a_write_in_the_request_forgets_what_was_looked_up(storage, collection_selects):
    with request_scope(["u", "u/cal"]):
        before = _display_name(storage, "u/cal")
        with storage.acquire_lock("w", "u", path="u/cal"):
            next(iter(storage.discover("/u/cal/"))).set_meta({"D:displayname": "Team"})
        after = _display_name(storage, "u/cal")

    assert (before, after) == ("Work", "Team")


def test_a_failed_read_forgets_what_was_looked_up(storage, engine):
    with request_scope(["u/cal"]):
        before = _display_name(storage, "u/cal")
        with pytest.raises(DBAPIError), storage.acquire_lock("r", "u"):
            current_connection().execute(text("SELECT * FROM no_such_table"))
        with engine.begin() as connection:
            connection.execute(text(
                "UPDATE collection SET props = '{\"D:displayname\": \"Moved\"}' "
                "WHERE path = 'u/cal'"))
        after = _display_name(storage, "u/cal")

    assert (before, after) == ("Work", "Moved")


def test_outside_a_request_every_lookup_reads_the_database(storage, collection_selects):
    _display_name(storage, "u/cal")
    _display_name(storage, "u/cal")

    assert len(collection_selects) == 2
