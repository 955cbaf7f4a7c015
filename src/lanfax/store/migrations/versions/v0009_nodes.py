"""nodes: node identity and heartbeats; jobs' owner node, lease and attempt epoch (issue #18).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

The job columns are nullable and unused by the one-node service: they are where leases
(``owner_node`` holds the job until ``lease_expires_at``) and fencing (``attempt_epoch``, raised
by every claim, so an outcome written under an older epoch is refused) will live.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("incarnation", sa.BigInteger, nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("heartbeat_at", sa.BigInteger, nullable=False),
        sa.Column("stopped_at", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("number", name="uq_nodes_number"),
    )
    op.add_column("jobs", sa.Column("owner_node", sa.Text, nullable=True))
    op.add_column("jobs", sa.Column("lease_expires_at", sa.BigInteger, nullable=True))
    op.add_column("jobs", sa.Column("attempt_epoch", sa.BigInteger, nullable=True))
    op.create_index("ix_jobs_owner_lease", "jobs", ["owner_node", "lease_expires_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_owner_lease", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("attempt_epoch")
        batch.drop_column("lease_expires_at")
        batch.drop_column("owner_node")
    op.drop_table("nodes")
