"""Web hook: the fax POSTed as ``multipart/form-data`` (a JSON ``metadata`` part and the
``document`` part) with httpx.

Every request carries

- ``X-Lanfax-Signature: sha256=<hex>``: HMAC-SHA256 of the exact body bytes with the secret;
- ``Idempotency-Key``: the same for every delivery of one fax by one method, whether retried
  within this call or by a later routing attempt, so a receiver can drop duplicates.

The body is built by hand (not by httpx) so that what is signed is exactly what is sent, and
its boundary is derived from the idempotency key, so a retry sends the same bytes.

Within one call: a connection error, a timeout, 408, 429 or 5xx is retried (``attempts`` in
all, waiting ``backoff * 2**n`` seconds, or what Retry-After says up to 60 s); then the
failure is retryable by the routing job. Any other 4xx, or a redirect, is a failure that is
not retried.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from lanfax.model.clock import Clock
from lanfax.model.errors import ConfigError
from lanfax.routing.api import FaxRoute, RouteCallbacks, RouteResult
from lanfax.routing.builtin.common import CONTENT_TYPE, SUFFIX, document
from lanfax.routing.schema import Field, boolean, http_url, number, one_of, text, validate
from lanfax.routing.targets import TargetPolicy

#: Namespace of the idempotency keys (a fixed random UUID; never change it).
_KEY_NAMESPACE = uuid.UUID("d20ad5b6-5ffa-4ac8-8a5d-6f2625f4d334")
MAX_RETRY_AFTER = 60.0


def _secret(v: Any) -> str:
    s = text(max_length=1024, allow_empty=False)(v)
    if len(s) < 16:
        raise ConfigError(
            "the secret is shorter than 16 characters",
            hint="use a long random string, e.g. the output of `openssl rand -hex 32`",
        )
    return s


FIELDS = [
    Field("url", http_url, required=True, doc="e.g. https://hooks.example.com/fax"),
    Field("secret", _secret, required=True, doc="a shared secret of 16 characters or more"),
    Field("timeout", number(1, 300), 30.0),
    Field("format", one_of("pdf", "tiff"), "pdf"),
    Field("verify_tls", boolean, True),
]


def check(info: Mapping[str, Any]) -> dict[str, Any]:
    return validate("web hook", info, FIELDS)


def idempotency_key(guid: str, fax: FaxRoute) -> str:
    """Stable per fax and method: the same on every attempt, different for another fax."""
    name = f"{guid}|{fax.device_id}|{fax.job_id}|{fax.receive_time.isoformat()}"
    return str(uuid.uuid5(_KEY_NAMESPACE, name))


def sign(secret: str, body: bytes) -> str:
    """The ``X-Lanfax-Signature`` value for ``body``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """For receivers (and tests): whether ``header`` is the signature of ``body``."""
    return hmac.compare_digest(sign(secret, body), header.strip())


def metadata(fax: FaxRoute, guid: str, key: str, sent_at: str) -> dict[str, Any]:
    return {**fax.fields(), "method": guid, "idempotency_key": key, "sent_at": sent_at}


def build_body(meta: Mapping[str, Any], doc: bytes, fmt: str, key: str) -> tuple[bytes, str]:
    """The multipart body and its Content-Type (boundary derived from ``key``)."""
    meta_bytes = json.dumps(meta, sort_keys=True, ensure_ascii=False).encode("utf-8")
    n = 0
    while True:
        boundary = "lanfax-" + hashlib.sha256(f"{key}:{n}".encode()).hexdigest()[:32]
        if boundary.encode() not in doc and boundary.encode() not in meta_bytes:
            break
        n += 1
    filename = f"fax-{meta['job_id']}{SUFFIX[fmt]}"
    b = boundary.encode()
    body = b"".join(
        [
            b"--" + b + b"\r\n",
            b'Content-Disposition: form-data; name="metadata"\r\n',
            b"Content-Type: application/json; charset=utf-8\r\n\r\n",
            meta_bytes,
            b"\r\n--" + b + b"\r\n",
            f'Content-Disposition: form-data; name="document"; filename="{filename}"\r\n'.encode(),
            f"Content-Type: {CONTENT_TYPE[fmt]}\r\n\r\n".encode(),
            doc,
            b"\r\n--" + b + b"--\r\n",
        ]
    )
    return body, f"multipart/form-data; boundary={boundary}"


def _retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return default


async def route(
    fax: FaxRoute,
    info: Mapping[str, Any],
    *,
    guid: str,
    callbacks: RouteCallbacks,
    clock: Clock,
    sleep: Callable[[float], Awaitable[None]],
    attempts: int,
    backoff: float,
    policy: TargetPolicy | None = None,
) -> RouteResult:
    """POST the fax to the hook; ``policy`` checks the address each connection reaches."""
    fmt = info["format"]
    async with document(callbacks, fax, fmt) as path:
        doc = path.read_bytes()
    key = idempotency_key(guid, fax)
    # sent_at is the time of the first attempt of this call; the body then stays the same.
    body, content_type = build_body(
        metadata(fax, guid, key, clock.now().isoformat()), doc, fmt, key
    )
    headers = {
        "Content-Type": content_type,
        "X-Lanfax-Signature": sign(info["secret"], body),
        "Idempotency-Key": key,
        "User-Agent": "lanfax-routing/1",
    }
    url = info["url"]
    last = ""
    host = httpx.URL(url).host

    async def trace(event: str, data: dict[str, Any]) -> None:
        # After the TCP connect, before the request is written: the address really reached.
        if policy is not None and event == "connection.connect_tcp.complete":
            stream = data.get("return_value")
            if stream is not None:
                policy.check_peer(host, stream.get_extra_info("server_addr"))

    async with httpx.AsyncClient(
        timeout=info["timeout"], verify=info["verify_tls"], follow_redirects=False
    ) as client:
        for attempt in range(attempts):
            delay = backoff * 2**attempt
            try:
                response = await client.post(
                    url, content=body, headers=headers, extensions={"trace": trace}
                )
            except httpx.TimeoutException:
                last = f"{url} did not answer within {info['timeout']:g} s"
            except httpx.TransportError as exc:
                last = f"cannot reach {url}: {exc or type(exc).__name__}"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return RouteResult(ok=True, reason=f"{url} answered {status}")
                # The reply's body is never repeated (issue #14): it may be an internal
                # service's page, and the job's status text is shown to its users.
                last = f"{url} answered {status} {response.reason_phrase}".rstrip()
                if 300 <= status < 400:
                    where = response.headers.get("Location", "?")
                    return RouteResult.failure(
                        f"{url} redirects to {where}; configure the final URL", retryable=False
                    )
                if status not in (408, 429) and status < 500:
                    return RouteResult.failure(last, retryable=False, data={"status": status})
                delay = _retry_after(response, delay)
            if attempt + 1 < attempts:
                await sleep(delay)
    return RouteResult.failure(
        f"{last} (after {attempts} attempts)", retryable=True, data={"idempotency_key": key}
    )
