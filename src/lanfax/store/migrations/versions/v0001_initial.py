"""Initial schema: jobs, events, settings.

Revision ID: 0001
Revises:
Create Date: 2026-01-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copy of the types at this revision (the live schema module may move on).
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("job_id", ID, sa.Identity(), primary_key=True),
        sa.Column("job_type", sa.Integer, nullable=False),
        sa.Column("queue_status", sa.Integer, nullable=False),
        sa.Column("submitted_at", sa.BigInteger, nullable=False),
        sa.Column("user_name", sa.Text, nullable=False),
        sa.Column("device_status", sa.BigInteger, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("page_count", sa.Integer, nullable=False),
        sa.Column("recipient_number", sa.Text, nullable=False),
        sa.Column("recipient_name", sa.Text, nullable=False),
        sa.Column("tsid", sa.Text, nullable=False),
        sa.Column("sender_name", sa.Text, nullable=False),
        sa.Column("sender_company", sa.Text, nullable=False),
        sa.Column("sender_dept", sa.Text, nullable=False),
        sa.Column("billing_code", sa.Text, nullable=False),
        sa.Column("schedule_action", sa.Integer, nullable=False),
        sa.Column("schedule_time", sa.BigInteger, nullable=True),
        sa.Column("delivery_report_type", sa.Integer, nullable=False),
        sa.Column("delivery_report_address", sa.Text, nullable=False),
        sa.Column("document_name", sa.Text, nullable=False),
        sa.Column("call_handle", sa.Text, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("broadcast_id", sa.Text, nullable=False),
        sa.Column("document_path", sa.Text, nullable=False),
        sa.Column("cover_page", sa.Text, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=True),
        sa.Column("started_at", sa.BigInteger, nullable=True),
        sa.Column("completed_at", sa.BigInteger, nullable=True),
        sa.Column("device_id", sa.BigInteger, nullable=True),
        sa.Column("last_failure", sa.Text, nullable=True),
        sa.Column("status_text", sa.Text, nullable=False),
        sa.Column("pages_done", sa.Integer, nullable=False),
        sa.Column("remote_ident", sa.Text, nullable=False),
        sa.Column("caller_id", sa.Text, nullable=False),
        sa.Column("routing_string", sa.Text, nullable=False),
        sa.Column("bit_rate", sa.Integer, nullable=False),
        sa.Column("ecm", sa.Boolean, nullable=False),
        sa.Column("compression", sa.Text, nullable=False),
        sa.Column("extra", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_jobs_status_id", "jobs", ["queue_status", "job_id"])
    op.create_index("ix_jobs_user_id", "jobs", ["user_name", "job_id"])
    op.create_index("ix_jobs_broadcast_id", "jobs", ["broadcast_id", "job_id"])
    op.create_table(
        "events",
        sa.Column("seq", ID, sa.Identity(), primary_key=True),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.Integer, nullable=False),
        sa.Column("device_id", sa.BigInteger, nullable=False),
        sa.Column("job_id", sa.BigInteger, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_timestamp", "events", ["timestamp"])
    op.create_table(
        "settings",
        sa.Column("namespace", sa.Text, primary_key=True),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("settings")
    op.drop_index("ix_events_timestamp", table_name="events")
    op.drop_table("events")
    op.drop_index("ix_jobs_broadcast_id", table_name="jobs")
    op.drop_index("ix_jobs_user_id", table_name="jobs")
    op.drop_index("ix_jobs_status_id", table_name="jobs")
    op.drop_table("jobs")
