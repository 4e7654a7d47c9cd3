"""Fixtures shared by all tests.

``database_url`` is parametrised over SQLite and PostgreSQL: every test that
uses it (directly or through ``server``) runs on both. PostgreSQL gets one
database per test run, created at start and dropped at the end; tests on it
start from emptied tables.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import hypothesis  # noqa: F401  (see below)
import pytest

# Imported up front on purpose: hypothesis' pytest plugin imports it lazily in
# the terminal summary, and pytest's assertion rewriting then parses it while
# daemon threads of in-process servers may still be alive; CPython 3.11's AST
# constructor is not thread-safe there (cpython gh-106905) and can fail the
# whole run after every test passed.

sys.path.insert(0, os.path.dirname(__file__))

from kalend_testing import (
    KalendServer,
    PostgresDatabase,
    reset_database,
    wanted_databases,
    write_config,
)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    database = PostgresDatabase()
    url = database.create()
    try:
        yield url
    finally:
        database.drop()


@pytest.fixture
def empty_database_url(database_kind: str, tmp_path) -> Iterator[str]:
    """A database of the parametrised kind with no tables at all (not even
    alembic_version): its own PostgreSQL database, dropped afterwards."""
    if database_kind == "postgresql":
        database = PostgresDatabase()
        url = database.create()
        try:
            yield url
        finally:
            database.drop()
    else:
        yield "sqlite:///" + str(tmp_path / "empty" / "kalend.sqlite3")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_kind" in metafunc.fixturenames:
        metafunc.parametrize("database_kind", wanted_databases(), scope="function")


@pytest.fixture
def database_url(request: pytest.FixtureRequest, database_kind: str, tmp_path) -> str:
    """A fresh, migrated kalend database of the parametrised kind."""
    if database_kind == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        url = "sqlite:///" + str(tmp_path / "kalend.sqlite3")
    reset_database(url)
    return url


@pytest.fixture
def server_config(tmp_path, database_url: str) -> str:
    return write_config(str(tmp_path / "data"), database_url)


@pytest.fixture
def server(tmp_path, database_url: str, server_config: str) -> Iterator[KalendServer]:
    """A kalend server (thread in this process) on an ephemeral loopback port."""
    instance = KalendServer(server_config, database_url, str(tmp_path / "data"))
    instance.start_in_thread()
    try:
        yield instance
    finally:
        instance.stop()
