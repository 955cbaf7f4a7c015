"""Cover pages and resolution at submission, on a real ``lanfax serve`` (default config:
virtual lines 100 and 101, real spandsp), and the cover page template routes with rights."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from tests.support.authhttp import httpx, login_as
from tests.support.faxes import make_fax_tiff
from tests.support.http import receive_jobs, set_port, wait_for
from tests.support.server import LanfaxServer, start_lanfax_server

FINAL = {"completed", "failed", "retries_exceeded", "canceled"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    s = start_lanfax_server(tmp_path_factory.mktemp("covers"))
    try:
        yield s
    finally:
        s.close()


def _submit(api: str, params: dict[str, Any], files: list[tuple[str, bytes]], **kw: Any) -> Any:
    return httpx.post(
        f"{api}/jobs",
        data={"params": json.dumps(params)},
        files=[("file", (name, data, "application/octet-stream")) for name, data in files],
        timeout=60,
        **kw,
    )


def _pages(path: Path) -> list[np.ndarray]:
    """Each page of a fax TIFF as a boolean array (True = black)."""
    out = []
    with Image.open(path) as im:
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            out.append(np.asarray(im.convert("L")) < 128)
    return out


def _received_file(server: LanfaxServer, count: int) -> list[Path]:
    """Wait until ``count`` faxes were received and routed; their inbox files, oldest first."""
    api = server.api

    def done() -> list[dict[str, Any]] | None:
        rx = [j for j in receive_jobs(api) if j["queue_status"] in FINAL]
        return rx if len(rx) >= count else None

    jobs = wait_for(api, f"{count} received faxes", done)
    assert all(j["queue_status"] == "completed" for j in jobs), jobs
    files = []
    for job in sorted(jobs, key=lambda j: j["job_id"]):
        doc = httpx.get(f"{api}/jobs/{job['job_id']}/document", timeout=30)
        assert doc.status_code == 200, doc.text
        path = server.tmp_path / f"rx-{job['job_id']}.tif"
        path.write_bytes(doc.content)
        files.append(path)
    return files


def _ocr(page: np.ndarray, work: Path) -> str:
    png = work / "page.png"
    Image.fromarray(np.where(page, 0, 255).astype(np.uint8)).save(png)
    run = subprocess.run(
        ["tesseract", str(png), "-", "--psm", "3"], capture_output=True, text=True, check=True
    )
    return run.stdout


def test_cover_pages_per_recipient_over_virtual_lines(server: LanfaxServer, tmp_path: Path) -> None:
    api = server.api
    # Both faxes go to line 101 one after the other (never two calls to one number); were
    # 101 allowed to send, it could be given the second one while line 100 was still being
    # freed, and a line dialing its own number finds it busy: a retry 10 minutes later,
    # past the deadline (seen once under heavy load). So 101 only receives, at once.
    set_port(api, "101", {"flags": ["receive"], "rings": 1})
    body = make_fax_tiff(tmp_path / "doc", pages=2)
    params = {
        "recipients": [
            {"recipient_number": "101", "recipient_name": "Alice Appleton"},
            {"recipient_number": "101", "recipient_name": "Bartholomew Zimmer"},
        ],
        "sender_name": "Sam Sender",
        "cover_page": {"subject": "Quarterly figures", "note": "Two pages follow."},
    }
    r = _submit(api, params, [("doc.tif", body.read_bytes())])
    assert r.status_code == 201, r.text
    jobs = r.json()["jobs"]
    assert [j["page_count"] for j in jobs] == [3, 3]
    assert jobs[0]["size"] > body.stat().st_size
    # The body is stored once; each job has its own one-page cover file (issue #14: a
    # copy of the body per recipient could fill the disk). They are joined for the call.
    spool = server.data_dir / "spool"
    bid = r.json()["broadcast_id"]
    assert sorted(p.name for p in (spool / "docs").glob(f"{bid}*")) == [
        f"{bid}-0.tif",
        f"{bid}-1.tif",
        f"{bid}.tif",
    ]
    assert len(_pages(spool / "docs" / f"{bid}-0.tif")) == 1
    assert not list((spool / "tmp").glob(f"{bid}*"))
    received = _received_file(server, 2)
    sent_body = _pages(body)
    firsts = []
    for path in received:
        pages = _pages(path)
        assert len(pages) == 3
        firsts.append(pages[0])
        # The body pages arrive after the cover page, the cover page is not blank and differs
        # from the body's first page.
        assert pages[0].sum() > 10 * max(1, sent_body[0].sum())
    assert not np.array_equal(firsts[0], firsts[1])
    # tesseract reads each recipient's own name on its cover page.
    texts = [_ocr(p, tmp_path) for p in firsts]
    assert "Alice" in texts[0] and "Alice" not in texts[1], texts
    assert "Zimmer" in texts[1], texts


def test_standard_resolution_gives_98_dpi_pages(server: LanfaxServer, tmp_path: Path) -> None:
    text = tmp_path / "letter.txt"
    text.write_text("A letter at standard resolution.\n")
    r = _submit(
        server.api,
        {"recipients": [{"recipient_number": "999"}], "resolution": "standard",
         "schedule_action": "specific_time", "schedule_time": "2099-01-01T00:00:00Z",
         "cover_page": {}},
        [("letter.txt", text.read_bytes())],
    )  # fmt: skip
    assert r.status_code == 201, r.text
    (job,) = r.json()["jobs"]
    assert job["page_count"] == 2
    doc = httpx.get(f"{server.api}/jobs/{job['job_id']}/document", timeout=30)
    assert doc.status_code == 200
    path = tmp_path / "sent.tif"
    path.write_bytes(doc.content)
    with Image.open(path) as im:
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            assert tuple(round(v) for v in im.info["dpi"]) == (204, 98)
            assert im.size == (1728, 1146)


def test_unknown_template_is_422_listing_the_available(
    server: LanfaxServer, tmp_path: Path
) -> None:
    body = make_fax_tiff(tmp_path / "doc")
    r = _submit(
        server.api,
        {"recipients": [{"recipient_number": "101"}], "cover_page": {"cover_page_name": "nope"}},
        [("doc.tif", body.read_bytes())],
    )
    assert r.status_code == 422, r.text
    problem = r.json()
    assert "'nope'" in problem["detail"] and "default" in problem["hint"]


def test_server_cp_refuses_a_personal_template(server: LanfaxServer, tmp_path: Path) -> None:
    api = server.api
    ann = login_as(api, "ann", role="user")
    r = httpx.put(
        f"{api}/covers/personal/mine", content=b"To {rec_name}\nFrom {sdr_name}\n", headers=ann
    )
    assert r.status_code == 201, r.text
    body = make_fax_tiff(tmp_path / "doc")
    params = {
        "recipients": [{"recipient_number": "999"}],
        "schedule_action": "specific_time",
        "schedule_time": "2099-01-01T00:00:00Z",
        "cover_page": {"cover_page_name": "mine"},
    }
    assert httpx.patch(f"{api}/config", json={"server_cp": True}).status_code == 200
    try:
        r = _submit(api, params, [("doc.tif", body.read_bytes())], headers=ann)
        assert r.status_code == 403, r.text
        assert "server cover pages" in r.json()["detail"] and r.json()["hint"]
        # The built-in default is a server template: still allowed.
        params["cover_page"] = {"cover_page_name": "default"}
        r = _submit(api, params, [("doc.tif", body.read_bytes())], headers=ann)
        assert r.status_code == 201, r.text
    finally:
        httpx.patch(f"{api}/config", json={"server_cp": False})
    params["cover_page"] = {"cover_page_name": "mine"}
    r = _submit(api, params, [("doc.tif", body.read_bytes())], headers=ann)
    assert r.status_code == 201, r.text
    assert r.json()["jobs"][0]["page_count"] == 2


def test_template_routes_and_rights(server: LanfaxServer) -> None:
    api = server.api
    uma = login_as(api, "uma", role="user")
    text = b"FAX for {rec_name} at {rec_fax_number}\n\n{note}\n"
    # A plain user cannot upload or remove a server template; an administrator can.
    r = httpx.put(f"{api}/covers/server/memo", content=text, headers=uma)
    assert r.status_code == 403 and r.json()["hint"], r.text
    r = httpx.put(f"{api}/covers/server/memo", content=text)
    assert r.status_code == 201 and r.json() == {"name": "memo", "scope": "server", "kind": "txt"}
    r = httpx.put(f"{api}/covers/personal/note", content=text, headers=uma)
    assert r.status_code == 201, r.text
    listed = httpx.get(f"{api}/covers", headers=uma).json()["templates"]
    assert {(t["name"], t["scope"]) for t in listed} == {
        ("default", "server"),
        ("memo", "server"),
        ("note", "personal"),
    }
    # Another user does not see uma's personal template.
    others = httpx.get(f"{api}/covers").json()["templates"]
    assert ("note", "personal") not in {(t["name"], t["scope"]) for t in others}
    # A bad template is refused with the valid field names.
    r = httpx.put(f"{api}/covers/personal/bad", content=b"{nonsense}", headers=uma)
    assert r.status_code == 422 and "rec_name" in r.json()["hint"], r.text
    for scope, name in (("server", "memo"), ("personal", "note"), ("server", "default")):
        r = httpx.get(f"{api}/covers/{scope}/{name}/preview", headers=uma, timeout=30)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF")
    r = httpx.get(f"{api}/covers/personal/memo/preview", headers=uma)
    assert r.status_code == 404 and r.json()["hint"]
    assert httpx.delete(f"{api}/covers/server/memo", headers=uma).status_code == 403
    assert httpx.delete(f"{api}/covers/server/memo").status_code == 204
    assert httpx.delete(f"{api}/covers/personal/note", headers=uma).status_code == 204
    assert httpx.delete(f"{api}/covers/personal/note", headers=uma).status_code == 404
    names = {t["name"] for t in httpx.get(f"{api}/covers", headers=uma).json()["templates"]}
    assert names == {"default"}
    assert (server.data_dir / "covers" / "users" / "uma").is_dir()
