"""Print: the fax handed to CUPS with ``lp -d PRINTER`` (package ``cups-client``).

``lp`` returns once CUPS has accepted the job (it is spooled); printing happens afterwards.
A refusal naming an unknown printer needs a person; a scheduler that cannot be reached may come
back (retryable).
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lanfax.model.errors import ConfigError
from lanfax.routing.api import FaxRoute, RouteCallbacks, RouteResult
from lanfax.routing.builtin.common import document
from lanfax.routing.schema import Field, integer, one_of, text, validate

_PRINTER = re.compile(r"^[A-Za-z0-9_.@+-][A-Za-z0-9_.@+-]{0,126}$")
_OPTION_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SERVER = re.compile(
    r"^(/[^\x00-\x1f\s]{1,200}|[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?)$"
)
LP_TIMEOUT = 60.0


def _printer(v: Any) -> str:
    if not isinstance(v, str) or not _PRINTER.match(v):
        raise ConfigError(
            f"{v!r} is not a CUPS printer name",
            hint="use the queue name shown by `lpstat -p` (letters, digits, _ . - @ +; "
            "no spaces, slashes or #)",
        )
    return v


def _options(v: Any) -> dict[str, str]:
    if not isinstance(v, Mapping):
        raise ConfigError(
            f"{v!r} is not a set of options",
            hint='e.g. {"media": "A4", "sides": "two-sided-long-edge"}',
        )
    out: dict[str, str] = {}
    for key, value in v.items():
        if not isinstance(key, str) or not _OPTION_KEY.match(key):
            raise ConfigError(f"{key!r} is not a CUPS option name", hint="e.g. media, sides")
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ConfigError(f"option {key}: {value!r} is not text", hint="e.g. A4")
        s = str(value)
        if any(ord(c) < 32 for c in s) or len(s) > 256:
            raise ConfigError(f"option {key}: {s!r} is not a plain value", hint="e.g. A4")
        out[key] = s
    return out


def _server(v: Any) -> str:
    s = text(max_length=260)(v)
    if s and not _SERVER.match(s):
        raise ConfigError(
            f"{s!r} is not a CUPS server",
            hint="host, host:port, or the path of the scheduler's socket; empty for the default",
        )
    return s


FIELDS = [
    Field("printer", _printer, required=True, doc="the CUPS queue name (lpstat -p)"),
    Field("options", _options, {}),
    Field("format", one_of("pdf", "tiff"), "pdf"),
    Field("copies", integer(1, 99), 1),
    Field("server", _server, ""),
]


def check(info: Mapping[str, Any]) -> dict[str, Any]:
    return validate("print", info, FIELDS)


def lp_args(lp: str, info: Mapping[str, Any], path: str, title: str) -> list[str]:
    """The ``lp`` command line (no shell is involved)."""
    args = [lp]
    if info["server"]:
        args += ["-h", info["server"]]
    args += ["-d", info["printer"], "-t", title, "-n", str(info["copies"])]
    for key, value in sorted(info["options"].items()):
        args += ["-o", f"{key}={value}"]
    return [*args, "--", path]


_PERMANENT = re.compile(r"does not exist|unknown printer|forbidden|unsupported|not found", re.I)


async def scheduler_running(lp: str, server: str) -> bool:
    """``lpstat -r``: whether the CUPS scheduler answers (True when that cannot be asked)."""
    lpstat = shutil.which("lpstat") or str(Path(lp).with_name("lpstat"))
    if not Path(lpstat).exists():
        return True
    args = [lpstat, *(["-h", server] if server else []), "-r"]
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), LP_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return False
    return proc.returncode == 0 and b"not running" not in out


async def route(
    fax: FaxRoute, info: Mapping[str, Any], *, callbacks: RouteCallbacks, lp_command: str
) -> RouteResult:
    lp = shutil.which(lp_command)
    if lp is None:
        return RouteResult.failure(
            f"cannot print: the CUPS client command {lp_command!r} is not installed "
            "(install the Debian package cups-client)",
            retryable=False,
        )
    async with document(callbacks, fax, info["format"]) as path:
        args = lp_args(lp, info, str(path), f"fax {fax.job_id} from {fax.tsid or 'unknown'}")
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), LP_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return RouteResult.failure(f"lp did not finish within {LP_TIMEOUT:g} s", retryable=True)
    message = (err or out).decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        reason = f"lp -d {info['printer']} failed: {message or f'exit status {proc.returncode}'}"
        # lp says "does not exist" also when it cannot reach the scheduler at all: ask.
        if not await scheduler_running(lp, info["server"]):
            return RouteResult.failure(
                f"{reason} (the CUPS scheduler is not running or not reachable)", retryable=True
            )
        return RouteResult.failure(reason, retryable=not _PERMANENT.search(message))
    return RouteResult(ok=True, reason=message or f"sent to {info['printer']}")
