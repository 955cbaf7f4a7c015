"""Store in a folder: the received fax (TIFF or PDF) written into a folder under one of the
allowed roots, named from a template, atomically, never overwriting."""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Mapping, Sequence
from datetime import tzinfo
from pathlib import Path
from typing import Any

from lanfax.model.errors import ConfigError
from lanfax.routing.api import FaxRoute, RouteCallbacks, RouteResult
from lanfax.routing.builtin.common import SUFFIX, document, publish
from lanfax.routing.schema import Field, one_of, text, validate
from lanfax.routing.templates import check_template, render, sanitize_filename, template_fields

DEFAULT_NAME_TEMPLATE = "{datetime}_{tsid}_{job_id}"


def inside(path: Path, roots: Sequence[Path]) -> bool:
    """Whether ``path`` (symlinks resolved) is one of ``roots`` or below one of them."""
    real = Path(os.path.realpath(path))
    return any(real.is_relative_to(os.path.realpath(root)) for root in roots)


def folder_check(roots: Sequence[Path]) -> Any:
    def check(v: Any) -> str:
        if not isinstance(v, str) or not v.strip() or "\x00" in v:
            raise ConfigError(f"{v!r} is not a folder", hint="give an absolute path")
        p = Path(v)
        if not p.is_absolute():
            # The server keeps the directory it was started in (its data directory is made
            # absolute from it): that is the folder a relative path would have meant.
            meant = os.path.abspath(v)
            raise ConfigError(
                f"{v!r} is not an absolute path (it would mean {meant!r})",
                hint=f"give the full path, e.g. {meant}",
            )
        if not inside(p, roots):
            allowed = ", ".join(str(r) for r in roots)
            raise ConfigError(
                f"{v!r} is outside the folders faxes may be stored in",
                hint=f"choose a folder under one of: {allowed} (the server's allowed roots)",
            )
        return os.path.normpath(v)

    return check


def fields(roots: Sequence[Path], default_folder: Path) -> list[Field]:
    return [
        Field("folder", folder_check(roots), str(default_folder), doc="an absolute path"),
        Field(
            "name_template",
            lambda v: check_template(text(max_length=500, allow_empty=False)(v), "the template"),
            DEFAULT_NAME_TEMPLATE,
        ),
        Field("format", one_of("tiff", "pdf"), "tiff"),
    ]


def check(info: Mapping[str, Any], roots: Sequence[Path], default_folder: Path) -> dict[str, Any]:
    return validate("store in a folder", info, fields(roots, default_folder))


def file_stem(template: str, fax: FaxRoute, tz: tzinfo | None) -> str:
    """The sanitized file name (without extension) for ``fax``; always one plain name."""
    return sanitize_filename(render(template, template_fields(fax, tz)))


async def route(
    fax: FaxRoute,
    info: Mapping[str, Any],
    *,
    callbacks: RouteCallbacks,
    roots: Sequence[Path],
    tz: tzinfo | None,
    mode: int,
) -> RouteResult:
    folder = Path(info["folder"])
    fmt = info["format"]
    # Checked again now: a symlink under a root may have been pointed elsewhere since.
    if not await asyncio.to_thread(inside, folder, roots):
        return RouteResult.failure(
            f"{folder} is outside the allowed roots", retryable=False, data={"folder": str(folder)}
        )
    stem = file_stem(info["name_template"], fax, tz)
    try:
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        if not await asyncio.to_thread(inside, folder, roots):
            return RouteResult.failure(f"{folder} is outside the allowed roots", retryable=False)
        async with document(callbacks, fax, fmt) as src:
            final = await asyncio.to_thread(publish, src, folder, stem, SUFFIX[fmt], mode=mode)
    except (FileExistsError, NotADirectoryError) as exc:
        return RouteResult.failure(f"cannot store in {folder}: {exc}", retryable=False)
    except PermissionError as exc:
        return RouteResult.failure(
            f"no permission to write in {folder}: {exc.strerror}", retryable=False
        )
    except OSError as exc:
        # A full disk or a share that went away may come back.
        retry = exc.errno not in (errno.EROFS, errno.ENAMETOOLONG)
        return RouteResult.failure(f"cannot store in {folder}: {exc}", retryable=retry)
    return RouteResult(ok=True, reason=f"stored as {final}")
