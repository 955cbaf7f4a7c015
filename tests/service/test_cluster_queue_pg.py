"""Three real ``lanfax serve`` nodes sharing one queue (issue #18): one real PostgreSQL and one
shared spool directory (the same ``--data`` for all three), each node with its own lines of
the test provider, whose every call is written to that node's line log (the far end: what
really reached a line, pages included).

* 300 jobs submitted round-robin to the three nodes all complete, each exactly once: one
  COMPLETED in the database, one completed call at the lines with its pages; a client
  following C's event stream from before the first submission sees every event of every job,
  in cursor order, with no gap (exactly what the database holds), and each job's own events
  in the order they happened;
* SIGKILL one node mid-run: the jobs it had on a call are taken over by the others only after
  its lease ran out, and every job still completes exactly once;
* routing jobs a dead node left are routed by the others, each exactly once;
* e-mail receipts, raced for by every node once due, are mailed exactly once each;
* faxes a dead node left unarchived are archived by another node's catch-up, once.

Each job goes to its own number (555NNNN), so a line log entry names its job.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.faxes import make_fax_tiff
from tests.support.pg import PgServer, pg_unavailable
from tests.support.server import LanfaxServer

from lanfax.client import Client
from lanfax.model.codes import EventId, JobType, QueueStatus
from lanfax.model.events import Event
from lanfax.model.wire import from_wire
from lanfax.store import open_store

pytestmark = pytest.mark.slow

PROVIDER = "tests.support.testprovider:TestProvider"
HEARTBEAT_S = 1
LEASE_S = 3
PAGES = 2


@dataclass
class Cluster:
    pg: PgServer
    data: Path
    nodes: dict[str, LanfaxServer] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    @property
    def token(self) -> str:
        # The first node to start created the administrator with its LANFAX_ADMIN_TOKEN.
        return self.nodes["a"].token

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def line_calls(self) -> list[dict[str, Any]]:
        """Every call that ended at a line of any node (each node's line log)."""
        out: list[dict[str, Any]] = []
        for name, log in self.logs.items():
            if log.exists():
                for line in log.read_text().splitlines():
                    if line.strip():
                        out.append({**json.loads(line), "node": name})
        return out


def _toml(
    url: str, name: str, log: Path, lines: int, duration: tuple[float, float], extra: str = ""
) -> str:
    numbers = ", ".join(f'{{number = "{n}"}}' for n in range(200, 200 + lines))
    return extra + (
        f'[server]\ndatabase = "{url}"\n'
        f'[node]\nname = "{name}"\nheartbeat_s = {HEARTBEAT_S}\nlease_s = {LEASE_S}\n'
        "[settings]\nretries = 3\nretry_delay = 0\n"
        f'[[providers]]\ntype = "{PROVIDER}"\nlines = [{numbers}]\n'
        f'duration = [{duration[0]}, {duration[1]}]\nlog = "{log}"\n'
    )


def _cluster(
    tmp: Path, lines: int = 3, duration: tuple[float, float] = (0.0, 0.0), extra: str = ""
) -> Iterator[Cluster]:
    why = pg_unavailable()
    if why is not None:
        pytest.skip(f"PostgreSQL not available: {why}")
    c = Cluster(PgServer(), tmp / "shared-data")
    try:
        for name in ("a", "b", "c"):
            home = tmp / f"node-{name}"
            home.mkdir()
            c.logs[name] = home / "lines.jsonl"
            toml = _toml(c.pg.url, name, c.logs[name], lines, duration, extra)
            server = LanfaxServer(home, toml, [])
            server.data_dir = c.data  # one spool for the three nodes
            if c.nodes:
                server.token = c.token
            c.nodes[name] = server.start()
        yield c
    finally:
        for n in c.nodes.values():
            n.close()
        c.pg.close()


def _submit_round_robin(c: Cluster, tiff: Path, count: int) -> dict[int, str]:
    """Submit ``count`` jobs, job i to node i % 3 (one client thread per node); job id ->
    the node it was submitted to."""
    data = tiff.read_bytes()
    names = list(c.nodes)
    where: dict[int, str] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def submit(k: int) -> None:
        name = names[k]
        try:
            with Client(c.nodes[name].url, token=c.token) as client:
                for i in range(k, count, len(names)):
                    (job,) = client.send([("doc.tif", data)], f"555{i:04d}")
                    with lock:
                        where[job.job_id] = name
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(k,)) for k in range(len(names))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    assert len(where) == count
    return where


def _wait_all_final(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with open_store(url) as store:
        while unfinished := store.unfinished_jobs():
            if time.monotonic() > deadline:
                states = Counter(j.queue_status.name for j in unfinished)
                raise AssertionError(f"{len(unfinished)} job(s) unfinished: {dict(states)}")
            threading.Event().wait(0.2)


def _all_events(url: str, after: int = 0) -> list[Event]:
    out: list[Event] = []
    with open_store(url) as store:
        while batch := store.events_after(after, 5000):
            out += batch
            after = batch[-1].seq
    return out


def _completed_once(url: str, jobs: dict[int, str]) -> dict[int, list[Event]]:
    """Every job is COMPLETED in the database with exactly one COMPLETED event; each job's
    events by job id."""
    with open_store(url) as store:
        for job_id in jobs:
            job = store.get_job(job_id)
            assert job is not None and job.job_type is JobType.SEND
            assert job.queue_status is QueueStatus.COMPLETED, job
            assert job.pages_done == PAGES, job
    by_job: dict[int, list[Event]] = defaultdict(list)
    for ev in _all_events(url):
        if ev.job_id in jobs:
            by_job[ev.job_id].append(ev)
    for job_id in jobs:
        done = [e for e in by_job[job_id] if e.event_id is EventId.COMPLETED]
        assert len(done) == 1, (job_id, by_job[job_id])
    return by_job


def _number_of(i: int) -> str:
    return f"555{i:04d}"


def _line_counts(c: Cluster) -> tuple[Counter[str], Counter[str]]:
    """Completed calls per number at the lines, and the pages they carried."""
    calls, pages = Counter[str](), Counter[str]()
    for call in c.line_calls():
        if call["status"] == "completed":
            calls[call["number"]] += 1
            pages[call["number"]] += int(call["pages"])
    return calls, pages


# -- 300 jobs, round-robin, followed on C's event stream -----------------------------------------


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    yield from _cluster(tmp_path)


def test_300_jobs_round_robin_complete_each_exactly_once(cluster: Cluster, tmp_path: Path) -> None:
    c = cluster
    tiff = make_fax_tiff(tmp_path / "doc", pages=PAGES)
    node_c = c.nodes["c"]
    start = httpx.get(f"{node_c.api}/server", headers=c.admin, timeout=30).json()["last_event_seq"]
    streamed: list[dict[str, Any]] = []
    opened, stop = threading.Event(), threading.Event()
    stream_error: list[BaseException] = []

    def follow() -> None:
        try:
            with httpx.stream(
                "GET",
                f"{node_c.api}/events",
                params={"after": start},
                headers=c.admin,
                timeout=httpx.Timeout(30, read=None),
            ) as resp:
                opened.set()
                for line in resp.iter_lines():
                    if line.startswith("data: "):
                        streamed.append(json.loads(line[6:]))
                    if stop.is_set():
                        return
        except BaseException as exc:  # reported below
            stream_error.append(exc)

    t = threading.Thread(target=follow, daemon=True)
    t.start()
    assert opened.wait(30)
    jobs = _submit_round_robin(c, tiff, 300)
    _wait_all_final(c.pg.url, timeout=300)
    by_job = _completed_once(c.pg.url, jobs)

    # At the lines: every number reached exactly once, with every page.
    calls, pages = _line_counts(c)
    assert calls == Counter({_number_of(i): 1 for i in range(300)})
    assert set(pages.values()) == {PAGES}
    dialled_by = Counter(call["node"] for call in c.line_calls())
    assert len(dialled_by) >= 2, dialled_by  # the three nodes' lines shared the work
    # One queue: jobs were dialled by other nodes than the one they were submitted to (node
    # n numbers its devices n * 65536 + 1 ...; a, b, c are nodes 0, 1, 2).
    names = list(c.nodes)
    dialler = {
        job_id: names[next(e for e in evs if e.event_id is EventId.DIALING).device_id >> 16]
        for job_id, evs in by_job.items()
    }
    assert any(dialler[j] != jobs[j] for j in jobs), "every job was dialled where submitted"

    # C's stream: every event after the cursor, in cursor order, no gap, none twice.
    last = max(e.seq for evs in by_job.values() for e in evs)
    deadline = time.monotonic() + 60
    while not streamed or streamed[-1]["seq"] < last:
        assert not stream_error, stream_error
        assert time.monotonic() < deadline, "C's stream did not reach the last job event"
        threading.Event().wait(0.1)
    stop.set()
    seqs = [e["seq"] for e in streamed if e["seq"] <= last]
    held = [e.seq for e in _all_events(c.pg.url, start) if e.seq <= last]
    assert seqs == held
    # ... and each job's own events as the database has them, in order.
    seen: dict[int, list[EventId]] = defaultdict(list)
    for raw in streamed:
        ev = from_wire(Event, raw)
        if ev.job_id in jobs:
            seen[ev.job_id].append(ev.event_id)
    for job_id, evs in by_job.items():
        ids = seen[job_id]
        assert ids == [e.event_id for e in evs], job_id
        assert ids[0] is EventId.JOB_QUEUED and ids[-1] is EventId.COMPLETED, ids
        assert EventId.DIALING in ids, ids


# -- SIGKILL one node mid-run ----------------------------------------------------------------------


@pytest.fixture
def slow_cluster(tmp_path: Path) -> Iterator[Cluster]:
    # Calls of 0.5-1 s, so that a node killed mid-run has calls on its lines.
    yield from _cluster(tmp_path, lines=3, duration=(0.5, 1.0))


def _on_call_of(pg: PgServer, node: str) -> set[int]:
    """The jobs ``node`` holds on a call (its lease, expired or not), read from the database."""
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=pg.port, user="postgres", dbname="lanfax", autocommit=True
    ) as conn:
        rows = conn.execute(
            "SELECT job_id FROM jobs WHERE owner_node = %s AND queue_status IN (%s, %s)",
            (node, int(QueueStatus.IN_PROGRESS), int(QueueStatus.CANCELING)),
        ).fetchall()
    return {int(r[0]) for r in rows}


def test_a_killed_nodes_jobs_are_taken_over_after_its_lease_none_twice(
    slow_cluster: Cluster, tmp_path: Path
) -> None:
    c = slow_cluster
    url = c.pg.url
    tiff = make_fax_tiff(tmp_path / "doc", pages=PAGES)
    count = 60
    # Submitted first (B could not answer a submission once killed); with nine lines taking
    # 0.5-1 s a call, the queue is still running when B has calls on its lines.
    submitted = _submit_round_robin(c, tiff, count)
    deadline = time.monotonic() + 60
    while not _on_call_of(c.pg, "b"):
        assert time.monotonic() < deadline, "B never had a call"
        threading.Event().wait(0.05)
    c.nodes["b"].kill()
    killed_at = time.time()
    taken = _on_call_of(c.pg, "b")  # B is dead: what it held stays held until its lease ends
    assert taken, "B's calls ended before the kill"
    _wait_all_final(url, timeout=120)
    by_job = _completed_once(url, submitted)

    # Taken over only after B's lease ran out (it was last renewed at most one heartbeat
    # before the kill), and by the living nodes.
    earliest = killed_at + LEASE_S - HEARTBEAT_S - 0.5
    for job_id in taken:
        after = [e for e in by_job[job_id] if e.timestamp.timestamp() >= killed_at]
        assert after, (job_id, by_job[job_id])
        assert after[0].timestamp.timestamp() >= earliest, (job_id, after[0], killed_at)
        assert (after[-1].device_id >> 16) != 1, after  # completed on a line of A or C
    metrics = 0.0
    for name in ("a", "c"):
        text = httpx.get(f"{c.nodes[name].url}/metrics", headers=c.admin, timeout=30).text
        for line in text.splitlines():
            if line.startswith("lanfax_lease_takeovers_total"):
                metrics += float(line.rsplit(" ", 1)[1])
    assert metrics >= len(taken)

    # At the lines: every number completed once. The one exception a crash allows: a call
    # that B's line had completed when B died, before B could write it (its log has it,
    # the database did not): that job was sent again by its new owner.
    calls, pages = _line_counts(c)
    b_completed = {
        call["number"]
        for call in c.line_calls()
        if call["node"] == "b" and call["status"] == "completed"
    }
    numbers = {_number_of(i) for i in range(count)}
    assert set(calls) == numbers
    twice = {n for n, k in calls.items() if k > 1}
    assert all(calls[n] == 2 for n in twice), calls
    assert twice <= b_completed, twice - b_completed
    assert all(pages[n] == PAGES * calls[n] for n in numbers), pages


# -- routing jobs a dead node left -------------------------------------------------------------


def test_a_dead_nodes_routing_jobs_are_routed_once_by_the_others(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Twelve received faxes of a node that died while routing them (its lease on them ran out
    an hour ago), and a thirteenth whose route failed there, due again in 8 s: the three live
    nodes find them in the database, claim them and route each exactly once (the default
    route, a folder in the shared data directory, names each file after its job and would
    add "-1" to a second copy), the retry not before it is due."""
    import shutil
    from datetime import UTC, datetime, timedelta

    from lanfax.model.jobs import Job
    from lanfax.routing.builtin import FOLDER_GUID

    c = cluster
    tiff = make_fax_tiff(tmp_path / "rx", pages=PAGES)
    now = datetime.now(UTC)
    received = c.data / "spool" / "received"
    for i in range(13):
        shutil.copyfile(tiff, received / f"dead-{i}.tif")
    retry_at = now + timedelta(seconds=8)
    retry_state = {"done": [], "pending": [FOLDER_GUID], "retry": [FOLDER_GUID], "errors": {}}
    with open_store(c.pg.url) as store:
        jobs = store.add_jobs(
            [
                Job(
                    0,
                    JobType.RECEIVE,
                    QueueStatus.ROUTING,
                    now,
                    device_id=(9 << 16) | 1,  # node 9: not one of the three
                    started_at=now,
                    completed_at=now,
                    page_count=PAGES,
                    pages_done=PAGES,
                    remote_ident="DEAD NODE",
                    caller_id="5550100",
                    document_path=f"received/dead-{i}.tif",
                )
                for i in range(12)
            ]
            + [
                Job(
                    0,
                    JobType.ROUTING,
                    QueueStatus.ROUTING,
                    now,
                    device_id=(9 << 16) | 1,
                    started_at=now,
                    completed_at=now,
                    page_count=PAGES,
                    pages_done=PAGES,
                    remote_ident="DEAD NODE",
                    caller_id="5550100",
                    document_path="received/dead-12.tif",
                    attempts=1,
                    next_attempt_at=retry_at,
                    extra={"routing": retry_state},
                )
            ]
        )
        ids = {j.job_id: "gone" for j in jobs}
        held = store.leases.claim(
            "gone",
            now - timedelta(hours=1),
            timedelta(seconds=1),
            statuses={QueueStatus.ROUTING},
            job_ids=[j.job_id for j in jobs[:12]],  # the retry's lease went with its outcome
        )
        assert len(held) == 12
    _wait_all_final(c.pg.url, timeout=120)
    with open_store(c.pg.url) as store:
        for job_id in ids:
            job = store.get_job(job_id)
            assert job is not None and job.queue_status is QueueStatus.COMPLETED, job
            assert "routed to" in job.status_text, job
    routed = [
        e
        for e in _all_events(c.pg.url)
        if e.job_id in ids and e.event_id is EventId.JOB_CHANGED and "routed" in e.detail
    ]
    assert Counter(e.job_id for e in routed) == Counter(dict.fromkeys(ids, 1))
    (retried,) = [e for e in routed if e.job_id == jobs[-1].job_id]
    assert retried.timestamp >= retry_at, (retried, retry_at)
    files = sorted(p.name for p in (c.data / "inbox").glob("*.tif"))
    for job_id in ids:
        mine = [f for f in files if f.endswith((f"_{job_id}.tif", f"_{job_id}-1.tif"))]
        assert len(mine) == 1 and mine[0].endswith(f"_{job_id}.tif"), (job_id, files)


# -- receipts: mailed once each, whichever node mails ---------------------------------------------


@pytest.fixture
def mail_cluster(tmp_path: Path) -> Iterator[tuple[Cluster, int]]:
    """Three nodes whose receipts go to a mail server on a port nothing listens on yet."""
    from tests.support.receivers import free_port

    port = free_port()
    receipts = (
        f'[receipts]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\nsecurity = "none"\n'
        'sender = "lanfax@example.com"\nretry_base = 1\nretry_cap = 2\nmax_tries = 100\n'
    )
    for c in _cluster(tmp_path, extra=receipts):
        yield c, port


def test_receipts_are_mailed_once_each_by_one_of_the_nodes(
    mail_cluster: tuple[Cluster, int], tmp_path: Path
) -> None:
    """24 jobs asking for an e-mail receipt, submitted round-robin, while the mail server is
    down: every node sees every pending receipt fall due at the same moment and races for it;
    once the server is up, each receipt is mailed exactly once (claimed before it is mailed,
    its outcome fenced on the claim)."""
    from tests.support.receivers import SmtpReceiver

    c, port = mail_cluster
    tiff = make_fax_tiff(tmp_path / "doc", pages=1)
    names = list(c.nodes)
    jobs: list[int] = []
    for i in range(24):
        params = {
            "recipients": [{"recipient_number": _number_of(i)}],
            "delivery_report_type": "email",
            "delivery_report_address": "ada@example.com",
        }
        r = httpx.post(
            f"{c.nodes[names[i % 3]].api}/jobs",
            data={"params": json.dumps(params)},
            files=[("file", ("doc.tif", tiff.read_bytes(), "image/tiff"))],
            headers=c.admin,
            timeout=30,
        )
        assert r.status_code == 201, r.text
        jobs.append(r.json()["jobs"][0]["job_id"])
    _wait_all_final(c.pg.url, timeout=120)

    def states() -> Counter[str]:
        with open_store(c.pg.url) as store:
            return Counter(r.state for r in store.receipts.list_for(None, limit=100))

    deadline = time.monotonic() + 60
    while states()["pending"] < len(jobs):  # each made (and tried: the server is down)
        assert time.monotonic() < deadline, states()
        threading.Event().wait(0.2)
    smtp = SmtpReceiver(port).start()
    try:
        deadline = time.monotonic() + 90
        while states()["sent"] < len(jobs):
            assert time.monotonic() < deadline, states()
            threading.Event().wait(0.2)
        mailed = Counter(int(str(m["X-Lanfax-Job"])) for m in smtp.messages())
        assert mailed == Counter(dict.fromkeys(jobs, 1))
        assert states() == Counter({"sent": len(jobs)})
    finally:
        smtp.stop()


# -- archive catch-up of a dead node's faxes ------------------------------------------------------


def test_a_dead_nodes_unarchived_faxes_are_archived_by_another_nodes_catch_up(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Five faxes a node received and completed two minutes ago, then died before archiving:
    node C, restarted, claims them in its start-up catch-up and archives each once; no
    lease is left on them."""
    import shutil
    from datetime import UTC, datetime, timedelta

    from lanfax.model.jobs import Job

    c = cluster
    tiff = make_fax_tiff(tmp_path / "rx", pages=PAGES)
    then = datetime.now(UTC) - timedelta(minutes=2)
    received = c.data / "spool" / "received"
    for i in range(5):
        shutil.copyfile(tiff, received / f"gone-{i}.tif")
    with open_store(c.pg.url) as store:
        jobs = store.add_jobs(
            [
                Job(
                    0,
                    JobType.RECEIVE,
                    QueueStatus.COMPLETED,
                    then,
                    device_id=(9 << 16) | 1,
                    started_at=then,
                    completed_at=then,
                    page_count=PAGES,
                    pages_done=PAGES,
                    caller_id="5550100",
                    document_path=f"received/gone-{i}.tif",
                )
                for i in range(5)
            ]
        )
    c.nodes["c"].restart()
    ids = [j.job_id for j in jobs]
    deadline = time.monotonic() + 60
    with open_store(c.pg.url) as store:
        while not all(store.archive.find("incoming", i) for i in ids):
            assert time.monotonic() < deadline, "not archived"
            threading.Event().wait(0.2)
        entries = [store.archive.find("incoming", i) for i in ids]
        assert all(e is not None and Path(e.path).is_file() for e in entries), entries
        assert store.archive.totals("incoming")[0] == 5
        deadline = time.monotonic() + 30
        while store.leases.owners(ids):  # each claim given back once archived
            assert time.monotonic() < deadline, store.leases.owners(ids)
            threading.Event().wait(0.2)
    names = sorted(p.name for p in (c.data / "archive" / "incoming").rglob("*.tif"))
    assert names == sorted(f"{i}.tif" for i in ids)
