"""The envelope of the FaxOut printer's answers (``service/ipp/envelope.py``, split out of
``faxout.py``): the IPP status of each lanfax error, and the checks of a request's
operation attributes group (RFC 8011 4.1.4), without a service."""

from __future__ import annotations

import pytest

from lanfax.model.errors import (
    AccessDenied,
    ConfigError,
    Conflict,
    DocumentError,
    FaxError,
    InvalidInput,
    NotFound,
    StoreError,
    TooLarge,
    Unavailable,
)
from lanfax.service.ipp.codec import Group, GroupTag, Message, Status, Tag, attr
from lanfax.service.ipp.envelope import check_operation_group, error_response, fax_status
from lanfax.service.ipp.faxout import Endpoint
from lanfax.service.ipp.faxout import error_response as reexported
from lanfax.service.ipp.model import IppError


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (TooLarge, Status.REQUEST_ENTITY_TOO_LARGE),  # before InvalidInput, its base
        (DocumentError, Status.DOCUMENT_FORMAT_ERROR),
        (ConfigError, Status.ATTRIBUTES_OR_VALUES_NOT_SUPPORTED),
        (InvalidInput, Status.ATTRIBUTES_OR_VALUES_NOT_SUPPORTED),
        (AccessDenied, Status.NOT_AUTHORIZED),
        (NotFound, Status.NOT_FOUND),
        (Conflict, Status.NOT_POSSIBLE),
        (Unavailable, Status.SERVICE_UNAVAILABLE),
        (StoreError, Status.INTERNAL_ERROR),
        (FaxError, Status.INTERNAL_ERROR),
    ],
)
def test_the_ipp_status_of_each_lanfax_error(error: type[FaxError], status: Status) -> None:
    assert fax_status(error("it failed", hint="a hint")) is status


def _req(*operation: tuple[str, int, str]) -> Message:
    group = Group(GroupTag.OPERATION, tuple(attr(n, t, v) for n, t, v in operation))
    return Message((2, 0), 0x000B, 7, (group,))


CHARSET = ("attributes-charset", Tag.CHARSET, "utf-8")
LANGUAGE = ("attributes-natural-language", Tag.LANGUAGE, "en")


def test_the_operation_group_must_begin_with_charset_then_language() -> None:
    check_operation_group(_req(CHARSET, LANGUAGE))
    for req, status in (
        (Message((2, 0), 0x000B, 7, ()), Status.BAD_REQUEST),
        (_req(LANGUAGE, CHARSET), Status.BAD_REQUEST),
        (_req(CHARSET, CHARSET), Status.BAD_REQUEST),
        (
            _req(("attributes-charset", Tag.CHARSET, "latin1"), LANGUAGE),
            Status.CHARSET_NOT_SUPPORTED,
        ),
    ):
        with pytest.raises(IppError) as caught:
            check_operation_group(req)
        assert caught.value.status is status


def test_an_error_response_carries_only_its_status_message() -> None:
    assert reexported is error_response
    msg = error_response(9, Status.NOT_FOUND, "x" * 300, (2, 0))
    assert (msg.version, msg.code, msg.request_id) == ((2, 0), int(Status.NOT_FOUND), 9)
    (group,) = msg.groups
    message = group.get("status-message")
    assert message is not None and message.values[0].value == "x" * 255
    assert Endpoint((("ipp://h/ipp/faxout", "none"),)).primary == "ipp://h/ipp/faxout"
