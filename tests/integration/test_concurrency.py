"""Transactions instead of Radicale's storage lock, shown with real processes.

Two ``kalend serve`` processes share one database; concurrent HTTP clients
race against both. The conditional-write races run on SQLite and PostgreSQL;
what only a multi-writer database can show (parallel writes to different
collections, a process killed in the middle of a write) runs on PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
import requests
from kalend_testing import KalendServer, reset_database, write_config
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from kalend.storage_plugin.transaction import advisory_key

RACERS = 8


def event(uid: str, summary: str) -> str:
    return textwrap.dedent(f"""\
        BEGIN:VCALENDAR
        VERSION:2.0
        PRODID:-//kalend tests//EN
        BEGIN:VEVENT
        UID:{uid}
        DTSTAMP:20261101T000000Z
        DTSTART:20261201T100000Z
        DTEND:20261201T110000Z
        SUMMARY:{summary}
        END:VEVENT
        END:VCALENDAR
        """).replace("\n", "\r\n")


def two_processes(tmp_path, url: str) -> list[KalendServer]:
    folder = str(tmp_path / "data")
    config = write_config(folder, url)
    first = KalendServer(config, url, folder)
    first.add_user("alice")
    servers = [first.start_process(), KalendServer(config, url, folder).start_process()]
    return servers


@contextmanager
def running(servers: list[KalendServer]) -> Iterator[list[KalendServer]]:
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def processes(tmp_path, database_url) -> Iterator[list[KalendServer]]:
    with running(two_processes(tmp_path, database_url)) as servers:
        yield servers


@pytest.fixture
def pg_processes(tmp_path, postgres_url) -> Iterator[list[KalendServer]]:
    reset_database(postgres_url)
    with running(two_processes(tmp_path, postgres_url)) as servers:
        yield servers


def make_calendar(server: KalendServer, name: str) -> None:
    response = server.request("MKCALENDAR", f"/alice/{name}/", user="alice")
    assert response.status_code == 201, response.text


def race(calls) -> list[int]:
    """Start all calls at once (a barrier), return their status codes."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call().status_code

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_concurrent_puts_with_same_if_match_let_exactly_one_win(processes):
    first, _ = processes
    make_calendar(first, "race")
    created = first.request("PUT", "/alice/race/e.ics", user="alice",
                            body=event("e", "original"))
    etag = created.headers["ETag"]

    def put(i: int):
        server = processes[i % 2]
        return lambda: server.request("PUT", "/alice/race/e.ics", user="alice",
                                      body=event("e", f"writer {i}"),
                                      headers={"If-Match": etag})

    statuses = race([put(i) for i in range(RACERS)])

    assert sorted(statuses) == [204] + [412] * (RACERS - 1)
    stored = first.rows("SELECT text FROM item WHERE href = 'e.ics'")
    assert len(stored) == 1 and "SUMMARY:writer " in stored[0][0]
    # One creation plus exactly one successful update in the change log.
    assert first.rows("SELECT COUNT(*) FROM change WHERE href = 'e.ics'") == [(2,)]


def test_concurrent_creates_with_if_none_match_let_exactly_one_win(processes):
    first, _ = processes
    make_calendar(first, "create")

    def create(i: int):
        server = processes[i % 2]
        return lambda: server.request("PUT", "/alice/create/new.ics", user="alice",
                                      body=event("new", f"creator {i}"),
                                      headers={"If-None-Match": "*"})

    statuses = race([create(i) for i in range(RACERS)])

    assert sorted(statuses) == [201] + [412] * (RACERS - 1)
    assert first.rows("SELECT COUNT(*) FROM item WHERE href = 'new.ics'") == [(1,)]


def test_two_processes_agree_on_etags_ctags_and_sync_tokens(processes):
    first, second = processes
    make_calendar(first, "shared")
    propfind = textwrap.dedent("""\
        <?xml version="1.0" encoding="utf-8"?>
        <d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">
          <d:prop><d:getetag/><cs:getctag/><d:sync-token/></d:prop>
        </d:propfind>""")
    for i in range(3):
        writer, reader = (first, second) if i % 2 == 0 else (second, first)
        put = writer.request("PUT", f"/alice/shared/{i}.ics", user="alice",
                             body=event(f"u{i}", f"event {i}"))
        assert put.status_code == 201
        got = reader.request("GET", f"/alice/shared/{i}.ics", user="alice")
        assert got.status_code == 200 and got.headers["ETag"] == put.headers["ETag"]
        answers = [s.request("PROPFIND", "/alice/shared/", user="alice", body=propfind,
                             headers={"Depth": "0"}).text for s in processes]
        assert answers[0] == answers[1]
        assert "urn:kalend:sync:" in answers[0]


def hold_collection_lock(url: str, scope: str):
    """Take the advisory lock a kalend writer of ``scope`` needs, in a
    transaction of the test's own: a stand-in for a writer mid-request."""
    engine = create_engine(url, poolclass=NullPool)
    connection = engine.connect()
    transaction = connection.begin()
    connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_key(scope)})
    return engine, connection, transaction


def test_writes_to_different_collections_proceed_in_parallel(pg_processes, postgres_url):
    first, second = pg_processes
    make_calendar(first, "one")
    make_calendar(first, "two")
    engine, connection, transaction = hold_collection_lock(postgres_url, "alice/one")
    finished: dict[str, float] = {}

    def put(server, calendar):
        response = server.request("PUT", f"/alice/{calendar}/x.ics", user="alice",
                                  body=event(f"x-{calendar}", calendar))
        finished[calendar] = time.monotonic()
        return response

    with ThreadPoolExecutor(2) as pool:
        blocked = pool.submit(put, first, "one")
        free = pool.submit(put, second, "two")
        # The write to "two" completes while the writer of "one" is still
        # inside its transaction: the two overlap.
        assert free.result(timeout=60).status_code == 201
        assert not blocked.done()
        waiting = first.rows(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query ILIKE '%pg_advisory_xact_lock%'")
        assert waiting[0][0] >= 1
        released = time.monotonic()
        transaction.rollback()
        connection.close()
        engine.dispose()
        assert blocked.result(timeout=60).status_code == 201
    assert finished["two"] < released <= finished["one"]
    assert sorted(first.rows("SELECT href FROM item")) == [("x.ics",), ("x.ics",)]


def test_process_killed_mid_write_leaves_no_partial_rows(pg_processes, postgres_url):
    victim, survivor = pg_processes
    make_calendar(victim, "crash")
    before = victim.rows("SELECT sync_seq FROM collection WHERE path = 'alice/crash'")
    occurrences_before = victim.count("occurrence")
    # Hold the collection row: kalend inserts the item row and its occurrence
    # rows, then blocks when
    # it advances the collection's sync sequence (record_change) — in the
    # middle of its transaction.
    engine = create_engine(postgres_url, poolclass=NullPool)
    with engine.connect() as blocker:
        held = blocker.begin()
        blocker.execute(text("SELECT id FROM collection WHERE path = 'alice/crash' FOR NO KEY UPDATE"))
        thread = threading.Thread(target=lambda: _ignore_errors(
            lambda: victim.request("PUT", "/alice/crash/half.ics", user="alice",
                                   body=event("half", "half-written"))))
        thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            blocked = victim.rows(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query ILIKE 'UPDATE collection%'")
            if blocked[0][0]:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the kalend write never reached the collection update")
        assert victim._process is not None
        os.kill(victim._process.pid, signal.SIGKILL)
        victim._process.wait(30)
        held.rollback()
    engine.dispose()
    thread.join(60)

    assert survivor.rows("SELECT COUNT(*) FROM item WHERE href = 'half.ics'") == [(0,)]
    assert survivor.rows("SELECT COUNT(*) FROM change WHERE href = 'half.ics'") == [(0,)]
    assert survivor.rows("SELECT sync_seq FROM collection WHERE path = 'alice/crash'") == before
    assert survivor.count("occurrence") == occurrences_before
    assert survivor.request("GET", "/alice/crash/half.ics", user="alice").status_code == 404


def _ignore_errors(call) -> None:
    try:
        call()
    except requests.RequestException:
        pass  # the server was killed under this request: that is the point

