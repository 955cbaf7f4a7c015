"""Rate limits as a bulk sender meets them: a loop of 1,000 submissions passes the default
limits; a refusal names a real wait and sends Retry-After; both clients wait it out (bounded,
on by default, can be turned off); failed requests spend a budget of their own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.authhttp import httpx
from tests.support.server import LanfaxServer, start_lanfax_server

from lanfax.client import AsyncClient, Client
from lanfax.client._core import BACKOFF_CAP, Response, resolve_rate_limit_wait, retry_delay
from lanfax.model.errors import InvalidInput, NotFound, RateLimited

#: Default security settings; the queue paused so that 2,000 jobs do not keep the lines busy.
BULK_TOML = "[settings]\npause_server_queue = true\n"


@pytest.fixture(scope="module")
def bulk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanfaxServer]:
    with start_lanfax_server(tmp_path_factory.mktemp("bulk"), BULK_TOML) as srv:
        yield srv


def test_the_sync_client_submits_1000_jobs_in_a_loop_under_the_default_limits(
    bulk_server: LanfaxServer, doc: Path
) -> None:
    data = doc.read_bytes()
    # rate_limit_wait=0: one refusal would raise, so every submission passed at once.
    with Client(bulk_server.url, rate_limit_wait=0) as fax:
        ids = [fax.send(("letter.tif", data), to="555")[0].job_id for _ in range(1000)]
        assert len(set(ids)) == 1000
        queued = {j.job_id for j in fax.iter_jobs(status="pending")}
    assert set(ids) <= queued


def test_the_async_client_submits_1000_jobs_in_a_loop_under_the_default_limits(
    bulk_server: LanfaxServer, doc: Path
) -> None:
    data = doc.read_bytes()

    async def loop() -> list[int]:
        async with AsyncClient(bulk_server.url, rate_limit_wait=0) as fax:
            return [(await fax.send(("letter.tif", data), to="556"))[0].job_id for _ in range(1000)]

    ids = asyncio.run(loop())
    assert len(set(ids)) == 1000
    with Client(bulk_server.url) as fax:
        queued = {j.job_id for j in fax.iter_jobs(status="pending")}
    assert set(ids) <= queued


TIGHT_TOML = "[security]\nrate_limit = 1\nrate_burst = 2\n"


@pytest.fixture(scope="module")
def tight_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanfaxServer]:
    with start_lanfax_server(tmp_path_factory.mktemp("tight"), TIGHT_TOML) as srv:
        yield srv


def _refused(api: str) -> httpx.Response:
    for _ in range(10):
        r = httpx.get(f"{api}/server")
        if r.status_code == 429:
            return r
    raise AssertionError("never refused")


def test_a_refusal_states_a_real_wait_and_sends_retry_after(tight_server: LanfaxServer) -> None:
    r = _refused(tight_server.api)
    wait = r.headers["retry-after"]
    assert wait.isdigit() and int(wait) >= 1
    problem = r.json()
    assert problem["extra"]["retry_after"] == int(wait)
    assert f"try again in {wait} s" in problem["hint"]
    assert "0.0 s" not in problem["hint"]
    time.sleep(int(wait))  # what the server asked for: then it answers again
    assert httpx.get(f"{tight_server.api}/server").status_code == 200


def test_the_sync_client_waits_out_refusals_and_can_be_told_not_to(
    tight_server: LanfaxServer,
) -> None:
    with (
        Client(tight_server.url, rate_limit_wait=0) as impatient,
        pytest.raises(RateLimited) as err,
    ):
        for _ in range(10):
            impatient.server_info()
    assert err.value.detail["retry_after"] >= 1
    with Client(tight_server.url) as fax:  # on by default
        start = time.monotonic()
        for _ in range(4):
            fax.server_info()
        assert time.monotonic() - start >= 1.0  # it waited (at 1 request a second)
    # Retry-After (1 s) is beyond this client's budget: it raises at once, without sleeping.
    with Client(tight_server.url, rate_limit_wait=0.5) as brief, pytest.raises(RateLimited):
        for _ in range(10):
            brief.server_info()


def test_the_async_client_waits_out_refusals_and_can_be_told_not_to(
    tight_server: LanfaxServer,
) -> None:
    async def run() -> float:
        async with AsyncClient(tight_server.url, rate_limit_wait=0) as impatient:
            with pytest.raises(RateLimited):
                for _ in range(10):
                    await impatient.server_info()
        async with AsyncClient(tight_server.url) as fax:
            start = time.monotonic()
            for _ in range(4):
                await fax.server_info()
            return time.monotonic() - start

    assert asyncio.run(run()) >= 1.0


FAILURE_TOML = "[security]\nfailure_limit = 1\nfailure_burst = 3\n"


def test_failed_requests_spend_a_budget_of_their_own(tmp_path: Path) -> None:
    with start_lanfax_server(tmp_path, FAILURE_TOML) as srv:
        # Ordinary requests never touch it.
        assert all(httpx.get(f"{srv.api}/server").status_code == 200 for _ in range(20))
        codes = [httpx.get(f"{srv.api}/jobs/999999").status_code for _ in range(3)]
        assert codes == [404, 404, 404]
        r = httpx.get(f"{srv.api}/server")  # a good request, but the budget is spent
        assert r.status_code == 429 and "too many failed requests" in r.json()["detail"]
        assert int(r.headers["retry-after"]) >= 1
        # Refusals do not spend it further: after the wait asked for, requests pass again.
        time.sleep(int(r.headers["retry-after"]))
        assert httpx.get(f"{srv.api}/server").status_code == 200
        # A client that keeps failing is slowed, not locked out: it sees its real errors.
        with Client(srv.url) as fax:
            start = time.monotonic()
            for _ in range(5):
                with pytest.raises(NotFound):
                    fax.job(999999)
            assert time.monotonic() - start >= 1.0  # it was made to wait in between


def _resp(status: int, retry_after: str | None = None) -> Response:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return Response(status, headers, b"")


def test_retry_delay_honours_retry_after_within_the_budget() -> None:
    assert retry_delay(_resp(429, "3"), 0, 0.0, 60) == 3.0
    assert retry_delay(_resp(429, "3"), 5, 58.0, 60) is None  # past the budget: give up now
    assert retry_delay(_resp(429, "3"), 0, 0.0, 0) is None  # turned off
    assert retry_delay(_resp(503, "3"), 0, 0.0, 60) is None  # only "too many requests"
    assert retry_delay(_resp(200), 0, 0.0, 60) is None
    # No header (or a date): 0.5 s doubling, capped.
    assert [retry_delay(_resp(429), n, 0.0, 1e9) for n in range(3)] == [0.5, 1.0, 2.0]
    assert retry_delay(_resp(429, "Fri, 04 Dec 2026 18:00:00 GMT"), 10, 0.0, 1e9) == BACKOFF_CAP


def test_rate_limit_wait_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LANFAX_RATE_LIMIT_WAIT", raising=False)
    assert resolve_rate_limit_wait(None) == 60.0
    assert resolve_rate_limit_wait(5) == 5.0
    monkeypatch.setenv("LANFAX_RATE_LIMIT_WAIT", "0")
    assert resolve_rate_limit_wait(None) == 0.0
    monkeypatch.setenv("LANFAX_RATE_LIMIT_WAIT", "soon")
    with pytest.raises(InvalidInput, match="LANFAX_RATE_LIMIT_WAIT"):
        resolve_rate_limit_wait(None)
    with pytest.raises(InvalidInput):
        resolve_rate_limit_wait(-1)


def test_lanfax_send_waits_out_a_refusal_and_says_so(tight_server: LanfaxServer, doc: Path) -> None:
    import os
    import subprocess
    import sys

    lanfax = str(Path(sys.executable).with_name("lanfax"))
    env = dict(os.environ, LANFAX_SERVER=tight_server.url)
    with Client(tight_server.url) as fax:
        fax.set_config(pause_server_queue=True)  # nothing is dialled

    def send(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [lanfax, "send", str(doc), "--to", "555"],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
        )

    # Rate 1/s, burst 2: of three quick sends at least one is refused, waits, and passes.
    runs = [send() for _ in range(3)]
    assert all(p.returncode == 0 for p in runs), [p.stderr for p in runs]
    said = [p.stderr for p in runs if "asks to slow down" in p.stderr]
    assert said and "sending again in 1 s" in said[0]
    # Told not to wait, it stops with exit status 6 and the server's real wait.
    for _ in range(5):
        p = send(LANFAX_RATE_LIMIT_WAIT="0")
        if p.returncode != 0:
            break
    assert p.returncode == 6, p.stderr
    assert "try again in 1 s" in p.stderr and "0.0 s" not in p.stderr
