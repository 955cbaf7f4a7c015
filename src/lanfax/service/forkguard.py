"""Processes of the conversion pool die with the service (imported for its effect).

multiprocessing's fork server and the workers it forks outlive a service that was killed
(SIGKILL, the OOM killer, a crash): each holds the other's pipes open, so neither sees the
other go, and every such death used to leave a fork server and its workers (and, under them,
a LibreOffice) running for ever. Linux's PR_SET_PDEATHSIG asks the kernel to kill a process
when its parent ends. The fork server imports this module as a preload
(``lanfax.service.submit.start_forkserver_quietly``, which starts it from the service's main
thread: the signal follows the *thread* that forked, so no other thread may start it), and each
worker calls :func:`die_with_parent` in its initializer (its parent is the single-threaded fork
server). Elsewhere than Linux this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> bool:
    """Be killed (SIGKILL) when the parent process ends; end now if it already has.
    Returns whether the kernel took the request."""
    if not sys.platform.startswith("linux"):
        return False
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        ok = bool(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:  # the parent ended before the request was made
        os._exit(0)
    return ok


if os.environ.get("LANFAX_FORKSERVER_GUARD") == "1":
    # Only in the fork server (the variable is set just for its start); an import elsewhere
    # (tests, documentation tools) has no effect.
    die_with_parent()
