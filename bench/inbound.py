"""Inbound benchmark: received faxes routed per second, and archive search with 100,000 faxes.

    .venv/bin/python bench/inbound.py                      # SQLite in a temporary directory
    .venv/bin/python bench/inbound.py --faxes 200 --archive 100000
    .venv/bin/python bench/inbound.py --url postgresql+psycopg://postgres@127.0.0.1:5432/bench

Routing: :class:`lanfax.routing.RoutingManager` with the built-in routes, every fax through
store-in-a-folder (TIFF, fsynced), e-mail to a real aiosmtpd server on loopback and a web hook
to a real HTTP server on loopback, one fax after another (as the service routes one fax's
methods), then with four faxes at a time (the service's routing concurrency). E-mail is
measured with a TIFF and with a PDF attachment (the PDF conversion is the expensive part).

Archive: 100,000 entries in the archive table, then the latency of one 50-entry page for the
searches the API offers (newest first, by number prefix, by ident prefix, by user, by date
range, and a page deep in the results through the cursor). Target: under 50 ms per page.
Prints tables; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.faxes import make_fax_tiff
from tests.support.receivers import SmtpReceiver, WebhookReceiver

from lanfax.model.archive import ArchiveEntry
from lanfax.routing import FaxRoute, FileSetCallbacks, MemoryStateStore, RoutingManager
from lanfax.routing.builtin import EMAIL_GUID, WEBHOOK_GUID, BuiltinRoutes
from lanfax.store import open_store
from lanfax.store.archive import ArchiveQuery, SqlArchive

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def fax(job_id: int) -> FaxRoute:
    return FaxRoute(
        job_id=job_id,
        receive_time=T0 + timedelta(seconds=job_id),
        page_count=2,
        elapsed_time=40.0,
        csid="101",
        tsid="BENCH SENDER",
        caller_id="+49301234567",
        device_id=1,
        device_name="line 101",
    )


async def route_bench(work: Path, n: int, attach: str, concurrency: int) -> float:
    smtp = SmtpReceiver().start()
    hook = WebhookReceiver().start()
    try:
        data = work / f"data-{attach}-{concurrency}"
        data.mkdir()
        manager = RoutingManager(MemoryStateStore(), callbacks=FileSetCallbacks())
        manager.register(BuiltinRoutes(data, webhook_attempts=1))
        mail = {
            "to": "desk@example.test",
            "from": "fax@example.test",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "security": "none",
            "attach": attach,
        }
        manager.set_routing_info(EMAIL_GUID, 1, mail)
        manager.enable_routing_method(EMAIL_GUID, 1, True)
        hook_info = {"url": hook.url, "secret": "s" * 24, "format": "tiff"}
        manager.set_routing_info(WEBHOOK_GUID, 1, hook_info)
        manager.enable_routing_method(WEBHOOK_GUID, 1, True)
        await manager.start()
        tiff = make_fax_tiff(work / f"doc-{attach}-{concurrency}", pages=2)
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with sem:
                outcome = await manager.route_fax(fax(i), [tiff])
                assert outcome.ok, outcome

        began = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(1, n + 1)))
        spent = time.perf_counter() - began
        assert len(smtp.messages()) == n and len(hook.delivered) == n
        return n / spent
    finally:
        smtp.stop()
        hook.stop()


def fill_archive(db: SqlArchive, n: int) -> None:
    store = db._store
    rows = []
    for i in range(n):
        rows.append(
            ArchiveEntry(
                archive_id=0,
                direction="incoming" if i % 2 else "outgoing",
                job_id=i + 1,
                completed_at=T0 + timedelta(minutes=i),
                archived_at=T0 + timedelta(minutes=i),
                user_name=f"user{i % 50}",
                number=f"+4930{i % 9973:07d}",
                remote_ident=f"STATION {i % 997}",
                pages=1 + i % 5,
                size=30_000,
                result="completed",
                path=f"/archive/{i}.tif",
            )
        )
    import sqlalchemy as sa

    from lanfax.store.archive import _row
    from lanfax.store.schema import archive as t_archive

    with store._write("bench fill") as conn:
        for k in range(0, n, 5000):
            conn.execute(sa.insert(t_archive), [_row(e, "archive_id") for e in rows[k : k + 5000]])


def time_page(db: SqlArchive, q: ArchiveQuery, repeat: int = 30) -> tuple[float, float, int]:
    samples = []
    got = 0
    for _ in range(repeat):
        t = time.perf_counter()
        entries, _ = db.search(q)
        samples.append(time.perf_counter() - t)
        got = len(entries)
    samples.sort()
    return statistics.median(samples) * 1000, samples[-2] * 1000, got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faxes", type=int, default=100, help="faxes routed per run")
    ap.add_argument("--archive", type=int, default=100_000, help="archive entries")
    ap.add_argument("--url", help="database URL (default: SQLite in a temporary directory)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lanfax-bench-") as tmp:
        work = Path(tmp)
        print(f"routing {args.faxes} faxes (2 pages) through folder + e-mail + web hook")
        print(f"{'e-mail attachment':<20}{'concurrency':>12}{'faxes/s':>10}")
        for attach in ("tiff", "pdf"):
            for conc in (1, 4):
                rate = asyncio.run(route_bench(work, args.faxes, attach, conc))
                print(f"{attach:<20}{conc:>12}{rate:>10.1f}")

        url = args.url or f"sqlite:///{work / 'bench.db'}"
        store = open_store(url)
        db = SqlArchive(store)
        t = time.perf_counter()
        fill_archive(db, args.archive)
        print(f"\narchive: {args.archive} entries written in {time.perf_counter() - t:.1f} s")
        mid = T0 + timedelta(minutes=args.archive // 2)
        _, cursor = db.search(ArchiveQuery("incoming", limit=50))
        deep = cursor
        for _ in range(200):  # 10,000 entries in
            _, deep = db.search(ArchiveQuery("incoming", limit=50, cursor=deep or ""))
        cases = [
            ("newest first", ArchiveQuery("incoming")),
            ("number prefix", ArchiveQuery("incoming", number="+493000012")),
            ("ident prefix", ArchiveQuery("outgoing", ident="STATION 42")),
            ("user", ArchiveQuery("outgoing", user="user6")),
            ("date range (1 day)", ArchiveQuery("incoming", since=mid, until=mid + timedelta(1))),
            ("page 201 by cursor", ArchiveQuery("incoming", cursor=deep or "")),
            ("user + date range", ArchiveQuery("outgoing", user="user8", since=mid)),
        ]
        print(f"{'search (50 per page)':<24}{'median ms':>10}{'p97 ms':>10}{'hits':>6}")
        for name, q in cases:
            med, high, got = time_page(db, q)
            print(f"{name:<24}{med:>10.2f}{high:>10.2f}{got:>6}")
        store.close()


if __name__ == "__main__":
    main()
