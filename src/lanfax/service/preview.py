"""Preview of a submission: the fax pages the recipient would get, before anything is queued.

The same steps as a submission (lanfax.service.submit) up to the document: the files are
converted at the submission's resolution and, with a cover page, the first recipient's cover
page is rendered in front, exactly as the job's own TIFF would be. Nothing is committed and
no job is made; the caller removes ``work`` afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lanfax import documents
from lanfax.documents.cover import render_cover
from lanfax.documents.types import ConversionResult
from lanfax.model.errors import InvalidInput, NotFound
from lanfax.service import covers
from lanfax.service.core import FaxService
from lanfax.service.submit import Submission

#: The most pages a preview renders as images (the count of all pages is still given).
MAX_PREVIEW_PAGES = 12


async def preview_document(
    service: FaxService,
    submission: Submission,
    staged: Sequence[Path],
    labels: Sequence[str],
    user_name: str,
    work: Path,
) -> ConversionResult:
    """The whole fax (cover page first, when asked for) as a TIFF in ``work``."""
    ctx = service.ctx
    info = submission.cover_page
    template = None
    if info is not None:
        store = covers.template_store(ctx.spool.root.parent)
        template = covers.choose_template(store, info, user_name, ctx.config)
    if not staged and info is None:
        raise InvalidInput("add a file or a cover page to preview", hint="pick a document")
    body = None
    if staged:
        body = await service.submitter.make_document(
            staged, "preview", submission.resolution, labels, work / "body.tif"
        )
    if info is None:
        assert body is not None
        return body
    now = ctx.clock.now()
    first = covers.recipient_info(
        info, submission.recipients[0], now, ctx.tz, body.pages if body else 0
    )
    if body is None:
        return await ctx.run(render_cover, first, template, work / "fax.tif", submission.resolution)
    return await ctx.run(
        covers.job_document,
        first,
        template,
        body.path,
        work / "fax.tif",
        body.resolution,
        body.compression,
    )


def page_png(path: Path, page: int, pages: int, width: int) -> bytes:
    """Page ``page`` (1-based; NotFound outside 1..``pages``) of the fax at ``path`` as PNG,
    ``width`` pixels wide, its physical aspect restored (blocking: call it in a thread)."""
    if not 1 <= page <= max(pages, 1):
        raise NotFound(f"there is no page {page}", hint=f"pages are 1 to {pages}")
    return documents.thumbnail_png(path, page - 1, width)
