"""Issue #8 end to end: a real ``lanfax serve`` with an ``iax2`` provider, faxing with HylaFAX.

The server is configured as a user would (``[[providers]] type = "iax2"``): its peer is
iaxmodem's port, and it binds the fixed port that HylaFAX's iaxmodem was pointed at
(``peer.sh up iax 127.0.0.1:PORT``, one peer for the session, see ``conftest.py``).

(a) A 2-page fax submitted over HTTP (the Python client) to 1000, HylaFAX's modem: the send
job completes, its record carries the rate, ECM and coding of the real call, which must be
what HylaFAX's own session log says it received with, ``lanfax job show`` prints them, and
HylaFAX's recvq has the 2 pages.
(b) ``peer.sh send`` from HylaFAX to lanfax's number: the port rings its ``Rings`` (2) times,
the service answers, a RECEIVE job completes with the pages (and HylaFAX's rate/ECM/coding),
the default inbound route stores the fax in ``<data_dir>/inbox/``, and HylaFAX reports its
job done.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.interop.hylafax import MODEM_PORT, HylaFax, Negotiated, negotiated
from tests.interop.test_hylafax import fax_tiff
from tests.providers.helpers import tiff_pixels
from tests.support.server import LanfaxServer, start_lanfax_server

from lanfax.client import Client
from lanfax.model.codes import EventId, FailureClass, JobType, QueueStatus
from lanfax.model.jobs import Job

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(300)]

LANFAX = str(Path(sys.executable).with_name("lanfax"))
#: The line's number (our caller id, CSI and TSI) and what HylaFAX dials to reach us.
NUMBER = "2000"
#: Rates a V.17 / V.29 / V.27ter call can settle on.
FAX_RATES = (14400, 12000, 9600, 7200, 4800, 2400)
RX_TYPES = "receive,fail_receive"


def _toml(peer: HylaFax) -> str:
    return f"""
[settings]
branding = false   # HylaFAX's copy must hold exactly the pages sent
retries = 0        # a busy modem is retried by the test (see _send_until_not_busy)

[[providers]]
type = "iax2"
peer = "127.0.0.1:{MODEM_PORT}"
bind = "{peer.iax_endpoint}"
channels = 1
number = "{NUMBER}"
ring_interval = 1.0
answer_timeout = 60
"""


@pytest.fixture(scope="module")
def lanfax(hylafax: HylaFax, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanfaxServer]:
    server = start_lanfax_server(
        tmp_path_factory.mktemp("serve-iax2"), _toml(hylafax), extra_args=["--log-level", "info"]
    )
    try:
        yield server
    finally:
        server.close()


def _send_until_not_busy(client: Client, doc: Path, number: str, tries: int = 6) -> Job:
    """Submit ``doc`` to ``number`` and wait for the job to end. iaxmodem answers BUSY for
    5 s after each modem reset faxgetty makes, so a job that ended busy is restarted (what
    an operator, or a longer RetryDelay, would do) a few seconds later."""
    [job] = client.send(doc, number, resolution="standard")
    for _ in range(tries):
        [job] = client.wait([job.job_id], 240)
        if job.queue_status is QueueStatus.COMPLETED or job.last_failure is not FailureClass.BUSY:
            return job
        time.sleep(3)  # iaxmodem's busy-out after a reset; a deliberate back-off, not a wait
        client.restart(job.job_id)
    raise AssertionError(f"HylaFAX's modem stayed busy for {tries} tries: {job}")


def _new_session_log(peer: HylaFax, before: set[str], marker: str) -> str:
    logs = peer.session_logs()
    fresh = [text for name, text in logs.items() if name not in before and marker in text]
    assert len(fresh) == 1, f"expected one new HylaFAX session log with {marker!r}: {sorted(logs)}"
    return fresh[0]


def _check_call_record(job: Job, hylafax_view: Negotiated) -> None:
    """The job's bit_rate/ecm/compression come from the real call: valid values, and the
    same as HylaFAX's own record of the DCS."""
    assert job.bit_rate in FAX_RATES, job
    assert isinstance(job.ecm, bool), job
    assert job.compression in ("mh", "mr", "mmr"), job
    if not job.ecm:
        assert job.compression != "mmr", f"MMR needs ECM: {job}"
    assert (job.bit_rate, job.ecm, job.compression) == (
        hylafax_view.bit_rate,
        hylafax_view.ecm,
        hylafax_view.compression,
    ), f"lanfax recorded {job}, HylaFAX logged:\n" + "\n".join(hylafax_view.evidence)


def _job_show(server: LanfaxServer, job_id: int) -> dict[str, str]:
    """``lanfax job show ID`` (the console script) as {field: shown value}."""
    r = subprocess.run(
        [LANFAX, "job", "show", str(job_id)],
        capture_output=True,
        text=True,
        env=dict(os.environ, LANFAX_SERVER=server.url),
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, f"lanfax job show {job_id}: rc {r.returncode}\n{r.stdout}{r.stderr}"
    shown = {}
    for line in r.stdout.splitlines():
        key, _, value = line.partition(" ")
        shown[key] = value.strip()
    return shown


def test_http_submission_is_faxed_to_hylafax(
    hylafax: HylaFax, lanfax: LanfaxServer, tmp_path: Path
) -> None:
    doc = fax_tiff(tmp_path / "two-pages.tif", 2, fine=False)
    hylafax.wait_idle()
    recvq_before = set(hylafax.received())
    logs_before = set(hylafax.session_logs())
    with Client(lanfax.url) as client:
        job = _send_until_not_busy(client, doc, "1000")
    assert job.queue_status is QueueStatus.COMPLETED, f"{job}\n{lanfax.log_tail()}"
    assert job.job_type is JobType.SEND
    assert (job.page_count, job.pages_done) == (2, 2), job
    assert job.remote_ident.strip(), job  # HylaFAX's CSI

    # HylaFAX's copy: one new received fax with the 2 pages, 1728 pels wide.
    deadline = time.monotonic() + 30
    new: list[Path] = []
    while not new and time.monotonic() < deadline:
        new = sorted(set(hylafax.received()) - recvq_before)
        if not new:
            time.sleep(0.5)  # faxgetty files the TIFF as the call ends; poll with a deadline
    assert len(new) == 1, f"HylaFAX recvq: {hylafax.received()}\n{hylafax.logs()}"
    pages = tiff_pixels(new[0])
    assert len(pages) == 2, new[0]
    assert all(p.shape[1] == 1728 for p in pages)

    _check_call_record(job, negotiated(_new_session_log(hylafax, logs_before, "RECV FAX")))

    # The CLI shows the same record.
    shown = _job_show(lanfax, job.job_id)
    assert shown.get("bit_rate") == str(job.bit_rate), shown
    assert shown.get("ecm") == str(job.ecm), shown
    assert shown.get("compression") == job.compression, shown
    assert shown.get("queue_status") == "completed", shown


def test_hylafax_fax_is_received_and_routed_to_the_inbox(
    hylafax: HylaFax, lanfax: LanfaxServer, tmp_path: Path
) -> None:
    doc = fax_tiff(tmp_path / "two-pages.tif", 2, fine=False)
    hylafax.wait_idle()
    logs_before = set(hylafax.session_logs())
    inbox = lanfax.data_dir / "inbox"
    inbox_before = set(inbox.glob("*")) if inbox.exists() else set()
    with Client(lanfax.url) as client:
        [port] = client.ports()
        assert port.rings == 2, port  # the default Rings
        start = client.latest_event_seq()
        known = {j.job_id for j in client.iter_jobs(type=RX_TYPES)}
        hf_job = hylafax.send(doc, NUMBER)
        # The receive job appears when the service answers (HylaFAX dials within seconds).
        deadline = time.monotonic() + 120
        fresh: list[Job] = []
        while not fresh and time.monotonic() < deadline:
            fresh = [j for j in client.iter_jobs(type=RX_TYPES) if j.job_id not in known]
            if not fresh:
                time.sleep(0.5)  # poll interval, bounded by the deadline
        assert fresh, f"lanfax never answered HylaFAX:\n{hylafax.logs()}\n{lanfax.log_tail()}"
        [rx] = client.wait([fresh[0].job_id], 240)
        rings = [
            int(ev.detail["rings"])
            for ev in client.events_backlog(after=start)
            if ev.event_id is EventId.RINGING and ev.device_id == port.device_id
        ]
    final = hylafax.wait(hf_job, 120)

    assert rings[:2] == [1, 2], rings  # answered after the port's 2 rings
    assert rx.queue_status is QueueStatus.COMPLETED, f"{rx}\n{lanfax.log_tail()}"
    assert rx.job_type is JobType.RECEIVE, rx
    assert rx.page_count == 2, rx
    assert rx.caller_id == "1000", rx  # iaxmodem's cidnumber
    _check_call_record(rx, negotiated(_new_session_log(hylafax, logs_before, "SEND FAX")))

    # Routed by the default route: the fax is in <data_dir>/inbox/, with its 2 pages.
    stored = sorted(set(inbox.glob("*.tif")) - inbox_before)
    assert len(stored) == 1, f"inbox: {sorted(inbox.glob('*'))}\n{lanfax.log_tail()}"
    pages = tiff_pixels(stored[0])
    assert len(pages) == 2, stored[0]
    assert all(p.shape[1] == 1728 for p in pages)

    # HylaFAX's side: the job left the queue done (faxstat -d: state D).
    assert final, hylafax.done_jobs()
    assert " D " in f" {final} ", final
