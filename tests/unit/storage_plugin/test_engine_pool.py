"""Pooled PostgreSQL connections: pinged after sitting idle, not on every
checkout (see ``engine._ping_after_idle``)."""

from __future__ import annotations

import psycopg
import pytest

from kalend.storage_plugin import engine as engine_module
from kalend.storage_plugin.engine import make_engine
from kalend.storage_plugin.transaction import transaction


def _backend_pid(engine) -> int:
    with transaction(engine, "r") as connection:
        return connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def _admin_dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def pg_engine(postgres_url):
    engine = make_engine(postgres_url, pool_size=1)
    try:
        yield engine
    finally:
        engine.dispose()


def test_a_connection_killed_while_idle_is_replaced_before_use(pg_engine, postgres_url,
                                                               monkeypatch):
    """The database restarted (here: the backend was terminated) while the
    pool held the connection: the next request gets a fresh one, not an error."""
    first = _backend_pid(pg_engine)
    with psycopg.connect(_admin_dsn(postgres_url), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (first,))
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.0)

    second = _backend_pid(pg_engine)

    assert second != first


def test_a_connection_in_steady_use_is_not_pinged(pg_engine, monkeypatch):
    pings = []
    real_ping = pg_engine.dialect.do_ping
    monkeypatch.setattr(pg_engine.dialect, "do_ping",
                        lambda connection: pings.append(1) or real_ping(connection))

    for _ in range(5):
        _backend_pid(pg_engine)
    assert pings == []

    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    _backend_pid(pg_engine)
    assert pings == [1]
