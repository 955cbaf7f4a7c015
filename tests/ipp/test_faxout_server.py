"""The IPP FaxOut printer of a real ``lanfax serve`` (virtual lines 100 and 101): print jobs
become faxes received on line 101; bad requests get the IPP status the RFC names and queue
nothing."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.authhttp import auth_for, httpx
from tests.support.http import receive_jobs, set_port, wait_for
from tests.support.ipp import IppClient, cover, status_message, tel, value, values
from tests.support.raster import pwg_raster, urf
from tests.support.server import LanfaxServer, start_lanfax_server

from lanfax.documents.pdfgen import text_document
from lanfax.service.ipp.codec import Group, GroupTag, Message, Status, Tag, attr, encode
from lanfax.service.ipp.model import Op

JOB = GroupTag.JOB
PRINTER = GroupTag.PRINTER


#: Lines 100 and 102 send, 101 only receives (made so below): a broadcast's second call can
#: never find line 101 busy sending.
THREE_LINES = """
[[providers]]
type = "virtual"
lines = [{number = "100"}, {number = "101"}, {number = "102"}]
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanfaxServer]:
    srv = start_lanfax_server(tmp_path_factory.mktemp("ipp"), THREE_LINES)
    try:
        set_port(srv.api, "101", {"flags": ["receive"]})
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
    # wait_for re-checks after each event; the deadline holds even if events keep coming.
    deadline = time.monotonic() + 120

    def done() -> list[dict[str, Any]] | None:
        rx = [j for j in _received(server, before) if j["queue_status"] == "completed"]
        if len(rx) < n and time.monotonic() > deadline:
            raise AssertionError(f"no fax on line 101 after 120 s; jobs: {_all_jobs(server)}")
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
    # The lines that can send (101 only receives here).
    assert sorted(values(msg, PRINTER, "printer-fax-modem-number")) == ["tel:100", "tel:102"]
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
    assert value(full, JOB, "lanfax-broadcast-id") == job["broadcast_id"]


def test_create_job_send_document_broadcast(
    server: LanfaxServer, ipp: IppClient, pdf: bytes
) -> None:
    before = _last_job_id(server)
    created = ipp.call(
        Op.CREATE_JOB, [attr("job-name", Tag.NAME, "two copies")], [tel("1-0-1", "*30")]
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
    # Line 100 faxes line 101 while line 102 faxes the virtual fax robot *30.
    (rx,) = _wait_received(server, before)
    assert rx["page_count"] == 1
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
    admins = IppClient(f"{server.url}/ipp/faxout", auth_for(server.url))
    theirs = value(admins.call(Op.CREATE_JOB, job=[tel("101")]), JOB, "job-id")
    other = viewer.call(Op.GET_JOB_ATTRIBUTES, [attr("job-id", Tag.INTEGER, theirs)])
    assert other.code == Status.NOT_AUTHORIZED
    refused = viewer.call(Op.CANCEL_JOB, [attr("job-id", Tag.INTEGER, theirs)])
    assert refused.code == Status.NOT_AUTHORIZED
    missing = viewer.call(Op.GET_JOB_ATTRIBUTES, [attr("job-id", Tag.INTEGER, 10**6)])
    assert missing.code == Status.NOT_FOUND
    assert admins.call(Op.CANCEL_JOB, [attr("job-id", Tag.INTEGER, theirs)]).code == Status.OK


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


def _jpeg() -> bytes:
    import io

    from PIL import Image, ImageDraw

    img = Image.new("L", (800, 1100), 255)
    ImageDraw.Draw(img).rectangle((100, 100, 700, 300), fill=0)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", dpi=(100, 100))
    return buf.getvalue()


def _raster_page() -> Any:
    import numpy as np

    page = np.full((2200, 1700), 255, dtype=np.uint8)  # Letter at 200 dpi
    page[200:400, 200:1500] = 0
    return page


@pytest.mark.parametrize(
    ("fmt", "make"),
    [
        (
            "image/pwg-raster",
            lambda: pwg_raster([_raster_page()]),
        ),
        # URF sent as octet-stream: recognised by its signature.
        (
            "application/octet-stream",
            lambda: urf([_raster_page()]),
        ),
        ("image/jpeg", _jpeg),
        ("text/plain", lambda: b"A plain text fax.\nSecond line.\n"),
        (
            "application/postscript",
            lambda: (
                b"%!PS\n/Helvetica findfont 24 scalefont setfont 72 720 moveto (PS fax) show "
                b"showpage\n"
            ),
        ),
    ],
)
def test_document_formats_reach_line_101(
    server: LanfaxServer, ipp: IppClient, fmt: str, make: Any
) -> None:
    before = _last_job_id(server)
    msg = ipp.call(
        Op.PRINT_JOB,
        [attr("document-format", Tag.MIME_TYPE, fmt)],
        [tel("101")],
        make(),
    )
    assert msg.code == Status.OK, status_message(msg)
    (rx,) = _wait_received(server, before)
    assert rx["page_count"] == 1


def test_reads_are_not_audited_changes_are(server: LanfaxServer, ipp: IppClient) -> None:
    def entries() -> int:
        r = httpx.get(f"{server.api}/audit", params={"action": "ipp_faxout", "limit": 1000})
        return len(r.json()["entries"])

    before = entries()
    for _ in range(3):
        assert ipp.call(Op.GET_PRINTER_ATTRIBUTES).code == Status.OK
        assert ipp.call(Op.GET_JOBS).code == Status.OK
    assert entries() == before
    created = ipp.call(Op.CREATE_JOB, job=[tel("101")])
    assert created.code == Status.OK
    assert ipp.call(Op.CANCEL_JOB, [attr("job-id", Tag.INTEGER, value(created, JOB, "job-id"))])
    assert entries() == before + 2


def test_random_requests_never_give_500_nor_queue(server: LanfaxServer, ipp: IppClient) -> None:
    """Random and mangled bodies at the real endpoint: always HTTP 200 with an IPP answer,
    never an internal error, never a job."""
    import random

    from lanfax.service.ipp.codec import decode

    rng = random.Random(11)
    before = len(_all_jobs(server))
    valid = encode(
        Message(
            (2, 0),
            int(Op.PRINT_JOB),
            5,
            (
                Group(
                    GroupTag.OPERATION,
                    (
                        attr("attributes-charset", Tag.CHARSET, "utf-8"),
                        attr("attributes-natural-language", Tag.LANGUAGE, "en"),
                        attr("printer-uri", Tag.URI, ipp.printer_uri),
                    ),
                ),
                Group(GroupTag.JOB, (tel("101"),)),
            ),
            b"",  # no document: a valid print job would still be refused for that
        )
    )
    for i in range(150):
        if i % 2:
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 120)))
        else:
            raw = bytearray(valid)
            for _ in range(rng.randrange(1, 4)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            body = bytes(raw[: rng.randrange(1, len(raw) + 1)])
        r = ipp.post(body)
        assert r.status_code == 200, (body, r.status_code, r.text)
        # A mangled operation-id may name a read (Get-Jobs...): fine; never a server error.
        assert decode(r.content).code != Status.INTERNAL_ERROR, body
    assert len(_all_jobs(server)) == before


def test_a_hostile_content_length_is_refused_unread(server: LanfaxServer) -> None:
    """A body announced larger than server.max_upload_mb is refused before a byte of it is
    read: by the API's body limit (lanfax.api.limits) with HTTP 413, which IPP clients read
    as client-error-request-entity-too-large (CUPS does)."""
    import socket

    auth = auth_for(server.url)["Authorization"]
    head = (
        "POST /ipp/faxout HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        "Content-Type: application/ipp\r\n"
        f"Authorization: {auth}\r\n"
        f"Content-Length: {10**12}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(head + b"\x02\x00\x00\x02\x00\x00\x00\x01")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
        header, _, body = data.partition(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":")[1]
                for line in header.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
        )
        while len(body) < length:
            chunk = s.recv(65536)
            assert chunk
            body += chunk
    assert header.startswith(b"HTTP/1.1 413"), header
    assert b"50 MB" in body
