"""Scheduling: the iMIP outbox and calendar-user groups (RFC 6638).

Revision ID: 0003_scheduling
Revises: 0002_occurrences
Create Date: 2026-11-21

``outbox`` is the transactional outbox of DESIGN.md: an iTIP message for a
recipient outside this server is written in the same transaction as the
calendar change that caused it, and the iMIP worker sends it later.
``group_member`` lists the principals behind a group address, so that an
ATTENDEE with CUTYPE=GROUP is delivered to each member.
"""
import sqlalchemy as sa
from alembic import op

revision = "0003_scheduling"
down_revision = "0002_occurrences"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("sender", sa.String(1024), nullable=False),
        sa.Column("recipient", sa.String(1024), nullable=False),
        sa.Column("uid", sa.String(1024), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("principal", sa.String(255), nullable=False),
        sa.Column("collection_path", sa.String(1024), nullable=True),
        sa.Column("href", sa.String(1024), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt", sa.Float, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index("ix_outbox_status_next", "outbox", ["status", "next_attempt"])
    op.create_table(
        "group_member",
        sa.Column("address", sa.String(1024), primary_key=True),
        sa.Column("member", sa.String(255), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("group_member")
    op.drop_index("ix_outbox_status_next", table_name="outbox")
    op.drop_table("outbox")
