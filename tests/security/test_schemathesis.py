"""Property-based tests of the HTTP API against its own OpenAPI schema, on a real
``lanfax serve`` logged in as the administrator: whatever schemathesis sends (data that fits
the schema, and data that does not), the answer is never a 5xx and always matches the schema
the API publishes.

Bounded: a few examples per operation and mode, so the whole run takes about a minute. The
rate limit is off (schemathesis sends bursts) and the queue paused (accepted jobs stay put).
Operations run one by one in a loop of plain hypothesis tests (schemathesis' own pytest
plugin does not run under the pytest this project uses), and every failure is collected.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance
from tests.support.authhttp import auth_for, httpx
from tests.support.server import LanfaxServer, start_lanfax_server

TOML = """
[security]
rate_limit = 0
failure_limit = 0
[settings]
pause_server_queue = true
"""
EXAMPLES = 40


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanfaxServer]:
    srv = start_lanfax_server(tmp_path_factory.mktemp("schemathesis"), TOML)
    try:
        yield srv
    finally:
        srv.close()


def _run(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        if case.path.endswith("/events"):
            case.query = {**(case.query or {}), "follow": "false"}  # not the endless stream
        case.call_and_validate(
            headers=headers,
            checks=[not_a_server_error, response_schema_conformance],
            timeout=30,
        )

    run()


def test_api_conforms_to_its_schema(served: LanfaxServer) -> None:
    headers = auth_for(served.url)
    schema = schemathesis.openapi.from_url(f"{served.api}/openapi.json", headers=headers)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation: Any = result.ok()  # type: ignore[union-attr]  # an invalid schema fails here
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _run(operation, mode, headers)
            except Unsatisfiable:
                # No input breaks the schema of this operation (e.g. POST /ipp/faxout, whose
                # body is any application/ipp bytes): there is no negative case to send. The
                # positive run of the same operation still counts; tests/ipp fuzz its body.
                if mode is not GenerationMode.NEGATIVE:
                    failures.append(f"{operation.label} [{mode.value}]: no input generated")
            except (Exception, BaseExceptionGroup) as exc:  # one report for the whole API
                failures.append(f"{operation.label} [{mode.value}]: {exc}"[:2000])
    assert operations > 20, "the schema lost its operations"
    assert not failures, "\n\n".join(failures)
    assert httpx.get(f"{served.api}/health").json()["status"] == "ok"
    log = served.stderr_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-4000:]
