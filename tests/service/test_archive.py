"""Archives and the activity log in the service: a fax sent from 200 to 201 lands in the
outgoing archive (ArchiveOutgoingFaxes on, ArchiveDirectory honoured) and, once routed, in the
incoming one; both can be searched, downloaded as TIFF and PDF, and deleted; retention by age
and by size watermarks; the activity log has one row per call; a crash between a job's end
and its archiving is caught up at the next start."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.support.inproc import run, running_service, set_line, submit, wait_status

from lanfax.model.archive import ArchiveEntry
from lanfax.model.clock import ManualClock
from lanfax.model.codes import QueueStatus
from lanfax.model.errors import NotFound
from lanfax.service.core import FaxService
from lanfax.store.archive import ArchiveQuery


def _toml(archive_dir: Path) -> str:
    return f"""
[settings]
archive_outgoing_faxes = true
archive_directory = "{archive_dir}"
"""


async def _send_and_receive(svc: FaxService, tiff: Path) -> tuple[int, int]:
    await set_line(svc, "201", ["receive"], rings=1)
    (job,) = await submit(svc, tiff, "201", sender_name="Ann")
    sent = await wait_status(svc, job.job_id, QueueStatus.COMPLETED)
    rx = await wait_status(svc, sent.job_id + 1, QueueStatus.COMPLETED)
    await svc.archiver.idle()
    return sent.job_id, rx.job_id


def test_both_archives_search_download_delete_and_activity(
    tmp_path: Path, fax_tiff_3: Path
) -> None:
    archive_dir = tmp_path / "faxarchive"

    async def body() -> None:
        async with running_service(tmp_path, _toml(archive_dir)) as svc:
            tx_id, rx_id = await _send_and_receive(svc, fax_tiff_3)
            sent = await svc.get_job(tx_id)
            (out,), nxt = await svc.archiver.search(ArchiveQuery("outgoing"))
            assert nxt is None
            assert out.job_id == tx_id and out.number == "201" and out.pages == 3
            assert out.result == "completed" and out.sender_name == "Ann"
            assert out.remote_ident == sent.remote_ident and out.bit_rate == sent.bit_rate
            assert Path(out.path).is_relative_to(archive_dir / "outgoing")
            (inc,), _ = await svc.archiver.search(ArchiveQuery("incoming"))
            assert inc.job_id == rx_id and inc.pages == 3
            line_200 = next(p for p in svc.ports() if p.number == "200")
            assert inc.remote_ident.strip() == line_200.tsid.strip()
            assert Path(inc.path).is_relative_to(archive_dir / "incoming")

            # Search by number prefix, ident prefix, user and date range.
            for q, hits in (
                (ArchiveQuery("outgoing", number="20"), 1),
                (ArchiveQuery("outgoing", number="9"), 0),
                (ArchiveQuery("outgoing", ident=out.remote_ident[:3]), 1),
                (ArchiveQuery("outgoing", user=out.user_name), 1),
                (ArchiveQuery("outgoing", user="nobody"), 0),
                (ArchiveQuery("outgoing", since=out.completed_at + timedelta(seconds=1)), 0),
                (ArchiveQuery("outgoing", until=out.completed_at + timedelta(seconds=1)), 1),
            ):
                found, _ = await svc.archiver.search(q)
                assert len(found) == hits, q

            tiff = await svc.archiver.document("incoming", inc.archive_id, "tiff")
            assert tiff.read_bytes() == fax_tiff_3.read_bytes()
            pdf = await svc.archiver.document("outgoing", out.archive_id, "pdf")
            assert pdf.read_bytes().startswith(b"%PDF") and pdf.read_bytes().count(b"/Page") >= 3
            pdf.unlink()

            rows = list(csv.DictReader(io.StringIO("".join(svc.archiver.activity_csv(None, None)))))
            by_dir = {r["direction"]: r for r in rows}
            assert len(rows) == 2 and set(by_dir) == {"incoming", "outgoing"}
            assert by_dir["outgoing"]["number"] == "201" and by_dir["outgoing"]["pages"] == "3"
            assert by_dir["outgoing"]["result"] == "completed"
            assert by_dir["incoming"]["result"] == "received"

            await svc.archiver.delete("incoming", inc.archive_id)
            assert not Path(inc.path).exists()
            try:
                await svc.archiver.entry("incoming", inc.archive_id)
            except NotFound:
                pass
            else:
                raise AssertionError("the deleted entry is still there")

    run(body(), timeout=60)


def test_retention_by_age_and_by_watermarks(tmp_path: Path) -> None:
    clock = ManualClock()

    async def body() -> None:
        async with running_service(tmp_path, clock=clock) as svc:
            arch = svc.archiver
            folder = tmp_path / "a"
            folder.mkdir()
            now = clock.now()
            for n in range(6):
                path = folder / f"{n}.tif"
                path.write_bytes(b"x" * 100_000)
                entry = ArchiveEntry(
                    archive_id=0,
                    direction="incoming",
                    job_id=1000 + n,
                    completed_at=now - timedelta(days=10 * n),
                    archived_at=now,
                    size=100_000,
                    path=str(path),
                )
                await svc.ctx.run(arch.db.add, entry)
            # Age: 35 days keeps the entries of 0, 10, 20 and 30 days.
            await arch.set_policies({"incoming": {"max_age_days": 35}})
            left, _ = await arch.search(ArchiveQuery("incoming"))
            assert sorted(e.job_id for e in left) == [1000, 1001, 1002, 1003]
            assert not (folder / "4.tif").exists() and (folder / "3.tif").exists()
            # Quota: 400,000 bytes > high 0.3 MB; the oldest go until at most low 0.2 MB.
            await arch.set_policies(
                {"incoming": {"high_watermark_mb": 0.3, "low_watermark_mb": 0.2}}
            )
            left, _ = await arch.search(ArchiveQuery("incoming"))
            assert sorted(e.job_id for e in left) == [1000, 1001]
            assert await svc.ctx.run(arch.db.totals, "incoming") == (2, 200_000)
            # Under the high watermark nothing goes.
            assert await arch.retention("incoming") == 0
            # Bad policies are refused with a hint.
            bads: list[dict[str, Any]] = [
                {"incoming": {"max_age_days": -1}},
                {"incoming": {"high_watermark_mb": 1, "low_watermark_mb": 2}},
                {"elsewhere": {}},
            ]
            for bad in bads:
                try:
                    await arch.set_policies(bad)
                except Exception as exc:  # ConfigError
                    assert getattr(exc, "hint", None)
                else:
                    raise AssertionError(f"{bad} was accepted")

    run(body(), timeout=60)


def test_a_missed_archive_is_caught_up_at_start(tmp_path: Path, fax_tiff: Path) -> None:
    archive_dir = tmp_path / "faxarchive"

    async def body() -> None:
        async with running_service(tmp_path, _toml(archive_dir)) as svc:
            _, rx_id = await _send_and_receive(svc, fax_tiff)
            (inc,), _ = await svc.archiver.search(ArchiveQuery("incoming"))
            # As if the service had died before archiving: no entry, no file.
            await svc.ctx.run(svc.archiver.db.delete, [inc.archive_id])
            Path(inc.path).unlink()
        async with running_service(tmp_path, _toml(archive_dir)) as svc:
            await svc.archiver.idle()
            (again,), _ = await svc.archiver.search(ArchiveQuery("incoming"))
            assert again.job_id == rx_id and Path(again.path).exists()
            # Nothing archived twice.
            (out,), _ = await svc.archiver.search(ArchiveQuery("outgoing"))
            assert out.job_id == rx_id - 1

    run(body(), timeout=60)
