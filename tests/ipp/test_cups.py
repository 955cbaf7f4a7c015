"""CUPS against the FaxOut printer: a private ``cupsd`` (its own socket and configuration)
with a queue made by ``lpadmin -m everywhere`` on ``ipp://USER:PASSWORD@127.0.0.1:PORT/
ipp/faxout``; ``lp -o phone=101`` gives a fax received on line 101, ``cancel`` cancels the
fax. And CUPS's ``ipptool`` runs tests/ipp/faxout.test (PWG 5100.15) against the printer."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.authhttp import httpx
from tests.support.cups import Cupsd, have_cups, private_cupsd, wait_for
from tests.support.http import receive_jobs
from tests.support.http import wait_for as wait_event
from tests.support.server import LanfaxServer, start_lanfax_server

from lanfax.documents.pdfgen import text_document

PASSWORD = "pa55-word!x"
HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanfaxServer]:
    srv = start_lanfax_server(tmp_path_factory.mktemp("cupsfax"))
    try:
        r = httpx.post(
            f"{srv.api}/users", json={"name": "desk", "role": "user", "password": PASSWORD}
        )
        assert r.status_code == 201, r.text
        yield srv
    finally:
        srv.close()


@pytest.fixture(scope="module")
def cups(server: LanfaxServer) -> Iterator[Cupsd]:
    if not have_cups():
        pytest.skip("CUPS is not installed (Debian packages cups, cups-client)")
    if os.geteuid() != 0:
        pytest.skip("starting a private cupsd needs root here")
    with private_cupsd(system_backends=("ipp",)) as c:
        uri = f"ipp://desk:{PASSWORD}@127.0.0.1:{server.port}/ipp/faxout"
        r = c.run("lpadmin", "-p", "lanfax", "-E", "-v", uri, "-m", "everywhere", check=False)
        assert r.returncode == 0, r.stderr + c.error_log()[-3000:]
        yield c


@pytest.fixture(scope="module")
def pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("doc") / "letter.pdf"
    text_document("Printed from a desktop through CUPS.").save(path)
    return path


def _jobs(server: LanfaxServer, **params: str) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = httpx.get(f"{server.api}/jobs", params=params).json()["jobs"]
    return jobs


def test_the_queue_is_driverless(cups: Cupsd) -> None:
    """lpadmin -m everywhere built the queue from the printer's attributes: PDF straight
    through, A4/Letter, grey at fax resolutions. (CUPS 2.4's generated PPD does not say
    *cupsFax; ``-o phone=`` still reaches the printer as destination-uris, see below.)"""
    ppd = cups.root / "ppd" / "lanfax.ppd"
    wait_for(ppd.exists, "cupsd to write the queue's PPD")  # cupsd writes it lazily
    text = ppd.read_text(errors="replace")
    assert '*cupsFilter2: "application/vnd.cups-pdf application/pdf' in text
    assert "*PageSize A4" in text and "*PageSize Letter" in text
    assert "*DefaultColorModel: Gray" in text


def test_lp_phone_gives_a_fax_on_line_101(server: LanfaxServer, cups: Cupsd, pdf: Path) -> None:
    before = max([j["job_id"] for j in _jobs(server)], default=0)
    r = cups.run("lp", "-d", "lanfax", "-t", "letter for 101", "-o", "phone=101", str(pdf))
    assert "request id is lanfax-" in r.stdout

    def received() -> list[dict[str, Any]] | None:
        rx = [
            j
            for j in receive_jobs(server.api)
            if j["job_id"] > before and j["queue_status"] == "completed"
        ]
        return rx or None

    (rx,) = wait_event(server.api, "the fax on line 101", received, timeout=120)
    assert rx["page_count"] == 1
    (send,) = [j for j in _jobs(server, type="send") if j["job_id"] > before]
    assert send["user_name"] == "desk" and send["recipient_number"] == "101"
    assert send["document_name"] == "letter for 101"
    # CUPS sees the job completed (its ipp backend followed the fax to the end).
    wait_for(
        lambda: "lanfax-" not in cups.run("lpstat", "-o", "lanfax", check=False).stdout,
        "the CUPS job to finish",
        timeout=60,
    )
    done = cups.run("lpstat", "-W", "completed", "-o", "lanfax").stdout
    assert "lanfax-" in done


def test_cancel_in_cups_cancels_the_fax(server: LanfaxServer, cups: Cupsd, pdf: Path) -> None:
    r = httpx.patch(f"{server.api}/config", json={"pause_server_queue": True})
    assert r.status_code == 200
    try:
        before = max([j["job_id"] for j in _jobs(server)], default=0)
        out = cups.run("lp", "-d", "lanfax", "-o", "phone=101", str(pdf)).stdout
        cups_job = out.split("request id is ")[1].split()[0]

        def queued() -> list[dict[str, Any]]:
            return [j for j in _jobs(server, type="send") if j["job_id"] > before]

        wait_for(queued, "the fax to be queued", timeout=60)
        cups.run("cancel", cups_job)

        def canceled() -> bool:
            return all(j["queue_status"] == "canceled" for j in queued())

        wait_for(canceled, "the fax to be canceled", timeout=60)
    finally:
        httpx.patch(f"{server.api}/config", json={"pause_server_queue": False})
    (job,) = queued()
    assert job["queue_status"] == "canceled"


def test_ipptool_conformance(server: LanfaxServer, pdf: Path, tmp_path: Path) -> None:
    ipptool = shutil.which("ipptool")
    if ipptool is None:
        pytest.skip("ipptool is not installed (Debian package cups-ipp-utils)")
    uri = f"ipp://desk:{PASSWORD}@127.0.0.1:{server.port}/ipp/faxout"
    before = max([j["job_id"] for j in receive_jobs(server.api)], default=0)
    r = subprocess.run(
        [ipptool, "-tv", "-f", str(pdf), "-d", "phone=101", uri, str(HERE / "faxout.test")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    assert "FAIL" not in r.stdout

    def received() -> bool:
        return any(
            j["job_id"] > before and j["queue_status"] == "completed"
            for j in receive_jobs(server.api)
        )

    wait_event(server.api, "the conformance fax on line 101", received, timeout=120)


def test_lp_without_a_number_keeps_a_draft(server: LanfaxServer, cups: Cupsd, pdf: Path) -> None:
    """What an application's print dialog does: no phone option. The document becomes a
    draft of the user CUPS logged in as, later faxed to line 101."""
    cups.run("lp", "-d", "lanfax", "-t", "from the print dialog", str(pdf))

    def draft() -> dict[str, Any] | None:
        found = httpx.get(f"{server.api}/drafts", params={"all": "true"}).json()["drafts"]
        mine = [d for d in found if d["document_name"] == "from the print dialog"]
        return mine[0] if mine else None

    wait_for(draft, "the draft", timeout=60)
    found = draft()
    assert found is not None and found["user_name"] == "desk"
    before = max([j["job_id"] for j in receive_jobs(server.api)], default=0)
    r = httpx.post(
        f"{server.api}/drafts/{found['draft_id']}/send",
        json={"recipients": [{"recipient_number": "101"}]},
    )
    assert r.status_code == 201, r.text

    def received() -> bool:
        return any(
            j["job_id"] > before and j["queue_status"] == "completed"
            for j in receive_jobs(server.api)
        )

    wait_event(server.api, "the draft's fax on line 101", received, timeout=120)
