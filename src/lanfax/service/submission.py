"""A submission's ``params`` validated (``POST /jobs``, the e-mail gateway, IPP, drafts):
one :class:`JobParams` per recipient, the address book's ``@name`` recipients expanded, the
cover page's fields bounded. Pure: no I/O; :mod:`lanfax.service.submit` turns a
:class:`Submission` into committed jobs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from lanfax.documents.types import RESOLUTIONS
from lanfax.model.codes import DeliveryReportType, ScheduleAction
from lanfax.model.contacts import name_key
from lanfax.model.errors import ConfigError, InvalidInput
from lanfax.model.jobs import CoverPageInfo, JobParams
from lanfax.model.wire import from_wire
from lanfax.routing.schema import email_address
from lanfax.service.dialing import DialingRules, check

#: Most recipients one submission may name.
MAX_RECIPIENTS = 10_000
_PARAM_FIELDS = {f.name for f in fields(JobParams)}
_COMMON_EXTRA = {"recipients", "cover_page", "resolution", "receipt_summary"}


@dataclass(frozen=True, slots=True)
class Submission:
    """A validated submission: one JobParams per recipient, plus what they share."""

    recipients: tuple[JobParams, ...]
    cover_page: CoverPageInfo | None = None
    resolution: str = "fine"
    #: One receipt for the whole broadcast when its last job ends (kept in ``job.extra``).
    receipt_summary: bool = False
    #: More ``job.extra`` for every job (per-job ``retries``/``retry_delay`` from IPP,
    #: ``receipt_attach`` from the e-mail gateway).
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: Per recipient, the cover page fields its address book entry fills (``rec_company``,
    #: ``rec_city``, ...; issue #13) where the submission's cover page leaves them empty;
    #: ``{}`` for a typed number. Empty when no ``@name`` was resolved.
    recipient_cover: tuple[Mapping[str, str], ...] = ()


def contact_references(data: Any) -> list[str]:
    """The contact and list names (name keys) a submission's recipients give as
    ``"recipient_number": "@name"`` (``lanfax send --to @alice``), for the look-up."""
    recipients = data.get("recipients") if isinstance(data, Mapping) else None
    if not isinstance(recipients, list):
        return []
    names = {
        name_key(number[1:])
        for rec in recipients
        if isinstance(rec, Mapping)
        and isinstance(number := rec.get("recipient_number"), str)
        and number.startswith("@")
    }
    return sorted(names)


def _expand_contacts(
    recipients: list[Any], contacts: Mapping[str, Sequence[Mapping[str, Any]]]
) -> tuple[list[Any], list[Mapping[str, str]]]:
    """Each ``@name`` recipient replaced by its contact, or by one recipient per member of
    its list (a broadcast); the recipient's other fields apply to each, and its own
    recipient_name wins over the contact's. Returns the recipients and, for each, the cover
    page fields from the address book (an entry's ``cover``). An unknown name is InvalidInput
    naming it."""
    out: list[Any] = []
    book: list[Mapping[str, str]] = []
    for i, rec in enumerate(recipients):
        number = rec.get("recipient_number") if isinstance(rec, Mapping) else None
        if not (isinstance(number, str) and number.startswith("@")):
            out.append(rec)
            book.append({})
            continue
        found = contacts.get(name_key(number[1:]))
        if not found:
            raise InvalidInput(
                f"recipients[{i}]: no contact or distribution list is named {number[1:]!r}",
                hint="see lanfax contacts list (your own and the shared ones)",
                name=number[1:],
            )
        for entry in found:
            params = {k: v for k, v in entry.items() if k != "cover"}
            out.append({**params, **{k: v for k, v in rec.items() if k != "recipient_number"}})
            if not rec.get("recipient_name"):
                out[-1]["recipient_name"] = params["recipient_name"]
            book.append(dict(entry.get("cover") or {}))
    return out, book


def parse_submission(
    data: Any,
    *,
    dialing: DialingRules | None = None,
    max_recipients: int = MAX_RECIPIENTS,
    contacts: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> Submission:
    """Validate the ``params`` of ``POST /jobs`` (see docs/http-api.md).

    Per-recipient fields override the common ones; every number must pass the ``dialing``
    rules (``[dialing]``). Raises InvalidInput naming the field (and the number and rule).
    With ``contacts`` (name key -> recipients, from the caller's address book), a
    ``"@name"`` recipient number is first replaced by what it names.
    """
    max_recipients = min(max_recipients, MAX_RECIPIENTS)
    rules = dialing if dialing is not None else DialingRules()
    if not isinstance(data, Mapping):
        raise InvalidInput("params must be a JSON object", hint="see docs/http-api.md")
    unknown = sorted(set(data) - _PARAM_FIELDS - _COMMON_EXTRA)
    if unknown:
        raise InvalidInput(
            f"unknown field(s) in params: {', '.join(unknown)}",
            hint=f"known: {', '.join(sorted(_PARAM_FIELDS | _COMMON_EXTRA))}",
        )
    recipients = data.get("recipients")
    if not isinstance(recipients, list) or not recipients:
        raise InvalidInput(
            "params.recipients must be a non-empty list",
            hint='give at least one recipient, e.g. [{"recipient_number": "101"}]',
        )
    book: list[Mapping[str, str]] = []
    if contacts is not None:
        recipients, book = _expand_contacts(recipients, contacts)
    if len(recipients) > max_recipients:
        raise InvalidInput(
            f"{len(recipients)} recipients in one submission is too many",
            hint=f"split it into submissions of at most {max_recipients} (server.max_recipients)",
        )
    common = {k: v for k, v in data.items() if k in _PARAM_FIELDS}
    resolution = data.get("resolution", "fine")
    if resolution not in RESOLUTIONS:
        raise InvalidInput(
            f"resolution: {resolution!r} is not valid", hint=f"use one of {', '.join(RESOLUTIONS)}"
        )
    cover = data.get("cover_page")
    cover_page = None
    if cover is not None:
        cover_page = from_wire(CoverPageInfo, cover, strict=True, prefix="cover_page.")
        _check_field_widths(cover_page)
    out: list[JobParams] = []
    for i, rec in enumerate(recipients):
        if not isinstance(rec, Mapping):
            raise InvalidInput(
                f"recipients[{i}] is not an object", hint='write {"recipient_number": "..."}'
            )
        merged = {**common, **rec}
        params = from_wire(JobParams, merged, strict=True, prefix=f"recipients[{i}].")
        number = params.recipient_number
        if not number.strip():
            raise InvalidInput(
                f"recipients[{i}].recipient_number is empty", hint="give a fax number"
            )
        if len(number) > 64:
            raise InvalidInput(
                f"recipients[{i}].recipient_number is too long",
                hint="a fax number has at most 64 characters",
            )
        check(number, rules, field=f"recipients[{i}].recipient_number")
        if params.schedule_action is ScheduleAction.SPECIFIC_TIME and params.schedule_time is None:
            raise InvalidInput(
                f"recipients[{i}]: schedule_action specific_time needs schedule_time",
                hint="add schedule_time, e.g. 2026-11-21T18:30:00Z",
            )
        if params.delivery_report_type is DeliveryReportType.EMAIL:
            try:
                email_address(params.delivery_report_address)
            except ConfigError as exc:
                raise InvalidInput(
                    f"recipients[{i}].delivery_report_address: {exc.message}",
                    hint="an e-mail receipt needs the address to send it to: " + (exc.hint or ""),
                ) from None
        out.append(params)
    summary = data.get("receipt_summary", False)
    if not isinstance(summary, bool):
        raise InvalidInput(
            f"receipt_summary: {summary!r} is not true or false",
            hint="true: one receipt for the whole broadcast instead of one per recipient",
        )
    return Submission(
        tuple(out),
        cover_page,
        resolution,
        summary,
        recipient_cover=tuple(book) if any(book) else (),
    )


#: Longest text of a cover page field: the note, and every other field (issue #14: the
#: fields were unbounded, and a template draws them all).
MAX_NOTE = 4000
MAX_FIELD = 200


def _check_field_widths(info: CoverPageInfo) -> None:
    for f in fields(info):
        value = getattr(info, f.name)
        limit = MAX_NOTE if f.name == "note" else MAX_FIELD
        if isinstance(value, str) and len(value) > limit:
            raise InvalidInput(
                f"cover_page.{f.name} is {len(value)} characters long, more than {limit}",
                hint="shorten it (a cover page has room for a short note and short fields)",
            )


def recipient_cover_page(info: CoverPageInfo, submission: Submission, i: int) -> CoverPageInfo:
    """Recipient ``i``'s cover page fields from the address book, where ``info`` has none."""
    if i >= len(submission.recipient_cover):
        return info
    fields = submission.recipient_cover[i]
    fill: dict[str, Any] = {k: v for k, v in fields.items() if v and not getattr(info, k, "x")}
    return dataclasses.replace(info, **fill)
