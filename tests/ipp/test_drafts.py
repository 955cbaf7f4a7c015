"""Drafts through the sync and async clients and the real ``lanfax`` console script, on a
real server with virtual lines 100 and 101: a document printed with no number is kept, then
``lanfax draft send ID --to 101`` faxes it and it arrives on line 101."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.authhttp import auth_for, httpx
from tests.support.http import receive_jobs, wait_for
from tests.support.ipp import IppClient
from tests.support.server import LanfaxServer, start_lanfax_server

from lanfax.client import AsyncClient, Client
from lanfax.documents.pdfgen import text_document
from lanfax.model.errors import NotFound
from lanfax.service.ipp.codec import GroupTag, Status, Tag, attr
from lanfax.service.ipp.model import Op

LANFAX = str(Path(sys.executable).with_name("lanfax"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanfaxServer]:
    srv = start_lanfax_server(tmp_path_factory.mktemp("drafts"))
    try:
        yield srv
    finally:
        srv.close()


def _print_without_number(server: LanfaxServer, name: str, data: bytes) -> int:
    ipp = IppClient(f"{server.url}/ipp/faxout", auth_for(server.url))
    msg = ipp.call(
        Op.PRINT_JOB,
        [
            attr("job-name", Tag.NAME, name),
            attr("document-format", Tag.MIME_TYPE, "application/pdf"),
        ],
        data=data,
    )
    assert msg.code == Status.OK
    group = msg.group(GroupTag.JOB)
    assert group is not None
    return int(group.get("lanfax-draft-id").values[0].value)  # type: ignore[union-attr,arg-type]


def _lanfax(server: LanfaxServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LANFAX_SERVER=server.url)
    return subprocess.run([LANFAX, *args], capture_output=True, text=True, env=env, timeout=120)


def test_drafts_with_clients_and_cli(server: LanfaxServer, tmp_path: Path) -> None:
    pdf_path = tmp_path / "letter.pdf"
    text_document("A letter printed without a fax number.").save(pdf_path)
    pdf = pdf_path.read_bytes()
    first = _print_without_number(server, "letter.pdf", pdf)
    second = _print_without_number(server, "to throw away", pdf)

    with Client(server.url) as client:
        listed = {d.draft_id: d for d in client.drafts()}
        assert set(listed) >= {first, second}
        assert listed[first].document_name == "letter.pdf"
        assert listed[first].document_format == "application/pdf"
        assert listed[first].expires_at > listed[first].created_at
        assert client.draft_document(first) == pdf

    async def async_part() -> None:
        async with AsyncClient(server.url) as client:
            assert (await client.draft(second)).document_name == "to throw away"
            await client.remove_draft(second)
            with pytest.raises(NotFound):
                await client.draft(second)

    asyncio.run(async_part())

    shown = _lanfax(server, "drafts")
    assert shown.returncode == 0, shown.stderr
    assert "letter.pdf" in shown.stdout and "to throw away" not in shown.stdout
    as_json = json.loads(_lanfax(server, "drafts", "--json").stdout)
    assert [d["draft_id"] for d in as_json] == [first]

    before = max([j["job_id"] for j in receive_jobs(server.api)], default=0)
    sent = _lanfax(server, "draft", "send", str(first), "--to", "101")
    assert sent.returncode == 0, sent.stderr
    assert "queued job" in sent.stdout

    def received() -> list[dict[str, object]] | None:
        done = [
            j
            for j in receive_jobs(server.api)
            if j["job_id"] > before and j["queue_status"] == "completed"
        ]
        return done or None

    (rx,) = wait_for(server.api, "the draft's fax on line 101", received, timeout=120)
    assert rx["page_count"] == 1
    gone = _lanfax(server, "draft", "show", str(first))
    assert gone.returncode == 3 and "no draft" in gone.stderr
    sent_jobs = httpx.get(f"{server.api}/jobs", params={"type": "send"}).json()["jobs"]
    assert any(j["document_name"] == "letter.pdf" for j in sent_jobs)


def test_draft_send_refuses_a_bad_number(server: LanfaxServer, tmp_path: Path) -> None:
    pdf_path = tmp_path / "x.pdf"
    text_document("x").save(pdf_path)
    draft_id = _print_without_number(server, "x", pdf_path.read_bytes())
    bad = _lanfax(server, "draft", "send", str(draft_id), "--to", "call me")
    assert bad.returncode == 2 and "cannot be dialled" in bad.stderr
    # The draft is still there, nothing was queued.
    with Client(server.url) as client:
        assert client.draft(draft_id).document_name == "x"
