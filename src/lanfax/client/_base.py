"""The light half of the clients: what one request needs, and nothing heavier.

Server URL, user, token and CA resolution, the Response an answer is read into, the errors a
failed answer or connection stands for, percent-encoding, and the wait before sending again a
request refused with 429. Only the standard library's cheap modules and
``lanfax.model.errors`` are imported: ``lanfax send`` runs on this module, ``_http`` and
``_multipart`` alone (no dataclasses, no enums of the model), see ``lanfax.cli._send``.
``lanfax.client._core`` re-exports every name.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping

from lanfax.model.errors import ERRORS_BY_CODE, FaxError, InvalidInput, Unavailable

TYPE_CHECKING = False  # typing costs `lanfax send` ~1 ms to import; mypy reads these
if TYPE_CHECKING:
    from typing import Any

DEFAULT_SERVER = "http://127.0.0.1:8470"
API = "/api/v1"
USER_HEADER = "X-Lanfax-User"
PORT_HANDLE_HEADER = "X-Lanfax-Port-Handle"


def resolve_server(server: str | None) -> str:
    """The base URL: the argument, else ``LANFAX_SERVER``, else ``http://127.0.0.1:8470``.

    A bare ``host:port`` gets ``http://``. Raises InvalidInput for anything but http(s).
    """
    url = (server or os.environ.get("LANFAX_SERVER") or DEFAULT_SERVER).strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    scheme, _, rest = url.partition("://")
    hostport = rest.split("/", 1)[0].rpartition("@")[2]
    port_text = hostport.rpartition("]")[2].partition(":")[2] if hostport else ""
    host_ok = bool(hostport) and not hostport.startswith(":")
    if scheme not in ("http", "https") or not host_ok or not (port_text.isdigit() or not port_text):
        raise InvalidInput(
            f"{url!r} is not a server URL", hint="use http://HOST:PORT, e.g. http://127.0.0.1:8470"
        )
    return url


def resolve_user(user: str | None) -> str:
    """The caller's name: the argument, else ``LANFAX_USER``, else the OS login name."""
    if user:
        return user
    env = os.environ.get("LANFAX_USER")
    if env:
        return env
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, OSError):
        return "anonymous"


def auth_header(
    token: str | None, auth: tuple[str, str] | None, url: str | None = None
) -> dict[str, str]:
    """``Authorization`` for HTTP Basic ``(user, password)`` or a bearer token: the argument,
    else ``LANFAX_TOKEN``, else the credentials file's token for ``url``
    (``lanfax.client.credentials``); nothing when there is none (a server without login)."""
    if auth is not None:
        import base64

        raw = f"{auth[0]}:{auth[1]}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}
    token = token or os.environ.get("LANFAX_TOKEN")
    if not token and url is not None:
        try:
            from lanfax.client import credentials
        except ImportError:
            credentials = None  # type: ignore[assignment]
        if credentials is not None:
            try:
                token = credentials.lookup(url).get("token")
            except (OSError, ValueError, KeyError, TypeError):
                token = None  # an unreadable credentials file is the same as none
    return {"Authorization": f"Bearer {token.strip()}"} if token else {}


def resolve_ca_file(ca_file: str | os.PathLike[str] | None) -> str | None:
    """The CA bundle to trust for https: the argument, else ``LANFAX_CA_FILE``, else None (the
    system's CAs). Raises InvalidInput, naming where the path came from, if it is not a file."""
    source = "ca_file"
    if ca_file is None or not str(ca_file):
        ca_file, source = os.environ.get("LANFAX_CA_FILE") or None, "LANFAX_CA_FILE"
    if ca_file is None:
        return None
    path = os.fspath(ca_file)
    if not os.path.isfile(path):
        raise InvalidInput(
            f"the CA file {path!r} ({source}) does not exist or is not a file",
            hint="give the PEM file of the CA that signed the server's certificate "
            "(or the server's own certificate if it is self-signed)",
        )
    return path


def certificate_problem(exc: BaseException) -> str | None:
    """The verification message if ``exc`` (or an exception it was raised from) is a failed
    TLS certificate check, else None."""
    ssl = sys.modules.get("ssl")  # not loaded: no TLS was attempted
    seen: BaseException | None = exc
    while ssl is not None and seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return str(seen.verify_message or seen.reason or seen)
        seen = seen.__cause__ or seen.__context__
    return None


def unreachable(url: str, exc: BaseException, reason: object, ca_file: str | None) -> Unavailable:
    """The error for a failed connection: an untrusted certificate gets its own message and a
    hint naming ``--ca-file``; anything else is :func:`unavailable` with ``reason``."""
    problem = certificate_problem(exc)
    if problem is None:
        return unavailable(url, reason)
    trusted = f"the CA file {ca_file}" if ca_file else "the system's CAs"
    return Unavailable(
        f"the server at {url} has a TLS certificate that does not verify against {trusted}: "
        f"{problem}",
        hint="for a private CA or a self-signed server certificate, give that certificate (PEM) "
        "with --ca-file FILE, LANFAX_CA_FILE=FILE or Client(ca_file=FILE); the URL's host must "
        "be a name or address in the certificate",
        url=url,
    )


def unavailable(url: str, reason: object) -> Unavailable:
    """The error for a server that cannot be reached at all."""
    return Unavailable(
        f"cannot reach the lanfax server at {url}: {reason}",
        hint=f"is `lanfax serve` running at {url}? set --server or LANFAX_SERVER",
        url=url,
    )


#: How long one call may wait in all, by default, on the server's "too many requests"
#: (429) before it raises RateLimited.
RATE_LIMIT_WAIT = 60.0
#: Without a usable Retry-After: 0.5 s, 1 s, 2 s, ... at most this much at a time.
BACKOFF_CAP = 10.0


def resolve_rate_limit_wait(value: float | None) -> float:
    """Seconds a call may spend waiting on 429 answers: the argument, else
    ``LANFAX_RATE_LIMIT_WAIT``, else 60; 0 turns the waiting off (RateLimited at once)."""
    if value is None:
        env = os.environ.get("LANFAX_RATE_LIMIT_WAIT", "").strip()
        try:
            value = float(env) if env else RATE_LIMIT_WAIT
        except ValueError:
            raise InvalidInput(
                f"LANFAX_RATE_LIMIT_WAIT={env!r} is not a number of seconds",
                hint="e.g. 60, or 0 to raise RateLimited at once",
            ) from None
    if not value >= 0:  # also NaN
        raise InvalidInput(f"rate_limit_wait {value!r} is negative", hint="use 0 or more seconds")
    return float(value)


def retry_delay(resp: Response, attempt: int, waited: float, budget: float) -> float | None:
    """How long to wait before sending again a request the server refused with 429 (it was
    not carried out, so sending it again is safe whatever its method), or None to give up.

    The server's ``Retry-After`` (seconds) is honoured; without one, the wait doubles from
    0.5 s up to :data:`BACKOFF_CAP`. A wait that would take the call past ``budget`` seconds
    in all gives up at once rather than sleep for nothing."""
    if resp.status != 429 or budget <= 0:
        return None
    header = resp.headers.get("retry-after", "").strip()
    # No header, or an HTTP-date (lanfax sends seconds): back off exponentially.
    delay = float(header) if header.isdigit() else min(0.5 * 2**attempt, BACKOFF_CAP)
    if waited + delay > budget:
        return None
    return delay


class Response:
    """What an Op's decoder sees: status, lower-cased headers and the whole body. (A plain
    class: ``dataclasses`` costs ``lanfax send`` more to import than all of this module.)"""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"Response({self.status}, {dict(self.headers)!r}, {self.body[:60]!r})"

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~,")


def quote(text: str) -> str:
    """Percent-encode ``text`` for a URL path segment or query value (RFC 3986)."""
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in str(text).encode("utf-8"))


def error_from_response(resp: Response, op_label: str = "") -> FaxError:
    """The FaxError a non-2xx answer stands for (problem+json ``type`` -> class)."""
    data: Any = None
    try:
        data = resp.json()
    except ValueError:
        data = None
    if isinstance(data, Mapping) and isinstance(data.get("type"), str):
        code = data["type"].rsplit(":", 1)[-1]
        cls = ERRORS_BY_CODE.get(code) or _class_for_status(resp.status)
        message = str(data.get("detail") or data.get("title") or f"HTTP {resp.status}")
        hint = data.get("hint")
        extra = data.get("extra") if isinstance(data.get("extra"), Mapping) else {}
        return cls(message, hint=str(hint) if hint else None, **dict(extra or {}))
    cls = _class_for_status(resp.status)
    detail = data.get("detail") if isinstance(data, Mapping) else None
    text = detail if isinstance(detail, str) else resp.body[:200].decode("utf-8", "replace")
    return cls(
        f"the server answered HTTP {resp.status} to {op_label}: {text or 'no detail'}".strip(),
        hint="check the server's log; client and server versions may differ",
        http_status=resp.status,
    )


def _class_for_status(status: int) -> type[FaxError]:
    for cls in ERRORS_BY_CODE.values():
        if cls.http_status == status and cls.code in {
            "invalid-input",
            "not-found",
            "conflict",
            "unauthenticated",
            "access-denied",
            "too-large",
            "rate-limited",
            "unavailable",
        }:
            return cls
    return InvalidInput if 400 <= status < 500 else FaxError
