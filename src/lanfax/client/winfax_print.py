"""FaxStartPrintJob and FaxPrintCoverPage: "printing" to the fax server.

Windows hands the application a GDI device context of the fax printer; the fax is sent when
the print job ends. There is no GDI here, so ``FAX_CONTEXT_INFO.hDC`` is a
:class:`FaxPrintJob`: the application gives it the document (``add_file`` or ``write``, any
format the server converts: PDF, PostScript, text, images, TIFF) and calls ``EndDoc()``, which
queues the fax with the FAX_PRINT_INFO fields and returns the JobId. With
``FAX_PRINT_INFO.OutputFileName`` set, ``EndDoc()`` writes the document to that file instead
(print to file) and sends nothing. FaxPrintCoverPage attaches a cover page that the server
renders when the job is queued; a cover page cannot be printed to a file here (no local
renderer in the light client), which fails with ERROR_NOT_SUPPORTED.
"""

from __future__ import annotations

import os
from typing import Any

from lanfax.client._sync import Client
from lanfax.client.winfax import _cover
from lanfax.client.winfax_base import _api, _fail, _server_url
from lanfax.client.winfax_types import (
    ERROR_INVALID_HANDLE,
    ERROR_INVALID_PARAMETER,
    ERROR_NOT_SUPPORTED,
    FAX_CONTEXT_INFO,
    FAX_COVERPAGE_INFO,
    FAX_PRINT_INFO,
)
from lanfax.model.errors import InvalidInput, Unavailable
from lanfax.model.jobs import CoverPageInfo, JobParams


class FaxPrintJob:
    """The "device context" of a fax print job (see the module docstring)."""

    def __init__(self, printer: str | None, info: FAX_PRINT_INFO) -> None:
        self.printer = printer
        self.info = info
        self.parts: list[tuple[str, bytes]] = []
        self.cover: CoverPageInfo | None = None
        self.ended = False
        self.JobId = 0

    def add_file(self, path: str | os.PathLike[str]) -> None:
        """Add a document file to the print job."""
        self._check()
        with open(path, "rb") as fh:
            self.parts.append((os.path.basename(os.fspath(path)), fh.read()))

    def write(self, data: bytes, name: str = "printed.pdf") -> None:
        """Add document bytes (``name``'s suffix tells the server the format)."""
        self._check()
        self.parts.append((name, bytes(data)))

    def _check(self) -> None:
        if self.ended:
            raise _fail(
                InvalidInput,
                "this print job has ended",
                "start a new one with FaxStartPrintJob",
                ERROR_INVALID_HANDLE,
            )

    @_api
    def EndDoc(self) -> int:
        """Finish the print job: queue the fax (returns its JobId) or write OutputFileName
        (returns 0)."""
        self._check()
        if not self.parts:
            raise _fail(
                InvalidInput,
                "nothing was printed",
                "add_file() or write() first",
                ERROR_INVALID_PARAMETER,
            )
        self.ended = True
        info = self.info
        if info.OutputFileName:
            if self.cover is not None:
                raise _fail(
                    Unavailable,
                    "a cover page cannot be printed to a file here",
                    "send the fax instead (the server renders cover pages), or use "
                    "`lanfax cover` to render one",
                    ERROR_NOT_SUPPORTED,
                )
            with open(info.OutputFileName, "wb") as fh:
                for _name, data in self.parts:
                    fh.write(data)
            return 0
        if not info.RecipientNumber.strip():
            raise _fail(
                InvalidInput,
                "PrintInfo.RecipientNumber is empty",
                "set the fax number to print to",
                ERROR_INVALID_PARAMETER,
            )
        params = JobParams(
            recipient_number=info.RecipientNumber.strip(),
            recipient_name=info.RecipientName,
            sender_name=info.SenderName,
            sender_company=info.SenderCompany,
            sender_dept=info.SenderDept,
            billing_code=info.SenderBillingCode,
            document_name=info.DocName,
            delivery_report_address=info.DrEmailAddress,
        )
        with Client(_server_url(self.printer)) as client:
            jobs = client.send(self.parts, to=params, cover_page=self.cover)
        self.JobId = jobs[0].job_id
        return self.JobId


@_api
def FaxStartPrintJob(PrinterName: str | None, PrintInfo: FAX_PRINT_INFO) -> FAX_CONTEXT_INFO:
    """Start a print job to the fax server ``PrinterName`` (a host, ``\\\\host\\printer``, a
    URL, or None for LANFAX_SERVER). Returns a FAX_CONTEXT_INFO whose ``hDC`` is the job."""
    if not isinstance(PrintInfo, FAX_PRINT_INFO):
        raise _fail(
            InvalidInput,
            "PrintInfo is not a FAX_PRINT_INFO",
            "pass a FAX_PRINT_INFO",
            ERROR_INVALID_PARAMETER,
        )
    return FAX_CONTEXT_INFO(FaxPrintJob(PrinterName, PrintInfo), PrinterName or "")


@_api
def FaxPrintCoverPage(FaxContextInfo: FAX_CONTEXT_INFO, CoverPageInfo: FAX_COVERPAGE_INFO) -> bool:
    """Attach a cover page to the print job (rendered by the server when it is queued)."""
    job: Any = getattr(FaxContextInfo, "hDC", None)
    if not isinstance(job, FaxPrintJob):
        raise _fail(
            InvalidInput,
            "FaxContextInfo has no fax print job",
            "use the FAX_CONTEXT_INFO from FaxStartPrintJob",
            ERROR_INVALID_HANDLE,
        )
    job._check()
    if not CoverPageInfo.CoverPageName and not CoverPageInfo.UseServerCoverPage:
        raise _fail(
            InvalidInput,
            "CoverPageInfo names no cover page",
            "set CoverPageName (or UseServerCoverPage)",
            ERROR_INVALID_PARAMETER,
        )
    job.cover = _cover(CoverPageInfo)
    return True
