"""Routing through the clients and ``lanfax routing ...`` against a real ``lanfax serve``
(default configuration: virtual lines 100 and 101)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.server import LanfaxServer, start_lanfax_server

from lanfax.cli.main import main
from lanfax.client import AsyncClient, Client
from lanfax.model.errors import InvalidInput, NotFound
from lanfax.routing.builtin import EMAIL_GUID, FOLDER_GUID, PRINT_GUID, USER_GUID, WEBHOOK_GUID


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanfaxServer]:
    # The routes set below name loopback targets, refused unless allowed (issue #14).
    toml = '[routing.builtin]\nallow_networks = ["127.0.0.0/8"]\n'
    srv = start_lanfax_server(tmp_path_factory.mktemp("routing-cli"), toml)
    try:
        yield srv
    finally:
        srv.close()


def _device(client: Client, number: str) -> int:
    return next(p.device_id for p in client.ports() if p.number == number)


def test_sync_client_routing_calls(server: LanfaxServer) -> None:
    with Client(server.url) as client:
        order = client.routing_methods()
        assert [m.guid for m in order] == [
            FOLDER_GUID,
            EMAIL_GUID,
            PRINT_GUID,
            WEBHOOK_GUID,
            USER_GUID,
        ]
        assert [m.priority for m in order] == [1, 2, 3, 4, 5]
        moved = client.set_routing_priority(WEBHOOK_GUID, 1)
        assert moved[0].guid == WEBHOOK_GUID
        restored = client.set_routing_order(
            [FOLDER_GUID, EMAIL_GUID, PRINT_GUID, WEBHOOK_GUID, USER_GUID]
        )
        assert restored[0].guid == FOLDER_GUID
        device = _device(client, "101")
        methods = client.device_routing_methods(device)
        assert {m.guid: m.enabled for m in methods}[FOLDER_GUID] is True
        assert all(m.device_id == device for m in methods)
        info = client.get_routing_info(device, FOLDER_GUID)
        assert Path(info["folder"]).resolve() == (server.data_dir / "inbox").resolve()
        with pytest.raises(InvalidInput) as bad:
            client.enable_routing_method(device, EMAIL_GUID, True)  # no routing info yet
        assert bad.value.hint
        with pytest.raises(NotFound):
            client.get_routing_info(device, "{00000000-0000-0000-0000-000000000000}")
        with pytest.raises(NotFound):
            client.retry_routing(999999)


def test_async_client_routing_calls(server: LanfaxServer) -> None:
    async def body() -> None:
        async with AsyncClient(server.url) as client:
            order = await client.routing_methods()
            assert order[0].guid == FOLDER_GUID
            device = next(p.device_id for p in await client.ports() if p.number == "100")
            saved = await client.set_routing_info(
                device, WEBHOOK_GUID, {"url": "http://127.0.0.1:9/fax", "secret": "x" * 20}
            )
            assert saved["secret"] == "********"
            method = await client.enable_routing_method(device, WEBHOOK_GUID, True)
            assert method.enabled and method.guid == WEBHOOK_GUID
            method = await client.enable_routing_method(device, WEBHOOK_GUID, False)
            assert not method.enabled

    asyncio.run(body())


def test_cli_routing(
    server: LanfaxServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = ["--server", server.url]
    with Client(server.url) as client:
        device = str(_device(client, "101"))

    assert main(["routing", "methods", *url]) == 0
    text = capsys.readouterr().out
    assert "Store in a folder" in text and WEBHOOK_GUID in text

    assert main(["routing", "set", device, "email", "to=desk@example.test", *url]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "hint:" in err  # from is missing: refused, with a hint

    args = ["from=fax@example.test", "to=desk@example.test", "smtp_host=127.0.0.1"]
    assert main(["routing", "set", device, "email", *args, "smtp_port=2525", *url]) == 0
    saved = json.loads(capsys.readouterr().out)
    assert saved["smtp_port"] == 2525 and saved["to"] == ["desk@example.test"]

    assert main(["routing", "enable", device, "email", *url]) == 0
    assert "is enabled on device" in capsys.readouterr().out
    assert main(["routing", "device", device, "--json", *url]) == 0
    methods = json.loads(capsys.readouterr().out)
    assert {m["guid"]: m["enabled"] for m in methods}[EMAIL_GUID] is True
    assert main(["routing", "disable", device, "route_to_email", *url]) == 0
    capsys.readouterr()

    info = tmp_path / "folder.json"
    info.write_text(json.dumps({"folder": str(server.data_dir / "inbox"), "format": "pdf"}))
    assert main(["routing", "set", device, "folder", "--file", str(info), *url]) == 0
    assert json.loads(capsys.readouterr().out)["format"] == "pdf"
    assert main(["routing", "info", device, FOLDER_GUID, *url]) == 0
    assert json.loads(capsys.readouterr().out)["format"] == "pdf"

    assert main(["routing", "priority", "webhook", "2", *url]) == 0
    capsys.readouterr()
    assert main(["routing", "methods", "--json", *url]) == 0
    order = json.loads(capsys.readouterr().out)
    assert [m["guid"] for m in order][:2] == [FOLDER_GUID, WEBHOOK_GUID]

    assert main(["routing", "enable", device, "nosuch", *url]) == 3
    assert "names no single routing method" in capsys.readouterr().err
