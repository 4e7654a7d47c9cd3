"""Alembic environment: kalend always hands over an open connection.

There is no alembic.ini: ``kalend db upgrade`` builds the Alembic
configuration in code (``kalend.storage_plugin.migrate``) so that the
migrations ship inside the installed package.
"""

from alembic import context

from kalend.storage_plugin.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
