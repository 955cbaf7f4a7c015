"""contacts: the address book (contacts, distribution lists and their members), issue #13.

Revision ID: 0008
Revises: 0006 (re-chained by the integrator at merge time)
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TEXT = (
    "fax_number",
    "company",
    "department",
    "title",
    "street_address",
    "city",
    "state",
    "zip",
    "country",
    "office_location",
    "office_phone",
    "home_phone",
    "email",
    "notes",
)


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("contact_id", ID, sa.Identity(), primary_key=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("name_key", sa.Text, nullable=False),
        *[sa.Column(name, sa.Text, nullable=False) for name in _TEXT],
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("owner", "name_key", name="uq_contacts_owner_name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "contact_lists",
        sa.Column("list_id", ID, sa.Identity(), primary_key=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("name_key", sa.Text, nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("owner", "name_key", name="uq_contact_lists_owner_name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "contact_list_members",
        sa.Column(
            "list_id",
            ID,
            sa.ForeignKey("contact_lists.list_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column(
            "contact_id",
            ID,
            sa.ForeignKey("contacts.contact_id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("fax_number", sa.Text, nullable=False),
    )
    op.create_index("ix_contact_list_members_contact", "contact_list_members", ["contact_id"])


def downgrade() -> None:
    op.drop_table("contact_list_members")
    op.drop_table("contact_lists")
    op.drop_table("contacts")
