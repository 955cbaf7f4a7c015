"""Durability before acknowledgement: SIGKILL a writer at a random moment, lose nothing it
acknowledged, and never keep half a batch.

A child process adds batches of jobs in a loop and, after each ``add_jobs`` returns, prints the
batch's ids to a pipe. The parent kills it with SIGKILL after a random number of batches (plus
a random few milliseconds, so the kill also lands inside a commit), reopens the database, and
checks that every printed id is there and every batch is whole or absent.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from lanfax.store import JobQuery, open_store

CHILD = r"""
import sys
from datetime import UTC, datetime
from lanfax.model.codes import EventId, JobType, QueueStatus
from lanfax.model.events import NewEvent
from lanfax.model.jobs import Job
from lanfax.store import open_store

url, tag = sys.argv[1], sys.argv[2]
store = open_store(url)
n = 0
while True:
    n += 1
    size = 1 + n % 5
    bid = f"{tag}-{n}-{size}"
    jobs = [
        Job(0, JobType.SEND, QueueStatus.PENDING, datetime.now(UTC), recipient_number=str(i),
            broadcast_id=bid, extra={"pad": "x" * 2000})
        for i in range(size)
    ]
    added = store.add_jobs(jobs, [NewEvent(EventId.JOB_QUEUED, job_id=0)] * size)
    print(bid, ",".join(str(j.job_id) for j in added), flush=True)
"""


def test_sigkill_loses_no_acknowledged_job_and_no_batch_is_partial(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    rng = random.Random()
    seed = rng.randrange(2**32)
    rng.seed(seed)
    acknowledged: dict[str, list[int]] = {}
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for round_ in range(6):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, url, f"r{round_}"],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert child.stdout is not None
        try:
            for _ in range(rng.randrange(3, 40)):
                line = child.stdout.readline()
                assert line, f"child died early (seed {seed})"
                bid, ids = line.split()
                acknowledged[bid] = [int(i) for i in ids.split(",")]
            # Not a wait for a condition: a random extra delay so the kill lands anywhere.
            time.sleep(rng.uniform(0, 0.02))
        finally:
            child.send_signal(signal.SIGKILL)
            rest, _ = child.communicate(timeout=30)
        # Lines written before the kill were acknowledged too.
        for line in rest.splitlines():
            if line.count(" ") == 1 and line.endswith(tuple("0123456789")):
                bid, ids = line.split()
                acknowledged[bid] = [int(i) for i in ids.split(",")]

    with open_store(url) as store:
        all_jobs = store.list_jobs(JobQuery(limit=10_000))
        stored_ids = {j.job_id for j in all_jobs}
        for bid, got in acknowledged.items():
            missing = set(got) - stored_ids
            assert not missing, f"acknowledged jobs lost: {bid} {missing} (seed {seed})"
        per_batch = Counter(j.broadcast_id for j in all_jobs)
        for bid, count in per_batch.items():
            size = int(bid.rsplit("-", 1)[1])
            assert count == size, f"partial batch {bid}: {count} of {size} (seed {seed})"
        # Each job's JOB_QUEUED event committed with it.
        queued = [e.job_id for e in store.events_after(0, limit=10_000)]
        assert sorted(queued) == sorted(stored_ids)
    import sqlite3

    with sqlite3.connect(tmp_path / "crash.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
