"""Fixtures for the routing tests: small real fax TIFFs, a clock, state, a manager with the
built-in routes over real folders."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from lanfax.model.clock import ManualClock
from lanfax.routing import FaxRoute, FileSetCallbacks, JsonFileStateStore, RoutingManager
from lanfax.routing.builtin import BuiltinRoutes


def make_tiff(path: Path, pages: int = 2, height: int = 400) -> Path:
    """A multi-page TIFF Class F-like file: 1-bit, 1728 wide, 204x196 dpi, Group 4."""
    images = []
    for n in range(pages):
        im = Image.new("1", (1728, height), 1)
        d = ImageDraw.Draw(im)
        d.rectangle((20, 20, 1707, height - 21), outline=0, width=3)
        d.text((100, 100), f"page {n + 1} of {pages}", fill=0)
        images.append(im)
    images[0].save(
        path,
        format="TIFF",
        compression="group4",
        dpi=(204, 196),
        save_all=True,
        append_images=images[1:],
    )
    return path


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 14, 30, 5, tzinfo=UTC))


@pytest.fixture
def fax_tiff(tmp_path: Path) -> Path:
    return make_tiff(tmp_path / "received.tif", pages=2)


def make_fax(job_id: int = 42, **kw: object) -> FaxRoute:
    fields: dict[str, object] = {
        "job_id": job_id,
        "receive_time": datetime(2026, 3, 2, 14, 30, 5, tzinfo=UTC),
        "page_count": 2,
        "elapsed_time": 61.5,
        "csid": "+49 30 1234",
        "tsid": "ACME Sales",
        "caller_id": "+1 555 0100",
        "routing_info": "201",
        "receiver_name": "Front desk",
        "receiver_number": "201",
        "device_name": "line1",
        "device_id": 1,
    }
    fields.update(kw)
    return FaxRoute(**fields)  # type: ignore[arg-type]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def shared_root(tmp_path: Path) -> Path:
    d = tmp_path / "shared"
    d.mkdir()
    return d


@pytest.fixture
def builtin(data_dir: Path, shared_root: Path, clock: ManualClock) -> BuiltinRoutes:
    async def no_sleep(seconds: float) -> None:
        no_sleep.delays.append(seconds)  # type: ignore[attr-defined]

    no_sleep.delays = []  # type: ignore[attr-defined]
    # The receivers these tests start listen on loopback: allowed explicitly (issue #14).
    return BuiltinRoutes(
        data_dir,
        [shared_root],
        clock,
        tz=UTC,
        sleep=no_sleep,
        allow_networks=["127.0.0.0/8"],
    )


@pytest.fixture
def manager(tmp_path: Path, builtin: BuiltinRoutes, clock: ManualClock) -> RoutingManager:
    m = RoutingManager(
        JsonFileStateStore(tmp_path / "state.json"),
        clock=clock,
        callbacks=FileSetCallbacks(tmp_path / "manifests"),
    )
    m.register(builtin)
    return m
