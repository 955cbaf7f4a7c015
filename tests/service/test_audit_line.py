"""The ``lanfax.audit`` log line of an audit entry: one space between its words whether or not
the entry names a target (a submission has none)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from lanfax.model.audit import AuditEntry
from lanfax.service.audit_trail import AuditTrail


def _line(caplog: pytest.LogCaptureFixture, **fields: Any) -> str:
    entry = AuditEntry(datetime(2026, 12, 5, tzinfo=UTC), "alice", "192.0.2.7", **fields)
    with caplog.at_level(logging.INFO, logger="lanfax.audit"):
        AuditTrail.log_entry(AuditTrail.__new__(AuditTrail), entry)
    (record,) = [r for r in caplog.records if r.name == "lanfax.audit"]
    return record.getMessage()


def test_an_entry_with_a_target(caplog: pytest.LogCaptureFixture) -> None:
    line = _line(caplog, action="job.cancel", target="job 7")
    assert line == "job.cancel job 7 ok by alice from 192.0.2.7"


def test_an_entry_without_a_target_has_no_double_space(caplog: pytest.LogCaptureFixture) -> None:
    line = _line(caplog, action="submit", outcome="ok")
    assert line == "submit ok by alice from 192.0.2.7"
