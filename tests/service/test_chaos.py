"""A short run of the chaos campaign (bench/chaos.py, issue #14): 16 faxes of 1-5 pages
through a real ``lanfax serve`` on virtual lines with line faults, SIGKILLed 3 times at
random moments, its data directory (a 64 MB tmpfs) filled once for a few seconds. Every
accepted job ends in exactly one final state, none stuck; no fax of two pages or more reaches
its receiver twice (a page on the line at a kill may: for a one-page fax, the whole fax);
no page of a completed fax is missing; every received fax is routed (folder and web hook);
the service answers throughout except while killed. (The table is printed with -s.)"""

from __future__ import annotations

import http.client
from pathlib import Path

import pytest
from tests.support.chaos import ChaosConfig, _Health, run_campaign
from tests.support.pg import PgServer, pg_unavailable
from tests.support.smallfs import small_fs


@pytest.mark.slow
def test_a_short_chaos_campaign(tmp_path: Path) -> None:
    with small_fs(tmp_path / "lanfax-data", "64m") as fs:
        report = run_campaign(
            ChaosConfig(tmp_path, jobs=16, kills=3, seed=14, smallfs=fs, timeout=170.0)
        )
    print(report.table())
    assert report.accepted >= 14, report.table()
    assert not report.not_final, (report.not_final[:3], report.table())
    assert sum(report.final.values()) == report.accepted
    assert not report.whole_duplicates, report.table()
    assert not report.missing_pages, (report.missing_pages, report.table())
    assert not report.not_routed, report.table()
    assert report.routed >= 1 and report.webhook_faxes >= 1, report.table()
    assert not report.health_gaps, report.health_gaps
    assert report.kills == 3 and report.disk_filled


@pytest.mark.slow
def test_a_short_chaos_campaign_on_postgresql(tmp_path: Path) -> None:
    """The same against PostgreSQL, which is stopped for 3-6 s once while faxes are on the
    lines (and the service is killed twice)."""
    why = pg_unavailable()
    if why is not None:
        pytest.skip(why)
    pg = PgServer()
    try:
        report = run_campaign(
            ChaosConfig(tmp_path, jobs=14, kills=2, seed=15, fill_disk=False, pg=pg, timeout=170)
        )
    finally:
        pg.close()
    print(report.table())
    assert report.database_outage > 0 and report.database_restart == "started", report
    assert not report.not_final, (report.not_final[:3], report.table())
    assert sum(report.final.values()) == report.accepted >= 13
    assert not report.whole_duplicates and not report.missing_pages, report.table()
    assert not report.not_routed and not report.health_gaps, report.table()


def test_the_health_watch_survives_an_answer_cut_short_by_a_kill() -> None:
    """A SIGKILL while /health answers leaves a short body (http.client.IncompleteRead): the
    campaign's watch counts it as "not healthy" and goes on watching (the exception ended its
    thread once, and the gaps after it went unseen)."""

    class CutShort:
        def healthy(self) -> bool:
            raise http.client.IncompleteRead(b"", 33)

    watch = _Health(CutShort())  # type: ignore[arg-type]
    assert watch.healthy() is False
