"""iMIP: outbox leases and reply tokens (RFC 6047).

Revision ID: 0005_imip
Revises: 0004_alarm_bounds
Create Date: 2026-11-21

Workers claim outbox rows with a lease (``claimed_until``) instead of
holding a database transaction open while an SMTP server answers; the
``imip_token`` table ties the token of a reply address to one event and one
attendee.
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_imip"
down_revision = "0004_alarm_bounds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_until", sa.Float, nullable=True))
        batch.add_column(sa.Column("message_id", sa.String(255), nullable=True))
        batch.add_column(sa.Column("sent", sa.Float, nullable=True))
    op.create_table(
        "imip_token",
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("uid", sa.String(1024), nullable=False),
        sa.Column("attendee", sa.String(1024), nullable=False),
        sa.Column("organizer", sa.String(1024), nullable=False),
        sa.Column("principal", sa.String(255), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_index("ix_imip_token_event", "imip_token", ["principal", "uid", "attendee"])


def downgrade() -> None:
    op.drop_index("ix_imip_token_event", table_name="imip_token")
    op.drop_table("imip_token")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("sent")
        batch.drop_column("message_id")
        batch.drop_column("claimed_until")
