"""Submissions: reading the documents, the ``params`` JSON and the multipart body."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lanfax.client._core import API, Broadcast, Op, _broadcast
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

FileArg = str | os.PathLike[str] | bytes | tuple[str, bytes]

_CONTENT_TYPES = {
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".pdf": "application/pdf",
    ".ps": "application/postscript",
    ".txt": "text/plain",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}


def read_files(files: FileArg | Sequence[FileArg]) -> list[tuple[str, bytes]]:
    """``(name, content)`` for each file argument; a missing file raises InvalidInput."""
    if isinstance(files, str | bytes | os.PathLike | tuple):
        files = [files]  # type: ignore[list-item]
    out: list[tuple[str, bytes]] = []
    for item in files:  # type: ignore[union-attr]
        if isinstance(item, tuple):
            out.append((str(item[0]), bytes(item[1])))
        elif isinstance(item, bytes):
            out.append((f"document-{len(out) + 1}", item))
        else:
            path = os.fspath(item)
            try:
                with open(path, "rb") as fh:
                    out.append((os.path.basename(path), fh.read()))
            except OSError as exc:
                raise InvalidInput(
                    f"cannot read {path}: {exc.strerror or exc}",
                    hint="check the file name and that you may read it",
                ) from None
    if not out:
        raise InvalidInput("no document to send", hint="give at least one file")
    return out


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


def multipart(params: Mapping[str, Any], files: Sequence[tuple[str, bytes]]) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body: the ``params`` JSON part, then one ``file`` part each."""
    boundary = "lanfax-" + os.urandom(12).hex()
    chunks: list[bytes] = []
    b = boundary.encode()
    chunks.append(
        b"--" + b + b'\r\nContent-Disposition: form-data; name="params"\r\n'
        b"Content-Type: application/json\r\n\r\n"
        + json.dumps(params, separators=(",", ":")).encode()
        + b"\r\n"
    )
    for name, content in files:
        safe = name.replace("\\", "_").replace('"', "_").replace("\r", "_").replace("\n", "_")
        ctype = _CONTENT_TYPES.get(os.path.splitext(safe)[1].lower(), "application/octet-stream")
        chunks.append(
            b"--"
            + b
            + b'\r\nContent-Disposition: form-data; name="file"; filename="'
            + safe.encode("utf-8")
            + b'"\r\nContent-Type: '
            + ctype.encode()
            + b"\r\n\r\n"
            + content
            + b"\r\n"
        )
    chunks.append(b"--" + b + b"--\r\n")
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


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
