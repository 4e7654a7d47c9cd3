"""One database transaction per request, in place of Radicale's storage lock.

Radicale wraps every request's storage access in ``acquire_lock("r"|"w")``.
kalend turns that call into a database transaction:

* reads run in a snapshot (REPEATABLE READ on PostgreSQL, a deferred
  transaction on SQLite), so a REPORT sees one consistent state;
* writes on PostgreSQL take transaction-scoped advisory locks on the
  collections they touch, so writes to one collection are serialised (the
  If-Match check and the write happen under the same lock) while writes to
  different collections run in parallel, in any number of processes;
* writes on SQLite use ``BEGIN IMMEDIATE``: SQLite has one writer at a time,
  and taking the write lock up front turns a would-be deadlock into a wait.

The connection of the current transaction lives in a context variable; the
storage plugin's collections fetch it from there, so Radicale's code needs no
change to pass it along.

Within one HTTP request (``request_scope``), consecutive read transactions
are one: Radicale takes a read lock to check the user's principal, then
another for the request itself, and committing and beginning again between
them cost two database round trips, a checkout of the pool and, on a week
view, about a twentieth of the answer. The kept read transaction ends when a
write begins or the request ends.

The same reads also look up the same collections: the user's principal for
Radicale's check, then the collection the request is about. Within one
snapshot a collection's row cannot change, so the request's read
transactions share a memo of collection rows (``snapshot_memo``), and the first
lookup fetches the paths the request names (``request_scope(paths)``)
along with its own: one statement instead of two. The memo is emptied
whenever the snapshot ends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import Connection, Engine, func, select

from kalend.storage_plugin import deadline
from kalend.storage_plugin.engine import is_sqlite

_current: ContextVar[_Active | None] = ContextVar("kalend_transaction", default=None)
_request: ContextVar[_RequestScope | None] = ContextVar("kalend_request_scope", default=None)


class NoTransactionError(RuntimeError):
    """Storage was used outside ``acquire_lock``: a programming error."""


class _Active:
    __slots__ = ("connection", "mode", "scope")

    def __init__(self, connection: Connection, mode: str,
                 scope: _RequestScope | None = None) -> None:
        self.connection = connection
        self.mode = mode
        #: The request scope whose snapshot this read runs in, if any.
        self.scope = scope


class _Kept:
    """A read transaction left open for the request's next read."""

    __slots__ = ("connection", "engine", "root")

    def __init__(self, engine: Engine, connection: Connection, root) -> None:
        self.engine = engine
        self.connection = connection
        self.root = root

    def end(self, commit: bool) -> None:
        try:
            if commit:
                self.root.commit()
            else:
                self.root.rollback()
        finally:
            self.connection.close()


class _RequestScope:
    __slots__ = ("failure", "kept", "memo", "paths")

    def __init__(self, paths: tuple[str, ...]) -> None:
        self.kept: _Kept | None = None
        self.memo: dict = {}
        self.paths = paths
        #: Why a transaction of the request failed in a way that may pass
        #: (``deadline.unavailable``): Radicale answers such a failure 500,
        #: the server turns it into 503 with Retry-After.
        self.failure: str | None = None

    def forget(self) -> None:
        """The snapshot ended: what was looked up in it may have changed."""
        self.memo = {}

    def release(self) -> None:
        kept, self.kept = self.kept, None
        self.forget()
        if kept is not None:
            kept.end(commit=True)


@contextmanager
def request_scope(paths: Iterable[str] = ()) -> Iterator[None]:
    """Let the read transactions of one request share one database
    transaction (see the module docstring); it ends with the scope.
    ``paths``: the collection paths the request names, fetched together
    with its first collection lookup."""
    scope = _RequestScope(tuple(paths))
    token = _request.set(scope)
    try:
        yield
    finally:
        _request.reset(token)
        scope.release()


def request_failure() -> str | None:
    """Why a transaction of the current request failed, if it may pass."""
    scope = _request.get()
    return None if scope is None else scope.failure


def _note_failure(error: BaseException) -> None:
    scope = _request.get()
    if scope is not None and scope.failure is None:
        scope.failure = deadline.unavailable(error)


def lock_scope(path: str) -> str:
    """The unit of write serialisation for a sanitized path.

    A collection is the unit: ``alice/work/meeting.ics`` and ``alice/work``
    share the scope ``alice/work``. Radicale's collections sit two levels deep
    (principal/collection), so the first two segments name the collection of
    any item or collection path.
    """
    segments = [s for s in path.strip("/").split("/") if s]
    return "/".join(segments[:2])


def advisory_key(scope: str) -> int:
    """A signed 64-bit key for ``pg_advisory_xact_lock``."""
    digest = hashlib.blake2b(scope.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def current_connection() -> Connection:
    active = _current.get()
    if active is None:
        raise NoTransactionError(
            "kalend storage used outside a transaction (acquire_lock)")
    return active.connection


def in_transaction() -> bool:
    return _current.get() is not None


def snapshot_memo() -> tuple[dict, tuple[str, ...]] | None:
    """The memo of collection rows by path shared by the request's read
    snapshot, with the
    paths the request names; None outside a request's read transaction
    (a write must always see the rows as they are now)."""
    active = _current.get()
    if active is None or active.scope is None:
        return None
    return active.scope.memo, active.scope.paths


@contextmanager
def transaction(engine: Engine, mode: str,
                scopes: Iterable[str] = ()) -> Iterator[Connection]:
    """Run the body in one transaction; commit on success, roll back on error.

    A nested call joins the outer transaction (Radicale never nests, but
    kalend's own code may call storage helpers that open one). A failure
    that may pass (an unreachable database, a lock wait or deadline that ran
    out) is noted for the request (``request_failure``).
    """
    try:
        yield from _transaction(engine, mode, scopes)
    except BaseException as error:
        _note_failure(error)
        raise


def _transaction(engine: Engine, mode: str, scopes: Iterable[str]) -> Iterator[Connection]:
    if mode not in ("r", "w"):
        raise ValueError(f"lock mode must be 'r' or 'w', not {mode!r}")
    active = _current.get()
    if active is not None:
        if mode == "w" and active.mode == "r":
            raise NoTransactionError("write requested inside a read-only transaction")
        yield active.connection
        return
    scope = _request.get()
    if scope is not None:
        if mode == "r" and scope.kept is not None and scope.kept.engine is engine:
            yield from _reuse(scope)
            return
        scope.release()     # a write, or another database: start afresh
    sqlite = is_sqlite(engine)
    connection = engine.connect()
    if sqlite:
        connection = connection.execution_options(
            sqlite_begin="IMMEDIATE" if mode == "w" else "DEFERRED")
    else:
        connection = connection.execution_options(
            isolation_level="READ COMMITTED" if mode == "w" else "REPEATABLE READ")
    if mode == "r" and scope is not None:
        token = _current.set(_Active(connection, mode, scope))
        root = connection.begin()
        kept = False
        try:
            yield connection
            kept = True
        finally:
            _current.reset(token)
            if kept:
                scope.kept = _Kept(engine, connection, root)
            else:
                scope.forget()
                try:
                    root.rollback()
                finally:
                    connection.close()
        return
    token = _current.set(_Active(connection, mode))
    try:
        deadline.check("waiting to write")
        with connection.begin():
            if mode == "w" and not sqlite:
                for key in sorted({advisory_key(s) for s in scopes}):
                    connection.execute(select(func.pg_advisory_xact_lock(key)))
            yield connection
    finally:
        _current.reset(token)
        connection.close()


def _reuse(scope: _RequestScope) -> Iterator[Connection]:
    """Run a read in the request's kept read transaction; an error ends it
    (PostgreSQL refuses further statements in a failed transaction)."""
    kept = scope.kept
    assert kept is not None
    token = _current.set(_Active(kept.connection, "r", scope))
    try:
        yield kept.connection
    except BaseException:
        scope.kept = None
        scope.forget()
        kept.end(commit=False)
        raise
    finally:
        _current.reset(token)
