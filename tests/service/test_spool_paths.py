"""Every path the store holds into the spool is relative to it (issue #18: a shared spool is
mounted wherever each node mounts it, so no node's absolute path may be stored).

Checked on what a real run stores: a send with a cover page (its own document and the
broadcast's shared body, ``extra["body_path"]``) and the receive it makes on the other line.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.inproc import run, running_service, submit, wait_status

from lanfax.model.codes import JobType, QueueStatus
from lanfax.store.api import JobQuery


def test_stored_spool_paths_are_relative(tmp_path: Path, fax_tiff: Path) -> None:
    async def main() -> None:
        async with running_service(tmp_path) as svc:
            (job,) = await submit(svc, fax_tiff, "201", cover_page={"subject": "paths"})
            await wait_status(svc, job.job_id, QueueStatus.COMPLETED, timeout=30)
            jobs = await svc.list_jobs(JobQuery(limit=100))
            receives = [j for j in jobs if j.job_type is JobType.RECEIVE]
            assert receives, jobs
            for r in receives:
                await wait_status(svc, r.job_id, QueueStatus.COMPLETED, timeout=30)
            jobs = await svc.list_jobs(JobQuery(limit=100))
            paths = [j.document_path for j in jobs] + [
                str(j.extra["body_path"]) for j in jobs if j.extra.get("body_path")
            ]
            assert len(paths) >= 3, jobs  # the send's document, its body, the receive's file
            for p in paths:
                assert p and not Path(p).is_absolute(), p
                assert ".." not in Path(p).parts, p
                assert svc.spool.resolve(p).is_file()

    run(main(), timeout=90)
