"""Cover page templates through the clients (sync and async) and ``lanfax cover ...``,
``lanfax send --cover``, against a real ``lanfax serve``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.cli.conftest import Run
from tests.support.server import LanfaxServer

from lanfax.client import AsyncClient, Client
from lanfax.model.errors import AccessDenied, DocumentError, NotFound

TEMPLATE = b"FAX\n\nTo: {rec_name} ({rec_fax_number})\nFrom: {sdr_name}\n\n{subject}\n"


def test_sync_client_cover_calls(cli_server: LanfaxServer) -> None:
    with Client(cli_server.url) as client:
        added = client.add_cover("sync-memo", TEMPLATE)
        assert (added.name, added.scope, added.kind) == ("sync-memo", "personal", "txt")
        names = {(t.name, t.scope) for t in client.covers()}
        assert {("default", "server"), ("sync-memo", "personal")} <= names
        assert client.cover_preview("sync-memo", scope="personal").startswith(b"%PDF")
        try:
            client.add_cover("broken", b"{no_such_field}")
        except DocumentError as exc:
            assert "no_such_field" in exc.message and exc.hint
        else:
            raise AssertionError("a template with an unknown field was accepted")
        client.remove_cover("sync-memo")
        try:
            client.remove_cover("sync-memo")
        except NotFound as exc:
            assert exc.hint
        else:
            raise AssertionError("removed twice")


def test_async_client_cover_calls(cli_server: LanfaxServer) -> None:
    async def body() -> None:
        async with AsyncClient(cli_server.url) as client:
            added = await client.add_cover("async-memo", TEMPLATE, scope="server")
            assert added.scope == "server"
            assert any(t.name == "async-memo" for t in await client.covers())
            pdf = await client.cover_preview("async-memo")
            assert pdf.startswith(b"%PDF")
            await client.remove_cover("async-memo", scope="server")
            assert all(t.name != "async-memo" for t in await client.covers())

    asyncio.run(body())


def test_a_plain_user_cannot_add_a_server_template(cli_server: LanfaxServer) -> None:
    from tests.support.authhttp import login_as

    token = login_as(cli_server.api, "pat", role="user")["Authorization"].split()[1]
    with Client(cli_server.url, token=token) as client:
        try:
            client.add_cover("nope", TEMPLATE, scope="server")
        except AccessDenied as exc:
            assert "manage_config" in exc.message and exc.hint
        else:
            raise AssertionError("a plain user added a server template")


def test_cli_cover_verbs_and_send(lanfax: Run, fax: Path, tmp_path: Path) -> None:
    tpl = tmp_path / "memo.txt"
    tpl.write_bytes(TEMPLATE)
    p = lanfax("cover", "add", "memo", str(tpl))
    assert p.returncode == 0 and "added personal cover page template memo" in p.stdout, p.stderr
    p = lanfax("cover", "list", "--json")
    assert p.returncode == 0, p.stderr
    assert {"name": "memo", "scope": "personal", "kind": "txt"} in json.loads(p.stdout)
    # preview NAME: the server's template.
    out = tmp_path / "memo.pdf"
    p = lanfax("cover", "preview", "memo", "-o", str(out))
    assert p.returncode == 0 and "personal template memo" in p.stdout, p.stderr
    assert out.read_bytes().startswith(b"%PDF")
    p = lanfax("cover", "preview", "missing", "-o", str(out))
    assert p.returncode == 3 and "hint:" in p.stderr
    # preview FILE: offline, no server needed (none listens on port 9).
    offline = tmp_path / "file.tif"
    p = lanfax("cover", "preview", str(tpl), "-o", str(offline), "--server", "http://127.0.0.1:9")
    assert p.returncode == 0, p.stderr
    assert offline.read_bytes()[:4] in (b"II*\x00", b"MM\x00*")
    # send --cover NAME: the job gets a cover page in front of the body.
    p = lanfax("send", str(fax), "--to", "1300", "--cover", "memo", "--at", "2099-01-01T00:00",
               "--json")  # fmt: skip
    assert p.returncode == 0, p.stderr
    (job,) = json.loads(p.stdout)["jobs"]
    assert job["page_count"] == 2
    p = lanfax("send", str(fax), "--to", "1301", "--cover", "nosuch", "--at", "2099-01-01T00:00")
    assert p.returncode == 2 and "'nosuch'" in p.stderr and "memo" in p.stderr
    p = lanfax("cover", "remove", "memo")
    assert p.returncode == 0, p.stderr
