"""``GET /metrics`` (issue #18) scraped from a real ``lanfax serve``, parsed as Prometheus does.

The exposition is read with prometheus-client's own parser, so a malformed line fails the
test; every figure is checked against what the test made the server do (a fax sent and
received between the test provider's two lines, a busy number that fails at once, an event
stream held open).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.authhttp import httpx
from tests.support.server import TEST_PROVIDER_TOML, LanfaxServer, start_lanfax_server

from lanfax.service.metrics import parse_families

METRICS_TOKEN = "mtr_" + secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def metrics_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanfaxServer]:
    toml = f'{TEST_PROVIDER_TOML}\n[settings]\nretries = 0\n[metrics]\ntoken = "{METRICS_TOKEN}"\n'
    srv = start_lanfax_server(tmp_path_factory.mktemp("metrics"), toml)
    try:
        yield srv
    finally:
        srv.close()


def _scrape(srv: LanfaxServer, **kw: Any) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    resp = httpx.get(f"{srv.url}/metrics", timeout=10, **kw)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain; version=")
    return {
        (name, frozenset(labels.items())): value
        for name, labels, value in parse_families(resp.text)
    }


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    want = frozenset(labels.items())
    found = [v for (n, ls), v in samples.items() if n == name and want <= ls]
    assert found, f"no sample {name} {labels}"
    return sum(found)


def _submit(srv: LanfaxServer, tiff: Path, number: str) -> int:
    r = httpx.post(
        f"{srv.api}/jobs",
        data={"params": json.dumps({"recipients": [{"recipient_number": number}]})},
        files=[("file", ("doc.tif", tiff.read_bytes(), "image/tiff"))],
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return int(r.json()["jobs"][0]["job_id"])


def _wait(srv: LanfaxServer, check: Any, what: str, timeout: float = 30.0) -> Any:
    """Scrape until ``check(samples)`` is true (the service counts as it commits; a series
    that does not exist yet, e.g. a failure class before its first failure, is not yet)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = _scrape(srv)
        try:
            ready = check(samples)
        except AssertionError:  # _value: no such sample yet
            ready = False
        if ready:
            return samples
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: never seen in\n{samples}")
        threading.Event().wait(0.1)  # the scrape interval while waiting


def test_a_scrape_counts_what_the_server_did(metrics_server: LanfaxServer, fax_tiff: Path) -> None:
    srv = metrics_server
    first = _scrape(srv)
    # Before anything: every unfinished state is a series (0), every device one (idle).
    for state in ("pending", "in_progress", "retrying", "routing", "paused"):
        assert _value(first, "lanfax_queue_jobs", state=state) == 0
    assert _value(first, "lanfax_calls_active") == 0
    assert {dict(ls)["device"] for (n, ls) in first if n == "lanfax_calls_active"} == {"1", "2"}
    assert _value(first, "lanfax_pages_sent_total") == 0
    assert _value(first, "lanfax_submission_seconds_count") == 0
    assert _value(first, "lanfax_node_info", node="main") == 1

    # A fax from line 200 to line 201: 2 pages sent, 2 received; a busy number fails at once.
    sent = _submit(srv, fax_tiff, "201")
    busy = _submit(srv, fax_tiff, "9001555")
    samples = _wait(
        srv,
        lambda s: (
            _value(s, "lanfax_pages_received_total") >= 2
            and _value(s, "lanfax_failures_total", direction="send", **{"class": "busy"}) >= 1
            and _value(s, "lanfax_pages_sent_total") >= 2
        ),
        "pages and the busy failure",
    )
    assert _value(samples, "lanfax_pages_sent_total") == 2
    assert _value(samples, "lanfax_pages_received_total") == 2
    assert _value(samples, "lanfax_failures_total", direction="send", **{"class": "busy"}) == 1
    assert _value(samples, "lanfax_submission_seconds_count") == 2
    assert _value(samples, "lanfax_conversion_seconds_count") == 2
    assert _value(samples, "lanfax_submission_seconds_sum") > 0
    # The histogram's buckets are cumulative and end with +Inf == count.
    assert _value(samples, "lanfax_submission_seconds_bucket", le="+Inf") == 2
    job = httpx.get(f"{srv.api}/jobs/{busy}", timeout=10).json()
    assert job["queue_status"] in ("failed", "retries_exceeded"), job
    assert httpx.get(f"{srv.api}/jobs/{sent}", timeout=10).status_code == 200


def test_event_stream_clients_are_counted(metrics_server: LanfaxServer) -> None:
    srv = metrics_server
    before = _value(_scrape(srv), "lanfax_event_stream_clients")
    opened = threading.Event()
    client = httpx.Client(timeout=30)

    def follow() -> None:
        try:
            with client.stream("GET", f"{srv.api}/events") as resp:
                assert resp.status_code == 200
                opened.set()
                for _ in resp.iter_lines():
                    pass
        except (httpx.HTTPError, RuntimeError):
            pass  # the test closed the client under the stream: the client went away

    t = threading.Thread(target=follow, daemon=True)
    t.start()
    assert opened.wait(15)
    _wait(
        srv,
        lambda s: _value(s, "lanfax_event_stream_clients") == before + 1,
        "one more event-stream client",
    )
    client.close()
    t.join(15)
    # The server notices the client left (at its next keep-alive write at the latest).
    _wait(
        srv,
        lambda s: _value(s, "lanfax_event_stream_clients") == before,
        "the client gone again",
        timeout=60,
    )


def test_the_metrics_token_opens_metrics_and_nothing_else(metrics_server: LanfaxServer) -> None:
    srv = metrics_server
    bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    samples = _scrape(srv, headers=bearer)
    assert _value(samples, "lanfax_node_info") == 1
    # The metrics token is no user's token: the API refuses it.
    assert httpx.get(f"{srv.api}/config", headers=bearer, timeout=10).status_code == 401
    # Without a login, or with a wrong token, /metrics is refused too.
    assert httpx.get(f"{srv.url}/metrics", headers={"Authorization": ""}).status_code == 401
    wrong = {"Authorization": f"Bearer {METRICS_TOKEN}x"}
    assert httpx.get(f"{srv.url}/metrics", headers=wrong, timeout=10).status_code == 401


def test_openmetrics_when_the_scraper_asks_for_it(metrics_server: LanfaxServer) -> None:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    resp = httpx.get(
        f"{metrics_server.url}/metrics",
        headers={"Accept": "application/openmetrics-text; version=1.0.0"},
        timeout=10,
    )
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/openmetrics-text")
    assert resp.text.endswith("# EOF\n")
    names = {f.name for f in text_string_to_metric_families(resp.text)}
    assert {"lanfax_queue_jobs", "lanfax_pages_sent", "lanfax_submission_seconds"} <= names
