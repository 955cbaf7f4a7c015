"""Jobs dispatched per second and submit-to-dial latency with 1, 2 and 3 nodes (issue #18).

Starts a private PostgreSQL (tests/support/pg.py) and, for each cluster size, a fresh database,
a fresh shared data directory (one spool) and that many real ``lanfax serve`` processes on
them, each with four lines of the test provider (calls of zero length: what is measured is
lanfax, not the line). The nodes share one queue (#18: each send is claimed with a lease by
whichever node has an idle line). Jobs (a one-page fax-ready TIFF to an outside number) are
submitted round-robin to the nodes, one client thread per node; the run ends when no job is
unfinished. From the events in the database:

* jobs/s: jobs completed per second, first submission to last completion;
* submit-to-dial: JOB_QUEUED (stamped by the node that took the submission) to DIALING
  (stamped by the node that dialled), median and 95th percentile;
* dialled elsewhere: the share of jobs dialled by another node than the one submitted to;
* CPU ms/job: the nodes' processes' CPU time (user + system, /proc) over the run per job,
  which a loaded machine changes much less than wall-clock figures.

    .venv/bin/python bench/cluster.py                 # 300 jobs per size
    .venv/bin/python bench/cluster.py --jobs 90 --sizes 1 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.faxes import make_fax_tiff
from tests.support.pg import PgServer, pg_unavailable
from tests.support.server import LanfaxServer

from lanfax.client import Client
from lanfax.model.codes import EventId
from lanfax.store import open_store

PROVIDER = "tests.support.testprovider:TestProvider"


def _create_database(pg: PgServer, name: str) -> str:
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=pg.port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg.url.rsplit("/", 1)[0] + f"/{name}"


def _node_toml(url: str, name: str, index: int) -> str:
    lines = ", ".join(f'{{number = "{index}{k:02d}"}}' for k in range(4))
    return (
        f'[server]\ndatabase = "{url}"\n[node]\nname = "{name}"\n'
        "[settings]\nretries = 0\n"
        f'[[providers]]\ntype = "{PROVIDER}"\nlines = [{lines}]\n'
    )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _nodes_cpu(nodes: list[LanfaxServer]) -> float:
    return sum(_cpu_seconds(n.proc.pid) for n in nodes if n.proc is not None)


def run_size(pg: PgServer, size: int, jobs: int, tiff: Path, work: Path) -> dict[str, float]:
    url = _create_database(pg, f"bench_{size}_{int(time.time())}")
    nodes: list[LanfaxServer] = []
    shared = work / f"data-{size}"  # one spool for the cluster: any node dials any job
    try:
        for i in range(size):
            d = work / f"n{size}-{i}"
            d.mkdir()
            node = LanfaxServer(d, _node_toml(url, f"node{i}", i + 1), [])
            node.data_dir = shared
            if nodes:
                node.token = nodes[0].token
            nodes.append(node.start())
        token = nodes[0].token
        data = tiff.read_bytes()
        errors: list[BaseException] = []
        submitted_to: dict[int, int] = {}

        def submit(index: int, node: LanfaxServer, count: int) -> None:
            try:
                with Client(node.url, token=token) as c:
                    for _ in range(count):
                        for job in c.send([("page.tif", data)], "5550100"):
                            submitted_to[job.job_id] = index
            except BaseException as exc:  # reported below
                errors.append(exc)

        shares = [jobs // size + (1 if i < jobs % size else 0) for i in range(size)]
        cpu_before = _nodes_cpu(nodes)
        began = time.monotonic()
        threads = [
            threading.Thread(target=submit, args=(i, n, k))
            for i, (n, k) in enumerate(zip(nodes, shares, strict=True))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        with open_store(url) as store:
            deadline = time.monotonic() + 120
            while unfinished := store.unfinished_jobs():
                if time.monotonic() > deadline:
                    states = sorted({j.queue_status.name for j in unfinished})
                    raise RuntimeError(
                        f"{len(unfinished)} job(s) still unfinished after 120 s: {states}"
                        f"\n{nodes[0].log_tail(15)}"
                    )
                time.sleep(0.05)
            elapsed = time.monotonic() - began
            cpu = _nodes_cpu(nodes) - cpu_before
            queued: dict[int, float] = {}
            dialled: dict[int, float] = {}
            dialled_by: dict[int, int] = {}
            done = 0
            after = 0
            while batch := store.events_after(after, 5000):
                after = batch[-1].seq
                for ev in batch:
                    t = ev.timestamp.timestamp()
                    if ev.event_id is EventId.JOB_QUEUED:
                        queued[ev.job_id] = t
                    elif ev.event_id is EventId.DIALING:
                        dialled.setdefault(ev.job_id, t)
                        dialled_by.setdefault(ev.job_id, ev.device_id >> 16)
                    elif ev.event_id is EventId.COMPLETED:
                        done += 1
        lat = sorted(dialled[j] - queued[j] for j in dialled if j in queued)
        elsewhere = sum(1 for j, n in dialled_by.items() if submitted_to.get(j, n) != n)
        return {
            "jobs": float(done),
            "jobs_per_s": done / elapsed,
            "median_ms": statistics.median(lat) * 1000,
            "p95_ms": lat[int(0.95 * (len(lat) - 1))] * 1000,
            "elsewhere": 100.0 * elsewhere / max(len(dialled_by), 1),
            "cpu_ms_per_job": 1000.0 * cpu / max(done, 1),
        }
    finally:
        for n in nodes:
            n.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=300)
    p.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 3])
    args = p.parse_args()
    why = pg_unavailable()
    if why is not None:
        print(f"bench/cluster.py needs a private PostgreSQL: {why}")
        return 1
    pg = PgServer()
    try:
        with tempfile.TemporaryDirectory(prefix="lanfax-cluster-bench-") as tmp:
            work = Path(tmp)
            tiff = make_fax_tiff(work / "doc", pages=1)
            print(
                f"{args.jobs} jobs per run, 4 zero-length lines per node, one PostgreSQL, one"
                f" shared spool, one shared queue; load average {os.getloadavg()[0]:.1f}"
            )
            print(
                f"{'nodes':>5} {'jobs done':>9} {'jobs/s':>8} {'dial p50 ms':>12}"
                f" {'p95 ms':>8} {'dialled elsewhere':>18} {'CPU ms/job':>11}"
            )
            for size in args.sizes:
                r = run_size(pg, size, args.jobs, tiff, work)
                print(
                    f"{size:>5} {int(r['jobs']):>9} {r['jobs_per_s']:>8.1f}"
                    f" {r['median_ms']:>12.1f} {r['p95_ms']:>8.1f}"
                    f" {r['elsewhere']:>17.0f}% {r['cpu_ms_per_job']:>11.1f}",
                    flush=True,
                )
            print(f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        pg.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
