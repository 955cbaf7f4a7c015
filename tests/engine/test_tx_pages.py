"""engine.tx_pages: a document's check is done once per file version, whatever the number of
sessions made on it; a changed, replaced or broken file is checked again, and a failure is
never remembered."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from lanfax.engine import T38FaxSession, session, tx_pages
from lanfax.model.errors import EngineError

from .conftest import Doc


def test_a_document_is_checked_once_per_version(
    docs: dict[str, Doc], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    from lanfax.engine.tiffcheck import check_tx_tiff as real

    def counting(path: Path) -> object:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(session, "check_tx_tiff", counting)
    monkeypatch.setattr(session, "_checked", {})
    doc = tmp_path / "doc.tif"
    shutil.copyfile(docs["fine3_g4"].path, doc)
    assert tx_pages(doc) == 3
    made = [T38FaxSession(True, tx_file=doc) for _ in range(3)]  # a call's sessions, and more
    try:
        assert [s.tx_pages for s in made] == [3, 3, 3]
    finally:
        for s in made:
            s.close()
    assert calls == [doc]  # one check for four uses
    # Rewritten in place (new size or time): checked again.
    shutil.copyfile(docs["std2_g3"].path, doc)
    os.utime(doc, ns=(1, 1))
    assert tx_pages(doc) == 2 and len(calls) == 2
    # Replaced by a broken file: the error every time, never remembered.
    Image.new("L", (1728, 100)).save(doc, format="TIFF")
    for _ in range(2):
        with pytest.raises(EngineError, match="1 bit per pixel"):
            tx_pages(doc)
    assert len(calls) == 4
    doc.unlink()
    with pytest.raises(EngineError, match="does not exist"):
        tx_pages(doc)


def test_the_memory_is_bounded(
    docs: dict[str, Doc], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session, "_checked", {})
    monkeypatch.setattr(session, "_CHECKED_MAX", 3)
    for i in range(5):
        p = tmp_path / f"{i}.tif"
        shutil.copyfile(docs["light_g4"].path, p)
        assert tx_pages(p) == 1
    assert len(session._checked) == 3
    assert {k[0] for k in session._checked} == {str(tmp_path / f"{i}.tif") for i in (2, 3, 4)}
