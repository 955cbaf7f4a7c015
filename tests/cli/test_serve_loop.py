"""The server's event loop (#19): uvloop's when it is installed, asyncio's otherwise."""

from __future__ import annotations

import asyncio
import sys

import pytest

from lanfax.cli.serve import event_loop_factory


def test_uvloop_runs_the_server_when_installed() -> None:
    uvloop = pytest.importorskip("uvloop")
    factory = event_loop_factory()
    assert factory is uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        assert isinstance(runner.get_loop(), uvloop.Loop)


def test_without_uvloop_asyncio_default_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    assert event_loop_factory() is None
