"""The chaos campaign (issue #14): many faxes through a real ``lanfax serve`` while it is
SIGKILLed at random moments and its disk fills up once, then the invariants.

Used by ``bench/chaos.py`` (the full campaign, with a table) and by
``tests/service/test_chaos.py`` (a short run in the suite). One engine, two sizes.

Set-up: virtual lines 100 and 101 send, 102 only receives; 102 routes every fax to its inbox
folder and to a web hook (a real HTTP server on loopback). Every job has its own document of
1-5 pages whose pages differ from every other page of the campaign, so a page found at line
102 names its job and page. Numbers: mostly ``102``; some ``*31N#102`` (the line drops after
N pages, the retries resume after the confirmed pages), ``*32SS#102`` (a noisy line at 20-30
dB SNR), ``*10`` (busy) and ``*11`` (no answer), which end in retries exceeded. RetryDelay
0, so retries follow at once.

Faults: the service is SIGKILLed ``kills`` times at random moments and started again; if a
small filesystem can be mounted (root), the data directory is a tmpfs that is filled once for
a few seconds and emptied; against PostgreSQL (``pg``), the database is stopped once for 3-6 s
and started again.

Invariants checked at the end (:class:`ChaosReport`):

* every accepted job ended in exactly one final state, none is stuck;
* no fax reached line 102 twice: no job of two pages or more has all its pages there more
  than once (single pages re-sent after a kill between the far end's MCF and its commit are
  counted apart: that window is inherent to fax, HylaFAX has it too; for a one-page fax that
  page is the whole fax, so a one-page fax received twice is counted with the single pages);
* every completed job to line 102 has each of its pages there at least once;
* every fax 102 received in full was routed (inbox and web hook), none left routing;
* the service answered /health throughout, except while it was killed.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import random
import shutil
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, UnidentifiedImageError
from tests.support.authhttp import httpx
from tests.support.pg import PgServer
from tests.support.receivers import WebhookReceiver, free_port
from tests.support.server import LanfaxServer, start_lanfax_server
from tests.support.smallfs import SmallFs

from lanfax.documents.tiffio import is_fax_ready
from lanfax.service import docs

FINAL = {"completed", "failed", "retries_exceeded", "canceled"}
SECRET = "a-long-shared-secret-0123456789"
WEBHOOK = "{85273ed7-d9e4-4e33-9136-3792d97f723e}"


@dataclass
class ChaosConfig:
    workdir: Path
    jobs: int = 200
    kills: int = 10
    fill_disk: bool = True
    seed: int = 1
    #: Seconds the whole campaign may take before it is declared stuck.
    timeout: float = 1800.0
    #: Where the data directory lives; a SmallFs makes the disk-full fault possible.
    smallfs: SmallFs | None = None
    #: A PostgreSQL server to run against, stopped once for a few seconds (None: SQLite).
    pg: PgServer | None = None


@dataclass
class ChaosReport:
    accepted: int = 0
    refused: int = 0
    final: Counter[str] = field(default_factory=Counter)
    not_final: list[dict[str, Any]] = field(default_factory=list)
    kills: int = 0
    disk_filled: bool = False
    database_outage: float = 0.0
    #: How the database's restart after the outage went: "" (no outage), "started", or why not.
    database_restart: str = ""
    receives: int = 0
    fail_receives: int = 0
    routed: int = 0
    not_routed: list[int] = field(default_factory=list)
    webhook_faxes: int = 0
    whole_duplicates: list[int] = field(default_factory=list)
    page_duplicates: int = 0
    missing_pages: list[tuple[int, int]] = field(default_factory=list)
    health_gaps: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            not self.not_final
            and not self.whole_duplicates
            and not self.missing_pages
            and not self.not_routed
            and not self.health_gaps
        )

    def table(self) -> str:
        rows = [
            ("jobs accepted", self.accepted),
            ("submissions refused (disk full)", self.refused),
            *((f"  final: {k}", v) for k, v in sorted(self.final.items())),
            ("jobs not final (stuck)", len(self.not_final)),
            ("SIGKILLs", self.kills),
            ("disk filled once", self.disk_filled),
            ("database unavailable (s)", round(self.database_outage, 1)),
            ("receives at 102 (whole)", self.receives),
            ("failed receives (partial, kept)", self.fail_receives),
            ("received faxes routed", self.routed),
            ("received faxes not routed", len(self.not_routed)),
            ("faxes delivered to the web hook", self.webhook_faxes),
            ("faxes received twice (whole)", len(self.whole_duplicates)),
            ("single pages received twice", self.page_duplicates),
            ("pages of completed jobs missing", len(self.missing_pages)),
            ("health gaps outside kills (> 5 s)", len(self.health_gaps)),
            ("seconds", round(self.seconds, 1)),
        ]
        width = max(len(r[0]) for r in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _page(job: int, page: int, pages: int) -> Image.Image:
    """A page no other page of the campaign looks like: the job and page as bars."""
    im = Image.new("1", (1728, 400), 1)
    d = ImageDraw.Draw(im)
    for bit in range(12):
        if (job >> bit) & 1:
            d.rectangle((40 + bit * 60, 40, 80 + bit * 60, 160), fill=0)
    for bit in range(4):
        if (page >> bit) & 1:
            d.rectangle((40 + bit * 60, 220, 80 + bit * 60, 340), fill=0)
    d.text((900, 100), f"chaos job {job} page {page} of {pages}", fill=0)
    return im


def _document(directory: Path, job: int, pages: int) -> tuple[Path, list[str]]:
    """A fax-ready TIFF (made by lanfax's converter, so the service sends it as it is) and
    the digest of each of its pages' pixels."""
    inputs = []
    for p in range(1, pages + 1):
        png = directory / f"job-{job}-{p}.png"
        _page(job, p, pages).save(png, dpi=(204, 98))
        inputs.append(png)
    path = directory / f"job-{job}.tif"
    docs.convert(inputs, path, resolution="standard")
    for png in inputs:
        png.unlink()
    assert is_fax_ready(path) is not None
    return path, _pages_of(path)


def _digest(pixels: np.ndarray[Any, Any]) -> str:
    return hashlib.sha256(np.packbits(pixels).tobytes()).hexdigest()


def _pages_of(path: Path, *, partial: bool = False) -> list[str]:
    """The digest of each page of a TIFF. With `partial`, the pages before the first unreadable
    one (a receive killed while it wrote a page leaves a directory without its tags)."""
    out: list[str] = []
    with Image.open(path) as im:
        i = 0
        while True:
            try:
                im.seek(i)
                out.append(_digest(np.array(im.convert("L")) < 128))
            except EOFError:
                return out
            except (OSError, TypeError, ValueError, KeyError):
                if partial:
                    return out
                raise
            i += 1


class _Health(threading.Thread):
    """Polls /health every 0.2 s; notes gaps that are not explained by a kill."""

    def __init__(self, srv: LanfaxServer) -> None:
        super().__init__(daemon=True)
        self.srv = srv
        self.stop = threading.Event()
        self.down_since: float | None = None
        self.killed_at: float = -1e9
        self.gaps: list[float] = []

    def healthy(self) -> bool:
        """Whether /health answers "ok"; an answer cut short (the service killed while it
        answered) is "no", never an exception that would end this thread's watch."""
        try:
            return self.srv.healthy()
        except http.client.HTTPException:
            return False

    def run(self) -> None:
        while not self.stop.wait(0.2):
            now = time.monotonic()
            if self.healthy():
                if self.down_since is not None:
                    gap = now - self.down_since
                    if self.down_since - self.killed_at > 1.0 and gap > 5.0:
                        self.gaps.append(round(gap, 1))
                    self.down_since = None
            elif self.down_since is None:
                self.down_since = now


def run_campaign(cfg: ChaosConfig) -> ChaosReport:
    rng = random.Random(cfg.seed)
    report = ChaosReport()
    began = time.monotonic()
    docs = cfg.workdir / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    hook = WebhookReceiver(port=free_port()).start()
    toml = """
[server]
min_free_mb = 2
[settings]
retries = 6
retry_delay = 0
branding = false
[routing.builtin]
webhook_attempts = 1
allow_networks = ["127.0.0.0/8"]
[routing]
retry_base = 0.5
retry_cap = 2
[[providers]]
type = "virtual"
lines = [{ number = "100" }, { number = "101" }, { number = "102" }]
answer_timeout = 1.0
"""
    srv = start_lanfax_server(cfg.workdir, toml)
    health = _Health(srv)
    try:
        api = srv.api
        _configure(api, hook.url)
        health.start()
        plan = _plan(cfg, rng)
        restart: threading.Timer | None = None
        kill_at = sorted(rng.sample(range(1, max(cfg.jobs, 2)), min(cfg.kills, cfg.jobs - 1)))
        fill_at = rng.randrange(cfg.jobs // 3, max(cfg.jobs // 3 + 1, 2 * cfg.jobs // 3))
        outage_at = rng.randrange(cfg.jobs // 4, max(cfg.jobs // 4 + 1, 3 * cfg.jobs // 4))
        expected: dict[int, tuple[str, list[str]]] = {}
        for i, (number, pages) in enumerate(plan):
            path, digests = _document(docs, i, pages)
            if i in kill_at:
                time.sleep(rng.uniform(0.0, 0.6))  # a random moment: mid-call, mid-routing
                health.killed_at = time.monotonic()
                srv.kill()
                report.kills += 1
                srv.start(timeout=60)
            if cfg.pg is not None and i == outage_at and i not in kill_at:
                # The database goes away for a few seconds while faxes are on the lines.
                down = rng.uniform(3.0, 6.0)
                cfg.pg.stop()
                restart = threading.Timer(down, _restart, (cfg.pg, report))
                restart.start()
                report.database_outage = down
            if cfg.fill_disk and cfg.smallfs is not None and i == fill_at:
                cfg.smallfs.fill()
                report.disk_filled = True
                job_id = _submit(api, path, number)
                if job_id is None:
                    report.refused += 1
                time.sleep(rng.uniform(1.0, 3.0))
                cfg.smallfs.empty()
                if job_id is not None:
                    expected[job_id] = (number, digests)
                continue
            job_id = _submit(api, path, number)
            if job_id is None:
                report.refused += 1
                continue
            expected[job_id] = (number, digests)
        report.accepted = len(expected)
        if restart is not None:
            # The database is back before the end is judged (and never started by a timer
            # after this campaign closed it).
            restart.join()
        _wait_final(api, expected, cfg.timeout - (time.monotonic() - began))
        _wait_routed(api, max(30.0, cfg.timeout - (time.monotonic() - began)))
        _check(api, srv, expected, hook, report)
    finally:
        health.stop.set()
        report.health_gaps = list(health.gaps)
        srv.close()
        hook.stop()
        report.seconds = time.monotonic() - began
        shutil.rmtree(docs, ignore_errors=True)
    return report


def _restart(pg: Any, report: ChaosReport) -> None:
    """The end of the database outage (on a timer thread): start it again, and say how it went."""
    try:
        pg.start()
        report.database_restart = "started"
    except Exception as exc:  # reported; the test decides
        report.database_restart = f"{type(exc).__name__}: {exc}"


def _plan(cfg: ChaosConfig, rng: random.Random) -> list[tuple[str, int]]:
    out = []
    for _ in range(cfg.jobs):
        pages = rng.randint(1, 5)
        r = rng.random()
        if r < 0.62:
            number = "102"
        elif r < 0.70:
            # a noisy line (20-30 dB SNR): ECM retransmits, T.30 falls back or fails; a
            # retry must never store a fax twice
            number = f"*32{rng.randint(20, 30)}#102"
        elif r < 0.85:
            number = f"*31{rng.randint(1, 2)}#102"
        elif r < 0.93:
            number = "*10"
        else:
            number = "*11"
        out.append((number, pages))
    return out


def _configure(api: str, hook_url: str) -> None:
    ports = httpx.get(f"{api}/ports").json()
    for port in ports:
        flags = ["receive"] if port["number"] == "102" else ["send"]
        r = httpx.post(f"{api}/ports/{port['device_id']}/handles", json={"mode": "modify"})
        handle = r.json()["handle"]
        r = httpx.patch(
            f"{api}/ports/{port['device_id']}",
            json={"flags": flags, "rings": 1},
            headers={"X-Lanfax-Port-Handle": handle},
        )
        assert r.status_code == 200, r.text
        httpx.delete(f"{api}/handles/{handle}")
        if port["number"] == "102":
            base = f"{api}/routing/devices/{port['device_id']}/methods/{WEBHOOK}"
            r = httpx.put(f"{base}/info", json={"url": hook_url, "secret": SECRET})
            assert r.status_code == 200, r.text
            r = httpx.patch(base, json={"enabled": True})
            assert r.status_code == 200, r.text


def _submit(api: str, path: Path, number: str) -> int | None:
    params = {"recipients": [{"recipient_number": number}]}
    for _attempt in range(60):
        try:
            r = httpx.post(
                f"{api}/jobs",
                data={"params": json.dumps(params)},
                files=[("file", (path.name, path.read_bytes(), "image/tiff"))],
                timeout=30,
            )
        except httpx.TransportError:
            time.sleep(0.5)  # killed: the submission's fate is unknown only if it answered
            continue
        if r.status_code == 201:
            job_id: int = r.json()["jobs"][0]["job_id"]
            return job_id
        if r.status_code == 507:
            return None
        if r.status_code in (500, 503) and "database" in r.text.lower():
            time.sleep(0.5)  # the database is away: not committed, so try again
            continue
        raise AssertionError(f"submission answered {r.status_code}: {r.text[:300]}")
    raise AssertionError("the service never accepted the submission")


def _jobs(api: str, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        r = httpx.get(f"{api}/jobs", params={"limit": 1000, "after": after, **params}, timeout=30)
        page = r.json()
        out += page["jobs"]
        if page["next"] is None:
            return out
        after = page["next"]


def _wait_final(api: str, expected: dict[int, Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sends = {j["job_id"]: j for j in _jobs(api, type="send")}
        if all(sends.get(i, {}).get("queue_status") in FINAL for i in expected):
            return
        time.sleep(1.0)


def _wait_routed(api: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = _jobs(api, status="routing,in_progress", type="receive,routing")
        if not busy:
            return
        time.sleep(1.0)


def _check(
    api: str,
    srv: LanfaxServer,
    expected: dict[int, tuple[str, list[str]]],
    hook: WebhookReceiver,
    report: ChaosReport,
) -> None:
    sends = {j["job_id"]: j for j in _jobs(api, type="send")}
    for job_id in expected:
        job = sends.get(job_id)
        state = job["queue_status"] if job else "missing"
        if state in FINAL:
            report.final[state] += 1
        else:
            report.not_final.append(job or {"job_id": job_id, "queue_status": "missing"})
    owner: dict[str, tuple[int, int]] = {}
    for job_id, (_number, digests) in expected.items():
        for page, d in enumerate(digests, 1):
            owner[d] = (job_id, page)
    seen: Counter[tuple[int, int]] = Counter()
    whole: Counter[int] = Counter()
    for rx in _jobs(api, type="receive,fail_receive,routing"):
        if rx["job_type"] == "fail_receive":
            report.fail_receives += 1
        else:
            report.receives += 1
            if rx["queue_status"] == "completed":
                report.routed += 1
            else:
                report.not_routed.append(rx["job_id"])
        if not rx.get("document_path"):
            continue
        path = srv.data_dir / "spool" / rx["document_path"]
        if not path.exists():
            continue
        try:
            # A receive killed while it wrote a page keeps the pages before it; any other
            # receive must be a wholly readable fax.
            pages = _pages_of(path, partial=rx["job_type"] == "fail_receive")
        except (UnidentifiedImageError, OSError, TypeError, ValueError, KeyError) as exc:
            # A receive killed before its first page leaves only the TIFF header: no page.
            assert rx["job_type"] == "fail_receive", (rx, path.stat().st_size, exc)
            pages = []
        got = [owner.get(d) for d in pages]
        for hit in got:
            if hit is not None:
                seen[hit] += 1
        jobs_here = {h[0] for h in got if h is not None}
        for j in jobs_here:
            if rx["job_type"] != "fail_receive" and sorted(
                p for (jj, p) in (h for h in got if h is not None) if jj == j
            ) == list(range(1, len(expected[j][1]) + 1)):
                whole[j] += 1
    # A one-page fax received twice is the single page on the line at a kill (see above):
    # it counts in page_duplicates, not here.
    report.whole_duplicates = sorted(
        j for j, n in whole.items() if n > 1 and len(expected[j][1]) > 1
    )
    report.page_duplicates = sum(n - 1 for n in seen.values() if n > 1)
    for job_id, (number, digests) in expected.items():
        if sends.get(job_id, {}).get("queue_status") == "completed" and number.endswith("102"):
            for page in range(1, len(digests) + 1):
                if seen[(job_id, page)] == 0:
                    report.missing_pages.append((job_id, page))
    report.webhook_faxes = len(hook.delivered)
