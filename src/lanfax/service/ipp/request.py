"""Reading an IPP request's operation attributes: the target job, the document format, the
job name, the requested attributes, and the caller's right to submit (pure functions; a
refusal is an :class:`~lanfax.service.ipp.model.IppError` with the RFC's status)."""

from __future__ import annotations

from lanfax.model.codes import AccessRight, AccessRightEx
from lanfax.service.ipp.codec import Attribute, Group, GroupTag, Message, Status, Tag
from lanfax.service.ipp.model import DOCUMENT_FORMATS, IppError, one, text_of
from lanfax.service.rights import Caller, right_name

_MAX_JOB_NAME = 255


def op_attr(req: Message, name: str) -> Attribute | None:
    g = req.groups[0]
    return g.get(name)


def target_job(req: Message) -> int:
    """The job a job operation names: ``job-id`` (with printer-uri) or ``job-uri``."""
    job_id = op_attr(req, "job-id")
    if job_id is not None:
        v = one(job_id, Tag.INTEGER).value
        assert isinstance(v, int)
        return v
    job_uri = op_attr(req, "job-uri")
    if job_uri is not None:
        uri = one(job_uri, Tag.URI).value
        assert isinstance(uri, str)
        tail = uri.rsplit("/", 1)[-1]
        if tail.isdigit():
            return int(tail)
        raise IppError(Status.NOT_FOUND, f"job-uri {uri!r} names no job of this printer")
    raise IppError(Status.BAD_REQUEST, "the request names no job (job-id or job-uri)")


def check_target_printer(req: Message) -> None:
    if op_attr(req, "printer-uri") is None and op_attr(req, "job-uri") is None:
        raise IppError(Status.BAD_REQUEST, "the request has no printer-uri")


def require_submit(caller: Caller) -> None:
    for right in (AccessRight.JOB_SUBMIT, AccessRightEx.SUBMIT_NORMAL):
        if not caller.holds(right):
            raise IppError(
                Status.NOT_AUTHORIZED,
                f"user {caller.user!r} may not send faxes (lacks the right "
                f"{right_name(right)}); ask an administrator",
            )


def job_name(req: Message) -> str:
    a = req.groups[0].get("job-name") or req.groups[0].get("document-name")
    return text_of(a, _MAX_JOB_NAME) if a is not None else "print job"


def job_groups(req: Message) -> list[Group]:
    return [g for g in req.groups if g.tag in (GroupTag.OPERATION, GroupTag.JOB)]


def document_format(req: Message) -> str:
    a = op_attr(req, "document-format")
    if a is None:
        return "application/octet-stream"
    fmt = one(a, Tag.MIME_TYPE).value
    assert isinstance(fmt, str)
    fmt = fmt.lower()
    if fmt not in DOCUMENT_FORMATS:
        raise IppError(
            Status.DOCUMENT_FORMAT_NOT_SUPPORTED,
            f"document-format {fmt!r} is not supported; send one of {', '.join(DOCUMENT_FORMATS)}",
        )
    return fmt


def check_compression(req: Message) -> None:
    a = op_attr(req, "compression")
    if a is not None and one(a, Tag.KEYWORD).value != "none":
        raise IppError(
            Status.COMPRESSION_NOT_SUPPORTED,
            f"compression {a.values[0].value!r} is not supported; send the document as it is",
        )


def requested(req: Message) -> list[str] | None:
    a = req.groups[0].get("requested-attributes")
    if a is None:
        return None
    out = []
    for v in a.values:
        if v.tag != Tag.KEYWORD or not isinstance(v.value, str):
            raise IppError(Status.BAD_REQUEST, "requested-attributes must be keywords")
        out.append(v.value)
    return out
