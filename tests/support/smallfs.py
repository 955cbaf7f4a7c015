"""A small real filesystem a test can fill: a tmpfs with a size limit, mounted by the test.

Mounting needs root (CAP_SYS_ADMIN); without it the tests that need one are skipped, never
faked. :meth:`SmallFs.fill` writes a filler file until the filesystem is full (ENOSPC) and
:meth:`SmallFs.empty` removes it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


class SmallFs:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.filler = root / ".filler"

    def fill(self, leave: int = 0) -> int:
        """Fill the filesystem (to ``leave`` bytes free, roughly); returns bytes written."""
        written = 0
        chunk = b"\0" * 65536
        with open(self.filler, "ab") as f:
            while True:
                free = self.free()
                if free <= leave:
                    break
                try:
                    f.write(chunk[: max(min(len(chunk), free - leave), 1)])
                    f.flush()
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
                written += len(chunk)
        return written

    def empty(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.filler.unlink()

    def free(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize


@contextlib.contextmanager
def small_fs(directory: Path, size: str = "8m") -> Iterator[SmallFs]:
    """Mount a tmpfs of ``size`` on ``directory`` (created) for the duration."""
    directory.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (root needed): {done.stderr.strip()}")
    try:
        yield SmallFs(directory)
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False, capture_output=True)
