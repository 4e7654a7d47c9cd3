"""Hot statements, compiled once per dialect and sent as driver SQL.

Why: ``Connection.execute`` walks a statement's whole tree on every call to
find its compiled form in SQLAlchemy's cache. For the week view's listing (a
union of range scans inside an array) that walk, and the typed result rows
after it, cost about a tenth of the request. A statement is only taken here
when none of its parameters needs SQLAlchemy's conversion (checked once,
when it is compiled); otherwise it goes through ``execute`` as before. Its
results are the driver's values: SQLite's booleans come back as 0 and 1.

The SQL text stays the same from call to call, so psycopg still prepares it
after a few calls (PostgreSQL then skips parsing it; it plans it anew each
time, see ``engine``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, RowMapping
from sqlalchemy.sql import ClauseElement


@dataclass(frozen=True)
class _Compiled:
    sql: str
    #: Parameter names in order, for drivers with positional parameters.
    positions: tuple[str, ...] | None
    #: Values the statement carries itself (a component name written into it).
    literals: dict[str, Any]


#: (statement id, dialect name) -> the statement, kept so that its id is
#: never reused, and its compiled form, or None when the statement needs
#: SQLAlchemy's parameter conversion. Filled without a lock: two threads
#: compiling the same statement store equal entries.
_COMPILED: dict[tuple[int, str], tuple[ClauseElement, _Compiled | None]] = {}


def mappings(connection: Connection, statement: ClauseElement,
             parameters: Mapping[str, Any]) -> Sequence[RowMapping]:
    """All result rows of ``statement`` as mappings, by column name."""
    compiled = _compiled(connection, statement)
    if compiled is None:
        return connection.execute(statement, parameters).mappings().all()
    values = {**compiled.literals, **parameters}
    driver_parameters: Any = values if compiled.positions is None else tuple(
        values[name] for name in compiled.positions)
    return connection.exec_driver_sql(compiled.sql, driver_parameters).mappings().all()


def _compiled(connection: Connection, statement: ClauseElement) -> _Compiled | None:
    key = (id(statement), connection.dialect.name)
    try:
        return _COMPILED[key][1]
    except KeyError:
        pass
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect)
    binds = compiled.binds.values()
    entry = None
    if all(bind.type.bind_processor(dialect) is None and not bind.expanding
           for bind in binds):
        entry = _Compiled(
            compiled.string,
            tuple(compiled.positiontup) if compiled.positiontup else None,
            {name: value for name, value in compiled.params.items() if value is not None})
    _COMPILED[key] = (statement, entry)
    return entry
