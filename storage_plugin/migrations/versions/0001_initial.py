"""Initial schema: collections, items, the sync change log, calendar users.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-21
"""
import time

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    collection = op.create_table(
        "collection",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", sa.String(1024), nullable=False, unique=True),
        sa.Column("parent_path", sa.String(1024), nullable=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("tag", sa.String(32), nullable=False),
        sa.Column("props", sa.Text, nullable=False),
        sa.Column("sync_seq", sa.BigInteger, nullable=False),
        sa.Column("sync_floor", sa.BigInteger, nullable=False),
        sa.Column("modified", sa.Float, nullable=False),
        # Sync tokens name the collection id: SQLite must never hand the id
        # of a deleted calendar to its re-created namesake, or an old token
        # would be accepted and an incremental sync would miss changes.
        sqlite_autoincrement=True,
    )
    op.create_index("ix_collection_parent_path", "collection", ["parent_path"])
    op.create_table(
        "item",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("collection_id", sa.Integer,
                  sa.ForeignKey("collection.id", ondelete="CASCADE"), nullable=False),
        sa.Column("href", sa.String(1024), nullable=False),
        sa.Column("uid", sa.String(1024), nullable=False),
        sa.Column("etag", sa.String(80), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("component", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("start", sa.BigInteger, nullable=False),
        sa.Column("end", sa.BigInteger, nullable=False),
        sa.Column("schedule_tag", sa.String(80), nullable=True),
        sa.Column("organizer", sa.String(1024), nullable=True),
        sa.Column("modified", sa.Float, nullable=False),
        sa.UniqueConstraint("collection_id", "href", name="uq_item_collection_href"),
    )
    op.create_index("ix_item_collection_uid", "item", ["collection_id", "uid"])
    op.create_index("ix_item_collection_range", "item", ["collection_id", "start", "end"])
    op.create_table(
        "change",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("collection_id", sa.Integer,
                  sa.ForeignKey("collection.id", ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("href", sa.String(1024), nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_index("ix_change_collection_seq", "change", ["collection_id", "seq"])
    op.create_table(
        "calendar_user",
        sa.Column("address", sa.String(1024), primary_key=True),
        sa.Column("principal", sa.String(255), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("ix_calendar_user_principal", "calendar_user", ["principal"])
    # Radicale requires the root collection "/" to exist at all times.
    op.bulk_insert(collection, [{
        "path": "", "parent_path": None, "owner": "", "tag": "", "props": "{}",
        "sync_seq": 0, "sync_floor": 0, "modified": time.time()}])


def downgrade() -> None:
    op.drop_table("calendar_user")
    op.drop_table("change")
    op.drop_table("item")
    op.drop_table("collection")
