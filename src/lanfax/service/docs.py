"""The documents room's public functions, as the service calls them (with the service's
defaults: MR compression, no header drawn by the converter), and how the service's process
pool of conversions uses the machine (:func:`pool_limits`)."""

from __future__ import annotations

import dataclasses
import resource
import signal
from collections.abc import Sequence
from pathlib import Path

from lanfax import documents
from lanfax.documents.types import ConversionLimits, ConversionResult


def pool_limits(limits: ConversionLimits, workers: int) -> ConversionLimits:
    """``limits`` for conversions run by a pool of ``workers`` processes.

    One conversion overlaps rendering and encoding on two threads (``ConversionLimits.threads``
    = 2), which nearly doubles its speed when it has the machine to itself. A pool of more than
    one worker already keeps about one conversion per core busy, and a second thread in each
    would only compete with the other workers for the cores, so there each conversion runs on
    one thread. A pool of one keeps the overlap.
    """
    if workers > 1 and limits.threads != 1:
        return dataclasses.replace(limits, threads=1)
    return limits


def _ignore(signum: int, frame: object) -> None:
    """SIGTERM in a conversion worker: the service stops its workers itself."""


def quiet_signals() -> None:
    """A conversion worker's signals (issue #20). Ctrl-C (SIGINT) and systemd's stop (SIGTERM
    to the whole group) reach every process of the group; the service ends its workers itself
    (the pool's shutdown), and a worker killed by either would break the pool under a request
    still being answered. The worker is born ignoring both (see
    ``lanfax.service.submit.start_forkserver_quietly``); here SIGINT stays ignored (so it is
    for the programs it runs: Ctrl-C does not cut a Ghostscript run short) and SIGTERM gets a
    handler that does nothing, because a handler, unlike SIG_IGN or a blocked mask, is not
    passed on to Ghostscript or LibreOffice, which must stay stoppable. SIGKILL still ends a
    worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _ignore)


def worker_init(memory_bytes: int) -> None:
    """Initializer of each conversion worker process (issue #14).

    Its address space is limited to ``memory_bytes`` (RLIMIT_AS), a limit its children
    (Ghostscript, LibreOffice) inherit: a hostile document fails that conversion with a
    MemoryError or a converter's error, instead of drawing the kernel's OOM killer onto the
    machine. Ctrl-C in the service's terminal is the service's to handle (a clean stop), not
    the workers': they ignore SIGINT and SIGTERM (:func:`quiet_signals`) and are stopped by
    the pool's shutdown.
    """
    quiet_signals()
    # A worker dies with its fork server, which dies with the service: a killed service
    # leaves no worker (nor a LibreOffice under it) behind.
    from lanfax.service.forkguard import die_with_parent

    die_with_parent()
    if memory_bytes > 0:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def convert(
    inputs: Sequence[Path],
    out: Path,
    *,
    resolution: str = "fine",
    limits: ConversionLimits | None = None,
) -> ConversionResult:
    return documents.convert(
        [Path(p) for p in inputs],
        Path(out),
        resolution=resolution,
        compression="mr",
        limits=limits or ConversionLimits(),
    )


def is_fax_ready(path: Path) -> ConversionResult | None:
    return documents.is_fax_ready(Path(path))


def first_page(path: Path) -> tuple[bytes, int, int]:
    return documents.first_page(Path(path))
