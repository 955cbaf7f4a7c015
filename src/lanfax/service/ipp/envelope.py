"""The envelope of the FaxOut printer's answers (split out of ``faxout.py``, which
re-exports :class:`Endpoint` and :func:`error_response`): how the client reached the printer,
the operation attributes group every response begins with, the IPP status of a lanfax error,
and the checks of a request's operation group (RFC 8011 4.1.4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lanfax.model.errors import (
    AccessDenied,
    Conflict,
    DocumentError,
    FaxError,
    InvalidInput,
    NotFound,
    TooLarge,
    Unavailable,
)
from lanfax.service.ipp.codec import Group, GroupTag, Message, Status, Tag, attr
from lanfax.service.ipp.model import IppError, one

__all__ = [
    "Endpoint",
    "Result",
    "check_operation_group",
    "error_response",
    "fax_status",
    "operation_group",
    "response_version",
]

#: What an operation returns: the groups after the operation group, status-message, status.
Result = tuple[list[Group], str, Status]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """How the client reached the printer: its URIs, for printer-uri-supported and job-uri."""

    uris: Sequence[tuple[str, str]]  # (uri, "none" | "tls")

    @property
    def primary(self) -> str:
        return self.uris[0][0]


def response_version(msg: Message) -> tuple[int, int]:
    return msg.version if msg.version[0] in (1, 2) else (1, 1)


def operation_group(status_message: str) -> Group:
    return Group(
        GroupTag.OPERATION,
        (
            attr("attributes-charset", Tag.CHARSET, "utf-8"),
            attr("attributes-natural-language", Tag.LANGUAGE, "en"),
            attr("status-message", Tag.TEXT, status_message[:255]),
        ),
    )


def error_response(
    request_id: int, status: Status, message: str, version: tuple[int, int] = (1, 1)
) -> Message:
    """A response carrying only ``status`` and its ``status-message``."""
    return Message(version, int(status), request_id, (operation_group(message),))


#: The IPP status of each kind of lanfax error (RFC 8011 13.1.4/13.1.5), the first match wins.
_FAX_STATUS: tuple[tuple[type[FaxError], Status], ...] = (
    (TooLarge, Status.REQUEST_ENTITY_TOO_LARGE),
    (DocumentError, Status.DOCUMENT_FORMAT_ERROR),
    (InvalidInput, Status.ATTRIBUTES_OR_VALUES_NOT_SUPPORTED),
    (AccessDenied, Status.NOT_AUTHORIZED),
    (NotFound, Status.NOT_FOUND),
    (Conflict, Status.NOT_POSSIBLE),
    (Unavailable, Status.SERVICE_UNAVAILABLE),
)


def fax_status(exc: FaxError) -> Status:
    """The IPP status of a lanfax error (RFC 8011 13.1.4/13.1.5)."""
    return next(
        (status for cls, status in _FAX_STATUS if isinstance(exc, cls)), Status.INTERNAL_ERROR
    )


def check_operation_group(req: Message) -> None:
    # RFC 8011 4.1.4: the first group is the operation attributes, beginning with
    # attributes-charset then attributes-natural-language.
    if not req.groups or req.groups[0].tag != GroupTag.OPERATION:
        raise IppError(Status.BAD_REQUEST, "the request has no operation attributes group")
    attrs = req.groups[0].attributes
    if len(attrs) < 2 or attrs[0].name != "attributes-charset":
        raise IppError(
            Status.BAD_REQUEST, "the first operation attribute must be attributes-charset"
        )
    if attrs[1].name != "attributes-natural-language":
        raise IppError(
            Status.BAD_REQUEST,
            "the second operation attribute must be attributes-natural-language",
        )
    charset = one(attrs[0], Tag.CHARSET).value
    if not isinstance(charset, str) or charset.lower() not in ("utf-8", "us-ascii"):
        raise IppError(
            Status.CHARSET_NOT_SUPPORTED, f"charset {charset!r} is not supported; use utf-8"
        )
    if sum(1 for g in req.groups if g.tag == GroupTag.OPERATION) > 1:
        raise IppError(Status.BAD_REQUEST, "the operation attributes group appears twice")
