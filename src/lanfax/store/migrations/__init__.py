"""Alembic migration scripts for the lanfax store, run programmatically at open()."""
