"""Main's lean path for a prepared submission (#19 wave 7, lanfax.api.intake_lean) answers and
audits exactly as the whole app does.

One in-process service with logins on, one app over it, loaded by uvicorn as ``lanfax serve``
loads it (its proxy-header middleware around the app). The same prepared submissions (each
with its own document staged and checked by :func:`lanfax.service.intake.stage_checked`, as
a worker stages it) go through the whole app and through :class:`LeanSubmit` built from it:
the answers, the audit entries they leave, the refusal budget, the proxy's client address
and a stop's 503 must be the same. A middleware added to the app runs on the lean path too
(the lean path is built from the app's own list, so the two cannot drift apart).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send
from tests.support.faxes import make_fax_tiff
from tests.support.inproc import run, running_service

from lanfax.api.app import create_app
from lanfax.api.intake import respond
from lanfax.api.intake_lean import LeanSubmit
from lanfax.api.intake_wire import SCOPE_KEY, Prepared, part_label
from lanfax.model.audit import AuditQuery
from lanfax.model.jobs import JobQuery
from lanfax.service.core import FaxService
from lanfax.service.intake import stage_checked, staged_fields
from lanfax.service.security import Security

TOML = """
[settings]
pause_server_queue = true
[security]
failure_limit = 0.001
failure_burst = 6
"""


@pytest.fixture(scope="module")
def tiff(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_fax_tiff(tmp_path_factory.mktemp("lean")).read_bytes()


def _loaded(app: FastAPI) -> ASGIApp:
    """``app`` as ``lanfax serve``'s uvicorn loads it (proxy headers trusted from 127.0.0.1)."""
    config = uvicorn.Config(app, lifespan="off", forwarded_allow_ips="127.0.0.1")
    config.load()
    return config.loaded_app


def _head(token: str | None, *, extra: dict[str, str] | None = None) -> dict[str, Any]:
    """A submission's ASGI head as a worker sends it (its body is the worker's)."""
    headers = [
        (b"host", b"lanfax"),
        (b"content-type", b"multipart/form-data; boundary=x"),
        (b"content-length", b"4000"),
    ]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    for name, value in (extra or {}).items():
        headers.append((name.lower().encode(), value.encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8470),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": "/api/v1/jobs",
        "raw_path": b"/api/v1/jobs",
        "query_string": b"",
        "headers": headers,
    }


class _Prepare:
    """Prepared submissions over ``svc``'s spool, each with a document of its own."""

    def __init__(self, svc: FaxService, tiff: bytes) -> None:
        self.svc, self.tiff = svc, tiff

    def __call__(self, params: Any) -> Prepared:
        ready = stage_checked(self.svc.spool.tmp, self.tiff, 10)
        assert ready is not None
        text = params if isinstance(params, str) else json.dumps(params)
        return Prepared(text, part_label(0, "doc.tif"), staged_fields(ready))


async def _ask(app: ASGIApp, head: dict[str, Any], prepared: Prepared) -> tuple[Any, ...]:
    scope = dict(head)
    scope["state"] = {}
    scope[SCOPE_KEY] = prepared
    status, headers, body = await respond(app, scope, b"")
    kind = dict(headers).get(b"content-type", b"").decode()
    if status == 201:
        answer = json.loads(body)
        jobs = [(j["recipient_number"][2:], j["user_name"]) for j in answer["jobs"]]
        return status, kind, jobs
    problem = json.loads(body) if kind == "application/problem+json" else body
    if isinstance(problem, dict):
        problem.pop("instance", None)
    extra = {k.decode(): v.decode() for k, v in headers if k in (b"retry-after", b"connection")}
    return status, kind, problem, extra


#: The two ways a prepared submission is answered; each has users of its own where a
#: budget is spent (a user's refusal budget is the same whichever path spends it).
PATHS = ("whole", "lean")


def _trail(entries: list[Any], since: int, path: str) -> list[tuple[Any, ...]]:
    """The audit entries after ``since``, oldest first, without ids and times, the path's
    own users named without their suffix."""
    return [
        (
            e.user_name.removesuffix(f"-{path}"),
            e.action,
            e.target,
            e.outcome,
            e.address,
            json.dumps(e.detail, sort_keys=True),
        )
        for e in reversed(entries)
        if e.audit_id > since
    ]


async def _setup(svc: FaxService) -> tuple[Security, dict[str, str]]:
    security = Security(svc)
    created = await security.bootstrap({})
    assert created is not None and created[1] is not None
    tokens = {"admin": created[1]}
    for user in ("viewer", "lowly", *(f"{u}-{p}" for u in ("fumbler", "clumsy") for p in PATHS)):
        await security.add_user(user)
        _, tokens[user] = await security.create_token(user)
    await security.revoke("viewer", ["job_submit"])
    await security.revoke("lowly", ["submit_high"])
    for path in PATHS:
        tid, tokens[f"revoked-{path}"] = await security.create_token("admin")
        await security.revoke_token(tid.token_id)
    return security, tokens


def test_the_lean_path_answers_and_audits_as_the_whole_app(tmp_path: Path, tiff: bytes) -> None:
    async def body() -> None:
        async with running_service(tmp_path, TOML) as svc:
            security, tokens = await _setup(svc)
            app = create_app(svc, security)
            whole = _loaded(app)
            lean = LeanSubmit.build(whole)
            assert lean is not None
            prepare = _Prepare(svc, tiff)
            head = _head(tokens["admin"])
            assert lean.takes(dict(head))

            def number(prefix: str, n: str, **more: Any) -> dict[str, Any]:
                return {"recipients": [{"recipient_number": f"{prefix}{n}", **more}]}

            async def series(entry: ASGIApp, prefix: str, path: str) -> list[tuple[Any, ...]]:
                admin, fumbler = tokens["admin"], tokens[f"fumbler-{path}"]
                asks = [
                    (_head(admin), number(prefix, "01")),  # 201
                    (_head(None), number(prefix, "02")),  # no login: 401
                    (_head("lfx_nope"), number(prefix, "03")),  # a wrong token: 401
                    (_head(tokens[f"revoked-{path}"]), number(prefix, "04")),  # revoked: 401
                    (_head(tokens["viewer"]), number(prefix, "05")),  # no job_submit: 403
                    (_head(tokens["lowly"]), number(prefix, "06", priority="high")),  # 403
                    (_head(tokens["lowly"]), number(prefix, "07")),  # 201
                    (_head(fumbler), "{no json"),  # 422
                    (_head(fumbler), {}),  # no recipients: 422
                    (_head(fumbler), number("", "x!")),  # a bad number: 422
                    (_head(fumbler), {**number(prefix, "08"), "cover_page": {"name": "nope"}}),
                    # Over the upload limit as announced: 413 from the body-limit middleware.
                    (
                        {
                            **_head(admin),
                            "headers": [
                                *_head(admin)["headers"][:2],
                                (b"content-length", str(2**40).encode()),
                                _head(admin)["headers"][3],
                            ],
                        },
                        number(prefix, "09"),
                    ),
                    # Behind a proxy on 127.0.0.1 (trusted): the forwarded client address.
                    (_head(admin, extra={"X-Forwarded-For": "10.1.2.3"}), number(prefix, "10")),
                ]
                # The refusal budget: six failures spend it, the next is refused (429).
                clumsy = tokens[f"clumsy-{path}"]
                asks += [(_head(clumsy), {}) for _ in range(6)]
                asks.append((_head(clumsy), number(prefix, "11")))
                return [await _ask(entry, h, prepare(p)) for h, p in asks]

            trails, answers = [], []
            for entry, prefix, path in ((whole, "71", "whole"), (lean, "72", "lean")):
                await security.flush_refusals()
                last = await security.audit(AuditQuery(limit=1))
                since = last[0].audit_id if last else 0
                answers.append(await series(entry, prefix, path))
                await security.flush_refusals()
                trails.append(_trail(await security.audit(AuditQuery(limit=200)), since, path))

            by_whole, by_lean = answers
            statuses = [a[0] for a in by_lean]
            assert statuses[:10] == [201, 401, 401, 401, 403, 403, 201, 422, 422, 422], by_lean
            assert 400 <= statuses[10] < 500, by_lean[10]  # the unknown cover page
            assert statuses[11:13] == [413, 201], by_lean
            assert statuses[13:] == [422] * 6 + [429], by_lean
            # The same answers (the budget's users named by their path, as in the trail).
            assert repr(by_lean).replace("-lean", "") == repr(by_whole).replace("-whole", "")
            # The audit rows: the same users, actions, outcomes, addresses and details (the
            # 201s committed with their jobs, the refusals aggregated by the middleware).
            assert trails[1] == trails[0]
            addresses = {t[4] for t in trails[1] if t[1] == "submit" and t[3] == "ok"}
            assert addresses == {"127.0.0.1", "10.1.2.3"}
            assert sum(1 for t in trails[1] if t[1] == "submit") >= 10, trails[1]
            # What was answered 201 is committed, and nothing else.
            listed = await svc.list_jobs(JobQuery(limit=1000))
            numbers = sorted(j.recipient_number for j in listed)
            assert numbers == ["7101", "7107", "7110", "7201", "7207", "7210"]

    run(body(), timeout=180)


def test_a_middleware_added_to_the_app_runs_on_the_lean_path(tmp_path: Path, tiff: bytes) -> None:
    seen: list[str] = []

    class Recording:
        def __init__(self, app: ASGIApp, tag: str) -> None:
            self.app, self.tag = app, tag

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(f"{self.tag} {scope['method']} {scope['path']}")
            await self.app(scope, receive, send)

    async def body() -> None:
        async with running_service(tmp_path, TOML) as svc:
            security, tokens = await _setup(svc)
            app = create_app(svc, security)
            app.add_middleware(Recording, tag="added")
            lean = LeanSubmit.build(_loaded(app))
            assert lean is not None
            answer = await _ask(
                lean,
                _head(tokens["admin"]),
                _Prepare(svc, tiff)({"recipients": [{"recipient_number": "7301"}]}),
            )
            assert answer[0] == 201, answer
            assert seen == ["added POST /api/v1/jobs"]

    run(body(), timeout=120)


def test_a_stop_that_cuts_a_lean_submission_short_answers_503(tmp_path: Path, tiff: bytes) -> None:
    async def body() -> None:
        async with running_service(tmp_path, TOML) as svc:
            security, tokens = await _setup(svc)
            whole = _loaded(create_app(svc, security))
            lean = LeanSubmit.build(whole)
            assert lean is not None
            prepare = _Prepare(svc, tiff)
            answers = []
            for entry, n in ((whole, "7401"), (lean, "7402")):
                params = {"recipients": [{"recipient_number": n}]}
                task = asyncio.ensure_future(_ask(entry, _head(tokens["admin"]), prepare(params)))
                await asyncio.sleep(0)  # under way: in the route, awaiting the service
                task.cancel()  # what uvicorn's stop does to a request past its grace time
                answers.append(await task)
            assert answers[0] == answers[1]
            status, kind, problem, extra = answers[1]
            assert (status, kind, extra.get("retry-after")) == (
                503,
                "application/problem+json",
                "5",
            ), answers[1]
            assert "stopping" in problem["detail"]

    run(body(), timeout=120)


def test_the_lean_path_is_not_built_for_an_app_it_does_not_know(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path, TOML) as svc:
            app = create_app(svc)
            app.router.routes.append(app.router.routes.pop(0))  # the submit route not first
            assert LeanSubmit.build(_loaded(app)) is None
            other = FastAPI()
            assert LeanSubmit.build(_loaded(other)) is None

    run(body())
