"""Uploads staged for a submission or a preview (#17: the service stages them, not the API).

A submission's files are written one at a time, each fsynced, into a private directory of the
spool (``spool/tmp/<random>``, :meth:`~lanfax.service.spool.Spool.new_stage`) under names of
the service's own (``000``, ``001``, ...): a client's file name is only ever a label (in
errors), never part of a path. The stage and its files are what
:meth:`~lanfax.service.core.FaxService.submit` takes (``stage_dir``, ``files``), or what
:func:`~lanfax.service.preview.preview_document` converts.

An upload is given as ``(label, read)``: ``read()`` returns its bytes, so that the HTTP API
hands over its multipart parts without reading them all first.

``durable=False`` (a submission, #19): the files are not fsynced here, because only the file
that becomes a job's document has to be, and the submission fsyncs exactly that one before it
is moved into ``spool/docs`` (a converted document is a new file, fsynced as it is written).
Every file call runs in the thread pool, never on the event loop's thread (#14: a slow disk
must not stall the loop).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from lanfax.model.errors import InvalidInput
from lanfax.service.context import ServiceContext
from lanfax.service.spool import fsync_file, token_hex, write_durably, write_new

#: One upload: how errors name it ("file part 2 (scan.pdf)"), and how to read its bytes.
Upload = tuple[str, Callable[[], Awaitable[bytes]]]


#: The largest single upload a submission reads into memory and stages in the service's first
#: trip to the thread pool (#19); starlette keeps an upload up to 1 MB in memory anyway.
DEFER_MAX = 1024 * 1024


class Deferred:
    """Uploads read but not written yet (#19): the service writes them (not fsynced) in its
    first trip to the thread pool, with :meth:`write`, so that staging costs no trip of its
    own. Nothing is on disk before that, so there is nothing to remove if the submission
    fails first.

    One upload (the HTTP route's small single file) is staged as one plain file,
    ``spool/tmp/<random>``, which is its ``stage`` too: no directory to make and remove
    (#19: a mkdir and an rmdir per submission, each a journalled change of ``spool/tmp``).
    Several are files in a directory of their own, as :func:`stage_uploads` makes it."""

    def __init__(self, stage: Path, files: list[tuple[Path, bytes]]) -> None:
        self.stage = stage
        self.files = files

    @property
    def paths(self) -> list[Path]:
        return [path for path, _ in self.files]

    def write(self) -> None:
        """Make the stage and write the files (blocking: in the pool). One plain file, the
        submission's document if it is sent as it is, is fsynced through the descriptor
        that wrote it (#19: :func:`make_durable` then has nothing left to do, where it
        opened the file again); files of a directory stage are converted into a new
        document, so they are not."""
        if [self.stage] != self.paths:
            self.stage.mkdir()
            for path, data in self.files:
                _write(path, data)
            return
        ((path, data),) = self.files
        write_durably(path, data)
        _synced.add(os.fspath(path))


#: Staged files :meth:`Deferred.write` fsynced (#19), until :func:`make_durable` takes one
#: or :func:`discard_stage` removes it (so the set holds only submissions under way).
_synced: set[str] = set()


def make_durable(path: Path) -> None:
    """Make a staged file's content durable before it becomes a document (blocking): an
    fsync, unless :meth:`Deferred.write` made it already."""
    try:
        _synced.remove(os.fspath(path))
    except KeyError:
        fsync_file(path)


async def read_uploads(ctx: ServiceContext, uploads: Sequence[Upload]) -> Deferred:
    """The uploads read, for a stage of their own (a new name in the spool's ``tmp``, as
    :meth:`~lanfax.service.spool.Spool.new_stage` names one) written later: one upload is
    that name itself (a plain file), several are files in that directory. An empty upload
    is InvalidInput naming its label, as in :func:`stage_uploads`."""
    stage = ctx.spool.tmp / token_hex(8)
    files = []
    for i, (label, read) in enumerate(uploads):
        data = await read()
        if not data:
            raise InvalidInput(f"{label} is empty", hint="send the document's content")
        files.append((stage / f"{i:03d}", data))
    if len(files) == 1:
        files = [(stage, files[0][1])]
    return Deferred(stage, files)


def discard_stage(stage: Path) -> None:
    """Remove a submission's stage (blocking): a directory and whatever is left in it, or
    one plain file (:class:`Deferred`); nothing if it is gone (moved into the spool)."""
    _synced.discard(os.fspath(stage))
    try:
        os.rmdir(stage)  # emptied by the move: cheaper than rmtree (#19)
    except FileNotFoundError:
        pass
    except NotADirectoryError:
        stage.unlink(missing_ok=True)
    except OSError:
        shutil.rmtree(stage, True)


async def new_stage(ctx: ServiceContext) -> Path:
    """A fresh private directory in the spool for one submission's uploads."""
    return await ctx.run(ctx.spool.new_stage)


async def discard(ctx: ServiceContext, stage: Path) -> None:
    """Remove a stage and whatever is in it (nothing if it is gone already)."""
    await ctx.run(discard_stage, stage)


async def stage_uploads(
    ctx: ServiceContext,
    uploads: Sequence[Upload],
    *,
    into: Path | None = None,
    durable: bool = True,
) -> tuple[Path, list[Path]]:
    """Write ``uploads`` in order (each fsynced unless ``durable`` is False: see the module's
    docstring) into a new stage (or into ``into``); returns the stage and the files. An empty
    upload is InvalidInput naming its label. On any error a new stage is removed again
    (``into`` stays: it is the caller's to remove)."""
    stage = into
    staged: list[Path] = []
    write = write_durably if durable else _write
    try:
        for i, (label, read) in enumerate(uploads):
            data = await read()
            if not data:
                raise InvalidInput(f"{label} is empty", hint="send the document's content")
            if stage is None:  # the stage is made in the first file's trip to the pool (#19)
                stage, path = await ctx.run(_stage_first, ctx.spool.new_stage, data, write)
            else:
                path = stage / f"{i:03d}"
                await ctx.run(write, path, data)
            staged.append(path)
        if stage is None:  # nothing to stage: still a stage, as the caller expects one
            stage = await new_stage(ctx)
    except BaseException:
        if into is None and stage is not None:
            await discard(ctx, stage)
        raise
    return stage, staged


def _stage_first(
    make_stage: Callable[[], Path],
    data: bytes,
    write: Callable[[Path, bytes], None] = write_durably,
) -> tuple[Path, Path]:
    """A new stage and its first file (``000``), written by ``write`` (durably by default)."""
    stage = make_stage()
    path = stage / "000"
    try:
        write(path, data)
    except BaseException:
        shutil.rmtree(stage, True)
        raise
    return stage, path


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file, not fsynced (``durable=False``)."""
    write_new(path, data)
