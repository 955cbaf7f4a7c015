"""Office documents to PDF through one long-lived LibreOffice per process.

Starting LibreOffice costs a second or more of CPU per document; a running one converts a
short letter in a tenth of that. So each process that converts (a worker of the service's
conversion pool, or one ``lanfax convert``) keeps one LibreOffice, started on its first office
document, and a pool of N workers therefore has at most N of them: the "small pool" is the
conversion pool itself, with no second scheduler to size or to keep apart from it.

How it is driven, and why this way:

- ``soffice.bin`` is started directly (not the ``soffice`` shell script and its splash
  launcher, which would put two more processes between us and the one to limit and kill), with
  a private profile (set up once by a ``--terminate_after_init`` run: a fresh profile makes
  LibreOffice exit with 81, "restart me") and ``--accept`` on a private pipe.
- UNO is spoken by :mod:`lanfax.documents.office_bridge`, run by the system Python that has
  Debian's ``python3-uno`` (our virtual environment cannot import ``uno``); it and we exchange
  one JSON line per document. unoserver works the same way but would be one more package in the
  system Python, for two calls.
- **Time limit**: the caller's deadline covers start-up and conversion; past it LibreOffice
  (its whole process group) is killed, and the next document starts a fresh one.
- **Memory limit**: ``RLIMIT_AS`` on ``soffice.bin``, ``ConversionLimits.office_memory``
  (2 GiB by default; LibreOffice maps about 650 MiB just to start).
- **Recovery**: when LibreOffice dies (crash, out of memory, killed by an operator), the
  document in hand is retried once on a fresh one; a document that kills it twice is refused
  with a clear error. It is also restarted after :data:`RECYCLE_AFTER` documents, so a slow
  leak cannot grow forever.
- Both children get ``PR_SET_PDEATHSIG``: if the worker is killed, they die with it, and they
  ignore nothing else of ours (SIGINT at the terminal goes to the worker's group, not theirs).

Where ``python3-uno`` is missing, :func:`lanfax.documents.external.office_to_pdf` falls back to
one ``soffice --convert-to pdf`` per document (slower, same result).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

from lanfax.model.errors import DocumentError

#: Documents converted by one LibreOffice before it is replaced by a fresh one.
RECYCLE_AFTER = 200
#: A LibreOffice unused for this long is stopped (a worker keeps no memory for nothing).
IDLE_SECONDS = 300.0
#: Default address-space limit of LibreOffice, bytes.
DEFAULT_MEMORY = 2 * 2**30
_BRIDGE = Path(__file__).with_name("office_bridge.py")
_RESTART = 81  # soffice.bin's exit status after it created a new profile


_PROFILE_PREFIX = "lanfax-office-"


def _remove_stale_profiles() -> None:
    """Remove the profiles of processes that are gone (killed before they could clean up),
    recognised by the process id in the directory's name."""
    root = Path(tempfile.gettempdir())
    for path in root.glob(f"{_PROFILE_PREFIX}*-*"):
        pid_text = path.name[len(_PROFILE_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            pass  # another user's process, alive


class _Dead(Exception):
    """LibreOffice or the bridge is gone."""


class _StartTimeout(Exception):
    """LibreOffice was not ready before the deadline."""


_OPTIONS = ("--headless", "--invisible", "--nologo", "--norestore", "--nodefault", "--nolockcheck")


@lru_cache(maxsize=1)
def soffice_bin() -> str | None:
    """The ``soffice.bin`` of the installed LibreOffice, or None."""
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            real = Path(os.path.realpath(found))
            binary = real.with_name("soffice.bin")
            if binary.is_file():
                return str(binary)
    return None


@lru_cache(maxsize=1)
def uno_python() -> str | None:
    """A Python interpreter that can ``import uno`` ($LANFAX_UNO_PYTHON, else the system's)."""
    for candidate in (os.environ.get("LANFAX_UNO_PYTHON"), "/usr/bin/python3", "python3"):
        if not candidate:
            continue
        exe = shutil.which(candidate)
        if exe is None:
            continue
        try:
            ok = subprocess.run(
                [exe, "-I", "-c", "import uno"], capture_output=True, timeout=30
            ).returncode
        except (OSError, subprocess.TimeoutExpired):
            continue
        if ok == 0:
            return exe
    return None


def available() -> bool:
    """Whether a long-lived LibreOffice can be driven here (LibreOffice and python3-uno)."""
    return soffice_bin() is not None and uno_python() is not None


def _child_setup(memory: int | None) -> Any:
    # PR_SET_PDEATHSIG fires when the *thread* that started the child ends, so it is only
    # asked for from the main thread (a pool worker's, the CLI's): a LibreOffice started from
    # a passing thread would die with that thread. atexit and the idle timer cover the rest.
    deathsig = threading.current_thread() is threading.main_thread()

    def setup() -> None:
        if deathsig:
            with contextlib.suppress(Exception):
                libc = ctypes.CDLL(None, use_errno=True)
                libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the worker
        if memory is not None:
            import resource

            # Never above what this process may have (a worker may be limited itself).
            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            limit = memory if hard == resource.RLIM_INFINITY else min(memory, hard)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return setup


class Office:
    """One LibreOffice and its UNO bridge, started on first use; thread-safe (one document at
    a time). :meth:`convert` is the only entry point; :meth:`close` stops both processes."""

    def __init__(self, memory: int = DEFAULT_MEMORY, idle: float = IDLE_SECONDS) -> None:
        self.memory = memory
        self.idle = idle
        self._timer: threading.Timer | None = None
        self._last_used = 0.0
        self.starts = 0  # how many times LibreOffice was started (for tests and logs)
        self._lock = threading.Lock()
        self._soffice: subprocess.Popen[bytes] | None = None
        self._bridge: subprocess.Popen[bytes] | None = None
        self._profile: Path | None = None
        self._cmd: list[str] = []
        self._buf = b""
        self._done = 0

    @property
    def pid(self) -> int | None:
        """Process id of the running ``soffice.bin``, if any."""
        proc = self._soffice
        return proc.pid if proc is not None and proc.poll() is None else None

    # -- lifecycle ------------------------------------------------------------------------
    def _start(self, end: float) -> None:
        binary, python = soffice_bin(), uno_python()
        if binary is None or python is None:
            raise DocumentError(
                "converting office documents needs LibreOffice and python3-uno",
                hint="install the Debian packages libreoffice-writer-nogui and python3-uno",
            )
        profile = self._make_profile(binary, end)
        pipe = f"lanfax-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._cmd = [
            binary,
            f"-env:UserInstallation={profile.as_uri()}",
            *_OPTIONS,
            f"--accept=pipe,name={pipe};urp;StarOffice.ComponentContext",
        ]
        self._spawn_soffice()
        self.starts += 1
        self._buf = b""
        self._done = 0
        try:
            self._bridge = subprocess.Popen(
                [python, "-I", str(_BRIDGE), pipe, str(max(1.0, end - time.monotonic()))],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                preexec_fn=_child_setup(None),  # only prctl: async-signal-safe
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise _Dead(f"the UNO bridge cannot be started: {exc}") from None
        hello = self._read(end)
        if hello is None:
            raise _StartTimeout
        if not hello.get("ready"):
            raise _Dead(str(hello.get("error", "LibreOffice did not start")))

    def _make_profile(self, binary: str, end: float) -> Path:
        """This Office's LibreOffice profile, made once and kept across restarts.

        A fresh profile makes ``soffice.bin`` exit with 81 ("restart me") once it has set the
        profile up, possibly after a bridge already connected to it; so the profile is set up
        by a run of its own (``--terminate_after_init``) before the one that serves."""
        if self._profile is not None:
            return self._profile
        _remove_stale_profiles()
        profile = Path(tempfile.mkdtemp(prefix=f"{_PROFILE_PREFIX}{os.getpid()}-"))
        cmd = [binary, f"-env:UserInstallation={profile.as_uri()}", *_OPTIONS]
        for _ in range(3):
            left = end - time.monotonic()
            if left <= 0:
                shutil.rmtree(profile, ignore_errors=True)
                raise _StartTimeout
            try:
                status = subprocess.run(
                    [*cmd, "--terminate_after_init"],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env={**os.environ, "SAL_USE_VCLPLUGIN": "svp"},
                    timeout=left,
                    start_new_session=True,
                    preexec_fn=_child_setup(self.memory),
                ).returncode
            except subprocess.TimeoutExpired:
                shutil.rmtree(profile, ignore_errors=True)
                raise _StartTimeout from None
            except (OSError, subprocess.SubprocessError) as exc:
                shutil.rmtree(profile, ignore_errors=True)
                raise _Dead(f"LibreOffice cannot be started: {exc}") from None
            if status != _RESTART:
                break
        self._profile = profile
        return profile

    def _spawn_soffice(self) -> None:
        env = {**os.environ, "SAL_USE_VCLPLUGIN": "svp"}
        try:
            self._soffice = self._popen_soffice(env)
        except (OSError, subprocess.SubprocessError) as exc:
            raise _Dead(f"LibreOffice cannot be started: {exc}") from None

    def _popen_soffice(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self._cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its own group: killed whole, deaf to our terminal's ^C
            preexec_fn=_child_setup(self.memory),
        )

    def close(self) -> None:
        """Stop LibreOffice and the bridge and remove the profile."""
        timer, self._timer = self._timer, None
        if timer is not None and timer is not threading.current_thread():
            timer.cancel()
        self._stop()
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    def _stop(self) -> None:
        """Kill LibreOffice and the bridge (nothing of theirs is worth waiting for)."""
        for proc in (self._bridge, self._soffice):
            if proc is None:
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if proc is self._soffice:
                    os.killpg(proc.pid, signal.SIGKILL)
                else:
                    proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        self._bridge = self._soffice = None

    # -- talking to the bridge ------------------------------------------------------------
    def _read(self, end: float) -> dict[str, Any] | None:
        """The bridge's next reply, or None when ``end`` passes first."""
        bridge = self._bridge
        assert bridge is not None and bridge.stdout is not None
        fd = bridge.stdout.fileno()
        while True:
            line = self._next_line(end, fd)
            if line is None:
                return None
            try:
                reply = json.loads(line)
            except ValueError:
                continue  # not ours (a library printing to stdout): only JSON lines count
            if isinstance(reply, dict):
                return reply

    def _next_line(self, end: float, fd: int) -> bytes | None:
        while b"\n" not in self._buf:
            soffice = self._soffice
            status = soffice.poll() if soffice is not None else None
            if status is not None:
                raise _Dead(f"LibreOffice exited (status {status})")
            left = end - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], min(left, 0.2))
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise _Dead("the UNO bridge exited")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def _request(self, src: Path, out: Path, end: float) -> dict[str, Any] | None:
        bridge = self._bridge
        assert bridge is not None and bridge.stdin is not None
        try:
            bridge.stdin.write(json.dumps({"in": str(src), "out": str(out)}).encode() + b"\n")
            bridge.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise _Dead("the UNO bridge exited") from exc
        return self._read(end)

    # -- the entry point --------------------------------------------------------------------
    def convert(self, src: Path, out: Path, *, timeout: float, label: str) -> None:
        """Write ``src`` (any document LibreOffice opens) as the PDF ``out`` within
        ``timeout`` seconds (start-up included). DocumentError for a document LibreOffice
        cannot open, for the time limit, and for a document that kills LibreOffice twice."""
        end = time.monotonic() + timeout
        src, out = Path(os.path.abspath(src)), Path(os.path.abspath(out))  # URLs need them whole
        with self._lock:
            try:
                self._convert(src, out, end, timeout, label)
            finally:
                self._last_used = time.monotonic()
                self._arm_idle_timer()

    def _arm_idle_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.pid is None:
            return
        self._timer = threading.Timer(self.idle, self._close_if_idle)
        self._timer.daemon = True
        self._timer.start()

    def _close_if_idle(self) -> None:
        if not self._lock.acquire(blocking=False):
            return  # converting: the conversion re-arms the timer when it ends
        try:
            if time.monotonic() - self._last_used >= self.idle * 0.99:
                self._stop()  # the profile stays: starting again later is quicker
        finally:
            self._lock.release()

    def _convert(self, src: Path, out: Path, end: float, timeout: float, label: str) -> None:
        """One document, retried once on a fresh LibreOffice when it dies."""
        for attempt in (1, 2):
            try:
                if self.pid is None or self._done >= RECYCLE_AFTER:
                    self._stop()
                    self._start(end)
                reply = self._request(src, out, end)
            except _StartTimeout:
                self._stop()
                raise DocumentError(
                    f"{label}: LibreOffice did not start within the time limit ({timeout:.0f} s)",
                    hint="the server is very busy; send the document again, or as PDF",
                ) from None
            except _Dead as exc:
                self._stop()
                if attempt == 2 or time.monotonic() >= end:
                    raise DocumentError(
                        f"{label}: LibreOffice stopped while converting it ({exc})",
                        hint="the document may need more memory than the limit of "
                        f"{self.memory / 2**20:.0f} MiB, or be damaged; export it to "
                        "PDF and send that",
                    ) from None
                continue
            if reply is None:
                self._stop()  # a stuck LibreOffice is of no further use
                raise DocumentError(
                    f"{label}: LibreOffice took longer than the time limit ({timeout:.0f} s)",
                    hint="export the document to PDF yourself and send that",
                )
            self._done += 1
            if reply.get("ok") and out.is_file() and out.stat().st_size > 0:
                return
            if reply.get("dead") or self.pid is None:  # it died under the document
                self._stop()
                if attempt == 1 and time.monotonic() < end:
                    continue
            raise DocumentError(
                f"{label}: LibreOffice could not convert the document "
                f"({reply.get('error', 'no PDF written')})",
                hint="the file is damaged or not an office document; export it to PDF "
                "and send that",
            )


_office: Office | None = None
_office_pid = 0
_office_lock = threading.Lock()


def office(memory: int = DEFAULT_MEMORY) -> Office:
    """This process's LibreOffice (made on first use; a forked child gets its own)."""
    global _office, _office_pid
    with _office_lock:
        if _office is None or _office_pid != os.getpid():
            _office, _office_pid = Office(memory), os.getpid()
            atexit.register(_office.close)
        _office.memory = memory
        return _office
