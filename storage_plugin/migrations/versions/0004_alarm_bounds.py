"""Alarm bounds on items, for VALARM time-range queries (RFC 4791 §9.9).

Revision ID: 0004_alarm_bounds
Revises: 0003_scheduling
Create Date: 2026-11-21

Items stored before this revision get their bounds here, so an alarm query
never misses an old object.
"""
import sqlalchemy as sa
from alembic import op

from kalend.storage_plugin.alarm_bounds import alarm_bounds

revision = "0004_alarm_bounds"
down_revision = "0003_scheduling"
branch_labels = None
depends_on = None

_COLUMNS = ("alarm_lead", "alarm_lag", "alarm_first", "alarm_last")


def upgrade() -> None:
    with op.batch_alter_table("item") as batch:
        for name in _COLUMNS:
            batch.add_column(sa.Column(name, sa.BigInteger, nullable=True))
    item = sa.table("item", sa.column("id", sa.Integer), sa.column("text", sa.Text),
                    *(sa.column(name, sa.BigInteger) for name in _COLUMNS))
    connection = op.get_bind()
    rows = connection.execute(sa.select(item.c.id, item.c.text)
                              .where(item.c.text.like("%VALARM%"))).all()
    for item_id, text in rows:
        connection.execute(sa.update(item).where(item.c.id == item_id)
                           .values(**alarm_bounds(text).item_columns()))


def downgrade() -> None:
    with op.batch_alter_table("item") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
