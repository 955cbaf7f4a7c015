"""The tables, as SQLAlchemy Core metadata (the queries' view of the schema).

The migrations in ``lanfax/store/migrations/versions`` create exactly this; a test compares the
two so that they cannot drift apart.

Representation choices, for both SQLite and PostgreSQL:

* Datetimes are integer microseconds since the Unix epoch (UTC). That is exact (no float, no
  text parsing, no driver-specific time zone handling), sorts correctly and indexes cheaply;
  the codec turns them back into aware UTC datetimes.
* Enums are their integer values (FailureClass, a text enum, is its text value).
* Structured values (cover page, ``extra``, event detail, settings) are JSON text.
* ``job_id`` and ``seq`` never repeat, even after deletion or pruning: SQLite AUTOINCREMENT,
  PostgreSQL an identity column (a sequence).
"""

from __future__ import annotations

import sqlalchemy as sa

# SQLite's AUTOINCREMENT requires the column to be exactly "INTEGER PRIMARY KEY".
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData()

jobs = sa.Table(
    "jobs",
    metadata,
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
    # Filters are always combined with keyset pagination on job_id, hence the pairs.
    sa.Index("ix_jobs_status_id", "queue_status", "job_id"),
    sa.Index("ix_jobs_user_id", "user_name", "job_id"),
    sa.Index("ix_jobs_broadcast_id", "broadcast_id", "job_id"),
    sqlite_autoincrement=True,
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", ID, sa.Identity(), primary_key=True),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("event_id", sa.Integer, nullable=False),
    sa.Column("device_id", sa.BigInteger, nullable=False),
    sa.Column("job_id", sa.BigInteger, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("ix_events_timestamp", "timestamp"),
    sqlite_autoincrement=True,
)

settings = sa.Table(
    "settings",
    metadata,
    sa.Column("namespace", sa.Text, primary_key=True),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

#: Small facts about the store: ``events_high`` is the highest event cursor ever pruned, so
#: that :meth:`last_event_seq` stays right when every event is gone (a PostgreSQL sequence
#: cannot tell: rolled-back inserts consume values too).
store_meta = sa.Table(
    "store_meta",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

#: Archived faxes (migration 0003). ``direction`` is "incoming" or "outgoing"; one entry per
#: job and direction. Searches are by time, or by a prefix of number / ident, or by user,
#: always newest first with keyset pagination on (completed_at, archive_id).
archive = sa.Table(
    "archive",
    metadata,
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
    sa.Index("ix_archive_time", "direction", "completed_at", "archive_id"),
    sa.Index("ix_archive_number", "direction", "number", "completed_at"),
    sa.Index("ix_archive_ident", "direction", "remote_ident", "completed_at"),
    sa.Index("ix_archive_user", "direction", "user_name", "completed_at"),
    sqlite_autoincrement=True,
)

#: The activity log (migration 0003): one row per call, inbound and outbound.
activity = sa.Table(
    "activity",
    metadata,
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
    sa.Index("ix_activity_at", "at"),
    sqlite_autoincrement=True,
)

#: Delivery receipts (migration 0004). ``receipt_key`` makes a receipt idempotent: one per
#: job final state (``final:<job>:<completed_at>``), failed attempt (``attempt:<job>:<n>``)
#: or finished broadcast (``summary:<broadcast>:<last completed_at>``).
receipts = sa.Table(
    "receipts",
    metadata,
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
    sa.Index("ix_receipts_user", "user_name", "receipt_id"),
    sa.Index("ix_receipts_state", "state", "next_try_at"),
    sa.Index("ix_receipts_job", "job_id"),
    sqlite_autoincrement=True,
)

#: The audit trail (migration 0005): who (user, address) did what (action, target), when,
#: and how it ended (``ok``, ``denied``, ``failed``); ``detail`` is JSON.
audit = sa.Table(
    "audit",
    metadata,
    sa.Column("audit_id", ID, sa.Identity(), primary_key=True),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("user_name", sa.Text, nullable=False),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("ix_audit_user", "user_name", "audit_id"),
    sa.Index("ix_audit_action", "action", "audit_id"),
    sqlite_autoincrement=True,
)

# -- ipp (issue #11, migration 0006) ----------------------------------------------------------

#: Jobs printed to the IPP FaxOut printer (``/ipp/faxout``). ``ipp_job_id`` is the job-id the
#: desktop sees; a job becomes a lanfax broadcast (``broadcast_id``), a draft (``draft_id``),
#: or ends canceled/aborted before either. ``state`` is ``incoming`` (Create-Job waiting for
#: its document), ``faxing``, ``draft``, ``canceled`` or ``aborted``; a faxing job's IPP state
#: is derived from its broadcast's jobs. ``attributes`` (JSON) keeps what Create-Job asked.
ipp_jobs = sa.Table(
    "ipp_jobs",
    metadata,
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
    sa.Index("ix_ipp_jobs_user", "user_name", "ipp_job_id"),
    sqlite_autoincrement=True,
)

#: Drafts: a document printed with no fax number, kept for its owner until ``expires_at``
#: (``document_path`` is spool-relative; ``document_format`` the MIME type it came with).
drafts = sa.Table(
    "drafts",
    metadata,
    sa.Column("draft_id", ID, sa.Identity(), primary_key=True),
    sa.Column("user_name", sa.Text, nullable=False),
    sa.Column("document_name", sa.Text, nullable=False),
    sa.Column("document_format", sa.Text, nullable=False),
    sa.Column("document_path", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("ipp_job_id", sa.BigInteger, nullable=True),
    sa.Index("ix_drafts_user", "user_name", "draft_id"),
    sa.Index("ix_drafts_expires", "expires_at"),
    sqlite_autoincrement=True,
)
# -- contacts (migration 0008, issue #13) --------------------------------------------------------

#: The address book. ``owner`` is the user of a personal contact, "" for a shared one;
#: ``name_key`` is the name case-folded (lanfax.model.contacts.name_key), unique per owner
#: together with the lists' names (checked by the store in the writing transaction).
contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("contact_id", ID, sa.Identity(), primary_key=True),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("name_key", sa.Text, nullable=False),
    sa.Column("fax_number", sa.Text, nullable=False),
    sa.Column("company", sa.Text, nullable=False),
    sa.Column("department", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("street_address", sa.Text, nullable=False),
    sa.Column("city", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("zip", sa.Text, nullable=False),
    sa.Column("country", sa.Text, nullable=False),
    sa.Column("office_location", sa.Text, nullable=False),
    sa.Column("office_phone", sa.Text, nullable=False),
    sa.Column("home_phone", sa.Text, nullable=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("notes", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("owner", "name_key", name="uq_contacts_owner_name"),
    sqlite_autoincrement=True,
)

#: Distribution lists, named like contacts (same owner rule, same name space).
contact_lists = sa.Table(
    "contact_lists",
    metadata,
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

#: The members of a list, in order: a contact (removed with it) or a bare number.
contact_list_members = sa.Table(
    "contact_list_members",
    metadata,
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
    sa.Index("ix_contact_list_members_contact", "contact_id"),
)

# -- nodes (migration 0009, issue #18) -----------------------------------------------------------

#: The nodes of a cluster (one row per ``[node] name``; a one-node install has "main"). ``number``
#: is given at the first registration (0, 1, 2 ...) and never changes: it names the node's
#: devices (device ids ``number << 16 | n``; node 0 keeps the ids it always had).
#: ``incarnation`` counts the node's starts; ``heartbeat_at`` is written every heartbeat_s;
#: ``stopped_at`` is set by a clean stop. Times are microseconds, as everywhere.
nodes = sa.Table(
    "nodes",
    metadata,
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

# The jobs' lease columns (migration 0009): nullable, not part of model.Job (the one-node
# service never reads them); lanfax.store.leases claims and fences with them.
jobs.append_column(sa.Column("owner_node", sa.Text, nullable=True))
jobs.append_column(sa.Column("lease_expires_at", sa.BigInteger, nullable=True))
jobs.append_column(sa.Column("attempt_epoch", sa.BigInteger, nullable=True))
sa.Index("ix_jobs_owner_lease", jobs.c.owner_node, jobs.c.lease_expires_at)
