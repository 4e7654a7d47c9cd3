"""A deadline per request, and the failures that say "try again later".

A request that works longer than ``[limits] request_deadline`` fails alone:
the work that holds a write transaction checks the deadline between its
steps (each delivery of an invitation, each object of an upload, each
expanded instance), raises ``DeadlineExceeded``, the transaction rolls
back, and the client is answered 503 with Retry-After. The waiting side is
bounded by the database: a writer waits at most ``[limits] lock_wait`` for
another's lock (PostgreSQL ``lock_timeout``, the SQLite busy timeout), and
no PostgreSQL statement runs longer than the deadline (``statement_timeout``).

Parsing a body is not interrupted: it is bounded by the size limits checked
before it (``max_resource_size``, ``[limits] max_property_length`` and the
others), and it happens before the write lock is taken.

``unavailable`` tells the failures after which the same request can
succeed later (a database that cannot be reached, a lock or a deadline
that ran out) from the ones that will fail again: the former are answered
503, not 500.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from kalend.storage_plugin.engine import DatabaseUnavailableError

_deadline: ContextVar[float | None] = ContextVar("kalend_request_deadline", default=None)


class DeadlineExceeded(Exception):
    """The request worked past ``[limits] request_deadline``."""


@contextmanager
def request_deadline(seconds: float | None) -> Iterator[None]:
    """Give the work in this context ``seconds`` from now (None: no deadline)."""
    token = _deadline.set(None if seconds is None else time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left before the deadline (negative once passed), or None."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def check(doing: str = "") -> None:
    """Raise ``DeadlineExceeded`` once the deadline has passed."""
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() > deadline:
        raise DeadlineExceeded("the request ran past [limits] request_deadline"
                               + (f" while {doing}" if doing else ""))


#: SQLSTATEs PostgreSQL answers when a statement or a lock wait was cut short
#: (57014 query_canceled: statement_timeout; 55P03 lock_not_available:
#: lock_timeout), when it is shutting down or cannot take connections
#: (57P01-57P03, 53300 too_many_connections), and on a serialisation failure
#: (40001) or deadlock (40P01), after which the same request may succeed.
_RETRYABLE_SQLSTATES = frozenset({"57014", "55P03", "57P01", "57P02", "57P03", "53300",
                                  "40001", "40P01", "08000", "08001", "08003", "08004",
                                  "08006"})

#: SQLite's result codes for a lock that was not released within the busy
#: timeout (SQLITE_BUSY, SQLITE_LOCKED), and for a file it cannot open or
#: read or write now (SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN).
_SQLITE_BUSY = frozenset({5, 6})
_SQLITE_UNAVAILABLE = frozenset({10, 13, 14})


def unavailable(error: BaseException) -> str | None:
    """Why the request may succeed if tried again later, or None."""
    if isinstance(error, DeadlineExceeded):
        return "deadline"
    if isinstance(error, (DatabaseUnavailableError, DisconnectionError, PoolTimeoutError)):
        return "database unavailable"
    if not isinstance(error, DBAPIError):
        return None
    if error.connection_invalidated or isinstance(error, InterfaceError):
        return "database unavailable"
    sqlite_code = getattr(error.orig, "sqlite_errorcode", None)
    if sqlite_code is not None:
        primary = sqlite_code & 0xFF
        if primary in _SQLITE_BUSY:
            return "database busy"
        return "database unavailable" if primary in _SQLITE_UNAVAILABLE else None
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate in ("57014", "55P03", "40001", "40P01"):
        return "database busy"
    if sqlstate in _RETRYABLE_SQLSTATES or (sqlstate or "").startswith("08"):
        return "database unavailable"
    if sqlstate is None and isinstance(error, OperationalError):
        # psycopg names no SQLSTATE when the connection itself failed
        # (refused, reset, the server went away).
        return "database unavailable"
    return None
