"""Outgoing routing against a real ``lanfax serve`` with three virtual lines (spandsp):
``100`` (A) and ``101`` (B) dial out, ``+4930555`` (C) is the far end in Berlin.

* A rule pinning +49 30 to line B sends every job for Berlin on B, never on A, although A is
  the line the default rule would take first (lower device id, same priority).
* A rule to a group whose only device cannot send leaves the job "no line"; giving the group
  a line that can send dials it there.
* The routes: CRUD through both clients, bad input is a 422 naming the field, the built-in
  group and the default rule cannot be removed, reading needs query_config and changing
  manage_config.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.authhttp import httpx
from tests.support.faxes import make_fax_tiff
from tests.support.http import wait_for
from tests.support.server import LanfaxServer, start_lanfax_server

from lanfax.client import AsyncClient, Client, Conflict, InvalidInput, NotFound
from lanfax.model.codes import EventId

TOML = """
[[providers]]
type = "virtual"
lines = [{number = "100"}, {number = "101"}, {number = "+4930555", name = "Berlin office"}]
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanfaxServer]:
    srv = start_lanfax_server(tmp_path_factory.mktemp("outbound"), TOML)
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture(scope="module")
def lines(server: LanfaxServer) -> dict[str, int]:
    with Client(server.url) as fax:
        return {p.number: p.device_id for p in fax.ports()}


@pytest.fixture(scope="module")
def tiff(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fax_tiff(tmp_path_factory.mktemp("doc"), pages=1)


def _problem(exc: pytest.ExceptionInfo[InvalidInput]) -> str:
    return str(exc.value.detail.get("field", ""))


def test_a_rule_sends_berlin_on_line_b_and_never_on_a(
    server: LanfaxServer, lines: dict[str, int], tiff: Path
) -> None:
    a, b, c = lines["100"], lines["101"], lines["+4930555"]
    with Client(server.url) as fax:
        # Without a rule, the default (All devices, port priority then id) would take A.
        assert fax.outbound_route("+49 30 555").devices[0] == a
        rule = fax.add_outbound_rule("49", "30", device=b)
        assert (rule.country_code, rule.area_code, rule.device) == ("49", "30", b)
        route = fax.outbound_route("+49 30 555")
        assert route.devices == (b,) and route.rule.device == b
        assert fax.outbound_route("+44 20 1234").rule.default  # other countries: default
        try:
            jobs = fax.send(tiff, to=["+49 30 555", "+49 (30) 555", "+4930555"])
            done = fax.wait([j.job_id for j in jobs], timeout=180)
            assert [j.queue_status.name for j in done] == ["COMPLETED"] * 3, [
                (j.job_id, j.status_text) for j in done
            ]
            assert {j.device_id for j in done} == {b}
            ids = {j.job_id for j in jobs}
            dialing = [
                e
                for e in fax.events_backlog(0)
                if e.job_id in ids and e.event_id is EventId.DIALING
            ]
            assert len(dialing) >= 3 and {e.device_id for e in dialing} == {b}
            # The far end got all three (its routing may finish just after the sender).
            wait_for(
                server.api,
                "three faxes received on C",
                lambda: (
                    len(
                        [
                            j
                            for j in fax.jobs(type="receive").jobs
                            if j.device_id == c and j.queue_status.name == "COMPLETED"
                        ]
                    )
                    >= 3
                ),
            )
        finally:
            fax.remove_outbound_rule("49", "30")


def test_no_line_until_the_group_has_a_line_that_can_send(
    server: LanfaxServer, lines: dict[str, int], tiff: Path
) -> None:
    b, c = lines["101"], lines["+4930555"]
    with Client(server.url) as fax:
        with fax.open_port(c, "modify") as handle:
            fax.set_port(handle, flags=["receive"])  # C only receives now
        fax.add_outbound_group("Berlin lines", [c])
        fax.add_outbound_rule("49", "30", group="Berlin lines")
        try:
            (job,) = fax.send(tiff, to="+49 30 555")
            got = wait_for(
                server.api,
                "the job waiting for a line",
                lambda: fax.job(job.job_id).queue_status.name == "NO_LINE" and fax.job(job.job_id),
            )
            assert got.status_text.startswith("no line"), got.status_text
            assert "+49 (30)" in got.status_text
            assert got.attempts == 0 and got.device_id is None
            assert fax.outbound_group("Berlin lines").status == "no_usable_device"
            # Give the group a line that can send: the job is dialled there, at once.
            fax.set_outbound_group("Berlin lines", [c, b])
            (done,) = fax.wait([job.job_id], timeout=180)
            assert done.queue_status.name == "COMPLETED", done.status_text
            assert done.device_id == b
        finally:
            fax.remove_outbound_rule("49", "30")
            fax.remove_outbound_group("Berlin lines")
            with fax.open_port(c, "modify") as handle:
                fax.set_port(handle, flags=["send", "receive"])


def test_crud_and_bad_input(server: LanfaxServer, lines: dict[str, int]) -> None:
    a, b = lines["100"], lines["101"]
    with Client(server.url) as fax:
        groups = fax.outbound_groups()
        assert groups[0].name == "All devices" and groups[0].builtin
        assert set(groups[0].devices) == set(lines.values())
        (default,) = [r for r in fax.outbound_rules() if r.default]
        assert (default.country_code, default.area_code, default.group) == ("*", "*", "All devices")

        g = fax.add_outbound_group("Trunks", [b, a])
        assert g.devices == (b, a) and g.status == "ok"
        fax.add_outbound_group("Spare")  # empty: inactive
        assert fax.outbound_group("Spare").status == "empty"
        fax.add_outbound_rule("1", None, group="Trunks")
        fax.add_outbound_rule("1", "212", device=a)
        fax.add_outbound_rule("49", "40", group="Spare")
        rules = fax.outbound_rules()
        # Most specific first; the default last.
        assert [(r.country_code, r.area_code) for r in rules] == [
            ("1", "212"),
            ("49", "40"),
            ("1", "*"),
            ("*", "*"),
        ]
        spare = fax.outbound_rule("49", "40")
        assert not spare.active and spare.status == "empty_group"
        assert fax.outbound_route("+1 212 5550100").devices == (a,)
        assert fax.outbound_route("+1 303 5550100").devices == (b, a)
        assert fax.outbound_route("+49 40 123456").rule.default  # the empty group: inactive

        cases: list[tuple[str, object]] = [
            ("group", lambda: fax.add_outbound_rule("44", None, group="Nope")),
            ("device", lambda: fax.add_outbound_rule("44", None, device=999)),
            ("area_code", lambda: fax.add_outbound_rule("1", "212", device=b)),  # duplicate
            ("country_code", lambda: fax.add_outbound_rule("0", None, device=b)),
            ("country_code", lambda: fax.add_outbound_rule("12345", None, device=b)),
            ("area_code", lambda: fax.add_outbound_rule("49", "3x", device=b)),
            ("area_code", lambda: fax.add_outbound_rule(None, "30", device=b)),
            ("devices[1]", lambda: fax.add_outbound_group("Bad", [a, 999])),
            ("devices[1]", lambda: fax.add_outbound_group("Bad", [a, a])),
            ("name", lambda: fax.add_outbound_group("Trunks", [a])),
            ("name", lambda: fax.add_outbound_group("all DEVICES", [a])),
            ("devices", lambda: fax.set_outbound_group("All devices", [a])),
        ]
        for field, call in cases:
            with pytest.raises(InvalidInput) as info:
                call()  # type: ignore[operator]
            assert _problem(info) == field, (field, info.value)
        raw = httpx.post(f"{server.api}/outbound/rules", json={"country_code": "44"})
        assert raw.status_code == 422 and raw.json()["extra"]["field"] == "group"

        with pytest.raises(Conflict):
            fax.remove_outbound_group("All devices")
        with pytest.raises(Conflict):
            fax.remove_outbound_rule("*", "*")
        with pytest.raises(Conflict) as used:
            fax.remove_outbound_group("Trunks")  # the +1 rule uses it
        assert "+1 (all areas)" in used.value.message
        with pytest.raises(NotFound):
            fax.outbound_rule("33", None)

        # The default rule may point elsewhere, and back.
        assert fax.set_outbound_rule("*", "*", group="Trunks").group == "Trunks"
        assert fax.outbound_route("+44 20 1234").devices == (b, a)
        fax.set_outbound_rule("*", "*", group="All devices")

        # The async client has the same calls.
        async def async_part() -> None:
            async with AsyncClient(server.url) as afax:
                names = [x.name for x in await afax.outbound_groups()]
                assert names == ["All devices", "Trunks", "Spare"]
                r = await afax.set_outbound_rule("1", "212", device=b)
                assert r.device == b
                await afax.remove_outbound_rule("1", "212")

        asyncio.run(async_part())

        fax.remove_outbound_rule("1", "*")
        fax.remove_outbound_rule("49", "40")
        fax.remove_outbound_group("Trunks")
        fax.remove_outbound_group("Spare")
        assert [x.name for x in fax.outbound_groups()] == ["All devices"]

    # Survives a restart (kept in the store).
    with Client(server.url) as fax:
        fax.add_outbound_group("Kept", [b])
        fax.add_outbound_rule("33", None, group="Kept")
    server.restart()
    with Client(server.url) as fax:
        assert fax.outbound_route("+33 1 2345678").devices == (b,)
        fax.remove_outbound_rule("33", None)
        fax.remove_outbound_group("Kept")


def test_rights(server: LanfaxServer) -> None:
    r = httpx.post(
        f"{server.api}/users", json={"name": "ulla", "role": "user", "password": "ulla-password-1"}
    )
    assert r.status_code == 201, r.text
    try:
        with Client(server.url, auth=("ulla", "ulla-password-1")) as user:
            assert user.outbound_groups()[0].name == "All devices"  # query_config
            with pytest.raises(Exception) as info:
                user.add_outbound_group("Mine", [])
            assert "manage_config" in str(info.value)
    finally:
        httpx.delete(f"{server.api}/users/ulla")
