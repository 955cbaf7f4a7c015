"""Templates with a fax's fields (file names, mail subjects and bodies), and file-name
sanitising. Pure functions: no files, no clock.

A template is Python ``str.format`` text restricted to plain field names from
:data:`TEMPLATE_FIELDS`: ``"{date}_{time}_{csid}"``, ``"Fax from {tsid} ({page_count} pages)"``.
Attribute access, indexing and conversions (``{csid.__class__}``, ``{a[0]}``, ``{csid!r}``)
are refused, so a template can never reach anything but the fax's own fields. A format spec is
allowed (``{job_id:06d}``, ``{csid:.10}``) when it suits the field's value.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Mapping
from datetime import tzinfo
from typing import Any

from lanfax.model.errors import ConfigError
from lanfax.routing.api import FaxRoute

#: Every field a template may use, with what it is.
TEMPLATE_FIELDS: Mapping[str, str] = {
    "date": "date of receipt, YYYYMMDD",
    "time": "time of receipt, HHMMSS",
    "datetime": "date and time of receipt, YYYYMMDD-HHMMSS",
    "iso_time": "date and time of receipt, ISO 8601 with offset",
    "year": "year of receipt (4 digits)",
    "month": "month of receipt (2 digits)",
    "day": "day of receipt (2 digits)",
    "hour": "hour of receipt (2 digits)",
    "minute": "minute of receipt (2 digits)",
    "second": "second of receipt (2 digits)",
    "job_id": "the fax's job id (a number)",
    "page_count": "number of pages (a number)",
    "csid": "called station id (our id as the sender saw it)",
    "tsid": "transmitting station id (the sender's id)",
    "caller_id": "caller id of the call",
    "routing_info": "routing string of the call (DID, subaddress)",
    "receiver_name": "name of the receiver",
    "receiver_number": "number of the receiver",
    "device_name": "name of the receiving device",
    "device_id": "id of the receiving device (a number)",
    "elapsed_time": "length of the call in whole seconds (a number)",
}

_FORMATTER = string.Formatter()


def template_fields(fax: FaxRoute, tz: tzinfo | None = None) -> dict[str, Any]:
    """The values of :data:`TEMPLATE_FIELDS` for ``fax``; times in ``tz`` (None = the
    machine's local time zone)."""
    t = fax.receive_time.astimezone(tz)
    return {
        "date": t.strftime("%Y%m%d"),
        "time": t.strftime("%H%M%S"),
        "datetime": t.strftime("%Y%m%d-%H%M%S"),
        "iso_time": t.isoformat(timespec="seconds"),
        "year": t.strftime("%Y"),
        "month": t.strftime("%m"),
        "day": t.strftime("%d"),
        "hour": t.strftime("%H"),
        "minute": t.strftime("%M"),
        "second": t.strftime("%S"),
        "job_id": fax.job_id,
        "page_count": fax.page_count,
        "csid": fax.csid,
        "tsid": fax.tsid,
        "caller_id": fax.caller_id,
        "routing_info": fax.routing_info,
        "receiver_name": fax.receiver_name,
        "receiver_number": fax.receiver_number,
        "device_name": fax.device_name,
        "device_id": fax.device_id,
        "elapsed_time": int(fax.elapsed_time),
    }


def _sample_fields() -> dict[str, Any]:
    return {
        name: (7 if name in {"job_id", "page_count", "device_id", "elapsed_time"} else "x")
        for name in TEMPLATE_FIELDS
    }


def check_template(template: Any, what: str, *, max_length: int = 2000) -> str:
    """Validate a template (see the module doc); returns it. ConfigError names the problem."""
    if not isinstance(template, str):
        raise ConfigError(f"{what} must be text, not {type(template).__name__}", hint="quote it")
    if len(template) > max_length:
        raise ConfigError(
            f"{what} is {len(template)} characters long", hint=f"keep it under {max_length}"
        )
    known = ", ".join("{" + n + "}" for n in TEMPLATE_FIELDS)
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ConfigError(
            f"{what} {template!r} is not a valid template: {exc}",
            hint="write fields as {name}; double a brace ({{ or }}) to write it literally",
        ) from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS:
            raise ConfigError(
                f"{what} uses an unknown field {{{name}}}", hint=f"known fields: {known}"
            )
        if conversion is not None:
            raise ConfigError(
                f"{what}: conversions like !{conversion} are not allowed",
                hint="write the field alone, e.g. {csid}",
            )
        if spec and ("{" in spec or "}" in spec):
            raise ConfigError(
                f"{what}: nested fields in a format spec are not allowed",
                hint="use a fixed format spec, e.g. {job_id:06d}",
            )
    try:
        _FORMATTER.vformat(template, (), _sample_fields())
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{what} {template!r} cannot be filled in: {exc}",
            hint="numbers take specs like :06d, text takes specs like :.20",
        ) from None
    return template


def render(template: str, fields: Mapping[str, Any]) -> str:
    """Fill in a template already accepted by :func:`check_template`."""
    return _FORMATTER.vformat(template, (), dict(fields))


_UNSAFE = re.compile(r"[^A-Za-z0-9._+=@,() -]+")
_DOTS = re.compile(r"\.{2,}")
MAX_STEM = 150


def sanitize_filename(text: str, *, fallback: str = "fax") -> str:
    """A file-name stem (no extension) made from ``text`` that is safe in one directory.

    Letters are folded to ASCII, every run of other characters (separators, NULs, control
    characters, quotes) becomes ``_``, runs of dots become one, leading dots, dashes and
    spaces go (no hidden files, no option-like names), and the stem is at most
    :data:`MAX_STEM` characters. Never empty, never ``.`` or ``..``, never contains ``/``.
    """
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    out = _UNSAFE.sub("_", folded)
    out = _DOTS.sub(".", out)
    out = out.strip(" ").lstrip(".-_ ")[:MAX_STEM].rstrip(" .")
    return out or fallback
