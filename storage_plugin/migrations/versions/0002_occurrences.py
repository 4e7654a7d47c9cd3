"""The occurrence index: one row per materialised instance.

Revision ID: 0002_occurrences
Revises: 0001_initial
Create Date: 2026-11-21

Items written before this revision get no rows here; they are marked
unindexed (window from TIME_MAX to TIME_MIN), so queries keep finding them by
expanding them on the fly, and ``kalend maintain`` indexes them in batches.
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_occurrences"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

TIME_MIN = -62135596800
TIME_MAX = 253402300799


def upgrade() -> None:
    with op.batch_alter_table("item") as batch:
        batch.add_column(sa.Column("occ_from", sa.BigInteger, nullable=False,
                                   server_default=str(TIME_MAX)))
        batch.add_column(sa.Column("occ_until", sa.BigInteger, nullable=False,
                                   server_default=str(TIME_MIN)))
        batch.add_column(sa.Column("open_ended", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
    op.create_index("ix_item_collection_occ_from", "item", ["collection_id", "occ_from"])
    op.create_index("ix_item_collection_occ_until", "item", ["collection_id", "occ_until"])
    op.create_table(
        "occurrence",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("item.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("collection_id", sa.Integer,
                  sa.ForeignKey("collection.id", ondelete="CASCADE"), nullable=False),
        sa.Column("component", sa.String(16), nullable=False),
        sa.Column("start", sa.BigInteger, nullable=False),
        sa.Column("end", sa.BigInteger, nullable=False),
        sa.Column("floating", sa.Boolean, nullable=False),
        sa.Column("long_span", sa.Boolean, nullable=False),
        sa.Column("recurrence_id", sa.String(32), nullable=True),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("transp", sa.String(32), nullable=True),
        sa.Column("fbtype", sa.String(32), nullable=False),
    )
    op.create_index("ix_occurrence_item", "occurrence", ["item_id"])
    op.create_index("ix_occurrence_range", "occurrence",
                    ["collection_id", "component", "floating", "start"])
    op.create_index("ix_occurrence_long_range", "occurrence",
                    ["collection_id", "component", "floating", "end"],
                    postgresql_where=sa.text("long_span"),
                    sqlite_where=sa.text("long_span = 1"))


def downgrade() -> None:
    op.drop_table("occurrence")
    op.drop_index("ix_item_collection_occ_until", "item")
    op.drop_index("ix_item_collection_occ_from", "item")
    with op.batch_alter_table("item") as batch:
        batch.drop_column("open_ended")
        batch.drop_column("occ_until")
        batch.drop_column("occ_from")
