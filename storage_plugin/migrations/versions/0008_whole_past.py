"""Occurrence index: a series' whole past is stored; mark the series that
have too many instances for it.

Revision ID: 0008_whole_past
Revises: 0007_imip_seen_messages
Create Date: 2026-12-08

Recurring objects used to be materialised from a year back only, so a
query further back expanded every series reaching it at every request
(issue 16). Now an object's past is stored from its first instance, unless
that passes ``[storage] max_instances_per_object``: such an object keeps
the window alone and ``occ_past_capped`` says so, so the maintenance job
does not try again at every run. Objects indexed before this revision are
brought to the new form by the maintenance job (``windows_to_extend``).
"""
import sqlalchemy as sa
from alembic import op

revision = "0008_whole_past"
down_revision = "0007_imip_seen_messages"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("item") as batch:
        batch.add_column(sa.Column("occ_past_capped", sa.Boolean, nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("item") as batch:
        batch.drop_column("occ_past_capped")
