"""#19: FastAPI's native OpenTelemetry is off unless something is set up to receive it (each
request otherwise asks three global providers, through the environment, whether they are)."""

from __future__ import annotations

import inspect

import pytest
from fastapi import FastAPI

from lanfax.api.app import _telemetry_settings

NATIVE = "telemetry" in inspect.signature(FastAPI.__init__).parameters


@pytest.mark.skipif(not NATIVE, reason="this FastAPI has no native telemetry")
def test_off_when_nothing_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in [k for k in os.environ if k.startswith(("OTEL_", "FASTAPI_OTEL_"))]:
        monkeypatch.delenv(key)
    assert _telemetry_settings() == {
        "telemetry": {"tracing": False, "metrics": False, "logs": False}
    }


@pytest.mark.parametrize(
    "variable", ["OTEL_TRACES_EXPORTER", "OTEL_SERVICE_NAME", "FASTAPI_OTEL_AUTO_CONFIGURE"]
)
def test_fastapi_defaults_kept_when_the_operator_sets_it_up(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "x")
    assert _telemetry_settings() == {}


@pytest.mark.skipif(not NATIVE, reason="this FastAPI has no native telemetry")
def test_fastapi_defaults_kept_with_a_configured_provider(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opentelemetry import trace

    class Configured(trace.NoOpTracerProvider):
        pass

    monkeypatch.setattr(trace, "get_tracer_provider", lambda: Configured())
    assert _telemetry_settings() == {}
