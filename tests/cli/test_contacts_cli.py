"""``lanfax contacts`` and ``lanfax send --to @list`` against a real server whose default
virtual lines (100 and 101) really carry the faxes (issue #13)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.cli.conftest import LANFAX
from tests.support.authhttp import httpx
from tests.support.faxes import make_fax_tiff
from tests.support.server import LanfaxServer

from lanfax.client import AsyncClient

FINAL = {"completed", "failed", "retries_exceeded", "canceled"}


def _run(server: LanfaxServer, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LANFAX_SERVER=server.url)
    return subprocess.run([LANFAX, *args], capture_output=True, text=True, env=env, timeout=timeout)


def _jobs(api: str, **params: Any) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = httpx.get(f"{api}/jobs", params=params).json()["jobs"]
    return result


def test_a_contact_list_fans_out_to_a_broadcast_received_on_the_line(
    lanfax_server: LanfaxServer, tmp_path: Path
) -> None:
    api = lanfax_server.api
    ok = _run(lanfax_server, "contacts", "add", "Line 101", "--fax", "101", "--shared")
    assert ok.returncode == 0, ok.stderr
    assert "added shared contact Line 101 (101)" in ok.stdout
    # A shared list holds shared contacts only: a personal one is refused, naming it.
    ok = _run(lanfax_server, "contacts", "add", "Mine", "--fax", "101", "--company", "Lab")
    assert ok.returncode == 0, ok.stderr
    refused = _run(lanfax_server, "contacts", "add", "x", "--members", "Mine", "--shared")
    assert refused.returncode != 0 and "'Mine'" in refused.stderr
    ok = _run(lanfax_server, "contacts", "add", "team", "--members", "Line 101, 101", "--shared")
    assert ok.returncode == 0, ok.stderr
    assert "added shared list team (2 members)" in ok.stdout
    listed = _run(lanfax_server, "contacts", "list")
    assert listed.returncode == 0, listed.stderr
    shown = _run(lanfax_server, "contacts", "show", "team")
    assert shown.returncode == 0, shown.stderr
    assert "  Line 101  101  (contact)" in shown.stdout and "  101  101  (number)" in shown.stdout
    assert "Line 101" in listed.stdout and "team" in listed.stdout and "2 members" in listed.stdout

    doc = make_fax_tiff(tmp_path / "doc", pages=1)
    unknown = _run(lanfax_server, "send", str(doc), "--to", "@team", "--to", "@nobody")
    assert unknown.returncode != 0
    assert "'nobody'" in unknown.stderr, unknown.stderr
    assert _jobs(api, limit=100) == []  # nothing was queued

    sent = _run(lanfax_server, "send", str(doc), "--to", "@TEAM", "--json")
    assert sent.returncode == 0, sent.stderr
    jobs = _jobs(api, type="send")
    assert sorted((j["recipient_number"], j["recipient_name"]) for j in jobs) == [
        ("101", "101"),
        ("101", "Line 101"),
    ]
    assert len({j["broadcast_id"] for j in jobs}) == 1  # one broadcast
    # Both faxes really go over the virtual line and arrive on 101.
    deadline = time.monotonic() + 240

    def done() -> bool:
        return all(j["queue_status"] in FINAL for j in sends) and (
            sum(1 for j in received if j["queue_status"] in FINAL) >= 2
        )

    sends, received = _jobs(api, type="send"), _jobs(api, type="receive")
    with httpx.stream("GET", f"{api}/events", params={"after": 0}, timeout=240) as stream:
        for _line in stream.iter_lines():  # every event (or keep-alive): look again
            sends, received = _jobs(api, type="send"), _jobs(api, type="receive")
            if done():
                break
            assert time.monotonic() < deadline, (
                [(j["job_id"], j["queue_status"], j["status_text"]) for j in sends],
                [(j["job_id"], j["queue_status"], j["status_text"]) for j in received],
            )
    assert [j["queue_status"] for j in sends] == ["completed", "completed"], sends
    line_101 = next(p for p in httpx.get(f"{api}/ports").json() if p["number"] == "101")
    assert len(received) == 2
    assert all(j["device_id"] == line_101["device_id"] for j in received)
    assert all(j["page_count"] == 1 for j in received)

    gone = _run(lanfax_server, "contacts", "remove", "team", "--shared")
    assert gone.returncode == 0, gone.stderr
    assert "team" not in _run(lanfax_server, "contacts", "list").stdout


def test_cli_vcard_import_export_and_async_client(
    lanfax_server: LanfaxServer, tmp_path: Path
) -> None:
    vcf = tmp_path / "in.vcf"
    vcf.write_text(
        "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Ada\r\nTEL;TYPE=fax:+44 20 1\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Hopper;Grace;;;\r\nFN:Grace Hopper\r\n"
        "TEL;TYPE=FAX:+1 202 2\r\nORG:Navy\r\nEND:VCARD\r\n",
        encoding="utf-8",
    )
    ok = _run(lanfax_server, "contacts", "import", str(vcf))
    assert ok.returncode == 0, ok.stderr
    assert "imported 2 new and updated 0 personal contact(s)" in ok.stdout
    out = tmp_path / "out.vcf"
    ok = _run(lanfax_server, "contacts", "export", "-o", str(out), "--version", "3.0")
    assert ok.returncode == 0, ok.stderr
    text = out.read_text(encoding="utf-8")
    assert text.count("BEGIN:VCARD") == 2 and "VERSION:3.0" in text and "ORG:Navy" in text
    shown = _run(lanfax_server, "contacts", "show", "grace hopper")
    assert shown.returncode == 0 and "+1 202 2" in shown.stdout, shown
    missing = _run(lanfax_server, "contacts", "remove", "nobody")
    assert missing.returncode != 0 and "nobody" in missing.stderr

    async def body() -> None:
        async with AsyncClient(lanfax_server.url) as client:
            found = await client.contacts(prefix="gr")
            assert [c.name for c in found] == ["Grace Hopper"]
            c = await client.update_contact(found[0].contact_id, city="Arlington")
            assert c.city == "Arlington"
            lst = await client.add_contact_list("pioneers", ["Ada", "Grace Hopper"], notes="n")
            assert [m.fax_number for m in lst.members] == ["+44 20 1", "+1 202 2"]
            lst = await client.update_contact_list(lst.list_id, members=["Ada"])
            assert [m.name for m in lst.members] == ["Ada"]
            assert [x.name for x in await client.contact_lists()] == ["pioneers"]
            exported = await client.export_vcards(version="4.0")
            assert exported.count("BEGIN:VCARD") == 2
            result = await client.import_vcards(exported.encode())
            assert (result.imported, result.updated) == (0, 2)
            await client.remove_contact_list(lst.list_id)
            await client.remove_contact(c.contact_id)
            assert [x.name for x in await client.contacts()] == ["Ada"]

    asyncio.run(body())
