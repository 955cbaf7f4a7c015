"""``POST /ipp/faxout``: the IPP FaxOut printer on the API's own port (issue #11).

A thin adapter: read the body (bounded by ``server.max_upload_mb``), decode it
(:mod:`lanfax.service.ipp.codec`), authenticate, hand the request to
:class:`~lanfax.service.ipp.faxout.FaxOut` and encode its answer as ``application/ipp``.

Logins are the API's (HTTP Basic with a lanfax password, or a Bearer token). As on any
printer, Get-Printer-Attributes answers without a login (that is how a desktop learns what
the printer is before it asks for credentials); every other operation without one gets
HTTP 401 with ``WWW-Authenticate: Basic``, which is what makes CUPS, macOS and Windows ask
the user. Rights are checked per operation and refused with the IPP status
``client-error-not-authorized``. A malformed request gets the IPP status the RFC names
(HTTP 200, as RFC 8010 section 3.5 wants), never a 500.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.responses import Response

from lanfax.api.security import _AUDITED as AUDITED  # the middleware's own mark
from lanfax.api.security import public
from lanfax.model.codes import AccessRight, AccessRightEx
from lanfax.model.errors import FaxError, RateLimited, TooLarge, Unauthenticated
from lanfax.service.core import FaxService
from lanfax.service.ipp.codec import IppParseError, Limits, Message, Status, decode, encode
from lanfax.service.ipp.faxout import Endpoint, FaxOut, error_response
from lanfax.service.ipp.model import Op
from lanfax.service.ipp.printer import RESOURCE
from lanfax.service.rights import Caller, Role
from lanfax.service.security import Security

log = logging.getLogger("lanfax.ipp")

IPP_TYPE = "application/ipp"
#: Operations any caller may ask without a login.
_OPEN = {Op.GET_PRINTER_ATTRIBUTES}
#: Operations that change nothing: not written to the audit trail when they succeed (a
#: desktop polls them every few seconds while a fax is under way; IPP reads are POSTs).
_READS = {
    Op.GET_PRINTER_ATTRIBUTES,
    Op.GET_JOB_ATTRIBUTES,
    Op.GET_JOBS,
    Op.VALIDATE_JOB,
    Op.IDENTIFY_PRINTER,
}


def _ipp(msg: Message) -> Response:
    return Response(encode(msg), media_type=IPP_TYPE)


def _endpoint(request: Request) -> Endpoint:
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    host = "".join(ch for ch in host if ch.isalnum() or ch in ".-:[]")[:255] or "localhost"
    tls = request.url.scheme == "https"
    scheme, security = ("ipps", "tls") if tls else ("ipp", "none")
    return Endpoint(((f"{scheme}://{host}{RESOURCE}", security),))


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise TooLarge(f"the print job is larger than {limit // 2**20} MB")
    chunks: list[bytes] = []
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise TooLarge(f"the print job is larger than {limit // 2**20} MB")
        chunks.append(chunk)
    return b"".join(chunks)


def _challenge(message: str) -> Response:
    return Response(
        message.encode(),
        status_code=401,
        media_type="text/plain",
        headers={"WWW-Authenticate": 'Basic realm="lanfax", charset="UTF-8"'},
    )


#: How long a checked password login is remembered for the printer (seconds).
LOGIN_TTL = 60.0
_MAX_LOGINS = 1000


class _Logins:
    """Password logins the printer has checked recently.

    A desktop's print system sends HTTP Basic with every IPP request (CUPS's backend polls
    Get-Job-Attributes every few seconds while a fax is under way); checking each one with
    scrypt would cost a fraction of a CPU second and trip the per-address login rate limit
    that protects against password guessing. So a header that logged in is remembered (by
    a keyed hash, never the password) for :data:`LOGIN_TTL` seconds: a changed password or
    a revoked right reaches the printer within that time. Bearer tokens are cheap and are
    always checked."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._seen: dict[bytes, tuple[float, Caller]] = {}

    def _digest(self, header: str) -> bytes:
        return hmac.new(self._key, header.encode("utf-8", "replace"), hashlib.sha256).digest()

    def get(self, header: str, now: float) -> Caller | None:
        hit = self._seen.get(self._digest(header))
        if hit is None or hit[0] < now:
            return None
        return hit[1]

    def put(self, header: str, caller: Caller, now: float) -> None:
        if len(self._seen) >= _MAX_LOGINS:
            for key in [k for k, (t, _) in self._seen.items() if t < now] or list(self._seen)[:100]:
                self._seen.pop(key, None)
        self._seen[self._digest(header)] = (now + LOGIN_TTL, caller)


def install_ipp_routes(app: FastAPI, service: FaxService, security: Security) -> None:
    printer = FaxOut(service)
    app.state.faxout = printer
    logins = _Logins()
    r = APIRouter()

    @r.post(
        RESOURCE,
        summary="IPP FaxOut printer (RFC 8010/8011, PWG 5100.15); application/ipp",
        dependencies=[Depends(public())],
        include_in_schema=True,
    )
    async def ipp_faxout(request: Request) -> Response:
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype != IPP_TYPE:
            return _ipp(
                error_response(0, Status.BAD_REQUEST, f"the body must be {IPP_TYPE}, not {ctype!r}")
            )
        try:
            body = await _read_body(request, service.settings.max_upload_bytes)
        except TooLarge as exc:
            return _ipp(error_response(0, Status.REQUEST_ENTITY_TOO_LARGE, exc.message))
        try:
            req = decode(body, Limits())
        except IppParseError as exc:
            return _ipp(error_response(exc.request_id, exc.status, exc.message))
        auth = request.headers.get("authorization")
        caller: Caller | None = None
        basic = bool(auth and auth.strip()[:6].lower() == "basic ")
        try:
            now = service.clock.monotonic()
            caller = logins.get(auth, now) if auth and basic else None
            if caller is None and (auth or not security.enabled):
                caller = await security.authenticate(
                    authorization=auth,
                    user_header=None,
                    address=request.client.host if request.client else "",
                )
                if auth and basic:
                    logins.put(auth, caller, now)
            if caller is not None:
                security.check_rate(caller)
        except Unauthenticated as exc:
            return _challenge(exc.message)
        except RateLimited as exc:
            return _ipp(error_response(req.request_id, Status.BUSY, exc.message))
        except FaxError as exc:
            return _ipp(error_response(req.request_id, Status.INTERNAL_ERROR, exc.message))
        if caller is None:
            if req.code not in _OPEN:
                return _challenge("this printer needs a lanfax login (user and password)")
            caller = Caller("(anonymous)", Role.USER, AccessRight(0), AccessRightEx(0))
        request.scope["lanfax.caller"] = caller
        try:
            answer = await printer.handle(req, caller, _endpoint(request))
        except Exception:  # never a 500: the client gets an IPP status it can show
            log.exception("IPP operation 0x%04X failed", req.code)
            answer = error_response(
                req.request_id, Status.INTERNAL_ERROR, "internal error in the fax service"
            )
        if req.code in _READS and answer.code < 0x0400:
            request.scope[AUDITED] = True  # a read, not a change: no audit entry
        return _ipp(answer)

    app.include_router(r)


__all__ = ["install_ipp_routes"]
