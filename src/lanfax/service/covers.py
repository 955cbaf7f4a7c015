"""Cover pages in the service: where the templates live, which one a submission may use, and
each recipient's own document (its cover page in front of the broadcast's shared body).

Templates live under ``<data>/covers/server/`` (administrators) and
``<data>/covers/users/<user>/`` (each user's personal ones). A submission naming a template
gets it from :func:`choose_template`; the ServerCp setting refuses a personal template there
(:func:`lanfax.documents.cover.check_server_cp`).

The body of a broadcast is stored once (``spool/docs/<broadcast>.tif``) whatever the number of
recipients; each recipient's cover page is a one-page file of its own
(``spool/docs/<broadcast>-<i>.tif``, rendered in the conversion pool by
:func:`cover_document`), which is the job's ``document_path``; ``job.extra["body_path"]`` names
the shared body. The two are joined (:func:`join`: the compressed pages copied as they are,
:func:`lanfax.documents.tiffcat.concat`) only when the whole fax is needed: for the call, a
download, the archive. (Issue #14: a copy of the body per recipient could fill the disk.)
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import Mapping
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lanfax.documents.cover import Template, TemplateStore, check_server_cp, preview, render_cover
from lanfax.documents.tiffcat import concat
from lanfax.documents.types import ConversionResult
from lanfax.model.config import ServerConfig
from lanfax.model.errors import InvalidInput, NotFound
from lanfax.model.jobs import CoverPageInfo, JobParams

if TYPE_CHECKING:
    from lanfax.service.context import ServiceContext

#: Scopes as the HTTP API names them, and as the template store does.
SCOPES = {"server": "server", "personal": "personal"}


def template_store(data_dir: Path) -> TemplateStore:
    """The service's templates: ``<data>/covers/server`` and ``<data>/covers/users/<user>``."""
    root = Path(data_dir) / "covers"
    return TemplateStore(root / "server", root / "users")


def choose_template(
    store: TemplateStore, info: CoverPageInfo, user: str, config: ServerConfig
) -> Path | None:
    """The template file for ``info.cover_page_name`` (None: the built-in default).

    A personal template shadows a server one of the same name unless
    ``use_server_cover_page`` is set. Raises AccessDenied (403) when ServerCp is on and the
    name resolves to a personal template, InvalidInput (422) naming an unknown template and
    listing the ones the user may use."""
    name = info.cover_page_name
    if not name:
        return None
    server_only = info.use_server_cover_page
    try:
        found = store.find(name, user, server_only=server_only)
    except NotFound:
        usable = [
            t.name
            for t in store.list(user)
            if not (server_only or config.server_cp) or t.scope == "server"
        ]
        raise InvalidInput(
            f"cover_page.cover_page_name: there is no cover page template named {name!r}",
            hint=f"available: {', '.join(sorted(set(usable)))}",
            cover_page_name=name,
        ) from None
    if found.scope != "server":
        check_server_cp(info, config)  # raises AccessDenied when ServerCp is on
    return found.path


def recipient_info(
    info: CoverPageInfo, params: JobParams, now: datetime, tz: tzinfo, body_pages: int
) -> CoverPageInfo:
    """One recipient's cover page fields: what the submission gave, with the recipient's and
    the sender's fields from the job params where it left them empty, the submission time,
    and the page count of the whole fax (the body's pages and this one)."""
    return dataclasses.replace(
        info,
        rec_name=info.rec_name or params.recipient_name,
        rec_fax_number=info.rec_fax_number or params.recipient_number,
        sdr_name=info.sdr_name or params.sender_name,
        sdr_company=info.sdr_company or params.sender_company,
        sdr_department=info.sdr_department or params.sender_dept,
        time_sent=info.time_sent or now.astimezone(tz).replace(tzinfo=None),
        page_count=body_pages + 1,
    )


def job_document(
    info: CoverPageInfo,
    template: Path | None,
    body: Path,
    out: Path,
    resolution: str,
    compression: str,
) -> ConversionResult:
    """``info``'s cover page rendered at ``resolution`` and ``compression``, then the pages
    of ``body`` copied as they are, written to ``out`` (fsynced; the directory is the
    caller's business). The whole fax in one file: for a preview; a submission keeps the
    cover apart (:func:`cover_document`) and joins it when needed."""
    cover = out.with_name(f".{out.name}.cover.tif")
    try:
        render_cover(info, template, cover, resolution, compression)
        return concat([cover, body], out)
    finally:
        with contextlib.suppress(OSError):
            cover.unlink()


def cover_document(
    info: CoverPageInfo,
    template: Path | None,
    out: Path,
    resolution: str,
    compression: str,
) -> ConversionResult:
    """Runs in a worker process: ``info``'s cover page alone, rendered at ``resolution`` and
    ``compression`` (the body's, so that the two can be joined), written to ``out``
    (fsynced; the directory is the caller's business)."""
    tmp = out.with_name(f".{out.name}.render.tif")
    try:
        render_cover(info, template, tmp, resolution, compression)
        # concat of one file: an atomic, fsynced copy with the result's figures.
        return concat([tmp], out)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def body_path(job_extra: Mapping[str, Any]) -> str:
    """The shared body of a job with a cover page of its own ('' for any other job)."""
    value = job_extra.get("body_path", "")
    return value if isinstance(value, str) else ""


def join(cover: Path, body: Path, out: Path) -> ConversionResult:
    """The whole fax of a job with a cover page: its cover, then the body's pages."""
    return concat([cover, body], out)


# -- the templates as the HTTP API manages them (#17: the API reaches them through here) -------


def describe(t: Template) -> dict[str, str]:
    """A template as the API lists it: name, scope and kind (builtin, pdf or txt)."""
    kind = "builtin" if t.path is None else t.path.suffix.lstrip(".").lower()
    return {"name": t.name, "scope": t.scope, "kind": kind}


def preview_pdf(template: Path | None) -> bytes:
    """``template`` (None: the built-in default) filled with sample data, as PDF bytes."""
    with tempfile.TemporaryDirectory(prefix="lanfax-preview-") as work:
        out = Path(work) / "preview.pdf"
        preview(template, out)
        return out.read_bytes()


class CoverTemplates:
    """The service's cover page templates (:func:`template_store`) for the HTTP API: listed,
    added, removed and previewed in the service's worker threads, described as plain dicts."""

    def __init__(self, ctx: ServiceContext, data_dir: Path) -> None:
        self.ctx = ctx
        self.store = template_store(data_dir)

    async def list(self, user: str | None) -> list[dict[str, str]]:
        """The server's templates (with the built-in default), then ``user``'s own."""
        return [describe(t) for t in await self.ctx.run(self.store.list, user)]

    async def add(
        self, name: str, data: bytes, kind: str, scope: str, user: str | None
    ) -> dict[str, str]:
        """Store a template (rendered with sample data first: DocumentError otherwise)."""
        return describe(await self.ctx.run(self.store.add, name, data, kind, scope, user))

    async def delete(self, name: str, scope: str, user: str | None) -> None:
        await self.ctx.run(self.store.delete, name, scope, user)

    async def preview(self, scope: str, name: str, user: str) -> bytes:
        """Template ``name`` of ``scope`` ("server" or "personal": ``user``'s), filled with
        sample data, as PDF (rendered in the heavy pool). NotFound for an unknown one."""
        if scope not in SCOPES:
            raise NotFound(f"no cover page scope {scope!r}", hint="use server or personal")
        templates = await self.ctx.run(self.store.list, user)
        found = [t for t in templates if t.name == name and t.scope == scope]
        if not found:
            raise NotFound(
                f"no {scope} cover page template named {name!r}",
                hint="list them: GET /api/v1/covers",
            )
        return await self.ctx.run_heavy(preview_pdf, found[0].path)
