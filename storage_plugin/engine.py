"""Creating the SQLAlchemy engine for SQLite or PostgreSQL.

One code path serves both databases; what differs is confined here (connection
pragmas) and in ``transaction`` (how writers are serialised).
"""

from __future__ import annotations

import os
import select
import time
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, OperationalError
from sqlalchemy.pool import NullPool

#: A pooled PostgreSQL connection idle for longer than this is pinged before
#: it is handed out, whatever its socket says (see ``_ping_after_idle``).
PING_AFTER_IDLE_SECONDS = 30.0


class DatabaseUnavailableError(RuntimeError):
    """The configured database cannot be reached or opened."""


def masked_url(url: str) -> str:
    """The URL as it may appear in logs and error messages (no password)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable URL>"


def sqlite_url_for_folder(folder: str) -> str:
    """The default embedded database inside the data folder."""
    return "sqlite:///" + os.path.join(os.path.abspath(folder), "kalend.sqlite3")


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


#: How long a writer waits for another's lock when the caller says nothing.
DEFAULT_LOCK_WAIT_SECONDS = 30.0


def _sqlite_configurer(lock_wait: float):
    def configure(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets readers proceed while one writer commits; the busy timeout
        # makes a second writer wait for the first instead of failing at once
        # ([limits] lock_wait; past it the request is answered 503).
        # isolation_level=None hands transaction control to our explicit BEGIN
        # statements (pysqlite's implicit BEGIN would defeat BEGIN IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(lock_wait * 1000)}")
        cursor.close()

    return configure


def _begin_sqlite(connection: Any) -> None:
    # Emitted by SQLAlchemy when a transaction starts. IMMEDIATE unless the
    # caller asked for a read (``transaction`` does, through an execution
    # option): a deferred transaction that reads and then writes fails at
    # once with "database is locked" when another writer is active, because
    # SQLite cannot upgrade its lock without risking a deadlock.
    mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
    connection.exec_driver_sql("BEGIN " + mode)


def _mark_idle(_dbapi_connection: Any, record: Any) -> None:
    record.info["kalend_idle_since"] = time.monotonic()


def _ping_after_idle(engine: Engine):
    """A checkout hook that pings a connection only when it may be dead.

    Why not ``pool_pre_ping``: it pings on every checkout, a round trip per
    request, about a twentieth of a week view. An idle PostgreSQL connection
    receives nothing; when the server ends it (a restart, an administrator's
    terminate) its last message or the end of the stream is waiting on the
    socket, which a non-blocking poll sees without a round trip. So the
    connection is pinged when its socket has something to read, and after
    ``PING_AFTER_IDLE_SECONDS`` idle, for the connections a network drops
    silently; a dead one is replaced by the pool (``DisconnectionError``).
    """
    dialect = engine.dialect

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("kalend_idle_since")
        if idle_since is None:
            return  # just opened
        if time.monotonic() - idle_since <= PING_AFTER_IDLE_SECONDS and \
                not _has_input(dbapi_connection):
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"pooled connection is gone: {exc}") from exc
        if not alive:
            raise DisconnectionError("pooled connection is gone")

    return checkout


def _has_input(dbapi_connection: Any) -> bool:
    """Whether the server sent anything to this idle connection."""
    try:
        readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    except Exception:       # closed, or no usable socket: let the ping decide
        return True
    return bool(readable)


def make_engine(url: str, *, pool_size: int = 10,
                lock_wait: float = DEFAULT_LOCK_WAIT_SECONDS,
                statement_timeout: float | None = None) -> Engine:
    """An engine for ``url``, ready for concurrent request threads.

    ``lock_wait``: seconds a writer waits for another's lock (SQLite's busy
    timeout, PostgreSQL's lock_timeout, which covers the advisory locks of
    ``transaction``); ``statement_timeout``: the longest a PostgreSQL
    statement may run (None: no limit, for administration commands).

    Raises ``DatabaseUnavailableError`` naming the (masked) URL when the
    database is unreachable, so that start-up fails with a useful message
    rather than on the first request.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseUnavailableError(
            f"[storage] url = {url!r} is not a database URL ({exc}); "
            "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB") from exc
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            folder = os.path.dirname(os.path.abspath(database))
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as exc:
                raise DatabaseUnavailableError(
                    f"cannot use database {masked_url(url)}: its folder {folder!r} cannot "
                    f"be created ({exc.strerror or exc}); fix [storage] url or "
                    "data_folder") from exc
        # Pooled like PostgreSQL: opening a connection runs the PRAGMAs below,
        # which cost more than a small query. A connection is used by one
        # request thread at a time, so sharing it across threads is safe.
        if database == ":memory:" or not database:
            kwargs["poolclass"] = NullPool
        else:
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = pool_size
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": lock_wait}
    else:
        kwargs["pool_size"] = pool_size
        kwargs["max_overflow"] = pool_size
        # psycopg prepares a statement on the server after a few executions;
        # PostgreSQL then switches to a generic plan, blind to the range
        # parameters the occurrence queries turn on (measured: the expanded
        # week went from 55 ms to 135 ms after the fifth request). Planning
        # each execution with its values costs well under a millisecond.
        options = ["plan_cache_mode=force_custom_plan",
                   f"lock_timeout={int(lock_wait * 1000)}"]
        if statement_timeout is not None:
            options.append(f"statement_timeout={int(statement_timeout * 1000)}")
        kwargs["connect_args"] = {"options": " ".join(f"-c {o}" for o in options)}
    try:
        engine = create_engine(parsed, **kwargs)
    except Exception as exc:  # missing driver, bad option
        raise DatabaseUnavailableError(
            f"cannot use database {masked_url(url)}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_configurer(lock_wait))
        event.listen(engine, "begin", _begin_sqlite)
    else:
        event.listen(engine, "checkin", _mark_idle)
        event.listen(engine, "checkout", _ping_after_idle(engine))
    return engine


#: The tables a bulk import fills.
_BULK_LOADED_TABLES = ("item", "occurrence", "change")


def tidy_after_bulk_load(engine: Engine) -> None:
    """On PostgreSQL, VACUUM (ANALYZE) the tables a bulk import has filled.

    Why: autovacuum keeps the planner's statistics and the visibility map
    up to date, but only reaches a table some time after a load, and not at
    all where it is turned off. Until then the planner estimates ranges from
    a table it believes empty, and every index-only scan of the occurrence
    index must also read the table, which makes a week view several times
    slower. Plain VACUUM takes no lock that stops readers or writers.
    SQLite keeps no visibility map, and kalend's statements steer its
    planner themselves (see ``occurrence_index``), so nothing is done there.
    """
    if is_sqlite(engine):
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        tables = ", ".join(f'"{table}"' for table in _BULK_LOADED_TABLES)
        connection.exec_driver_sql(f"VACUUM (ANALYZE) {tables}")


def check_reachable(engine: Engine) -> None:
    """Open one connection, or raise ``DatabaseUnavailableError``."""
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except OperationalError as exc:
        reason = str(exc.orig).strip() if exc.orig is not None else str(exc)
        raise DatabaseUnavailableError(
            f"cannot connect to database {masked_url(str(engine.url.render_as_string(hide_password=False)))}: "
            f"{reason}") from exc
