"""Store in a folder: atomic, never overwriting, names that stay inside the folder."""

from __future__ import annotations

import os
import threading
from datetime import UTC
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lanfax.routing import RoutingManager
from lanfax.routing.builtin import FOLDER_GUID
from lanfax.routing.builtin.common import publish
from lanfax.routing.builtin.folder import file_stem
from lanfax.routing.templates import sanitize_filename

from .conftest import make_fax, make_tiff


def documents_can_make_pdf() -> bool:
    try:
        import lanfax.documents.pages  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.anyio
async def test_stores_the_fax_with_its_templated_name(
    manager: RoutingManager, shared_root: Path, fax_tiff: Path
) -> None:
    manager.set_routing_info(
        FOLDER_GUID,
        1,
        {
            "folder": str(shared_root / "faxes"),
            "name_template": "{date}-{time}_{caller_id}_{job_id:05d}",
        },
    )
    outcome = await manager.route_fax(make_fax(42), [fax_tiff])
    assert outcome.ok, outcome.results
    files = sorted((shared_root / "faxes").iterdir())
    assert [f.name for f in files] == ["20260302-143005_+1 555 0100_00042.tif"]
    assert files[0].read_bytes() == fax_tiff.read_bytes()
    assert files[0].stat().st_mode & 0o777 == 0o640
    assert str(files[0]) in outcome.results[0].result.reason


@pytest.mark.anyio
async def test_never_overwrites(manager: RoutingManager, data_dir: Path, tmp_path: Path) -> None:
    sources = [make_tiff(tmp_path / f"f{i}.tif", pages=i + 1) for i in range(3)]
    for src in sources:
        outcome = await manager.route_fax(make_fax(7), [src])
        assert outcome.ok
        manager.callbacks.forget(7)  # type: ignore[attr-defined]
    inbox = data_dir / "inbox"
    names = sorted(p.name for p in inbox.iterdir())
    assert names == [
        "20260302-143005_ACME Sales_7-1.tif",
        "20260302-143005_ACME Sales_7-2.tif",
        "20260302-143005_ACME Sales_7.tif",
    ]
    by_name = {p.name: p.read_bytes() for p in inbox.iterdir()}
    assert by_name["20260302-143005_ACME Sales_7.tif"] == sources[0].read_bytes()
    assert by_name["20260302-143005_ACME Sales_7-2.tif"] == sources[2].read_bytes()


def test_a_polling_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    """Publish many large files while a reader lists the folder as fast as it can; every
    visible .tif must already have its complete content."""
    src = tmp_path / "big.tif"
    src.write_bytes(os.urandom(8 << 20))
    expected = src.read_bytes()
    folder = tmp_path / "watched"
    folder.mkdir()
    done = threading.Event()
    seen: dict[str, int] = {}
    bad: list[str] = []

    def reader() -> None:
        while not done.is_set():
            for entry in os.scandir(folder):
                if entry.name.endswith(".tif") and entry.name not in seen:
                    data = Path(entry.path).read_bytes()
                    seen[entry.name] = len(data)
                    if data != expected:
                        bad.append(f"{entry.name}: {len(data)} bytes")

    t = threading.Thread(target=reader)
    t.start()
    try:
        written = [publish(src, folder, "fax", ".tif") for _ in range(12)]
    finally:
        done.set()
        t.join()
    assert bad == []
    assert len({p.name for p in written}) == 12
    assert all(p.read_bytes() == expected for p in written)
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temp file left


@pytest.mark.anyio
async def test_pdf_format(manager: RoutingManager, data_dir: Path, fax_tiff: Path) -> None:
    manager.set_routing_info(FOLDER_GUID, 1, {"format": "pdf"})
    outcome = await manager.route_fax(make_fax(8), [fax_tiff])
    result = outcome.result(FOLDER_GUID)
    if not documents_can_make_pdf():
        # Until lanfax.documents can make PDFs, this is a clear, retryable failure.
        assert not result.ok and result.retryable
        assert "PDF conversion is not available" in result.reason
        assert list((data_dir / "inbox").iterdir()) == []
        return
    import pypdfium2 as pdfium

    assert result.ok, result.reason
    (pdf,) = (data_dir / "inbox").iterdir()
    assert pdf.suffix == ".pdf"
    assert len(pdfium.PdfDocument(pdf)) == 2


@pytest.mark.anyio
async def test_unwritable_folder_is_a_failure(
    manager: RoutingManager, shared_root: Path, fax_tiff: Path
) -> None:
    (shared_root / "file").write_text("not a folder")
    manager.set_routing_info(FOLDER_GUID, 1, {"folder": str(shared_root / "file" / "x")})
    outcome = await manager.route_fax(make_fax(9), [fax_tiff])
    result = outcome.result(FOLDER_GUID)
    assert not result.ok and not result.retryable
    assert "cannot store" in result.reason


hostile = st.lists(
    st.sampled_from(["/", "\\", "\x00", ".", "..", "../", " ", "\n", "-", "a", "é", "*", ":"]),
    max_size=20,
).map("".join) | st.text(max_size=60)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(csid=hostile, tsid=hostile, caller=hostile)
def test_hostile_fields_stay_inside_the_folder(
    tmp_path: Path, csid: str, tsid: str, caller: str
) -> None:
    fax = make_fax(1, csid=csid, tsid=tsid, caller_id=caller)
    stem = file_stem("{csid}{tsid}/{caller_id}_{job_id}", fax, UTC)
    assert stem and "/" not in stem and "\x00" not in stem and "\\" not in stem
    assert stem not in (".", "..") and not stem.startswith((".", "-"))
    assert len(stem) <= 150
    folder = tmp_path / "inbox"
    folder.mkdir(exist_ok=True)
    final = folder / f"{stem}.tif"
    assert final.parent == folder and final.resolve().parent == folder.resolve()


@pytest.mark.anyio
async def test_hostile_csid_file_lands_in_the_folder(
    manager: RoutingManager, data_dir: Path, fax_tiff: Path
) -> None:
    manager.set_routing_info(FOLDER_GUID, 1, {"name_template": "{csid}"})
    for n, csid in enumerate(["../../etc/passwd", "/", "..", "a/../../b", "\x00x", ".hidden"]):
        outcome = await manager.route_fax(make_fax(100 + n, csid=csid), [fax_tiff])
        assert outcome.ok, outcome.results
    stored = sorted(p.name for p in (data_dir / "inbox").iterdir())
    assert stored == [
        "a_._._b.tif",
        "etc_passwd.tif",
        "fax-1.tif",
        "fax.tif",
        "hidden.tif",
        "x.tif",
    ]


@given(st.text(max_size=300))
def test_sanitize_filename_is_always_one_plain_name(text: str) -> None:
    out = sanitize_filename(text)
    assert out and len(out) <= 150
    assert "/" not in out and "\x00" not in out and not out.startswith(".")
    assert out == sanitize_filename(out)  # idempotent
