"""External converters: Ghostscript for PostScript/EPS, LibreOffice for office documents.

Both run as subprocesses (LibreOffice a long-lived one, see :mod:`lanfax.documents.office`)
with a timeout (a PostScript program can loop forever) and write a
PDF into a private temporary directory; the PDF then takes the pdfium path.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from lanfax.model.errors import DocumentError


def _tail(stderr: bytes | str | None) -> str:
    if not stderr:
        return "no message"
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "no message"


def postscript_to_pdf(path: Path, out: Path, *, timeout: float, max_pages: int, label: str) -> None:
    """``gs -dSAFER`` ``path`` (PostScript or EPS) to the PDF ``out``, at most
    ``max_pages + 1`` pages (one more than allowed, so the caller can say the limit was hit)."""
    gs = shutil.which("gs")
    if gs is None:
        raise DocumentError(
            "PostScript needs Ghostscript, which is not installed",
            hint="install the Debian package ghostscript",
        )
    with open(path, "rb") as f:
        head = f.read(64)
    cmd = [
        gs,
        "-q",
        "-dSAFER",
        "-dBATCH",
        "-dNOPAUSE",
        "-dNOPROMPT",
        "-sDEVICE=pdfwrite",
        f"-dLastPage={max_pages + 1}",
        f"-sOutputFile={out}",
    ]
    if b"EPSF" in head or head.startswith(b"\xc5\xd0\xd3\xc6"):
        cmd.append("-dEPSCrop")  # an EPS is a picture: its page is its bounding box
    cmd += ["-f", str(path)]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, timeout=max(0.1, timeout), stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise DocumentError(
            f"{label}: the PostScript program ran longer than the time limit ({timeout:.0f} s)",
            hint="the file may loop forever; print it to PDF and send that instead",
        ) from None
    if proc.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        raise DocumentError(
            f"{label}: Ghostscript could not interpret the PostScript "
            f"({_tail(proc.stderr or proc.stdout)})",
            hint="the file is damaged or not PostScript; print it to PDF and send that instead",
        )


def office_to_pdf(
    path: Path, workdir: Path, *, timeout: float, label: str, memory: int | None = None
) -> Path:
    """The PDF of an office document (written under ``workdir``): through this process's
    long-lived LibreOffice (:mod:`lanfax.documents.office`) when python3-uno is there, else
    one ``soffice --headless --convert-to pdf`` for this document."""
    from lanfax.documents import office

    if office.available():
        out = workdir / "office.pdf"
        office.office(memory or office.DEFAULT_MEMORY).convert(
            path, out, timeout=max(0.1, timeout), label=label
        )
        return out
    return _office_to_pdf_once(path, workdir, timeout=timeout, label=label)


def _office_to_pdf_once(path: Path, workdir: Path, *, timeout: float, label: str) -> Path:
    """LibreOffice ``soffice --headless --convert-to pdf``; returns the PDF it wrote."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        raise DocumentError(
            f"{label} is an office document, and converting it needs LibreOffice, "
            "which is not installed on the server",
            hint="install the Debian package libreoffice-writer-nogui (and "
            "libreoffice-calc-nogui / libreoffice-impress-nogui for spreadsheets and "
            "presentations), or send the document as PDF",
        )
    profile = workdir / "lo-profile"  # a private profile: concurrent conversions do not lock
    outdir = workdir / "lo-out"
    outdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        soffice,
        f"-env:UserInstallation={profile.as_uri()}",
        "--headless",
        "--norestore",
        "--convert-to",
        "pdf",
        "--outdir",
        str(outdir),
        str(path),
    ]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, timeout=max(0.1, timeout), stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise DocumentError(
            f"{label}: LibreOffice took longer than the time limit ({timeout:.0f} s)",
            hint="export the document to PDF yourself and send that",
        ) from None
    pdfs = sorted(outdir.glob("*.pdf"))
    if proc.returncode != 0 or not pdfs:
        raise DocumentError(
            f"{label}: LibreOffice could not convert the document ({_tail(proc.stderr)})",
            hint="the file is damaged or not an office document; export it to PDF and send that",
        )
    return pdfs[0]
