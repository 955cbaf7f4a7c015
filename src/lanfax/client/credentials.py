"""The client credentials file: API tokens (and CA files) keyed by server URL.

``lanfax serve`` writes the administrator's first token here on its first start, so that the
``lanfax`` command and the Python client on the same machine log in without a step; ``lanfax
login`` would write here too. The file is JSON, mode 0600 in a 0700 directory::

    {"servers": {"http://127.0.0.1:8470": {"token": "lfx_...", "user": "admin"}}}

Where: ``$LANFAX_CREDENTIALS``, else ``$XDG_CONFIG_HOME/lanfax/credentials``, else
``~/.config/lanfax/credentials``. Only the standard library: this is on every command's path,
and reading it (:func:`lookup`) imports neither pathlib nor tempfile.
"""

from __future__ import annotations

import contextlib
import json
import os

TYPE_CHECKING = False  # typing costs `lanfax send` ~1 ms to import; mypy reads these

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

__all__ = ["credentials_path", "lookup", "normalise_url", "store"]


def _default_path() -> str:
    env = os.environ.get("LANFAX_CREDENTIALS")
    if env:
        return os.path.expanduser(env)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "lanfax", "credentials")


def credentials_path() -> Path:
    from pathlib import Path

    return Path(_default_path())


def normalise_url(url: str) -> str:
    """The key of ``url``: lower-case scheme and host, no trailing slash, ``localhost`` and
    ``0.0.0.0`` read as ``127.0.0.1``."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    scheme, _, rest = url.partition("://")
    hostport, slash, path = rest.partition("/")
    hostport = hostport.lower()
    for alias in ("localhost", "0.0.0.0"):
        if hostport == alias or hostport.startswith(alias + ":"):
            hostport = "127.0.0.1" + hostport[len(alias) :]
    return f"{scheme.lower()}://{hostport}" + (f"/{path}" if slash and path else "")


def _read(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.loads(f.read())
    except (OSError, ValueError):
        return {"servers": {}}
    if not isinstance(data, dict) or not isinstance(data.get("servers"), dict):
        return {"servers": {}}
    return data


def lookup(url: str, path: Path | None = None) -> dict[str, str]:
    """The entry for ``url`` (``token``, ``user``, ``ca_file``), or an empty dict."""
    entry = _read(path or _default_path())["servers"].get(normalise_url(url))
    if not isinstance(entry, dict):
        return {}
    return {k: v for k, v in entry.items() if isinstance(v, str)}


def store(urls: list[str], entry: dict[str, str], path: Path | None = None) -> Path:
    """Save ``entry`` under each of ``urls`` (others' entries kept), atomically, mode 0600.

    Writers take an exclusive lock on ``<file>.lock`` so that two servers starting at once
    (tests do) never lose each other's entry."""
    import fcntl
    import tempfile

    target = path or credentials_path()
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(f"{target}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = _read(target)
        for url in urls:
            data["servers"][normalise_url(url)] = dict(entry)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".credentials-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=2, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    return target
