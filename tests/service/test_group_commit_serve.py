"""Group commit through a real ``lanfax serve`` (#19): concurrent submissions share commits,
and every 201 the clients heard survives a kill -9 that comes right after it.

Eight threads submit one job each at a time, each to numbers of its own, with the queue
paused (nothing is dialled). The server's ``/metrics`` counts the store's commits of
submissions and the submissions they held: once more submissions than commits were counted,
some shared a commit (one fsync). The server is then SIGKILLed while the threads are still
submitting, and started again on the same data: every job whose id a client was told exists,
with the client's number, and no number was queued twice.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from pathlib import Path

import pytest
from tests.support.authhttp import httpx
from tests.support.http import all_jobs
from tests.support.server import LanfaxServer, start_lanfax_server

from lanfax.service.metrics import parse_families

THREADS = 8
METRICS_TOKEN = "mtr_" + secrets.token_urlsafe(24)


class Submitter(threading.Thread):
    """Submits one job at a time to numbers of its own (``9<k><n>``) until told to stop."""

    def __init__(self, server: LanfaxServer, tiff: bytes, k: int) -> None:
        super().__init__(daemon=True)
        self.server, self.tiff, self.k = server, tiff, k
        self.acked: dict[str, int] = {}  # number -> the job id the client was told
        self.refused: list[str] = []  # answers other than 201 while the server was up
        self.stop_flag = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=20) as c:
            n = 0
            while not self.stop_flag.is_set():
                n += 1
                number = f"9{self.k}{n:05d}"
                params = {"recipients": [{"recipient_number": number}]}
                try:
                    r = c.post(
                        f"{self.server.api}/jobs",
                        data={"params": json.dumps(params)},
                        files=[("file", ("d.tif", self.tiff, "image/tiff"))],
                    )
                except httpx.HTTPError:
                    return  # killed: the answer never came; the job may or may not exist
                if r.status_code == 201:
                    (job,) = r.json()["jobs"]
                    self.acked[number] = job["job_id"]
                else:
                    self.refused.append(r.text)


def _group_counts(server: LanfaxServer) -> tuple[float, float]:
    """(commits, submissions) of the store's group commit, from /metrics."""
    r = httpx.get(
        f"{server.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
    )
    assert r.status_code == 200, r.text
    found = {name: value for name, _labels, value in parse_families(r.text)}
    return found["lanfax_store_group_commits_total"], found["lanfax_store_group_submissions_total"]


@pytest.mark.slow
@pytest.mark.parametrize("intake_workers", [0, 1])  # #19: also with an intake worker
def test_concurrent_submissions_share_commits_and_a_kill_after_201_loses_nothing(
    tmp_path: Path, fax_tiff: Path, intake_workers: int
) -> None:
    server = start_lanfax_server(
        tmp_path,
        f'[server]\nintake_workers = {intake_workers}\n[metrics]\ntoken = "{METRICS_TOKEN}"\n',
    )
    threads: list[Submitter] = []
    try:
        assert httpx.patch(f"{server.api}/config", json={"pause_server_queue": True}).is_success
        assert _group_counts(server) == (0, 0)
        tiff = fax_tiff.read_bytes()
        threads = [Submitter(server, tiff, k) for k in range(THREADS)]
        for t in threads:
            t.start()
        # Wait (with a deadline, not a sleep) until some submissions shared a commit.
        deadline = time.monotonic() + 120
        while True:
            commits, held = _group_counts(server)
            if held > commits and sum(len(t.acked) for t in threads) >= 40:
                break
            assert time.monotonic() < deadline, f"no commit was shared: {commits}, {held}"
            assert all(t.is_alive() for t in threads), "a submitter stopped"
            time.sleep(0.05)
        assert commits >= 1
        server.kill()  # SIGKILL while the threads are still submitting
        for t in threads:
            t.stop_flag.set()
            t.join(30)
        assert not [r for t in threads for r in t.refused], "a submission was refused"
        server.start()
        jobs = {j["job_id"]: j for j in all_jobs(server.api)}
        numbers = [j["recipient_number"] for j in jobs.values()]
        assert len(numbers) == len(set(numbers)), "a submission was queued twice"
        acked = {number: job_id for t in threads for number, job_id in t.acked.items()}
        assert len(acked) >= 40
        for number, job_id in acked.items():
            assert job_id in jobs, f"acknowledged job {job_id} ({number}) was lost"
            assert jobs[job_id]["recipient_number"] == number
        # #19: the documents too (each renamed into spool/docs, the directory fsynced once
        # per group commit before it): every acknowledged job's document is there, whole.
        for job_id in acked.values():
            doc = httpx.get(f"{server.api}/jobs/{job_id}/document")
            assert doc.status_code == 200, f"job {job_id}'s document: {doc.text}"
            assert doc.content == tiff, f"job {job_id}'s document is not what was sent"
        # After the restart the counts start again; a job submitted now is one commit.
        assert _group_counts(server) == (0, 0)
        r = httpx.post(
            f"{server.api}/jobs",
            data={"params": json.dumps({"recipients": [{"recipient_number": "8000"}]})},
            files=[("file", ("d.tif", tiff, "image/tiff"))],
        )
        assert r.status_code == 201, r.text
        assert _group_counts(server) == (1, 1)
    finally:
        for t in threads:
            t.stop_flag.set()
        server.close()
