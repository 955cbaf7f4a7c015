"""Print through a real CUPS scheduler started by the test (cupsd on a private socket, a
raw queue whose backend captures each job to a folder), with the real ``lp``."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.support.cups import have_cups, private_cupsd, wait_for

from lanfax.routing import RoutingManager
from lanfax.routing.builtin import PRINT_GUID, BuiltinRoutes

from .conftest import make_fax

HAVE_CUPS = have_cups()

CAPTURE_BACKEND = """#!/bin/sh
# A CUPS backend for tests: copies each job into the folder named by DEVICE_URI.
if [ $# -eq 0 ]; then echo 'direct capture "Unknown" "Capture to a folder"'; exit 0; fi
dir=${DEVICE_URI#capture:}
cat "$6" > "$dir/job-$1.tmp"
printf '%s\\n' "$3" > "$dir/job-$1.title"
printf '%s\\n' "$5" > "$dir/job-$1.options"
mv "$dir/job-$1.tmp" "$dir/job-$1.out"
"""


@dataclass
class Cups:
    socket: str
    out: Path


@pytest.fixture(scope="module")
def cups() -> Iterator[Cups]:
    if not HAVE_CUPS:
        pytest.skip("CUPS is not installed (Debian packages cups, cups-client)")
    if os.geteuid() != 0:
        pytest.skip("starting a private cupsd needs root here")
    with private_cupsd(scripts={"capture": CAPTURE_BACKEND}) as c:
        c.run("lpadmin", "-p", "faxprinter", "-E", "-v", f"capture:{c.root / 'out'}")
        yield Cups(c.socket, c.root / "out")


@pytest.mark.anyio
async def test_prints_the_tiff_through_cups(
    manager: RoutingManager, cups: Cups, fax_tiff: Path
) -> None:
    manager.set_routing_info(
        PRINT_GUID,
        1,
        {
            "printer": "faxprinter",
            "server": cups.socket,
            "format": "tiff",
            "options": {"media": "A4"},
        },
    )
    manager.enable_routing_method(PRINT_GUID, 1, True)
    outcome = await manager.route_fax(make_fax(42), [fax_tiff], only={PRINT_GUID})
    result = outcome.result(PRINT_GUID)
    assert result.ok, result.reason
    assert "request id is faxprinter-" in result.reason
    job = result.reason.split("request id is faxprinter-")[1].split()[0]
    out = cups.out / f"job-{job}.out"
    wait_for(out.exists, "the job to reach the backend")
    assert out.read_bytes() == fax_tiff.read_bytes()
    assert (cups.out / f"job-{job}.title").read_text().strip() == "fax 42 from ACME Sales"
    assert "media=A4" in (cups.out / f"job-{job}.options").read_text()


@pytest.mark.anyio
async def test_unknown_printer_is_a_permanent_failure(
    manager: RoutingManager, cups: Cups, fax_tiff: Path
) -> None:
    manager.set_routing_info(
        PRINT_GUID, 1, {"printer": "nosuchprinter", "server": cups.socket, "format": "tiff"}
    )
    manager.enable_routing_method(PRINT_GUID, 1, True)
    outcome = await manager.route_fax(make_fax(42), [fax_tiff], only={PRINT_GUID})
    result = outcome.result(PRINT_GUID)
    assert not result.ok and not result.retryable
    assert "does not exist" in result.reason


@pytest.mark.anyio
async def test_scheduler_down_is_retryable(
    manager: RoutingManager, fax_tiff: Path, tmp_path: Path
) -> None:
    if not shutil.which("lp"):
        pytest.skip("lp (cups-client) is not installed")
    manager.set_routing_info(
        PRINT_GUID, 1, {"printer": "p", "server": str(tmp_path / "no.sock"), "format": "tiff"}
    )
    manager.enable_routing_method(PRINT_GUID, 1, True)
    outcome = await manager.route_fax(make_fax(42), [fax_tiff], only={PRINT_GUID})
    result = outcome.result(PRINT_GUID)
    assert not result.ok and result.retryable, result.reason


@pytest.mark.anyio
async def test_missing_lp_names_the_debian_package(
    data_dir: Path, tmp_path: Path, fax_tiff: Path
) -> None:
    from lanfax.routing import JsonFileStateStore

    m = RoutingManager(JsonFileStateStore(tmp_path / "s.json"))
    m.register(BuiltinRoutes(data_dir, lp_command="lp-not-installed-here"))
    m.set_routing_info(PRINT_GUID, 1, {"printer": "office", "format": "tiff"})
    m.enable_routing_method(PRINT_GUID, 1, True)
    outcome = await m.route_fax(make_fax(42), [fax_tiff], only={PRINT_GUID})
    result = outcome.result(PRINT_GUID)
    assert not result.ok and not result.retryable
    assert "cups-client" in result.reason
