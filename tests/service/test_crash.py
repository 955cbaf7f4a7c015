"""kill -9 at random points while jobs are submitted and sent; nothing is lost or duplicated.

A real ``lanfax serve`` with the test provider (calls of random short durations, each
finished call logged to a file by the provider) is SIGKILLed a few times while a thread
submits jobs, each to its own number. After the last restart (with the queue paused, so
recovery's result can be inspected before anything is dialled again):

* every job whose id the client received exists, and no number has two jobs;
* no job is IN_PROGRESS;
* no job is COMPLETED unless the provider logged a completed call to its number;
then, with the queue running again, every job reaches a final state.
"""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import pytest
from tests.support.authhttp import httpx
from tests.support.http import all_jobs
from tests.support.server import LanfaxServer, start_lanfax_server

ROUNDS = 4


def _toml(log: Path) -> str:
    return f"""
[settings]
retries = 99
retry_delay = 0
[[providers]]
type = "tests.support.testprovider:TestProvider"
lines = [{{number = "200"}}, {{number = "201"}}]
duration = [0.02, 0.3]
log = "{log}"
"""


class Submitter(threading.Thread):
    """Submits one job at a time, each to a fresh number, until told to stop."""

    def __init__(self, server: LanfaxServer, tiff: bytes) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.tiff = tiff
        self.acked: dict[str, int] = {}  # number -> job id the client was told
        self.stop_flag = threading.Event()
        self.progress = threading.Condition()
        self.n = 0

    def run(self) -> None:
        with httpx.Client(timeout=10) as c:
            while not self.stop_flag.is_set():
                self.n += 1
                number = f"7{self.n:05d}"
                params = {"recipients": [{"recipient_number": number}]}
                try:
                    r = c.post(
                        f"{self.server.api}/jobs",
                        data={"params": json.dumps(params)},
                        files=[("file", ("d.tif", self.tiff, "image/tiff"))],
                    )
                except httpx.HTTPError:
                    # The server is down (killed): wait for it to come back.
                    self.stop_flag.wait(0.05)
                    continue
                if r.status_code == 201:
                    with self.progress:
                        self.acked[number] = r.json()["jobs"][0]["job_id"]
                        self.progress.notify_all()

    def wait_for_more(self, count: int, timeout: float = 20.0) -> None:
        with self.progress:
            target = len(self.acked) + count
            if not self.progress.wait_for(lambda: len(self.acked) >= target, timeout):
                raise AssertionError("the submitter made no progress")


def _completed_calls(log: Path) -> set[str]:
    done = set()
    if log.exists():
        for line in log.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by the kill
            if entry["status"] == "completed":
                done.add(entry["number"])
    return done


@pytest.mark.slow
def test_kill_9_loses_nothing(tmp_path: Path, fax_tiff: Path) -> None:
    rng = random.Random()
    log = tmp_path / "calls.jsonl"
    server = start_lanfax_server(tmp_path, _toml(log))
    submitter = Submitter(server, fax_tiff.read_bytes())
    submitter.start()
    try:
        for _ in range(ROUNDS):
            submitter.wait_for_more(rng.randint(3, 25))
            server.kill()
            server.start()
        submitter.wait_for_more(rng.randint(3, 10))
        # Pause before the last kill, so recovery's work can be inspected as it was left.
        assert httpx.patch(f"{server.api}/config", json={"pause_server_queue": True}).is_success
        server.kill()
        submitter.stop_flag.set()
        submitter.join(15)
        server.start()
        jobs = all_jobs(server.api)
        by_id = {j["job_id"]: j for j in jobs}
        assert len(by_id) == len(jobs)
        numbers = [j["recipient_number"] for j in jobs if j["job_type"] == "send"]
        assert len(numbers) == len(set(numbers)), "a submission was queued twice"
        for number, job_id in submitter.acked.items():
            assert job_id in by_id, f"acknowledged job {job_id} was lost"
            assert by_id[job_id]["recipient_number"] == number
        assert not [j for j in jobs if j["queue_status"] in ("in_progress", "canceling")]
        completed_calls = _completed_calls(log)
        for j in jobs:
            if j["queue_status"] == "completed" and j["job_type"] == "send":
                assert j["recipient_number"] in completed_calls, f"{j} completed without a call"
        # Run the queue again: every job finishes.
        httpx.patch(f"{server.api}/config", json={"pause_server_queue": False})
        with httpx.stream("GET", f"{server.api}/events", params={"after": 0}, timeout=40) as s:
            for line in s.iter_lines():
                if not line.startswith("data: "):
                    continue
                left = [
                    j
                    for j in all_jobs(server.api)
                    if j["queue_status"]
                    not in ("completed", "failed", "retries_exceeded", "canceled")
                ]
                if not left:
                    break
        final = all_jobs(server.api)
        assert all(j["queue_status"] == "completed" for j in final), [
            j for j in final if j["queue_status"] != "completed"
        ]
        assert len(submitter.acked) >= ROUNDS * 3
    finally:
        submitter.stop_flag.set()
        server.close()
