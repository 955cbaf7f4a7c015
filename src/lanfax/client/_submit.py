"""Submissions: reading the documents, the ``params`` JSON and the multipart body."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lanfax.client._core import API, Broadcast, Op, _broadcast
from lanfax.client._multipart import FileArg as FileArg
from lanfax.client._multipart import multipart as multipart
from lanfax.client._multipart import read_files as read_files
from lanfax.model.errors import InvalidInput
from lanfax.model.jobs import CoverPageInfo, JobParams
from lanfax.model.wire import to_wire

#: The JobParams fields a submission may set for all recipients at once.
COMMON_PARAMS = frozenset(
    {
        "tsid",
        "sender_name",
        "sender_company",
        "sender_dept",
        "billing_code",
        "priority",
        "schedule_action",
        "schedule_time",
        "delivery_report_type",
        "delivery_report_address",
        "document_name",
        "cover_page",
        "resolution",
        "call_handle",
        "receipt_summary",
    }
)
_RECIPIENT_DEFAULTS: dict[str, Any] = to_wire(JobParams(recipient_number=""))

# -- submission ---------------------------------------------------------------------------------


def _recipient(item: str | JobParams | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(item, str):
        if not item.strip():
            raise InvalidInput("an empty fax number", hint="give the recipient's fax number")
        return {"recipient_number": item.strip()}
    wire = dict(to_wire(item)) if isinstance(item, JobParams) else dict(item)
    if not str(wire.get("recipient_number", "")).strip():
        raise InvalidInput("a recipient has no fax number", hint="set recipient_number")
    # Only what differs from the defaults: per-recipient fields override the common ones.
    return {
        k: v
        for k, v in wire.items()
        if k not in _RECIPIENT_DEFAULTS or v != _RECIPIENT_DEFAULTS[k] or k == "recipient_number"
    }


def build_params(
    recipients: Sequence[str | JobParams | Mapping[str, Any]], common: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``params`` JSON of ``POST /jobs``; unknown common fields raise InvalidInput."""
    unknown = sorted(set(common) - COMMON_PARAMS)
    if unknown:
        raise InvalidInput(
            f"unknown job parameter(s) {', '.join(map(repr, unknown))}",
            hint=f"known: {', '.join(sorted(COMMON_PARAMS))}",
        )
    if not recipients:
        raise InvalidInput("no recipient", hint="give at least one fax number")
    params: dict[str, Any] = {"recipients": [_recipient(r) for r in recipients]}
    for key, value in common.items():
        if value is None:
            continue
        if key == "cover_page" and isinstance(value, str):
            value = CoverPageInfo(cover_page_name=value)
        params[key] = to_wire(value)
    return params


def submit(
    files: Sequence[tuple[str, bytes]],
    recipients: Sequence[str | JobParams | Mapping[str, Any]],
    common: Mapping[str, Any],
) -> Op[Broadcast]:
    body, ctype = multipart(build_params(recipients, common), files)
    return Op("POST", f"{API}/jobs", _broadcast, body=body, content_type=ctype)


RecipientCallback = Callable[[int, JobParams], "JobParams | bool | None"]


def apply_recipient_callback(
    recipients: Sequence[JobParams], on_recipient: RecipientCallback | None
) -> list[JobParams]:
    """Run the per-recipient callback (FAX_RECIPIENT_CALLBACK's contract).

    The callback gets the 1-based recipient number and its JobParams; it returns a JobParams to
    send instead, True/None to keep it, or False to stop: that recipient and the rest are not sent.
    """
    out: list[JobParams] = []
    for number, params in enumerate(recipients, start=1):
        if on_recipient is None:
            out.append(params)
            continue
        verdict = on_recipient(number, params)
        if verdict is False:
            break
        out.append(verdict if isinstance(verdict, JobParams) else params)
    return out
