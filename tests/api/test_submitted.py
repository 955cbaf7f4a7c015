"""The submission's 201 body written in one pass (#19 wave 8, lanfax.api.submitted): the very
bytes ``json_response`` writes of the same value, for jobs of every shape (hypothesis: any
text, every enum member, missing and present datetimes, a cover page, ``extra`` of any JSON
value) and for the route's own answer (its body against ``json_response`` of the jobs the
store holds)."""

from __future__ import annotations

import dataclasses
import enum
import json
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.faxes import make_fax_tiff
from tests.support.inproc import run, running_service

from lanfax.api.app import create_app
from lanfax.api.encode import json_response
from lanfax.api.submitted import submitted, submitted_body
from lanfax.model.jobs import CoverPageInfo, Job
from lanfax.service.security import Security

_HINTS = typing.get_type_hints(Job)
_WHEN = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


def _field(name: str) -> st.SearchStrategy[Any]:
    hint = _HINTS[name]
    if name == "extra":
        return st.dictionaries(st.text(), _JSON, max_size=4)
    if name == "cover_page":
        return st.none() | st.builds(CoverPageInfo, rec_name=st.text(), rec_city=st.text())
    options = typing.get_args(hint) or (hint,)
    drawn: list[st.SearchStrategy[Any]] = []
    for option in options:
        if option is type(None):
            drawn.append(st.none())
        elif isinstance(option, type) and issubclass(option, enum.Enum):
            drawn.append(st.sampled_from(list(option)))
        elif option is datetime:
            drawn.append(_WHEN)
        elif option is bool:
            drawn.append(st.booleans())
        elif option is int:
            drawn.append(st.integers(min_value=-(2**63), max_value=2**63 - 1))
        elif option is str:
            drawn.append(st.text())
        else:
            raise AssertionError(f"a Job field of a kind this test does not draw: {name}")
    return st.one_of(drawn)


_JOBS = st.fixed_dictionaries({f.name: _field(f.name) for f in dataclasses.fields(Job)}).map(
    lambda fields: Job(**fields)
)


@settings(max_examples=300, deadline=None)
@given(st.text(), st.lists(_JOBS, max_size=3))
def test_the_body_is_json_responses_bytes(broadcast_id: str, jobs: list[Job]) -> None:
    value = {"broadcast_id": broadcast_id, "jobs": jobs}
    expected = json_response(value, status=201)
    got = submitted(broadcast_id, jobs)
    assert got.body == expected.body
    assert got.status_code == 201
    assert got.headers == expected.headers


def test_the_routes_answer_is_json_response_of_the_stored_jobs(tmp_path: Path) -> None:
    tiff = make_fax_tiff(tmp_path / "in").read_bytes()

    async def body() -> None:
        async with running_service(tmp_path, "[settings]\npause_server_queue = true\n") as svc:
            security = Security(svc)
            created = await security.bootstrap({})
            assert created is not None and created[1] is not None
            app = create_app(svc, security)
            params = {
                "recipients": [
                    {"recipient_number": "7301", "recipient_name": 'Zoë \u2603 "quoted"'},
                    {"recipient_number": "7302", "billing_code": "b\\c\n"},
                ],
                "sender_name": "Émile",
            }
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://lanfax") as http:
                resp = await http.post(
                    "/api/v1/jobs",
                    headers={"Authorization": f"Bearer {created[1]}"},
                    data={"params": json.dumps(params)},
                    files=[("file", ("doc.tif", tiff, "image/tiff"))],
                )
            assert resp.status_code == 201, resp.text
            answer = resp.json()
            stored = [svc.ctx.store.get_job(j["job_id"]) for j in answer["jobs"]]
            assert all(j is not None for j in stored)
            expected = json_response({"broadcast_id": answer["broadcast_id"], "jobs": stored})
            assert resp.content == expected.body
            assert resp.headers["content-type"] == "application/json"
            assert submitted_body(answer["broadcast_id"], stored).encode() == resp.content

    run(body(), timeout=120)
