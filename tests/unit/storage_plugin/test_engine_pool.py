"""Pooled PostgreSQL connections: pinged when the server may have ended
them, not on every checkout (see ``engine._ping_after_idle``)."""

from __future__ import annotations

import time

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


def _terminate(postgres_url: str, pid: int) -> None:
    """End a backend as a restart would, and wait until its process is gone
    (its end of the socket closed)."""
    with psycopg.connect(_admin_dsn(postgres_url), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(500):
            if not admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s",
                                 (pid,)).fetchall():
                return
            time.sleep(0.01)
    raise AssertionError(f"backend {pid} did not end")


def test_a_connection_ended_by_the_server_is_replaced_before_use(pg_engine, postgres_url):
    """The database restarted (here: the backend was terminated) a moment
    after the connection's last use: the socket says so, and the next request
    gets a fresh connection, not an error."""
    first = _backend_pid(pg_engine)
    _terminate(postgres_url, first)

    second = _backend_pid(pg_engine)

    assert second != first


def test_a_connection_idle_for_long_is_pinged_before_use(pg_engine, postgres_url,
                                                         monkeypatch):
    """After a long idle the connection is pinged even when its socket is
    quiet (a network may drop it without a word)."""
    first = _backend_pid(pg_engine)
    _terminate(postgres_url, first)
    monkeypatch.setattr(engine_module, "_has_input", lambda connection: False)
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
