"""Registration of providers and routing extensions at run time, and extension data with
change notification, on a real server (issue #13). The extensions are installed code in
``tests/support/extmod.py``, registered by ``module:Class``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from tests.support.authhttp import httpx, login_as
from tests.support.extmod import CONFIG_GUID, METHOD_GUID, OTHER_METHOD_GUID
from tests.support.server import TEST_PROVIDER_TOML, LanfaxServer, start_lanfax_server

from lanfax.client import winfax


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = start_lanfax_server(tmp_path_factory.mktemp("ext"), TEST_PROVIDER_TOML)
    try:
        yield server
    finally:
        server.close()


def _ensure_probe(api: str) -> None:
    """The probe extension is registered (by an earlier test of this module, or now)."""
    r = httpx.post(
        f"{api}/routing/extensions", json={"image_name": "tests.support.extmod:ProbeRoutes"}
    )
    assert r.status_code in (201, 409), r.text


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_registered_extension_gets_config_changes_without_restart(srv: LanfaxServer) -> None:
    api = srv.api
    probe_log = srv.data_dir / "probe-routes.jsonl"
    r = httpx.post(
        f"{api}/routing/extensions",
        json={
            "name": "probe",
            "image_name": "tests.support.extmod:ProbeRoutes",
            "methods": [{"guid": METHOD_GUID.upper().strip("{}")}],
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "loaded" and r.json()["methods"] == [METHOD_GUID]
    # Loaded at once: its method is listed, and it was initialised once, in this process.
    assert METHOD_GUID in [m["guid"] for m in httpx.get(f"{api}/routing/methods").json()]
    pid = srv.proc.pid if srv.proc else 0
    assert [(e["event"], e["pid"]) for e in _lines(probe_log)] == [("initialize", pid)]
    listed = httpx.get(f"{api}/routing/extensions").json()["extensions"]
    assert {e["name"]: (e["source"], e["state"]) for e in listed} == {
        "builtin": ("entry-point", "loaded"),
        "probe": ("registered", "loaded"),
    }

    device = httpx.get(f"{api}/ports").json()[0]["device_id"]
    for label in ("first", "second"):
        r = httpx.put(
            f"{api}/extension-data/{CONFIG_GUID}",
            params={"device_id": device},
            json={"label": label, "threshold": 3},
        )
        assert r.status_code == 200, r.text
        assert "routing:probe" in r.json()["notified"] and r.json()["failed"] == []
    got = [e for e in _lines(probe_log) if e["event"] == "config"]
    assert [(e["data"]["label"], e["device_id"], e["guid"], e["pid"]) for e in got] == [
        ("first", device, CONFIG_GUID, pid),
        ("second", device, CONFIG_GUID, pid),
    ]
    assert srv.starts == 1  # never restarted
    r = httpx.get(f"{api}/extension-data/{CONFIG_GUID}", params={"device_id": device})
    assert r.json() == {
        "guid": CONFIG_GUID,
        "device_id": device,
        "data": {"label": "second", "threshold": 3},
    }
    assert httpx.get(f"{api}/extension-data/{CONFIG_GUID}").json()["data"] == {}
    # The change is an event too (CONFIG_CHANGED), for consoles that show it.
    events = httpx.get(f"{api}/events", params={"follow": "false", "after": 0}).json()
    assert any(
        e["event"] == "config_changed" and e["detail"].get("extension_data") == CONFIG_GUID
        for e in events
    )


def test_registered_provider_starts_at_once_and_after_a_restart(
    srv: LanfaxServer, tmp_path: Path
) -> None:
    api = srv.api
    probe = tmp_path / "provider.jsonl"
    before = {p["number"] for p in httpx.get(f"{api}/ports").json()}
    r = httpx.post(
        f"{api}/providers",
        json={
            "name": "boards",
            "friendly_name": "Probe boards",
            "image_name": "tests.support.extmod:ProbeProvider",
            "config": {"lines": [{"number": "300"}], "probe_file": str(probe)},
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "running" and len(r.json()["devices"]) == 1
    (device,) = r.json()["devices"]
    ports = {p["number"]: p for p in httpx.get(f"{api}/ports").json()}
    assert set(ports) == before | {"300"} and ports["300"]["device_id"] == device
    listed = {p["name"]: p for p in httpx.get(f"{api}/providers").json()["providers"]}
    assert listed["boards"]["state"] == "running" and listed["boards"]["devices"] == [device]
    assert listed["virtual"]["source"] == "entry-point"
    # FaxExtConfigChange reaches the running provider too.
    r = httpx.put(
        f"{api}/extension-data/{CONFIG_GUID}", params={"device_id": device}, json={"x": 1}
    )
    assert "provider:boards" in r.json()["notified"], r.json()
    assert [e["event"] for e in _lines(probe)] == ["initialize", "config"]
    assert _lines(probe)[1]["data"] == {"x": 1} and _lines(probe)[1]["device_id"] == device

    # After a restart both registrations load again; the data is still there.
    srv.restart()
    ports = {p["number"]: p for p in httpx.get(f"{api}/ports").json()}
    assert ports["300"]["device_id"] == device  # the same permanent device id
    assert [e["event"] for e in _lines(probe)] == ["initialize", "config", "initialize"]
    ext = {e["name"]: e for e in httpx.get(f"{api}/routing/extensions").json()["extensions"]}
    assert ext["probe"]["state"] == "loaded"
    assert METHOD_GUID in [m["guid"] for m in httpx.get(f"{api}/routing/methods").json()]
    r = httpx.get(f"{api}/extension-data/{CONFIG_GUID}", params={"device_id": device})
    assert r.json()["data"] == {"x": 1}

    # Unregistered: gone at the next start (the running one keeps going until then).
    assert httpx.delete(f"{api}/providers/boards").status_code == 204
    assert "300" in {p["number"] for p in httpx.get(f"{api}/ports").json()}
    srv.restart()
    assert "300" not in {p["number"] for p in httpx.get(f"{api}/ports").json()}
    assert "boards" not in {p["name"] for p in httpx.get(f"{api}/providers").json()["providers"]}


def test_registration_refusals(srv: LanfaxServer) -> None:
    api = srv.api
    cases = [
        ("/providers", {"name": "x", "image_name": "no.such.module:Thing"}, 422, "cannot import"),
        (
            "/providers",
            {"name": "x", "image_name": "tests.support.extmod:NotAnExtension"},
            422,
            "not a FaxProvider",
        ),
        (
            "/providers",
            {"name": "virtual", "image_name": "tests.support.extmod:ProbeProvider"},
            409,
            "already installed",
        ),
        (
            "/providers",
            {
                "name": "y",
                "image_name": "tests.support.extmod:ProbeProvider",
                "config": {"lines": []},
            },
            422,
            "lines",
        ),
        ("/providers", {"image_name": "tests.support.extmod:ProbeProvider"}, 422, "name"),
        ("/routing/extensions", {"image_name": "os:path"}, 422, "not a RoutingExtension"),
        ("/routing/extensions", {"image_name": "/tmp/evil.py"}, 422, "module.path:ClassName"),
        (
            "/routing/extensions",
            {"image_name": "tests.support.extmod:ProbeRoutes", "name": "other"},
            422,
            "'probe'",
        ),
        (
            "/routing/extensions",
            {
                "image_name": "tests.support.extmod:OtherProbeRoutes",
                "methods": [{"guid": METHOD_GUID}],
            },
            422,
            "methods[0]",
        ),
        (
            "/routing/extensions",
            {"image_name": "tests.support.extmod:ProbeRoutes", "code": "x"},
            422,
            "code",
        ),
    ]
    for path, body, status, words in cases:
        r = httpx.post(f"{api}{path}", json=body)
        assert r.status_code == status, (body, r.text)
        assert words in r.json()["detail"], (body, r.json())
    assert "y" not in {p["name"] for p in httpx.get(f"{api}/providers").json()["providers"]}
    # Registering names code the server runs: administrators only, even with manage_config.
    oper = login_as(api, "ext-operator", role="operator")
    assert httpx.patch(f"{api}/users/ext-operator", json={"grant": ["manage_config"]})
    r = httpx.post(
        f"{api}/routing/extensions",
        json={"image_name": "tests.support.extmod:OtherProbeRoutes"},
        headers=oper,
    )
    assert r.status_code == 403 and "administrator" in r.json()["detail"]
    user = login_as(api, "ext-user", role="user")
    assert httpx.get(f"{api}/providers", headers=user).status_code == 200  # query_config
    r = httpx.put(f"{api}/extension-data/{CONFIG_GUID}", json={"a": 1}, headers=user)
    assert r.status_code == 403
    # Extension data: a GUID, a known device, a JSON object.
    assert httpx.put(f"{api}/extension-data/not-a-guid", json={}).status_code == 422
    r = httpx.put(f"{api}/extension-data/{CONFIG_GUID}", params={"device_id": 999}, json={})
    assert r.status_code == 404
    assert httpx.put(f"{api}/extension-data/{CONFIG_GUID}", json=[1, 2]).status_code == 422
    # A routing method's own namespace (enable flag, routing info) is not overwritten.
    _ensure_probe(api)
    r = httpx.put(f"{api}/extension-data/{METHOD_GUID}", json={"x": 1})
    assert r.status_code == 409 and "routing info" in r.json()["detail"], r.text
    big = {"blob": "x" * 70_000}
    assert httpx.put(f"{api}/extension-data/{CONFIG_GUID}", json=big).status_code == 422


def test_winfax_registration_functions_work(srv: LanfaxServer, tmp_path: Path) -> None:
    os.environ["LANFAX_SERVER"] = srv.url
    try:
        handle = winfax.FaxConnectFaxServer(srv.url)
        calls = iter([("Probe", "Second probe", "ProbeRoute", OTHER_METHOD_GUID), None])
        assert winfax.FaxRegisterRoutingExtension(
            handle,
            "probe-two",
            "Second registration probe",
            "tests.support.extmod:OtherProbeRoutes",
            lambda h, ctx: next(calls),
        )
        assert winfax.GetLastError() == 0
        assert OTHER_METHOD_GUID in [g.Guid for g in winfax.FaxEnumGlobalRoutingInfo(handle)]
        assert winfax.FaxRegisterServiceProvider(
            "probe-type", "Probe provider type", "tests.support.extmod:ProbeProvider"
        )
        names = {p["name"]: p for p in httpx.get(f"{srv.api}/providers").json()["providers"]}
        assert names["probe-type"]["state"] == "loaded"  # a type the TOML may now name
        with pytest.raises(winfax.Conflict):
            winfax.FaxRegisterServiceProvider(
                "probe-type", "again", "tests.support.extmod:ProbeProvider"
            )
        assert winfax.GetLastError() == winfax.ERROR_INVALID_OPERATION
        winfax.FaxClose(handle)
    finally:
        os.environ.pop("LANFAX_SERVER", None)


def test_cli_and_async_client_extension_calls(srv: LanfaxServer) -> None:
    import asyncio
    import subprocess

    from tests.cli.conftest import LANFAX

    from lanfax.client import AsyncClient

    env = dict(os.environ, LANFAX_SERVER=srv.url)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([LANFAX, *args], capture_output=True, text=True, env=env, timeout=60)

    _ensure_probe(srv.api)
    listed = run("extensions", "list")
    assert listed.returncode == 0, listed.stderr
    assert "builtin" in listed.stdout and "virtual" in listed.stdout
    probe_log = srv.data_dir / "probe-routes.jsonl"
    before = len(_lines(probe_log))
    ok = run("extensions", "set", CONFIG_GUID, '{"label": "from the cli"}')
    assert ok.returncode == 0, ok.stderr
    assert "told: routing:probe" in ok.stdout
    got = _lines(probe_log)[before:]
    assert [e["data"] for e in got if e["event"] == "config"] == [{"label": "from the cli"}]
    shown = run("extensions", "get", CONFIG_GUID)
    assert shown.returncode == 0 and json.loads(shown.stdout)["label"] == "from the cli"
    bad = run("extensions", "set", CONFIG_GUID, "[1]")
    assert bad.returncode != 0 and "JSON object" in bad.stderr
    refused = run("extensions", "register", "provider", "no.such:Thing")
    assert refused.returncode != 0 and "--name" in refused.stderr

    async def body() -> None:
        async with AsyncClient(srv.url) as client:
            answer = await client.set_extension_data(CONFIG_GUID, {"label": "async"})
            assert "routing:probe" in answer["notified"]
            assert await client.extension_data(CONFIG_GUID) == {"label": "async"}
            names = [e["name"] for e in await client.routing_extensions()]
            assert "probe" in names
            assert any(p["name"] == "virtual" for p in await client.providers())

    asyncio.run(body())
