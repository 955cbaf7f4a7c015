"""``POST /api/v1/jobs`` has its own route in front of FastAPI's (#19): the same answers, the
same rights and the same audit trail as the FastAPI route it bypasses.

One in-process service with logins on, two apps over it: the app as built (the submission
served by :class:`SubmitRoute`) and the same app with that route taken out (FastAPI's route
serves it, as before #19). The same requests go to both, through httpx's ASGI transport;
the answers and the audit entries they leave must be the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Match
from tests.support.faxes import make_fax_tiff
from tests.support.inproc import run, running_service

from lanfax.api.app import create_app
from lanfax.api.jobs import SubmitRoute
from lanfax.model.audit import AuditQuery
from lanfax.service.security import Security

TOML = """
[settings]
pause_server_queue = true
"""


@pytest.fixture(scope="module")
def tiff(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_fax_tiff(tmp_path_factory.mktemp("route")).read_bytes()


def _without_submit_route(app: FastAPI) -> FastAPI:
    app.router.routes[:] = [r for r in app.router.routes if not isinstance(r, SubmitRoute)]
    return app


def _summary(resp: httpx.Response) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": resp.status_code,
        "type": resp.headers.get("content-type"),
        "allow": resp.headers.get("allow"),
    }
    if out["type"] == "application/problem+json":
        out["problem"] = {k: v for k, v in resp.json().items() if k != "instance"}
    elif resp.status_code == 201:
        body = resp.json()
        out["jobs"] = [(j["recipient_number"], j["user_name"]) for j in body["jobs"]]
    elif resp.status_code == 200:
        out["keys"] = sorted(resp.json())
    return out


async def _requests(
    app: FastAPI, tiff: bytes, admin: str, viewer: str, prefix: str
) -> list[dict[str, Any]]:
    """The same requests, with recipient numbers told apart by ``prefix``."""

    def form(number: str) -> dict[str, Any]:
        params = {"recipients": [{"recipient_number": f"{prefix}{number}" if number else ""}]}
        return {
            "data": {"params": json.dumps(params)},
            "files": [("file", ("doc.tif", tiff, "image/tiff"))],
        }

    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    as_admin = {"Authorization": f"Bearer {admin}"}
    as_viewer = {"Authorization": f"Bearer {viewer}"}
    answers = []
    async with httpx.AsyncClient(transport=transport, base_url="http://lanfax") as http:
        jobs = "/api/v1/jobs"
        answers.append(await http.post(jobs, headers=as_admin, **form("01")))
        answers.append(await http.post(jobs, **form("02")))  # no login: 401
        answers.append(await http.post(jobs, headers=as_viewer, **form("03")))  # no right: 403
        answers.append(await http.post(jobs, headers=as_admin, **form("")))  # no number: 422
        answers.append(
            await http.post(jobs, headers=as_admin, content=b"{}", params={"x": "1"})
        )  # not multipart: 422
        answers.append(await http.post(jobs, headers=as_admin, data={"params": "{}"}))
        answers.append(await http.get(jobs, headers=as_admin))  # the list: FastAPI's route
        answers.append(await http.put(jobs, headers=as_admin, content=b"{}"))  # 405
        answers.append(await http.post(jobs + "/", headers=as_admin, **form("04")))
    return [_summary(r) for r in answers]


def _trail(entries: list[Any], since: int) -> list[tuple[Any, ...]]:
    return [
        (e.user_name, e.action, e.target, e.outcome, json.dumps(e.detail, sort_keys=True))
        for e in reversed(entries)
        if e.audit_id > since
    ]


def test_submit_route_answers_and_audits_as_fastapis_route_did(tmp_path: Path, tiff: bytes) -> None:
    async def body() -> None:
        async with running_service(tmp_path, TOML) as svc:
            security = Security(svc)
            created = await security.bootstrap({})
            assert created is not None and created[1] is not None
            admin = created[1]
            await security.add_user("viewer")
            await security.revoke("viewer", ["job_submit"])
            _, viewer = await security.create_token("viewer")
            fast = create_app(svc, security)
            slow = _without_submit_route(create_app(svc, security))
            assert isinstance(fast.router.routes[0], SubmitRoute)
            assert not any(isinstance(r, SubmitRoute) for r in slow.router.routes)

            trails, answers = [], []
            for app, prefix in ((slow, "71"), (fast, "72")):
                await security.flush_refusals()
                last = await security.audit(AuditQuery(limit=1))
                since = last[0].audit_id if last else 0
                answers.append(await _requests(app, tiff, admin, viewer, prefix))
                await security.flush_refusals()
                trails.append(_trail(await security.audit(AuditQuery(limit=100)), since))

            before, after = answers
            statuses = [a["status"] for a in after]
            assert statuses[:6] == [201, 401, 403, 422, 422, 422], after
            assert statuses[6:8] == [200, 405], after
            assert after[0]["jobs"] == [("7201", "admin")]
            assert before[0]["jobs"] == [("7101", "admin")]
            before[0].pop("jobs")
            after[0].pop("jobs")
            assert after == before
            assert trails[1] == trails[0]
            actions = [t[1] for t in trails[1]]
            assert actions.count("submit") >= 5, trails[1]  # the 201, the 403 and the 422s

    run(body(), timeout=120)


def test_submit_route_matches_only_a_post_on_its_path(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path, TOML) as svc:
            route = create_app(svc).router.routes[0]
            assert isinstance(route, SubmitRoute)

            def scope(method: str, path: str) -> dict[str, Any]:
                return {"type": "http", "method": method, "path": path, "root_path": ""}

            match, child = route.matches(scope("POST", "/api/v1/jobs"))
            assert match is Match.FULL and child["route"] is route and route.name == "submit"
            for method, path in (
                ("GET", "/api/v1/jobs"),
                ("PUT", "/api/v1/jobs"),
                ("POST", "/api/v1/jobs/"),
                ("POST", "/api/v1/jobs/1/cancel"),
            ):
                assert route.matches(scope(method, path))[0] is Match.NONE, (method, path)

    run(body())
