"""The IPP FaxOut printer of a real ``lanfax serve`` (virtual lines 100 and 101): print jobs
become faxes received on line 101; bad requests get the IPP status the RFC names and queue
nothing."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.authhttp import auth_for, httpx
from tests.support.http import receive_jobs, wait_for
from tests.support.ipp import IppClient, cover, status_message, tel, value, values
from tests.support.server import LanfaxServer, start_lanfax_server

from lanfax.documents.pdfgen import text_document
from lanfax.service.ipp.codec import Group, GroupTag, Message, Status, Tag, attr, encode
from lanfax.service.ipp.model import Op

JOB = GroupTag.JOB
PRINTER = GroupTag.PRINTER


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanfaxServer]:
    srv = start_lanfax_server(tmp_path_factory.mktemp("ipp"))
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture(scope="module")
def pdf(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("pdf") / "memo.pdf"
    text_document("A memo printed to the fax printer.\nSecond line.").save(path)
    return path.read_bytes()


@pytest.fixture
def ipp(server: LanfaxServer) -> IppClient:
    return IppClient(f"{server.url}/ipp/faxout", auth_for(server.url))


def _all_jobs(server: LanfaxServer) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = httpx.get(f"{server.api}/jobs").json()["jobs"]
    return jobs


def _job_state(ipp: IppClient, job_id: int) -> tuple[int, str]:
    msg = ipp.call(Op.GET_JOB_ATTRIBUTES, [attr("job-id", Tag.INTEGER, job_id)])
    assert msg.code == Status.OK, status_message(msg)
    return value(msg, JOB, "job-state"), value(msg, JOB, "job-state-message")


def _received(server: LanfaxServer, before: int) -> list[dict[str, Any]]:
    return [j for j in receive_jobs(server.api) if j["job_id"] > before]


def _wait_received(server: LanfaxServer, before: int, n: int = 1) -> list[dict[str, Any]]:
    def done() -> list[dict[str, Any]] | None:
        rx = [j for j in _received(server, before) if j["queue_status"] == "completed"]
        return rx if len(rx) >= n else None

    result: list[dict[str, Any]] = wait_for(server.api, "the fax on line 101", done, timeout=120)
    return result


def _last_job_id(server: LanfaxServer) -> int:
    jobs = httpx.get(f"{server.api}/jobs", params={"before": 2**62, "limit": 1}).json()["jobs"]
    return int(jobs[0]["job_id"]) if jobs else 0


def test_printer_attributes_without_login(server: LanfaxServer) -> None:
    anonymous = IppClient(f"{server.url}/ipp/faxout")
    msg = anonymous.call(Op.GET_PRINTER_ATTRIBUTES)
    assert msg.code == Status.OK
    assert msg.request_id > 0
    assert "faxout" in values(msg, PRINTER, "ipp-features-supported")
    assert values(msg, PRINTER, "destination-uri-schemes-supported") == ["tel"]
    assert value(msg, PRINTER, "multiple-destination-uris-supported") is True
    assert sorted(values(msg, PRINTER, "printer-fax-modem-number")) == ["tel:100", "tel:101"]
    assert value(msg, PRINTER, "number-of-retries-default") == 3
    assert value(msg, PRINTER, "retry-interval-default") == 600
    formats = values(msg, PRINTER, "document-format-supported")
    for fmt in ("application/pdf", "image/pwg-raster", "image/urf", "image/jpeg", "text/plain"):
        assert fmt in formats
    uri = value(msg, PRINTER, "printer-uri-supported")
    assert uri == f"ipp://127.0.0.1:{server.port}/ipp/faxout"
    ops = values(msg, PRINTER, "operations-supported")
    assert {int(o) for o in Op} == set(ops)
    # requested-attributes narrows the answer
    some = anonymous.call(
        Op.GET_PRINTER_ATTRIBUTES,
        [attr("requested-attributes", Tag.KEYWORD, "printer-name", "printer-state")],
    )
    (printer,) = [g for g in some.groups if g.tag == PRINTER]
    assert [a.name for a in printer.attributes] == ["printer-name", "printer-state"]


def test_print_job_with_cover_sheet_is_received_on_101(
    server: LanfaxServer, ipp: IppClient, pdf: bytes
) -> None:
    before = _last_job_id(server)
    msg = ipp.call(
        Op.PRINT_JOB,
        [
            attr("job-name", Tag.NAME, "quarterly memo"),
            attr("document-format", Tag.MIME_TYPE, "application/pdf"),
        ],
        [
            tel("101"),
            cover(from_name="Ada", to_name="Bob", subject="Memo", message="Please read"),
            attr("number-of-retries", Tag.INTEGER, 1),
            attr("retry-interval", Tag.INTEGER, 90),
        ],
        pdf,
    )
    assert msg.code == Status.OK, status_message(msg)
    job_id = value(msg, JOB, "job-id")
    assert value(msg, JOB, "job-uri").endswith(f"/ipp/faxout/{job_id}")
    (rx,) = _wait_received(server, before)
    assert rx["page_count"] == 2  # the cover sheet, then the memo
    wait_for(server.api, "the IPP job to complete", lambda: _job_state(ipp, job_id)[0] == 9)
    sent = [j for j in _all_jobs(server) if j["job_type"] == "send" and j["job_id"] > before]
    (job,) = sent
    assert job["document_name"] == "quarterly memo"
    assert job["recipient_name"] == "Bob" and job["sender_name"] == "Ada"
    assert job["extra"]["retries"] == 1 and job["extra"]["retry_delay"] == 2
    full = ipp.call(Op.GET_JOB_ATTRIBUTES, [attr("job-id", Tag.INTEGER, job_id)])
    (dest,) = values(full, JOB, "destination-statuses")
    members = {m.name: m.values[0].value for m in dest}
    assert members == {
        "destination-uri": "tel:101",
        "images-completed": 2,
        "transmission-status": 9,
    }
    assert value(full, JOB, "job-originating-user-name") == "admin"


def test_create_job_send_document_broadcast(
    server: LanfaxServer, ipp: IppClient, pdf: bytes
) -> None:
    before = _last_job_id(server)
    created = ipp.call(
        Op.CREATE_JOB, [attr("job-name", Tag.NAME, "two copies")], [tel("101", "1-0-1")]
    )
    assert created.code == Status.OK, status_message(created)
    job_id = value(created, JOB, "job-id")
    assert value(created, JOB, "job-state") == 4  # pending-held: job-incoming
    assert "job-incoming" in values(created, JOB, "job-state-reasons")
    sent = ipp.call(
        Op.SEND_DOCUMENT,
        [
            attr("job-id", Tag.INTEGER, job_id),
            attr("document-format", Tag.MIME_TYPE, "application/octet-stream"),
            attr("last-document", Tag.BOOLEAN, True),
        ],
        data=pdf,
    )
    assert sent.code == Status.OK, status_message(sent)
    closed = ipp.call(Op.CLOSE_JOB, [attr("job-id", Tag.INTEGER, job_id)])
    assert closed.code == Status.OK
    again = ipp.call(
        Op.SEND_DOCUMENT,
        [attr("job-id", Tag.INTEGER, job_id), attr("last-document", Tag.BOOLEAN, True)],
        data=pdf,
    )
    assert again.code == Status.MULTIPLE_DOCUMENT_JOBS_NOT_SUPPORTED
    rx = _wait_received(server, before, n=2)
    assert [j["page_count"] for j in rx] == [1, 1]
    wait_for(server.api, "the broadcast to complete", lambda: _job_state(ipp, job_id)[0] == 9)
    listed = ipp.call(
        Op.GET_JOBS,
        [
            attr("which-jobs", Tag.KEYWORD, "completed"),
            attr("requested-attributes", Tag.KEYWORD, "job-id", "job-state", "job-name"),
        ],
    )
    jobs = {
        g.get("job-id").values[0].value: g  # type: ignore[union-attr]
        for g in listed.groups
        if g.tag == JOB
    }
    assert job_id in jobs
    assert jobs[job_id].get("job-name").values[0].value == "two copies"  # type: ignore[union-attr]
    not_completed = ipp.call(Op.GET_JOBS)
    assert job_id not in [
        g.get("job-id").values[0].value  # type: ignore[union-attr]
        for g in not_completed.groups
        if g.tag == JOB
    ]


def test_cancel_job_cancels_the_queued_fax(
    server: LanfaxServer, ipp: IppClient, pdf: bytes
) -> None:
    r = httpx.patch(f"{server.api}/config", json={"pause_server_queue": True})
    assert r.status_code == 200, r.text
    try:
        msg = ipp.call(Op.PRINT_JOB, job=[tel("101")], data=pdf)
        assert msg.code == Status.OK, status_message(msg)
        job_id = value(msg, JOB, "job-id")
        assert _job_state(ipp, job_id)[0] == 3  # pending
        assert ipp.call(Op.CANCEL_JOB, [attr("job-id", Tag.INTEGER, job_id)]).code == Status.OK
        assert _job_state(ipp, job_id)[0] == 7
        again = ipp.call(Op.CANCEL_JOB, [attr("job-id", Tag.INTEGER, job_id)])
        assert again.code == Status.NOT_POSSIBLE and "canceled" in status_message(again)
        # Cancel-My-Jobs cancels an incoming job too.
        created = ipp.call(Op.CREATE_JOB, job=[tel("101")])
        other = value(created, JOB, "job-id")
        assert ipp.call(Op.CANCEL_MY_JOBS).code == Status.OK
        assert _job_state(ipp, other)[0] == 7
    finally:
        httpx.patch(f"{server.api}/config", json={"pause_server_queue": False})
    lanfax_jobs = [j for j in _all_jobs(server) if j["document_name"] == "print job"]
    assert lanfax_jobs and lanfax_jobs[0]["queue_status"] == "canceled"


def test_validate_job_and_identify(ipp: IppClient) -> None:
    ok = ipp.call(Op.VALIDATE_JOB, [attr("document-format", Tag.MIME_TYPE, "application/pdf")])
    assert ok.code == Status.OK
    assert ipp.call(Op.IDENTIFY_PRINTER).code == Status.OK


@pytest.mark.parametrize(
    ("operation", "job", "status", "words"),
    [
        (
            [attr("document-format", Tag.MIME_TYPE, "application/x-foo")],
            [tel("101")],
            Status.DOCUMENT_FORMAT_NOT_SUPPORTED,
            "application/x-foo",
        ),
        ([], [tel("abc")], Status.ATTRIBUTES_OR_VALUES_NOT_SUPPORTED, "fax number"),
        (
            [],
            [attr("number-of-retries", Tag.INTEGER, 500), tel("101")],
            Status.ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
            "number-of-retries",
        ),
        (
            [attr("compression", Tag.KEYWORD, "gzip")],
            [tel("101")],
            Status.COMPRESSION_NOT_SUPPORTED,
            "gzip",
        ),
    ],
)
def test_bad_jobs_are_refused_and_queue_nothing(
    server: LanfaxServer,
    ipp: IppClient,
    pdf: bytes,
    operation: list[Any],
    job: list[Any],
    status: Status,
    words: str,
) -> None:
    before = len(_all_jobs(server))
    msg = ipp.call(Op.PRINT_JOB, operation, job, pdf)
    assert msg.code == status, status_message(msg)
    assert words in status_message(msg)
    assert len(_all_jobs(server)) == before


def test_other_schemes_and_broken_documents(server: LanfaxServer, ipp: IppClient) -> None:
    from lanfax.service.ipp.codec import Attribute, collection

    before = len(_all_jobs(server))
    mailto = Attribute(
        "destination-uris", (collection(attr("destination-uri", Tag.URI, "mailto:a@b.c")),)
    )
    msg = ipp.call(Op.PRINT_JOB, job=[mailto], data=b"%PDF-1.4 x")
    assert msg.code == Status.URI_SCHEME_NOT_SUPPORTED and "tel:" in status_message(msg)
    broken = ipp.call(
        Op.PRINT_JOB,
        [attr("document-format", Tag.MIME_TYPE, "application/pdf")],
        [tel("101")],
        b"%PDF-1.4\nthis is not really a PDF",
    )
    assert broken.code == Status.DOCUMENT_FORMAT_ERROR, status_message(broken)
    raster = ipp.call(
        Op.PRINT_JOB,
        [attr("document-format", Tag.MIME_TYPE, "image/pwg-raster")],
        [tel("101")],
        b"RaS2" + b"\x00" * 100,
    )
    assert raster.code == Status.DOCUMENT_FORMAT_ERROR and "cut short" in status_message(raster)
    assert len(_all_jobs(server)) == before


def test_malformed_and_unknown(server: LanfaxServer, ipp: IppClient) -> None:
    r = ipp.post(b"\x02\x00\x00\x0b\x00\x00\x00\x07\x01\x47\x00")  # cut short
    assert r.status_code == 200
    from lanfax.service.ipp.codec import decode

    msg = decode(r.content)
    assert msg.code == Status.BAD_REQUEST and msg.request_id == 7
    assert "ends" in status_message(msg)
    unknown = Message(
        (2, 0),
        0x4001,
        9,
        (
            Group(
                GroupTag.OPERATION,
                (
                    attr("attributes-charset", Tag.CHARSET, "utf-8"),
                    attr("attributes-natural-language", Tag.LANGUAGE, "en"),
                ),
            ),
        ),
    )
    answer = decode(ipp.post(unknown).content)
    assert answer.code == Status.OPERATION_NOT_SUPPORTED and "0x4001" in status_message(answer)
    wrong_version = decode(ipp.post(b"\x09\x00" + encode(unknown)[2:]).content)
    assert wrong_version.code == Status.VERSION_NOT_SUPPORTED
    no_charset = Message((1, 1), int(Op.GET_JOBS), 3, (Group(GroupTag.OPERATION, ()),))
    assert decode(ipp.post(no_charset).content).code == Status.BAD_REQUEST
    plain = httpx.post(f"{server.url}/ipp/faxout", content=b"hello", headers=auth_for(server.url))
    assert decode(plain.content).code == Status.BAD_REQUEST


def test_login_and_rights(server: LanfaxServer, pdf: bytes) -> None:
    anonymous = IppClient(f"{server.url}/ipp/faxout")
    from tests.support.ipp import request

    r = anonymous.post(request(Op.PRINT_JOB, anonymous.printer_uri, job=[tel("101")], data=pdf))
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    wrong = IppClient(
        f"{server.url}/ipp/faxout",
        {"Authorization": "Basic " + base64.b64encode(b"nobody:nothing").decode()},
    )
    assert wrong.post(request(Op.GET_JOBS, wrong.printer_uri)).status_code == 401
    # A user with a password but without the right to send.
    created = httpx.post(
        f"{server.api}/users", json={"name": "viewer", "role": "user", "password": "pa55-word!x"}
    )
    assert created.status_code == 201, created.text
    revoked = httpx.patch(f"{server.api}/users/viewer", json={"revoke": ["job_submit"]})
    assert revoked.status_code == 200, revoked.text
    viewer = IppClient(
        f"{server.url}/ipp/faxout",
        {"Authorization": "Basic " + base64.b64encode(b"viewer:pa55-word!x").decode()},
    )
    before = len(_all_jobs(server))
    msg = viewer.call(Op.PRINT_JOB, job=[tel("101")], data=pdf)
    assert msg.code == Status.NOT_AUTHORIZED and "job_submit" in status_message(msg)
    assert len(_all_jobs(server)) == before
    # ... and who sees only its own printed jobs.
    assert [g for g in viewer.call(Op.GET_JOBS).groups if g.tag == JOB] == []
    other = viewer.call(Op.GET_JOB_ATTRIBUTES, [attr("job-id", Tag.INTEGER, 1)])
    assert other.code == Status.NOT_AUTHORIZED
    missing = viewer.call(Op.GET_JOB_ATTRIBUTES, [attr("job-id", Tag.INTEGER, 10**6)])
    assert missing.code == Status.NOT_FOUND


def test_no_destination_keeps_a_draft(server: LanfaxServer, ipp: IppClient, pdf: bytes) -> None:
    before = len(_all_jobs(server))
    msg = ipp.call(Op.PRINT_JOB, [attr("job-name", Tag.NAME, "letter.pdf")], data=pdf)
    assert msg.code == Status.OK
    assert "draft" in status_message(msg)
    job_id = value(msg, JOB, "job-id")
    assert _job_state(ipp, job_id)[0] == 9
    assert len(_all_jobs(server)) == before
    drafts = httpx.get(f"{server.api}/drafts").json()["drafts"]
    (draft,) = [d for d in drafts if d["ipp_job_id"] == job_id]
    assert draft["document_name"] == "letter.pdf" and draft["user_name"] == "admin"
    assert "document_path" not in draft
