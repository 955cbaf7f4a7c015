"""What the built-in methods share: the document in the format a method wants, and the
atomic, never-overwriting publication of a file into a folder."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from lanfax.model.errors import DocumentError, InvalidInput, Unavailable
from lanfax.routing.api import FaxRoute, RouteCallbacks

SUFFIX = {"tiff": ".tif", "pdf": ".pdf"}
CONTENT_TYPE = {"tiff": "image/tiff", "pdf": "application/pdf"}


def convert_to_pdf(tiff: Path, out: Path) -> None:
    """The received fax as a PDF, through the documents room (imported only when needed)."""
    try:
        from lanfax.documents import tiff_to_pdf

        tiff_to_pdf(tiff, out)
    except ImportError as exc:
        raise Unavailable(
            f"PDF conversion is not available in this installation: {exc}",
            hint='set the method\'s format to "tiff", or install a lanfax with lanfax.documents',
        ) from None
    if not out.is_file() or out.stat().st_size == 0:
        raise DocumentError(
            f"converting {tiff.name} to PDF produced no file", hint="check the received TIFF"
        )


@asynccontextmanager
async def document(callbacks: RouteCallbacks, fax: FaxRoute, fmt: str) -> AsyncIterator[Path]:
    """The fax as a file in ``fmt`` ("tiff" or "pdf"), for the duration of the block.

    The TIFF is the received file itself (index 0 of the fax's files), never modified; a
    PDF is made in a private temporary directory removed afterwards.
    """
    tiff = await callbacks.get_file(fax.job_id, 0)
    if not await asyncio.to_thread(tiff.is_file):
        raise InvalidInput(
            f"the received fax {tiff} is missing", hint="the fax file was moved or deleted"
        )
    if fmt == "tiff":
        yield tiff
        return
    with tempfile.TemporaryDirectory(prefix="lanfax-route-") as tmp:
        pdf = Path(tmp) / f"fax-{fax.job_id}.pdf"
        await asyncio.to_thread(convert_to_pdf, tiff, pdf)
        yield pdf


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _link_new(tmp: Path, final: Path) -> None:
    """Give ``tmp`` the name ``final`` unless ``final`` exists (FileExistsError)."""
    try:
        os.link(tmp, final)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # A file system without hard links (some network shares): claim the name with an
        # exclusive create, then replace the empty claim with the complete file. A reader
        # may see the empty claim for a moment, never a partial fax.
        os.close(os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.replace(tmp, final)


def publish(src: Path, folder: Path, stem: str, suffix: str, *, mode: int = 0o640) -> Path:
    """Copy ``src`` into ``folder`` as ``stem+suffix`` (or ``stem-1+suffix``, ... when taken).

    The copy is written to a hidden temporary file in the same folder and fsynced, then
    hard-linked to its final name: ``link`` fails rather than replacing an existing file, so
    nothing is ever overwritten, and the final name appears only when the content is
    complete. The temporary name is removed and the directory fsynced before returning.
    """
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".lanfax-", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, src.open("rb") as inp:
            shutil.copyfileobj(inp, out, 1 << 20)
            out.flush()
            os.fchmod(out.fileno(), mode)
            os.fsync(out.fileno())
        for n in range(10_000):
            final = folder / (f"{stem}{suffix}" if n == 0 else f"{stem}-{n}{suffix}")
            try:
                _link_new(tmp, final)
            except FileExistsError:
                continue
            break
        else:
            raise FileExistsError(f"{folder / stem}{suffix} and 9999 variants already exist")
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(folder)
    return final
