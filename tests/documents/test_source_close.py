"""A source that fails to close after a conversion is logged, not swallowed, and does not
undo the fax that was written (documents/pipeline.py, issue #17 item 6)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from PIL import Image

from lanfax.documents import convert
from lanfax.documents.images import ImageSource


def test_a_failed_close_is_logged_and_the_fax_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    src = tmp_path / "scan.png"
    Image.new("L", (800, 1100), 255).save(src)
    real_close = ImageSource.close

    def failing_close(self: ImageSource) -> None:
        real_close(self)  # the handle is let go of; then the failure is reported
        raise OSError("the file system went read-only")

    monkeypatch.setattr(ImageSource, "close", failing_close)
    out = tmp_path / "fax.tif"
    with caplog.at_level(logging.WARNING, logger="lanfax.outbound"):
        result = convert([src], out)
    assert result.pages == 1 and out.is_file()
    [record] = [r for r in caplog.records if "could not close" in r.getMessage()]
    assert "scan.png" in record.getMessage() and record.exc_info is not None
    assert "read-only" in str(record.exc_info[1])
