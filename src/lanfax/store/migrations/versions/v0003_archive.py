"""archive and activity: archived faxes (incoming and outgoing) and one row per call.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "archive",
        sa.Column("archive_id", ID, sa.Identity(), primary_key=True),
        sa.Column("direction", sa.Text, nullable=False),
        sa.Column("job_id", sa.BigInteger, nullable=False),
        sa.Column("completed_at", sa.BigInteger, nullable=False),
        sa.Column("archived_at", sa.BigInteger, nullable=False),
        sa.Column("submitted_at", sa.BigInteger, nullable=True),
        sa.Column("user_name", sa.Text, nullable=False),
        sa.Column("number", sa.Text, nullable=False),
        sa.Column("recipient_name", sa.Text, nullable=False),
        sa.Column("sender_name", sa.Text, nullable=False),
        sa.Column("remote_ident", sa.Text, nullable=False),
        sa.Column("local_ident", sa.Text, nullable=False),
        sa.Column("caller_id", sa.Text, nullable=False),
        sa.Column("device_id", sa.BigInteger, nullable=False),
        sa.Column("pages", sa.Integer, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("status_text", sa.Text, nullable=False),
        sa.Column("bit_rate", sa.Integer, nullable=False),
        sa.Column("ecm", sa.Boolean, nullable=False),
        sa.Column("document_name", sa.Text, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.UniqueConstraint("direction", "job_id", name="uq_archive_direction_job"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_archive_time", "archive", ["direction", "completed_at", "archive_id"])
    op.create_index("ix_archive_number", "archive", ["direction", "number", "completed_at"])
    op.create_index("ix_archive_ident", "archive", ["direction", "remote_ident", "completed_at"])
    op.create_index("ix_archive_user", "archive", ["direction", "user_name", "completed_at"])
    op.create_table(
        "activity",
        sa.Column("activity_id", ID, sa.Identity(), primary_key=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("direction", sa.Text, nullable=False),
        sa.Column("job_id", sa.BigInteger, nullable=False),
        sa.Column("device_id", sa.BigInteger, nullable=False),
        sa.Column("number", sa.Text, nullable=False),
        sa.Column("remote_ident", sa.Text, nullable=False),
        sa.Column("caller_id", sa.Text, nullable=False),
        sa.Column("user_name", sa.Text, nullable=False),
        sa.Column("pages", sa.Integer, nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("status_text", sa.Text, nullable=False),
        sa.Column("bit_rate", sa.Integer, nullable=False),
        sa.Column("ecm", sa.Boolean, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_activity_at", "activity", ["at"])


def downgrade() -> None:
    op.drop_table("activity")
    op.drop_table("archive")
