"""ipp: jobs printed to the IPP FaxOut printer, and drafts (issue #11).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ipp_jobs",
        sa.Column("ipp_job_id", ID, sa.Identity(), primary_key=True),
        sa.Column("user_name", sa.Text, nullable=False),
        sa.Column("job_name", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("completed_at", sa.BigInteger, nullable=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("state_message", sa.Text, nullable=False),
        sa.Column("broadcast_id", sa.Text, nullable=False),
        sa.Column("draft_id", sa.BigInteger, nullable=True),
        sa.Column("attributes", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_ipp_jobs_user", "ipp_jobs", ["user_name", "ipp_job_id"])
    op.create_table(
        "drafts",
        sa.Column("draft_id", ID, sa.Identity(), primary_key=True),
        sa.Column("user_name", sa.Text, nullable=False),
        sa.Column("document_name", sa.Text, nullable=False),
        sa.Column("document_format", sa.Text, nullable=False),
        sa.Column("document_path", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("ipp_job_id", sa.BigInteger, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_drafts_user", "drafts", ["user_name", "draft_id"])
    op.create_index("ix_drafts_expires", "drafts", ["expires_at"])


def downgrade() -> None:
    op.drop_table("drafts")
    op.drop_table("ipp_jobs")
