"""receipts: delivery receipts of send jobs (e-mailed or kept in the submitter's inbox).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "receipts",
        sa.Column("receipt_id", ID, sa.Identity(), primary_key=True),
        sa.Column("receipt_key", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("job_id", sa.BigInteger, nullable=False),
        sa.Column("broadcast_id", sa.Text, nullable=False),
        sa.Column("user_name", sa.Text, nullable=False),
        sa.Column("delivery", sa.Text, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("sent_at", sa.BigInteger, nullable=True),
        sa.Column("tries", sa.Integer, nullable=False),
        sa.Column("next_try_at", sa.BigInteger, nullable=True),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("facts", sa.Text, nullable=False),
        sa.UniqueConstraint("receipt_key", name="uq_receipts_key"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_receipts_user", "receipts", ["user_name", "receipt_id"])
    op.create_index("ix_receipts_state", "receipts", ["state", "next_try_at"])
    op.create_index("ix_receipts_job", "receipts", ["job_id"])


def downgrade() -> None:
    op.drop_table("receipts")
