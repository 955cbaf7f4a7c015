"""Office documents through one long-lived LibreOffice: DOCX, ODT, RTF, XLSX and PPTX made
here (python-docx, openpyxl, python-pptx; ODT and RTF written by hand), read back by tesseract
from the fax pages; LibreOffice is started once, recovered when killed, bounded in time and
memory."""

from __future__ import annotations

import os
import shutil
import signal
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lanfax.documents import ConversionLimits, convert, office
from lanfax.model.errors import DocumentError

from .ocr import accuracy, needs_tesseract, ocr, tiff_pages

pytestmark = pytest.mark.skipif(
    not office.available(), reason="LibreOffice and python3-uno are not installed"
)

LINES = [
    "Quarterly delivery report for Acme Widgets",
    "Invoice number 40817 is due on Tuesday",
    "Please contact the shipping office about order 2026",
]


def make_docx(path: Path, lines: list[str] = LINES) -> Path:
    import docx
    from docx.shared import Pt

    d = docx.Document()
    for line in lines:
        d.add_paragraph().add_run(line).font.size = Pt(14)
    d.save(str(path))
    return path


def make_xlsx(path: Path) -> Path:
    import openpyxl
    from openpyxl.styles import Font

    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.column_dimensions["A"].width = 80
    for i, line in enumerate(LINES, start=1):
        ws.cell(row=i, column=1, value=line).font = Font(size=14)
    wb.save(str(path))
    return path


def make_pptx(path: Path) -> Path:
    from pptx import Presentation
    from pptx.util import Inches, Pt

    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[6])  # blank
    box = slide.shapes.add_textbox(Inches(0.5), Inches(1), Inches(9), Inches(4)).text_frame
    box.word_wrap = True
    for i, line in enumerate(LINES):
        para = box.paragraphs[0] if i == 0 else box.add_paragraph()
        para.text = line
        para.runs[0].font.size = Pt(24)
    prs.save(str(path))
    return path


def make_odt(path: Path) -> Path:
    """A minimal OpenDocument text, written by hand (the format is a zip of XML)."""
    paras = "".join(f"<text:p text:style-name='P'>{line}</text:p>" for line in LINES)
    content = (
        "<?xml version='1.0' encoding='UTF-8'?>"
        "<office:document-content"
        " xmlns:office='urn:oasis:names:tc:opendocument:xmlns:office:1.0'"
        " xmlns:style='urn:oasis:names:tc:opendocument:xmlns:style:1.0'"
        " xmlns:fo='urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0'"
        " xmlns:text='urn:oasis:names:tc:opendocument:xmlns:text:1.0' office:version='1.2'>"
        "<office:automatic-styles><style:style style:name='P' style:family='paragraph'>"
        "<style:text-properties fo:font-size='14pt'/></style:style></office:automatic-styles>"
        f"<office:body><office:text>{paras}</office:text></office:body>"
        "</office:document-content>"
    )
    manifest = (
        "<?xml version='1.0' encoding='UTF-8'?>"
        "<manifest:manifest xmlns:manifest='urn:oasis:names:tc:opendocument:xmlns:manifest:1.0'"
        " manifest:version='1.2'>"
        "<manifest:file-entry manifest:full-path='/'"
        " manifest:media-type='application/vnd.oasis.opendocument.text'/>"
        "<manifest:file-entry manifest:full-path='content.xml' manifest:media-type='text/xml'/>"
        "</manifest:manifest>"
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(
            zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text"
        )  # stored first, uncompressed
        z.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
    return path


def make_rtf(path: Path) -> Path:
    body = "".join(f"\\fs28 {line}\\par\n" for line in LINES)
    path.write_text("{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 Liberation Serif;}}\n" + body + "}\n")
    return path


MAKERS = {
    "docx": make_docx,
    "odt": make_odt,
    "rtf": make_rtf,
    "xlsx": make_xlsx,
    "pptx": make_pptx,
}


@needs_tesseract
@pytest.mark.parametrize("kind", list(MAKERS))
def test_office_document_is_faxed_and_reads_back(tmp_path: Path, kind: str) -> None:
    src = MAKERS[kind](tmp_path / f"letter.{kind}")
    result = convert([src], tmp_path / "o.tif")
    assert result.pages >= 1
    page = tiff_pages(tmp_path / "o.tif")[0]
    if kind == "pptx":  # a landscape slide is turned to portrait (top edge to the left)
        page = np.rot90(page, k=-1)
    text = ocr(page, tmp_path, psm=3)
    assert accuracy("\n".join(LINES), text) > 0.95, text


def test_one_libreoffice_serves_many_documents(tmp_path: Path) -> None:
    lo = office.office()
    make_docx(tmp_path / "a.docx")
    convert([tmp_path / "a.docx"], tmp_path / "a.tif")
    starts, pid = lo.starts, lo.pid
    assert pid is not None
    for i in range(3):
        make_docx(tmp_path / f"b{i}.docx", [f"document {i}"])
        convert([tmp_path / f"b{i}.docx"], tmp_path / f"b{i}.tif")
    assert (lo.starts, lo.pid) == (starts, pid)  # no new start per document


def _wait_gone(pid: int) -> None:
    end = time.monotonic() + 30
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        with open(f"/proc/{pid}/stat") as f:
            if f.read().split()[2] == "Z":
                return  # a zombie until our Popen reaps it: dead all the same
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still alive")


def test_a_killed_libreoffice_is_replaced(tmp_path: Path) -> None:
    lo = office.office()
    make_docx(tmp_path / "a.docx")
    convert([tmp_path / "a.docx"], tmp_path / "a.tif")
    pid, starts = lo.pid, lo.starts
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # an operator, the OOM killer, a crash
    _wait_gone(pid)
    result = convert([tmp_path / "a.docx"], tmp_path / "b.tif")
    assert result.pages == 1
    assert lo.starts == starts + 1 and lo.pid not in (None, pid)


def test_time_limit_kills_libreoffice_and_the_next_document_works(tmp_path: Path) -> None:
    lo = office.office()
    make_docx(tmp_path / "small.docx")
    convert([tmp_path / "small.docx"], tmp_path / "warm.tif")  # running: the limit is on work
    make_docx(tmp_path / "big.docx", [f"line {i} of a long document" * 4 for i in range(3000)])
    with pytest.raises(DocumentError, match="time limit"):
        convert([tmp_path / "big.docx"], tmp_path / "o.tif", limits=ConversionLimits(timeout=0.2))
    assert lo.pid is None  # killed, not left running the stuck conversion
    assert convert([tmp_path / "small.docx"], tmp_path / "s.tif").pages == 1


def test_memory_limit_is_enforced_with_a_clear_error(tmp_path: Path) -> None:
    lo = office.Office(memory=100 * 2**20)  # far below what LibreOffice needs to start
    try:
        make_docx(tmp_path / "a.docx")
        with pytest.raises(DocumentError) as info:
            lo.convert(tmp_path / "a.docx", tmp_path / "a.pdf", timeout=60, label="a.docx")
        assert "LibreOffice stopped" in info.value.message
        assert "100 MiB" in (info.value.hint or "")
    finally:
        lo.close()
    assert lo.pid is None


def test_a_damaged_office_file_is_refused_and_libreoffice_lives_on(tmp_path: Path) -> None:
    lo = office.office()
    bad = tmp_path / "broken.docx"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "this is not XML <<<")
    try:
        r = convert([bad], tmp_path / "o.tif")
    except DocumentError as exc:
        assert "broken.docx" in exc.message
    else:
        assert r.pages >= 1  # LibreOffice may salvage it as an empty page: also fine
    make_docx(tmp_path / "a.docx")
    assert convert([tmp_path / "a.docx"], tmp_path / "a.tif").pages == 1
    assert lo.pid is not None


def test_an_idle_libreoffice_is_stopped_and_started_again_when_needed(tmp_path: Path) -> None:
    lo = office.Office(idle=0.5)
    try:
        make_docx(tmp_path / "a.docx")
        lo.convert(tmp_path / "a.docx", tmp_path / "a.pdf", timeout=120, label="a.docx")
        pid = lo.pid
        assert pid is not None
        _wait_gone(pid)  # stopped by the idle timer, nobody asked
        end = time.monotonic() + 30
        while lo.pid is not None and time.monotonic() < end:  # the timer thread reaps it
            time.sleep(0.05)
        assert lo.pid is None
        lo.convert(tmp_path / "a.docx", tmp_path / "b.pdf", timeout=120, label="a.docx")
        assert lo.starts == 2 and (tmp_path / "b.pdf").stat().st_size > 0
    finally:
        lo.close()


def test_a_start_that_runs_out_of_time_says_so(tmp_path: Path) -> None:
    lo = office.Office()
    try:
        make_docx(tmp_path / "a.docx")
        with pytest.raises(DocumentError, match="did not start within the time limit"):
            lo.convert(tmp_path / "a.docx", tmp_path / "a.pdf", timeout=0.05, label="a.docx")
        assert lo.pid is None
        lo.convert(tmp_path / "a.docx", tmp_path / "a.pdf", timeout=120, label="a.docx")
        assert (tmp_path / "a.pdf").stat().st_size > 0
    finally:
        lo.close()


def test_lanfax_convert_of_an_office_file_by_a_relative_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lanfax.documents.cli import main

    make_docx(tmp_path / "letter.docx")
    monkeypatch.chdir(tmp_path)
    assert main(["convert", "letter.docx", "-o", "letter.tif"]) == 0
    assert tiff_pages(tmp_path / "letter.tif")[0].any()


def test_a_worker_with_a_lower_memory_limit_than_asked_still_starts_libreoffice(
    tmp_path: Path,
) -> None:
    # A pool worker may itself run under RLIMIT_AS; LibreOffice then gets that limit, not an
    # error from trying to raise it. Run in a child process that limits itself first.
    import subprocess
    import sys

    make_docx(tmp_path / "a.docx")
    code = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))\n"
        "from lanfax.documents import office\n"
        "lo = office.Office(memory=8 * 2**30)\n"
        f"lo.convert(Path({str(tmp_path / 'a.docx')!r}), Path({str(tmp_path / 'a.pdf')!r}),"
        " timeout=120, label='a.docx')\n"
        "lo.close()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "a.pdf").stat().st_size > 0


def test_profiles_of_killed_processes_are_removed(tmp_path: Path) -> None:
    import subprocess
    import sys
    import tempfile

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    stale = Path(tempfile.mkdtemp(prefix=f"lanfax-office-{dead}-"))
    (stale / "user").mkdir()
    lo = office.Office()
    try:
        make_docx(tmp_path / "a.docx")
        lo.convert(tmp_path / "a.docx", tmp_path / "a.pdf", timeout=120, label="a.docx")
        assert not stale.exists()
        assert lo._profile is not None and lo._profile.name.startswith(
            f"lanfax-office-{os.getpid()}-"
        )
    finally:
        lo.close()
        shutil.rmtree(stale, ignore_errors=True)
