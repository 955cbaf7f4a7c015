"""The one exception tree of lanfax.

Every error a user can see is a :class:`FaxError`: it carries a message saying what was wrong
and a hint saying what to do. The HTTP API maps ``http_status`` to a problem+json response, the
client maps such a response back to the same class, and the CLI maps ``exit_code`` to its exit
status. Nothing else is raised across a room's boundary.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs `lanfax send` ~1 ms to import; mypy reads these
if TYPE_CHECKING:
    from typing import Any, ClassVar


class FaxError(Exception):
    """Base of every lanfax error."""

    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1
    #: A stable, machine-readable name (the problem+json ``type`` suffix).
    code: ClassVar[str] = "fax-error"

    def __init__(self, message: str, *, hint: str | None = None, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message

    def to_problem(self) -> dict[str, Any]:
        """The RFC 9457 problem document for this error."""
        body: dict[str, Any] = {
            "type": f"urn:lanfax:error:{self.code}",
            "title": type(self).__name__,
            "status": self.http_status,
            "detail": self.message,
        }
        if self.hint:
            body["hint"] = self.hint
        if self.detail:
            body["extra"] = self.detail
        return body


class InvalidInput(FaxError):
    """A value from a user, a file or a peer is not acceptable."""

    http_status = 422
    exit_code = 2
    code = "invalid-input"


class ConfigError(InvalidInput):
    """A configuration file or setting is invalid."""

    code = "config-error"


class DocumentError(InvalidInput):
    """A submitted document cannot be turned into fax pages."""

    code = "document-error"


class NotFound(FaxError):
    http_status = 404
    exit_code = 3
    code = "not-found"


class Conflict(FaxError):
    """The request is valid but the object's current state forbids it."""

    http_status = 409
    exit_code = 4
    code = "conflict"


class Unauthenticated(FaxError):
    http_status = 401
    exit_code = 5
    code = "unauthenticated"


class AccessDenied(FaxError):
    http_status = 403
    exit_code = 5
    code = "access-denied"


class TooLarge(InvalidInput):
    http_status = 413
    code = "too-large"


class RateLimited(FaxError):
    http_status = 429
    exit_code = 6
    code = "rate-limited"


class Unavailable(FaxError):
    """The service (or a component it needs) cannot do this right now."""

    http_status = 503
    exit_code = 7
    code = "unavailable"


class InsufficientStorage(FaxError):
    """Storing this would exceed the spool's bounds or the disk (HTTP 507): the message gives
    the figures; it is not the request's fault, so a retry after a clean-up may work."""

    http_status = 507
    exit_code = 7
    code = "insufficient-storage"


class EngineError(FaxError):
    """The fax engine (spandsp) cannot run, or refused its input."""

    code = "engine-error"


class ProviderError(FaxError):
    """A device provider failed outside of a call's normal outcomes."""

    code = "provider-error"


class StoreError(FaxError):
    code = "store-error"


#: Every concrete error class by its ``code``, so a client can rebuild the right class.
ERRORS_BY_CODE: dict[str, type[FaxError]] = {
    cls.code: cls
    for cls in (
        FaxError,
        InvalidInput,
        ConfigError,
        DocumentError,
        NotFound,
        Conflict,
        Unauthenticated,
        AccessDenied,
        TooLarge,
        RateLimited,
        Unavailable,
        EngineError,
        ProviderError,
        StoreError,
        InsufficientStorage,
    )
}
