"""Schema versions: applying Alembic migrations and refusing stale schemas.

An empty database is initialised on first start (that is what "created on
first start" means for the embedded default, and it is safe for an empty
PostgreSQL database too). A database at an older revision is never upgraded
behind the operator's back: ``kalend serve`` stops and names the command.
"""

from __future__ import annotations

import os

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, func, inspect, select

from kalend.storage_plugin.engine import check_reachable, is_sqlite, masked_url

MIGRATIONS_FOLDER = os.path.join(os.path.dirname(__file__), "migrations")

#: An arbitrary constant: the PostgreSQL advisory lock held while migrating,
#: so that several processes starting at once do not race each other.
_MIGRATION_LOCK_KEY = 0x6B616C656E64  # "kalend"


class SchemaOutOfDateError(RuntimeError):
    """The database holds an older (or unknown) schema revision."""


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS_FOLDER)
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    script = ScriptDirectory(MIGRATIONS_FOLDER)
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    check_reachable(engine)
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _is_empty(connection: Connection) -> bool:
    # A database downgraded to "base" keeps Alembic's (empty) version table.
    return not set(inspect(connection).get_table_names()) - {"alembic_version"}


def _migrate(engine: Engine, step, revision: str) -> tuple[str | None, str | None]:
    """Run an Alembic command under the migration lock; (before, after)."""
    check_reachable(engine)
    with engine.begin() as connection:
        if not is_sqlite(engine):
            connection.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))
        before = MigrationContext.configure(connection).get_current_revision()
        step(_config(connection), revision)
        after = MigrationContext.configure(connection).get_current_revision()
    return before, after


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Apply migrations up to ``revision``; returns (before, after)."""
    before, after = _migrate(engine, command.upgrade, revision)
    return before, after or ""


def ensure_current(engine: Engine) -> None:
    """Initialise an empty database; refuse one whose schema is behind."""
    check_reachable(engine)
    head = head_revision()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        empty = current is None and _is_empty(connection)
    if current == head:
        return
    if empty:
        upgrade(engine)
        return
    where = masked_url(engine.url.render_as_string(hide_password=False))
    if current is None:
        raise SchemaOutOfDateError(
            f"database {where} has tables but no kalend schema version; "
            "point [storage] url at an empty database or a kalend database")
    raise SchemaOutOfDateError(
        f"database {where} is at schema revision {current}, this kalend needs "
        f"{head}: run `kalend db upgrade` (with the same --config) and start again")


def downgrade(engine: Engine, revision: str) -> tuple[str | None, str | None]:
    """Revert migrations down to ``revision`` ("base" removes every table);
    returns (before, after). For operators and tests, not called by kalend."""
    return _migrate(engine, command.downgrade, revision)
