"""The spool: where documents to send, received faxes and staged uploads live on disk.

Layout under the data directory::

    spool/docs/<broadcast>.tif      the converted document of a broadcast (shared by its jobs)
    spool/docs/<broadcast>-<i>.tif  recipient i's own document when there is a cover page
    spool/received/<job>.tif        a received fax
    spool/tmp/                      uploads being staged; anything left here at start is junk
    spool/tmp-<node>/               the same for a node not named "main" (#18: on a shared
                                    spool each node stages, and cleans at start, its own)
    inbox/                          the default inbound route's folder

Durability: a file is fsync'ed, renamed into place and its directory fsync'ed before the
store commits the job that points to it, so a committed job never refers to a missing file.
An intake worker's documents (#19 wave 8) are the one exception to the order, not to the
rule: written without an fsync, renamed, then made durable a group at a time by one
``syncfs`` of the spool's filesystem (:meth:`Spool.sync_documents`) before the commit.
Paths stored in jobs are relative to ``spool/``.
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
import shutil
import threading
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

from lanfax.model.errors import NotFound

#: #19: random bytes for names, drawn from the kernel 4 KB at a time (os.urandom lets go of
#: the GIL, and the event loop thread then waits to get it back: twice per submission).
_POOL_SIZE = 4096
_pool = b""
_pool_lock = threading.Lock()


def _forget_pool() -> None:  # a forked child must not hand out its parent's next names
    global _pool
    _pool = b""


os.register_at_fork(after_in_child=_forget_pool)


def token_hex(nbytes: int = 8) -> str:
    """As :func:`secrets.token_hex` (the same kernel randomness), one ``os.urandom`` call
    per few hundred names instead of one per name."""
    global _pool
    with _pool_lock:
        if len(_pool) < nbytes:
            _pool = os.urandom(max(_POOL_SIZE, nbytes))
        taken, _pool = _pool[:nbytes], _pool[nbytes:]
    return taken.hex()


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _libc_syncfs() -> Callable[[int], int] | None:
    """libc's ``syncfs(2)`` (Linux; Python has no ``os.syncfs``), or None where there is none."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


#: #19 wave 8: one call that makes a whole group of submissions' documents durable.
_syncfs = _libc_syncfs()


def syncfs(path: Path, fd: int | None = None) -> None:
    """Write out everything of the filesystem holding ``path`` (its files' data, their
    names, its directories) and wait for the disk (``syncfs(2)``: the GIL is released while
    it waits). Raises OSError when it fails, writeback errors included (Linux 5.8 and
    later report them here), and ``ENOSYS`` where there is no ``syncfs``.

    ``fd``: a descriptor of ``path`` the caller keeps open (else one is opened for the call).
    The kernel reports a writeback error to a descriptor opened before the error happened
    (once per descriptor), so a caller that must not miss an error the kernel met while
    writing its files in the background passes one it opened before writing them."""
    if _syncfs is None:
        raise OSError(errno.ENOSYS, "syncfs is not available on this system")
    own = os.open(path, os.O_RDONLY | os.O_DIRECTORY) if fd is None else fd
    try:
        if _syncfs(own) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"syncfs of {path}: {os.strerror(code)}")
    finally:
        if fd is None:
            os.close(own)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new(path: Path, data: bytes, *, sync: bool = False, exclusive: bool = False) -> None:
    """Write ``data`` to a new file, mode 0640 (a spooled document is never readable by
    others); fsync it with ``sync`` (the directory is the caller's business); with
    ``exclusive`` a file already there is an error (``O_EXCL``) instead of truncated."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o640)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file and fsync it (the directory is the caller's business)."""
    write_new(path, data, sync=True)


def copy_atomically(src: Path, dest_dir: Path, name: str) -> Path:
    """Copy ``src`` into ``dest_dir/name`` so that a reader never sees a partial file:
    copy to a hidden temporary name, fsync, rename, fsync the directory."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    tmp = dest_dir / f".{name}.{secrets.token_hex(4)}.part"
    try:
        shutil.copyfile(src, tmp)
        fsync_file(tmp)
    except BaseException:
        # A full disk (issue #14): the partial copy would keep the space it took.
        tmp.unlink(missing_ok=True)
        raise
    final = dest_dir / name
    os.replace(tmp, final)
    fsync_dir(dest_dir)
    return final


class Spool:
    """Paths and durable file moves under ``<data>/spool``."""

    def __init__(self, data_dir: Path, node: str = "main") -> None:
        self.data_dir = data_dir
        self.root = data_dir / "spool"
        self.docs = self.root / "docs"
        self.received = self.root / "received"
        self.tmp = self.root / ("tmp" if node == "main" else f"tmp-{node}")
        self.inbox = data_dir / "inbox"
        #: spool/docs, open from create() on for sync_documents (see there).
        self._docs_fd: int | None = None

    def create(self) -> None:
        for d in (self.docs, self.received, self.tmp, self.inbox):
            d.mkdir(parents=True, exist_ok=True)
        fsync_dir(self.root)
        if self._docs_fd is None:
            fd = os.open(self.docs, os.O_RDONLY | os.O_DIRECTORY)
            self._docs_fd = fd
            weakref.finalize(self, os.close, fd)

    def clean_tmp(self) -> int:
        """Remove orphan staged uploads (a submission that never committed); returns how many."""
        removed = 0
        for entry in self.tmp.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
        return removed

    def new_stage(self) -> Path:
        """A fresh private directory for one submission's uploads."""
        d = self.tmp / token_hex(8)
        d.mkdir()
        return d

    def doc_path(self, broadcast_id: str) -> Path:
        return self.docs / f"{broadcast_id}.tif"

    def job_doc_path(self, broadcast_id: str, index: int) -> Path:
        """A job's own document (its cover page in front of the broadcast's body)."""
        return self.docs / f"{broadcast_id}-{index}.tif"

    def received_path(self, job_id: int) -> Path:
        return self.received / f"{job_id}.tif"

    def relative(self, path: Path) -> str:
        """``path`` relative to ``spool/`` (ValueError when it is not under it)."""
        text, root = os.fspath(path), os.fspath(self.root) + os.sep
        if text.startswith(root):  # #19: the common case without pathlib's parsing
            return text[len(root) :]
        return str(path.relative_to(self.root))

    def resolve(self, relative: str) -> Path:
        """The file a job's ``document_path`` refers to; NotFound when it is gone."""
        path = (self.root / relative).resolve()
        if self.root.resolve() not in path.parents:
            raise NotFound(f"document {relative!r} is outside the spool", hint="report this bug")
        if not path.is_file():
            raise NotFound(
                f"the document {relative!r} is not in the spool",
                hint="the job's file was removed; resubmit the document",
            )
        return path

    def commit_file(self, staged: Path, final: Path) -> None:
        """Move a fully written, fsync'ed file into place and make the rename durable."""
        os.replace(staged, final)
        fsync_dir(final.parent)

    def sync_docs(self) -> None:
        """Make the renames into ``spool/docs`` durable (#19: a group commit calls it once
        for every submission it holds, each having moved its document in with
        ``os.replace`` after an fsync of the file)."""
        fsync_dir(self.docs)

    def sync_documents(self, renamed: Sequence[Path]) -> None:
        """Make documents written without an fsync, then renamed into ``spool/docs``,
        durable together (#19 wave 8: an intake worker's staged file is not fsynced; the
        committer's trip calls this once for its whole group, before the commit): one
        ``syncfs`` of the spool's filesystem (the files' data, the renames). Where there is
        no ``syncfs`` (``ENOSYS``), each file is fsynced and then ``spool/docs``, as before.
        Any other failure (a writeback error: a document may not be on disk) raises, and
        the group is not committed.

        The ``syncfs`` goes through a descriptor of ``spool/docs`` opened once, by
        :meth:`create`, before any document is written: the kernel reports a writeback
        error only to descriptors opened before it happened, and the kernel may write a
        document in the background (and fail) between its write and this sync; a descriptor
        opened here would not hear of it."""
        if _syncfs is not None:
            syncfs(self.docs, self._docs_fd)  # None: not created by this object (a tool)
            return
        for path in renamed:
            fsync_file(path)
        fsync_dir(self.docs)

    def is_temporary(self, path: Path) -> bool:
        """True for a file made for one use in ``spool/tmp`` (a joined document)."""
        return path.parent == self.tmp

    def remove(self, relative: str) -> None:
        if not relative:
            return
        path = self.root / relative
        path.unlink(missing_ok=True)
