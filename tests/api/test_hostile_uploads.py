"""Hostile and broken uploads against a real ``lanfax serve``.

Every refusal must be a 4xx problem+json with a message and a hint (never a stack trace),
must leave no trace (the job list, ``spool/docs`` and ``spool/tmp`` are as they were), and
must leave the service healthy: it still answers /health and accepts a good job afterwards.
The queue is paused so that accepted jobs stay put and the job list only changes when a
submission is accepted.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.authhttp import httpx
from tests.support.faxes import make_fax_tiff, tiff_entry, tiff_ifds
from tests.support.server import LanfaxServer, start_lanfax_server

TOML = """
[server]
max_upload_mb = 4
max_pages = 3
max_recipients = 5
[settings]
pause_server_queue = true
[dialing]
blocked = ["0900*", "+49900*"]
"""

Part = tuple[str, tuple[str, bytes, str]]


# #19: every test here also runs against a server whose submissions an intake worker takes.
@pytest.fixture(scope="module", params=[0, 1], ids=["main", "intake_workers=1"])
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LanfaxServer]:
    toml = TOML.replace("[server]\n", f"[server]\nintake_workers = {request.param}\n", 1)
    srv = start_lanfax_server(tmp_path_factory.mktemp("hostile"), toml)
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture(scope="module")
def good_tiff(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_fax_tiff(tmp_path_factory.mktemp("good")).read_bytes()


def _params(number: str = "101", **extra: Any) -> dict[str, str]:
    return {"params": json.dumps({"recipients": [{"recipient_number": number}], **extra})}


def _state(server: LanfaxServer) -> tuple[list[int], list[str], list[str]]:
    r = httpx.get(f"{server.api}/jobs", params={"limit": 1000})
    assert r.status_code == 200, r.text
    spool = server.data_dir / "spool"
    return (
        [j["job_id"] for j in r.json()["jobs"]],
        sorted(os.listdir(spool / "docs")),
        sorted(os.listdir(spool / "tmp")),
    )


def _post(server: LanfaxServer, files: list[Part], data: dict[str, str] | None = None) -> Any:
    return httpx.post(f"{server.api}/jobs", data=data or _params(), files=files, timeout=60)


def _assert_clean_refusal(server: LanfaxServer, r: Any, before: Any) -> dict[str, Any]:
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, Any] = r.json()
    assert body["detail"] and body["hint"], body
    assert "Traceback" not in r.text
    assert "spool" not in body["detail"], "the server's own paths are its business"
    assert _state(server) == before, "a refused upload left something behind"
    return body


def _assert_still_serving(server: LanfaxServer, good_tiff: bytes) -> None:
    assert httpx.get(f"{server.api}/health").json()["status"] == "ok"
    r = _post(server, [("file", ("good.tif", good_tiff, "image/tiff"))])
    assert r.status_code == 201, r.text


# -- the corpus ------------------------------------------------------------------------------


def _png(width: int, height: int, rows: Iterator[bytes] | None = None) -> bytes:
    """A greyscale PNG; ``rows`` None: all white, compressed row by row (a bomb stays small)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    z = zlib.compressobj(9)
    row = b"\x00" + b"\xff" * width
    parts = [z.compress(r) for r in (rows if rows is not None else (row for _ in range(height)))]
    idat = b"".join(parts) + z.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _tiff(width: int, height: int, *, compression: int = 1, strip: bytes = b"\x00" * 16) -> bytes:
    """A little-endian one-page bilevel TIFF whose tags claim ``width`` x ``height``."""
    entries = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, 1),
        (259, 3, 1, compression),
        (262, 3, 1, 0),
        (273, 4, 1, 0),  # strip offset, patched below
        (277, 3, 1, 1),
        (278, 4, 1, height),
        (279, 4, 1, len(strip)),
        (282, 5, 1, 0),  # x resolution, patched below
        (283, 5, 1, 0),
        (296, 3, 1, 2),
    ]
    ifd_at = 8
    after_ifd = ifd_at + 2 + 12 * len(entries) + 4
    xres_at, yres_at, strip_at = after_ifd, after_ifd + 8, after_ifd + 16
    values = {273: strip_at, 282: xres_at, 283: yres_at}
    out = bytearray(b"II*\x00" + struct.pack("<I", ifd_at))
    out += struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        value = values.get(tag, value)
        if kind == 3:
            out += struct.pack("<HHIHH", tag, kind, count, value, 0)
        else:
            out += struct.pack("<HHII", tag, kind, count, value)
    out += struct.pack("<I", 0)
    out += struct.pack("<II", 204, 1) + struct.pack("<II", 196, 1) + strip
    return bytes(out)


def _pdf() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (400, 400), 255).save(buf, "PDF")
    return buf.getvalue()


def _bomb() -> bytes:
    # 30000 x 30000 = 900 million pixels (900 MB decoded), a few hundred kB on the wire.
    return _png(30000, 30000)


CORRUPT: dict[str, tuple[str, bytes, str]] = {
    "zero bytes": ("empty.pdf", b"", "application/pdf"),
    "truncated pdf": ("cut.pdf", _pdf()[:120], "application/pdf"),
    "pdf header only": ("head.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "application/pdf"),
    "tiff of absurd size": ("huge.tif", _tiff(1_000_000, 1_000_000), "image/tiff"),
    "fax tiff of absurd length": (
        "long.tif",
        _tiff(1728, 2_000_000_000, compression=3),
        "image/tiff",
    ),
    "tiff of zero size": ("zero.tif", _tiff(0, 0), "image/tiff"),
    "truncated tiff": ("cut.tif", _tiff(1728, 100)[:30], "image/tiff"),
    "png bomb": ("bomb.png", _bomb(), "image/png"),
    "png with broken data": ("broken.png", _png(100, 100)[:-40] + b"\x00" * 40, "image/png"),
    "binary named .txt": ("notes.txt", bytes(range(256)) * 64, "text/plain"),
    "elf named .pdf": ("invoice.pdf", b"\x7fELF\x02\x01\x01" + b"\x00" * 500, "application/pdf"),
    "zip named .docx": ("letter.docx", b"PK\x03\x04" + b"\x00" * 200, "application/msword"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_upload_is_refused_cleanly(
    server: LanfaxServer, good_tiff: bytes, case: str
) -> None:
    before = _state(server)
    r = _post(server, [("file", CORRUPT[case])])
    body = _assert_clean_refusal(server, r, before)
    assert body["status"] == 422, body
    assert body["detail"].startswith(f"file part 1 ({CORRUPT[case][0]})"), body
    _assert_still_serving(server, good_tiff)


def test_corrupt_part_after_a_good_one_refuses_the_whole_submission(
    server: LanfaxServer, good_tiff: bytes
) -> None:
    before = _state(server)
    r = _post(
        server,
        [
            ("file", ("good.tif", good_tiff, "image/tiff")),
            ("file", CORRUPT["truncated pdf"]),
        ],
    )
    _assert_clean_refusal(server, r, before)


@pytest.mark.parametrize(
    "name",
    [
        "../../../../../../tmp/lanfax-escape.tif",
        "..\\..\\..\\windows\\system32\\escape.tif",
        "/etc/lanfax-escape.tif",
        "a\x00b.tif",
        "x" * 5000 + ".tif",
        "spool/docs/../../lanfax.db",
        "",
    ],
)
def test_hostile_file_names_are_never_paths(
    server: LanfaxServer, good_tiff: bytes, name: str
) -> None:
    top = server.tmp_path.parent
    outside = set(top.rglob("*escape*"))
    r = _post(server, [("file", (name, good_tiff, "image/tiff"))])
    assert r.status_code in (201, 422), r.text[:300]
    r = _post(server, [("file", (name, b"", "image/tiff"))])
    assert r.status_code == 422, r.text[:300]
    assert r.json()["hint"]
    assert len(r.json()["detail"]) < 400  # a long name is not echoed whole
    assert set(top.rglob("*escape*")) == outside
    assert not Path("/tmp/lanfax-escape.tif").exists()
    assert not Path("/etc/lanfax-escape.tif").exists()
    assert (server.data_dir / "lanfax.db").is_file()
    _assert_still_serving(server, good_tiff)


def test_wrong_names_and_types_do_not_matter_content_does(
    server: LanfaxServer, good_tiff: bytes
) -> None:
    png = _png(300, 200)
    for name, ctype, data in [
        ("picture.pdf", "application/pdf", png),
        ("fax.txt", "text/plain", good_tiff),
        ("noextension", "application/octet-stream", b"plain text, no name to go by\n"),
    ]:
        r = _post(server, [("file", (name, data, ctype))])
        assert r.status_code == 201, (name, r.text)


def test_page_limit(server: LanfaxServer, tmp_path: Path) -> None:
    before = _state(server)
    four = make_fax_tiff(tmp_path / "four", pages=4).read_bytes()
    r = _post(server, [("file", ("four.tif", four, "image/tiff"))])
    body = _assert_clean_refusal(server, r, before)
    assert "4 pages" in body["detail"] and "server.max_pages" in body["hint"]
    text = "".join(f"page {n}\f" for n in range(5)).encode()
    r = _post(server, [("file", ("five.txt", text, "text/plain"))])
    body = _assert_clean_refusal(server, r, before)
    assert "pages" in body["detail"], body


def test_recipient_limit_and_blocked_numbers(server: LanfaxServer, good_tiff: bytes) -> None:
    before = _state(server)
    files = [("file", ("good.tif", good_tiff, "image/tiff"))]
    many = {"params": json.dumps({"recipients": [{"recipient_number": "101"}] * 6})}
    body = _assert_clean_refusal(server, _post(server, files, many), before)
    assert "6 recipients" in body["detail"] and "server.max_recipients" in body["hint"]
    blocked = _params("+49 900 1234567")
    body = _assert_clean_refusal(server, _post(server, files, blocked), before)
    assert body["status"] == 422
    assert "'+49 900 1234567'" in body["detail"] and "'+49900*'" in body["detail"]
    for bad in ["fax-me", "++49", "0" * 65]:
        body = _assert_clean_refusal(server, _post(server, files, _params(bad)), before)
        assert "recipient_number" in body["detail"]
    for fine in ["*30", "101", "+49 30 1234567"]:
        assert _post(server, files, _params(fine)).status_code == 201


def test_huge_multipart_headers(server: LanfaxServer, good_tiff: bytes) -> None:
    before = _state(server)
    boundary = "lanfaxboundary"
    for header in [
        f'Content-Disposition: form-data; name="file"; filename="{"A" * 2_000_000}.tif"',
        "X-Junk: " + "B" * 2_000_000,
        "\r\n".join(f"X-Many-{i}: {i}" for i in range(20_000)),
    ]:
        body = (
            (
                f"--{boundary}\r\n"
                'Content-Disposition: form-data; name="params"\r\n\r\n'
                + json.dumps({"recipients": [{"recipient_number": "101"}]})
                + f"\r\n--{boundary}\r\n{header}\r\n"
                + (
                    'Content-Disposition: form-data; name="file"; filename="x.tif"\r\n'
                    if "Content-Disposition" not in header
                    else ""
                )
                + "Content-Type: image/tiff\r\n\r\n"
            ).encode()
            + good_tiff
            + f"\r\n--{boundary}--\r\n".encode()
        )
        r = httpx.post(
            f"{server.api}/jobs",
            content=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            timeout=60,
        )
        _assert_clean_refusal(server, r, before)
    _assert_still_serving(server, good_tiff)


def test_oversized_upload(server: LanfaxServer, good_tiff: bytes) -> None:
    before = _state(server)
    big = os.urandom(5 * 2**20)
    body = _assert_clean_refusal(server, _post(server, [("file", ("big.pdf", big, "x/y"))]), before)
    assert body["status"] == 413
    _assert_still_serving(server, good_tiff)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.one_of(
        st.binary(max_size=4096),
        st.sampled_from([v[1] for v in CORRUPT.values() if len(v[1]) < 100_000]).flatmap(
            lambda b: st.integers(0, len(b)).map(lambda n: b[:n])
        ),
    ),
    name=st.text(max_size=300),
    ctype=st.sampled_from(["application/pdf", "image/tiff", "image/png", "text/plain", ""]),
)
def test_generated_uploads(server: LanfaxServer, data: bytes, name: str, ctype: str) -> None:
    before = _state(server)
    try:
        r = _post(server, [("file", (name, data, ctype or "application/octet-stream"))])
    except UnicodeEncodeError:
        return  # the client cannot put such a name in a header; nothing was sent
    if r.status_code == 201:
        return  # it was a document after all (arbitrary bytes are often valid text)
    _assert_clean_refusal(server, r, before)
    assert httpx.get(f"{server.api}/health").json()["status"] == "ok"


# -- every page of a fax-ready TIFF is checked (issue #14, item 9) ----------------------------


@pytest.fixture(scope="module")
def three_page_fax(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_fax_tiff(tmp_path_factory.mktemp("three"), pages=3).read_bytes()


def test_a_damaged_page_after_the_first_is_refused(
    server: LanfaxServer, good_tiff: bytes, three_page_fax: bytes
) -> None:
    """Page 2's coded data is garbage: the tags say Class F, so it used to be accepted as it
    is and the call would send a garbage page (or fail mid-fax)."""
    data = bytearray(three_page_fax)
    page2 = tiff_ifds(bytes(data))[1]
    _, offset = tiff_entry(bytes(data), page2, 273)
    _, count = tiff_entry(bytes(data), page2, 279)
    data[offset + count // 3 : offset + count] = os.urandom(count - count // 3)
    before = _state(server)
    r = _post(server, [("file", ("scan.tif", bytes(data), "image/tiff"))])
    body = _assert_clean_refusal(server, r, before)
    assert body["status"] == 422
    assert "page 2 of the TIFF" in body["detail"] and "damaged" in body["detail"], body
    _assert_still_serving(server, good_tiff)


def test_a_page_longer_than_paper_after_the_first_is_converted(
    server: LanfaxServer, three_page_fax: bytes
) -> None:
    """Page 2 claims 20000 rows (a hostile length tag): it is not sent as it is; the
    converter makes pages no longer than paper of it (page 1 always had this check)."""
    data = bytearray(three_page_fax)
    at, _ = tiff_entry(bytes(data), tiff_ifds(bytes(data))[1], 257)
    struct.pack_into("<I", data, at, 20000)
    r = _post(server, [("file", ("tall.tif", bytes(data), "image/tiff"))])
    if r.status_code == 201:
        (job,) = r.json()["jobs"]
        doc = httpx.get(f"{server.api}/jobs/{job['job_id']}/document").content
        for ifd in tiff_ifds(doc):
            assert tiff_entry(doc, ifd, 257)[1] <= 2809
    else:
        assert r.status_code == 422, r.text
