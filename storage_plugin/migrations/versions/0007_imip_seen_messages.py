"""iMIP: the Message-IDs of inbound messages already applied.

Revision ID: 0007_imip_seen_messages
Revises: 0006_covering_range_index
Create Date: 2026-11-23

An MTA delivers a message again when it did not get kalend's answer (a pipe
killed after the commit, an LMTP connection lost), and anyone may replay a
message they saw. ``imip_seen_message`` remembers, for each message applied,
a digest of its Message-ID and recipients; the maintenance job forgets rows
older than ``[imip] message_id_retention_days``.
"""
import sqlalchemy as sa
from alembic import op

revision = "0007_imip_seen_messages"
down_revision = "0006_covering_range_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imip_seen_message",
        sa.Column("message_key", sa.String(64), primary_key=True),
        sa.Column("received", sa.Float, nullable=False),
    )
    op.create_index("ix_imip_seen_message_received", "imip_seen_message", ["received"])


def downgrade() -> None:
    op.drop_index("ix_imip_seen_message_received", table_name="imip_seen_message")
    op.drop_table("imip_seen_message")
