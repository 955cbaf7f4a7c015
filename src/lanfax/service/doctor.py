"""``lanfax doctor``: is this machine ready to run the fax service?

Each check is a function that looks at one thing the server needs and returns a
:class:`Check`: ``ok``, ``fail`` (with what to do about it) or ``skip`` (not wanted here).
What a check looks at can be given to it (a library name, a command, a directory), so that a
test can point it at a missing tool or an unwritable directory. :func:`run_checks` runs them
all for a set of ``lanfax serve`` options, in the order a reader fixes them: the settings, the
libraries and tools, the data directory, the API port, the devices.

Nothing here starts the service; the device check initialises each configured provider and
shuts it down again (that is how a provider says whether its configuration and its sockets
work).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import importlib.util
import os
import shutil
import socket
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lanfax.model.errors import FaxError

if TYPE_CHECKING:
    from lanfax.service.settings import ServiceSettings

Status = Literal["ok", "fail", "skip"]

#: Free space below which the data directory check fails (received faxes, spool, archive).
MIN_FREE_MB = 200

#: Python packages of the ``server`` extra, by import name.
SERVER_MODULES = (
    "fastapi",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "pydantic",
    "multipart",
    "cffi",
    "numpy",
    "PIL",
    "pypdfium2",
    "websockets",
)

_APT = "apt-get install"


@dataclass(frozen=True, slots=True)
class Check:
    """One check's outcome: ``detail`` says what was found, ``fix`` what to do on failure."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    def line(self) -> str:
        """``ok    name: detail`` / ``FAIL  name: detail; fix: ...`` (one line)."""
        mark = {"ok": "ok  ", "fail": "FAIL", "skip": "skip"}[self.status]
        text = f"{mark}  {self.name}: {self.detail}"
        return f"{text}; fix: {self.fix}" if self.status == "fail" and self.fix else text


def _fail(name: str, detail: str, fix: str) -> Check:
    return Check(name, "fail", detail, fix)


# -- libraries and tools --------------------------------------------------------------------


def check_server_packages(modules: Sequence[str] = SERVER_MODULES) -> Check:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        return _fail(
            "python packages",
            f"missing {', '.join(missing)}",
            "pip install 'lanfax[server]' (./serve does it in .venv)",
        )
    return Check("python packages", "ok", f"{len(modules)} server packages importable")


def check_spandsp(library: str | None = None) -> Check:
    """The fax engine: spandsp loads and is the 0.0.6 ABI the binding declares."""
    from lanfax.engine import _binding

    try:
        lib = _binding.open_library(library or _binding.LIBRARY_NAME)
    except FaxError as exc:
        return _fail("spandsp", exc.message, exc.hint or f"{_APT} libspandsp2")
    release = f", release {lib.release}" if lib.release else ""
    # The library the engine itself uses: which binding it takes (#19).
    engine = "" if library else f"; engine: {check_engine_helper().detail}"
    return Check("spandsp", "ok", f"{lib.path} (0.0.6 ABI{release}){engine}")


def check_engine_helper() -> Check:
    """The engine's compiled helper (#19): in use, or the slower ABI fallback and why
    (part of the spandsp line of ``lanfax doctor``).

    Never a failure: the ABI binding carries the same calls, only with more CPU per call.
    """
    from lanfax.engine import _accel

    compiled, detail = _accel.status()
    if compiled:
        return Check("engine helper", "ok", detail)
    return Check(
        "engine helper",
        "skip",
        f"{detail}; build it with: python -m lanfax.engine._accel (needs gcc, python3-dev,"
        " libspandsp-dev)",
    )


def check_libtiff(name: str | None = None) -> Check:
    """TIFF Class F input and output (documents.tiffio loads the same library)."""
    wanted = name or ctypes.util.find_library("tiff") or "libtiff.so.6"
    try:
        lib = ctypes.CDLL(wanted)
    except OSError as exc:
        return _fail("libtiff", f"cannot load {wanted}: {exc}", f"{_APT} libtiff6")
    if not hasattr(lib, "TIFFWriteEncodedStrip"):
        return _fail("libtiff", f"{wanted} is not libtiff", f"{_APT} libtiff6")
    version = ""
    try:
        get = lib.TIFFGetVersion
        get.restype = ctypes.c_char_p
        raw = get() or b""
        version = raw.decode("ascii", "replace").splitlines()[0].replace("LIBTIFF, ", "")
    except AttributeError:
        pass
    return Check("libtiff", "ok", f"{wanted}" + (f" ({version})" if version else ""))


def _tool_version(path: str, args: Sequence[str], timeout: float = 20.0) -> str:
    proc = subprocess.run(
        [path, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if proc.returncode != 0:
        raise OSError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed")
    return proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else "?"


def check_ghostscript(command: str = "gs") -> Check:
    """PostScript and EPS input (documents.external runs ``gs`` found on PATH)."""
    path = shutil.which(command)
    if path is None:
        return _fail(
            "ghostscript", f"{command!r} is not on PATH (PostScript input)", f"{_APT} ghostscript"
        )
    try:
        version = _tool_version(path, ["--version"])
    except (OSError, subprocess.TimeoutExpired) as exc:
        fix = f"{_APT} --reinstall ghostscript"
        return _fail("ghostscript", f"{path} does not run: {exc}", fix)
    return Check("ghostscript", "ok", f"{path} {version}")


def default_fonts() -> tuple[str, ...]:
    from lanfax.documents import raster

    return (raster.MONO_FONT, raster.SANS_FONT, raster.SANS_BOLD_FONT)


def check_fonts(paths: Iterable[str] | None = None) -> Check:
    """The fonts of text pages, cover pages and the branding header."""
    wanted = list(paths if paths is not None else default_fonts())
    missing = [p for p in wanted if not os.path.isfile(p)]
    if missing:
        return _fail("fonts", f"missing {', '.join(missing)}", f"{_APT} fonts-dejavu-core")
    return Check("fonts", "ok", f"{len(wanted)} DejaVu fonts in {os.path.dirname(wanted[0])}")


def check_libreoffice(
    wanted: bool, commands: Sequence[str] = ("soffice", "libreoffice"), *, run: bool = False
) -> Check:
    """Office input (Word, Excel, ...): only when it is wanted (``lanfax doctor --office``)."""
    path = next((p for c in commands if (p := shutil.which(c))), None)
    if not wanted:
        found = f"found {path}" if path else "not installed"
        return Check("libreoffice", "skip", f"{found}; office input not asked for (--office)")
    if path is None:
        return _fail(
            "libreoffice",
            f"none of {', '.join(commands)} is on PATH (office input)",
            f"{_APT} libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui",
        )
    if not run:
        return Check("libreoffice", "ok", path)
    try:
        version = _tool_version(path, ["--version"], timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _fail("libreoffice", f"{path} does not run: {exc}", f"{_APT} --reinstall {path}")
    return Check("libreoffice", "ok", f"{path} {version}")


# -- the data directory -----------------------------------------------------------------------


def _existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


def check_data_dir(path: Path) -> Check:
    """The data directory exists (or can be made) and a file can be written and synced in it."""
    name = "data directory"
    if path.exists() and not path.is_dir():
        return _fail(name, f"{path} is not a directory", "give --data a directory")
    target = path if path.is_dir() else _existing_ancestor(path.parent)
    if not target.is_dir():
        return _fail(
            name, f"{path} cannot be made: {target} is not a directory", "choose another --data"
        )
    probe = target / f".lanfax-doctor-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"lanfax")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        who = f"user {os.getuid()}"
        where = path if target == path else f"{target} (to make {path})"
        return _fail(
            name,
            f"cannot write in {where}: {exc.strerror or exc}",
            f"let {who} write there (chown/chmod), or choose another --data",
        )
    made = "" if target == path else " (will be made)"
    return Check(name, "ok", f"{path} writable{made}")


def check_free_space(path: Path, min_free_mb: int = MIN_FREE_MB) -> Check:
    target = _existing_ancestor(path)
    try:
        usage = shutil.disk_usage(target)
    except OSError as exc:
        return _fail("free space", f"cannot tell for {target}: {exc}", "check the file system")
    free_mb = usage.free // (1024 * 1024)
    if free_mb < min_free_mb:
        return _fail(
            "free space",
            f"{free_mb} MB free for {path} (at least {min_free_mb} MB wanted)",
            "free some space, or choose a --data on a larger file system",
        )
    return Check("free space", "ok", f"{free_mb} MB free for {path}")


# -- the API port -------------------------------------------------------------------------------


def check_port(host: str, port: int) -> Check:
    name = "API port"
    if port == 0:
        return Check(name, "ok", f"{host}: any free port (port 0)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        other = port + 1 if port < 65535 else 8471
        if exc.errno == errno.EADDRINUSE:
            detail = f"{host}:{port} is in use (another lanfax serve, or another program)"
        elif exc.errno == errno.EACCES:
            detail = f"{host}:{port} needs privileges (a port below 1024)"
        elif exc.errno == errno.EADDRNOTAVAIL:
            detail = f"{host} is not an address of this machine"
        else:
            detail = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        return _fail(
            name, detail, f"--listen {host}:{other} (and LANFAX_SERVER for the lanfax command)"
        )
    return Check(name, "ok", f"{host}:{port} is free")


# -- the devices --------------------------------------------------------------------------------


class _NoCalls:
    """ServiceCallbacks for a provider that is only initialised and shut down again."""

    def ring(self, local_id: str, call: Any) -> None:
        return None

    def call_ended(self, local_id: str, call_id: str) -> None:
        return None

    def status(self, local_id: str, status: Any) -> None:
        return None

    async def progress_recorded(self, local_id: str) -> None:
        return None

    def log(self, local_id: str, level: int, message: str) -> None:
        return None


async def _probe_providers(tables: Sequence[Mapping[str, Any]]) -> list[str]:
    from lanfax.providers.loader import create_provider, parse_provider_tables

    found = []
    for spec in parse_provider_tables(list(tables)):
        provider = create_provider(spec.type)
        try:
            await provider.initialize(spec.config, _NoCalls())
        except FaxError as exc:
            raise type(exc)(f"provider {spec.instance!r}: {exc.message}", hint=exc.hint) from None
        try:
            devices = provider.virtual_devices()
        finally:
            await provider.shutdown()
        numbers = ", ".join(d.number or d.local_id for d in devices) or "no devices"
        found.append(f"{spec.instance}: {len(devices)} ({numbers})")
    return found


def check_providers(tables: Sequence[Mapping[str, Any]], timeout: float = 30.0) -> Check:
    """Every configured provider initialises and offers its devices (then is shut down)."""
    name = "devices"
    if not tables:
        return _fail(name, "no provider is configured", "add a [[providers]] table")
    try:
        found = asyncio.run(asyncio.wait_for(_probe_providers(tables), timeout))
    except FaxError as exc:
        return _fail(name, exc.message, exc.hint or "see docs/providers.md")
    except TimeoutError:
        return _fail(name, f"providers did not start within {timeout:.0f} s", "see their logs")
    except OSError as exc:
        return _fail(name, f"a provider cannot start: {exc}", "see docs/providers.md")
    return Check(name, "ok", "; ".join(found))


# -- intake workers (#19) ------------------------------------------------------------------------


def check_intake_workers(settings: ServiceSettings, cpus: int | None = None) -> Check:
    """``[server] intake_workers``: off (skip), or whether ``lanfax serve`` can start them
    (:func:`lanfax.service.intake.refusal`), how many, and what they cost."""
    from lanfax.service.intake import refusal

    name = "intake workers"
    count = settings.intake_workers
    if not count:
        return Check(name, "skip", "off ([server] intake_workers = 0): one process takes all")
    error = refusal(settings)
    if error is not None:
        return _fail(name, error.message, error.hint or "set server.intake_workers = 0")
    cpus = cpus or os.cpu_count() or 1
    hang = settings.intake_hang_s
    detail = (
        f"{count} worker process(es) beside the main one (about 55 MB each);"
        + (f" one hung for {hang} s is replaced" if hang else " hung ones are not replaced")
        + f"; {cpus} CPU(s) here"
    )
    if count + 1 > cpus:
        detail += " (more processes than CPUs: the workers pay where cores are spare)"
    return Check(name, "ok", detail)


# -- everything -----------------------------------------------------------------------------------


def load(
    config: str | None, data: str | None, listen: str | None
) -> tuple[Check, ServiceSettings | None]:
    """The settings ``lanfax serve`` would run with, as a check of their own."""
    from lanfax.service.settings import load_settings

    try:
        settings = load_settings(config, data_dir=data, listen=listen)
    except FaxError as exc:
        return _fail("settings", exc.message, exc.hint or "see docs/configuration.md"), None
    return Check("settings", "ok", settings.source), settings


def run_checks(
    config: str | None = None,
    data: str | None = None,
    listen: str | None = None,
    *,
    office: bool = False,
    min_free_mb: int = MIN_FREE_MB,
    devices: bool = True,
) -> list[Check]:
    """Every check, for the settings ``lanfax serve --config/--data/--listen`` would use."""
    first, settings = load(config, data, listen)
    checks = [
        first,
        check_server_packages(),
        check_spandsp(),
        check_libtiff(),
        check_ghostscript(),
        check_fonts(),
        check_libreoffice(office),
    ]
    if settings is None:
        return checks
    checks += [
        check_data_dir(settings.data_dir),
        check_free_space(settings.data_dir, min_free_mb),
        check_port(settings.host, settings.port),
    ]
    if settings.intake_workers:  # issue #19: only when asked for (one process otherwise)
        checks.append(check_intake_workers(settings))
    if devices:
        checks.append(check_providers(settings.providers))
    return checks
