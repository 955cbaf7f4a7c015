"""Jobs dispatched per second and submit-to-dial latency with 1, 2 and 3 nodes (issue #18).

Starts a private PostgreSQL (tests/support/pg.py) and, for each cluster size, a fresh database
and that many real ``lanfax serve`` processes on it, each with four lines of the test provider
(calls of zero length: what is measured is lanfax, not the line). Jobs (a one-page fax-ready
TIFF to an outside number) are submitted round-robin to the nodes, one client thread per node;
the run ends when no job is unfinished. From the events in the database:

* jobs/s: jobs completed per second, first submission to last completion;
* submit-to-dial: JOB_QUEUED to DIALING of each job (both stamped by the node that had it),
  median and 95th percentile.

What this measures today: each node dispatches the jobs submitted to it (leases and planning
from the database are not built, docs/scaling.md), so it shows what the nodes' shared write
path costs (every PostgreSQL write takes the cluster's write-order lock), not a shared queue.

    .venv/bin/python bench/cluster.py                 # 300 jobs per size
    .venv/bin/python bench/cluster.py --jobs 90 --sizes 1 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.faxes import make_fax_tiff
from tests.support.pg import PgServer, pg_unavailable
from tests.support.server import LanfaxServer, start_lanfax_server

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


def run_size(pg: PgServer, size: int, jobs: int, tiff: Path, work: Path) -> dict[str, float]:
    url = _create_database(pg, f"bench_{size}_{int(time.time())}")
    nodes: list[LanfaxServer] = []
    try:
        for i in range(size):
            d = work / f"n{size}-{i}"
            d.mkdir()
            nodes.append(start_lanfax_server(d, _node_toml(url, f"node{i}", i + 1)))
        token = nodes[0].token
        data = tiff.read_bytes()
        errors: list[BaseException] = []

        def submit(node: LanfaxServer, count: int) -> None:
            try:
                with Client(node.url, token=token) as c:
                    for _ in range(count):
                        c.send([("page.tif", data)], "5550100")
            except BaseException as exc:  # reported below
                errors.append(exc)

        shares = [jobs // size + (1 if i < jobs % size else 0) for i in range(size)]
        began = time.monotonic()
        threads = [
            threading.Thread(target=submit, args=(n, k)) for n, k in zip(nodes, shares, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        with open_store(url) as store:
            deadline = time.monotonic() + 600
            while store.unfinished_jobs():
                if time.monotonic() > deadline:
                    raise RuntimeError("jobs still unfinished after 600 s")
                time.sleep(0.05)
            elapsed = time.monotonic() - began
            queued: dict[int, float] = {}
            dialled: dict[int, float] = {}
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
                    elif ev.event_id is EventId.COMPLETED:
                        done += 1
        lat = sorted(dialled[j] - queued[j] for j in dialled if j in queued)
        return {
            "jobs": float(done),
            "jobs_per_s": done / elapsed,
            "median_ms": statistics.median(lat) * 1000,
            "p95_ms": lat[int(0.95 * (len(lat) - 1))] * 1000,
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
            print(f"{args.jobs} jobs per run, 4 zero-length lines per node, PostgreSQL")
            print(f"{'nodes':>5} {'jobs done':>9} {'jobs/s':>8} {'dial p50 ms':>12} {'p95 ms':>8}")
            for size in args.sizes:
                r = run_size(pg, size, args.jobs, tiff, work)
                print(
                    f"{size:>5} {int(r['jobs']):>9} {r['jobs_per_s']:>8.1f}"
                    f" {r['median_ms']:>12.1f} {r['p95_ms']:>8.1f}",
                    flush=True,
                )
    finally:
        pg.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
