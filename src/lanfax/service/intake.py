"""An intake worker's share of a submission: its document staged and checked (#19).

With ``[server] intake_workers = N`` (:mod:`lanfax.api.intake`), worker processes take
``POST /api/v1/jobs`` off the main process. What they may do without the store is the
document's CPU and file work, which is :meth:`Submitter._take_ready
<lanfax.service.submit.Submitter._take_ready>`'s first half: write the upload into the
spool's ``tmp`` and check it in one libtiff pass (:func:`lanfax.service.faxcheck.scan`).
:func:`stage_checked` does that and returns the document as it is (or None: anything that is
not a fax-ready TIFF is left to the main process, which converts it). The main process then
vouches for the file (:meth:`Submitter.vouch <lanfax.service.submit.Submitter.vouch>`): its
committer (:mod:`lanfax.service.intake_commit`) renames it into ``spool/docs`` without
scanning it again, and makes the whole group's documents durable at once before the commit
that refers to them (#19 wave 8: one ``syncfs`` of the spool's filesystem per group,
:meth:`lanfax.service.spool.Spool.sync_documents`, instead of one fsync per file here).

A worker's files are named ``intake-<pid>-<random>``, so that the main process removes what a
worker that died left behind (:func:`sweep`); the spool's ``tmp`` is emptied at every start.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lanfax.documents.types import MAX_LENGTH, ConversionResult
from lanfax.model.errors import ConfigError
from lanfax.service import faxcheck
from lanfax.service.spool import token_hex, write_new

if TYPE_CHECKING:
    from lanfax.service.settings import ServiceSettings

#: The start of every file a worker stages.
PREFIX = "intake-"


def stage_checked(
    tmp: Path, data: bytes, max_pages: int, *, sync: bool = False
) -> ConversionResult | None:
    """``data`` written to a new file in ``tmp`` and checked, as a fax-ready TIFF (its
    ``path`` the staged file), or None (nothing left behind): not a TIFF Class F, a page
    longer than any paper or that does not decode, or more than ``max_pages`` pages: the main
    process does what it does today with such a document (converts it, or names the error).
    Not fsynced unless ``sync`` (#19 wave 8): whoever makes it a job's document makes it
    durable first, the committer's trip for a whole group at once (one ``syncfs``), which
    costs the group less than one fsync each here (an fsync held the worker's loop 0.7-0.9
    ms per document on this VM's disk, for ~0.08 ms of CPU). Blocking, short: a write and
    the one-pass check (~0.2 ms of CPU for a page), so a worker runs it on its event loop."""
    path = tmp / f"{PREFIX}{os.getpid()}-{token_hex(8)}"
    try:
        # 0640 as every staged upload; O_EXCL.
        write_new(path, data, sync=sync, exclusive=True)
        found = faxcheck.scan(path, MAX_LENGTH, max_pages)
        ready = found.ready
        if ready is None or found.bad is not None or ready.pages > max_pages:
            path.unlink()
            return None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return ready


#: A staged document as the pair of processes pass it: a tuple of plain values (path, pages,
#: width, height, resolution, compression, size) pickles in a fraction of the time a
#: dataclass holding a Path does (#19: measured on the main process's side).
StagedFields = tuple[str, int, int, int, str, str, int]


def staged_fields(ready: ConversionResult) -> StagedFields:
    return (
        str(ready.path),
        ready.pages,
        ready.width,
        ready.height,
        ready.resolution,
        ready.compression,
        ready.size,
    )


def staged_result(fields: StagedFields) -> ConversionResult:
    path, pages, width, height, resolution, compression, size = fields
    return ConversionResult(Path(path), pages, width, height, resolution, compression, size)


def sweep(tmp: Path, pid: int) -> int:
    """Remove what worker ``pid`` staged (after it died, once main is done with its
    requests); returns how many files."""
    removed = 0
    for path in tmp.glob(f"{PREFIX}{pid}-*"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def refusal(settings: ServiceSettings) -> ConfigError | None:
    """Why ``lanfax serve`` cannot start with these ``intake_workers`` (None: it can, or
    there are none): they need Linux (``SCM_RIGHTS`` hand-offs, ``PR_SET_PDEATHSIG``), plain
    HTTP (a TLS session cannot be handed from one process to another) and httptools (their
    protocol is uvicorn's httptools one). ``lanfax serve`` refuses to start with it, and
    ``lanfax doctor`` says it beforehand."""
    if not settings.intake_workers:
        return None
    if not sys.platform.startswith("linux"):
        return ConfigError(
            "server.intake_workers needs Linux (connections are handed between processes"
            " with SCM_RIGHTS, and the workers die with the server by PR_SET_PDEATHSIG)",
            hint="set server.intake_workers = 0",
        )
    if settings.security.tls:
        return ConfigError(
            "server.intake_workers cannot be used with TLS (a TLS connection cannot be handed"
            " from one process to another)",
            hint="set server.intake_workers = 0, or serve plain HTTP on 127.0.0.1 behind a"
            " TLS proxy",
        )
    if importlib.util.find_spec("httptools") is None:
        return ConfigError(
            "server.intake_workers needs httptools, which is not installed",
            hint="pip install 'lanfax[server]', or set server.intake_workers = 0",
        )
    return None
