"""A private CUPS scheduler for tests: ``cupsd`` on its own socket and configuration
directory (never the machine's), with the system's filters and the backends a test names.

Used by ``tests/routing/test_print.py`` (a capture backend) and ``tests/ipp/test_cups.py``
(CUPS's own ``ipp`` backend, printing to lanfax's FaxOut printer).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CUPSD = shutil.which("cupsd") or "/usr/sbin/cupsd"
SYSTEM_BACKENDS = Path("/usr/lib/cups/backend")


def have_cups() -> bool:
    return bool(os.path.exists(CUPSD) and shutil.which("lp") and shutil.which("lpadmin"))


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)  # poll interval: cupsd offers no event to wait on
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Cupsd:
    root: Path
    socket: str

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "CUPS_SERVER": self.socket}

    def run(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args), env=self.env, capture_output=True, text=True, check=check, timeout=timeout
        )

    def error_log(self) -> str:
        try:
            return (self.root / "logs" / "error_log").read_text(errors="replace")
        except OSError:
            return ""


@contextmanager
def private_cupsd(
    *,
    scripts: Mapping[str, str] | None = None,
    system_backends: tuple[str, ...] = (),
    log_level: str = "warn",
) -> Iterator[Cupsd]:
    """A running cupsd; ``scripts`` are backends written for the test (name -> script),
    ``system_backends`` are CUPS's own (e.g. ``"ipp"``) made available to it. Needs root
    (the caller skips otherwise)."""
    root = Path(tempfile.mkdtemp(prefix="lfcups-"))  # short: a socket path is limited
    try:
        for d in ("spool", "cache", "state", "logs", "out", "sb/backend", "ppd"):
            (root / d).mkdir(parents=True)
        for entry in Path("/usr/lib/cups").iterdir():
            if entry.name != "backend":
                (root / "sb" / entry.name).symlink_to(entry)
        for name, text in (scripts or {}).items():
            backend = root / "sb" / "backend" / name
            backend.write_text(text)
            backend.chmod(0o700)  # 0700: CUPS runs it as root, so it may write in our folder
        for name in system_backends:
            (root / "sb" / "backend" / name).symlink_to(SYSTEM_BACKENDS / name)
        sock = str(root / "cups.sock")
        (root / "cupsd.conf").write_text(
            f"Listen {sock}\nLogLevel {log_level}\nWebInterface No\nBrowsing No\n"
            "<Location />\n  Order allow,deny\n  Allow all\n</Location>\n"
        )
        (root / "cups-files.conf").write_text(
            f"ServerRoot {root}\nServerBin {root}/sb\nRequestRoot {root}/spool\n"
            f"CacheDir {root}/cache\nStateDir {root}/state\nTempDir {root}/spool\n"
            f"AccessLog {root}/logs/access_log\nErrorLog {root}/logs/error_log\n"
            f"PageLog {root}/logs/page_log\n"
        )
        proc = subprocess.Popen(
            [CUPSD, "-f", "-c", str(root / "cupsd.conf"), "-s", str(root / "cups-files.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        cups = Cupsd(root, sock)
        try:

            def running() -> bool:
                r = cups.run("lpstat", "-r", check=False)
                return r.returncode == 0 and "is running" in r.stdout

            wait_for(running, "cupsd to start")
            yield cups
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    finally:
        shutil.rmtree(root, ignore_errors=True)
